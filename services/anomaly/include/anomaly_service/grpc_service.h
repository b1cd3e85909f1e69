// anomaly.v1.AnomalyService: thin gRPC over the ModelStore and the recent
// anomalies (ListModels, SetThreshold, ListRecentAnomalies, ScoreBatch).
// Permissions are checked by the runtime's interceptor, not here.
//
// Threading: any gRPC thread.
#pragma once

#include "anomaly_service/detector.h"
#include "anomaly_service/model_store.h"
#include "streamadmin/anomaly/v1/anomaly.grpc.pb.h"

namespace sa::anomaly_service {

class AnomalyGrpcService final : public streamadmin::anomaly::v1::AnomalyService::Service {
 public:
  // Borrows the store and the list, which must outlive the service.
  AnomalyGrpcService(double max_abs_value, ModelStore& store, const RecentAnomalies& recent)
      : max_abs_value_(max_abs_value), store_(store), recent_(recent) {}

  grpc::Status ListModels(grpc::ServerContext*, const streamadmin::anomaly::v1::ListModelsRequest*,
                          streamadmin::anomaly::v1::ListModelsResponse* response) override;
  // NOT_FOUND for an unknown model; UNAVAILABLE (nothing changed) when
  // model_dir is set and the threshold cannot be kept there.
  grpc::Status SetThreshold(grpc::ServerContext*, const streamadmin::anomaly::v1::SetThresholdRequest* request,
                            streamadmin::anomaly::v1::SetThresholdResponse* response) override;
  // Newest first (`limit`, default 100), filtered by venue and symbol.
  grpc::Status ListRecentAnomalies(grpc::ServerContext*,
                                   const streamadmin::anomaly::v1::ListRecentAnomaliesRequest* request,
                                   streamadmin::anomaly::v1::ListRecentAnomaliesResponse* response) override;
  // Scores vectors with a live model: NOT_FOUND for an unknown model,
  // FAILED_PRECONDITION while it warms up, INVALID_ARGUMENT for a vector of
  // the wrong width or one the features would reject.
  grpc::Status ScoreBatch(grpc::ServerContext*, const streamadmin::anomaly::v1::ScoreBatchRequest* request,
                          streamadmin::anomaly::v1::ScoreBatchResponse* response) override;

 private:
  const double max_abs_value_;
  ModelStore& store_;
  const RecentAnomalies& recent_;
};

}  // namespace sa::anomaly_service
