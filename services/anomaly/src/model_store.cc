#include "anomaly_service/model_store.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "anomaly_service/config.h"
#include "common/clock.h"

namespace sa::anomaly_service {

namespace cfg = streamadmin::config::v1;
namespace pb = streamadmin::anomaly::v1;
using anomaly::EventKind;
using anomaly::IsolationForest;
using anomaly::Threshold;

namespace {

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

}  // namespace

ModelStore::ModelStore(const cfg::AnomalyModelConfig& config, std::vector<std::string> feature_names,
                       AnomalyProbe& probe)
    : config_(config), names_(std::move(feature_names)), probe_(probe) {
  for (EventKind k : kEventKinds) {
    auto slot = std::make_unique<Slot>();
    slot->id = anomaly::EventKindName(k);
    slot->kind = k;
    slot->threshold = ConfiguredThreshold(config_);
    slots_[k] = std::move(slot);
  }
}

ModelStore::Slot* ModelStore::Find(const std::string& model_id) const {
  for (auto& [k, s] : slots_)
    if (s->id == model_id) return s.get();
  return nullptr;
}

void ModelStore::Load() {
  const std::string& dir = config_.model_dir();
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  for (EventKind k : kEventKinds) {
    Slot& s = Of(k);
    const std::string tpath = ThresholdPath(dir, s.id);
    if (std::ifstream tin(tpath); tin) {
      std::stringstream text;
      text << tin.rdbuf();
      auto t = Threshold::Parse(text.str());
      if (!t.ok()) {
        spdlog::warn("model {}: {} not used: {}", s.id, tpath, std::string(t.status().message()));
      } else {
        std::lock_guard lock(s.mu);
        spdlog::info("model {}: threshold {} from {} (set over gRPC; the config says {})", s.id, t->ToString(), tpath,
                     s.threshold.ToString());
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
    Install(s.id, *model, true);
    spdlog::info("model {}: loaded from {} ({} trees, trained on {} rows)", s.id, path, (*model)->num_trees(),
                 (*model)->training_rows());
  }
}

std::optional<TrainJob> ModelStore::AddTrainingPoint(EventKind kind, const std::vector<double>& x) {
  Slot& s = Of(kind);
  std::lock_guard lock(s.mu);
  s.window.push_back(x);
  if (s.window.size() > config_.training_window()) s.window.pop_front();
  ++s.since_train;
  const bool have = s.model.load() != nullptr;
  const bool due = have ? s.since_train >= config_.retrain_every() : s.window.size() >= config_.warmup_points();
  if (!due || s.training) return std::nullopt;
  s.training = true;
  s.since_train = 0;
  TrainJob job{s.id, {}, s.window.size(), config_.seed() + s.generation};
  job.data.reserve(s.window.size() * names_.size());
  for (const auto& row : s.window) job.data.insert(job.data.end(), row.begin(), row.end());
  return job;
}

std::shared_ptr<const IsolationForest> ModelStore::Model(EventKind kind) const { return Of(kind).model.load(); }

std::shared_ptr<const IsolationForest> ModelStore::Model(const std::string& model_id) const {
  Slot* s = Find(model_id);
  return s ? s->model.load() : nullptr;
}

ModelStore::Verdict ModelStore::Judge(EventKind kind, double score) {
  Slot& s = Of(kind);
  std::lock_guard lock(s.mu);
  probe_.Scored(kind).Inc();
  Verdict v{.threshold = s.threshold_value, .generation = s.generation, .anomalous = score >= s.threshold_value};
  if (v.anomalous) probe_.Anomalies(kind).Inc();
  return v;
}

absl::StatusOr<ModelStore::LiveModel> ModelStore::Live(const std::string& model_id) const {
  Slot* s = Find(model_id);
  if (!s) return absl::NotFoundError(absl::StrCat("no model '", model_id, "'"));
  LiveModel live{.model = s->model.load()};
  if (!live.model) return absl::FailedPreconditionError(absl::StrCat("model '", model_id, "' is still warming up"));
  std::lock_guard lock(s->mu);
  live.threshold = s->threshold_value;
  return live;
}

void ModelStore::Install(const std::string& model_id, std::shared_ptr<const IsolationForest> model, bool loaded) {
  Slot* s = Find(model_id);
  if (!s) return;
  std::lock_guard lock(s->mu);
  s->threshold_value = s->threshold.Resolve(*model);
  s->model.store(std::move(model));
  ++s->generation;
  s->trained_at_ns = NowUnixNanos();
  s->loaded_from_disk = loaded;
  s->since_train = 0;
  probe_.ModelGeneration(s->kind).Set(static_cast<double>(s->generation));
}

absl::Status ModelStore::SaveModel(const std::string& model_id, const IsolationForest& model) const {
  if (config_.model_dir().empty()) return absl::OkStatus();
  return WriteFileAtomically(ModelPath(config_.model_dir(), model_id), model.Serialize());
}

void ModelStore::TrainingDone(const std::string& model_id) {
  Slot* s = Find(model_id);
  if (!s) return;
  std::lock_guard lock(s->mu);
  s->training = false;
}

absl::StatusOr<std::vector<pb::ModelInfo>> ModelStore::SetThreshold(const std::string& model_id, const Threshold& t) {
  Slot* only = nullptr;
  if (!model_id.empty()) {
    only = Find(model_id);
    if (!only) return absl::NotFoundError(absl::StrCat("no model '", model_id, "'"));
  }
  // Kept in model_dir before it applies, so what is answered is what a
  // restart comes back with.
  std::lock_guard set_lock(set_threshold_mu_);
  if (const std::string& dir = config_.model_dir(); !dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    for (EventKind k : kEventKinds) {
      Slot& s = Of(k);
      if (only && only != &s) continue;
      if (auto st = WriteFileAtomically(ThresholdPath(dir, s.id), t.Encode() + "\n"); !st.ok())
        return absl::UnavailableError(absl::StrCat("threshold not set, it could not be kept: ", st.message()));
    }
  }
  std::vector<pb::ModelInfo> changed;
  for (EventKind k : kEventKinds) {
    Slot& s = Of(k);
    if (only && only != &s) continue;
    {
      std::lock_guard lock(s.mu);
      s.threshold = t;
      auto model = s.model.load();
      if (model) s.threshold_value = t.Resolve(*model);
    }
    spdlog::info("model {}: threshold set to {}", s.id, t.ToString());
    changed.push_back(InfoOf(s));
  }
  return changed;
}

pb::ModelInfo ModelStore::InfoOf(const Slot& s) const {
  pb::ModelInfo info;
  std::lock_guard lock(s.mu);
  auto model = s.model.load();
  info.set_model_id(s.id);
  info.set_state(model ? pb::ModelInfo::STATE_READY : pb::ModelInfo::STATE_WARMING_UP);
  for (const auto& n : names_) info.add_feature_names(n);
  info.set_num_trees(model ? model->num_trees() : config_.num_trees());
  info.set_sample_size(model ? model->sample_size() : config_.sample_size());
  info.set_training_rows(model ? model->training_rows() : 0);
  info.set_trained_at_ns(s.trained_at_ns);
  info.set_generation(s.generation);
  info.set_threshold(model ? s.threshold_value : 0);
  info.set_threshold_mode(s.threshold.ToString());
  info.set_buffered_points(s.window.size());
  info.set_warmup_points(config_.warmup_points());
  info.set_points_scored(Count(probe_.Scored(s.kind)));
  info.set_anomalies(Count(probe_.Anomalies(s.kind)));
  info.set_loaded_from_disk(s.loaded_from_disk);
  return info;
}

std::vector<pb::ModelInfo> ModelStore::Infos() const {
  std::vector<pb::ModelInfo> out;
  for (EventKind k : kEventKinds) out.push_back(InfoOf(Of(k)));
  return out;
}

std::map<std::string, std::string> ModelStore::Describe() const {
  std::map<std::string, std::string> d;
  for (EventKind k : kEventKinds) {
    const Slot& s = Of(k);
    std::lock_guard lock(s.mu);
    d[absl::StrCat("model.", s.id)] =
        s.model.load() ? absl::StrCat("ready gen ", s.generation, s.loaded_from_disk ? " (loaded)" : "")
                       : absl::StrCat("warming up ", s.window.size(), "/", config_.warmup_points());
  }
  return d;
}

}  // namespace sa::anomaly_service
