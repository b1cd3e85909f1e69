// Trainer: trains the models off the worker's path. Jobs (ModelStore::
// AddTrainingPoint's) queue up for its thread, which trains a forest, saves
// it to model_dir and installs it in the store.
//
// Threading: Enqueue from any thread; Train runs on the trainer thread (or
// the caller's, in tests); Start and Stop from the main thread, once each.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "anomaly_service/model_store.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::anomaly_service {

class Trainer {
 public:
  // Called on the training thread after each job (trained or failed).
  using Done = std::function<void(const TrainJob& job)>;
  // Borrows the store, which must outlive the trainer.
  Trainer(const streamadmin::config::v1::AnomalyModelConfig& config, ModelStore& store, Done done = nullptr,
          AnomalyProbe& probe = AnomalyProbe::Default());
  ~Trainer();  // Stop()

  void Start();
  // Jobs still queued are dropped; one in training finishes first.
  void Stop();
  void Enqueue(TrainJob job);
  // Trains, saves and installs one model; a failure is logged and leaves the
  // live model as it was. The model's next job may then be queued.
  void Train(const TrainJob& job);

 private:
  void Loop();

  const streamadmin::config::v1::AnomalyModelConfig config_;
  ModelStore& store_;
  Done done_;
  obs::Histogram& train_seconds_;
  std::mutex mu_;  // guards jobs_, stop_
  std::condition_variable cv_;
  std::deque<TrainJob> jobs_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sa::anomaly_service
