// The admin.v1 gRPC services (Users, Roles, ApiKeys, Auth, Audit, NatsAccess)
// over the Store, and the audit interceptor that records every mutating call.
//
// Authorization happened before a handler runs (libs/auth Enforcer); handlers
// validate input and act. Threading: handlers run on gRPC's pool; AdminCore
// is thread-safe (the Store serialises database access).
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/store.h"
#include "auth/enforcer.h"
#include "auth/nkeys.h"
#include "auth/revocations.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "streamadmin/config/v1/config.pb.h"

namespace sa::admin {

struct AdminOptions {
  std::string signing_secret_key;  // 64-byte Ed25519 secret key; empty: cannot issue tokens
  int64_t access_ttl_s = 300;
  int64_t refresh_ttl_s = 86400;
  int lockout_threshold = 20;
  int64_t lockout_s = 900;
  int slowdown_after = 5;
  int64_t slowdown_step_ms = 50;
  std::optional<auth::nkeys::NKey> nats_operator;
  std::optional<auth::nkeys::NKey> nats_account;
  int64_t user_jwt_ttl_s = 86400;
};

// Resolves the admin config into options (decoding keys); errors name the key.
absl::StatusOr<AdminOptions> OptionsFromConfig(const streamadmin::config::v1::AdminConfig& config);

class AdminCore {
 public:
  // publish: sends a core NATS message (revocations); may fail while disconnected.
  AdminCore(Store* store, AdminOptions options,
            std::function<absl::Status(const std::string&, const std::string&)> publish);

  void SetEnforcer(auth::Enforcer* enforcer) { enforcer_ = enforcer; }
  // Who made the call (not authenticated when auth mode is none).
  auth::Caller CallerOf(const grpc::ServerContextBase& context) {
    return enforcer_ ? enforcer_->CallerOf(context) : auth::Caller{};
  }
  Store& store() { return *store_; }
  const AdminOptions& options() const { return options_; }

  // Takes effect in this process at once and is published to every service.
  void Revoke(const auth::Revocation& r);
  void RepublishRevocations();
  void Audit(const std::string& actor, const std::string& action, const std::string& resource, const std::string& peer,
             const std::string& outcome, const std::string& detail);

  absl::StatusOr<streamadmin::admin::v1::TokenResponse> IssueTokens(const UserRecord& user, const std::string& key_id,
                                                                    bool with_refresh);
  absl::StatusOr<std::vector<std::string>> PermissionsOf(const std::string& user_id);
  absl::StatusOr<streamadmin::admin::v1::GetCredentialsResponse> NatsCredentials(const UserRecord& user, int64_t ttl_s);
  // Creates `username` with the admin role when the database has no user yet.
  absl::StatusOr<bool> Bootstrap(const std::string& username, const std::string& password);

  const std::string& dummy_hash() const { return dummy_hash_; }

 private:
  Store* store_;
  AdminOptions options_;
  std::function<absl::Status(const std::string&, const std::string&)> publish_;
  auth::Enforcer* enforcer_ = nullptr;
  auth::RevocationList local_;  // when no enforcer (auth mode none)
  std::string dummy_hash_;      // verified against for unknown users (same cost as a real check)
};

// All six services; register services() with the gRPC server.
class AdminServices {
 public:
  explicit AdminServices(AdminCore* core);
  ~AdminServices();
  std::vector<grpc::Service*> services();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Records every mutating admin call (method declared with a non-read
// permission, auth/permissions.h) in the audit log with the caller, the
// peer address, the target named in the request and the outcome.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeAuditInterceptorFactory(AdminCore* core);

}  // namespace sa::admin
