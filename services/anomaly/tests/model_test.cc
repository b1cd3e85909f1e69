// ModelStore, Trainer, Detector and the gRPC service on a small model.
#include <gtest/gtest.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>

#include "anomaly_service/config.h"
#include "anomaly_service/detector.h"
#include "anomaly_service/grpc_service.h"
#include "anomaly_service/model_store.h"
#include "anomaly_service/trainer.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "testing/temp_dir.h"

namespace sa::anomaly_service {
namespace {

namespace cfg = streamadmin::config::v1;
namespace mdpb = streamadmin::marketdata::v1;
namespace pb = streamadmin::anomaly::v1;
using anomaly::EventKind;

cfg::AnomalyConfig SmallModel() {
  cfg::AnomalyConfig c = DefaultConfig();
  auto* m = c.mutable_model();
  m->set_num_trees(20);
  m->set_sample_size(32);
  m->set_warmup_points(40);
  m->set_training_window(64);
  m->set_retrain_every(1000000);
  return c;
}

std::vector<std::string> Names(const cfg::AnomalyConfig& c) {
  return anomaly::FeatureExtractor(FeatureOptionsOf(c.features())).FeatureNames();
}

// `n` points of `cols` values around 0, the same for every run.
std::vector<std::vector<double>> Points(size_t n, size_t cols) {
  std::mt19937 rng(7);
  std::normal_distribution<double> d(0, 1);
  std::vector<std::vector<double>> out(n, std::vector<double>(cols));
  for (auto& p : out)
    for (auto& v : p) v = d(rng);
  return out;
}

// A temporary model_dir, removed at the end.
std::string PathOf(const absl::StatusOr<sa::testing::TempDir>& dir) {
  EXPECT_TRUE(dir.ok()) << dir.status();
  return dir.ok() ? dir->path() + "/models" : "";
}

TEST(ModelStore, AsksForTheFirstTrainingOnceWarmedUpAndNotAgainWhileItTrains) {
  cfg::AnomalyConfig c = SmallModel();
  ModelStore store(c.model(), Names(c));
  auto points = Points(100, Names(c).size());
  std::optional<TrainJob> job;
  size_t added = 0;
  while (!job && added < points.size()) job = store.AddTrainingPoint(EventKind::kTrade, points[added++]);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(added, 40u);
  EXPECT_EQ(job->model_id, "trade");
  EXPECT_EQ(job->rows, 40u);
  EXPECT_EQ(job->data.size(), 40u * Names(c).size());
  EXPECT_FALSE(store.AddTrainingPoint(EventKind::kTrade, points[added]).has_value());  // one in training
  EXPECT_EQ(store.Model(EventKind::kTrade), nullptr);
  EXPECT_EQ(store.Describe()["model.trade"], "warming up 41/40");
  EXPECT_EQ(store.Describe()["model.quote"], "warming up 0/40");
}

TEST(Trainer, InstallsTheTrainedModelWithItsThresholdAndSavesIt) {
  auto dir = sa::testing::TempDir::Create("anomaly");
  cfg::AnomalyConfig c = SmallModel();
  c.mutable_model()->set_model_dir(PathOf(dir));
  ModelStore store(c.model(), Names(c));
  store.Load();  // as at start: creates model_dir
  std::optional<TrainJob> job;
  for (auto& p : Points(40, Names(c).size())) job = store.AddTrainingPoint(EventKind::kTrade, p);
  ASSERT_TRUE(job.has_value());
  Trainer trainer(c.model(), store);
  trainer.Train(*job);
  auto model = store.Model(EventKind::kTrade);
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->training_rows(), 40u);
  EXPECT_EQ(store.Describe()["model.trade"], "ready gen 1");
  EXPECT_TRUE(std::filesystem::exists(PathOf(dir) + "/trade.saif"));
  auto live = store.Live("trade");
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->model, model);
  EXPECT_GT(live->threshold, 0);  // the training scores' quantile (contamination)
  EXPECT_LT(live->threshold, 1);

  // A new store over the same directory comes back with it.
  ModelStore restarted(c.model(), Names(c));
  restarted.Load();
  ASSERT_NE(restarted.Model("trade"), nullptr);
  EXPECT_EQ(restarted.Describe()["model.trade"], "ready gen 1 (loaded)");
}

TEST(Trainer, TrainsQueuedJobsOnItsThread) {
  cfg::AnomalyConfig c = SmallModel();
  ModelStore store(c.model(), Names(c));
  std::optional<TrainJob> job;
  for (auto& p : Points(40, Names(c).size())) job = store.AddTrainingPoint(EventKind::kQuote, p);
  ASSERT_TRUE(job.has_value());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> trained;
  Trainer trainer(c.model(), store, [&](const TrainJob& j) {
    std::lock_guard lock(mu);
    trained.push_back(j.model_id);
    cv.notify_all();
  });
  trainer.Start();
  trainer.Enqueue(std::move(*job));
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return !trained.empty(); });
  }
  trainer.Stop();
  EXPECT_EQ(trained, std::vector<std::string>{"quote"});
  ASSERT_NE(store.Model(EventKind::kQuote), nullptr);
  EXPECT_EQ(store.Model(EventKind::kQuote)->training_rows(), 40u);
  // Trained: the model may ask for its next training again.
  EXPECT_EQ(store.Describe()["model.quote"], "ready gen 1");
}

TEST(ModelStore, AModelWithOtherFeaturesIsNotLoaded) {
  auto dir = sa::testing::TempDir::Create("anomaly");
  cfg::AnomalyConfig c = SmallModel();
  c.mutable_model()->set_model_dir(PathOf(dir));
  {
    ModelStore store(c.model(), Names(c));
    store.Load();
    std::optional<TrainJob> job;
    for (auto& p : Points(40, Names(c).size())) job = store.AddTrainingPoint(EventKind::kTrade, p);
    Trainer(c.model(), store).Train(*job);
  }
  ASSERT_TRUE(std::filesystem::exists(PathOf(dir) + "/trade.saif"));
  cfg::AnomalyConfig other = c;
  other.mutable_features()->add_features(Names(c)[0]);  // one feature only
  ModelStore store(other.model(), Names(other));
  store.Load();
  EXPECT_EQ(store.Model("trade"), nullptr);
}

TEST(ModelStore, AThresholdSetIsKeptInModelDirAndComesBackAfterARestart) {
  auto dir = sa::testing::TempDir::Create("anomaly");
  cfg::AnomalyConfig c = SmallModel();
  c.mutable_model()->set_model_dir(PathOf(dir));
  ModelStore store(c.model(), Names(c));
  auto changed = store.SetThreshold("quote", *anomaly::Threshold::Fixed(0.7));
  ASSERT_TRUE(changed.ok()) << changed.status();
  ASSERT_EQ(changed->size(), 1u);
  EXPECT_EQ((*changed)[0].model_id(), "quote");
  EXPECT_EQ((*changed)[0].threshold_mode(), "score=0.7");
  EXPECT_EQ(store.SetThreshold("nope", *anomaly::Threshold::Fixed(0.7)).status().code(), absl::StatusCode::kNotFound);

  ModelStore restarted(c.model(), Names(c));
  restarted.Load();
  for (const auto& info : restarted.Infos())
    EXPECT_EQ(info.threshold_mode(), info.model_id() == "quote" ? "score=0.7" : "contamination=0.005");
}

TEST(ModelStore, AThresholdThatCannotBeKeptIsNotSet) {
  auto dir = sa::testing::TempDir::Create("anomaly");
  cfg::AnomalyConfig c = SmallModel();
  std::filesystem::create_directories(PathOf(dir));
  const std::string file = PathOf(dir) + "/not-a-dir";
  { std::ofstream(file) << "x"; }
  c.mutable_model()->set_model_dir(file);  // a file: nothing can be written under it
  ModelStore store(c.model(), Names(c));
  EXPECT_EQ(store.SetThreshold("", *anomaly::Threshold::Fixed(0.7)).status().code(), absl::StatusCode::kUnavailable);
  for (const auto& info : store.Infos()) EXPECT_EQ(info.threshold_mode(), "contamination=0.005");
}

// Trades of one symbol through the Detector: the first model is trained
// from them, then every trade is scored; with a threshold of 0.01 every one
// is an anomaly.
class DetectorTest : public ::testing::Test {
 protected:
  DetectorTest() : config_(Config()), store_(config_.model(), Names(config_)), recent_(10) {}
  static cfg::AnomalyConfig Config() {
    cfg::AnomalyConfig c = SmallModel();
    c.mutable_model()->set_threshold_score(0.01);
    return c;
  }
  std::string Trade(int i) {
    mdpb::Trade t;
    t.mutable_origin()->set_venue("kraken");
    t.mutable_origin()->set_symbol("BTC-USD");
    t.mutable_origin()->set_exchange_time_ns(1'700'000'000'000'000'000 + int64_t{i} * 10'000'000);
    t.mutable_price()->set_value(std::to_string(100 + i % 5));
    t.mutable_size()->set_value(std::to_string(1 + i % 3));
    t.set_trade_id(std::to_string(i));
    return t.SerializeAsString();
  }
  std::string Status(mdpb::VenueStatus::Kind kind) {
    mdpb::VenueStatus s;
    s.mutable_origin()->set_venue("kraken");
    s.mutable_origin()->set_symbol("BTC-USD");
    s.set_kind(kind);
    return s.SerializeAsString();
  }
  // Feeds trades until the first model is trained.
  void WarmUp(Detector& d) {
    for (int i = 0; i < 200 && store_.Model(EventKind::kTrade) == nullptr; ++i) {
      Detector::Result r;
      d.OnMessage("md.trade.kraken.BTC-USD", Trade(next_++), "src", &r);
      EXPECT_TRUE(r.anomalies.empty());
      for (auto& job : r.jobs) Trainer(config_.model(), store_).Train(job);
    }
    ASSERT_NE(store_.Model(EventKind::kTrade), nullptr);
  }

  cfg::AnomalyConfig config_;
  ModelStore store_;
  RecentAnomalies recent_;
  int next_ = 0;
};

TEST_F(DetectorTest, ScoresOnceWarmedUpAndPublishesAnomaliesUnderTheSourceId) {
  Detector d(config_, store_, recent_);
  WarmUp(d);
  Detector::Result r;
  d.OnMessage("md.trade.kraken.BTC-USD", Trade(next_++), "trade:kraken:BTC-USD:77", &r);
  ASSERT_EQ(r.anomalies.size(), 1u);
  EXPECT_EQ(r.anomalies[0].subject, "anomaly.kraken.BTC-USD");
  EXPECT_EQ(r.anomalies[0].msg_id, "anomaly:trade:kraken:BTC-USD:77");
  pb::Anomaly a;
  ASSERT_TRUE(a.ParseFromString(r.anomalies[0].data));
  EXPECT_EQ(a.model_id(), "trade:1");
  EXPECT_EQ(a.event_kind(), "trade");
  EXPECT_EQ(a.source_msg_id(), "trade:kraken:BTC-USD:77");
  EXPECT_EQ(static_cast<size_t>(a.features_size()), Names(config_).size());
  EXPECT_GE(a.score(), a.threshold());
  auto listed = recent_.List(10, "kraken", "");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].source_msg_id(), "trade:kraken:BTC-USD:77");
  EXPECT_TRUE(recent_.List(10, "binance", "").empty());
}

TEST_F(DetectorTest, ABookInDoubtIsNotScoredUntilResynced) {
  Detector d(config_, store_, recent_);
  WarmUp(d);
  Detector::Result r;
  d.OnMessage("md.status.kraken", Status(mdpb::VenueStatus::KIND_GAP), "s1", &r);
  for (int i = 0; i < 5; ++i) d.OnMessage("md.trade.kraken.BTC-USD", Trade(next_++), "t", &r);
  EXPECT_TRUE(r.anomalies.empty());
  d.OnMessage("md.status.kraken", Status(mdpb::VenueStatus::KIND_RESYNCED), "s2", &r);
  for (int i = 0; i < 3; ++i) d.OnMessage("md.trade.kraken.BTC-USD", Trade(next_++), "t", &r);
  EXPECT_FALSE(r.anomalies.empty());
}

TEST_F(DetectorTest, CandlesAndUnparseableMessagesAreNotScored) {
  Detector d(config_, store_, recent_);
  WarmUp(d);
  Detector::Result r;
  d.OnMessage("md.candle.1s.kraken.BTC-USD", "whatever", "c", &r);
  d.OnMessage("md.trade.kraken.BTC-USD", "\xff\xff not a trade", "t", &r);
  EXPECT_TRUE(r.anomalies.empty());
}

TEST_F(DetectorTest, ScoreBatchAnswersWithTheLiveModel) {
  AnomalyGrpcService service(config_.features().max_abs_value(), store_, recent_);
  pb::ScoreBatchRequest req;
  req.set_model_id("trade");
  pb::ScoreBatchResponse resp;
  EXPECT_EQ(service.ScoreBatch(nullptr, &req, &resp).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  req.set_model_id("colour");
  EXPECT_EQ(service.ScoreBatch(nullptr, &req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);

  Detector d(config_, store_, recent_);
  WarmUp(d);
  req.set_model_id("trade");
  req.set_attribution(true);
  auto* v = req.add_vectors();
  for (size_t i = 0; i < Names(config_).size(); ++i) v->add_values(0.5);
  resp.Clear();
  ASSERT_TRUE(service.ScoreBatch(nullptr, &req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 1);
  EXPECT_EQ(resp.model_id(), "trade");
  EXPECT_DOUBLE_EQ(resp.threshold(), 0.01);
  EXPECT_TRUE(resp.results(0).anomalous());
  EXPECT_EQ(static_cast<size_t>(resp.results(0).features_size()), Names(config_).size());

  req.add_vectors()->add_values(1);  // too few values
  EXPECT_EQ(service.ScoreBatch(nullptr, &req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(DetectorTest, SetThresholdAndListModelsGoThroughTheStore) {
  AnomalyGrpcService service(config_.features().max_abs_value(), store_, recent_);
  pb::SetThresholdRequest set;
  set.set_model_id("trade");
  set.set_score(1.5);
  pb::SetThresholdResponse set_resp;
  EXPECT_EQ(service.SetThreshold(nullptr, &set, &set_resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  set.set_contamination(0.01);
  ASSERT_TRUE(service.SetThreshold(nullptr, &set, &set_resp).ok());
  ASSERT_EQ(set_resp.models_size(), 1);
  pb::ListModelsRequest list;
  pb::ListModelsResponse models;
  ASSERT_TRUE(service.ListModels(nullptr, &list, &models).ok());
  ASSERT_EQ(models.models_size(), 2);
  EXPECT_EQ(models.models(0).model_id(), "trade");
  EXPECT_EQ(models.models(0).threshold_mode(), "contamination=0.01");
  EXPECT_EQ(models.models(0).state(), pb::ModelInfo::STATE_WARMING_UP);
  EXPECT_EQ(models.models(1).threshold_mode(), "score=0.01");
}

}  // namespace
}  // namespace sa::anomaly_service
