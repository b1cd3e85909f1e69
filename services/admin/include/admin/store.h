// The admin service's PostgreSQL store: users, roles, role bindings, API keys,
// refresh tokens and the append-only audit log. Schema migrations are
// versioned in src/migrations.cc and applied on first connection.
//
// Every query is parameterised (exec_params / prepared statements): no value
// is ever spliced into SQL text. Text is stored verbatim.
//
// Threading: thread-safe; one connection serialised by a mutex (the admin is
// not on a hot path). A lost connection is re-opened on the next call.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "streamadmin/admin/v1/admin.pb.h"

namespace sa::admin {

struct UserRecord {
  streamadmin::admin::v1::User user;
  std::string password_hash;
  int failed_logins = 0;
};

struct ApiKeyRecord {
  streamadmin::admin::v1::ApiKey key;
  std::string hash;
};

struct RefreshRecord {
  std::string id;
  std::string user_id;
  std::string hash;
  int64_t expires_at_us = 0;
  bool revoked = false;
};

struct AuditFilter {
  std::string actor;
  std::string action;
  int64_t since_us = 0;
  int limit = 100;
};

class Store {
 public:
  explicit Store(std::string dsn);
  ~Store();

  // Connects and migrates when not connected yet.
  absl::Status Connect();
  // Highest applied migration.
  absl::StatusOr<int> SchemaVersion();

  // Users (by username). NotFound / AlreadyExists as usual.
  absl::StatusOr<UserRecord> CreateUser(const std::string& id, const std::string& username,
                                        const std::string& display_name, const std::string& password_hash,
                                        const std::vector<std::string>& roles, int64_t now_us);
  absl::StatusOr<UserRecord> FindUser(const std::string& username);
  absl::StatusOr<UserRecord> FindUserById(const std::string& id);
  absl::StatusOr<std::vector<streamadmin::admin::v1::User>> ListUsers();
  absl::StatusOr<UserRecord> UpdateUser(const std::string& username, const std::string& display_name, bool disabled);
  absl::StatusOr<UserRecord> SetUserRoles(const std::string& username, const std::vector<std::string>& roles);
  absl::Status SetPasswordHash(const std::string& username, const std::string& hash);
  // Returns the deleted user's id.
  absl::StatusOr<std::string> DeleteUser(const std::string& username);
  absl::StatusOr<int64_t> CountUsers();
  // One more failed login; locks until `lock_until_us` when it reaches `threshold`.
  // Returns the failure count after it.
  absl::StatusOr<int> RecordLoginFailure(const std::string& user_id, int threshold, int64_t lock_until_us);
  absl::Status ResetLoginFailures(const std::string& user_id);

  // Roles.
  absl::Status PutRole(const streamadmin::admin::v1::Role& role);
  absl::StatusOr<std::vector<streamadmin::admin::v1::Role>> ListRoles();
  absl::StatusOr<std::vector<streamadmin::admin::v1::Role>> RolesOf(const std::string& user_id);
  absl::Status DeleteRole(const std::string& name);

  // API keys.
  absl::Status CreateApiKey(const ApiKeyRecord& key);
  absl::StatusOr<ApiKeyRecord> FindApiKey(const std::string& id);
  absl::StatusOr<std::vector<streamadmin::admin::v1::ApiKey>> ListApiKeys(const std::string& user_id);
  absl::Status RevokeApiKey(const std::string& id);

  // Refresh tokens.
  absl::Status CreateRefresh(const RefreshRecord& r);
  absl::StatusOr<RefreshRecord> FindRefresh(const std::string& id);
  absl::Status RevokeRefresh(const std::string& id);

  // Audit log: insert only (the table refuses UPDATE and DELETE).
  absl::Status AppendAudit(const streamadmin::admin::v1::AuditEntry& e);
  absl::StatusOr<std::vector<streamadmin::admin::v1::AuditEntry>> ListAudit(const AuditFilter& f);

 private:
  template <typename F>
  auto Run(const char* what, F&& f) -> decltype(f());
  absl::StatusOr<UserRecord> FindUserWhere(const char* column, const std::string& value);

  std::string dsn_;
  std::mutex mu_;
  struct Db;  // the pqxx connection
  std::unique_ptr<Db> db_;
};

}  // namespace sa::admin
