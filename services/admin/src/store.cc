#include "admin/store.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "migrations.h"

namespace sa::admin {
namespace {

namespace adm = streamadmin::admin::v1;

UserRecord UserFromRow(const pqxx::row& r) {
  UserRecord u;
  u.user.set_id(r["id"].c_str());
  u.user.set_username(r["username"].c_str());
  u.user.set_display_name(r["display_name"].c_str());
  u.user.set_disabled(r["disabled"].as<bool>());
  u.user.set_created_at_us(r["created_at_us"].as<int64_t>());
  u.user.set_locked_until_us(r["locked_until_us"].as<int64_t>());
  u.password_hash = r["password_hash"].c_str();
  u.failed_logins = r["failed_logins"].as<int>();
  return u;
}

constexpr char kUserColumns[] =
    "id, username, display_name, password_hash, disabled, created_at_us, failed_logins, locked_until_us";

void LoadRoles(pqxx::work& w, adm::User* u) {
  u->clear_roles();
  for (const auto& r : w.exec_params("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role", u->id()))
    u->add_roles(r[0].c_str());
}

void BindRoles(pqxx::work& w, const std::string& user_id, const std::vector<std::string>& roles) {
  w.exec_params("DELETE FROM user_roles WHERE user_id = $1", user_id);
  for (const auto& role : roles) {
    w.exec_params("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING", user_id, role);
  }
}

adm::ApiKey KeyFromRow(const pqxx::row& r) {
  adm::ApiKey k;
  k.set_id(r["id"].c_str());
  k.set_user_id(r["user_id"].c_str());
  k.set_name(r["name"].c_str());
  k.set_prefix(r["prefix"].c_str());
  k.set_created_at_us(r["created_at_us"].as<int64_t>());
  k.set_expires_at_us(r["expires_at_us"].as<int64_t>());
  k.set_revoked(r["revoked"].as<bool>());
  return k;
}

absl::StatusOr<adm::Role> RoleFromSpec(const std::string& spec) {
  adm::Role role;
  if (!google::protobuf::util::JsonStringToMessage(spec, &role).ok())
    return absl::DataLossError("a stored role does not parse");
  return role;
}

}  // namespace

struct Store::Db {
  explicit Db(const std::string& dsn) : conn(dsn) {}
  pqxx::connection conn;
};

Store::Store(std::string dsn) : dsn_(std::move(dsn)) {}
Store::~Store() = default;

template <typename F>
auto Store::Run(const char* what, F&& f) -> decltype(f()) {
  std::lock_guard lock(mu_);
  try {
    if (!db_ || !db_->conn.is_open()) {
      db_ = std::make_unique<Db>(dsn_);
      int v = Migrate(db_->conn);
      spdlog::info("admin database connected, schema version {}", v);
    }
    return f();
  } catch (const pqxx::unique_violation&) {
    return absl::AlreadyExistsError(absl::StrCat(what, ": already exists"));
  } catch (const pqxx::foreign_key_violation&) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": names a role or user that does not exist"));
  } catch (const pqxx::broken_connection& e) {
    db_.reset();
    return absl::UnavailableError(absl::StrCat(what, ": database unavailable: ", e.what()));
  } catch (const pqxx::data_exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": value refused by the database: ", e.what()));
  } catch (const std::exception& e) {
    if (db_ && !db_->conn.is_open()) db_.reset();
    return absl::InternalError(absl::StrCat(what, ": ", e.what()));
  }
}

absl::Status Store::Connect() {
  return Run("connect", [&]() -> absl::Status { return absl::OkStatus(); });
}

absl::StatusOr<int> Store::SchemaVersion() {
  return Run("schema version", [&]() -> absl::StatusOr<int> {
    pqxx::work w(db_->conn);
    return w.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
  });
}

absl::StatusOr<UserRecord> Store::CreateUser(const std::string& id, const std::string& username,
                                             const std::string& display_name, const std::string& password_hash,
                                             const std::vector<std::string>& roles, int64_t now_us) {
  return Run("create user", [&]() -> absl::StatusOr<UserRecord> {
    pqxx::work w(db_->conn);
    auto r = w.exec_params(absl::StrCat("INSERT INTO users (id, username, display_name, password_hash, "
                                        "created_at_us) VALUES ($1, $2, $3, $4, $5) RETURNING ",
                                        kUserColumns),
                           id, username, display_name, password_hash, now_us);
    UserRecord u = UserFromRow(r[0]);
    BindRoles(w, id, roles);
    LoadRoles(w, &u.user);
    w.commit();
    return u;
  });
}

absl::StatusOr<UserRecord> Store::FindUserWhere(const char* column, const std::string& value) {
  return Run("find user", [&]() -> absl::StatusOr<UserRecord> {
    pqxx::work w(db_->conn);
    auto r = w.exec_params(absl::StrCat("SELECT ", kUserColumns, " FROM users WHERE ", column, " = $1"), value);
    if (r.empty()) return absl::NotFoundError("no such user");
    UserRecord u = UserFromRow(r[0]);
    LoadRoles(w, &u.user);
    return u;
  });
}

absl::StatusOr<UserRecord> Store::FindUser(const std::string& username) { return FindUserWhere("username", username); }
absl::StatusOr<UserRecord> Store::FindUserById(const std::string& id) { return FindUserWhere("id", id); }

absl::StatusOr<std::vector<adm::User>> Store::ListUsers() {
  return Run("list users", [&]() -> absl::StatusOr<std::vector<adm::User>> {
    pqxx::work w(db_->conn);
    std::vector<adm::User> out;
    for (const auto& row : w.exec(absl::StrCat("SELECT ", kUserColumns, " FROM users ORDER BY username"))) {
      out.push_back(UserFromRow(row).user);
      LoadRoles(w, &out.back());
    }
    return out;
  });
}

absl::StatusOr<UserRecord> Store::UpdateUser(const std::string& username, const std::string& display_name,
                                             bool disabled) {
  return Run("update user", [&]() -> absl::StatusOr<UserRecord> {
    pqxx::work w(db_->conn);
    auto r = w.exec_params(absl::StrCat("UPDATE users SET display_name = $2, disabled = $3 WHERE username = $1 "
                                        "RETURNING ",
                                        kUserColumns),
                           username, display_name, disabled);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no user '", username, "'"));
    UserRecord u = UserFromRow(r[0]);
    LoadRoles(w, &u.user);
    w.commit();
    return u;
  });
}

absl::StatusOr<UserRecord> Store::SetUserRoles(const std::string& username, const std::vector<std::string>& roles) {
  return Run("set roles", [&]() -> absl::StatusOr<UserRecord> {
    pqxx::work w(db_->conn);
    auto r =
        w.exec_params(absl::StrCat("SELECT ", kUserColumns, " FROM users WHERE username = $1 FOR UPDATE"), username);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no user '", username, "'"));
    UserRecord u = UserFromRow(r[0]);
    BindRoles(w, u.user.id(), roles);
    LoadRoles(w, &u.user);
    w.commit();
    return u;
  });
}

absl::Status Store::SetPasswordHash(const std::string& username, const std::string& hash) {
  return Run("set password", [&]() -> absl::Status {
    pqxx::work w(db_->conn);
    auto r =
        w.exec_params("UPDATE users SET password_hash = $2, failed_logins = 0, locked_until_us = 0 WHERE username = $1",
                      username, hash);
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("no user '", username, "'"));
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> Store::DeleteUser(const std::string& username) {
  return Run("delete user", [&]() -> absl::StatusOr<std::string> {
    pqxx::work w(db_->conn);
    auto r = w.exec_params("DELETE FROM users WHERE username = $1 RETURNING id", username);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no user '", username, "'"));
    w.commit();
    return std::string(r[0][0].c_str());
  });
}

absl::StatusOr<int64_t> Store::CountUsers() {
  return Run("count users", [&]() -> absl::StatusOr<int64_t> {
    pqxx::work w(db_->conn);
    return w.exec("SELECT count(*) FROM users")[0][0].as<int64_t>();
  });
}

absl::StatusOr<int> Store::RecordLoginFailure(const std::string& user_id, int threshold, int64_t lock_until_us) {
  return Run("record login failure", [&]() -> absl::StatusOr<int> {
    pqxx::work w(db_->conn);
    auto r = w.exec_params(
        "UPDATE users SET failed_logins = failed_logins + 1, "
        "locked_until_us = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until_us END "
        "WHERE id = $1 RETURNING failed_logins",
        user_id, threshold, lock_until_us);
    if (r.empty()) return absl::NotFoundError("no such user");
    w.commit();
    return r[0][0].as<int>();
  });
}

absl::Status Store::ResetLoginFailures(const std::string& user_id) {
  return Run("reset login failures", [&]() -> absl::Status {
    pqxx::work w(db_->conn);
    w.exec_params("UPDATE users SET failed_logins = 0, locked_until_us = 0 WHERE id = $1", user_id);
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::PutRole(const adm::Role& role) {
  return Run("put role", [&]() -> absl::Status {
    std::string spec;
    (void)google::protobuf::util::MessageToJsonString(role, &spec);
    pqxx::work w(db_->conn);
    w.exec_params("INSERT INTO roles (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET spec = $2",
                  role.name(), spec);
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<adm::Role>> Store::ListRoles() {
  return Run("list roles", [&]() -> absl::StatusOr<std::vector<adm::Role>> {
    pqxx::work w(db_->conn);
    std::vector<adm::Role> out;
    for (const auto& row : w.exec("SELECT spec FROM roles ORDER BY name")) {
      auto r = RoleFromSpec(row[0].c_str());
      if (!r.ok()) return r.status();
      out.push_back(std::move(*r));
    }
    return out;
  });
}

absl::StatusOr<std::vector<adm::Role>> Store::RolesOf(const std::string& user_id) {
  return Run("roles of user", [&]() -> absl::StatusOr<std::vector<adm::Role>> {
    pqxx::work w(db_->conn);
    std::vector<adm::Role> out;
    for (const auto& row : w.exec_params(
             "SELECT r.spec FROM roles r JOIN user_roles ur ON ur.role = r.name WHERE ur.user_id = $1 ORDER BY r.name",
             user_id)) {
      auto r = RoleFromSpec(row[0].c_str());
      if (!r.ok()) return r.status();
      out.push_back(std::move(*r));
    }
    return out;
  });
}

absl::Status Store::DeleteRole(const std::string& name) {
  return Run("delete role", [&]() -> absl::Status {
    pqxx::work w(db_->conn);
    auto r = w.exec_params("DELETE FROM roles WHERE name = $1", name);
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("no role '", name, "'"));
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::CreateApiKey(const ApiKeyRecord& k) {
  return Run("create api key", [&]() -> absl::Status {
    pqxx::work w(db_->conn);
    w.exec_params(
        "INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at_us, expires_at_us) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        k.key.id(), k.key.user_id(), k.key.name(), k.key.prefix(), k.hash, k.key.created_at_us(),
        k.key.expires_at_us());
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<ApiKeyRecord> Store::FindApiKey(const std::string& id) {
  return Run("find api key", [&]() -> absl::StatusOr<ApiKeyRecord> {
    pqxx::work w(db_->conn);
    auto r = w.exec_params("SELECT * FROM api_keys WHERE id = $1", id);
    if (r.empty()) return absl::NotFoundError("no such API key");
    return ApiKeyRecord{KeyFromRow(r[0]), r[0]["hash"].c_str()};
  });
}

absl::StatusOr<std::vector<adm::ApiKey>> Store::ListApiKeys(const std::string& user_id) {
  return Run("list api keys", [&]() -> absl::StatusOr<std::vector<adm::ApiKey>> {
    pqxx::work w(db_->conn);
    std::vector<adm::ApiKey> out;
    for (const auto& row : w.exec_params("SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at_us", user_id))
      out.push_back(KeyFromRow(row));
    return out;
  });
}

absl::Status Store::RevokeApiKey(const std::string& id) {
  return Run("revoke api key", [&]() -> absl::Status {
    pqxx::work w(db_->conn);
    auto r = w.exec_params("UPDATE api_keys SET revoked = true WHERE id = $1", id);
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("no API key '", id, "'"));
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::CreateRefresh(const RefreshRecord& t) {
  return Run("create refresh token", [&]() -> absl::Status {
    pqxx::work w(db_->conn);
    w.exec_params("INSERT INTO refresh_tokens (id, user_id, hash, expires_at_us) VALUES ($1, $2, $3, $4)", t.id,
                  t.user_id, t.hash, t.expires_at_us);
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<RefreshRecord> Store::FindRefresh(const std::string& id) {
  return Run("find refresh token", [&]() -> absl::StatusOr<RefreshRecord> {
    pqxx::work w(db_->conn);
    auto r = w.exec_params("SELECT id, user_id, hash, expires_at_us, revoked FROM refresh_tokens WHERE id = $1", id);
    if (r.empty()) return absl::NotFoundError("no such refresh token");
    return RefreshRecord{r[0][0].c_str(), r[0][1].c_str(), r[0][2].c_str(), r[0][3].as<int64_t>(), r[0][4].as<bool>()};
  });
}

absl::Status Store::RevokeRefresh(const std::string& id) {
  return Run("revoke refresh token", [&]() -> absl::Status {
    pqxx::work w(db_->conn);
    w.exec_params("UPDATE refresh_tokens SET revoked = true WHERE id = $1", id);
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::AppendAudit(const adm::AuditEntry& e) {
  return Run("append audit", [&]() -> absl::Status {
    pqxx::work w(db_->conn);
    w.exec_params(
        "INSERT INTO audit_log (time_us, actor, action, resource, peer, outcome, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        e.time_us(), e.actor(), e.action(), e.resource(), e.peer(), e.outcome(), e.detail());
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<adm::AuditEntry>> Store::ListAudit(const AuditFilter& f) {
  return Run("list audit", [&]() -> absl::StatusOr<std::vector<adm::AuditEntry>> {
    pqxx::work w(db_->conn);
    std::vector<adm::AuditEntry> out;
    auto rows = w.exec_params(
        "SELECT id, time_us, actor, action, resource, peer, outcome, detail FROM audit_log "
        "WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2) AND time_us >= $3 "
        "ORDER BY id DESC LIMIT $4",
        f.actor, f.action, f.since_us, f.limit);
    for (const auto& r : rows) {
      adm::AuditEntry e;
      e.set_id(r[0].as<uint64_t>());
      e.set_time_us(r[1].as<int64_t>());
      e.set_actor(r[2].c_str());
      e.set_action(r[3].c_str());
      e.set_resource(r[4].c_str());
      e.set_peer(r[5].c_str());
      e.set_outcome(r[6].c_str());
      e.set_detail(r[7].c_str());
      out.push_back(std::move(e));
    }
    return out;
  });
}

}  // namespace sa::admin
