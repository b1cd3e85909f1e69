// WebSocketSource against the scripted WsTestServer on a free loopback port.
// Frames come from the recordings (one conn's `recv` records); nothing here
// talks to a real exchange.
#include "sources/websocket_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "observability/metrics.h"
#include "sources/testing/recording.h"
#include "sources/testing/ws_test_server.h"
#include "sources/venue_subscriptions.h"
#include "test_sink.h"

namespace sa::sources {
namespace {

using testing::ConnectionScript;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::RecordingSink;
using testing::SendFrames;
using testing::ServerStep;
using testing::WsTestServer;

constexpr absl::Duration kWait = absl::Seconds(10);

const std::vector<std::string>& KrakenTradeFrames() {
  static const std::vector<std::string> frames = [] {
    auto records = testing::LoadRecording(testing::ExchangeFixturesDir() + "/kraken.jsonl.zst");
    return records.ok() ? testing::RecordedData(*records, "recv", "KRAKEN.ws.48")
                        : std::vector<std::string>{};
  }();
  return frames;
}

std::unique_ptr<WsTestServer> StartServer() {
  auto server = WsTestServer::Start();
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// A venue plan pointed at the test server, with timers fit for tests.
WebSocketSourceOptions TestOptions(const WsTestServer& server, const VenuePlan& plan,
                                   const std::string& venue) {
  WebSocketSourceOptions o = OptionsFromPlan(plan);
  o.venue = venue;  // a venue per test keeps the metric series apart
  const size_t path = plan.url.find_first_of("/?", plan.url.find("://") + 3);
  o.url = server.WsUrl(path == std::string::npos ? "/" : plan.url.substr(path));
  o.subscribe_rate_per_sec = 0;
  o.ping_interval = absl::ZeroDuration();
  o.watchdog_timeout = absl::ZeroDuration();
  o.backoff_initial = absl::Milliseconds(10);
  o.backoff_max = absl::Milliseconds(100);
  o.connect_timeout = absl::Seconds(5);
  o.close_timeout = absl::Seconds(1);
  return o;
}

VenuePlan KrakenTradePlan() {
  auto plan = BuildKraken({"kraken", {"trade"}, {"WAVES-EUR", "XMR-USD", "KSM-BTC"}});
  EXPECT_TRUE(plan.ok());
  return *plan;
}

std::unique_ptr<WebSocketSource> MustCreate(WebSocketSourceOptions o) {
  auto source = WebSocketSource::Create(std::move(o));
  EXPECT_TRUE(source.ok()) << source.status();
  return source.ok() ? *std::move(source) : nullptr;
}

double CounterValue(const std::string& name, const obs::Labels& labels) {
  return obs::MetricsRegistry::Default().GetCounter(name, "", labels).Value();
}

#define REQUIRE_RECORDING() \
  if (KrakenTradeFrames().empty()) GTEST_FAIL() << "kraken recording not found (SA_FIXTURES_DIR or ../shared/fixtures)"

TEST(WebSocketSource, DeliversEveryScriptedFrameInOrderWithSequenceFromOne) {
  REQUIRE_RECORDING();
  const auto& recorded = KrakenTradeFrames();
  auto server = StartServer();
  server->SetDefaultScript(SendFrames(recorded));
  const VenuePlan plan = KrakenTradePlan();
  RecordingSink sink;
  auto source = MustCreate(TestOptions(*server, plan, "t_inorder"));
  const double frames_before =
      CounterValue("streamadmin_ingest_frames_total", {{"venue", "t_inorder"}});
  ASSERT_TRUE(source->Start(&sink).ok());

  ASSERT_TRUE(sink.WaitForFrames(recorded.size(), kWait));
  const auto frames = sink.frames();
  ASSERT_EQ(frames.size(), recorded.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].data, recorded[i]) << i;
    EXPECT_EQ(frames[i].frame_seq, i + 1);
    EXPECT_EQ(frames[i].conn, frames[0].conn);
    EXPECT_EQ(frames[i].kind, "ws");
    EXPECT_EQ(frames[i].venue, "t_inorder");
    EXPECT_GT(frames[i].recv_time_ns, 0);
    if (i > 0) {
      EXPECT_GE(frames[i].recv_time_ns, frames[i - 1].recv_time_ns);
    }
  }
  EXPECT_EQ(frames[0].conn.rfind("t_inorder.ws.", 0), 0u) << frames[0].conn;
  EXPECT_THAT(server->MessagesOf(0), ElementsAreArray(plan.subscribe_messages));
  EXPECT_EQ(server->ws_targets()[0], "/");

  const SourceStats stats = source->Stats();
  EXPECT_TRUE(stats.connected);
  EXPECT_EQ(stats.conn, frames[0].conn);
  EXPECT_EQ(stats.frames, recorded.size());
  EXPECT_EQ(stats.messages_sent, plan.subscribe_messages.size());
  EXPECT_EQ(
      CounterValue("streamadmin_ingest_frames_total", {{"venue", "t_inorder"}}) - frames_before,
      recorded.size());
  EXPECT_EQ(sink.CountEvents(SourceEventType::kConnected), 1u);
  source->Stop();
  EXPECT_FALSE(source->Stats().connected);
}

TEST(WebSocketSource, ReconnectsWithANewConnIdAndResubscribesWhenTheServerDrops) {
  REQUIRE_RECORDING();
  const auto& recorded = KrakenTradeFrames();
  auto server = StartServer();
  ConnectionScript first = SendFrames({recorded.begin(), recorded.begin() + 10});
  first.steps.push_back(ServerStep::Drop());
  server->SetScript(0, first);
  server->SetScript(1, SendFrames({recorded.begin() + 10, recorded.end()}));
  const VenuePlan plan = KrakenTradePlan();
  RecordingSink sink;
  auto source = MustCreate(TestOptions(*server, plan, "t_drop"));
  const double reconnects_before =
      CounterValue("streamadmin_ingest_reconnects_total", {{"venue", "t_drop"}});
  ASSERT_TRUE(source->Start(&sink).ok());

  ASSERT_TRUE(sink.WaitForFrames(recorded.size(), kWait));
  const auto frames = sink.frames();
  const std::string conn_a = frames[0].conn;
  const std::string conn_b = frames[10].conn;
  EXPECT_NE(conn_a, conn_b);
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].data, recorded[i]);
    EXPECT_EQ(frames[i].conn, i < 10 ? conn_a : conn_b);
    EXPECT_EQ(frames[i].frame_seq, i < 10 ? i + 1 : i - 9);
  }
  EXPECT_EQ(server->connections(), 2u);
  EXPECT_THAT(server->MessagesOf(1), ElementsAreArray(plan.subscribe_messages));
  EXPECT_EQ(sink.CountEvents(SourceEventType::kDisconnected), 1u);
  EXPECT_GE(sink.CountEvents(SourceEventType::kReconnecting), 1u);
  EXPECT_EQ(source->Stats().reconnects, 1u);
  EXPECT_EQ(CounterValue("streamadmin_ingest_reconnects_total", {{"venue", "t_drop"}}) -
                reconnects_before,
            1.0);
}

TEST(WebSocketSource, PassesGarbageThroughButReplacesTheConnectionOnAnOversizedFrame) {
  auto server = StartServer();
  ConnectionScript first;
  first.steps = {ServerStep::Send("{\"truncated\":"), ServerStep::Send("not json at all"),
                 ServerStep::Oversized(64 * 1024), ServerStep::Send("never delivered")};
  server->SetScript(0, first);
  server->SetScript(1, SendFrames({"{\"after\":1}"}));
  auto options = TestOptions(*server, KrakenTradePlan(), "t_oversized");
  options.max_frame_bytes = 4096;
  RecordingSink sink;
  auto source = MustCreate(options);
  const obs::Labels labels = {{"venue", "t_oversized"}, {"reason", "oversized"}};
  const double errors_before = CounterValue("streamadmin_ingest_frame_errors_total", labels);
  ASSERT_TRUE(source->Start(&sink).ok());

  ASSERT_TRUE(sink.WaitForFrames(3, kWait));
  const auto frames = sink.frames();
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].data, "{\"truncated\":");
  EXPECT_EQ(frames[1].data, "not json at all");
  EXPECT_EQ(frames[2].data, "{\"after\":1}");
  EXPECT_EQ(frames[1].conn, frames[0].conn);
  EXPECT_NE(frames[2].conn, frames[0].conn);
  EXPECT_EQ(frames[2].frame_seq, 1u);
  EXPECT_EQ(sink.CountEvents(SourceEventType::kError, "oversized"), 1u);
  EXPECT_EQ(CounterValue("streamadmin_ingest_frame_errors_total", labels) - errors_before, 1.0);
}

TEST(WebSocketSource, WatchdogReplacesASilentConnection) {
  auto server = StartServer();
  ConnectionScript first = SendFrames({"{\"n\":1}", "{\"n\":2}"});
  first.steps.push_back(ServerStep::Silent());
  server->SetScript(0, first);
  server->SetScript(1, SendFrames({"{\"n\":3}"}));
  auto options = TestOptions(*server, KrakenTradePlan(), "t_watchdog");
  options.watchdog_timeout = absl::Milliseconds(300);
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());

  ASSERT_TRUE(sink.WaitForFrames(3, kWait));
  const auto frames = sink.frames();
  EXPECT_NE(frames[2].conn, frames[0].conn);
  EXPECT_EQ(sink.CountEvents(SourceEventType::kStale, "stale"), 1u);
  // Stale came before the frame of the new connection, ~300 ms after the last frame.
  const auto events = sink.events();
  int64_t stale_ns = 0;
  for (const auto& e : events) {
    if (e.type == SourceEventType::kStale) stale_ns = e.time_ns;
  }
  EXPECT_GE(stale_ns - frames[1].recv_time_ns, absl::ToInt64Nanoseconds(absl::Milliseconds(250)));
  EXPECT_LT(stale_ns, frames[2].recv_time_ns);
}

TEST(WebSocketSource, SendsKeepalivePings) {
  auto server = StartServer();
  auto options = TestOptions(*server, KrakenTradePlan(), "t_ping");
  options.ping_interval = absl::Milliseconds(50);
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());
  EXPECT_TRUE(server->WaitForPings(3, kWait));
  EXPECT_EQ(server->connections(), 1u);
}

TEST(WebSocketSource, SpacesSubscribeMessagesByTheRateLimit) {
  auto plan =
      BuildCoinbaseAdvancedTrade({"coinbase",
                                  {"market_trades", "candles", "ticker", "level2", "heartbeats"},
                                  {"BTC-USD", "ETH-USD"}});
  ASSERT_TRUE(plan.ok());
  auto server = StartServer();
  auto options = TestOptions(*server, *plan, "t_rate");
  options.subscribe_rate_per_sec = 20;  // 50 ms apart
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());

  ASSERT_TRUE(server->WaitForMessages(5, kWait));
  const auto messages = server->messages();
  std::vector<std::string> texts;
  for (const auto& m : messages) texts.push_back(m.data);
  EXPECT_THAT(texts, ElementsAreArray(plan->subscribe_messages));
  for (size_t i = 1; i < messages.size(); ++i) {
    // 50 ms at the client; allow a little arrival jitter on loopback.
    EXPECT_GE(messages[i].at - messages[i - 1].at, std::chrono::milliseconds(40)) << i;
  }
  EXPECT_GE(messages.back().at - messages.front().at, std::chrono::milliseconds(190));
}

TEST(WebSocketSource, StopReturnsPromptlyWhileBackingOff) {
  // A port with nothing listening: take a free one and close it again.
  uint16_t port = 0;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::acceptor acceptor(
        ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = acceptor.local_endpoint().port();
  }
  WebSocketSourceOptions options;
  options.venue = "t_backoff";
  options.url = "ws://127.0.0.1:" + std::to_string(port) + "/";
  options.backoff_initial = absl::Seconds(30);
  options.backoff_max = absl::Seconds(60);
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(sink.WaitForEvent(SourceEventType::kReconnecting, "", kWait));
  EXPECT_EQ(sink.CountEvents(SourceEventType::kError, "connect"), 1u);

  const auto start = std::chrono::steady_clock::now();
  source->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

TEST(WebSocketSource, StopReturnsPromptlyWhileTheHandshakeHangs) {
  // Accepts TCP but never answers the WebSocket upgrade.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  WebSocketSourceOptions options;
  options.venue = "t_hang";
  options.url = "ws://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/";
  options.connect_timeout = absl::Seconds(30);
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());
  boost::asio::ip::tcp::socket peer(ioc);
  acceptor.accept(peer);  // returns once the source has connected

  const auto start = std::chrono::steady_clock::now();
  source->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(sink.CountEvents(SourceEventType::kConnected), 0u);
}

TEST(WebSocketSource, ClosesGracefullyOnStop) {
  auto server = StartServer();
  server->SetDefaultScript(SendFrames({"{\"hello\":1}"}));
  RecordingSink sink;
  auto source = MustCreate(TestOptions(*server, KrakenTradePlan(), "t_close"));
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(sink.WaitForFrames(1, kWait));

  const auto start = std::chrono::steady_clock::now();
  source->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  ASSERT_TRUE(server->WaitForCloseCodes(1, kWait));
  EXPECT_EQ(server->close_codes()[0], 1000);
  EXPECT_EQ(sink.CountEvents(SourceEventType::kDisconnected), 1u);
  EXPECT_EQ(sink.CountEvents(SourceEventType::kError), 0u);
  EXPECT_EQ(obs::MetricsRegistry::Default()
                .GetGauge("streamadmin_ingest_connected", "", {{"venue", "t_close"}})
                .Value(),
            0.0);
}

class BinanceSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto records = testing::LoadRecording(testing::ExchangeFixturesDir() + "/binance.jsonl.zst");
    if (!records.ok()) GTEST_FAIL() << records.status();
    for (const auto& r : *records) {
      if (r.t == "http" && r.url.find("symbol=NKNUSDT") != std::string::npos)
        nkn_snapshot_ = r.data;
      if (r.t == "http" && r.url.find("symbol=BLZETH") != std::string::npos) blz_snapshot_ = r.data;
    }
    ws_frames_ = testing::RecordedData(*records, "recv", "BINANCE.ws.1");
    ws_frames_.resize(5);
    server_ = StartServer();
  }

  WebSocketSourceOptions Options(const VenuePlan& plan, const std::string& venue) {
    WebSocketSourceOptions o = TestOptions(*server_, plan, venue);
    for (auto& s : o.snapshots) {
      s.url = server_->HttpBase() + s.url.substr(s.url.find("/api/"));
    }
    return o;
  }

  std::string nkn_snapshot_, blz_snapshot_;
  std::vector<std::string> ws_frames_;
  std::unique_ptr<WsTestServer> server_;
};

TEST_F(BinanceSnapshotTest, SnapshotArrivesAsAnHttpFrameAfterTheStreamIsUpAndOnRequest) {
  auto plan = BuildBinance({"binance", {"depth@100ms", "aggTrade"}, {"NKN-USDT", "BLZ-ETH"}});
  ASSERT_TRUE(plan.ok());
  server_->SetDefaultScript(
      SendFrames(ws_frames_, /*await_messages=*/0));  // combined stream: no subscribe
  server_->SetHttpResponse("/api/v3/depth?symbol=NKNUSDT&limit=1000", nkn_snapshot_);
  server_->SetHttpResponse("/api/v3/depth?symbol=BLZETH&limit=1000", blz_snapshot_);
  const auto options = Options(*plan, "t_binance");
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());

  auto http_frames = [](const std::vector<Frame>& frames) {
    std::vector<Frame> out;
    for (const auto& f : frames) {
      if (f.kind == "http") out.push_back(f);
    }
    return out;
  };
  ASSERT_TRUE(sink.WaitUntil([&](const auto& f, const auto&) { return f.size() >= 7; }, kWait));
  EXPECT_EQ(server_->ws_targets()[0],
            "/stream?streams=nknusdt@depth@100ms/blzeth@depth@100ms/"
            "nknusdt@aggTrade/blzeth@aggTrade");
  auto snaps = http_frames(sink.frames());
  ASSERT_EQ(snaps.size(), 2u);
  EXPECT_EQ(snaps[0].url, options.snapshots[0].url);
  EXPECT_EQ(snaps[0].data, nkn_snapshot_);
  EXPECT_EQ(snaps[1].url, options.snapshots[1].url);
  EXPECT_EQ(snaps[1].data, blz_snapshot_);
  EXPECT_EQ(snaps[0].conn, snaps[1].conn);
  EXPECT_EQ(snaps[0].conn.rfind("t_binance.http.", 0), 0u);
  // The connection id carries when this process started, so a restarted
  // ingest's snapshot ids (conn + seq) differ from the last run's and
  // JetStream's duplicate window does not swallow them.
  {
    std::vector<std::string> parts = absl::StrSplit(snaps[0].conn, '.');
    ASSERT_EQ(parts.size(), 4u) << snaps[0].conn;
    int64_t started_ms = 0;
    ASSERT_TRUE(absl::SimpleAtoi(parts[2], &started_ms)) << snaps[0].conn;
    EXPECT_LE(started_ms, absl::ToUnixMillis(absl::Now()));
    EXPECT_GT(started_ms, absl::ToUnixMillis(absl::Now() - absl::Hours(1)));
  }
  EXPECT_EQ(snaps[0].frame_seq, 1u);
  EXPECT_EQ(snaps[1].frame_seq, 2u);
  EXPECT_EQ(snaps[0].venue, "t_binance");

  // A gap found downstream: fetch NKN again.
  ASSERT_TRUE(source->RequestSnapshot("NKN-USDT").ok());
  ASSERT_TRUE(sink.WaitUntil([&](const auto& f, const auto&) { return http_frames(f).size() >= 3; },
                             kWait));
  snaps = http_frames(sink.frames());
  EXPECT_EQ(snaps[2].url, options.snapshots[0].url);
  EXPECT_EQ(snaps[2].frame_seq, 3u);
  EXPECT_EQ(source->RequestSnapshot("XRP-USD").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(source->Stats().http_frames, 3u);
}

TEST_F(BinanceSnapshotTest, SubscribeMethodFetchesSnapshotsOnlyAfterSubscribing) {
  auto plan = BuildBinance(
      {"binance", {"depth@100ms"}, {"NKN-USDT"}, 1000, /*binance_subscribe_method=*/true});
  ASSERT_TRUE(plan.ok());
  server_->SetHttpResponse("/api/v3/depth?symbol=NKNUSDT&limit=1000", nkn_snapshot_);
  RecordingSink sink;
  auto source = MustCreate(Options(*plan, "t_binance_sub"));
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(server_->WaitForHttpRequests(1, kWait));
  ASSERT_TRUE(sink.WaitForFrames(1, kWait));
  const auto messages = server_->messages();
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].data, plan->subscribe_messages[0]);
  EXPECT_LE(messages[0].at, server_->http_requests()[0].at);
}

TEST_F(BinanceSnapshotTest, AFailingSnapshotIsReportedRetriedThenGivenUp) {
  auto plan = BuildBinance({"binance", {"depth@100ms"}, {"NKN-USDT"}});
  ASSERT_TRUE(plan.ok());
  server_->SetDefaultScript(SendFrames({}, 0));
  server_->SetHttpResponse("/api/v3/depth?symbol=NKNUSDT&limit=1000", "{\"code\":-1003}", 429);
  auto options = Options(*plan, "t_binance_fail");
  options.http_attempts = 2;
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(sink.WaitUntil(
      [](const auto&, const auto& events) {
        for (const auto& e : events) {
          if (e.reason == "http" && e.detail.find("giving up") != std::string::npos) return true;
        }
        return false;
      },
      kWait));
  EXPECT_EQ(server_->http_targets().size(), 2u);
  EXPECT_EQ(sink.CountEvents(SourceEventType::kError, "http"), 2u);
  EXPECT_THAT(sink.events()[sink.events().size() - 1].detail, ::testing::HasSubstr("HTTP 429"));
  EXPECT_TRUE(sink.frames().empty());
}

// TLS: a throw-away CA-less self-signed certificate for "localhost".
class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sa_sources_tls_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost -keyout " +
        (dir_ / "key.pem").string() + " -out " + (dir_ / "cert.pem").string() + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) != 0) GTEST_FAIL() << "openssl CLI failed: " << cmd;
    auto server = WsTestServer::Start({(dir_ / "cert.pem").string(), (dir_ / "key.pem").string()});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->SetDefaultScript(SendFrames({"{\"tls\":true}"}));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  std::unique_ptr<WsTestServer> server_;
};

TEST_F(TlsTest, ConnectsWithSniWhenTheCertificateVerifies) {
  auto options = TestOptions(*server_, KrakenTradePlan(), "t_tls");
  options.url = server_->WsUrl("/", "localhost");
  options.ca_file = (dir_ / "cert.pem").string();
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(sink.WaitForFrames(1, kWait));
  EXPECT_EQ(sink.frames()[0].data, "{\"tls\":true}");
  EXPECT_EQ(server_->sni_names()[0], "localhost");
}

TEST_F(TlsTest, RefusesAServerTheSystemStoreDoesNotTrust) {
  auto options = TestOptions(*server_, KrakenTradePlan(), "t_tls_bad");
  options.url = server_->WsUrl("/", "localhost");
  options.backoff_initial = absl::Seconds(30);
  options.backoff_max = absl::Seconds(30);
  RecordingSink sink;
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(sink.WaitForEvent(SourceEventType::kError, "tls", kWait));
  EXPECT_THAT(sink.events()[0].detail, ::testing::HasSubstr("certificate verify failed"));
  EXPECT_TRUE(sink.frames().empty());
  EXPECT_EQ(server_->connections(), 0u);
}

}  // namespace
}  // namespace sa::sources
