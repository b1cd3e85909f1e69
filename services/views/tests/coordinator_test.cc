// The views service's coordinator and runners against a real nats-server:
// outputs compared whole (every id and row) with an oracle computed here from
// the inputs, across crashes (a replica stopped without a checkpoint), a
// hand-over between replicas, and refused definitions.
#include "views_service/coordinator.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bus/connection.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "bus/kv.h"
#include "nlohmann/json.hpp"
#include "runtime/streams.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "streamadmin/views/v1/views.pb.h"
#include "testing/nats_server.h"
#include "testing/wait.h"
#include "views/definition.h"

namespace sa::views_service {
namespace {

namespace mdpb = streamadmin::marketdata::v1;
namespace vpb = streamadmin::views::v1;
using nlohmann::json;

constexpr int64_t kSec = 1'000'000'000;
constexpr int64_t kT0 = 1714564800LL * kSec;

struct TradeIn {
  std::string venue, symbol, price, size, id;
  int64_t ts;
};

std::vector<TradeIn> Trades(int n, int offset = 0) {
  const char* venues[] = {"kraken", "coinbase", "binance"};
  std::vector<TradeIn> out;
  for (int j = 0; j < n; ++j) {
    const int i = j + offset;
    out.push_back({venues[i % 3], i % 4 == 0 ? "ETH-USD" : "BTC-USD", absl::StrCat(60000 + (i * 37) % 500, ".5"),
                   absl::StrCat("0.", i % 9 + 1), absl::StrCat("t", i), kT0 + i * 2 * kSec});
  }
  return out;
}

class ViewsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = sa::testing::NatsServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    streamadmin::config::v1::NatsConfig nc;
    nc.add_servers(server_->url());
    nc.set_name("views-test");
    auto conn = bus::Connection::Connect(nc);
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = std::move(*conn);
    ASSERT_TRUE(conn_->WaitConnected(absl::Seconds(10)));
    auto js = bus::JetStream::Create(*conn_);
    ASSERT_TRUE(js.ok());
    js_ = std::move(*js);
    ASSERT_TRUE(js_->EnsureStream(runtime::MdStream()).ok());
    ASSERT_TRUE(js_->EnsureStream(runtime::DlqStream()).ok());
    ASSERT_TRUE(js_->EnsureStream(runtime::CdcStream()).ok());
    streamadmin::config::v1::StreamConfig views;
    views.set_name("VIEWS");
    views.add_subjects("view.>");
    views.set_duplicate_window_s(3600);
    ASSERT_TRUE(js_->EnsureStream(views).ok());
    auto defs = bus::KeyValue::Create(*js_, views::kDefinitionsBucket);
    ASSERT_TRUE(defs.ok()) << defs.status();
    defs_ = std::move(*defs);
    auto pub = bus::JetStreamPublisher::Create(*conn_);
    ASSERT_TRUE(pub.ok());
    pub_ = std::move(*pub);
  }

  CoordinatorOptions Options(const std::string& replica) {
    CoordinatorOptions o;
    o.replica = replica;
    o.lease_ttl = absl::Seconds(2);
    o.definitions_bucket = views::kDefinitionsBucket;
    o.leases_bucket = views::kLeasesBucket;
    o.checkpoints_bucket = views::kCheckpointsBucket;
    o.status_bucket = views::kStatusBucket;
    o.runner.checkpoint_interval = absl::Milliseconds(100);
    o.runner.status_interval = absl::Milliseconds(100);
    o.runner.fetch_batch = 16;  // several checkpoints per run
    o.runner.fetch_wait = absl::Milliseconds(50);
    return o;
  }

  std::unique_ptr<Coordinator> StartReplica(const std::string& replica) {
    auto c = std::make_unique<Coordinator>(*conn_, Options(replica));
    c->Start();
    return c;
  }

  void Define(const std::string& name, const std::string& statement, uint64_t version = 1,
              std::vector<std::string> perms = {"md:read"}, vpb::Emit emit = vpb::EMIT_FINAL) {
    vpb::ViewDefinition d;
    d.set_name(name);
    d.set_version(version);
    d.set_statement(statement);
    d.set_emit(emit);
    d.mutable_start()->set_beginning(true);
    d.set_owner("alice");
    for (auto& p : perms) d.add_owner_permissions(p);
    d.set_created_at_ns(1000);
    ASSERT_TRUE(defs_->Put(name, d.SerializeAsString()).ok());
  }

  void Publish(const std::vector<TradeIn>& trades) {
    for (const auto& t : trades) {
      mdpb::Trade m;
      m.mutable_origin()->set_venue(t.venue);
      m.mutable_origin()->set_symbol(t.symbol);
      m.mutable_origin()->set_exchange_time_ns(t.ts);
      m.mutable_price()->set_value(t.price);
      m.mutable_size()->set_value(t.size);
      m.set_trade_id(t.id);
      m.set_side(mdpb::SIDE_BUY);
      ASSERT_TRUE(pub_->Publish({absl::StrCat("md.trade.", t.venue, ".", t.symbol),
                                 m.SerializeAsString(),
                                 absl::StrCat(t.venue, ":", t.id),
                                 {}})
                      .ok());
    }
    ASSERT_TRUE(pub_->Flush(absl::Seconds(10)).ok());
  }

  // Every message stored on `subject` in VIEWS: id -> payload (a repeated
  // id fails the test: the stream must store each output once).
  std::map<std::string, json> Outputs(const std::string& subject) {
    std::map<std::string, json> out;
    streamadmin::config::v1::ConsumerConfig c;
    c.set_stream("VIEWS");
    c.set_durable(absl::StrCat("reader_", ++readers_));
    c.set_filter_subject(subject);
    EXPECT_TRUE(js_->EnsurePullConsumer(c).ok());
    auto sub = js_->PullSubscribe(c);
    EXPECT_TRUE(sub.ok());
    if (!sub.ok()) return out;
    for (;;) {
      auto batch = (*sub)->Fetch(500, absl::Milliseconds(200));
      EXPECT_TRUE(batch.ok());
      if (!batch.ok() || batch->empty()) break;
      for (auto& m : *batch) {
        EXPECT_FALSE(out.contains(m.msg_id())) << "stored twice: " << m.msg_id();
        out[m.msg_id()] = json::parse(m.data());
        (void)m.Ack();
      }
    }
    (void)js_->DeleteConsumer("VIEWS", c.durable());
    return out;
  }

  uint64_t Stored(const std::string& stream) {
    auto info = js_->GetStreamInfo(stream);
    return info.ok() ? info->messages : 0;
  }

  std::optional<vpb::ViewStatus> StatusOf(const std::string& name) {
    auto kv = bus::KeyValue::Create(*js_, views::kStatusBucket);
    if (!kv.ok()) return std::nullopt;
    auto v = (*kv)->Get(name);
    if (!v.ok() || !v->has_value()) return std::nullopt;
    vpb::ViewStatus s;
    if (!s.ParseFromString(**v)) return std::nullopt;
    return s;
  }

  std::unique_ptr<sa::testing::NatsServer> server_;
  std::unique_ptr<bus::Connection> conn_;
  std::unique_ptr<bus::JetStream> js_;
  std::unique_ptr<bus::KeyValue> defs_;
  std::unique_ptr<bus::JetStreamPublisher> pub_;
  int readers_ = 0;
};

// The filter's oracle: the kraken trades, in order; id <view>.1.<stream seq>.
std::map<std::string, std::string> KrakenOracle(const std::vector<TradeIn>& all, const std::string& view) {
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i].venue == "kraken") out[absl::StrCat(view, ".1.", i + 1)] = all[i].id;
  return out;
}

std::map<std::string, std::string> IdsToTradeIds(const std::map<std::string, json>& outputs) {
  std::map<std::string, std::string> out;
  for (const auto& [id, j] : outputs) out[id] = j["row"]["trade_id"].get<std::string>();
  return out;
}

TEST_F(ViewsServiceTest, FilterViewRepublishesExactlyTheMatchingTrades) {
  auto all = Trades(300);
  Publish(all);
  Define("krk", "md.trade | where venue = \"kraken\"");
  auto replica = StartReplica("r1");
  const auto oracle = KrakenOracle(all, "krk");
  ASSERT_TRUE(sa::testing::WaitFor([&] { return Stored("VIEWS") >= oracle.size(); }, absl::Seconds(30)));
  // More input while it runs: it keeps up.
  auto more = Trades(60, 300);
  Publish(more);
  all.insert(all.end(), more.begin(), more.end());
  const auto oracle2 = KrakenOracle(all, "krk");
  ASSERT_TRUE(sa::testing::WaitFor([&] { return Stored("VIEWS") >= oracle2.size(); }, absl::Seconds(30)));
  auto out = Outputs("view.krk");
  EXPECT_EQ(IdsToTradeIds(out), oracle2);
  const json& first = out.begin()->second;
  EXPECT_EQ(first["view"], "krk");
  EXPECT_EQ(first["version"], 1);
  EXPECT_TRUE(first["columns"].is_array());
  // Pushdown: the durable reads md.trade.kraken.> only.
  auto ci = js_->GetConsumerInfo("MD", "view_krk");
  ASSERT_TRUE(ci.ok()) << ci.status();
  EXPECT_EQ(ci->filter_subject, "md.trade.kraken.>");
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto s = StatusOf("krk");
        return s && s->state() == vpb::VIEW_STATE_RUNNING && s->position() == all.size() - 2;
      },
      absl::Seconds(10)))
      << (StatusOf("krk") ? StatusOf("krk")->DebugString() : "no status");
  replica->Stop(true);
}

// Pause: the view fetches nothing (its status still reports, saying so);
// resumed, it reads what came meanwhile.
TEST_F(ViewsServiceTest, APausedViewFetchesNothingAndGoesOnWhenResumed) {
  auto all = Trades(30);
  Publish(all);
  Define("krk", "md.trade | where venue = \"kraken\"");
  auto replica = StartReplica("r1");
  ASSERT_TRUE(sa::testing::WaitFor([&] { return Stored("VIEWS") == 10; }, absl::Seconds(30)));
  replica->SetPaused(true);
  int64_t paused_ns = 0;
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto s = StatusOf("krk");
        if (s && s->state() == vpb::VIEW_STATE_RUNNING && s->reason() == "paused") paused_ns = s->updated_at_ns();
        return paused_ns > 0;
      },
      absl::Seconds(10)));
  // A fetch under way when the pause came has ended (it waits 50 ms at most).
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto s = StatusOf("krk");
        return s && s->updated_at_ns() > paused_ns + absl::ToInt64Nanoseconds(absl::Milliseconds(100));
      },
      absl::Seconds(10)));
  auto more = Trades(30, 30);
  Publish(more);
  all.insert(all.end(), more.begin(), more.end());
  // Two status reports after the input came: the paused loop ticked, and
  // fetched none of it.
  const int64_t published_ns = absl::ToUnixNanos(absl::Now());
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto s = StatusOf("krk");
        return s && s->updated_at_ns() > published_ns + absl::ToInt64Nanoseconds(absl::Milliseconds(150));
      },
      absl::Seconds(10)));
  auto ci = js_->GetConsumerInfo("MD", "view_krk");
  ASSERT_TRUE(ci.ok()) << ci.status();
  EXPECT_EQ(ci->num_pending, 10u);
  EXPECT_EQ(Stored("VIEWS"), 10u);
  EXPECT_EQ(StatusOf("krk")->reason(), "paused");
  replica->SetPaused(false);
  ASSERT_TRUE(sa::testing::WaitFor([&] { return Stored("VIEWS") == 20; }, absl::Seconds(30)));
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto s = StatusOf("krk");
        return s && s->state() == vpb::VIEW_STATE_RUNNING && s->reason().empty() && s->position() == all.size() - 2;
      },
      absl::Seconds(10)))
      << (StatusOf("krk") ? StatusOf("krk")->DebugString() : "no status");
  EXPECT_EQ(IdsToTradeIds(Outputs("view.krk")), KrakenOracle(all, "krk"));
  replica->Stop(true);
}

TEST_F(ViewsServiceTest, CrashesAnywhereLoseAndRepeatNothing) {
  // A windowed aggregate (final rows) and a filter, replicas stopped without
  // a checkpoint (as by SIGKILL) while the input keeps coming.
  Define("ohlc",
         "md.trade | window tumbling 1m grace 0s | summarize n = count(), o = first(price), h = max(price), l = "
         "min(price), "
         "c = last(price), v = sum(size) by venue, symbol");
  Define("krk", "md.trade | where venue = \"kraken\"");
  std::vector<TradeIn> all;
  for (int round = 0; round < 6; ++round) {
    auto part = Trades(120, round * 120);
    Publish(part);
    all.insert(all.end(), part.begin(), part.end());
    auto r = StartReplica(absl::StrCat("crash", round));
    // Let it get part-way through, then "kill" it (no checkpoint, no hand-over).
    const uint64_t before = Stored("VIEWS");
    sa::testing::WaitFor([&] { return Stored("VIEWS") > before + 5; }, absl::Seconds(10), absl::Milliseconds(1));
    r->Stop(false);
    // The dead replica's leases expire (2 s) before the next one starts.
  }
  auto last = StartReplica("final");
  const auto krk_oracle = KrakenOracle(all, "krk");
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto s = StatusOf("krk");
        auto o = StatusOf("ohlc");
        return s && o && s->position() >= all.size() - 2 && o->position() == all.size();
      },
      absl::Seconds(60)));
  EXPECT_EQ(IdsToTradeIds(Outputs("view.krk")), krk_oracle);

  // The oracle of the closed windows: every minute before the last event's
  // minute (whose window is still open), per venue and symbol.
  struct Agg {
    int64_t n = 0;
    std::string o, c;
    double h = -1, l = 1e18, v = 0;
  };
  std::map<std::string, Agg> expected;  // "<window start ns>|venue|symbol"
  const int64_t last_ts = all.back().ts;
  const int64_t closed_before = last_ts - last_ts % (60 * kSec);  // windows ending by then are closed (grace 0)
  for (const auto& t : all) {
    const int64_t start = t.ts - t.ts % (60 * kSec);
    if (start + 60 * kSec > closed_before) continue;
    Agg& a = expected[absl::StrCat(start, "|", t.venue, "|", t.symbol)];
    if (a.n++ == 0) a.o = t.price;
    a.c = t.price;
    a.h = std::max(a.h, std::stod(t.price));
    a.l = std::min(a.l, std::stod(t.price));
    a.v += std::stod(t.size);
  }
  auto out = Outputs("view.ohlc");
  std::map<std::string, Agg> got;
  for (const auto& [id, j] : out) {
    const json& row = j["row"];
    ASSERT_TRUE(j["final"].get<bool>());
    const absl::Time ws = [&] {
      absl::Time t;
      std::string err;
      EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, row["window_start"].get<std::string>(), &t, &err)) << err;
      return t;
    }();
    Agg& a = got[absl::StrCat(absl::ToUnixNanos(ws), "|", row["venue"].get<std::string>(), "|",
                              row["symbol"].get<std::string>())];
    a.n = row["n"].get<int64_t>();
    a.o = row["o"].get<std::string>();
    a.c = row["c"].get<std::string>();
    a.h = std::stod(row["h"].get<std::string>());
    a.l = std::stod(row["l"].get<std::string>());
    a.v = std::stod(row["v"].get<std::string>());
  }
  ASSERT_EQ(got.size(), expected.size());
  for (const auto& [k, e] : expected) {
    ASSERT_TRUE(got.contains(k)) << k;
    const Agg& g = got[k];
    EXPECT_EQ(g.n, e.n) << k;
    EXPECT_EQ(g.o, e.o) << k;
    EXPECT_EQ(g.c, e.c) << k;
    EXPECT_DOUBLE_EQ(g.h, e.h) << k;
    EXPECT_DOUBLE_EQ(g.l, e.l) << k;
    EXPECT_NEAR(g.v, e.v, 1e-9) << k;
  }
  last->Stop(true);
}

TEST_F(ViewsServiceTest, AViewMovesToTheOtherReplicaWhenItsOwnerDies) {
  Define("krk", "md.trade | where venue = \"kraken\"");
  auto all = Trades(90);
  Publish(all);
  auto a = StartReplica("a");
  ASSERT_TRUE(sa::testing::WaitFor([&] { return a->Running().size() == 1; }, absl::Seconds(10)));
  auto b = StartReplica("b");
  ASSERT_TRUE(
      sa::testing::WaitFor([&] { return Stored("VIEWS") >= KrakenOracle(all, "krk").size(); }, absl::Seconds(20)));
  EXPECT_TRUE(b->Running().empty());
  a->Stop(false);  // dies: its lease expires
  auto more = Trades(90, 90);
  Publish(more);
  all.insert(all.end(), more.begin(), more.end());
  ASSERT_TRUE(sa::testing::WaitFor([&] { return b->Running().size() == 1; }, absl::Seconds(10)));
  ASSERT_TRUE(
      sa::testing::WaitFor([&] { return Stored("VIEWS") >= KrakenOracle(all, "krk").size(); }, absl::Seconds(20)));
  EXPECT_EQ(IdsToTradeIds(Outputs("view.krk")), KrakenOracle(all, "krk"));
  auto s = StatusOf("krk");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->owner_replica(), "b");
  b->Stop(true);
}

TEST_F(ViewsServiceTest, RefusedDefinitionsStopWithTheirReasonAndOthersRun) {
  Define("norights", "md.trade | where venue = \"kraken\"", 1, {"cdc:read"});
  Define("broken", "md.trade | where venue = 3");
  Define("fine", "md.trade | where venue = \"binance\"");
  Publish(Trades(30));
  auto r = StartReplica("r");
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto a = StatusOf("norights"), b = StatusOf("broken"), c = StatusOf("fine");
        return a && b && c && a->state() == vpb::VIEW_STATE_STOPPED && b->state() == vpb::VIEW_STATE_STOPPED &&
               c->position() > 0;
      },
      absl::Seconds(20)));
  EXPECT_NE(StatusOf("norights")->reason().find("owner 'alice' lacks 'md:read'"), std::string::npos)
      << StatusOf("norights")->reason();
  EXPECT_NE(StatusOf("broken")->reason().find("1:"), std::string::npos) << StatusOf("broken")->reason();
  // The owner's rights come back (admin rewrites the definition): it runs.
  Define("norights", "md.trade | where venue = \"kraken\"", 1, {"md:read"});
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto a = StatusOf("norights");
        return a && a->state() == vpb::VIEW_STATE_RUNNING && a->position() > 0;
      },
      absl::Seconds(20)));
  // Dropped: its runner, checkpoint and durable go.
  ASSERT_TRUE(defs_->Delete("fine").ok());
  ASSERT_TRUE(sa::testing::WaitFor([&] { return !js_->GetConsumerInfo("MD", "view_fine").ok(); }, absl::Seconds(10)));
  EXPECT_FALSE(StatusOf("fine").has_value());
  r->Stop(true);
}

TEST_F(ViewsServiceTest, ANewVersionStartsWhereItsDefinitionSays) {
  auto first = Trades(30);
  Publish(first);
  Define("v", "md.trade | where venue = \"kraken\"");
  auto r = StartReplica("r");
  ASSERT_TRUE(sa::testing::WaitFor([&] { return Stored("VIEWS") >= 10; }, absl::Seconds(20)));
  // Version 2 from "now": only trades published after it started.
  vpb::ViewDefinition d;
  d.set_name("v");
  d.set_version(2);
  d.set_statement("md.trade | where venue = \"coinbase\"");
  d.mutable_start()->set_now(true);
  d.set_owner("alice");
  d.add_owner_permissions("md:read");
  d.set_created_at_ns(1000);
  ASSERT_TRUE(defs_->Put("v", d.SerializeAsString()).ok());
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto s = StatusOf("v");
        return s && s->version() == 2 && s->state() == vpb::VIEW_STATE_RUNNING;
      },
      absl::Seconds(20)));
  auto second = Trades(30, 30);
  Publish(second);
  size_t coinbase = 0;
  for (const auto& t : second) coinbase += t.venue == "coinbase";
  ASSERT_TRUE(sa::testing::WaitFor([&] { return Stored("VIEWS") >= 10 + coinbase; }, absl::Seconds(20)));
  auto out = Outputs("view.v");
  size_t v2 = 0;
  for (const auto& [id, j] : out) {
    if (j["version"] == 2) {
      ++v2;
      EXPECT_EQ(j["row"]["venue"], "coinbase");
      EXPECT_GT(j["seq"].get<uint64_t>(), first.size());
    }
  }
  EXPECT_EQ(v2, coinbase);
  r->Stop(true);
}

TEST_F(ViewsServiceTest, AViewOverACapturedTableReadsItsChangeEvents) {
  // The definition carries the table's columns (admin fills them from its catalog).
  vpb::ViewDefinition d;
  d.set_name("paid");
  d.set_version(1);
  d.set_statement("cdc.pg.public.orders | where status = \"paid\" and event.op != \"delete\" | project id, amount");
  d.mutable_start()->set_beginning(true);
  d.set_owner("bob");
  d.add_owner_permissions("cdc.pg.public.orders:read");  // a per-table grant is enough
  d.set_created_at_ns(1000);
  auto* t = d.mutable_cdc_table();
  t->set_server("pg");
  t->set_schema("public");
  t->set_table("orders");
  for (const auto& [n, ty] : std::vector<std::pair<std::string, std::string>>{{"id", "int8"}, {"status", "text"},
                                                                               {"amount", "numeric"}}) {
    auto* c = t->add_columns();
    c->set_name(n);
    c->set_pg_type(ty);
  }
  ASSERT_TRUE(defs_->Put("paid", d.SerializeAsString()).ok());
  std::set<int64_t> want;
  for (int i = 1; i <= 40; ++i) {
    streamadmin::cdc::v1::ChangeEvent e;
    e.set_op(i % 10 == 0 ? streamadmin::cdc::v1::OP_DELETE : streamadmin::cdc::v1::OP_CREATE);
    e.mutable_table()->set_server("pg");
    e.mutable_table()->set_schema("public");
    e.mutable_table()->set_table("orders");
    e.mutable_source()->set_lsn(1000 + i);
    e.mutable_source()->set_commit_time_us(1714564800000000LL + i);
    auto* cols = e.op() == streamadmin::cdc::v1::OP_DELETE ? e.mutable_before() : e.mutable_after();
    auto add = [&](const char* name, const char* type) {
      auto* c = cols->Add();
      c->set_name(name);
      c->set_type_name(type);
      return c->mutable_value();
    };
    add("id", "int8")->set_int_value(i);
    add("status", "text")->set_text_value(i % 3 == 0 ? "paid" : "new");
    add("amount", "numeric")->set_numeric_value(absl::StrCat(i, ".25"));
    if (i % 3 == 0 && i % 10 != 0) want.insert(i);
    ASSERT_TRUE(pub_->Publish({"cdc.pg.public.orders", e.SerializeAsString(), absl::StrCat("pg:", i), {}}).ok());
  }
  ASSERT_TRUE(pub_->Flush(absl::Seconds(10)).ok());
  auto r = StartReplica("r");
  ASSERT_TRUE(sa::testing::WaitFor([&] { return Stored("VIEWS") >= want.size(); }, absl::Seconds(20)))
      << (StatusOf("paid") ? StatusOf("paid")->DebugString() : "no status");
  std::set<int64_t> got;
  for (const auto& [id, j] : Outputs("view.paid")) {
    got.insert(j["row"]["id"].get<int64_t>());
    EXPECT_EQ(j["row"].size(), 2u) << j.dump();
    EXPECT_EQ(j["row"]["amount"], absl::StrCat(j["row"]["id"].get<int64_t>(), ".25"));
  }
  EXPECT_EQ(got, want);
  auto ci = js_->GetConsumerInfo("CDC", "view_paid");
  ASSERT_TRUE(ci.ok());
  EXPECT_EQ(ci->filter_subject, "cdc.pg.public.orders");
  r->Stop(true);
}

TEST_F(ViewsServiceTest, AViewOverItsMemoryLimitStopsSayingSoAndTheOthersGoOn) {
  // One group per trade id in a window that never closes: the state grows.
  vpb::ViewDefinition d;
  d.set_name("hog");
  d.set_version(1);
  d.set_statement("md.trade | window tumbling 1d grace 1d | summarize n = count() by trade_id");
  d.mutable_start()->set_beginning(true);
  d.add_owner_permissions("md:read");
  d.set_memory_limit_bytes(64 * 1024);
  d.set_created_at_ns(1000);
  ASSERT_TRUE(defs_->Put("hog", d.SerializeAsString()).ok());
  Define("krk", "md.trade | where venue = \"kraken\"");
  auto all = Trades(3000);
  Publish(all);
  auto r = StartReplica("r");
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto s = StatusOf("hog");
        return s && s->state() == vpb::VIEW_STATE_STOPPED;
      },
      absl::Seconds(30)));
  EXPECT_NE(StatusOf("hog")->reason().find("over its limit of 65536"), std::string::npos) << StatusOf("hog")->reason();
  ASSERT_TRUE(sa::testing::WaitFor([&] { return Stored("VIEWS") >= KrakenOracle(all, "krk").size(); },
                                   absl::Seconds(30)));
  EXPECT_EQ(IdsToTradeIds(Outputs("view.krk")), KrakenOracle(all, "krk"));
  r->Stop(true);
}

}  // namespace
}  // namespace sa::views_service
