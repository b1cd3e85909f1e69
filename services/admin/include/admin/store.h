// The admin service's PostgreSQL store: users, roles, role bindings, API keys,
// refresh tokens and the append-only audit log. Schema migrations are
// versioned in src/migrations.cc and applied on first connection.
//
// Every query is parameterised (pg::Connection::Exec): no value is ever spliced into
// SQL text. Text is stored verbatim; a text parameter holding a NUL byte is
// refused with INVALID_ARGUMENT before it reaches libpq (which would cut the
// string at the NUL and match another row).
//
// Threading: thread-safe. Each call borrows one connection of a pool of
// `pool_size` (waiting while all are busy), so slow calls do not serialise the
// others. A lost connection is dropped and a new one opened on a later call.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/revocations.h"
#include "streamadmin/admin/v1/admin.pb.h"
#include "streamadmin/views/v1/views.pb.h"

namespace sa::admin {

struct UserRecord {
  streamadmin::admin::v1::User user;
  std::string password_hash;
  int failed_logins = 0;
};

struct ApiKeyRecord {
  streamadmin::admin::v1::ApiKey key;  // key.permissions: the key's own set
  std::string hash;
  // False for keys created before permission sets were stored (schema 3):
  // they carry their owner's permissions. CreateApiKey always stores a set.
  bool has_permissions = false;
};

// Failed logins under one attempted name, whether a user has it or not.
struct LoginFailures {
  int failures = 0;
  int64_t locked_until_us = 0;
};

struct RefreshRecord {
  std::string id;
  std::string user_id;
  std::string hash;
  int64_t expires_at_us = 0;
  bool revoked = false;
};

// A continuous view's definition as admin keeps it (the source of truth the
// views replicas' bucket is synchronised from).
struct ViewRecord {
  streamadmin::views::v1::ViewDefinition definition;
  std::string owner_id;  // the user the view runs as ("" when auth is off)
  bool dropped = false;
};

struct AuditFilter {
  std::string actor;
  std::string action;
  int64_t since_us = 0;
  int limit = 100;
};

class Store {
 public:
  explicit Store(std::string dsn, int pool_size = 4);
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
  // Also clears the name's failed logins. Returns the user's id.
  absl::StatusOr<std::string> SetPasswordHash(const std::string& username, const std::string& hash);
  // Returns the deleted user's id.
  absl::StatusOr<std::string> DeleteUser(const std::string& username);
  absl::StatusOr<int64_t> CountUsers();
  // Failed logins are counted per attempted username (valid names only), for
  // users and unknown names alike, so that neither the answer nor its delay
  // tells whether the user exists.
  absl::StatusOr<LoginFailures> LoginFailuresOf(const std::string& username);
  // One more failure; locks until `lock_until_us` when the count reaches
  // `threshold` (a lock in force is not extended). Returns the state after it.
  absl::StatusOr<LoginFailures> RecordLoginFailure(const std::string& username, int threshold, int64_t now_us,
                                                   int64_t lock_until_us);
  absl::Status ResetLoginFailures(const std::string& username);
  // Forgets names that failed last before `before_us` and are not locked.
  absl::Status PruneLoginFailures(int64_t before_us, int64_t now_us);

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
  // Uses the token once: in one statement, marks it used if it is unused,
  // unrevoked, unexpired at now_us and its hash is `hash`, and returns its
  // user id. NotFound otherwise (also for the second of two racing calls).
  absl::StatusOr<std::string> ConsumeRefresh(const std::string& id, const std::string& hash, int64_t now_us);
  // Every refresh token of the user stops working (password reset, disabled).
  absl::Status RevokeRefreshTokensOf(const std::string& user_id);

  // Revocations, kept until the last token they cover has expired.
  absl::Status SaveRevocation(const auth::Revocation& r);
  // The entries still in force at now_us; deletes the expired ones.
  absl::StatusOr<std::vector<auth::Revocation>> LoadRevocations(int64_t now_us);

  // Audit log: insert only (the table refuses UPDATE and DELETE).
  absl::Status AppendAudit(const streamadmin::admin::v1::AuditEntry& e);
  absl::StatusOr<std::vector<streamadmin::admin::v1::AuditEntry>> ListAudit(const AuditFilter& f);

  // Views. Versions only grow, across drops: a re-created view never reuses
  // an earlier version's output ids. `create`: AlreadyExists when a live view
  // has the name; else (replace) NotFound when none has. Returns the stored
  // definition (version and created_at_ns set).
  absl::StatusOr<streamadmin::views::v1::ViewDefinition> PutView(streamadmin::views::v1::ViewDefinition definition,
                                                                 const std::string& owner_id, bool create);
  // NotFound when no live view has the name; returns the dropped version.
  absl::StatusOr<uint64_t> DropView(const std::string& name);
  absl::StatusOr<ViewRecord> GetView(const std::string& name);
  // Every view, dropped ones included (`dropped`).
  absl::StatusOr<std::vector<ViewRecord>> ListViews();
  // Rewrites the owner's rights of `name` at `version` (no-op if it moved on).
  absl::Status SetViewPermissions(const std::string& name, uint64_t version, const std::vector<std::string>& perms);

 private:
  struct Db;  // one pg::Connection
  // Runs f(Tx&) as one transaction on a pooled connection (db.h).
  template <typename F>
  auto Run(const char* what, F&& f);
  std::unique_ptr<Db> Acquire();  // null: a free slot, open a new connection
  void Release(std::unique_ptr<Db> db);
  absl::StatusOr<UserRecord> FindUserWhere(const char* column, const std::string& value);

  std::string dsn_;
  const size_t pool_size_;
  std::mutex mu_;
  std::condition_variable free_;
  std::vector<std::unique_ptr<Db>> idle_;  // guarded by mu_
  size_t borrowed_ = 0;                    // guarded by mu_
  bool migrated_ = false;                  // guarded by mu_
};

}  // namespace sa::admin
