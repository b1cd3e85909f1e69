// Venue builders against the subscribe messages real clients sent (the
// recordings' `send` records) — exact text, key order included.
#include "sources/venue_subscriptions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "sources/testing/recording.h"

namespace sa::sources {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using testing::RecordedData;
using testing::RecordingRecord;

std::vector<RecordingRecord> Load(const std::string& file) {
  auto records = testing::LoadRecording(testing::ExchangeFixturesDir() + "/" + file);
  if (!records.ok()) return {};
  return *records;
}

#define LOAD_OR_SKIP(var, file) \
  auto var = Load(file);        \
  if (var.empty()) GTEST_FAIL() << "recording " << file << " not found"

std::string ConnectAddr(const std::vector<RecordingRecord>& records, const std::string& conn) {
  for (const auto& r : records) {
    if (r.t == "connect" && r.conn == conn) return r.addr;
  }
  return "";
}

TEST(CoinbaseAdvancedTrade, BuildsTheRecordedSubscribeMessagesOnePerChannel) {
  LOAD_OR_SKIP(records, "coinbase-advanced-trade.jsonl.zst");
  SubscriptionRequest req{"coinbase",
                          {"market_trades", "candles", "ticker", "level2", "heartbeats"},
                          {"BTC-USD", "ETH-USD"}};
  auto plan = BuildCoinbaseAdvancedTrade(req);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->subscribe_messages,
              ElementsAreArray(RecordedData(records, "send", "COINBASE.ws.2")));
  EXPECT_EQ(plan->url, ConnectAddr(records, "COINBASE.ws.2"));
  EXPECT_TRUE(plan->snapshots.empty());
}

TEST(CoinbaseExchange, BuildsTheRecordedSubscribeMessagesOnePerChannel) {
  LOAD_OR_SKIP(records, "coinbase-exchange.jsonl.zst");
  const auto sent = RecordedData(records, "send", "COINBASE.ws.28");
  ASSERT_EQ(sent.size(), 3u);
  const auto first = nlohmann::json::parse(sent[0]);
  const auto symbols = first["product_ids"].get<std::vector<std::string>>();
  SubscriptionRequest req{"coinbase-exchange", {"level2", "ticker", "matches"}, symbols};
  auto plan = BuildCoinbaseExchange(req);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_THAT(plan->subscribe_messages, ElementsAreArray(sent));
  // The recording predates the rename of ws-feed.pro to ws-feed.exchange.
  EXPECT_EQ(plan->url, "wss://ws-feed.exchange.coinbase.com");
}

TEST(Kraken, BuildsTheRecordedSubscribeMessageOfEveryChannel) {
  LOAD_OR_SKIP(records, "kraken.jsonl.zst");
  const std::vector<std::string> symbols = {"WAVES-EUR", "XMR-USD", "KSM-BTC",   "GRT-ETH",
                                            "SC-EUR",    "ETH-CHF", "OCEAN-BTC", "OMG-USD",
                                            "BTC-CHF",   "ADA-BTC"};
  const std::vector<std::pair<std::string, std::string>> conns = {
      {"trade", "KRAKEN.ws.48"}, {"ticker", "KRAKEN.ws.49"}, {"book", "KRAKEN.ws.50"}};
  for (const auto& [channel, conn] : conns) {
    auto plan = BuildKraken({"kraken", {channel}, symbols});
    ASSERT_TRUE(plan.ok()) << plan.status();
    EXPECT_THAT(plan->subscribe_messages, ElementsAreArray(RecordedData(records, "send", conn)))
        << channel;
    EXPECT_EQ(plan->url, ConnectAddr(records, conn));
  }
}

TEST(Kraken, MapsCanonicalSymbolsToWsV1Pairs) {
  EXPECT_EQ(*KrakenWsPair("BTC-USD"), "XBT/USD");
  EXPECT_EQ(*KrakenWsPair("DOGE-BTC"), "XDG/XBT");
  EXPECT_EQ(*KrakenWsPair("ETH-EUR"), "ETH/EUR");
  EXPECT_FALSE(KrakenWsPair("btc-usd").ok());
  EXPECT_FALSE(KrakenWsPair("BTCUSD").ok());
}

TEST(Kraken, RejectsABookDepthTheVenueDoesNotOffer) {
  SubscriptionRequest req{"kraken", {"book"}, {"BTC-USD"}};
  req.book_depth = 42;
  EXPECT_EQ(BuildKraken(req).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Binance, CombinedStreamUrlAndSnapshotUrlsMatchTheRecording) {
  LOAD_OR_SKIP(records, "binance.jsonl.zst");
  SubscriptionRequest req{"binance",
                          {"depth@100ms", "bookTicker", "kline_1m", "aggTrade"},
                          {"NKN-USDT", "BLZ-ETH", "LRC-BTC", "RUNE-EUR"}};
  auto plan = BuildBinance(req);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->url, ConnectAddr(records, "BINANCE.ws.1"));
  EXPECT_TRUE(plan->subscribe_messages.empty());
  std::vector<std::string> recorded_snapshots;
  for (const auto& r : records) {
    if (r.t == "http" && r.url.find("/api/v3/depth") != std::string::npos)
      recorded_snapshots.push_back(r.url);
  }
  std::vector<std::string> urls;
  for (const auto& s : plan->snapshots) urls.push_back(s.url);
  EXPECT_THAT(urls, ElementsAreArray(recorded_snapshots));
  EXPECT_EQ(plan->snapshots[0].symbol, "NKN-USDT");
}

TEST(Binance, SubscribeMethodSendsTheStreamsAsParams) {
  SubscriptionRequest req{"binance", {"trade", "depth@100ms"}, {"BTC-USDT", "ETH-BTC"}};
  req.binance_subscribe_method = true;
  auto plan = BuildBinance(req);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->url, "wss://stream.binance.com:9443/stream");
  EXPECT_THAT(plan->subscribe_messages,
              ElementsAre(R"({"method":"SUBSCRIBE","params":["btcusdt@trade","ethbtc@trade",)"
                          R"("btcusdt@depth@100ms","ethbtc@depth@100ms"],"id":1})"));
  EXPECT_EQ(plan->snapshots.size(), 2u);
  EXPECT_LT(plan->subscribe_rate_per_sec, 5.0);
}

TEST(Binance, PartialDepthStreamsNeedNoSnapshot) {
  auto plan = BuildBinance({"binance", {"depth20@100ms", "kline_1m"}, {"BTC-USDT"}});
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->snapshots.empty());
}

TEST(VenueRegistry, BuildsByVenueNameAndRejectsWhatItDoesNotKnow) {
  auto& registry = VenueRegistry::Default();
  EXPECT_THAT(registry.Venues(), ElementsAre("binance", "coinbase", "coinbase-exchange", "kraken"));
  EXPECT_TRUE(registry.Build({"kraken", {"trade"}, {"BTC-USD"}}).ok());
  auto unknown_venue = registry.Build({"mtgox", {"trade"}, {"BTC-USD"}});
  EXPECT_EQ(unknown_venue.status().code(), absl::StatusCode::kNotFound);
  auto unknown_channel = registry.Build({"coinbase", {"trades"}, {"BTC-USD"}});
  EXPECT_EQ(unknown_channel.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(unknown_channel.status().message()), HasSubstr("'trades'"));
  auto bad_symbol = registry.Build({"binance", {"trade"}, {"BTCUSDT"}});
  EXPECT_EQ(bad_symbol.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Build({"kraken", {}, {"BTC-USD"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.Register("kraken", BuildKraken).code(), absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace sa::sources
