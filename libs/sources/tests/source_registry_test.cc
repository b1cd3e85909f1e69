#include "sources/source_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sources/kafka_source.h"
#include "sources/websocket_source.h"

namespace sa::sources {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

TEST(SourceRegistry, KnowsTheBuiltInKinds) {
  auto kinds = SourceRegistry::Default().Kinds();
  EXPECT_THAT(kinds, Contains("websocket"));
  EXPECT_THAT(kinds, Contains("kafka"));
}

TEST(SourceRegistry, CreatesAWebSocketSourceFromAVenueSubscription) {
  auto source = SourceRegistry::Default().Create("websocket", {{"venue", "kraken"},
                                                               {"channels", {"trade", "book"}},
                                                               {"symbols", {"BTC-USD"}},
                                                               {"ping_interval_ms", 5000},
                                                               {"watchdog_timeout_ms", 20000}});
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ((*source)->name(), "kraken.ws");
  auto* ws = dynamic_cast<WebSocketSource*>(source->get());
  ASSERT_NE(ws, nullptr);
  EXPECT_EQ(ws->options().url, "wss://ws.kraken.com");
  EXPECT_EQ(ws->options().subscribe_messages.size(), 2u);
  EXPECT_EQ(ws->options().ping_interval, absl::Seconds(5));
  EXPECT_EQ(ws->options().watchdog_timeout, absl::Seconds(20));
}

TEST(SourceRegistry, RebasesVenueEndpointsForLocalServers) {
  auto options = WebSocketSourceOptionsFromJson({{"venue", "binance"},
                                                 {"channels", {"depth@100ms"}},
                                                 {"symbols", {"BTC-USDT"}},
                                                 {"ws_base_url", "ws://127.0.0.1:1234"},
                                                 {"snapshot_base_url", "http://127.0.0.1:1234/"}});
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->url, "ws://127.0.0.1:1234/stream?streams=btcusdt@depth@100ms");
  ASSERT_EQ(options->snapshots.size(), 1u);
  EXPECT_EQ(options->snapshots[0].url,
            "http://127.0.0.1:1234/api/v3/depth?symbol=BTCUSDT&limit=1000");
}

TEST(SourceRegistry, RejectsBadConfigNamingTheKey) {
  auto& registry = SourceRegistry::Default();
  auto wrong_type = registry.Create(
      "websocket", {{"venue", "kraken"}, {"url", "wss://x"}, {"ping_interval_ms", "5"}});
  EXPECT_EQ(wrong_type.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong_type.status().message()), HasSubstr("ping_interval_ms"));
  auto bad_url = registry.Create("websocket", {{"venue", "x"}, {"url", "ftp://host/"}});
  EXPECT_EQ(bad_url.status().code(), absl::StatusCode::kInvalidArgument);
  auto no_url = registry.Create("websocket", {{"venue", "x"}});
  EXPECT_EQ(no_url.status().code(), absl::StatusCode::kInvalidArgument);
  auto no_topics =
      registry.Create("kafka", {{"brokers", "localhost:9092"}, {"group_id", "g"}, {"venue", "v"}});
  EXPECT_EQ(no_topics.status().code(), absl::StatusCode::kInvalidArgument);
  auto bad_property = registry.Create("kafka", {{"brokers", "b:1"},
                                                {"group_id", "g"},
                                                {"venue", "v"},
                                                {"topics", {"t"}},
                                                {"properties", {{"no.such.property", "1"}}}});
  EXPECT_EQ(bad_property.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad_property.status().message()), HasSubstr("no.such.property"));
  EXPECT_EQ(registry.Create("carrier-pigeon", nlohmann::json::object()).status().code(),
            absl::StatusCode::kNotFound);
}

class NullSource : public Source {
 public:
  absl::Status Start(FrameSink*) override { return absl::OkStatus(); }
  void Stop() override {}
  SourceStats Stats() const override { return {}; }
  std::string name() const override { return "null"; }
};

TEST(SourceRegistry, TakesNewKindsOnceEach) {
  SourceRegistry registry;
  auto factory = [](const nlohmann::json&) -> absl::StatusOr<std::unique_ptr<Source>> {
    return std::unique_ptr<Source>(new NullSource());
  };
  ASSERT_TRUE(registry.Register("replay", factory).ok());
  EXPECT_EQ(registry.Register("replay", factory).code(), absl::StatusCode::kAlreadyExists);
  auto source = registry.Create("replay", nlohmann::json::object());
  ASSERT_TRUE(source.ok());
  EXPECT_EQ((*source)->name(), "null");
  EXPECT_EQ((*source)->RequestSnapshot("BTC-USD").code(), absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace sa::sources
