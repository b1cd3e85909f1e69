// nats.c closes a connection for good when the server refuses its
// credentials (at once on a first connect; twice in a row while
// reconnecting), where a service would stay disconnected until restarted.
// The bus builds a new connection by itself: against a nats-server whose
// configuration first refuses the client's password and is then reloaded to
// accept it, the client connects (or reconnects) on its own, and what was
// made on the old connection — JetStream publisher, pull subscriptions (both
// modes), core subscription, key-value store — carries on with no message
// lost.
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bus/connection.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "bus/kv.h"
#include "bus_test_util.h"
#include "gtest/gtest.h"
#include "observability/metrics.h"
#include "testing/nats_server.h"
#include "testing/wait.h"

namespace sa::bus {
namespace {

using test::Consumer;
using test::FastConfig;
using test::Stream;

// Users "admin" (the test's own, always accepted) and "svc", whose password
// the server accepts or not.
std::string AuthConfig(bool accept_svc) {
  return absl::StrCat("authorization {\n  users = [\n    {user: admin, password: \"admin-pw\"}\n",
                      "    {user: svc, password: \"", accept_svc ? "svc-pw" : "another-pw", "\"}\n  ]\n}\n");
}

Connection::Config As(const std::string& url, const std::string& user, const std::string& password) {
  Connection::Config c = FastConfig(url);
  c.set_name(user);
  c.set_user(user);
  c.set_password(password);
  return c;
}

double CounterValue(const char* name) { return obs::MetricsRegistry::Default().GetCounter(name, "", {}).Value(); }

// Thread-safe set of strings (acked msg ids, core messages); waits for a size.
class Seen {
 public:
  void Add(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu_);
    items_.insert(s);
    cv_.notify_all();
  }
  bool WaitForSize(size_t n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return items_.size() >= n; });
  }
  std::set<std::string> items() {
    std::lock_guard<std::mutex> lock(mu_);
    return items_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::set<std::string> items_;
};

std::set<std::string> Ids(const std::string& prefix, int n) {
  std::set<std::string> out;
  for (int i = 0; i < n; ++i) out.insert(absl::StrCat(prefix, "-", i));
  return out;
}

absl::Status PublishAll(JetStreamPublisher& publisher, const std::set<std::string>& ids) {
  for (const auto& id : ids) {
    if (absl::Status st = publisher.Publish({"rb.data", absl::StrCat("payload of ", id), id, {}}); !st.ok()) return st;
  }
  return absl::OkStatus();
}

// Fetches (and acks) until every id of `want` was seen (`seen`: already) or
// 30 s pass; returns the ids seen.
std::set<std::string> ConsumeUntil(PullSubscription& sub, const std::set<std::string>& want,
                                   std::set<std::string> seen = {}) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (seen.size() < want.size() && absl::Now() < deadline) {
    auto msgs = sub.Fetch(64, absl::Milliseconds(500));
    if (!msgs.ok()) continue;  // e.g. bound again after a rebuild: the next Fetch works
    for (auto& m : *msgs) {
      seen.insert(m.msg_id());
      EXPECT_TRUE(m.Ack().ok());
    }
  }
  return seen;
}

// msg id -> times stored in `stream`, through a fresh durable of `conn`.
std::map<std::string, int> Stored(JetStream& js, const std::string& stream, const std::string& durable,
                                  size_t expected) {
  std::map<std::string, int> out;
  EXPECT_TRUE(js.EnsurePullConsumer(Consumer(stream, durable)).ok());
  auto sub = js.PullSubscribe(Consumer(stream, durable));
  EXPECT_TRUE(sub.ok()) << sub.status();
  if (!sub.ok()) return out;
  size_t total = 0;
  while (total < expected) {
    auto msgs = (*sub)->Fetch(1000, absl::Seconds(2));
    if (!msgs.ok() || msgs->empty()) break;
    for (auto& m : *msgs) {
      ++out[m.msg_id()];
      ++total;
      (void)m.Ack();
    }
  }
  return out;
}

class ConnectionRebuild : public ::testing::Test {
 protected:
  void StartServer(bool accept_svc) {
    sa::testing::NatsServer::Options o;
    o.config_text = AuthConfig(accept_svc);
    auto server = sa::testing::NatsServer::Start(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto admin = Connection::Connect(As(server_->url(), "admin", "admin-pw"));
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = std::move(*admin);
    ASSERT_TRUE(admin_->WaitConnected(absl::Seconds(10)));
    auto js = JetStream::Create(*admin_);
    ASSERT_TRUE(js.ok()) << js.status();
    admin_js_ = std::move(*js);
    ASSERT_TRUE(admin_js_->EnsureStream(Stream("RB", "rb.>")).ok());
  }

  std::unique_ptr<JetStreamPublisher> Publisher(Connection& conn) {
    JetStreamPublisher::Options o;
    o.on_ack = [this](const std::string& id) { acked_.Add(id); };
    auto p = JetStreamPublisher::Create(conn, o);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  std::unique_ptr<sa::testing::NatsServer> server_;
  std::unique_ptr<Connection> admin_;
  std::unique_ptr<JetStream> admin_js_;
  Seen acked_;
};

TEST_F(ConnectionRebuild, AConnectionClosedAfterRefusalsIsRebuiltAndLosesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*accept_svc=*/true));
  auto conn = Connection::Connect(As(server_->url(), "svc", "svc-pw"));
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE((*conn)->WaitConnected(absl::Seconds(10)));
  auto js = JetStream::Create(**conn);
  ASSERT_TRUE(js.ok()) << js.status();
  auto fetching = Consumer("RB", "fetching");
  auto prefetching = Consumer("RB", "prefetching");
  prefetching.set_prefetch(16);
  ASSERT_TRUE((*js)->EnsurePullConsumer(fetching).ok());
  ASSERT_TRUE((*js)->EnsurePullConsumer(prefetching).ok());
  auto fetch_sub = (*js)->PullSubscribe(fetching);
  auto prefetch_sub = (*js)->PullSubscribe(prefetching);
  ASSERT_TRUE(fetch_sub.ok() && prefetch_sub.ok());
  auto kv = KeyValue::Create(**js, "RB_STATE");
  ASSERT_TRUE(kv.ok()) << kv.status();
  ASSERT_TRUE((*kv)->Put("k", "before").ok());
  Seen core;
  auto sub = (*conn)->Subscribe("core.>", [&](const InboundMessage& m) { core.Add(m.data); });
  ASSERT_TRUE(sub.ok());
  auto publisher = Publisher(**conn);
  ASSERT_TRUE(publisher);

  const std::set<std::string> before = Ids("a", 100), during = Ids("b", 100), after = Ids("c", 100);
  ASSERT_TRUE(PublishAll(*publisher, before).ok());
  ASSERT_TRUE(publisher->Flush(absl::Seconds(10)).ok());
  // Fetched on the old connection, acknowledged on the new one.
  auto held = (*fetch_sub)->Fetch(10, absl::Seconds(5));
  ASSERT_TRUE(held.ok() && !held->empty()) << held.status();

  // The server now refuses "svc": it drops the connection, refuses the
  // reconnects, and nats.c gives up on it.
  const double closed_before = test::EventCount("closed");
  const double rebuilds_before = CounterValue("streamadmin_bus_connection_rebuilds_total");
  const double failures_before = CounterValue("streamadmin_bus_connection_rebuild_failures_total");
  ASSERT_TRUE(server_->Reload(AuthConfig(/*accept_svc=*/false)).ok());
  ASSERT_TRUE(sa::testing::WaitFor([&] { return test::EventCount("closed") > closed_before; }, absl::Seconds(30)))
      << "nats.c did not close the refused connection";
  // While refused: publishes are accepted and held; new connections keep failing.
  ASSERT_TRUE(PublishAll(*publisher, during).ok());
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] { return CounterValue("streamadmin_bus_connection_rebuild_failures_total") >= failures_before + 2; },
      absl::Seconds(30)));
  EXPECT_FALSE((*conn)->IsConnected());
  EXPECT_EQ(acked_.items().size(), before.size());

  // Accepted again: a new connection, and everything carries on over it.
  ASSERT_TRUE(server_->Reload(AuthConfig(/*accept_svc=*/true)).ok());
  ASSERT_TRUE((*conn)->WaitConnected(absl::Seconds(30)));
  EXPECT_GE((*conn)->stats().rebuilds, 1u);
  EXPECT_GE(CounterValue("streamadmin_bus_connection_rebuilds_total"), rebuilds_before + 1);
  ASSERT_TRUE(publisher->Flush(absl::Seconds(30)).ok());
  ASSERT_TRUE(PublishAll(*publisher, after).ok());
  ASSERT_TRUE(publisher->Flush(absl::Seconds(30)).ok());
  std::set<std::string> all = before;
  all.insert(during.begin(), during.end());
  all.insert(after.begin(), after.end());
  EXPECT_EQ(acked_.items(), all);

  std::set<std::string> fetched;
  for (auto& m : *held) {
    EXPECT_TRUE(m.Ack().ok()) << m.msg_id();
    fetched.insert(m.msg_id());
  }
  EXPECT_EQ(ConsumeUntil(**fetch_sub, all, fetched), all);
  EXPECT_EQ(ConsumeUntil(**prefetch_sub, all), all);
  EXPECT_TRUE(sa::testing::WaitFor(
      [&] {
        auto info = admin_js_->GetConsumerInfo("RB", "fetching");
        return info.ok() && info->num_ack_pending == 0 && info->num_pending == 0;
      },
      absl::Seconds(10)))
      << "acks made on the new connection for messages fetched on the old one were lost";
  std::map<std::string, int> stored = Stored(*admin_js_, "RB", "audit", all.size());
  EXPECT_EQ(stored.size(), all.size());
  for (const auto& [id, n] : stored) EXPECT_EQ(n, 1) << id << " stored " << n << " times";

  ASSERT_TRUE((*kv)->Put("k", "after").ok());
  auto value = (*kv)->Get("k");
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(value->value_or(""), "after");

  ASSERT_TRUE((*conn)->Flush(absl::Seconds(5)).ok());  // the subscription made again is registered
  ASSERT_TRUE(admin_->Publish("core.x", "after the rebuild").ok());
  EXPECT_TRUE(core.WaitForSize(1, absl::Seconds(10)));
}

TEST_F(ConnectionRebuild, AFirstConnectTheServerRefusesIsRetriedUntilItIsAccepted) {
  ASSERT_NO_FATAL_FAILURE(StartServer(/*accept_svc=*/false));
  const double failures_before = CounterValue("streamadmin_bus_connection_rebuild_failures_total");
  auto conn = Connection::Connect(As(server_->url(), "svc", "svc-pw"));
  ASSERT_TRUE(conn.ok()) << "a refusal is not a configuration error: " << conn.status();
  EXPECT_FALSE((*conn)->WaitConnected(absl::Milliseconds(300)));
  // Everything can be made before the first connection exists.
  auto js = JetStream::Create(**conn);
  ASSERT_TRUE(js.ok()) << js.status();
  auto publisher = Publisher(**conn);
  ASSERT_TRUE(publisher);
  Seen core;
  auto sub = (*conn)->Subscribe("core.>", [&](const InboundMessage& m) { core.Add(m.data); });
  ASSERT_TRUE(sub.ok()) << sub.status();
  const std::set<std::string> ids = Ids("d", 50);
  ASSERT_TRUE(PublishAll(*publisher, ids).ok());
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] { return CounterValue("streamadmin_bus_connection_rebuild_failures_total") >= failures_before + 2; },
      absl::Seconds(30)))
      << "the refused connect is not retried";
  EXPECT_FALSE((*conn)->IsConnected());

  ASSERT_TRUE(server_->Reload(AuthConfig(/*accept_svc=*/true)).ok());
  ASSERT_TRUE((*conn)->WaitConnected(absl::Seconds(30)));
  EXPECT_GE((*conn)->stats().rebuilds, 1u);
  ASSERT_TRUE(publisher->Flush(absl::Seconds(30)).ok());
  EXPECT_EQ(acked_.items(), ids);
  std::map<std::string, int> stored = Stored(*admin_js_, "RB", "audit", ids.size());
  EXPECT_EQ(stored.size(), ids.size());
  for (const auto& [id, n] : stored) EXPECT_EQ(n, 1) << id << " stored " << n << " times";

  ASSERT_TRUE((*js)->EnsurePullConsumer(Consumer("RB", "late")).ok());
  auto pull = (*js)->PullSubscribe(Consumer("RB", "late"));
  ASSERT_TRUE(pull.ok()) << pull.status();
  EXPECT_EQ(ConsumeUntil(**pull, ids), ids);
  ASSERT_TRUE((*conn)->Flush(absl::Seconds(5)).ok());
  ASSERT_TRUE(admin_->Publish("core.y", "first").ok());
  EXPECT_TRUE(core.WaitForSize(1, absl::Seconds(10)));
}

}  // namespace
}  // namespace sa::bus
