#include "auth/enforcer.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpc/grpc_security.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "auth/crypto.h"
#include "auth/permissions.h"
#include "bus/connection.h"
#include "common/clock.h"
#include "observability/grpc_server.h"
#include "observability/metrics.h"

namespace sa::auth {
namespace {

namespace cfg = streamadmin::config::v1;

constexpr size_t kMaxCachedTokens = 10000;

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("key '", key, "': cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::string_view SliceView(const grpc_slice& s) {
  return absl::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(s)), GRPC_SLICE_LENGTH(s));
}

// streamadmin_auth_denied_calls_total{code}: calls refused before dispatch, by
// UNAUTHENTICATED (no, bad, expired or revoked token) or PERMISSION_DENIED. Both
// series exist from Enforcer::Create on, at 0, so increase() counts the first refusal.
obs::Counter& DeniedCalls(grpc::StatusCode code) {
  constexpr char kName[] = "streamadmin_auth_denied_calls_total";
  constexpr char kHelp[] = "gRPC calls refused before dispatch, by status code";
  static obs::Counter& unauthenticated =
      obs::MetricsRegistry::Default().GetCounter(kName, kHelp, {{"code", "UNAUTHENTICATED"}});
  static obs::Counter& permission_denied =
      obs::MetricsRegistry::Default().GetCounter(kName, kHelp, {{"code", "PERMISSION_DENIED"}});
  return code == grpc::StatusCode::PERMISSION_DENIED ? permission_denied : unauthenticated;
}

// The processor callback: runs on a gRPC thread for every call, before dispatch.
// `context` is the connection's auth context (shared by its calls): nothing per call goes there.
void Process(void* state, grpc_auth_context* /*context*/, const grpc_metadata* md, size_t num_md,
             grpc_process_auth_metadata_done_cb cb, void* user_data) {
  auto* self = static_cast<Enforcer*>(state);
  absl::string_view path, authorization, forwarded, agent;  // agent: kept for debugging only
  for (size_t i = 0; i < num_md; ++i) {
    absl::string_view k = SliceView(md[i].key);
    if (k == ":path")
      path = SliceView(md[i].value);
    else if (k == "authorization")
      authorization = SliceView(md[i].value);
    else if (k == "x-forwarded-for")
      forwarded = SliceView(md[i].value);
    else if (k == "user-agent")
      agent = SliceView(md[i].value);
  }
  int64_t now = NowUnixMicros();
  Enforcer::Decision d = self->Check(path, authorization, now);
  if (d.code == grpc::StatusCode::OK) {
    cb(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_OK, nullptr);
    return;
  }
  (void)agent;
  Denial denial{self->service(),
                std::string(path),
                d.claims ? d.claims->sub : "",
                d.claims ? d.claims->name : "",
                d.code,
                d.message,
                "unknown",
                std::string(forwarded.substr(0, 256)),
                now};
  self->ReportDenial(std::move(denial));
  cb(user_data, nullptr, 0, nullptr, 0, static_cast<grpc_status_code>(d.code), d.message.c_str());
}

// ServerCredentials around a core grpc_server_credentials (insecure or TLS)
// carrying our processor. (grpc++'s InsecureServerCredentials() refuses a
// processor; the core credentials accept one.)
class ProcessingServerCredentials final : public grpc::ServerCredentials {
 public:
  ProcessingServerCredentials(grpc_server_credentials* creds, Enforcer* enforcer) : creds_(creds) {
    if (enforcer) grpc_server_credentials_set_auth_metadata_processor(creds_, {Process, nullptr, enforcer});
  }
  ~ProcessingServerCredentials() override { grpc_server_credentials_release(creds_); }
  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    std::abort();  // the processor is the Enforcer; a second one would bypass it
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }
  grpc_server_credentials* creds_;
};

// The target a request names, for the audit log: its first non-empty field
// among these names, looking into these sub-messages.
std::string TargetOf(const google::protobuf::Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (const char* name : {"username", "name", "id", "table", "model_id"}) {
    if (const auto* f = d->FindFieldByName(name);
        f && f->type() == google::protobuf::FieldDescriptor::TYPE_STRING && !f->is_repeated()) {
      std::string v = r->GetString(m, f);
      if (!v.empty()) return v.substr(0, 256);
    }
  }
  for (const char* name : {"role", "source"}) {
    if (const auto* f = d->FindFieldByName(name);
        f && f->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE && !f->is_repeated() && r->HasField(m, f))
      return TargetOf(r->GetMessage(m, f));
  }
  return "";
}

class CallAuditInterceptor final : public grpc::experimental::Interceptor {
 public:
  CallAuditInterceptor(Enforcer* enforcer, grpc::experimental::ServerRpcInfo* info)
      : enforcer_(enforcer), info_(info) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      // Sync and callback unary handlers: the request is the generated message type.
      if (void* msg = methods->GetRecvMessage()) target_ = TargetOf(*static_cast<google::protobuf::Message*>(msg));
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status st = methods->GetSendStatus();
      auto* ctx = info_->server_context();
      Caller c = enforcer_->CallerOf(*ctx);
      CallRecord rec;
      rec.service = enforcer_->service();
      rec.method = info_->method();
      rec.target = target_;
      rec.subject = c.sub;
      rec.username = c.authenticated ? c.name : "anonymous";
      rec.code = st.error_code();
      if (!st.ok()) rec.message = st.error_message().substr(0, 512);
      rec.peer = enforcer_->PeerOf(*ctx);
      rec.time_us = NowUnixMicros();
      enforcer_->ReportCall(rec);
    }
    methods->Proceed();
  }

 private:
  Enforcer* enforcer_;
  grpc::experimental::ServerRpcInfo* info_;
  std::string target_;
};

class CallAuditInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit CallAuditInterceptorFactory(Enforcer* enforcer) : enforcer_(enforcer) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    if (!IsMutating(info->method())) return nullptr;
    return new CallAuditInterceptor(enforcer_, info);
  }

 private:
  Enforcer* enforcer_;
};

// "ipv4:127.0.0.1:5000" -> "127.0.0.1"; "ipv6:[::1]:5000" -> "::1"; else as is.
std::string AddressOf(const std::string& peer) {
  absl::string_view p = peer;
  if (absl::ConsumePrefix(&p, "ipv4:")) return std::string(p.substr(0, p.rfind(':')));
  if (absl::ConsumePrefix(&p, "ipv6:")) {
    if (absl::ConsumePrefix(&p, "[")) return std::string(p.substr(0, p.find(']')));
    return std::string(p);
  }
  return peer;
}

// JSON that never throws on text a client sent (invalid UTF-8 is replaced).
std::string Dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// The fields Denial and CallRecord share, read from a wire message.
template <typename T>
void DecodeCommon(const nlohmann::json& j, T* out) {
  out->service = j.value("service", "");
  out->method = j.value("method", "");
  out->subject = j.value("sub", "");
  out->username = j.value("name", "");
  out->code = static_cast<grpc::StatusCode>(j.value("code", static_cast<int>(grpc::StatusCode::UNKNOWN)));
  out->peer = j.value("peer", "");
  out->time_us = j.value("time_us", int64_t{0});
}

// A wire message as a T (Denial, CallRecord): the common fields, then its own
// (`decode_own`); nullopt when it is not a JSON object or a field has the
// wrong type.
template <typename T, typename DecodeOwn>
std::optional<T> DecodeRecord(absl::string_view json, DecodeOwn decode_own) {
  auto j = nlohmann::json::parse(std::string_view(json.data(), json.size()), nullptr, false);
  if (!j.is_object()) return std::nullopt;
  try {
    T out;
    DecodeCommon(j, &out);
    decode_own(j, out);
    return out;
  } catch (const nlohmann::json::exception&) {  // a field of the wrong type
    return std::nullopt;
  }
}

}  // namespace

std::string EncodeDenial(const Denial& d) {
  return Dump({{"service", d.service},
               {"method", d.method},
               {"sub", d.subject},
               {"name", d.username},
               {"code", static_cast<int>(d.code)},
               {"reason", d.reason},
               {"peer", d.peer},
               {"forwarded", d.forwarded},
               {"time_us", d.time_us}});
}

std::optional<Denial> DecodeDenial(absl::string_view json) {
  return DecodeRecord<Denial>(json, [](const nlohmann::json& j, Denial& d) {
    d.reason = j.value("reason", "");
    d.forwarded = j.value("forwarded", "");
  });
}

std::string EncodeCallRecord(const CallRecord& r) {
  return Dump({{"service", r.service},
               {"method", r.method},
               {"target", r.target},
               {"sub", r.subject},
               {"name", r.username},
               {"code", static_cast<int>(r.code)},
               {"message", r.message},
               {"peer", r.peer},
               {"time_us", r.time_us}});
}

std::optional<CallRecord> DecodeCallRecord(absl::string_view json) {
  return DecodeRecord<CallRecord>(json, [](const nlohmann::json& j, CallRecord& r) {
    r.target = j.value("target", "");
    r.message = j.value("message", "");
  });
}

std::string Enforcer::PeerOf(const grpc::ServerContextBase& context) const {
  std::string peer = context.peer();
  if (trusted_proxies_.empty()) return peer;
  std::string address = AddressOf(peer);
  if (std::find(trusted_proxies_.begin(), trusted_proxies_.end(), address) == trusted_proxies_.end()) return peer;
  const auto& md = context.client_metadata();
  auto it = md.find("x-forwarded-for");
  if (it == md.end()) return peer;
  return absl::StrCat(absl::string_view(it->second.data(), std::min<size_t>(it->second.size(), 256)), " via ", peer);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> Enforcer::MakeCallAuditInterceptorFactory() {
  return std::make_unique<CallAuditInterceptorFactory>(this);
}

void Enforcer::SetCallListener(std::function<void(const CallRecord&)> listener) {
  std::lock_guard lock(listener_mu_);
  call_listener_ = std::move(listener);
}

void Enforcer::ReportCall(const CallRecord& r) {
  std::function<void(const CallRecord&)> listener;
  {
    std::lock_guard lock(listener_mu_);
    listener = call_listener_;
  }
  if (listener) {
    listener(r);
    return;
  }
  spdlog::info("audit: {} {} target '{}' by '{}' from {}: {}", r.service, r.method, r.target, r.username, r.peer,
               obs::GrpcCodeName(r.code));
  if (nats_ && nats_->IsConnected()) {
    (void)nats_->Publish(absl::StrCat(kCallSubjectPrefix, service_), EncodeCallRecord(r));
  }
}

Caller Enforcer::CallerOf(const grpc::ServerContextBase& context) {
  Caller c;
  if (!enabled_) return c;
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return c;
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::StartsWithIgnoreCase(value, "bearer ")) return c;
  absl::Status error;
  int64_t now = NowUnixMicros();
  auto claims = CachedVerify(absl::StripAsciiWhitespace(value.substr(7)), now, &error);
  if (!claims || revocations_.IsRevoked(*claims, now)) return c;
  c.authenticated = true;
  c.sub = claims->sub;
  c.name = claims->name;
  c.jti = claims->jti;
  c.key_id = claims->key_id;
  c.perms = claims->perms;
  return c;
}

absl::StatusOr<std::unique_ptr<Enforcer>> Enforcer::Create(const cfg::ServerConfig& server, const cfg::NatsConfig* nats,
                                                           const std::string& service) {
  std::unique_ptr<Enforcer> self(new Enforcer());
  (void)DeniedCalls(grpc::StatusCode::OK);  // registers the series
  self->service_ = service;
  self->tls_ = server.tls();
  const auto& a = server.auth();
  self->trusted_proxies_.assign(a.trusted_proxies().begin(), a.trusted_proxies().end());
  if (a.mode().empty() || a.mode() == "none") return self;
  if (a.mode() != "token")
    return absl::InvalidArgumentError(absl::StrCat("key 'server.auth.mode': '", a.mode(), "' is not none or token"));
  std::string key_text = a.public_key();
  if (key_text.empty() && !a.public_key_file().empty()) {
    auto f = ReadFile(a.public_key_file(), "server.auth.public_key_file");
    if (!f.ok()) return f.status();
    key_text = std::string(absl::StripAsciiWhitespace(*f));
  }
  auto key = FromBase64(key_text);
  if (!key.ok() || key->size() != 32)
    return absl::InvalidArgumentError(
        "key 'server.auth.public_key': mode token needs the admin's base64 Ed25519 public key (32 bytes)");
  self->enabled_ = true;
  self->verifier_ = std::make_unique<TokenVerifier>(*key);

  if (nats && !nats->servers().empty()) {
    cfg::NatsConfig nc = *nats;
    nc.set_name(absl::StrCat(nats->name().empty() ? service : nats->name(), "-auth"));
    auto conn = bus::Connection::Connect(nc);
    if (!conn.ok()) return conn.status();
    self->nats_ = std::move(*conn);
    std::string subject = a.revocation_subject().empty() ? kDefaultRevocationSubject : a.revocation_subject();
    Enforcer* raw = self.get();
    auto sub = self->nats_->Subscribe(subject, [raw, key = *key](const bus::InboundMessage& m) {
      RevocationCheck check = VerifyRevocation(m.data, key);
      if (check.revocation) {
        raw->revocations_.Add(*check.revocation);
        return;
      }
      // Only the admin's signature makes a revocation: anything else on the
      // subject is a forgery or a mistake, never acted on.
      obs::MetricsRegistry::Default()
          .GetCounter("streamadmin_auth_revocations_rejected_total",
                      "Messages on the revocation subject refused: "
                      "unsigned, bad_signature, malformed",
                      {{"reason", check.rejected}})
          .Inc();
      spdlog::warn(
          "auth: message on {} ignored ({}: not a revocation "
          "signed by the admin's key), {} bytes",
          m.subject, check.rejected, m.data.size());
    });
    if (!sub.ok()) return sub.status();
    self->revocation_sub_ = std::move(*sub);
  }
  return self;
}

Enforcer::~Enforcer() {
  revocation_sub_.reset();
  if (nats_) nats_->Close();
}

std::shared_ptr<grpc::ServerCredentials> Enforcer::Credentials() {
  grpc_server_credentials* core = nullptr;
  if (tls_.enabled()) {
    auto cert = ReadFile(tls_.cert_file(), "server.tls.cert_file");
    auto key = ReadFile(tls_.key_file(), "server.tls.key_file");
    if (!cert.ok() || !key.ok()) {
      spdlog::critical("gRPC TLS: {}", std::string((cert.ok() ? key.status() : cert.status()).message()));
      return nullptr;
    }
    std::string ca;
    if (!tls_.client_ca_file().empty()) {
      auto c = ReadFile(tls_.client_ca_file(), "server.tls.client_ca_file");
      if (!c.ok()) {
        spdlog::critical("gRPC TLS: {}", std::string(c.status().message()));
        return nullptr;
      }
      ca = *c;
    }
    grpc_ssl_pem_key_cert_pair pair{key->c_str(), cert->c_str()};
    grpc_ssl_client_certificate_request_type req = ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                                                   : tls_.require_client_cert()
                                                       ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                                       : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    core = grpc_ssl_server_credentials_create_ex(ca.empty() ? nullptr : ca.c_str(), &pair, 1, req, nullptr);
  } else if (enabled_) {
    core = grpc_insecure_server_credentials_create();
  } else {
    return nullptr;
  }
  return std::make_shared<ProcessingServerCredentials>(core, enabled_ ? this : nullptr);
}

std::shared_ptr<const Claims> Enforcer::CachedVerify(absl::string_view token, int64_t now_us, absl::Status* error) {
  std::string key(token);
  {
    std::shared_lock lock(cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      if (it->second->exp_us <= now_us) {
        *error = absl::UnauthenticatedError("access token expired");
        return nullptr;
      }
      return it->second;
    }
  }
  auto c = verifier_->Verify(token, now_us);
  if (!c.ok()) {
    *error = c.status();
    return nullptr;
  }
  auto claims = std::make_shared<const Claims>(std::move(*c));
  std::unique_lock lock(cache_mu_);
  if (cache_.size() >= kMaxCachedTokens) cache_.clear();
  cache_.emplace(std::move(key), claims);
  return claims;
}

Enforcer::Decision Enforcer::Check(absl::string_view method, absl::string_view authorization, int64_t now_us) {
  Decision d;
  absl::string_view need = RequiredPermission(method);
  if (!enabled_ || need == kOpen) return d;
  if (authorization.empty()) {
    d.code = grpc::StatusCode::UNAUTHENTICATED;
    d.message = "no access token (send 'authorization: Bearer <token>'; get one from admin.v1.Auth/Login)";
    return d;
  }
  if (!absl::StartsWithIgnoreCase(authorization, "bearer ")) {
    d.code = grpc::StatusCode::UNAUTHENTICATED;
    d.message = "authorization is not 'Bearer <token>'";
    return d;
  }
  absl::Status error;
  auto claims = CachedVerify(absl::StripAsciiWhitespace(authorization.substr(7)), now_us, &error);
  if (!claims) {
    d.code = grpc::StatusCode::UNAUTHENTICATED;
    d.message = std::string(error.message());
    return d;
  }
  d.claims = claims;
  if (revocations_.IsRevoked(*claims, now_us)) {
    d.code = grpc::StatusCode::UNAUTHENTICATED;
    d.message = "access token revoked (logged out, user removed or API key revoked)";
    return d;
  }
  if (need != kAuthenticated && !Allows(claims->perms, need)) {
    d.code = grpc::StatusCode::PERMISSION_DENIED;
    d.message = absl::StrCat("permission '", need, "' needed for ", method, " (user '", claims->name, "')");
  }
  return d;
}

void Enforcer::SetDenialListener(std::function<void(const Denial&)> listener) {
  std::lock_guard lock(listener_mu_);
  listener_ = std::move(listener);
}

void Enforcer::ReportDenial(Denial d) {
  DeniedCalls(d.code).Inc();
  spdlog::warn("gRPC call refused: {} {} user '{}': {}", d.method, obs::GrpcCodeName(d.code), d.username, d.reason);
  std::function<void(const Denial&)> listener;
  {
    std::lock_guard lock(listener_mu_);
    listener = listener_;
  }
  if (listener) {
    listener(d);
    return;
  }
  if (nats_ && nats_->IsConnected()) {
    (void)nats_->Publish(absl::StrCat(kDenialSubjectPrefix, service_), EncodeDenial(d));
  }
}

}  // namespace sa::auth
