#include "anomaly_service/trainer.h"

#include <spdlog/spdlog.h>

#include "anomaly_service/config.h"
#include "common/clock.h"

namespace sa::anomaly_service {

Trainer::Trainer(const streamadmin::config::v1::AnomalyModelConfig& config, ModelStore& store, Done done,
                 AnomalyProbe& probe)
    : config_(config), store_(store), done_(std::move(done)), train_seconds_(probe.train_seconds) {}

Trainer::~Trainer() { Stop(); }

void Trainer::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Trainer::Stop() {
  {
    // Under the mutex, so the thread cannot miss the wake-up between testing
    // its predicate and blocking.
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Trainer::Enqueue(TrainJob job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

void Trainer::Loop() {
  while (true) {
    TrainJob job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
      if (stop_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Train(job);
  }
}

void Trainer::Train(const TrainJob& job) {
  const auto& names = store_.feature_names();
  const int64_t t0 = MonotonicNanos();
  auto model = anomaly::IsolationForest::Train({job.data.data(), job.rows, names.size()},
                                               ForestParamsOf(config_, job.seed), names);
  train_seconds_.Observe(static_cast<double>(MonotonicNanos() - t0) / 1e9);
  if (!model.ok()) {
    spdlog::error("model {}: training failed: {}", job.model_id, std::string(model.status().message()));
  } else {
    if (auto st = store_.SaveModel(job.model_id, **model); !st.ok())
      spdlog::error("model {}: not saved: {}", job.model_id, std::string(st.message()));
    store_.Install(job.model_id, *model, false);
    spdlog::info("model {}: trained on {} rows in {:.1f} ms", job.model_id, job.rows,
                 static_cast<double>(MonotonicNanos() - t0) / 1e6);
  }
  store_.TrainingDone(job.model_id);
  if (done_) done_(job);
}

}  // namespace sa::anomaly_service
