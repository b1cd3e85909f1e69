// Security of NATS subjects from outside (issue [6] items 13, 14, 16): the
// real admin prints the nats-server configuration and mints every built-in
// role's .creds over gRPC; a real nats-server runs from exactly that printed
// configuration; the real admin, ingest, normalizer and anomaly run on it with
// their own minted credentials. Then each role's credentials, in an outside
// client (nats.c directly, tests/support/nats_probe.h), try every subject and
// JetStream API call the role should not have, and the ones it should.
//
// Every test here failed on the code before the fix (run it with SA_BUILD_DIR
// pointing at an older build): the printed configuration could not run
// JetStream, the service roles could call any JetStream API, revocations were
// bare JSON, and viewers could subscribe to every client's replies.
#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "admin_stack.h"
#include "auth/builtin_roles.h"
#include "auth/crypto.h"
#include "auth/nkeys.h"
#include "auth/revocations.h"
#include "cli/control_client.h"
#include "e2e_util.h"
#include "nats_probe.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "streamadmin/control/v1/control.grpc.pb.h"
#include "testing/nats_server.h"
#include "testing/wait.h"

namespace sa::security_test {
namespace {

namespace adm = streamadmin::admin::v1;
namespace ctl = streamadmin::control::v1;
using testing::Ctx;
using ::testing::HasSubstr;
using testing::NatsProbe;
using ::testing::Not;
using testing::Service;
using testing::ToStatus;

constexpr char kAdminPassword[] = "first-admin-password-123";
constexpr char kUserPassword[] = "a-user-password-1234";

// One user per built-in role (the user is named after the role).
const std::vector<std::string>& RoleNames() {
  static const auto* r =
      new std::vector<std::string>{"viewer",      "svc-ingest", "svc-normalizer", "svc-cdc-bridge", "svc-warehouse-sink",
                                   "svc-anomaly", "svc-admin"};
  return *r;
}

struct Minted {
  std::string creds_file;
  std::string inbox_prefix;
  std::string user_id;
};

class NatsAttack : public testing::AdminStackSuite<NatsAttack> {
 protected:
  static void SetUpTestSuite() {
    ASSERT_NO_FATAL_FAILURE(CreateStack("security-nats"));
    admin_yaml_ = new std::string(absl::StrCat(stack_->AdminYaml(), testing::NatsJwtYaml()));
    admin_ = new Service(stack_->StartAdmin(kAdminPassword, *admin_yaml_));
    const std::string admin_token = AdminToken();
    ASSERT_FALSE(admin_token.empty());

    // [6].16: a nats-server from exactly what the admin prints.
    adm::GetServerConfigRequest sreq;
    sreq.set_jetstream_store_dir(absl::StrCat(stack_->dir().path(), "/jetstream"));
    adm::GetServerConfigResponse sresp;
    ASSERT_TRUE(adm::NatsAccess::NewStub(admin_->channel)->GetServerConfig(Ctx(admin_token).get(), sreq, &sresp).ok());
    server_config_ = new std::string(sresp.server_config());
    testing::NatsServer::Options o;
    o.config_text = *server_config_;
    o.jetstream = false;  // whatever JetStream needs must be in the printed configuration
    auto nats = testing::NatsServer::Start(o);
    ASSERT_TRUE(nats.ok()) << nats.status() << "\nprinted configuration:\n" << *server_config_;
    nats_ = nats->release();

    minted_ = new std::map<std::string, Minted>();
    unhealthy_ = new std::vector<std::string>();
    for (const std::string& role : RoleNames()) {
      ASSERT_TRUE(CreateUser(role, {role}).ok()) << role;
      (*minted_)[role] = Mint(role);
    }
    ASSERT_TRUE(CreateUser("root", {"admin"}).ok());
    (*minted_)["root"] = Mint("root");
    ASSERT_TRUE(CreateUser("victim", {"viewer"}).ok());

    // The admin moves onto the operator-mode server with its own role. (A
    // token issued now stays valid across the restart: services check it with
    // the public key.)
    setup_token_ = new std::string(AdminToken());
    ASSERT_TRUE(admin_->process->Terminate(absl::Seconds(10)).ok());
    *admin_ = StartOnNats("admin", *admin_yaml_, "svc-admin");
    // The viewer listens before anything flows (ingest replays at full speed).
    viewer_ = Probe("viewer").release();
    ASSERT_NE(viewer_, nullptr);
    ASSERT_TRUE(viewer_->Subscribe("md.trade.kraken.>").ok());
    ASSERT_TRUE(viewer_->Flush().ok());
    normalizer_ = new Service(StartOnNats("normalizer", "", "svc-normalizer"));
    anomaly_ = new Service(StartOnNats("anomaly", "", "svc-anomaly"));
    ingest_ = new Service(StartOnNats("ingest",
                                      absl::StrCat("sources:\n  - {name: r-kraken, kind: replay, venue: "
                                                   "kraken, replay: {path: \"",
                                                   e2e::Fixture("kraken.jsonl.zst"), "\", speed: 0}}\n"),
                                      "svc-ingest"));
  }

  static void TearDownTestSuite() {
    delete ingest_;
    delete viewer_;
    delete anomaly_;
    delete normalizer_;
    delete admin_;
    delete nats_;
    delete minted_;
    delete unhealthy_;
    delete server_config_;
    delete setup_token_;
    delete admin_yaml_;
    delete stack_;
  }

  static std::string AdminToken() {
    auto t = testing::PasswordLogin(admin_->channel, "admin", kAdminPassword);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->access_token() : "";
  }

  static absl::Status CreateUser(const std::string& username, const std::vector<std::string>& roles) {
    adm::CreateUserRequest req;
    req.set_username(username);
    req.set_password(kUserPassword);
    for (const auto& r : roles) req.add_roles(r);
    adm::User resp;
    return ToStatus(adm::Users::NewStub(admin_->channel)->CreateUser(Ctx(AdminToken()).get(), req, &resp));
  }

  static std::string UserId(const std::string& username) {
    adm::GetUserRequest req;
    req.set_username(username);
    adm::User resp;
    EXPECT_TRUE(adm::Users::NewStub(admin_->channel)->GetUser(Ctx(AdminToken()).get(), req, &resp).ok());
    return resp.id();
  }

  // The user's .creds through the real NatsAccess.GetCredentials.
  static Minted Mint(const std::string& username) {
    adm::GetCredentialsRequest req;
    req.set_username(username);
    adm::GetCredentialsResponse resp;
    grpc::Status st = adm::NatsAccess::NewStub(admin_->channel)->GetCredentials(Ctx(AdminToken()).get(), req, &resp);
    EXPECT_TRUE(st.ok()) << username << ": " << st.error_message();
    Minted m;
    m.creds_file = absl::StrCat(stack_->dir().path(), "/", username, ".creds");
    std::ofstream(m.creds_file) << resp.creds();
    m.inbox_prefix = resp.inbox_prefix();
    m.user_id = UserId(username);
    return m;
  }

  static std::string NatsYaml(const std::string& user) {
    const Minted& m = minted_->at(user);
    std::string yaml = absl::StrCat("  servers: [", nats_->url(), "]\n  creds_file: ", m.creds_file, "\n");
    if (!m.inbox_prefix.empty()) absl::StrAppend(&yaml, "  inbox_prefix: ", m.inbox_prefix, "\n");
    return yaml;
  }

  // Starts `name` on the operator-mode server as `user`, and waits until its
  // NATS dependency is healthy. One restart is allowed for the nats.c 3.4.1
  // refused-nonce flake (docs/SECURITY.md, known limits).
  static Service StartOnNats(const std::string& name, const std::string& extra, const std::string& user) {
    for (int attempt = 0;; ++attempt) {
      Service s = stack_->Start(name, extra, "", NatsYaml(user));
      cli::ControlClient control(s.target, absl::Seconds(2), *setup_token_);
      bool up = testing::WaitFor(
          [&] {
            auto st = control.GetStatus();
            if (!st.ok()) return false;
            for (const auto& d : st->dependencies()) {
              if (d.name() == "nats" && d.healthy()) return true;
            }
            return false;
          },
          absl::Seconds(20));
      if (up || attempt == 1) {
        // Checked by the [6].16 test: a failure here would skip every test,
        // and the others show their own defects on an old build too.
        if (!up) unhealthy_->push_back(name);
        return s;
      }
      (void)s.process->Terminate(absl::Seconds(5));
    }
  }

  // What bin/<name> logged (the log file of AdminStack::Start).
  static std::string LogOf(const std::string& name) {
    std::ifstream in(absl::StrCat(stack_->dir().path(), "/", name, ".log"));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  static std::unique_ptr<NatsProbe> Probe(const std::string& user) {
    const Minted& m = minted_->at(user);
    auto p = NatsProbe::Connect({nats_->url(), m.creds_file, m.inbox_prefix, absl::StrCat("probe-", user)});
    EXPECT_TRUE(p.ok()) << user << ": " << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  static absl::Status StatusOnNormalizer(const std::string& token) {
    ctl::GetStatusResponse resp;
    return ToStatus(ctl::ServiceControl::NewStub(normalizer_->channel)
                        ->GetStatus(Ctx(token).get(), ctl::GetStatusRequest(), &resp));
  }

  // The CDC stream with one row in it, made by the administrator's
  // credentials (no cdc-bridge needed for the attacks on it).
  static void EnsureCdcStreamWithARow() {
    auto root = Probe("root");
    ASSERT_TRUE(root);
    auto created = root->Request("$JS.API.STREAM.CREATE.CDC",
                                 R"({"name":"CDC","subjects":["cdc.>"],"storage":"memory","num_replicas":1})");
    ASSERT_TRUE(created.ok()) << created.status();
    auto acked = root->Request("cdc.pg.public.accounts", R"({"op":"c","after":{"id":1,"secret":"row-1"}})");
    ASSERT_TRUE(acked.ok()) << acked.status();
    ASSERT_THAT(*acked, HasSubstr("\"stream\":\"CDC\""));
  }

  static uint64_t CdcMessages() {
    auto root = Probe("root");
    auto info = root->Request("$JS.API.STREAM.INFO.CDC", "");
    EXPECT_TRUE(info.ok());
    if (!info.ok()) return 0;
    size_t at = info->find("\"messages\":");
    return at == std::string::npos ? 0 : std::stoull(info->substr(at + 11));
  }

  static std::string* admin_yaml_;
  static std::string* server_config_;
  static std::string* setup_token_;
  static testing::NatsServer* nats_;
  static std::map<std::string, Minted>* minted_;
  static Service* admin_;
  static Service* normalizer_;
  static Service* anomaly_;
  static Service* ingest_;
  static NatsProbe* viewer_;
  static std::vector<std::string>* unhealthy_;  // services whose NATS never got healthy
};

std::string* NatsAttack::admin_yaml_ = nullptr;
std::string* NatsAttack::server_config_ = nullptr;
std::string* NatsAttack::setup_token_ = nullptr;
testing::NatsServer* NatsAttack::nats_ = nullptr;
std::map<std::string, Minted>* NatsAttack::minted_ = nullptr;
Service* NatsAttack::admin_ = nullptr;
Service* NatsAttack::normalizer_ = nullptr;
Service* NatsAttack::anomaly_ = nullptr;
Service* NatsAttack::ingest_ = nullptr;
NatsProbe* NatsAttack::viewer_ = nullptr;
std::vector<std::string>* NatsAttack::unhealthy_ = nullptr;

// ----------------------------------------------------------------- [6].16 ---

TEST_F(NatsAttack, ThePrintedServerConfigurationRunsThePipelineOnMintedCredentials) {
  EXPECT_THAT(*server_config_, HasSubstr("system_account: "));
  EXPECT_THAT(*unhealthy_, ::testing::IsEmpty())
      << "never healthy on the printed configuration; logs in " << stack_->dir().path();
  // Ingest stores frames in MD_RAW; the normalizer consumes them and
  // publishes into MD: both JetStream, both on their own roles, with replies
  // on their own inboxes. The viewer (subscribed before they started) gets the
  // trades.
  EXPECT_TRUE(viewer_->WaitForMessage([](const NatsProbe::Received&) { return true; }, absl::Seconds(60)))
      << "no trade reached the viewer; see the logs in " << stack_->dir().path();
  auto root = Probe("root");
  ASSERT_TRUE(root);
  auto md = root->Request("$JS.API.STREAM.INFO.MD", "");
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_THAT(*md, Not(HasSubstr("\"messages\":0,")));
  std::printf("printed config: viewer received %zu kraken trades\n", viewer_->Messages().size());
  for (const char* name : {"admin", "ingest", "normalizer", "anomaly"})
    EXPECT_THAT(LogOf(name), Not(HasSubstr("Permissions Violation"))) << name;
  // The anomaly detector's durable on MD is bound (consumer create + info +
  // fetch on its own role).
  cli::ControlClient control(anomaly_->target, absl::Seconds(2), AdminToken());
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        auto st = control.GetStatus();
        if (!st.ok()) return false;
        for (const auto& d : st->dependencies()) {
          if (d.name() == "consumer" && d.healthy()) return true;
        }
        return false;
      },
      absl::Seconds(30)))
      << LogOf("anomaly");
}

// ----------------------------------------------------------------- [6].13 ---

// What no role but the administrator's may publish (JetStream API requests are
// publishes). Exceptions: the subjects a role owns.
struct Forbidden {
  std::string subject;
  std::set<std::string> except;  // roles allowed it
  std::string payload = "x";
};

std::vector<Forbidden> ForbiddenPublishes() {
  const std::string republish_revoked =
      R"({"name":"EVIL","subjects":["evil.>"],"storage":"memory","republish":{"src":">","dest":"sa.auth.revoked"}})";
  const std::string republish_cdc =
      R"({"name":"EVIL2","subjects":["evil2.>"],"storage":"memory","republish":{"src":">","dest":"cdc.pg.public.accounts"}})";
  const std::string push_into_cdc =
      R"({"stream_name":"MD_RAW","config":{"durable_name":"evil","deliver_subject":"cdc.pg.public.accounts","ack_policy":"none"}})";
  return {
      {"sa.auth.revoked", {"svc-admin"}},
      {"cdc.pg.public.accounts", {"svc-cdc-bridge"}},
      {"md.trade.kraken.BTC-USD", {"svc-normalizer"}},
      {"md.raw.kraken", {"svc-ingest"}},
      {"anomaly.kraken.BTC-USD", {"svc-anomaly"}},
      {"sa.audit.call.normalizer", {"svc-normalizer"}},
      {"$KV.CDC_SNAPSHOTS.pg._initial", {"svc-cdc-bridge"}},
      {"$JS.ACK.CDC.warehouse.1.1.1.1.0", {"svc-warehouse-sink"}},
      // A stream that republishes onto the revocation subject or into CDC.
      {"$JS.API.STREAM.CREATE.EVIL", {}, republish_revoked},
      {"$JS.API.STREAM.CREATE.EVIL2", {}, republish_cdc},
      // Changing a stream, even one's own (a republish or a source added).
      {"$JS.API.STREAM.UPDATE.MD_RAW", {}, republish_revoked},
      {"$JS.API.STREAM.UPDATE.CDC", {}, republish_cdc},
      {"$JS.API.STREAM.UPDATE.DLQ", {}, republish_revoked},
      {"$JS.API.STREAM.DELETE.MD_RAW", {}},
      {"$JS.API.STREAM.DELETE.CDC", {}},
      {"$JS.API.STREAM.PURGE.MD", {}},
      // Reading CDC rows around the cdc.> subscription block.
      {"$JS.API.STREAM.MSG.GET.CDC", {}, R"({"seq":1})"},
      {"$JS.API.DIRECT.GET.CDC", {}, R"({"seq":1})"},
      {"$JS.API.STREAM.MSG.DELETE.CDC", {}, R"({"seq":1})"},
      // Consumers on streams that are not the role's, or not its durable.
      {"$JS.API.CONSUMER.CREATE.CDC.evil", {}},
      {"$JS.API.CONSUMER.DURABLE.CREATE.CDC.evil", {}},
      {"$JS.API.CONSUMER.CREATE.MD_RAW.evil", {}, push_into_cdc},
      {"$JS.API.CONSUMER.CREATE.MD.evil.md.>", {}},
      {"$JS.API.CONSUMER.MSG.NEXT.CDC.warehouse", {"svc-warehouse-sink"}},
      {"$JS.API.CONSUMER.DELETE.CDC.warehouse", {"svc-warehouse-sink"}},
      {"$JS.API.CONSUMER.MSG.NEXT.MD.warehouse-trades", {"svc-warehouse-sink"}},
      {"dlq.warehouse", {"svc-warehouse-sink"}},
      {"$JS.API.STREAM.LIST", {}},
  };
}

TEST_F(NatsAttack, EveryRoleIsRefusedEverySubjectAndJetStreamCallItShouldNotHave) {
  EnsureCdcStreamWithARow();
  const uint64_t cdc_before = CdcMessages();
  int refused = 0;
  for (const std::string& role : RoleNames()) {
    auto p = Probe(role);
    ASSERT_TRUE(p) << role;
    for (const Forbidden& f : ForbiddenPublishes()) {
      if (f.except.contains(role)) continue;
      EXPECT_TRUE(p->PublishRefused(f.subject, f.payload)) << role << " may publish " << f.subject;
      ++refused;
    }
    std::vector<std::string> subs = {"_INBOX.>", "cdc.>", ">", "$JS.API.>"};
    if (role != "svc-admin") subs.push_back("sa.audit.>");
    // Snapshot requests: ingest takes them; the viewer and anomaly read md.>,
    // which covers them.
    if (role != "svc-ingest" && role != "viewer" && role != "svc-anomaly") subs.push_back("md.ctl.snapshot.>");
    if (role == "viewer") subs.push_back("md.raw.>");
    // Another user's inbox: the administrator's replies.
    subs.push_back(absl::StrCat(minted_->at("root").inbox_prefix, ".>"));
    for (const auto& s : subs) {
      EXPECT_TRUE(p->SubscribeRefused(s)) << role << " may subscribe to " << s;
      ++refused;
    }
  }
  // Nothing of that reached CDC.
  EXPECT_EQ(CdcMessages(), cdc_before);
  std::printf("nats attacks: %d refused publishes and subscriptions over %zu roles\n", refused, RoleNames().size());
}

TEST_F(NatsAttack, AServiceCannotRecreateItsOwnStreamWithARepublish) {
  // The one stream call a service may make on its own stream: an identical
  // re-create (how it ensures the stream). Any other configuration is refused
  // by JetStream because the stream exists.
  auto ingest = Probe("svc-ingest");
  ASSERT_TRUE(ingest);
  auto reply = ingest->Request(
      "$JS.API.STREAM.CREATE.MD_RAW",
      R"({"name":"MD_RAW","subjects":["md.raw.>"],"storage":"file","republish":{"src":">","dest":"sa.auth.revoked"}})");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_THAT(*reply, HasSubstr("\"error\""));
  auto root = Probe("root");
  auto info = root->Request("$JS.API.STREAM.INFO.MD_RAW", "");
  ASSERT_TRUE(info.ok());
  EXPECT_THAT(*info, Not(HasSubstr("republish")));
}

TEST_F(NatsAttack, EachServiceRoleReachesItsOwnStreamsAndConsumersThroughItsOwnInbox) {
  EnsureCdcStreamWithARow();
  struct Allowed {
    std::string role, subject, expect;
  };
  for (const Allowed& a : std::vector<Allowed>{
           {"svc-ingest", "$JS.API.STREAM.INFO.MD_RAW", "\"name\":\"MD_RAW\""},
           {"svc-ingest", "$JS.API.STREAM.INFO.DLQ", "\"name\":\"DLQ\""},
           {"svc-normalizer", "$JS.API.CONSUMER.INFO.MD_RAW.normalizer", "\"name\":\"normalizer\""},
           {"svc-normalizer", "$JS.API.STREAM.INFO.MD", "\"name\":\"MD\""},
           // Restoring a book checkpoint asks whether its frames are still in MD_RAW.
           {"svc-normalizer", "$JS.API.STREAM.INFO.MD_RAW", "\"name\":\"MD_RAW\""},
           {"svc-anomaly", "$JS.API.CONSUMER.INFO.MD.anomaly", "\"name\":\"anomaly\""},
           {"svc-cdc-bridge", "$JS.API.STREAM.INFO.CDC", "\"name\":\"CDC\""},
           {"svc-warehouse-sink", "$JS.API.STREAM.INFO.DLQ", "\"name\":\"DLQ\""},
       }) {
    auto p = Probe(a.role);
    ASSERT_TRUE(p);
    // The reply comes on the role's own inbox prefix, the only one it may read.
    auto reply = p->Request(a.subject, "");
    ASSERT_TRUE(reply.ok()) << a.role << " " << a.subject << ": " << reply.status();
    EXPECT_THAT(*reply, HasSubstr(a.expect)) << a.role << " " << a.subject;
  }
}

// A service may create its own durable (it does so at start), so it chooses
// that durable's configuration, a push deliver subject included: nats-server
// does not check the creator's publish rights on it (nats-server issue 8274).
// What such a consumer delivers into the CDC stream's subjects must not be
// stored there as change events.
TEST_F(NatsAttack, AServicesOwnDurableCannotDeliverIntoTheCdcStream) {
  EnsureCdcStreamWithARow();
  const uint64_t before = CdcMessages();
  auto anomaly = Probe("svc-anomaly");
  ASSERT_TRUE(anomaly);
  (void)anomaly->Request("$JS.API.CONSUMER.DELETE.MD.anomaly", "");
  auto created = anomaly->Request(
      "$JS.API.CONSUMER.CREATE.MD.anomaly",
      R"({"stream_name":"MD","config":{"durable_name":"anomaly","deliver_subject":"cdc.pg.public.accounts",)"
      R"("deliver_policy":"all","ack_policy":"none","filter_subject":"md.trade.>"}})");
  ASSERT_TRUE(created.ok()) << created.status();
  std::printf("push consumer onto cdc.pg.public.accounts by svc-anomaly: %s\n", created->substr(0, 300).c_str());
  // Whatever the server answered, CDC holds no delivered market data.
  EXPECT_FALSE(testing::WaitFor([&] { return CdcMessages() > before; }, absl::Seconds(3)))
      << CdcMessages() - before << " messages delivered into CDC";
  auto root = Probe("root");
  (void)root->Request("$JS.API.CONSUMER.DELETE.MD.anomaly",
                      "");  // the anomaly service recreates its own
}

// A forged revocation (bare JSON, or signed by another key), published on
// sa.auth.revoked by the one role allowed to publish there, changes nothing
// on the real normalizer; the admin's own revocation still works at once.
TEST_F(NatsAttack, ForgedRevocationsDoNotRevokeAValidTokenOnTheNormalizer) {
  auto login = testing::PasswordLogin(admin_->channel, "victim", kUserPassword);
  ASSERT_TRUE(login.ok()) << login.status();
  const std::string token = login->access_token();
  ASSERT_TRUE(StatusOnNormalizer(token).ok());
  const std::string victim = UserId("victim");

  const auth::Revocation forged{"sub", victim, absl::ToUnixMicros(absl::Now()) + int64_t{3600} * 1000000};
  auto insider = Probe("svc-admin");
  ASSERT_TRUE(insider);
  ASSERT_TRUE(insider->Publish("sa.auth.revoked", auth::EncodeRevocation(forged)).ok());
  ASSERT_TRUE(
      insider->Publish("sa.auth.revoked", auth::SignRevocation(forged, auth::GenerateKeyPair().secret_key)).ok());
  ASSERT_TRUE(insider->Flush().ok());
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        const std::string log = LogOf("normalizer");
        return absl::StrContains(log, "(unsigned:") && absl::StrContains(log, "(bad_signature:");
      },
      absl::Seconds(10)))
      << LogOf("normalizer");
  EXPECT_TRUE(StatusOnNormalizer(token).ok()) << "a forged revocation revoked the victim's token";

  // The admin's signed revocation reaches the normalizer.
  adm::LogoutRequest lo;
  lo.set_access_token(token);
  adm::LogoutResponse lresp;
  ASSERT_TRUE(adm::Auth::NewStub(admin_->channel)->Logout(Ctx("").get(), lo, &lresp).ok());
  EXPECT_TRUE(testing::WaitFor([&] { return absl::IsUnauthenticated(StatusOnNormalizer(token)); }, absl::Seconds(15)));
}

// ----------------------------------------------------------------- [6].14 ---

TEST_F(NatsAttack, AViewerCannotReceiveRepliesAddressedToAnotherClient) {
  const Minted& viewer = minted_->at("viewer");
  EXPECT_EQ(viewer.inbox_prefix, absl::StrCat("_INBOX_", viewer.user_id));
  auto v = Probe("viewer");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->SubscribeRefused("_INBOX.>"));
  EXPECT_TRUE(v->SubscribeRefused(absl::StrCat(minted_->at("svc-cdc-bridge").inbox_prefix, ".>")));
  ASSERT_TRUE(v->Subscribe(absl::StrCat(viewer.inbox_prefix, ".>")).ok());  // its own
  ASSERT_TRUE(v->Flush().ok());

  // A CDC row read by the administrator through the stream's message API, and
  // cdc-bridge's own JetStream API answers: none of those replies reach the
  // viewer.
  EnsureCdcStreamWithARow();
  auto root = Probe("root");
  auto row = root->Request("$JS.API.STREAM.MSG.GET.CDC", R"({"seq":1})");
  ASSERT_TRUE(row.ok()) << row.status();
  auto cdc = Probe("svc-cdc-bridge");
  ASSERT_TRUE(cdc->Request("$JS.API.STREAM.INFO.CDC", "").ok());
  ASSERT_TRUE(v->Flush().ok());
  EXPECT_TRUE(v->Messages().empty()) << v->Messages().front().subject;
}

// Schema 5: a deployment whose stored service roles still grant "$JS.API.>"
// (as schema 2 created them) gets the scoped lists on upgrade.
TEST_F(NatsAttack, AnUpgradedDeploymentsServiceRolesLoseTheWholeJetStreamApi) {
  ASSERT_TRUE(
      stack_->pg()
          .Exec(R"(UPDATE roles SET spec = '{"name":"svc-ingest","permissions":[{"resource":"control",)"
                R"("action":"read"}],"nats":{"publishAllow":["md.raw.>","$JS.API.>"]}}' WHERE name = 'svc-ingest';)"
                R"( DELETE FROM schema_migrations WHERE version >= 5)")
          .ok());
  ASSERT_TRUE(admin_->process->Terminate(absl::Seconds(10)).ok());
  *admin_ = StartOnNats("admin", *admin_yaml_, "svc-admin");
  adm::ListRolesResponse roles;
  ASSERT_TRUE(
      adm::Roles::NewStub(admin_->channel)->ListRoles(Ctx(AdminToken()).get(), adm::ListRolesRequest(), &roles).ok());
  bool seen = false;
  for (const auto& r : roles.roles()) {
    if (r.name() != "svc-ingest") continue;
    seen = true;
    EXPECT_THAT(r.nats().publish_allow(), Not(::testing::Contains("$JS.API.>")));
    EXPECT_THAT(r.nats().publish_allow(), ::testing::Contains("$JS.API.STREAM.CREATE.MD_RAW"));
  }
  EXPECT_TRUE(seen);
}

// Schema 6: the warehouse sink left cdc-bridge for warehouse-sink. A
// deployment whose stored svc-cdc-bridge is still schema 5's built-in role
// loses the sink's rights on upgrade, and svc-warehouse-sink appears with them.
TEST_F(NatsAttack, AnUpgradedDeploymentsCdcBridgeRoleHandsTheSinksRightsToWarehouseSink) {
  // svc-cdc-bridge as schema 5 stored it (written out, not derived from today's roles).
  adm::Role schema5;
  schema5.set_name("svc-cdc-bridge");
  schema5.set_description("the cdc-bridge service");
  auto* perm = schema5.add_permissions();
  perm->set_resource("control");
  perm->set_action("read");
  std::vector<std::string> publish = {"cdc.>",
                                      "dlq.cdc",
                                      "dlq.warehouse",
                                      "sa.audit.denied.cdc-bridge",
                                      "sa.audit.call.cdc-bridge",
                                      "$JS.API.INFO",
                                      "$JS.API.STREAM.CREATE.CDC",
                                      "$JS.API.STREAM.INFO.CDC",
                                      "$JS.API.STREAM.CREATE.DLQ",
                                      "$JS.API.STREAM.INFO.DLQ"};
  for (const char* durable : {"CDC.warehouse", "MD.warehouse-trades", "MD.warehouse-candles"}) {
    for (const char* op : {"CREATE", "DURABLE.CREATE", "INFO", "DELETE", "MSG.NEXT"})
      publish.push_back(absl::StrCat("$JS.API.CONSUMER.", op, ".", durable));
    publish.push_back(absl::StrCat("$JS.API.CONSUMER.CREATE.", durable, ".>"));
    publish.push_back(absl::StrCat("$JS.ACK.", durable, ".>"));
  }
  for (const char* s : {"$JS.API.STREAM.CREATE.KV_CDC_SNAPSHOTS", "$JS.API.STREAM.INFO.KV_CDC_SNAPSHOTS",
                        "$KV.CDC_SNAPSHOTS.>", "$JS.API.DIRECT.GET.KV_CDC_SNAPSHOTS.>",
                        "$JS.API.DIRECT.GET.KV_CDC_SNAPSHOTS", "$JS.API.STREAM.MSG.GET.KV_CDC_SNAPSHOTS"})
    publish.push_back(s);
  for (const auto& s : publish) schema5.mutable_nats()->add_publish_allow(s);
  schema5.mutable_nats()->add_subscribe_allow(auth::kInboxSubscription);
  schema5.mutable_nats()->add_subscribe_allow("sa.auth.revoked");
  std::string spec;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(schema5, &spec).ok());
  ASSERT_TRUE(stack_->pg()
                  .Exec(absl::StrCat("UPDATE roles SET spec = $sa$", spec, "$sa$ WHERE name = 'svc-cdc-bridge';",
                                     "DELETE FROM roles WHERE name = 'svc-warehouse-sink';",
                                     "DELETE FROM schema_migrations WHERE version = 6"))
                  .ok());
  ASSERT_TRUE(admin_->process->Terminate(absl::Seconds(10)).ok());
  *admin_ = StartOnNats("admin", *admin_yaml_, "svc-admin");
  // The user of that name lost its binding with the role; it gets it back.
  ASSERT_TRUE(stack_->pg()
                  .Exec("INSERT INTO user_roles SELECT id, 'svc-warehouse-sink' FROM users "
                        "WHERE username = 'svc-warehouse-sink' ON CONFLICT DO NOTHING")
                  .ok());
  adm::ListRolesResponse roles;
  ASSERT_TRUE(
      adm::Roles::NewStub(admin_->channel)->ListRoles(Ctx(AdminToken()).get(), adm::ListRolesRequest(), &roles).ok());
  std::map<std::string, adm::Role> by_name;
  for (const auto& r : roles.roles()) by_name[r.name()] = r;
  ASSERT_TRUE(by_name.count("svc-cdc-bridge"));
  ASSERT_TRUE(by_name.count("svc-warehouse-sink"));
  const auto& bridge = by_name["svc-cdc-bridge"].nats().publish_allow();
  const auto& sink = by_name["svc-warehouse-sink"].nats().publish_allow();
  for (const char* moved : {"dlq.warehouse", "$JS.API.CONSUMER.MSG.NEXT.CDC.warehouse", "$JS.ACK.CDC.warehouse.>",
                            "$JS.API.CONSUMER.MSG.NEXT.MD.warehouse-trades", "$JS.ACK.MD.warehouse-candles.>"}) {
    EXPECT_THAT(bridge, Not(::testing::Contains(moved)));
    EXPECT_THAT(sink, ::testing::Contains(moved));
  }
  EXPECT_THAT(bridge, ::testing::Contains("$KV.CDC_SNAPSHOTS.>"));
  EXPECT_THAT(bridge, ::testing::Contains("cdc.>"));
  EXPECT_THAT(sink, Not(::testing::Contains("cdc.>")));
}

// Schema 8: the normalizer reads MD_RAW's state to restore book checkpoints.
// A stored svc-normalizer as schema 7 left it gets the right on upgrade; one
// an operator edited does not.
TEST_F(NatsAttack, AnUpgradedDeploymentsNormalizerRoleMayReadTheRawStreamsState) {
  const std::string added = "$JS.API.STREAM.INFO.MD_RAW";
  adm::Role schema7;
  for (const auto& r : auth::BuiltinRoles())
    if (r.name() == "svc-normalizer") schema7 = r;
  ASSERT_EQ(schema7.name(), "svc-normalizer");
  auto* allow = schema7.mutable_nats()->mutable_publish_allow();
  allow->erase(std::remove(allow->begin(), allow->end(), added), allow->end());
  // Stores `stored` as svc-normalizer, re-runs migration 8 in a restarted
  // admin and returns the svc-normalizer it then lists.
  auto upgraded = [&](const adm::Role& stored) {
    std::string spec;
    EXPECT_TRUE(google::protobuf::util::MessageToJsonString(stored, &spec).ok());
    EXPECT_TRUE(stack_->pg()
                    .Exec(absl::StrCat("UPDATE roles SET spec = $sa$", spec, "$sa$ WHERE name = 'svc-normalizer';",
                                       "DELETE FROM schema_migrations WHERE version = 8"))
                    .ok());
    EXPECT_TRUE(admin_->process->Terminate(absl::Seconds(10)).ok());
    *admin_ = StartOnNats("admin", *admin_yaml_, "svc-admin");
    adm::ListRolesResponse roles;
    EXPECT_TRUE(
        adm::Roles::NewStub(admin_->channel)->ListRoles(Ctx(AdminToken()).get(), adm::ListRolesRequest(), &roles).ok());
    adm::Role out;
    for (const auto& r : roles.roles())
      if (r.name() == "svc-normalizer") out = r;
    return out;
  };
  const adm::Role upgraded7 = upgraded(schema7);
  EXPECT_EQ(upgraded7.name(), "svc-normalizer");
  EXPECT_THAT(upgraded7.nats().publish_allow(), ::testing::Contains(added));
  EXPECT_EQ(upgraded7.nats().publish_allow_size(), schema7.nats().publish_allow_size() + 1);

  // Edited by an operator (an extra subject): left as it is.
  adm::Role edited = schema7;
  edited.mutable_nats()->add_publish_allow("md.extra.>");
  const adm::Role kept = upgraded(edited);
  EXPECT_EQ(kept.name(), "svc-normalizer");
  EXPECT_THAT(kept.nats().publish_allow(), Not(::testing::Contains(added)));
  EXPECT_THAT(kept.nats().publish_allow(), ::testing::Contains("md.extra.>"));
}

}  // namespace
}  // namespace sa::security_test
