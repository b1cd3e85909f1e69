// Continuous views end to end ([9]): the real pipeline (ingest replaying the
// four recordings at their recorded pace -> normalizer -> MD ->
// warehouse-sink), the real admin (token auth) taking definitions over gRPC,
// and two real views replicas, SIGKILLed in turn while the replay runs.
//
// Oracles are computed apart from the code under test:
// - filter and projection views: the MD stream's own messages, decoded here
//   and selected by the same predicate, message for message (ids included);
// - per-venue 1-minute OHLCV + VWAP views: an [8] query over the warehouse
//   after the replay (count, high, low, volume, VWAP) and plain SQL for the
//   open and close (the prices at the window's first and last time);
// - every output is read back from the VIEWS stream: a repeated id or a
//   missing one fails.
// Also: failover between the replicas, refusals at create time (line:col),
// and a view whose owner loses md:read stops, saying why.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "admin_stack.h"
#include "bus/connection.h"
#include "bus/jetstream.h"
#include "e2e_util.h"
#include "nlohmann/json.hpp"
#include "service_runner.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"
#include "streamadmin/query/v1/query.grpc.pb.h"
#include "streamadmin/views/v1/views.grpc.pb.h"
#include "testing/wait.h"
#include "trade_oracle.h"

namespace sa {
namespace {

namespace adm = streamadmin::admin::v1;
namespace qpb = streamadmin::query::v1;
namespace vpb = streamadmin::views::v1;
namespace mdpb = streamadmin::marketdata::v1;
using nlohmann::json;

constexpr char kAdminPassword[] = "admin-password-for-views-e2e";
constexpr char kUserPassword[] = "user-password-for-views-e2e";

const std::vector<std::pair<std::string, std::string>>& Venues() {
  static const auto* v =
      new std::vector<std::pair<std::string, std::string>>{{"kraken.jsonl.zst", "kraken"},
                                                           {"binance.jsonl.zst", "binance"},
                                                           {"coinbase-exchange.jsonl.zst", "coinbase-exchange"},
                                                           {"coinbase-advanced-trade.jsonl.zst", "coinbase"}};
  return *v;
}

std::string ViewName(const std::string& venue) {
  std::string n = "ohlcv_" + venue;
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

std::string OhlcvStatement(const std::string& venue) {
  return absl::StrCat("md.trade | where venue = \"", venue,
                      "\" | window tumbling 1m grace 2s | summarize open = first(price), high = max(price), "
                      "low = min(price), close = last(price), volume = sum(size), vwap = vwap(price, size), "
                      "n = count() by symbol");
}

double Num(const json& v) {
  if (v.is_number()) return v.get<double>();
  double d = 0;
  EXPECT_TRUE(absl::SimpleAtod(v.get<std::string>(), &d)) << v;
  return d;
}

// A timestamp as the query service or PostgreSQL prints it ("2021-04-17
// 16:48:00+00", RFC 3339, ...): seconds since the epoch.
int64_t EpochOf(const std::string& text) {
  absl::Time t;
  std::string err;
  for (const char* f : {absl::RFC3339_full, "%Y-%m-%d %H:%M:%E*S%Ez", "%Y-%m-%d %H:%M:%E*S%z", "%Y-%m-%d %H:%M:%E*S"})
    if (absl::ParseTime(f, text, &t, &err)) return absl::ToUnixSeconds(t);
  ADD_FAILURE() << "not a timestamp: " << text;
  return 0;
}

bool Near(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::max(std::abs(a), std::abs(b))); }

class ViewsE2E : public testing::AdminStackSuite<ViewsE2E> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(CreateStack("views-e2e"));
    ASSERT_TRUE(stack_->pg().Exec("CREATE DATABASE warehouse").ok());
    runner_ = new e2e::ServiceRunner(stack_->dir().path(), {stack_->nats().url()});
    services_ = new std::vector<e2e::RunningService>();
    Start({.binary = "normalizer"});
    Start({.binary = "warehouse-sink",
           .yaml = absl::StrCat("warehouse:\n  dsn: \"", stack_->pg().dsn(),
                                " dbname=warehouse\"\ncdc:\n  disabled: true\n")});
    const std::string query_yaml =
        absl::StrCat("query:\n  warehouse:\n    dsn: \"", stack_->pg().dsn(), " dbname=warehouse user=sa_query\"\n",
                     "  setup_dsn: \"", stack_->pg().dsn(), " dbname=warehouse\"\n  role_password: \"sa-query-pw\"\n",
                     "  max_rows: 1000000\n");
    admin_ = new testing::Service(stack_->Start(
        "admin", absl::StrCat(stack_->AdminYaml(), "  bootstrap_password: \"", kAdminPassword, "\"\n", query_yaml)));
    auto login = testing::PasswordLogin(admin_->channel, "admin", kAdminPassword);
    ASSERT_TRUE(login.ok()) << login.status() << "\n" << admin_->process->Output();
    admin_token_ = new std::string(login->access_token());
    // alice defines views over market data; dave may not read market data.
    PutRole("analyst", {"md:read", "views:write", "views:read"});
    PutRole("views-only", {"views:write", "views:read"});
    CreateUser("alice", "analyst");
    CreateUser("dave", "views-only");
    alice_ = new std::string(testing::PasswordLogin(admin_->channel, "alice", kUserPassword)->access_token());
    dave_ = new std::string(testing::PasswordLogin(admin_->channel, "dave", kUserPassword)->access_token());
    replicas_ = new std::map<std::string, testing::Service>();
    StartReplica("views-a");
    StartReplica("views-b");
    auto conn = bus::Connection::Connect([] {
      streamadmin::config::v1::NatsConfig c;
      c.add_servers(stack_->nats().url());
      c.set_name("views-e2e-oracle");
      return c;
    }());
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = conn->release();
    ASSERT_TRUE(conn_->WaitConnected(absl::Seconds(10)));
    js_ = bus::JetStream::Create(*conn_)->release();
  }

  static void TearDownTestSuite() {
    delete js_;
    delete conn_;
    delete replicas_;
    delete admin_;
    delete services_;
    delete runner_;
    delete admin_token_;
    delete alice_;
    delete dave_;
    delete stack_;
  }

  static void Start(e2e::ServiceSpec spec) {
    auto s = runner_->Start(spec);
    ASSERT_TRUE(s.ok()) << s.status();
    services_->push_back(std::move(*s));
  }

  // A views replica in token mode; checkpoints often and fetches little, so
  // kills land between checkpoints with outputs in flight.
  static void StartReplica(const std::string& name) {
    static int starts = 0;
    replicas_->erase(name);
    (*replicas_)[name] = stack_->Start(
        "views", absl::StrCat("replica: ", name, "\nlease_ttl_ms: 1000\ncheckpoint_interval_ms: 50\nfetch_batch: 16\n"),
        "", "", absl::StrCat(name, "-", ++starts));
  }

  static void PutRole(const std::string& name, const std::vector<std::string>& perms) {
    ASSERT_TRUE(testing::PutRole(admin_->channel, *admin_token_, name, perms).ok());
  }

  static void CreateUser(const std::string& name, const std::string& role) {
    ASSERT_TRUE(testing::CreateUser(admin_->channel, *admin_token_, name, kUserPassword, role).ok());
  }

  static grpc::Status Create(const std::string& token, const std::string& name, const std::string& statement,
                             vpb::ViewInfo* out = nullptr) {
    vpb::CreateViewRequest req;
    req.set_name(name);
    req.set_statement(statement);
    req.mutable_start()->set_beginning(true);
    vpb::ViewInfo info;
    return vpb::Views::NewStub(admin_->channel)->CreateView(testing::Ctx(token).get(), req, out ? out : &info);
  }

  static std::map<std::string, vpb::ViewInfo> List() {
    vpb::ListViewsResponse resp;
    std::map<std::string, vpb::ViewInfo> out;
    auto st = vpb::Views::NewStub(admin_->channel)
                  ->ListViews(testing::Ctx(*admin_token_).get(), vpb::ListViewsRequest(), &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    for (const auto& v : resp.views()) out[v.definition().name()] = v;
    return out;
  }

  // Every message of a stream on `subject`: (stream seq, msg id, data).
  struct Stored {
    uint64_t seq;
    std::string id, data;
  };
  static std::vector<Stored> Read(const std::string& stream, const std::string& subject) {
    static int readers = 0;
    streamadmin::config::v1::ConsumerConfig c;
    c.set_stream(stream);
    c.set_durable(absl::StrCat("oracle_", ++readers));
    c.set_filter_subject(subject);
    std::vector<Stored> out;
    EXPECT_TRUE(js_->EnsurePullConsumer(c).ok());
    auto sub = js_->PullSubscribe(c);
    EXPECT_TRUE(sub.ok()) << sub.status();
    if (!sub.ok()) return out;
    for (;;) {
      auto batch = (*sub)->Fetch(1000, absl::Milliseconds(500));
      EXPECT_TRUE(batch.ok()) << batch.status();
      if (!batch.ok() || batch->empty()) break;
      for (auto& m : *batch) {
        out.push_back({m.stream_sequence(), m.msg_id(), m.data()});
        (void)m.Ack();
      }
    }
    (void)js_->DeleteConsumer(stream, c.durable());
    return out;
  }

  // id -> envelope; a repeated id fails.
  static std::map<std::string, json> Outputs(const std::string& view) {
    std::map<std::string, json> out;
    for (const auto& m : Read("VIEWS", absl::StrCat("view.", view))) {
      EXPECT_FALSE(out.contains(m.id)) << "stored twice: " << m.id;
      out[m.id] = json::parse(m.data);
    }
    return out;
  }

  static absl::StatusOr<std::vector<std::vector<std::string>>> Query(const std::string& dsl) {
    qpb::RunRequest req;
    req.set_query(dsl);
    auto ctx = testing::Ctx(*alice_);
    auto reader = qpb::Query::NewStub(admin_->channel)->Run(ctx.get(), req);
    std::vector<std::vector<std::string>> rows;
    qpb::RunResponse part;
    while (reader->Read(&part)) {
      for (const auto& r : part.rows().rows()) {
        std::vector<std::string> row;
        for (const auto& c : r.cells()) row.push_back(c.is_null() ? "NULL" : c.text());
        rows.push_back(std::move(row));
      }
    }
    auto st = reader->Finish();
    if (!st.ok()) return testing::ToStatus(st);
    return rows;
  }

  static std::string Sql(const std::string& sql) {
    PGconn* c = PQconnectdb(absl::StrCat(stack_->pg().dsn(), " dbname=warehouse").c_str());
    PGresult* r = PQexec(c, sql.c_str());
    std::string out;
    for (int i = 0; i < PQntuples(r); ++i) {
      if (i) out += "|";
      out += PQgetvalue(r, i, 0);
    }
    if (PQresultStatus(r) != PGRES_TUPLES_OK) out = absl::StrCat("error: ", PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return out;
  }

  static e2e::ServiceRunner* runner_;
  static std::vector<e2e::RunningService>* services_;
  static testing::Service* admin_;
  static std::map<std::string, testing::Service>* replicas_;
  static std::string* admin_token_;
  static std::string* alice_;
  static std::string* dave_;
  static bus::Connection* conn_;
  static bus::JetStream* js_;
};

e2e::ServiceRunner* ViewsE2E::runner_ = nullptr;
std::vector<e2e::RunningService>* ViewsE2E::services_ = nullptr;
testing::Service* ViewsE2E::admin_ = nullptr;
std::map<std::string, testing::Service>* ViewsE2E::replicas_ = nullptr;
std::string* ViewsE2E::admin_token_ = nullptr;
std::string* ViewsE2E::alice_ = nullptr;
std::string* ViewsE2E::dave_ = nullptr;
bus::Connection* ViewsE2E::conn_ = nullptr;
bus::JetStream* ViewsE2E::js_ = nullptr;

TEST_F(ViewsE2E, ViewsOverTheReplayEqualTheirOraclesThroughKillsAndFailover) {
  // The views exist before the data: they follow the replay as it arrives.
  ASSERT_TRUE(Create(*alice_, "krk", "md.trade | where venue = \"kraken\"").ok());
  ASSERT_TRUE(
      Create(*alice_, "big", "md.trade | where price > 1000 | project venue, symbol, price, size, trade_id").ok());
  for (const auto& [file, venue] : Venues()) {
    auto st = Create(*alice_, ViewName(venue), OhlcvStatement(venue));
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto l = List();
        return l.size() == 6 && std::all_of(l.begin(), l.end(), [](const auto& kv) {
                 return kv.second.status().state() == vpb::VIEW_STATE_RUNNING;
               });
      },
      absl::Seconds(20)));

  // The replay at half its recorded pace (about 60 s).
  std::string sources = "sources:\n";
  for (const auto& [file, venue] : Venues())
    absl::StrAppend(&sources, e2e::ReplaySourceYaml(absl::StrCat("r-", venue), file, "0.5"));
  Start({.binary = "ingest", .yaml = sources});
  size_t want_trades = 0;
  for (const auto& [file, venue] : Venues()) {
    auto t = e2e::TradesInRecording(e2e::Fixture(file), venue);
    ASSERT_TRUE(t.ok()) << t.status();
    for (const auto& [k, n] : *t) want_trades += static_cast<size_t>(n);
  }
  auto replay_done = [&] { return Sql("SELECT count(*) FROM md.trades") == std::to_string(want_trades); };

  // SIGKILL the replicas in turn at random moments while the replay runs.
  std::mt19937 rng(std::random_device{}());
  int kills = 0, kills_during_replay = 0;
  bool failover_seen = false;
  while (kills < 12 && (kills < 6 || !replay_done())) {
    const int wait_ms = std::uniform_int_distribution<int>(300, 2000)(rng);
    absl::SleepFor(absl::Milliseconds(wait_ms));  // NOLINT: a random kill moment, not a synchronisation
    const std::string victim = kills % 2 == 0 ? "views-a" : "views-b";
    const std::string other = kills % 2 == 0 ? "views-b" : "views-a";
    kills_during_replay += !replay_done();
    ASSERT_TRUE((*replicas_)[victim].process->Kill().ok());
    ++kills;
    if (!failover_seen) {
      // Its views move to the other replica within the lease time.
      failover_seen = testing::WaitFor(
          [&] {
            auto l = List();
            return std::all_of(l.begin(), l.end(), [&](const auto& kv) {
              return kv.second.status().owner_replica() == other &&
                     kv.second.status().state() == vpb::VIEW_STATE_RUNNING;
            });
          },
          absl::Seconds(15));
      EXPECT_TRUE(failover_seen) << "the views of " << victim << " did not move to " << other;
    }
    StartReplica(victim);
  }
  std::printf("%d kills, %d of them while the replay ran\n", kills, kills_during_replay);
  EXPECT_GE(kills_during_replay, 5);
  ASSERT_TRUE(testing::WaitFor(replay_done, absl::Seconds(180)))
      << Sql("SELECT count(*) FROM md.trades") << " of " << want_trades;

  // The oracle of the filters: MD's trades, decoded here.
  auto md = Read("MD", "md.trade.>");
  std::map<std::string, std::string> want_krk, want_big;  // id -> trade_id
  std::map<std::string, uint64_t> last_seq;               // venue -> last trade seq
  for (const auto& m : md) {
    mdpb::Trade t;
    ASSERT_TRUE(t.ParseFromString(m.data));
    last_seq[t.origin().venue()] = m.seq;
    if (t.origin().venue() == "kraken") want_krk[absl::StrCat("krk.1.", m.seq)] = t.trade_id();
    double price = 0;
    ASSERT_TRUE(absl::SimpleAtod(t.price().value(), &price));
    if (price > 1000) want_big[absl::StrCat("big.1.", m.seq)] = t.trade_id();
  }
  ASSERT_EQ(md.size(), want_trades);
  // Every view has read everything it can match.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto l = List();
        for (const auto& [file, venue] : Venues())
          if (l[ViewName(venue)].status().position() < last_seq[venue]) return false;
        return l["krk"].status().position() >= last_seq["kraken"] && l["big"].status().input_lag() == 0 &&
               l["big"].status().position() == md.back().seq;
      },
      absl::Seconds(60)));

  auto krk = Outputs("krk");
  std::map<std::string, std::string> got_krk;
  for (const auto& [id, j] : krk) got_krk[id] = j["row"]["trade_id"].get<std::string>();
  EXPECT_EQ(got_krk, want_krk);
  auto big = Outputs("big");
  std::map<std::string, std::string> got_big;
  for (const auto& [id, j] : big) {
    got_big[id] = j["row"]["trade_id"].get<std::string>();
    EXPECT_EQ(j["row"].size(), 5u) << j.dump();  // the projection only
  }
  EXPECT_EQ(got_big, want_big);

  // The windows. Their oracle is computed here from MD in stream order: an
  // event is late when its window had closed (start + 1m + 2s <= the largest
  // event time before it), as docs/VIEWS.md defines; the rest are aggregated
  // per symbol and window. Windows without late events must also equal the
  // [8] query over the warehouse.
  struct Agg {
    int64_t n = 0;
    double high = -1e300, low = 1e300, volume = 0, pv = 0;
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    std::set<std::string> opens, closes;
    bool had_late = false;
  };
  constexpr int64_t kMin = 60'000'000'000, kGrace = 2'000'000'000;
  size_t windows = 0, late_total = 0;
  for (const auto& [file, venue] : Venues()) {
    const std::string view = ViewName(venue);
    std::map<std::string, Agg> want;  // symbol|window start (s)
    std::set<std::string> late_ids;
    int64_t stream_time = INT64_MIN;
    for (const auto& m : md) {
      mdpb::Trade t;
      ASSERT_TRUE(t.ParseFromString(m.data));
      if (t.origin().venue() != venue) continue;
      const int64_t ts = t.origin().exchange_time_ns() ? t.origin().exchange_time_ns() : t.origin().receive_time_ns();
      const int64_t start = ts - ((ts % kMin) + kMin) % kMin;
      const std::string key = absl::StrCat(t.origin().symbol(), "|", start / 1'000'000'000);
      if (stream_time != INT64_MIN && start + kMin + kGrace <= stream_time) {
        late_ids.insert(absl::StrCat("dlq:view.", view, ":", m.id));  // bus::DeadLetterWriter ids
        want[key].had_late = true;
        continue;
      }
      stream_time = std::max(stream_time, ts);
      Agg& a = want[key];
      const double p = std::stod(t.price().value()), s = std::stod(t.size().value());
      ++a.n;
      a.high = std::max(a.high, p);
      a.low = std::min(a.low, p);
      a.volume += s;
      a.pv += p * s;
      if (ts < a.t0) a.opens.clear();
      if (ts <= a.t0) a.opens.insert(t.price().value()), a.t0 = ts;
      if (ts > a.t1) a.closes.clear();
      if (ts >= a.t1) a.closes.insert(t.price().value()), a.t1 = ts;
    }
    late_total += late_ids.size();
    auto status = List()[view].status();
    EXPECT_EQ(status.late(), late_ids.size()) << view;
    // Each late event is in the dead-letter stream, once.
    std::set<std::string> dead;
    for (const auto& d : Read("DLQ", absl::StrCat("dlq.view.", view))) EXPECT_TRUE(dead.insert(d.id).second) << d.id;
    EXPECT_EQ(dead, late_ids) << view;

    auto rows = Query(absl::StrCat("md.trades | where venue = \"", venue,
                                   "\" | summarize n = count(), high = max(price), low = min(price), volume = "
                                   "sum(size), vwap = vwap(price, size) by symbol, w = bin(ts, 1m)"));
    ASSERT_TRUE(rows.ok()) << rows.status();
    std::map<std::string, std::vector<std::string>> warehouse;  // symbol|window start (s)
    for (auto& r : *rows) warehouse[absl::StrCat(r[0], "|", EpochOf(r[1]))] = r;

    std::set<std::string> seen;
    for (const auto& [id, j] : Outputs(view)) {
      const json& row = j["row"];
      ASSERT_TRUE(j["final"].get<bool>());
      const std::string key =
          absl::StrCat(row["symbol"].get<std::string>(), "|", EpochOf(row["window_start"].get<std::string>()));
      EXPECT_TRUE(seen.insert(key).second) << view << " emitted " << key << " twice";
      ASSERT_TRUE(want.contains(key) && want[key].n > 0) << view << " emitted a window with no on-time trade: " << key;
      const Agg& a = want[key];
      EXPECT_EQ(row["n"].get<int64_t>(), a.n) << key;
      EXPECT_TRUE(Near(Num(row["high"]), a.high)) << key;
      EXPECT_TRUE(Near(Num(row["low"]), a.low)) << key;
      EXPECT_TRUE(Near(Num(row["volume"]), a.volume)) << key;
      EXPECT_TRUE(Near(Num(row["vwap"]), a.pv / a.volume)) << key << " " << row["vwap"];
      EXPECT_TRUE(a.opens.contains(row["open"].get<std::string>())) << key << " open " << row["open"];
      EXPECT_TRUE(a.closes.contains(row["close"].get<std::string>())) << key << " close " << row["close"];
      if (!a.had_late) {  // the same figures as the warehouse query
        ASSERT_TRUE(warehouse.contains(key)) << key;
        const auto& w = warehouse[key];
        EXPECT_EQ(row["n"].get<int64_t>(), std::stoll(w[2])) << key;
        EXPECT_TRUE(Near(Num(row["high"]), std::stod(w[3]))) << key;
        EXPECT_TRUE(Near(Num(row["low"]), std::stod(w[4]))) << key;
        EXPECT_TRUE(Near(Num(row["volume"]), std::stod(w[5]))) << key;
        EXPECT_TRUE(Near(Num(row["vwap"]), std::stod(w[6]))) << key << " " << row["vwap"] << " vs " << w[6];
        ++windows;
      }
    }
    // Every window closed by the data and holding an on-time trade was emitted.
    for (const auto& [key, a] : want) {
      const int64_t start_s = std::stoll(key.substr(key.find('|') + 1));
      if (a.n > 0 && start_s * 1'000'000'000 + kMin + kGrace <= stream_time)
        EXPECT_TRUE(seen.contains(key)) << view << " missed " << key;
    }
  }
  std::printf("filters: %zu + %zu outputs; %zu closed windows equal to the warehouse query; %zu late trades\n",
              got_krk.size(), got_big.size(), windows, late_total);
}

TEST_F(ViewsE2E, RefusedDefinitionsSayWhereAndWhyAndAViewStopsWhenItsOwnerLosesTheRight) {
  // Syntax and type errors at create time, with line:col.
  auto st = Create(*alice_, "bad1", "md.trade | where venue == \"kraken\"");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("1:24"), std::string::npos) << st.error_message();
  st = Create(*alice_, "bad2", "md.trade | where price > \"x\" and nosuchfield = 1");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("1:"), std::string::npos) << st.error_message();
  st = Create(*alice_, "bad3", "md.trade | where ts > now() - 1h");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  st = Create(*alice_, "Bad-Name", "md.trade");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  // A caller who may not read the source.
  st = Create(*dave_, "daves", "md.trade | where venue = \"kraken\"");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_NE(st.error_message().find("md:read"), std::string::npos) << st.error_message();
  for (const char* n : {"bad1", "bad2", "bad3", "daves"}) EXPECT_FALSE(List().contains(n)) << n;
  // Existing name.
  ASSERT_TRUE(Create(*alice_, "mine", "md.trade | where venue = \"binance\"").ok());
  EXPECT_EQ(Create(*alice_, "mine", "md.trade").error_code(), grpc::StatusCode::ALREADY_EXISTS);
  ASSERT_TRUE(
      testing::WaitFor([&] { return List()["mine"].status().state() == vpb::VIEW_STATE_RUNNING; }, absl::Seconds(20)));

  // alice loses md:read: the view stops with the reason.
  PutRole("analyst", {"views:write", "views:read"});
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        auto s = List()["mine"].status();
        return s.state() == vpb::VIEW_STATE_STOPPED && s.reason().find("md:read") != std::string::npos;
      },
      absl::Seconds(30)))
      << List()["mine"].DebugString();
  EXPECT_NE(List()["mine"].status().reason().find("alice"), std::string::npos);
  // The right comes back: it runs again.
  PutRole("analyst", {"md:read", "views:write", "views:read"});
  ASSERT_TRUE(
      testing::WaitFor([&] { return List()["mine"].status().state() == vpb::VIEW_STATE_RUNNING; }, absl::Seconds(30)));
  // Dropped: gone from the list, its output subject quiet.
  vpb::DropViewRequest drop;
  drop.set_name("mine");
  vpb::DropViewResponse dropped;
  ASSERT_TRUE(vpb::Views::NewStub(admin_->channel)->DropView(testing::Ctx(*alice_).get(), drop, &dropped).ok());
  EXPECT_EQ(dropped.version(), 1u);
  EXPECT_FALSE(List().contains("mine"));
  // Re-created: a new version, so its ids never meet the dropped one's.
  vpb::ViewInfo again;
  ASSERT_TRUE(Create(*alice_, "mine", "md.trade | where venue = \"binance\"", &again).ok());
  EXPECT_EQ(again.definition().version(), 2u);
}

}  // namespace
}  // namespace sa
