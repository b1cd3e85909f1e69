#include "views/engine.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dsl/catalog.h"
#include "nlohmann/json.hpp"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::views {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
using nlohmann::json;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1714564800LL * kSec;  // 2024-05-01T12:00:00Z

dsl::Plan PlanOf(const std::string& text) {
  auto plan = dsl::Check(text, dsl::ExampleCatalog());
  EXPECT_TRUE(plan.ok()) << plan.status();
  return *plan;
}

std::unique_ptr<Engine> Make(const std::string& text, EngineOptions o = {}) {
  if (o.view.empty()) o.view = "v";
  auto e = Engine::Create(PlanOf(text), o);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *std::move(e) : nullptr;
}

mdpb::Trade Trade(const std::string& venue, const std::string& symbol, const std::string& price,
                  const std::string& size, int64_t ts, const std::string& id) {
  mdpb::Trade t;
  t.mutable_origin()->set_venue(venue);
  t.mutable_origin()->set_symbol(symbol);
  t.mutable_origin()->set_exchange_time_ns(ts);
  t.mutable_price()->set_value(price);
  t.mutable_size()->set_value(size);
  t.set_trade_id(id);
  t.set_side(mdpb::SIDE_BUY);
  return t;
}

// A replay-like input: three venues, two symbols, prices and sizes that vary,
// event times mostly increasing with some disorder (and a few late ones).
std::vector<std::string> Input(int n) {
  std::vector<std::string> out;
  const char* venues[] = {"kraken", "coinbase", "binance"};
  for (int i = 0; i < n; ++i) {
    int64_t ts = kT0 + i * 3 * kSec;
    if (i % 11 == 5) ts -= 20 * kSec;    // within the grace
    if (i % 97 == 50) ts -= 300 * kSec;  // far behind: late
    out.push_back(Trade(venues[i % 3], i % 4 == 0 ? "ETH-USD" : "BTC-USD",
                        absl::StrCat(60000 + (i * 37) % 500, ".", i % 10), absl::StrCat("0.", i % 9 + 1), ts,
                        absl::StrCat("t", i))
                      .SerializeAsString());
  }
  return out;
}

// Outputs by id; a repeated id must carry the same payload (what JetStream's
// de-duplication relies on).
using Outputs = std::map<std::string, std::string>;
void Collect(const std::vector<Record>& records, Outputs* into) {
  for (const auto& r : records) {
    auto [it, fresh] = into->emplace(r.msg_id, r.payload);
    EXPECT_TRUE(fresh || it->second == r.payload) << "id " << r.msg_id << " came again with another payload";
  }
}

Outputs RunAll(Engine& e, const std::vector<std::string>& input, uint64_t first_seq = 1) {
  Outputs out;
  for (size_t i = 0; i < input.size(); ++i) {
    std::vector<Record> records;
    auto st = e.Process(first_seq + i, input[i], &records);
    EXPECT_TRUE(st.ok()) << st.status();
    Collect(records, &out);
  }
  return out;
}

TEST(ViewsEngine, AFilterViewEmitsEveryMatchingMessageOnceWithItsSequenceAsId) {
  auto e = Make("md.trade | where venue = \"kraken\" and symbol = \"BTC-USD\" | project venue, symbol, price, trade_id",
                {.view = "kraken_btc"});
  EXPECT_EQ(e->subjects(), std::vector<std::string>{"md.trade.kraken.BTC-USD"});
  const auto input = Input(60);
  const Outputs out = RunAll(*e, input);
  size_t want = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    mdpb::Trade t;
    ASSERT_TRUE(t.ParseFromString(input[i]));
    if (t.origin().venue() != "kraken" || t.origin().symbol() != "BTC-USD") continue;
    ++want;
    const auto it = out.find(absl::StrCat("kraken_btc.1.", i + 1));
    ASSERT_NE(it, out.end()) << "trade " << t.trade_id();
    const json j = json::parse(it->second);
    EXPECT_EQ(j["view"], "kraken_btc");
    EXPECT_EQ(j["version"], 1);
    EXPECT_EQ(j["seq"], i + 1);
    EXPECT_EQ(j["final"], true);
    EXPECT_EQ(j["columns"], json::parse(R"([{"name":"venue","type":"string"},{"name":"symbol","type":"string"},)"
                                        R"({"name":"price","type":"decimal"},{"name":"trade_id","type":"string"}])"));
    EXPECT_EQ(j["row"]["price"], t.price().value());  // decimals stay exact strings
    EXPECT_EQ(j["row"]["trade_id"], t.trade_id());
  }
  EXPECT_EQ(out.size(), want);
  EXPECT_EQ(e->counters().outputs, want);
}

TEST(ViewsEngine, AWholeMessageFilterCarriesEveryFieldOfTheSource) {
  auto e = Make("md.trade | where price > 60400");
  std::vector<Record> records;
  ASSERT_TRUE(e->Process(7, Trade("kraken", "BTC-USD", "60450.5", "0.1", kT0, "x").SerializeAsString(), &records).ok());
  ASSERT_EQ(records.size(), 1u);
  const json j = json::parse(records[0].payload);
  EXPECT_EQ(j["row"]["venue"], "kraken");
  EXPECT_EQ(j["row"]["side"], "buy");
  EXPECT_EQ(j["row"]["ts"], "2024-05-01T12:00:00Z");
  EXPECT_EQ(j["columns"].size(), j["row"].size());
}

// The figures a 1-minute OHLCV + VWAP per venue and symbol must have,
// computed here from the input with plain arithmetic (doubles are enough to
// compare against the engine's exact decimals at 1e-9).
struct Ohlcv {
  double open = 0, high = 0, low = 0, close = 0, volume = 0, notional = 0;
  int64_t first_ts = 0, last_ts = 0;
  int n = 0;
};

TEST(ViewsEngine, ATumblingOhlcvViewEmitsEachClosedWindowOnceAndCountsLateEvents) {
  auto e = Make(
      "md.trade | window tumbling 1m grace 30s"
      " | summarize open = first(price), high = max(price), low = min(price), close = last(price),"
      " volume = sum(size), vwap = vwap(price, size), n = count() by venue, symbol",
      {.view = "ohlcv"});
  EXPECT_EQ(e->subjects(), std::vector<std::string>{"md.trade.>"});
  const auto input = Input(400);
  const Outputs out = RunAll(*e, input);

  // The oracle: windows close when the largest event time so far passes end + grace.
  std::map<std::pair<int64_t, std::string>, Ohlcv> open, closed;
  int64_t stream_time = INT64_MIN, closed_through = INT64_MIN;
  uint64_t late = 0;
  for (const auto& bytes : input) {
    mdpb::Trade t;
    ASSERT_TRUE(t.ParseFromString(bytes));
    const int64_t ts = t.origin().exchange_time_ns();
    const int64_t start = ts - ((ts % (60 * kSec)) + 60 * kSec) % (60 * kSec);
    if (start <= closed_through) {
      ++late;
    } else {
      Ohlcv& o = open[{start, t.origin().venue() + "/" + t.origin().symbol()}];
      const double p = std::stod(t.price().value()), s = std::stod(t.size().value());
      if (o.n == 0 || ts < o.first_ts) o.open = p, o.first_ts = o.n == 0 ? ts : std::min(o.first_ts, ts);
      if (o.n == 0 || ts >= o.last_ts) o.close = p, o.last_ts = ts;
      o.high = o.n == 0 ? p : std::max(o.high, p);
      o.low = o.n == 0 ? p : std::min(o.low, p);
      o.volume += s;
      o.notional += p * s;
      ++o.n;
    }
    stream_time = std::max(stream_time, ts);
    closed_through = std::max(closed_through, stream_time - 90 * kSec);
    for (auto it = open.begin(); it != open.end();) {
      if (it->first.first <= closed_through) {
        closed.insert(*it);
        it = open.erase(it);
      } else {
        ++it;
      }
    }
  }
  ASSERT_GT(late, 0u);
  EXPECT_EQ(e->counters().late, late);
  ASSERT_EQ(out.size(), closed.size());
  for (const auto& [id, payload] : out) {
    const json j = json::parse(payload);
    const json& row = j["row"];
    EXPECT_TRUE(id.rfind("ohlcv.1.w", 0) == 0) << id;
    EXPECT_EQ(j["final"], true);
    // window_start is an RFC 3339 string; find the oracle's window by venue/symbol and the id's start.
    const int64_t start = std::stoll(id.substr(9, id.find('.', 9) - 9));
    const auto it = closed.find({start, row["venue"].get<std::string>() + "/" + row["symbol"].get<std::string>()});
    ASSERT_NE(it, closed.end()) << payload;
    const Ohlcv& o = it->second;
    EXPECT_EQ(row["n"], o.n);
    EXPECT_DOUBLE_EQ(std::stod(row["open"].get<std::string>()), o.open);
    EXPECT_DOUBLE_EQ(std::stod(row["close"].get<std::string>()), o.close);
    EXPECT_DOUBLE_EQ(std::stod(row["high"].get<std::string>()), o.high);
    EXPECT_DOUBLE_EQ(std::stod(row["low"].get<std::string>()), o.low);
    EXPECT_NEAR(std::stod(row["volume"].get<std::string>()), o.volume, 1e-9);
    EXPECT_NEAR(std::stod(row["vwap"].get<std::string>()), o.notional / o.volume, 1e-6);
  }
}

// Exactly once across crashes: a replica that saved a checkpoint after input
// c, went on to input k (emitting, then dying), and was replaced by one that
// restored the checkpoint and read on from c + 1, emits the same set of ids
// with the same payloads as one that never stopped. Every pair c <= k.
void ExpectResumesExactly(const std::string& text, Emit emit) {
  const auto input = Input(120);
  EngineOptions o{.view = "x", .version = 3, .emit = emit};
  auto whole = Make(text, o);
  const Outputs want = RunAll(*whole, input);
  ASSERT_FALSE(want.empty());
  for (size_t c = 0; c <= input.size(); c += 7) {
    for (size_t k = c; k <= input.size(); k += 13) {
      auto first = Make(text, o);
      Outputs got;
      std::string checkpoint;
      for (size_t i = 0; i < k; ++i) {
        if (i == c) checkpoint = first->Checkpoint();
        std::vector<Record> r;
        ASSERT_TRUE(first->Process(i + 1, input[i], &r).ok());
        Collect(r, &got);
      }
      if (c == k) checkpoint = first->Checkpoint();
      auto second = Make(text, o);
      ASSERT_TRUE(second->Restore(checkpoint).ok()) << "c=" << c;
      EXPECT_EQ(second->position(), c);
      for (size_t i = c; i < input.size(); ++i) {
        std::vector<Record> r;
        ASSERT_TRUE(second->Process(i + 1, input[i], &r).ok());
        Collect(r, &got);
      }
      ASSERT_EQ(got, want) << "checkpoint after " << c << " inputs, crash after " << k;
      EXPECT_EQ(second->counters().late, whole->counters().late);
    }
  }
}

TEST(ViewsEngine, ResumesFromAnyCheckpointWithNoLostAndNoRepeatedOutput) {
  ExpectResumesExactly(
      "md.trade | where symbol = \"BTC-USD\" | window hopping 2m every 1m grace 10s"
      " | summarize n = count(), v = vwap(price, size), p50 = percentile(price, 0.5), hi = max(price) by venue",
      Emit::kFinal);
  ExpectResumesExactly("md.trade | window tumbling 1m grace 0s | summarize n = count(), c = last(price) by symbol",
                       Emit::kChanges);
  ExpectResumesExactly("md.trade | where size >= 0.5 | project trade_id, price", Emit::kFinal);
}

TEST(ViewsEngine, EmitChangesGivesTheUpdatedRowOfEveryGroupAnInputChanged) {
  auto e = Make("md.trade | window hopping 2m every 1m grace 0s | summarize n = count() by venue",
                {.view = "c", .emit = Emit::kChanges});
  std::vector<Record> r;
  ASSERT_TRUE(e->Process(1, Trade("kraken", "BTC-USD", "1", "1", kT0 + 5 * kSec, "a").SerializeAsString(), &r).ok());
  ASSERT_TRUE(e->Process(2, Trade("kraken", "BTC-USD", "1", "1", kT0 + 6 * kSec, "b").SerializeAsString(), &r).ok());
  ASSERT_EQ(r.size(), 4u);  // two windows per event
  EXPECT_EQ(r[2].msg_id, "c.1.2.0");
  EXPECT_EQ(r[3].msg_id, "c.1.2.1");
  const json j = json::parse(r[3].payload);
  EXPECT_EQ(j["final"], false);
  EXPECT_EQ(j["row"]["n"], 2);
  EXPECT_EQ(j["row"]["window_start"], "2024-05-01T12:00:00Z");
}

TEST(ViewsEngine, RefusesWhatAViewCannotBe) {
  auto create = [](const std::string& text, const std::string& name = "v") {
    return Engine::Create(PlanOf(text), {.view = name}).status();
  };
  EXPECT_EQ(create("md.trades | where venue = \"kraken\"").code(), absl::StatusCode::kInvalidArgument);  // a table
  const absl::Status now = create("md.trade | where ts > now() - 1m");
  EXPECT_EQ(now.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(now.message().find("now()"), std::string_view::npos) << now;
  EXPECT_EQ(create("md.trade", "Bad-Name").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(create("md.trade", "").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ViewsEngine, RefusesBadInputWithoutLosingItsPlace) {
  auto e = Make("md.trade");
  std::vector<Record> r;
  const auto bad = e->Process(5, std::string("\xff\xff\xff", 3), &r);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("Trade"), std::string_view::npos) << bad.status();
  EXPECT_EQ(e->position(), 5u);
  EXPECT_EQ(e->counters().invalid, 1u);
  EXPECT_EQ(e->Process(5, Trade("kraken", "BTC-USD", "1", "1", kT0, "a").SerializeAsString(), &r).status().code(),
            absl::StatusCode::kFailedPrecondition);  // a redelivery is not processed twice
  EXPECT_TRUE(r.empty());
}

TEST(ViewsEngine, StopsAViewWhoseWindowStateOutgrowsItsLimit) {
  auto e = Make("md.trade | window tumbling 1h grace 0s | summarize p = percentile(price, 0.5) by trade_id",
                {.view = "big", .memory_limit_bytes = 64 * 1024});
  absl::Status st;
  uint64_t seq = 0;
  while (st.ok() && seq < 100000) {
    std::vector<Record> r;
    st = e->Process(++seq, Trade("kraken", "BTC-USD", "1", "1", kT0, absl::StrCat("id", seq)).SerializeAsString(), &r)
             .status();
  }
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_NE(st.message().find("over its limit of 65536"), std::string_view::npos) << st;
  EXPECT_LT(seq, 2000u);  // noticed within kMemoryCheckEvery inputs of crossing it
}

TEST(ViewsEngine, RefusesACheckpointOfAnotherViewOrVersionOrATruncatedOne) {
  const std::string text = "md.trade | window tumbling 1m grace 0s | summarize n = count() by venue";
  auto a = Make(text, {.view = "a", .version = 1});
  RunAll(*a, Input(30));
  const std::string cp = a->Checkpoint();
  EXPECT_EQ(Make(text, {.view = "b", .version = 1})->Restore(cp).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Make(text, {.view = "a", .version = 2})->Restore(cp).code(), absl::StatusCode::kDataLoss);
  for (size_t n = 0; n < cp.size(); n += 3)
    EXPECT_EQ(Make(text, {.view = "a", .version = 1})->Restore(cp.substr(0, n)).code(), absl::StatusCode::kDataLoss)
        << n;
  auto b = Make(text, {.view = "a", .version = 1});
  ASSERT_TRUE(b->Restore(cp).ok());
  EXPECT_EQ(b->position(), 30u);
  EXPECT_EQ(b->counters().inputs, 30u);
}

}  // namespace
}  // namespace sa::views
