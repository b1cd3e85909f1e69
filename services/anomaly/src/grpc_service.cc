#include "anomaly_service/grpc_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status.h"

namespace sa::anomaly_service {

namespace pb = streamadmin::anomaly::v1;
using anomaly::Threshold;

grpc::Status AnomalyGrpcService::ListModels(grpc::ServerContext*, const pb::ListModelsRequest*,
                                            pb::ListModelsResponse* resp) {
  for (auto& info : store_.Infos()) *resp->add_models() = std::move(info);
  return grpc::Status::OK;
}

grpc::Status AnomalyGrpcService::SetThreshold(grpc::ServerContext*, const pb::SetThresholdRequest* req,
                                              pb::SetThresholdResponse* resp) {
  absl::StatusOr<Threshold> t = absl::InvalidArgumentError("set contamination or score");
  if (req->threshold_case() == pb::SetThresholdRequest::kContamination)
    t = Threshold::Contamination(req->contamination());
  if (req->threshold_case() == pb::SetThresholdRequest::kScore) t = Threshold::Fixed(req->score());
  if (!t.ok()) return ToGrpcStatus(t.status());
  auto changed = store_.SetThreshold(req->model_id(), *t);
  if (!changed.ok()) return ToGrpcStatus(changed.status());
  for (auto& info : *changed) *resp->add_models() = std::move(info);
  return grpc::Status::OK;
}

grpc::Status AnomalyGrpcService::ListRecentAnomalies(grpc::ServerContext*, const pb::ListRecentAnomaliesRequest* req,
                                                     pb::ListRecentAnomaliesResponse* resp) {
  for (auto& a : recent_.List(req->limit() ? req->limit() : 100, req->venue(), req->symbol()))
    *resp->add_anomalies() = std::move(a);
  return grpc::Status::OK;
}

grpc::Status AnomalyGrpcService::ScoreBatch(grpc::ServerContext*, const pb::ScoreBatchRequest* req,
                                            pb::ScoreBatchResponse* resp) {
  auto live = store_.Live(req->model_id());
  if (!live.ok() && live.status().code() == absl::StatusCode::kNotFound)
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("no model '", req->model_id(), "' (models: trade, quote)"));
  if (!live.ok()) return ToGrpcStatus(live.status());
  const std::shared_ptr<const anomaly::IsolationForest>& model = live->model;
  const double threshold = live->threshold;
  resp->set_model_id(req->model_id());
  resp->set_threshold(threshold);
  const size_t cols = model->num_features();
  std::vector<double> contrib(cols);
  for (int i = 0; i < req->vectors_size(); ++i) {
    const auto& v = req->vectors(i);
    if (static_cast<size_t>(v.values_size()) != cols)
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("vectors[", i, "]: ", v.values_size(), " values, model '", req->model_id(),
                                       "' takes ", cols, " (", absl::StrJoin(model->feature_names(), ", "), ")"));
    std::vector<double> x(v.values().begin(), v.values().end());
    if (auto reason = anomaly::RejectReason(x, max_abs_value_))
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("vectors[", i, "]: rejected (", *reason, ")"));
    auto* out = resp->add_results();
    double score = req->attribution() ? model->ScoreWithAttribution(x.data(), contrib.data()) : model->Score(x.data());
    out->set_score(score);
    out->set_anomalous(score >= threshold);
    if (req->attribution()) {
      for (size_t f = 0; f < cols; ++f) {
        auto* feat = out->add_features();
        feat->set_name(model->feature_names().size() == cols ? model->feature_names()[f] : std::to_string(f));
        feat->set_value(x[f]);
        feat->set_contribution(contrib[f]);
      }
    }
  }
  return grpc::Status::OK;
}

}  // namespace sa::anomaly_service
