// ModelStore: the service's models, one per event kind ("trade", "quote"):
// each one's sliding training window, live forest, threshold and counters,
// and their files in model.model_dir (<id>.saif, <id>.threshold).
//
// It trains nothing itself: AddTrainingPoint returns the TrainJob that is due
// and the Trainer installs what it trained.
//
// Threading: every method is thread-safe. AddTrainingPoint and Judge come
// from the worker thread, Install and TrainingDone from the trainer thread,
// the rest from gRPC threads; the live forest is swapped atomically and read
// without a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "anomaly/feature_extractor.h"
#include "anomaly/isolation_forest.h"
#include "anomaly/threshold.h"
#include "anomaly_service/probe.h"
#include "streamadmin/anomaly/v1/anomaly.pb.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::anomaly_service {

inline constexpr anomaly::EventKind kEventKinds[] = {anomaly::EventKind::kTrade, anomaly::EventKind::kQuote};

// A snapshot of one model's training window, to train off the worker's path.
struct TrainJob {
  std::string model_id;
  std::vector<double> data;  // rows × feature_names, row-major
  size_t rows = 0;
  uint64_t seed = 0;  // model.seed + the model's generation
};

class ModelStore {
 public:
  // Counts scores and anomalies in `probe` (Judge) and reads them back (ListModels).
  ModelStore(const streamadmin::config::v1::AnomalyModelConfig& config, std::vector<std::string> feature_names,
             AnomalyProbe& probe = AnomalyProbe::Default());

  // Restores each model saved in model_dir whose features match, and each
  // threshold set over gRPC (it overrides the configured one until set
  // again). Before the worker and trainer start.
  void Load();

  // Adds a valid point to the model's training window. Returns a job when a
  // (re)train is due — model.warmup_points for the first model, then every
  // model.retrain_every points — and none is in training.
  std::optional<TrainJob> AddTrainingPoint(anomaly::EventKind kind, const std::vector<double>& point);

  // The live forest of the model; null while it warms up.
  std::shared_ptr<const anomaly::IsolationForest> Model(anomaly::EventKind kind) const;
  std::shared_ptr<const anomaly::IsolationForest> Model(const std::string& model_id) const;
  struct Verdict {
    double threshold = 0;
    uint64_t generation = 0;
    bool anomalous = false;
  };
  // Counts a point `score`d by the live model and says whether it is an anomaly.
  Verdict Judge(anomaly::EventKind kind, double score);
  struct LiveModel {
    std::shared_ptr<const anomaly::IsolationForest> model;
    double threshold = 0;  // the score at or above which a point is anomalous
  };
  // The live forest of a model and its threshold: NotFound for an unknown
  // id, FailedPrecondition while it warms up.
  absl::StatusOr<LiveModel> Live(const std::string& model_id) const;

  // The trainer's: a new forest goes live (its threshold resolved), written
  // to model_dir first when set; `loaded` when it came from there.
  void Install(const std::string& model_id, std::shared_ptr<const anomaly::IsolationForest> model, bool loaded);
  absl::Status SaveModel(const std::string& model_id, const anomaly::IsolationForest& model) const;
  // The model's job is over (trained or failed): the next one may be queued.
  void TrainingDone(const std::string& model_id);

  // Sets the threshold of one model ("" = every model), kept in model_dir
  // before it applies (UNAVAILABLE, nothing changed, when it cannot be);
  // NotFound for an unknown id. Returns the models changed.
  absl::StatusOr<std::vector<streamadmin::anomaly::v1::ModelInfo>> SetThreshold(const std::string& model_id,
                                                                                const anomaly::Threshold& threshold);

  std::vector<streamadmin::anomaly::v1::ModelInfo> Infos() const;
  // "ready gen 3 (loaded)" or "warming up 10/1024", by "model.<id>".
  std::map<std::string, std::string> Describe() const;
  const std::vector<std::string>& feature_names() const { return names_; }

 private:
  struct Slot {
    std::string id;
    anomaly::EventKind kind;
    mutable std::mutex mu;  // guards everything below except `model`
    std::deque<std::vector<double>> window;
    uint64_t since_train = 0;
    bool training = false;
    anomaly::Threshold threshold = *anomaly::Threshold::Contamination(0.005);
    double threshold_value = 1;
    uint64_t generation = 0;
    int64_t trained_at_ns = 0;
    bool loaded_from_disk = false;
    std::atomic<std::shared_ptr<const anomaly::IsolationForest>> model;  // read without `mu`
  };
  Slot* Find(const std::string& model_id) const;
  Slot& Of(anomaly::EventKind kind) const { return *slots_.at(kind); }
  streamadmin::anomaly::v1::ModelInfo InfoOf(const Slot& s) const;

  const streamadmin::config::v1::AnomalyModelConfig config_;
  const std::vector<std::string> names_;
  AnomalyProbe& probe_;
  std::map<anomaly::EventKind, std::unique_ptr<Slot>> slots_;  // fixed after construction
  std::mutex set_threshold_mu_;                                // one setter at a time, so file and memory agree
};

}  // namespace sa::anomaly_service
