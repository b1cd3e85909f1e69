// The admin.v1 gRPC services (Users, Roles, ApiKeys, Auth, Audit, NatsAccess)
// over the Store. Mutating calls are audited by libs/auth's call-audit
// interceptor (every service has it); the admin stores its records directly
// (AdminCore::RecordCall) and those of the other services from NATS.
//
// Authorization happened before a handler runs (libs/auth Enforcer); handlers
// validate every name they are given (on every call, not only on create) and
// act. Threading: handlers run on gRPC's pool; AdminCore is thread-safe (the
// Store pools its connections; password hashing holds no database connection).
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <semaphore>
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
  // The system account nats-server needs for JetStream in operator mode,
  // derived from the operator seed (no users; nothing to configure).
  std::optional<auth::nkeys::NKey> nats_system_account;
  int64_t user_jwt_ttl_s = 86400;
  int64_t max_user_jwt_ttl_s = 86400;  // larger requests: INVALID_ARGUMENT
  int password_hash_concurrency = 1;
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
  // Where it came from (x-forwarded-for only from server.auth.trusted_proxies).
  std::string PeerOf(const grpc::ServerContextBase& context) {
    return enforcer_ ? enforcer_->PeerOf(context) : context.peer();
  }
  Store& store() { return *store_; }
  const AdminOptions& options() const { return options_; }

  // Stored in the database (kept across restarts), in force in this process
  // at once, and published to every service. An error: not stored (it is in
  // force here and published all the same, but would not survive a restart).
  absl::Status Revoke(const auth::Revocation& r);
  // Loads the stored revocations into force (at start, before serving) and
  // drops the expired ones from the database.
  absl::Status LoadRevocations();
  void RepublishRevocations();
  // Writes one audit entry. Every field goes through AuditSafe (control bytes
  // escaped, length bounded): what a client sent cannot hide or forge an entry.
  void Audit(const std::string& actor, const std::string& action, const std::string& resource, const std::string& peer,
             const std::string& outcome, const std::string& detail);
  // A mutating call of this or another service (auth/enforcer.h CallRecord).
  void RecordCall(const auth::CallRecord& r);

  // perms: the token's permissions; null: the user's roles' permissions.
  absl::StatusOr<streamadmin::admin::v1::TokenResponse> IssueTokens(const UserRecord& user, const std::string& key_id,
                                                                    bool with_refresh,
                                                                    const std::vector<std::string>* perms = nullptr);
  absl::StatusOr<std::vector<std::string>> PermissionsOf(const std::string& user_id);
  absl::StatusOr<streamadmin::admin::v1::GetCredentialsResponse> NatsCredentials(const UserRecord& user, int64_t ttl_s);
  // Creates `username` with the admin role when the database has no user yet.
  absl::StatusOr<bool> Bootstrap(const std::string& username, const std::string& password);

  const std::string& dummy_hash() const { return dummy_hash_; }
  // Argon2id, at most options().password_hash_concurrency at once (the rest
  // wait); never called with a database connection held.
  absl::StatusOr<std::string> HashPassword(const std::string& password);
  bool VerifyPassword(const std::string& hash, const std::string& password);

 private:
  Store* store_;
  AdminOptions options_;
  std::function<absl::Status(const std::string&, const std::string&)> publish_;
  auth::Enforcer* enforcer_ = nullptr;
  auth::RevocationList local_;  // when no enforcer (auth mode none)
  std::string dummy_hash_;      // verified against for unknown users (same cost as a real check)
  std::counting_semaphore<1024> hashing_;
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

}  // namespace sa::admin
