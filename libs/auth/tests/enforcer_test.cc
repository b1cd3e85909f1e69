#include "auth/enforcer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <tuple>

#include "absl/strings/str_cat.h"
#include "auth/crypto.h"
#include "auth/token.h"
#include "observability/metrics.h"

namespace sa::auth {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kNow = 1'800'000'000'000'000;

class EnforcerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    streamadmin::config::v1::ServerConfig s;
    s.mutable_auth()->set_mode("token");
    s.mutable_auth()->set_public_key(Base64(keys_.public_key));
    auto e = Enforcer::Create(s, nullptr, "test");
    ASSERT_TRUE(e.ok()) << e.status();
    enforcer_ = std::move(*e);
  }
  std::string Bearer(std::vector<std::string> perms, const std::string& jti = "t1", const std::string& key = "") {
    Claims c;
    c.sub = "u1";
    c.name = "alice";
    c.jti = jti;
    c.key_id = key;
    c.exp_us = kNow + 1000;
    c.perms = std::move(perms);
    return "Bearer " + IssueToken(c, keys_.secret_key);
  }
  KeyPair keys_ = GenerateKeyPair();
  std::unique_ptr<Enforcer> enforcer_;
};

constexpr char kGetStatus[] = "/streamadmin.control.v1.ServiceControl/GetStatus";
constexpr char kPause[] = "/streamadmin.control.v1.ServiceControl/Pause";

TEST_F(EnforcerTest, OpenMethodsNeedNoTokenOthersDo) {
  EXPECT_EQ(enforcer_->Check("/grpc.health.v1.Health/Check", "", kNow).code, grpc::StatusCode::OK);
  EXPECT_EQ(enforcer_->Check("/streamadmin.admin.v1.Auth/Login", "", kNow).code, grpc::StatusCode::OK);
  EXPECT_EQ(enforcer_->Check(kGetStatus, "", kNow).code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(enforcer_->Check(kGetStatus, "Basic abc", kNow).code, grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(EnforcerTest, PermissionDecidesAndTheDenialNamesIt) {
  std::string t = Bearer({"control:read"});
  EXPECT_EQ(enforcer_->Check(kGetStatus, t, kNow).code, grpc::StatusCode::OK);
  auto d = enforcer_->Check(kPause, t, kNow);
  EXPECT_EQ(d.code, grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(d.message, HasSubstr("'control:write'"));
  EXPECT_EQ(enforcer_->Check("/some.New/Method", Bearer({"*:read", "control:*"}, "t2"), kNow).code,
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(enforcer_->Check("/some.New/Method", Bearer({"*:*"}, "t3"), kNow).code, grpc::StatusCode::OK);
}

TEST_F(EnforcerTest, CachedTokensStillExpireAndGetRevoked) {
  std::string t = Bearer({"*:*"}, "t1", "k1");
  ASSERT_EQ(enforcer_->Check(kPause, t, kNow).code, grpc::StatusCode::OK);  // now cached
  EXPECT_EQ(enforcer_->Check(kPause, t, kNow + 1000).code, grpc::StatusCode::UNAUTHENTICATED);
  enforcer_->revocations().Add({"key", "k1", kNow + 1000});
  auto d = enforcer_->Check(kPause, t, kNow);
  EXPECT_EQ(d.code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(d.message, HasSubstr("revoked"));
  std::string other = Bearer({"*:*"}, "t9");
  EXPECT_EQ(enforcer_->Check(kPause, other, kNow).code, grpc::StatusCode::OK);
  enforcer_->revocations().Add({"sub", "u1", kNow + 1000});
  EXPECT_EQ(enforcer_->Check(kPause, other, kNow).code, grpc::StatusCode::UNAUTHENTICATED);
}

// streamadmin_auth_denied_calls_total{code}: both series exist once an
// Enforcer is created, and each reported denial counts under its code.
TEST_F(EnforcerTest, CountsRefusedCallsByCode) {
  auto& registry = obs::MetricsRegistry::Default();
  EXPECT_THAT(registry.RenderPrometheus(), HasSubstr("streamadmin_auth_denied_calls_total{code=\"UNAUTHENTICATED\"}"));
  EXPECT_THAT(registry.RenderPrometheus(),
              HasSubstr("streamadmin_auth_denied_calls_total{code=\"PERMISSION_DENIED\"}"));
  obs::Counter& unauthenticated =
      registry.GetCounter("streamadmin_auth_denied_calls_total", "", {{"code", "UNAUTHENTICATED"}});
  obs::Counter& denied =
      registry.GetCounter("streamadmin_auth_denied_calls_total", "", {{"code", "PERMISSION_DENIED"}});
  const double u0 = unauthenticated.Value(), d0 = denied.Value();
  std::vector<Denial> reported;
  enforcer_->SetDenialListener([&](const Denial& d) { reported.push_back(d); });
  for (const std::string& authorization : {std::string(""), Bearer({"control:read"})}) {
    Enforcer::Decision d = enforcer_->Check(kPause, authorization, kNow);
    ASSERT_NE(d.code, grpc::StatusCode::OK);
    enforcer_->ReportDenial(Denial{"test", kPause, "", "", d.code, d.message, "unknown", "", kNow});
  }
  EXPECT_EQ(reported.size(), 2u);
  EXPECT_EQ(unauthenticated.Value() - u0, 1.0);
  EXPECT_EQ(denied.Value() - d0, 1.0);
}

TEST(EnforcerConfig, ModeNoneAllowsEverythingAndBadKeysAreRefused) {
  streamadmin::config::v1::ServerConfig s;
  auto none = Enforcer::Create(s, nullptr, "x");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE((*none)->enabled());
  EXPECT_EQ((*none)->Check(kPause, "", kNow).code, grpc::StatusCode::OK);
  s.mutable_auth()->set_mode("token");
  s.mutable_auth()->set_public_key("not-a-key");
  EXPECT_FALSE(Enforcer::Create(s, nullptr, "x").ok());
  s.mutable_auth()->set_mode("tokens");
  EXPECT_FALSE(Enforcer::Create(s, nullptr, "x").ok());
}

TEST(AuditWire, DenialsAndCallRecordsRoundTripAndMalformedOnesAreDropped) {
  Denial d{"normalizer", "/m", "u1", "ann", grpc::StatusCode::PERMISSION_DENIED, "no", "unknown", "203.0.113.9", 7};
  auto back = DecodeDenial(EncodeDenial(d));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(std::tie(back->service, back->method, back->subject, back->username, back->code, back->reason, back->peer,
                     back->forwarded, back->time_us),
            std::tie(d.service, d.method, d.subject, d.username, d.code, d.reason, d.peer, d.forwarded, d.time_us));
  CallRecord r{"ingest", "/p", "src", "u2", "bob", grpc::StatusCode::OK, "", "ipv4:127.0.0.1:1", 9};
  auto rb = DecodeCallRecord(EncodeCallRecord(r));
  ASSERT_TRUE(rb.has_value());
  EXPECT_EQ(std::tie(rb->service, rb->method, rb->target, rb->subject, rb->username, rb->code, rb->peer, rb->time_us),
            std::tie(r.service, r.method, r.target, r.subject, r.username, r.code, r.peer, r.time_us));
  // Invalid UTF-8 from a client does not throw when encoded.
  d.forwarded = "\xff\xfe";
  EXPECT_TRUE(DecodeDenial(EncodeDenial(d)).has_value());
  EXPECT_FALSE(DecodeDenial(R"({"code":"not a number"})").has_value());
  EXPECT_FALSE(DecodeCallRecord(R"({"name":42})").has_value());
  EXPECT_FALSE(DecodeCallRecord("[]").has_value());
}

TEST(Revocations, AnIssuedBeforeBoundSparesTokensIssuedLater) {
  RevocationList list;
  Claims old_token{"u1", "ann", "t1", "", /*iat_us=*/100, /*exp_us=*/5000, {}};
  Claims new_token{"u1", "ann", "t2", "", /*iat_us=*/300, /*exp_us=*/5000, {}};
  list.Add({"sub", "u1", 4000, /*issued_before_us=*/200});
  EXPECT_TRUE(list.IsRevoked(old_token, 150));
  EXPECT_FALSE(list.IsRevoked(new_token, 350));
  // A later bound (a second reset) covers the newer token too; merging keeps the later one.
  list.Add({"sub", "u1", 1000, 400});
  EXPECT_TRUE(list.IsRevoked(new_token, 450));
  EXPECT_EQ(list.Active(450).at(0).issued_before_us, 400);
  EXPECT_EQ(list.Active(450).at(0).until_us, 4000);
  // No bound (0): every token of the user, whenever issued.
  list.Add({"sub", "u1", 4000, 0});
  Claims newest{"u1", "ann", "t3", "", 3000, 5000, {}};
  EXPECT_TRUE(list.IsRevoked(newest, 3100));
  EXPECT_FALSE(list.IsRevoked(newest, 4000)) << "the entry ends with the last token it covers";
}

// [6].13: only a revocation signed by the admin's key is one.
TEST(Revocations, OnlyTheAdminsSignatureMakesARevocation) {
  KeyPair admin = GenerateKeyPair(), other = GenerateKeyPair();
  Revocation r{"sub", "u1", 42, 7};
  RevocationCheck ok = VerifyRevocation(SignRevocation(r, admin.secret_key), admin.public_key);
  ASSERT_TRUE(ok.revocation.has_value()) << ok.rejected;
  EXPECT_EQ(ok.revocation->id, "u1");
  EXPECT_EQ(ok.revocation->issued_before_us, 7);
  EXPECT_EQ(VerifyRevocation(EncodeRevocation(r), admin.public_key).rejected, "unsigned");
  EXPECT_EQ(VerifyRevocation(SignRevocation(r, other.secret_key), admin.public_key).rejected, "bad_signature");
  // Another revocation under a valid signature.
  std::string signed_r = SignRevocation(r, admin.secret_key);
  std::string tampered =
      absl::StrCat("sarv1.", Base64Url(EncodeRevocation({"sub", "u2", 42, 7})), signed_r.substr(signed_r.rfind('.')));
  EXPECT_EQ(VerifyRevocation(tampered, admin.public_key).rejected, "bad_signature");
  // An access token's signature is not a revocation's.
  std::string token = IssueToken({"u1", "ann", "t1", "", 1, 2, {}}, admin.secret_key);
  EXPECT_EQ(VerifyRevocation(token, admin.public_key).rejected, "unsigned");
  // Signed, but not a revocation.
  std::string junk = absl::StrCat("sarv1.", Base64Url("[1]"));
  EXPECT_EQ(
      VerifyRevocation(absl::StrCat(junk, ".", Base64Url(Sign(junk, admin.secret_key))), admin.public_key).rejected,
      "malformed");
  EXPECT_EQ(VerifyRevocation("", admin.public_key).rejected, "unsigned");
}

TEST(Revocations, RoundTripOnTheWireAndRejectUnknownKinds) {
  auto bounded = DecodeRevocation(EncodeRevocation({"sub", "u1", 42, 7}));
  ASSERT_TRUE(bounded.has_value());
  EXPECT_EQ(bounded->issued_before_us, 7);
  EXPECT_FALSE(DecodeRevocation(R"({"kind":"sub","id":"x","until_us":1,"issued_before_us":"soon"})").has_value());
  auto r = DecodeRevocation(EncodeRevocation({"jti", "t1", 42}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->id, "t1");
  EXPECT_EQ(r->until_us, 42);
  EXPECT_FALSE(DecodeRevocation(R"({"kind":"all","id":"x","until_us":1})").has_value());
  EXPECT_FALSE(DecodeRevocation("not json").has_value());
}

}  // namespace
}  // namespace sa::auth
