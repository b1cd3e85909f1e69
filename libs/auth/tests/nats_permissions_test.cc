// The NATS server itself enforces the roles' subject permissions: user JWTs
// signed here (nkeys + JWT v2 on libsodium) are accepted by a real
// nats-server in operator mode (resolver MEMORY, account preloaded) with no
// reload per user, and their allow/deny lists hold.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/builtin_roles.h"
#include "auth/nkeys.h"
#include "bus/connection.h"
#include "testing/nats_server.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa::auth {
namespace {

namespace adm = streamadmin::admin::v1;

adm::Role RoleNamed(const std::string& name) {
  for (auto& r : BuiltinRoles()) {
    if (r.name() == name) return r;
  }
  ADD_FAILURE() << "no builtin role " << name;
  return {};
}

class NatsPermissions : public ::testing::Test {
 protected:
  void SetUp() override {
    op_ = nkeys::Generate(nkeys::Type::kOperator);
    account_ = nkeys::Generate(nkeys::Type::kAccount);
    sys_ = nkeys::Generate(nkeys::Type::kAccount);
    int64_t now = absl::ToUnixSeconds(absl::Now());
    testing::NatsServer::Options o;
    o.config_text =
        absl::StrCat("operator: ", nkeys::OperatorJwt(op_, "sa-test", now), "\n", "system_account: ", sys_.public_key,
                     "\n", "resolver: MEMORY\n", "resolver_preload: {\n  ", account_.public_key, ": ",
                     nkeys::AccountJwt(op_, account_.public_key, "STREAM_ADMIN", now), "\n  ", sys_.public_key, ": ",
                     nkeys::AccountJwt(op_, sys_.public_key, "SYS", now, /*jetstream=*/false), "\n}\n");
    auto s = testing::NatsServer::Start(o);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    auto d = testing::TempDir::Create("nats-perm");
    ASSERT_TRUE(d.ok());
    dir_ = std::make_unique<testing::TempDir>(std::move(*d));
  }

  // Connects as a new user carrying `roles`' NATS permissions (a fresh nkey,
  // a JWT signed by the account: the server was never told about this user).
  std::unique_ptr<bus::Connection> ConnectAs(const std::string& name, const std::vector<adm::Role>& roles) {
    nkeys::NKey user = nkeys::Generate(nkeys::Type::kUser);
    int64_t now = absl::ToUnixSeconds(absl::Now());
    std::string jwt = nkeys::UserJwt(account_, user.public_key, name, NatsPermissionsOf(roles), now, now + 3600);
    std::string path = absl::StrCat(dir_->path(), "/", name, ".creds");
    std::ofstream(path) << nkeys::CredsFile(jwt, user.seed);
    streamadmin::config::v1::NatsConfig cfg;
    cfg.add_servers(server_->url());
    cfg.set_name(name);
    cfg.set_creds_file(path);
    // nats.c 3.4.1 + nats-server 2.9.10 refuse about 1 in 200 nonce
    // signatures of valid credentials ("authentication error"; the same creds
    // work on the next nonce), and nats.c then closes the connection: retry.
    // See docs/SECURITY.md, known limits.
    for (int attempt = 0; attempt < 3; ++attempt) {
      auto c = bus::Connection::Connect(cfg);
      EXPECT_TRUE(c.ok()) << c.status();
      if (!c.ok()) return nullptr;
      if ((*c)->WaitConnected(absl::Seconds(10))) return std::move(*c);
    }
    ADD_FAILURE() << name << " could not connect; server log:\n" << ServerLog();
    return nullptr;
  }

  // Publishes as `who` and reports whether a full-rights observer received it.
  // One observer subscription sees both the message and a later marker, so
  // they are delivered in order (nats.c delivers each subscription on its own
  // thread): once the marker is in, the message would have been too.
  bool Delivered(bus::Connection& who, const std::string& subject) {
    std::mutex mu;
    bool got = false, marker = false;
    std::string marker_subject = absl::StrCat("test.marker.", ++markers_);
    auto sub = observer_->Subscribe(">", [&](const bus::InboundMessage& m) {
      std::lock_guard lock(mu);
      if (m.subject == subject) got = true;
      if (m.subject == marker_subject) marker = true;
    });
    EXPECT_TRUE(sub.ok());
    EXPECT_TRUE(observer_->Flush(absl::Seconds(5)).ok());
    EXPECT_TRUE(who.Publish(subject, "x").ok());
    EXPECT_TRUE(who.Flush(absl::Seconds(5)).ok());  // the server has routed it (or refused it)
    EXPECT_TRUE(observer_->Publish(marker_subject, "m").ok());
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          std::lock_guard lock(mu);
          return marker;
        },
        absl::Seconds(5)));
    std::lock_guard lock(mu);
    return got;
  }

  std::string ServerLog() {
    std::ifstream in(server_->log_path());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  int markers_ = 0;
  nkeys::NKey op_, account_, sys_;
  std::unique_ptr<testing::NatsServer> server_;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<bus::Connection> observer_;
};

TEST_F(NatsPermissions, ViewerSubscribesToMarketDataButNotCdcAndCannotPublish) {
  observer_ = ConnectAs("observer", {RoleNamed("admin")});
  auto viewer = ConnectAs("viewer", {RoleNamed("viewer")});
  ASSERT_TRUE(observer_ && viewer);

  std::atomic<int> md{0};
  auto md_sub = viewer->Subscribe("md.>", [&](const bus::InboundMessage&) { md++; });
  ASSERT_TRUE(md_sub.ok());
  ASSERT_TRUE(viewer->Flush(absl::Seconds(5)).ok());
  ASSERT_TRUE(observer_->Publish("md.trade.kraken.BTC-USD", "t").ok());
  EXPECT_TRUE(testing::WaitFor([&] { return md.load() == 1; }, absl::Seconds(5)));

  auto cdc_sub = viewer->Subscribe("cdc.>", [](const bus::InboundMessage&) {});
  ASSERT_TRUE(cdc_sub.ok());  // the client cannot know; the server refuses it
  EXPECT_TRUE(viewer->WaitForAsyncError("Permissions Violation for Subscription to \"cdc.>\"", absl::Seconds(5)))
      << testing::NatsServer::Options().config_text;

  EXPECT_FALSE(Delivered(*viewer, "md.trade.kraken.BTC-USD"));
  EXPECT_TRUE(
      viewer->WaitForAsyncError("Permissions Violation for Publish to \"md.trade.kraken.BTC-USD\"", absl::Seconds(5)));
}

TEST_F(NatsPermissions, ServiceUsersCanDoWhatTheirPipelineNeedsAndNothingElse) {
  observer_ = ConnectAs("observer", {RoleNamed("admin")});
  auto ingest = ConnectAs("ingest", {RoleNamed("svc-ingest")});
  auto normalizer = ConnectAs("normalizer", {RoleNamed("svc-normalizer")});
  auto cdc = ConnectAs("cdc-bridge", {RoleNamed("svc-cdc-bridge")});
  auto sink = ConnectAs("warehouse-sink", {RoleNamed("svc-warehouse-sink")});
  auto anomaly = ConnectAs("anomaly", {RoleNamed("svc-anomaly")});
  ASSERT_TRUE(observer_ && ingest && normalizer && cdc && sink && anomaly);

  EXPECT_TRUE(Delivered(*ingest, "md.raw.kraken"));
  EXPECT_FALSE(Delivered(*ingest, "md.trade.kraken.BTC-USD"));
  EXPECT_TRUE(Delivered(*normalizer, "md.trade.kraken.BTC-USD"));
  EXPECT_TRUE(Delivered(*normalizer, "dlq.normalizer"));
  EXPECT_FALSE(Delivered(*normalizer, "md.raw.kraken"));
  EXPECT_FALSE(Delivered(*normalizer, "cdc.pg.public.orders"));
  EXPECT_TRUE(Delivered(*cdc, "cdc.pg.public.orders"));
  EXPECT_FALSE(Delivered(*cdc, "md.trade.kraken.BTC-USD"));
  EXPECT_TRUE(Delivered(*cdc, "dlq.cdc"));  // change events that cannot be published
  EXPECT_FALSE(Delivered(*cdc, "dlq.warehouse"));
  EXPECT_TRUE(Delivered(*sink, "dlq.cdc"));        // change events the warehouse cannot take
  EXPECT_TRUE(Delivered(*sink, "dlq.warehouse"));  // market data the warehouse cannot take
  EXPECT_FALSE(Delivered(*sink, "cdc.pg.public.orders"));
  EXPECT_FALSE(Delivered(*sink, "md.trade.kraken.BTC-USD"));
  EXPECT_TRUE(Delivered(*anomaly, "anomaly.kraken.BTC-USD"));
  EXPECT_FALSE(Delivered(*anomaly, "md.trade.kraken.BTC-USD"));

  // The anomaly service reads market data; ingest takes snapshot requests only.
  auto a_sub = anomaly->Subscribe("md.>", [](const bus::InboundMessage&) {});
  auto i_sub = ingest->Subscribe("cdc.>", [](const bus::InboundMessage&) {});
  ASSERT_TRUE(a_sub.ok() && i_sub.ok());
  EXPECT_TRUE(ingest->WaitForAsyncError("Permissions Violation for Subscription to \"cdc.>\"", absl::Seconds(5)));
  (void)anomaly->Flush(absl::Seconds(5));
  for (const auto& e : anomaly->AsyncErrors()) EXPECT_EQ(e.find("md.>"), std::string::npos) << e;
}

// Every fresh nkey + JWT is accepted (no encoding corner case of random keys).
TEST_F(NatsPermissions, ManyFreshUsersAllConnect) {
  for (int i = 0; i < 100; ++i) {
    auto c = ConnectAs(absl::StrCat("user", i), {RoleNamed("viewer")});
    ASSERT_TRUE(c && c->IsConnected()) << i;
  }
}

TEST_F(NatsPermissions, AUserSignedByAnotherAccountKeyIsRefused) {
  nkeys::NKey rogue = nkeys::Generate(nkeys::Type::kAccount);
  nkeys::NKey user = nkeys::Generate(nkeys::Type::kUser);
  int64_t now = absl::ToUnixSeconds(absl::Now());
  std::string path = absl::StrCat(dir_->path(), "/rogue.creds");
  std::ofstream(path) << nkeys::CredsFile(
      nkeys::UserJwt(rogue, user.public_key, "rogue", NatsPermissionsOf({RoleNamed("admin")}), now, now + 60),
      user.seed);
  streamadmin::config::v1::NatsConfig cfg;
  cfg.add_servers(server_->url());
  cfg.set_creds_file(path);
  cfg.set_connect_timeout_ms(1000);
  auto c = bus::Connection::Connect(cfg);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE((*c)->WaitConnected(absl::Seconds(2)));
}

}  // namespace
}  // namespace sa::auth
