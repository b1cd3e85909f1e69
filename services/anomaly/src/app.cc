#include "anomaly_service/app.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "anomaly/feature_extractor.h"
#include "anomaly/isolation_forest.h"
#include "anomaly/threshold.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "common/clock.h"
#include "common/status.h"
#include "observability/metrics.h"
#include "runtime/ack_window.h"
#include "runtime/consumer_loop.h"
#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"
#include "streamadmin/anomaly/v1/anomaly.grpc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::anomaly_service {

using ::sa::anomaly::EventKind;
using ::sa::anomaly::EventKindName;
using ::sa::anomaly::Feature;
using ::sa::anomaly::FeatureExtractor;
using ::sa::anomaly::FeatureOptions;
using ::sa::anomaly::FeatureVector;
using ::sa::anomaly::ForestParams;
using ::sa::anomaly::kMaxSampleSize;
using ::sa::anomaly::kMaxTrees;
using ::sa::anomaly::IsolationForest;
using ::sa::anomaly::ParseFeature;
using ::sa::anomaly::RejectReason;
using ::sa::anomaly::Threshold;

namespace cfg = streamadmin::config::v1;
namespace mdpb = streamadmin::marketdata::v1;
namespace pb = streamadmin::anomaly::v1;

cfg::AnomalyConfig DefaultConfig() {
  cfg::AnomalyConfig c;
  runtime::SetCommonDefaults(7104, 9104, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("anomaly");
  *c.add_streams() = runtime::AnomalyStream();
  auto* consumer = c.mutable_consumer();
  consumer->set_stream("MD");
  consumer->set_durable("anomaly");
  consumer->set_filter_subject(wire::kMdAll);  // candles are skipped
  consumer->set_ack_wait_s(30);
  consumer->set_max_ack_pending(20000);
  consumer->set_fetch_batch(512);
  consumer->set_prefetch(1024);  // standing pull requests: events come as MD stores them
  auto* f = c.mutable_features();
  f->set_window_s(60);
  f->set_rate_window_s(1);
  f->set_burst_window_s(0.1);
  f->set_imbalance_levels(5);
  f->set_divergence_max_age_s(10);
  f->set_max_abs_value(1e5);
  auto* m = c.mutable_model();
  m->set_num_trees(100);
  m->set_sample_size(256);
  m->set_seed(1);
  m->set_training_window(8192);
  m->set_warmup_points(1024);
  m->set_retrain_every(4096);
  m->set_contamination(0.005);
  m->set_isolate_out_of_range(true);
  c.set_recent_limit(1000);
  return c;
}

absl::Status ValidateConfig(const cfg::AnomalyConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (auto st = runtime::ValidateStreams(c.streams()); !st.ok()) return st;
  if (auto st = runtime::ValidateConsumer(c.consumer()); !st.ok()) return st;
  std::set<std::string> seen;
  for (int i = 0; i < c.features().features_size(); ++i) {
    const std::string& name = c.features().features(i);
    auto f = ParseFeature(name);
    if (!f.ok())
      return absl::InvalidArgumentError(absl::StrCat("key 'features.features[", i, "]': ", f.status().message()));
    if (!seen.insert(name).second)
      return absl::InvalidArgumentError(absl::StrCat("key 'features.features[", i, "]': '", name, "' is listed twice"));
  }
  const auto& f = c.features();
  if (!(f.window_s() > 0)) return absl::InvalidArgumentError("key 'features.window_s': must be > 0");
  if (!(f.rate_window_s() > 0 && f.rate_window_s() <= f.window_s()))
    return absl::InvalidArgumentError("key 'features.rate_window_s': must be > 0 and <= features.window_s");
  if (!(f.burst_window_s() > 0 && f.burst_window_s() < f.window_s()))
    return absl::InvalidArgumentError("key 'features.burst_window_s': must be > 0 and < features.window_s");
  if (f.imbalance_levels() < 1) return absl::InvalidArgumentError("key 'features.imbalance_levels': must be >= 1");
  if (!(f.divergence_max_age_s() > 0))
    return absl::InvalidArgumentError("key 'features.divergence_max_age_s': must be > 0");
  if (!(f.max_abs_value() > 0)) return absl::InvalidArgumentError("key 'features.max_abs_value': must be > 0");
  const auto& m = c.model();
  if (m.num_trees() < 1 || m.num_trees() > static_cast<uint32_t>(kMaxTrees))
    return absl::InvalidArgumentError(absl::StrCat("key 'model.num_trees': ", m.num_trees(), " not in 1..", kMaxTrees));
  if (m.sample_size() < 2 || m.sample_size() > static_cast<uint32_t>(kMaxSampleSize))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'model.sample_size': ", m.sample_size(), " not in 2..", kMaxSampleSize));
  if (m.warmup_points() < 2) return absl::InvalidArgumentError("key 'model.warmup_points': must be >= 2");
  if (m.training_window() < m.warmup_points())
    return absl::InvalidArgumentError("key 'model.training_window': must be >= model.warmup_points");
  if (m.retrain_every() < 1) return absl::InvalidArgumentError("key 'model.retrain_every': must be >= 1");
  if (m.threshold_score() != 0) {
    if (auto t = Threshold::Fixed(m.threshold_score()); !t.ok())
      return absl::InvalidArgumentError(absl::StrCat("key 'model.threshold_score': ", t.status().message()));
  } else if (auto t = Threshold::Contamination(m.contamination()); !t.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("key 'model.contamination': ", t.status().message()));
  }
  return absl::OkStatus();
}

namespace {

constexpr EventKind kKinds[] = {EventKind::kTrade, EventKind::kQuote};
// md.* messages waiting for their anomalies' acks, at most, in fetch_batches
// (kept well under the consumer's max_ack_pending).
constexpr size_t kMaxBatchesInFlight = 4;
// How long stopping waits for the anomalies in flight.
constexpr absl::Duration kDrainTimeout = absl::Seconds(30);

FeatureOptions ToOptions(const cfg::AnomalyFeaturesConfig& c) {
  FeatureOptions o;
  if (c.features_size() > 0) {
    o.features.clear();
    for (const auto& name : c.features()) o.features.push_back(*ParseFeature(name));  // validated
  }
  o.window_s = c.window_s();
  o.rate_window_s = c.rate_window_s();
  o.burst_window_s = c.burst_window_s();
  o.imbalance_levels = static_cast<int>(c.imbalance_levels());
  o.divergence_max_age_s = c.divergence_max_age_s();
  o.max_abs_value = c.max_abs_value();
  return o;
}

// One model (per event kind): its sliding training window, the live forest
// and its threshold. The worker thread adds points and scores; the trainer
// thread swaps in new forests; gRPC threads read and set the threshold.
struct ModelSlot {
  std::string id;
  std::mutex mu;  // guards everything below except `model`
  std::deque<std::vector<double>> window;
  uint64_t since_train = 0;
  bool training = false;
  Threshold threshold = *Threshold::Contamination(0.005);
  double threshold_value = 1;
  uint64_t generation = 0;
  int64_t trained_at_ns = 0;
  bool loaded_from_disk = false;
  uint64_t points_scored = 0;
  uint64_t anomalies = 0;
  // The live forest: swapped atomically, read without the lock.
  std::atomic<std::shared_ptr<const IsolationForest>> model;
};

std::string ModelPath(const std::string& dir, const std::string& id) { return absl::StrCat(dir, "/", id, ".saif"); }
// A threshold set over gRPC, kept beside the model (Threshold::Encode).
std::string ThresholdPath(const std::string& dir, const std::string& id) {
  return absl::StrCat(dir, "/", id, ".threshold");
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::UnavailableError(absl::StrCat(tmp, ": cannot open for writing"));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) return absl::UnavailableError(absl::StrCat(tmp, ": write failed"));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::UnavailableError(absl::StrCat(path, ": rename failed: ", ec.message()));
  return absl::OkStatus();
}

class AnomalyApp final : public runtime::NatsServiceApp, public pb::AnomalyService::Service {
 public:
  explicit AnomalyApp(const cfg::AnomalyConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}),
        config_(c),
        extractor_(ToOptions(c.features())),
        names_(extractor_.FeatureNames()) {
    auto& r = obs::MetricsRegistry::Default();
    messages_total_ = &r.GetCounter("streamadmin_anomaly_messages_total", "md.* messages consumed");
    for (EventKind k : kKinds) {
      scored_total_[k] = &r.GetCounter("streamadmin_anomaly_scored_total", "Feature vectors scored",
                                       {{"model", EventKindName(k)}});
      anomalies_total_[k] = &r.GetCounter("streamadmin_anomaly_anomalies_total", "Anomalies published",
                                          {{"model", EventKindName(k)}});
      generation_[k] = &r.GetGauge("streamadmin_anomaly_model_generation",
                                   "Models built or loaded since start", {{"model", EventKindName(k)}});
    }
    suppressed_total_ = &r.GetCounter("streamadmin_anomaly_suppressed_total",
                                      "Feature vectors not scored because their book is resyncing");
    train_seconds_ = &r.GetHistogram("streamadmin_anomaly_train_seconds", "Time to train one model");
    for (EventKind k : kKinds) {
      auto slot = std::make_unique<ModelSlot>();
      slot->id = EventKindName(k);
      const auto& m = config_.model();
      slot->threshold =
          m.threshold_score() != 0 ? *Threshold::Fixed(m.threshold_score()) : *Threshold::Contamination(m.contamination());
      slots_[k] = std::move(slot);
    }
  }

  std::vector<grpc::Service*> GrpcServices() override { return {this}; }

  absl::Status OnStart() override {
    LoadModels();
    trainer_ = std::thread([this] { TrainLoop(); });
    const size_t window_messages = kMaxBatchesInFlight * static_cast<size_t>(runtime::FetchBatchOf(config_.consumer()));
    return StartConsuming({.consumer = config_.consumer(),
                           .wait_for_room = [this, window_messages](
                                                absl::Duration d) { return window().WaitForRoom(window_messages, d); }},
                          [this](std::vector<bus::ReceivedMessage>& batch) {
                            if (!batch.empty()) ProcessBatch(batch);
                            return runtime::ConsumerLoop::Next::kFetch;
                          });
  }

  absl::Status Drain(absl::Duration) override {
    StopThreads();
    return absl::OkStatus();
  }
  void OnStop() override { StopThreads(); }

  std::map<std::string, std::string> Details() override {
    std::map<std::string, std::string> d;
    for (EventKind k : kKinds) {
      ModelSlot& s = *slots_[k];
      std::lock_guard lock(s.mu);
      d[absl::StrCat("model.", s.id)] =
          s.model.load() ? absl::StrCat("ready gen ", s.generation, s.loaded_from_disk ? " (loaded)" : "")
                         : absl::StrCat("warming up ", s.window.size(), "/", config_.model().warmup_points());
    }
    return d;
  }

  // anomaly.v1.AnomalyService
  grpc::Status ListModels(grpc::ServerContext*, const pb::ListModelsRequest*, pb::ListModelsResponse* resp) override {
    for (EventKind k : kKinds) FillInfo(*slots_[k], resp->add_models());
    return grpc::Status::OK;
  }

  grpc::Status SetThreshold(grpc::ServerContext*, const pb::SetThresholdRequest* req,
                            pb::SetThresholdResponse* resp) override {
    absl::StatusOr<Threshold> t = absl::InvalidArgumentError("set contamination or score");
    if (req->threshold_case() == pb::SetThresholdRequest::kContamination) t = Threshold::Contamination(req->contamination());
    if (req->threshold_case() == pb::SetThresholdRequest::kScore) t = Threshold::Fixed(req->score());
    if (!t.ok()) return ToGrpcStatus(t.status());
    ModelSlot* only = nullptr;
    if (!req->model_id().empty()) {
      only = Slot(req->model_id());
      if (!only) return grpc::Status(grpc::StatusCode::NOT_FOUND, absl::StrCat("no model '", req->model_id(), "'"));
    }
    // Kept in model_dir before it applies, so what is answered here is what a
    // restart comes back with; one setter at a time, so file and memory agree.
    std::lock_guard set_lock(set_threshold_mu_);
    if (const std::string& dir = config_.model().model_dir(); !dir.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      for (EventKind k : kKinds) {
        ModelSlot& s = *slots_[k];
        if (only && only != &s) continue;
        if (auto st = WriteFileAtomically(ThresholdPath(dir, s.id), t->Encode() + "\n"); !st.ok())
          return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              absl::StrCat("threshold not set, it could not be kept: ", st.message()));
      }
    }
    for (EventKind k : kKinds) {
      ModelSlot& s = *slots_[k];
      if (only && only != &s) continue;
      {
        std::lock_guard lock(s.mu);
        s.threshold = *t;
        auto model = s.model.load();
        if (model) s.threshold_value = t->Resolve(*model);
      }
      spdlog::info("model {}: threshold set to {}", s.id, t->ToString());
      FillInfo(s, resp->add_models());
    }
    return grpc::Status::OK;
  }

  grpc::Status ListRecentAnomalies(grpc::ServerContext*, const pb::ListRecentAnomaliesRequest* req,
                                   pb::ListRecentAnomaliesResponse* resp) override {
    std::lock_guard lock(recent_mu_);
    size_t limit = req->limit() ? req->limit() : 100;
    for (auto it = recent_.rbegin(); it != recent_.rend() && limit > 0; ++it) {
      if (!req->venue().empty() && it->venue() != req->venue()) continue;
      if (!req->symbol().empty() && it->symbol() != req->symbol()) continue;
      *resp->add_anomalies() = *it;
      --limit;
    }
    return grpc::Status::OK;
  }

  grpc::Status ScoreBatch(grpc::ServerContext*, const pb::ScoreBatchRequest* req, pb::ScoreBatchResponse* resp) override {
    ModelSlot* s = Slot(req->model_id());
    if (!s)
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("no model '", req->model_id(), "' (models: trade, quote)"));
    auto model = s->model.load();
    if (!model)
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                          absl::StrCat("model '", s->id, "' is still warming up"));
    double threshold;
    {
      std::lock_guard lock(s->mu);
      threshold = s->threshold_value;
    }
    resp->set_model_id(s->id);
    resp->set_threshold(threshold);
    const size_t cols = model->num_features();
    std::vector<double> contrib(cols);
    for (int i = 0; i < req->vectors_size(); ++i) {
      const auto& v = req->vectors(i);
      if (static_cast<size_t>(v.values_size()) != cols)
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("vectors[", i, "]: ", v.values_size(), " values, model '", s->id, "' takes ",
                                         cols, " (", absl::StrJoin(model->feature_names(), ", "), ")"));
      std::vector<double> x(v.values().begin(), v.values().end());
      if (auto reason = RejectReason(x, config_.features().max_abs_value()))
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

 private:
  ModelSlot* Slot(const std::string& id) {
    for (EventKind k : kKinds)
      if (slots_[k]->id == id) return slots_[k].get();
    return nullptr;
  }

  void FillInfo(ModelSlot& s, pb::ModelInfo* info) {
    std::lock_guard lock(s.mu);
    auto model = s.model.load();
    info->set_model_id(s.id);
    info->set_state(model ? pb::ModelInfo::STATE_READY : pb::ModelInfo::STATE_WARMING_UP);
    for (const auto& n : names_) info->add_feature_names(n);
    info->set_num_trees(model ? model->num_trees() : config_.model().num_trees());
    info->set_sample_size(model ? model->sample_size() : config_.model().sample_size());
    info->set_training_rows(model ? model->training_rows() : 0);
    info->set_trained_at_ns(s.trained_at_ns);
    info->set_generation(s.generation);
    info->set_threshold(model ? s.threshold_value : 0);
    info->set_threshold_mode(s.threshold.ToString());
    info->set_buffered_points(s.window.size());
    info->set_warmup_points(config_.model().warmup_points());
    info->set_points_scored(s.points_scored);
    info->set_anomalies(s.anomalies);
    info->set_loaded_from_disk(s.loaded_from_disk);
  }

  // The loop finishes its batch, the window waits (up to 30 s) for the
  // anomalies in flight and acks their md.* messages; then the trainer stops.
  void StopThreads() {
    if (absl::Status st = StopConsuming(kDrainTimeout); !st.ok())
      spdlog::error("stopping: {}", std::string(st.message()));
    {
      // Under the trainer's mutex, so the trainer cannot miss the wake-up
      // between testing its predicate and blocking.
      std::lock_guard lock(train_mu_);
      stop_ = true;
    }
    train_cv_.notify_all();
    if (trainer_.joinable()) trainer_.join();
  }

  // Restores each model saved in model_dir whose features match the config,
  // and each threshold set over gRPC (it overrides the configured one until
  // set again).
  void LoadModels() {
    const std::string& dir = config_.model().model_dir();
    if (dir.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    for (EventKind k : kKinds) {
      ModelSlot& s = *slots_[k];
      const std::string tpath = ThresholdPath(dir, s.id);
      if (std::ifstream tin(tpath); tin) {
        std::stringstream text;
        text << tin.rdbuf();
        auto t = Threshold::Parse(text.str());
        if (!t.ok()) {
          spdlog::warn("model {}: {} not used: {}", s.id, tpath, std::string(t.status().message()));
        } else {
          std::lock_guard lock(s.mu);
          spdlog::info("model {}: threshold {} from {} (set over gRPC; the config says {})", s.id, t->ToString(),
                       tpath, s.threshold.ToString());
          s.threshold = *t;
        }
      }
      const std::string path = ModelPath(dir, s.id);
      std::ifstream in(path, std::ios::binary);
      if (!in) continue;
      std::stringstream buf;
      buf << in.rdbuf();
      auto model = IsolationForest::Deserialize(buf.str());
      if (!model.ok()) {
        spdlog::warn("model {}: {} not loaded: {}", s.id, path, std::string(model.status().message()));
        continue;
      }
      if ((*model)->feature_names() != names_) {
        spdlog::warn("model {}: {} has features [{}], the config [{}]: not loaded", s.id, path,
                     absl::StrJoin((*model)->feature_names(), ","), absl::StrJoin(names_, ","));
        continue;
      }
      Install(s, *model, true);
      spdlog::info("model {}: loaded from {} ({} trees, trained on {} rows)", s.id, path, (*model)->num_trees(),
                   (*model)->training_rows());
    }
  }

  void Install(ModelSlot& s, std::shared_ptr<const IsolationForest> model, bool loaded) {
    std::lock_guard lock(s.mu);
    s.threshold_value = s.threshold.Resolve(*model);
    s.model.store(std::move(model));
    ++s.generation;
    s.trained_at_ns = NowUnixNanos();
    s.loaded_from_disk = loaded;
    s.since_train = 0;
    for (EventKind k : kKinds)
      if (slots_[k].get() == &s) generation_[k]->Set(static_cast<double>(s.generation));
  }

  // The trainer thread: takes snapshots of training windows, trains off the
  // worker's path, saves, then swaps the model in.
  struct TrainJob {
    ModelSlot* slot;
    std::vector<double> data;
    size_t rows;
    uint64_t seed;
  };

  void TrainLoop() {
    while (true) {
      TrainJob job;
      {
        std::unique_lock lock(train_mu_);
        train_cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (stop_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      const auto& m = config_.model();
      ForestParams p;
      p.num_trees = static_cast<int>(m.num_trees());
      p.sample_size = static_cast<int>(m.sample_size());
      p.seed = job.seed;
      p.isolate_out_of_range = m.isolate_out_of_range();
      const int64_t t0 = MonotonicNanos();
      auto model = IsolationForest::Train({job.data.data(), job.rows, names_.size()}, p, names_);
      train_seconds_->Observe(static_cast<double>(MonotonicNanos() - t0) / 1e9);
      if (!model.ok()) {
        spdlog::error("model {}: training failed: {}", job.slot->id, std::string(model.status().message()));
      } else {
        if (!m.model_dir().empty()) {
          if (auto st = WriteFileAtomically(ModelPath(m.model_dir(), job.slot->id), (*model)->Serialize()); !st.ok())
            spdlog::error("model {}: not saved: {}", job.slot->id, std::string(st.message()));
        }
        Install(*job.slot, *model, false);
        spdlog::info("model {}: trained on {} rows in {:.1f} ms", job.slot->id, job.rows,
                     static_cast<double>(MonotonicNanos() - t0) / 1e6);
      }
      std::lock_guard lock(job.slot->mu);
      job.slot->training = false;
    }
  }

  // Adds a valid point to the slot's training window; queues a (re)train when due.
  void AddTrainingPoint(ModelSlot& s, const std::vector<double>& x) {
    const auto& m = config_.model();
    std::lock_guard lock(s.mu);
    s.window.push_back(x);
    if (s.window.size() > m.training_window()) s.window.pop_front();
    ++s.since_train;
    const bool have = s.model.load() != nullptr;
    const bool due = have ? s.since_train >= m.retrain_every() : s.window.size() >= m.warmup_points();
    if (!due || s.training) return;
    s.training = true;
    s.since_train = 0;
    TrainJob job{&s, {}, s.window.size(), m.seed() + s.generation};
    job.data.reserve(s.window.size() * names_.size());
    for (const auto& row : s.window) job.data.insert(job.data.end(), row.begin(), row.end());
    {
      std::lock_guard tl(train_mu_);
      jobs_.push_back(std::move(job));
    }
    train_cv_.notify_one();
  }

  // Features, scores and anomalies of a batch. The anomalies are published
  // without waiting: the ack window acks the md.* messages once they (and
  // every earlier batch's) are acknowledged, so a crash replays the batch and
  // the anomalies' ids make the replay harmless.
  void ProcessBatch(std::vector<bus::ReceivedMessage>& msgs) {
    std::vector<bus::Message> out;
    for (auto& m : msgs) ProcessOne(m, &out);
    const size_t n = msgs.size();
    window().Submit(publisher(), std::move(msgs), out, [this, n](bool stored) {
      if (stored) messages_total_->Inc(static_cast<double>(n));
    });
  }

  void Reject(const std::string& reason) {
    obs::MetricsRegistry::Default()
        .GetCounter("streamadmin_anomaly_rejected_features_total",
                    "Feature vectors or md messages not scored because they are invalid, by reason",
                    {{"reason", reason}})
        .Inc();
  }

  void ProcessOne(const bus::ReceivedMessage& m, std::vector<bus::Message>* out) {
    const wire::MdKind kind = wire::MdKindOf(m.subject());
    absl::StatusOr<std::optional<FeatureVector>> v = std::optional<FeatureVector>();
    if (kind == wire::MdKind::kTrade) {
      mdpb::Trade t;
      if (!t.ParseFromString(m.data())) return Reject("unparseable");
      v = extractor_.OnTrade(t);
    } else if (kind == wire::MdKind::kTicker) {
      mdpb::Ticker t;
      if (!t.ParseFromString(m.data())) return Reject("unparseable");
      v = extractor_.OnTicker(t);
    } else if (kind == wire::MdKind::kBook) {
      mdpb::BookUpdate b;
      if (!b.ParseFromString(m.data())) return Reject("unparseable");
      v = extractor_.OnBookUpdate(b);
    } else if (kind == wire::MdKind::kStatus) {
      mdpb::VenueStatus s;
      if (!s.ParseFromString(m.data())) return Reject("unparseable");
      OnStatus(s);
      return;
    } else {
      return;  // candles, and anything that is not market data
    }
    if (!v.ok()) return Reject("unparseable");
    if (!v->has_value()) return;
    OnVector(**v, m.msg_id().empty() ? wire::StreamPositionId(m.subject(), m.stream_sequence()) : m.msg_id(), out);
  }

  // Quiet around trouble: a book in doubt is not scored (nor learnt from)
  // until the venue says it is right again.
  void OnStatus(const mdpb::VenueStatus& s) {
    const std::string key = absl::StrCat(s.origin().venue(), "|", s.origin().symbol());
    switch (s.kind()) {
      case mdpb::VenueStatus::KIND_GAP:
      case mdpb::VenueStatus::KIND_CHECKSUM_MISMATCH:
      case mdpb::VenueStatus::KIND_RESYNCING:
        if (resyncing_.insert(key).second) spdlog::info("{} {}: resyncing, not scored", s.origin().venue(), s.origin().symbol());
        extractor_.ResetBook(s.origin().venue(), s.origin().symbol());
        break;
      case mdpb::VenueStatus::KIND_RESYNCED:
        resyncing_.erase(key);
        break;
      default:
        break;
    }
  }

  void OnVector(const FeatureVector& v, const std::string& source_id, std::vector<bus::Message>* out) {
    if (auto reason = RejectReason(v.values, config_.features().max_abs_value())) return Reject(*reason);
    if (resyncing_.count(absl::StrCat(v.venue, "|", v.symbol)) || resyncing_.count(absl::StrCat(v.venue, "|"))) {
      suppressed_total_->Inc();
      return;
    }
    ModelSlot& s = *slots_[v.kind];
    AddTrainingPoint(s, v.values);
    auto model = s.model.load();
    if (!model) return;  // warming up
    std::vector<double> contrib(v.values.size());
    const double score = model->ScoreWithAttribution(v.values.data(), contrib.data());
    scored_total_[v.kind]->Inc();
    double threshold;
    uint64_t generation;
    {
      std::lock_guard lock(s.mu);
      ++s.points_scored;
      threshold = s.threshold_value;
      generation = s.generation;
      if (score >= threshold) ++s.anomalies;
    }
    if (score < threshold) return;
    pb::Anomaly a;
    a.set_venue(v.venue);
    a.set_symbol(v.symbol);
    a.set_event_time_ns(v.event_time_ns);
    a.set_score(score);
    a.set_threshold(threshold);
    a.set_model_id(absl::StrCat(s.id, ":", generation));
    a.set_event_kind(EventKindName(v.kind));
    a.set_source_msg_id(source_id);
    for (size_t f = 0; f < v.values.size(); ++f) {
      auto* feat = a.add_features();
      feat->set_name(names_[f]);
      feat->set_value(v.values[f]);
      feat->set_contribution(contrib[f]);
    }
    anomalies_total_[v.kind]->Inc();
    bus::Message msg;
    msg.subject = wire::AnomalySubject(v.venue, v.symbol);
    msg.msg_id = wire::AnomalyMsgId(source_id);
    a.SerializeToString(&msg.data);
    out->push_back(std::move(msg));
    std::lock_guard lock(recent_mu_);
    recent_.push_back(std::move(a));
    if (recent_.size() > std::max<uint32_t>(config_.recent_limit(), 1)) recent_.pop_front();
  }

  cfg::AnomalyConfig config_;
  FeatureExtractor extractor_;  // worker thread only
  const std::vector<std::string> names_;
  std::set<std::string> resyncing_;  // worker thread only: "venue|symbol"
  std::map<EventKind, std::unique_ptr<ModelSlot>> slots_;  // fixed after construction
  std::thread trainer_;
  std::atomic<bool> stop_{false};  // the trainer's
  std::mutex train_mu_;
  std::condition_variable train_cv_;
  std::deque<TrainJob> jobs_;
  std::mutex set_threshold_mu_;
  std::mutex recent_mu_;
  std::deque<pb::Anomaly> recent_;
  obs::Counter* messages_total_;
  std::map<EventKind, obs::Counter*> scored_total_, anomalies_total_;
  std::map<EventKind, obs::Gauge*> generation_;
  obs::Counter* suppressed_total_;
  obs::Histogram* train_seconds_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::AnomalyConfig& c) {
  return std::make_unique<AnomalyApp>(c);
}

}  // namespace sa::anomaly_service
