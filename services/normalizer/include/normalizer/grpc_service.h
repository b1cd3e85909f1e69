// normalizer.v1.Normalizer: thin gRPC reads of the Pipeline (GetBook,
// ListGaps, ListVenues). Permissions are checked by the runtime's
// interceptor (normalizer:read), not here.
//
// Threading: any gRPC thread; each call takes only the pipeline's read locks
// (one venue's for GetBook), so it does not wait for a batch being decoded.
#pragma once

#include "normalizer/pipeline.h"
#include "streamadmin/normalizer/v1/normalizer.grpc.pb.h"

namespace sa::normalizer {

class NormalizerService final : public streamadmin::normalizer::v1::Normalizer::Service {
 public:
  static constexpr size_t kDefaultDepth = 10;
  static constexpr size_t kDefaultGapLimit = 100;

  // Borrows the pipeline, which must outlive the service.
  explicit NormalizerService(const Pipeline& pipeline) : pipeline_(pipeline) {}

  // Top `depth` (default 10) levels; valid = false while the book resyncs;
  // NOT_FOUND for a venue or book not seen.
  grpc::Status GetBook(grpc::ServerContext* context, const streamadmin::normalizer::v1::GetBookRequest* request,
                       streamadmin::normalizer::v1::GetBookResponse* response) override;
  // The latest status events, newest first (`limit`, default 100).
  grpc::Status ListGaps(grpc::ServerContext* context, const streamadmin::normalizer::v1::ListGapsRequest* request,
                        streamadmin::normalizer::v1::ListGapsResponse* response) override;
  grpc::Status ListVenues(grpc::ServerContext* context, const streamadmin::normalizer::v1::ListVenuesRequest* request,
                          streamadmin::normalizer::v1::ListVenuesResponse* response) override;

 private:
  const Pipeline& pipeline_;
};

}  // namespace sa::normalizer
