// Detector: the worker's step — an md.* message in, its feature vector
// scored by the live model, an anomaly out (to publish) when the score is at
// or above the threshold. A book in doubt (gap, checksum mismatch,
// resyncing) is neither scored nor learnt from until the venue says it is
// right again. It publishes nothing and trains nothing: the anomalies and
// the due training jobs come back in the Result.
//
// Threading: OnMessage from one worker thread; RecentAnomalies is
// thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "anomaly/feature_extractor.h"
#include "anomaly_service/model_store.h"
#include "bus/message.h"
#include "streamadmin/anomaly/v1/anomaly.pb.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::anomaly_service {

// The latest anomalies, for ListRecentAnomalies.
class RecentAnomalies {
 public:
  explicit RecentAnomalies(size_t limit) : limit_(limit ? limit : 1) {}
  void Add(streamadmin::anomaly::v1::Anomaly a);
  // Newest first, at most `limit`, of `venue` and `symbol` when not empty.
  std::vector<streamadmin::anomaly::v1::Anomaly> List(size_t limit, const std::string& venue,
                                                      const std::string& symbol) const;

 private:
  const size_t limit_;
  mutable std::mutex mu_;
  std::deque<streamadmin::anomaly::v1::Anomaly> recent_;
};

class Detector {
 public:
  struct Result {
    std::vector<bus::Message> anomalies;  // on anomaly.<venue>.<symbol>, id from the source message's
    std::vector<TrainJob> jobs;           // for the Trainer
  };

  // Borrows the store and the list, which must outlive the detector.
  Detector(const streamadmin::config::v1::AnomalyConfig& config, ModelStore& store, RecentAnomalies& recent,
           AnomalyProbe& probe = AnomalyProbe::Default());

  // One md.* message (`source_id`: its Nats-Msg-Id, else its stream
  // position). Candles and other subjects are skipped; an unparseable or
  // invalid one is counted in streamadmin_anomaly_rejected_features_total.
  void OnMessage(const std::string& subject, const std::string& data, const std::string& source_id, Result* out);

 private:
  void OnStatus(const streamadmin::marketdata::v1::VenueStatus& s);
  void OnVector(const anomaly::FeatureVector& v, const std::string& source_id, Result* out);

  const double max_abs_value_;
  ModelStore& store_;
  RecentAnomalies& recent_;
  anomaly::FeatureExtractor extractor_;
  std::set<std::string> resyncing_;  // "venue|symbol"
  AnomalyProbe& probe_;
};

}  // namespace sa::anomaly_service
