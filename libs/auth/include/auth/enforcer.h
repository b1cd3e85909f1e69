// Enforcer: authentication and authorization of every gRPC call of a service,
// decided in one place.
//
// It plugs into the gRPC server as the credentials' auth metadata processor,
// gRPC's hook that runs for every incoming call *before* it is dispatched to
// a handler, with the method path and the request metadata: a call without a
// valid token gets UNAUTHENTICATED, one whose token lacks the permission the
// method needs (auth/permissions.h) gets PERMISSION_DENIED naming it, and the
// handler never runs. (C++ server interceptors cannot reject a call before
// its handler runs; this hook can.) Tokens are verified locally with the
// admin's public key; verified tokens are cached (bounded) so a repeated
// token costs a hash lookup, not a signature check; expiry and revocations
// are checked on every call.
//
// Threading: Check() and the processor run on gRPC threads concurrently;
// everything here is thread-safe. The Enforcer must outlive the gRPC server
// built with Credentials().
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/revocations.h"
#include "auth/token.h"
#include "streamadmin/config/v1/config.pb.h"
#include "wire/subjects.h"

namespace sa::bus {
class Connection;
class Subscription;
}  // namespace sa::bus

namespace sa::auth {

// A call that was refused, for the audit log.
struct Denial {
  std::string service;
  std::string method;
  std::string subject;  // user id when the token was valid
  std::string username;
  grpc::StatusCode code;
  std::string reason;
  // gRPC gives the auth processor no peer address, so a refused call's peer is
  // unknown; what the client claims is kept apart, never taken for the peer.
  std::string peer;       // "unknown" (refused before dispatch)
  std::string forwarded;  // the client-sent x-forwarded-for, unverified (empty: none)
  int64_t time_us = 0;
};

// A call that reached its handler and changes state (IsMutating), whatever
// its outcome, for the audit log. Services publish it on
// sa.audit.call.<service>; the admin stores it.
struct CallRecord {
  std::string service;
  std::string method;
  std::string target;    // what the request names ("username", "name", "id", "source"...), may be empty
  std::string subject;   // user id ("" when auth is off)
  std::string username;  // "anonymous" when auth is off or no token
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;  // the status message when not OK (first 512 bytes)
  std::string peer;     // Enforcer::PeerOf
  int64_t time_us = 0;
};

// The authenticated caller of a call, as seen by a handler (Enforcer::CallerOf).
struct Caller {
  bool authenticated = false;  // false when auth mode is none
  std::string sub;
  std::string name;
  std::string jti;
  std::string key_id;
  std::vector<std::string> perms;  // what the token grants
};
inline constexpr const auto& kDenialSubjectPrefix = wire::kAuditDeniedPrefix;
inline constexpr const auto& kCallSubjectPrefix = wire::kAuditCallPrefix;

// The JSON of a Denial on sa.audit.denied.<service> and of a CallRecord on
// sa.audit.call.<service>. Decoding: nullopt when not an object or a field has
// the wrong type; missing fields stay empty.
std::string EncodeDenial(const Denial& d);
std::optional<Denial> DecodeDenial(absl::string_view json);
std::string EncodeCallRecord(const CallRecord& r);
std::optional<CallRecord> DecodeCallRecord(absl::string_view json);

class Enforcer {
 public:
  struct Decision {
    grpc::StatusCode code = grpc::StatusCode::OK;
    std::string message;
    std::shared_ptr<const Claims> claims;  // set when the token was valid
  };

  // From server.auth and server.tls. When auth mode is token and `nats` names
  // servers, revocations are received on NATS and denials are published there
  // (sa.audit.denied.<service>) for the admin's audit log.
  static absl::StatusOr<std::unique_ptr<Enforcer>> Create(const streamadmin::config::v1::ServerConfig& server,
                                                          const streamadmin::config::v1::NatsConfig* nats,
                                                          const std::string& service);
  ~Enforcer();

  bool enabled() const { return enabled_; }
  // gRPC listener credentials: TLS per server.tls, with this enforcer as the
  // auth processor when enabled. Null when neither (plain insecure).
  std::shared_ptr<grpc::ServerCredentials> Credentials();

  // The decision for one call. authorization: the "authorization" metadata value.
  Decision Check(absl::string_view method, absl::string_view authorization, int64_t now_us);

  // The caller of a call that passed Check(), from its "authorization"
  // metadata (a cache hit). Not authenticated when auth is off or no valid
  // token was sent. (Not kept in the gRPC auth context: that one is shared
  // by every call of a connection.)
  Caller CallerOf(const grpc::ServerContextBase& context);

  // Where a call came from: the connection's address (grpc "ipv4:a.b.c.d:port"),
  // or "<x-forwarded-for> via <address>" when that address is one of
  // server.auth.trusted_proxies. A header from anyone else is ignored.
  std::string PeerOf(const grpc::ServerContextBase& context) const;

  RevocationList& revocations() { return revocations_; }
  // Called for every refused call (from gRPC threads). Replaces the default
  // (publish on NATS when connected).
  void SetDenialListener(std::function<void(const Denial&)> listener);
  void ReportDenial(Denial d);

  // Records every mutating call that reached its handler (ReportCall at its
  // end); installed by libs/runtime on every service, auth on or off.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeCallAuditInterceptorFactory();
  // Called for every audited call (from gRPC threads). Replaces the default
  // (publish on sa.audit.call.<service> when connected).
  void SetCallListener(std::function<void(const CallRecord&)> listener);
  void ReportCall(const CallRecord& record);

  const std::string& service() const { return service_; }

 private:
  Enforcer() = default;
  std::shared_ptr<const Claims> CachedVerify(absl::string_view token, int64_t now_us, absl::Status* error);

  std::string service_;
  bool enabled_ = false;
  std::unique_ptr<TokenVerifier> verifier_;
  RevocationList revocations_;
  streamadmin::config::v1::GrpcTlsConfig tls_;

  std::shared_mutex cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<const Claims>> cache_;

  std::vector<std::string> trusted_proxies_;

  std::mutex listener_mu_;
  std::function<void(const Denial&)> listener_;
  std::function<void(const CallRecord&)> call_listener_;

  std::unique_ptr<bus::Connection> nats_;
  std::unique_ptr<bus::Subscription> revocation_sub_;
};

}  // namespace sa::auth
