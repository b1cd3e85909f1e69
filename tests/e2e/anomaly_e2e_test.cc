// The anomaly service end to end through a real nats-server: canonical trades
// published to stream MD -> the anomaly binary -> anomaly.<venue>.<SYMBOL> in
// stream ANOMALY; invalid features counted and not scored; books resyncing
// kept quiet; a restart keeps the model and a threshold set over gRPC (model_dir).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "cli/control_client.h"
#include "e2e_util.h"
#include "runtime/streams.h"
#include "streamadmin/anomaly/v1/anomaly.grpc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
namespace apb = streamadmin::anomaly::v1;
using e2e::BinDir;

constexpr int64_t kStartNs = 1'700'000'000'000'000'000;

class AnomalyService : public e2e::NatsTest {
 protected:
  void SetUp() override {
    e2e::NatsTest::SetUp();
    auto js = bus::JetStream::Create(*conn_);
    ASSERT_TRUE(js.ok());
    ASSERT_TRUE((*js)->EnsureStream(runtime::MdStream()).ok());
    auto pub = bus::JetStreamPublisher::Create(*conn_);
    ASSERT_TRUE(pub.ok());
    publisher_ = std::move(*pub);
    model_dir_ = absl::StrCat(dir_->path(), "/models");
  }

  void StartService() {
    grpc_port_ = *testing::PickFreePort();
    http_port_ = *testing::PickFreePort();
    std::string cfg = absl::StrCat(dir_->path(), "/anomaly.yaml");
    std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port_ << "\n  http_listen: 127.0.0.1:"
                       << http_port_ << "\n  shutdown_grace_s: 5\nnats:\n  servers: [" << nats_->url() << "]\n"
                       << "model:\n  warmup_points: 400\n  retrain_every: 1000000\n  model_dir: \"" << model_dir_
                       << "\"\n";
    testing::Process::Options opts;
    opts.log_file = absl::StrCat(dir_->path(), "/anomaly.log");
    auto p = testing::Process::Spawn({BinDir() + "/anomaly", "--config", cfg}, opts);
    ASSERT_TRUE(p.ok()) << p.status();
    process_ = std::move(*p);
    const std::string target = absl::StrCat("127.0.0.1:", grpc_port_);
    cli::ControlClient client(target, absl::Seconds(2));
    ASSERT_TRUE(testing::WaitFor([&] { return client.Health().ok(); }, absl::Seconds(30))) << process_->Output();
    stub_ = apb::AnomalyService::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }

  apb::ModelInfo TradeModel() {
    grpc::ClientContext ctx;
    apb::ListModelsRequest req;
    apb::ListModelsResponse resp;
    EXPECT_TRUE(stub_->ListModels(&ctx, req, &resp).ok());
    for (const auto& m : resp.models())
      if (m.model_id() == "trade") return m;
    return {};
  }

  // A trade of venue `venue`, BTC-USD; ids count up per test.
  void Trade(const std::string& venue, double price, double size, const std::string& price_text = "") {
    mdpb::Trade t;
    t.mutable_origin()->set_venue(venue);
    t.mutable_origin()->set_symbol("BTC-USD");
    t.mutable_origin()->set_exchange_time_ns(kStartNs + seq_ * 100'000'000);
    t.set_trade_id(std::to_string(++seq_));
    t.mutable_price()->set_value(price_text.empty() ? absl::StrCat(price) : price_text);
    t.mutable_size()->set_value(absl::StrCat(size));
    bus::Message m;
    m.subject = absl::StrCat("md.trade.", venue, ".BTC-USD");
    m.msg_id = absl::StrCat("trade:", venue, ":BTC-USD:", seq_);
    t.SerializeToString(&m.data);
    ASSERT_TRUE(publisher_->Publish(m).ok());
  }

  void Status(mdpb::VenueStatus::Kind kind) {
    mdpb::VenueStatus s;
    s.mutable_origin()->set_venue("sim");
    s.mutable_origin()->set_symbol("BTC-USD");
    s.set_kind(kind);
    bus::Message m;
    m.subject = "md.status.sim";
    m.msg_id = absl::StrCat("status:", ++seq_);
    s.SerializeToString(&m.data);
    ASSERT_TRUE(publisher_->Publish(m).ok());
  }

  // Normal market: a random walk of a few bps, two venues a few bps apart.
  void NormalTrades(int n) {
    for (int i = 0; i < n; ++i) {
      price_ *= 1 + noise_(rng_) * 2e-4;
      Trade(i % 2 ? "sim" : "sim2", price_ * (i % 2 ? 1 : 1.0002), 0.5 + 0.4 * std::abs(noise_(rng_)));
    }
    ASSERT_TRUE(publisher_->Flush(absl::Seconds(10)).ok());
  }

  std::vector<apb::Anomaly> StoredAnomalies() {
    std::vector<apb::Anomaly> out;
    auto js = bus::JetStream::Create(*conn_);
    auto info = (*js)->GetStreamInfo("ANOMALY");
    if (!info.ok()) return out;
    streamadmin::config::v1::ConsumerConfig c;
    c.set_stream("ANOMALY");
    c.set_durable(absl::StrCat("reader", ++readers_));
    c.set_filter_subject("anomaly.>");
    EXPECT_TRUE((*js)->EnsurePullConsumer(c).ok());
    auto sub = (*js)->PullSubscribe(c);
    EXPECT_TRUE(sub.ok());
    while (true) {
      auto msgs = (*sub)->Fetch(1000, absl::Milliseconds(300));
      if (!msgs.ok() || msgs->empty()) break;
      for (auto& m : *msgs) {
        apb::Anomaly a;
        EXPECT_TRUE(a.ParseFromString(m.data()));
        EXPECT_EQ(m.subject(), absl::StrCat("anomaly.", a.venue(), ".", a.symbol()));
        out.push_back(a);
        (void)m.Ack();
      }
    }
    return out;
  }

  std::string MetricsText() {
    httplib::Client http("127.0.0.1", http_port_);
    auto r = http.Get("/metrics");
    return r ? r->body : "";
  }

  double Metric(const std::string& series) {
    httplib::Client http("127.0.0.1", http_port_);
    auto r = http.Get("/metrics");
    if (!r || r->status != 200) return -1;
    size_t pos = r->body.find("\n" + series + " ");  // a sample line, not # HELP / # TYPE
    if (pos == std::string::npos) return 0;
    return std::stod(r->body.substr(pos + series.size() + 2));
  }

  std::unique_ptr<bus::JetStreamPublisher> publisher_;
  std::unique_ptr<testing::Process> process_;
  std::unique_ptr<apb::AnomalyService::Stub> stub_;
  std::string model_dir_;
  int grpc_port_ = 0, http_port_ = 0;
  int seq_ = 0, readers_ = 0;
  double price_ = 60000;
  std::mt19937 rng_{7};
  std::normal_distribution<double> noise_;
};

TEST_F(AnomalyService, FlagsPriceJumpsRejectsBadFeaturesStaysQuietWhileResyncingAndKeepsItsModel) {
  ASSERT_NO_FATAL_FAILURE(StartService());
  EXPECT_EQ(TradeModel().state(), apb::ModelInfo::STATE_WARMING_UP);
  NormalTrades(600);
  ASSERT_TRUE(testing::WaitFor([&] { return TradeModel().state() == apb::ModelInfo::STATE_READY; }, absl::Seconds(30)))
      << process_->Output();
  const auto before = TradeModel();
  EXPECT_FALSE(before.loaded_from_disk());
  EXPECT_GE(before.training_rows(), 400u);
  EXPECT_EQ(before.feature_names_size(), 9);  // the default: all nine features

  // Three price jumps of 3 % on venue sim, each between normal trades.
  for (int j = 0; j < 3; ++j) {
    NormalTrades(20);
    Trade("sim", price_ * 1.03, 0.6);
    NormalTrades(20);
  }
  // Invalid inputs: an absurd price and a non-number are rejected, not scored.
  Trade("sim", price_ * 1e9, 0.5);
  Trade("sim", 0, 0.5, "NaN");
  // While sim's book resyncs, even a jump raises nothing.
  Status(mdpb::VenueStatus::KIND_RESYNCING);
  Trade("sim", price_ * 1.05, 0.5);
  Status(mdpb::VenueStatus::KIND_RESYNCED);
  NormalTrades(5);

  std::vector<apb::Anomaly> stored;
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        stored = StoredAnomalies();
        return stored.size() >= 3 && Metric("streamadmin_anomaly_suppressed_total") >= 1;
      },
      absl::Seconds(30)))
      << stored.size() << " anomalies\n"
      << MetricsText() << process_->Output();
  int jumps = 0;
  for (const auto& a : stored) {
    EXPECT_GE(a.score(), a.threshold());
    ASSERT_EQ(a.features_size(), 9);
    if (a.venue() == "sim" && a.features(0).value() > 250) {  // log_return of the +3 % jumps, in bps
      ++jumps;
      double top = 0;
      std::string top_name;
      for (const auto& f : a.features())
        if (f.contribution() > top) top = f.contribution(), top_name = f.name();
      EXPECT_TRUE(top_name == "log_return" || top_name == "vwap_distance" || top_name == "venue_divergence")
          << top_name;
    }
    EXPECT_LT(a.features(0).value(), 450) << "the jump during the resync was scored";
  }
  EXPECT_EQ(jumps, 3);
  EXPECT_GE(Metric("streamadmin_anomaly_rejected_features_total{reason=\"out_of_range\"}"), 1);
  EXPECT_GE(Metric("streamadmin_anomaly_rejected_features_total{reason=\"unparseable\"}"), 1);
  {
    grpc::ClientContext ctx;
    apb::ListRecentAnomaliesRequest req;
    apb::ListRecentAnomaliesResponse resp;
    req.set_venue("sim");
    ASSERT_TRUE(stub_->ListRecentAnomalies(&ctx, req, &resp).ok());
    EXPECT_GE(resp.anomalies_size(), 3);
  }

  // A threshold set over gRPC for the trade model only.
  {
    grpc::ClientContext ctx;
    apb::SetThresholdRequest req;
    apb::SetThresholdResponse resp;
    req.set_model_id("trade");
    req.set_score(0.7123456789);
    ASSERT_TRUE(stub_->SetThreshold(&ctx, req, &resp).ok());
    ASSERT_EQ(resp.models_size(), 1);
    EXPECT_DOUBLE_EQ(resp.models(0).threshold(), 0.7123456789);
  }
  const auto set = TradeModel();
  EXPECT_EQ(set.threshold_mode(), "score=0.712346");
  EXPECT_NE(set.threshold(), before.threshold());

  // Restart: the model comes back from model_dir, ready without a warm-up,
  // with the threshold set over gRPC (every digit), the quote model's as configured.
  ASSERT_TRUE(process_->Terminate(absl::Seconds(10)).ok());
  ASSERT_NO_FATAL_FAILURE(StartService());
  const auto after = TradeModel();
  EXPECT_EQ(after.state(), apb::ModelInfo::STATE_READY);
  EXPECT_TRUE(after.loaded_from_disk());
  EXPECT_EQ(after.training_rows(), before.training_rows());
  EXPECT_EQ(after.threshold_mode(), "score=0.712346");
  EXPECT_EQ(after.threshold(), 0.7123456789);
  {
    grpc::ClientContext ctx;
    apb::ListModelsResponse resp;
    ASSERT_TRUE(stub_->ListModels(&ctx, apb::ListModelsRequest(), &resp).ok());
    for (const auto& m : resp.models())
      if (m.model_id() == "quote") {
        EXPECT_EQ(m.threshold_mode(), "contamination=0.005");
      }
  }

  // ScoreBatch with the restored model: a jump vector scores above a calm one.
  grpc::ClientContext ctx;
  apb::ScoreBatchRequest req;
  apb::ScoreBatchResponse resp;
  req.set_model_id("trade");
  req.set_attribution(true);
  auto* calm = req.add_vectors();
  auto* jump = req.add_vectors();
  for (int f = 0; f < 9; ++f) {
    calm->add_values(0);
    jump->add_values(f == 0 ? 300 : 0);
  }
  ASSERT_TRUE(stub_->ScoreBatch(&ctx, req, &resp).ok());
  ASSERT_EQ(resp.results_size(), 2);
  EXPECT_TRUE(resp.results(1).anomalous());
  EXPECT_GT(resp.results(1).score(), resp.results(0).score());
  EXPECT_EQ(resp.results(1).features(0).name(), "log_return");

  // The restored model flags a new jump at once.
  const size_t had = StoredAnomalies().size();
  NormalTrades(10);
  Trade("sim", price_ * 0.97, 0.6);
  NormalTrades(5);
  ASSERT_TRUE(testing::WaitFor([&] { return StoredAnomalies().size() > had; }, absl::Seconds(30)))
      << process_->Output();
}

}  // namespace
}  // namespace sa
