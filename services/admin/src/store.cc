#include "admin/store.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <pqxx/pqxx>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "migrations.h"
#include "pg/error.h"

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

// Thrown by ExecParams before a text parameter with a NUL reaches libpq.
struct NulInParameter : std::exception {};

inline void CheckParameter(const std::string& s) {
  if (s.find('\0') != std::string::npos) throw NulInParameter();
}
template <typename T>
void CheckParameter(const T&) {}

// exec_params, refusing text parameters that hold a NUL (libpq takes C strings).
template <typename... Args>
pqxx::result ExecParams(pqxx::work& w, const std::string& sql, const Args&... args) {
  (CheckParameter(args), ...);
  return w.exec_params(sql, args...);
}

constexpr char kUserColumns[] =
    "id, username, display_name, password_hash, disabled, created_at_us, failed_logins, locked_until_us";

// The user's roles and its name's login lock.
void LoadRoles(pqxx::work& w, adm::User* u) {
  u->clear_roles();
  for (const auto& r : ExecParams(w, "SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role", u->id()))
    u->add_roles(r[0].c_str());
  auto lock = ExecParams(w, "SELECT locked_until_us FROM login_failures WHERE username = $1", u->username());
  u->set_locked_until_us(lock.empty() ? 0 : lock[0][0].as<int64_t>());
}

void BindRoles(pqxx::work& w, const std::string& user_id, const std::vector<std::string>& roles) {
  ExecParams(w, "DELETE FROM user_roles WHERE user_id = $1", user_id);
  for (const auto& role : roles) {
    ExecParams(w, "INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING", user_id, role);
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
  if (!r["permissions"].is_null()) {
    for (absl::string_view p : absl::StrSplit(r["permissions"].c_str(), ' ', absl::SkipEmpty()))
      k.add_permissions(std::string(p));
  }
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

Store::Store(std::string dsn, int pool_size)
    : dsn_(std::move(dsn)), pool_size_(static_cast<size_t>(std::max(1, pool_size))) {}
Store::~Store() = default;

std::unique_ptr<Store::Db> Store::Acquire() {
  std::unique_lock lock(mu_);
  free_.wait(lock, [&] { return !idle_.empty() || borrowed_ + idle_.size() < pool_size_; });
  ++borrowed_;
  if (idle_.empty()) return nullptr;
  auto db = std::move(idle_.back());
  idle_.pop_back();
  return db;
}

void Store::Release(std::unique_ptr<Db> db) {
  {
    std::lock_guard lock(mu_);
    --borrowed_;
    if (db && db->conn.is_open()) idle_.push_back(std::move(db));
  }
  free_.notify_one();
}

template <typename F>
auto Store::Run(const char* what, F&& f) {
  using R = std::invoke_result_t<F, pqxx::connection&>;
  std::unique_ptr<Db> db = Acquire();
  // Back to the pool (dropped when closed) on every path.
  struct Returner {
    Store* store;
    std::unique_ptr<Db>* db;
    ~Returner() { store->Release(std::move(*db)); }
  } returner{this, &db};
  try {
    if (!db || !db->conn.is_open()) {
      db = std::make_unique<Db>(dsn_);
      int v = Migrate(db->conn);
      bool first = false;
      {
        std::lock_guard lock(mu_);
        first = !migrated_;
        migrated_ = true;
      }
      if (first) spdlog::info("admin database connected, schema version {}, pool of {}", v, pool_size_);
    }
    return R(f(db->conn));
  } catch (const NulInParameter&) {
    return R(absl::InvalidArgumentError(absl::StrCat(what, ": a text value holds a NUL byte")));
  } catch (const pqxx::broken_connection& e) {
    db.reset();
    return R(absl::UnavailableError(absl::StrCat(what, ": database unavailable: ", e.what())));
  } catch (const pqxx::sql_error& e) {
    // The code by the one SQLSTATE table (pg/error.h), shared with libs/.
    const std::string& state = e.sqlstate();
    if (db && !db->conn.is_open()) db.reset();
    if (pg::CodeForSqlState(state) == absl::StatusCode::kAlreadyExists)
      return R(pg::SqlError(state, absl::StrCat(what, ": already exists")));
    if (state == pg::sqlstate::kForeignKeyViolation)
      return R(pg::SqlError(state, absl::StrCat(what, ": names a role or user that does not exist")));
    if (state.rfind("22", 0) == 0)
      return R(pg::SqlError(state, absl::StrCat(what, ": value refused by the database: ", e.what())));
    return R(pg::SqlError(state, absl::StrCat(what, ": ", e.what())));
  } catch (const std::exception& e) {
    if (db && !db->conn.is_open()) db.reset();
    return R(absl::InternalError(absl::StrCat(what, ": ", e.what())));
  }
}

absl::Status Store::Connect() {
  return Run("connect", [&](pqxx::connection&) -> absl::Status { return absl::OkStatus(); });
}

absl::StatusOr<int> Store::SchemaVersion() {
  return Run("schema version", [&](pqxx::connection& c) -> absl::StatusOr<int> {
    pqxx::work w(c);
    return w.exec("SELECT coalesce(max(version), 0) FROM schema_migrations")[0][0].as<int>();
  });
}

absl::StatusOr<UserRecord> Store::CreateUser(const std::string& id, const std::string& username,
                                             const std::string& display_name, const std::string& password_hash,
                                             const std::vector<std::string>& roles, int64_t now_us) {
  return Run("create user", [&](pqxx::connection& c) -> absl::StatusOr<UserRecord> {
    pqxx::work w(c);
    auto r = ExecParams(w,
                        absl::StrCat("INSERT INTO users (id, username, display_name, password_hash, "
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
  return Run("find user", [&](pqxx::connection& c) -> absl::StatusOr<UserRecord> {
    pqxx::work w(c);
    auto r = ExecParams(w, absl::StrCat("SELECT ", kUserColumns, " FROM users WHERE ", column, " = $1"), value);
    if (r.empty()) return absl::NotFoundError("no such user");
    UserRecord u = UserFromRow(r[0]);
    LoadRoles(w, &u.user);
    return u;
  });
}

absl::StatusOr<UserRecord> Store::FindUser(const std::string& username) { return FindUserWhere("username", username); }
absl::StatusOr<UserRecord> Store::FindUserById(const std::string& id) { return FindUserWhere("id", id); }

absl::StatusOr<std::vector<adm::User>> Store::ListUsers() {
  return Run("list users", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<adm::User>> {
    pqxx::work w(c);
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
  return Run("update user", [&](pqxx::connection& c) -> absl::StatusOr<UserRecord> {
    pqxx::work w(c);
    auto r = ExecParams(w,
                        absl::StrCat("UPDATE users SET display_name = $2, disabled = $3 WHERE username = $1 "
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
  return Run("set roles", [&](pqxx::connection& c) -> absl::StatusOr<UserRecord> {
    pqxx::work w(c);
    auto r =
        ExecParams(w, absl::StrCat("SELECT ", kUserColumns, " FROM users WHERE username = $1 FOR UPDATE"), username);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no user '", username, "'"));
    UserRecord u = UserFromRow(r[0]);
    BindRoles(w, u.user.id(), roles);
    LoadRoles(w, &u.user);
    w.commit();
    return u;
  });
}

absl::StatusOr<std::string> Store::SetPasswordHash(const std::string& username, const std::string& hash) {
  return Run("set password", [&](pqxx::connection& c) -> absl::StatusOr<std::string> {
    pqxx::work w(c);
    auto r = ExecParams(w, "UPDATE users SET password_hash = $2 WHERE username = $1 RETURNING id", username, hash);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no user '", username, "'"));
    ExecParams(w, "DELETE FROM login_failures WHERE username = $1", username);
    w.commit();
    return std::string(r[0][0].c_str());
  });
}

absl::StatusOr<std::string> Store::DeleteUser(const std::string& username) {
  return Run("delete user", [&](pqxx::connection& c) -> absl::StatusOr<std::string> {
    pqxx::work w(c);
    auto r = ExecParams(w, "DELETE FROM users WHERE username = $1 RETURNING id", username);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no user '", username, "'"));
    w.commit();
    return std::string(r[0][0].c_str());
  });
}

absl::StatusOr<int64_t> Store::CountUsers() {
  return Run("count users", [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work w(c);
    return w.exec("SELECT count(*) FROM users")[0][0].as<int64_t>();
  });
}

absl::StatusOr<LoginFailures> Store::LoginFailuresOf(const std::string& username) {
  return Run("login failures", [&](pqxx::connection& c) -> absl::StatusOr<LoginFailures> {
    pqxx::work w(c);
    auto r = ExecParams(w, "SELECT failures, locked_until_us FROM login_failures WHERE username = $1", username);
    if (r.empty()) return LoginFailures{};
    return LoginFailures{r[0][0].as<int>(), r[0][1].as<int64_t>()};
  });
}

absl::StatusOr<LoginFailures> Store::RecordLoginFailure(const std::string& username, int threshold, int64_t now_us,
                                                        int64_t lock_until_us) {
  return Run("record login failure", [&](pqxx::connection& c) -> absl::StatusOr<LoginFailures> {
    pqxx::work w(c);
    auto r = ExecParams(w,
                        "INSERT INTO login_failures AS f (username, failures, locked_until_us, last_failure_us) "
                        "VALUES ($1, 1, CASE WHEN 1 >= $2::integer THEN $4::bigint ELSE 0 END, $3::bigint) "
                        "ON CONFLICT (username) DO UPDATE SET failures = f.failures + 1, last_failure_us = $3::bigint, "
                        "locked_until_us = CASE WHEN f.locked_until_us > $3::bigint THEN f.locked_until_us "
                        "WHEN f.failures + 1 >= $2::integer THEN $4::bigint ELSE f.locked_until_us END "
                        "RETURNING failures, locked_until_us",
                        username, threshold, now_us, lock_until_us);
    w.commit();
    return LoginFailures{r[0][0].as<int>(), r[0][1].as<int64_t>()};
  });
}

absl::Status Store::ResetLoginFailures(const std::string& username) {
  return Run("reset login failures", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    ExecParams(w, "DELETE FROM login_failures WHERE username = $1", username);
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::PruneLoginFailures(int64_t before_us, int64_t now_us) {
  return Run("prune login failures", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    ExecParams(w, "DELETE FROM login_failures WHERE last_failure_us < $1 AND locked_until_us <= $2", before_us, now_us);
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::PutRole(const adm::Role& role) {
  return Run("put role", [&](pqxx::connection& c) -> absl::Status {
    std::string spec;
    (void)google::protobuf::util::MessageToJsonString(role, &spec);
    pqxx::work w(c);
    ExecParams(w, "INSERT INTO roles (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET spec = $2",
               role.name(), spec);
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<adm::Role>> Store::ListRoles() {
  return Run("list roles", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<adm::Role>> {
    pqxx::work w(c);
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
  return Run("roles of user", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<adm::Role>> {
    pqxx::work w(c);
    std::vector<adm::Role> out;
    for (const auto& row : ExecParams(
             w,
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
  return Run("delete role", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    auto r = ExecParams(w, "DELETE FROM roles WHERE name = $1", name);
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("no role '", name, "'"));
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::CreateApiKey(const ApiKeyRecord& k) {
  return Run("create api key", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    ExecParams(w,
               "INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at_us, expires_at_us, permissions) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
               k.key.id(), k.key.user_id(), k.key.name(), k.key.prefix(), k.hash, k.key.created_at_us(),
               k.key.expires_at_us(), absl::StrJoin(k.key.permissions(), " "));
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<ApiKeyRecord> Store::FindApiKey(const std::string& id) {
  return Run("find api key", [&](pqxx::connection& c) -> absl::StatusOr<ApiKeyRecord> {
    pqxx::work w(c);
    auto r = ExecParams(w, "SELECT * FROM api_keys WHERE id = $1", id);
    if (r.empty()) return absl::NotFoundError("no such API key");
    return ApiKeyRecord{KeyFromRow(r[0]), r[0]["hash"].c_str(), !r[0]["permissions"].is_null()};
  });
}

absl::StatusOr<std::vector<adm::ApiKey>> Store::ListApiKeys(const std::string& user_id) {
  return Run("list api keys", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<adm::ApiKey>> {
    pqxx::work w(c);
    std::vector<adm::ApiKey> out;
    for (const auto& row : ExecParams(w, "SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at_us", user_id))
      out.push_back(KeyFromRow(row));
    return out;
  });
}

absl::Status Store::RevokeApiKey(const std::string& id) {
  return Run("revoke api key", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    auto r = ExecParams(w, "UPDATE api_keys SET revoked = true WHERE id = $1", id);
    if (r.affected_rows() == 0) return absl::NotFoundError(absl::StrCat("no API key '", id, "'"));
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::CreateRefresh(const RefreshRecord& t) {
  return Run("create refresh token", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    ExecParams(w, "INSERT INTO refresh_tokens (id, user_id, hash, expires_at_us) VALUES ($1, $2, $3, $4)", t.id,
               t.user_id, t.hash, t.expires_at_us);
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<RefreshRecord> Store::FindRefresh(const std::string& id) {
  return Run("find refresh token", [&](pqxx::connection& c) -> absl::StatusOr<RefreshRecord> {
    pqxx::work w(c);
    auto r = ExecParams(w, "SELECT id, user_id, hash, expires_at_us, revoked FROM refresh_tokens WHERE id = $1", id);
    if (r.empty()) return absl::NotFoundError("no such refresh token");
    return RefreshRecord{r[0][0].c_str(), r[0][1].c_str(), r[0][2].c_str(), r[0][3].as<int64_t>(), r[0][4].as<bool>()};
  });
}

absl::Status Store::RevokeRefresh(const std::string& id) {
  return Run("revoke refresh token", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    ExecParams(w, "UPDATE refresh_tokens SET revoked = true WHERE id = $1", id);
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::string> Store::ConsumeRefresh(const std::string& id, const std::string& hash, int64_t now_us) {
  return Run("use refresh token", [&](pqxx::connection& c) -> absl::StatusOr<std::string> {
    pqxx::work w(c);
    auto r = ExecParams(w,
                        "UPDATE refresh_tokens SET used_at_us = $3, revoked = true WHERE id = $1 AND hash = $2 "
                        "AND used_at_us IS NULL AND NOT revoked AND expires_at_us > $3 RETURNING user_id",
                        id, hash, now_us);
    if (r.empty()) return absl::NotFoundError("refresh token unknown, used, revoked or expired");
    w.commit();
    return std::string(r[0][0].c_str());
  });
}

absl::Status Store::RevokeRefreshTokensOf(const std::string& user_id) {
  return Run("revoke refresh tokens", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    ExecParams(w, "UPDATE refresh_tokens SET revoked = true WHERE user_id = $1 AND NOT revoked", user_id);
    w.commit();
    return absl::OkStatus();
  });
}

absl::Status Store::SaveRevocation(const auth::Revocation& r) {
  return Run("save revocation", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    // Merged as RevocationList::Add merges: later expiry, later bound (0 covers every token).
    ExecParams(w,
               "INSERT INTO revocations AS v (kind, id, until_us, issued_before_us) "
               "VALUES ($1, $2, $3::bigint, $4::bigint) "
               "ON CONFLICT (kind, id) DO UPDATE SET until_us = greatest(v.until_us, $3::bigint), "
               "issued_before_us = CASE WHEN v.issued_before_us = 0 OR $4::bigint = 0 THEN 0 "
               "ELSE greatest(v.issued_before_us, $4::bigint) END",
               r.kind, r.id, r.until_us, r.issued_before_us);
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<auth::Revocation>> Store::LoadRevocations(int64_t now_us) {
  return Run("load revocations", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<auth::Revocation>> {
    pqxx::work w(c);
    ExecParams(w, "DELETE FROM revocations WHERE until_us <= $1", now_us);
    std::vector<auth::Revocation> out;
    for (const auto& row : w.exec("SELECT kind, id, until_us, issued_before_us FROM revocations ORDER BY kind, id"))
      out.push_back({row[0].c_str(), row[1].c_str(), row[2].as<int64_t>(), row[3].as<int64_t>()});
    w.commit();
    return out;
  });
}

absl::Status Store::AppendAudit(const adm::AuditEntry& e) {
  return Run("append audit", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    ExecParams(w,
               "INSERT INTO audit_log (time_us, actor, action, resource, peer, outcome, detail) "
               "VALUES ($1, $2, $3, $4, $5, $6, $7)",
               e.time_us(), e.actor(), e.action(), e.resource(), e.peer(), e.outcome(), e.detail());
    w.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<adm::AuditEntry>> Store::ListAudit(const AuditFilter& f) {
  return Run("list audit", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<adm::AuditEntry>> {
    pqxx::work w(c);
    std::vector<adm::AuditEntry> out;
    auto rows = ExecParams(w,
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

namespace {

namespace vpb = streamadmin::views::v1;

absl::StatusOr<ViewRecord> ViewFromRow(const pqxx::row& r) {
  ViewRecord v;
  if (!google::protobuf::util::JsonStringToMessage(r["definition"].c_str(), &v.definition).ok())
    return absl::DataLossError(absl::StrCat("view ", r["name"].c_str(), ": stored definition is not readable"));
  v.owner_id = r["owner_id"].c_str();
  v.dropped = r["dropped"].as<bool>();
  return v;
}

std::string ViewJson(const vpb::ViewDefinition& d) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(d, &json);
  return json;
}

}  // namespace

absl::StatusOr<vpb::ViewDefinition> Store::PutView(vpb::ViewDefinition d, const std::string& owner_id, bool create) {
  return Run(create ? "create view" : "replace view", [&](pqxx::connection& c) -> absl::StatusOr<vpb::ViewDefinition> {
    pqxx::work w(c);
    auto cur = ExecParams(w, "SELECT version, dropped, definition FROM views WHERE name = $1 FOR UPDATE", d.name());
    const bool live = !cur.empty() && !cur[0][1].as<bool>();
    if (create && live)
      return absl::AlreadyExistsError(absl::StrCat("view ", d.name(), " exists (replace it, or drop it first)"));
    if (!create && !live) return absl::NotFoundError(absl::StrCat("no view named ", d.name()));
    const int64_t now_us = absl::ToUnixMicros(absl::Now());
    d.set_version(cur.empty() ? 1 : cur[0][0].as<uint64_t>() + 1);
    if (create || cur.empty()) {
      d.set_created_at_ns(now_us * 1000);
    } else {
      vpb::ViewDefinition old;
      if (google::protobuf::util::JsonStringToMessage(cur[0][2].c_str(), &old).ok())
        d.set_created_at_ns(old.created_at_ns());
    }
    ExecParams(w,
               "INSERT INTO views (name, version, owner_id, definition, dropped, updated_at_us) "
               "VALUES ($1, $2, $3, $4, false, $5) ON CONFLICT (name) DO UPDATE SET version = $2, owner_id = $3, "
               "definition = $4, dropped = false, updated_at_us = $5",
               d.name(), static_cast<int64_t>(d.version()), owner_id, ViewJson(d), now_us);
    w.commit();
    return d;
  });
}

absl::StatusOr<uint64_t> Store::DropView(const std::string& name) {
  return Run("drop view", [&](pqxx::connection& c) -> absl::StatusOr<uint64_t> {
    pqxx::work w(c);
    auto r = ExecParams(w,
                        "UPDATE views SET dropped = true, updated_at_us = $2 WHERE name = $1 AND NOT dropped "
                        "RETURNING version",
                        name, absl::ToUnixMicros(absl::Now()));
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no view named ", name));
    w.commit();
    return r[0][0].as<uint64_t>();
  });
}

absl::StatusOr<ViewRecord> Store::GetView(const std::string& name) {
  return Run("get view", [&](pqxx::connection& c) -> absl::StatusOr<ViewRecord> {
    pqxx::work w(c);
    auto r =
        ExecParams(w, "SELECT name, owner_id, definition, dropped FROM views WHERE name = $1 AND NOT dropped", name);
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no view named ", name));
    return ViewFromRow(r[0]);
  });
}

absl::StatusOr<std::vector<ViewRecord>> Store::ListViews() {
  return Run("list views", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<ViewRecord>> {
    pqxx::work w(c);
    std::vector<ViewRecord> out;
    for (const auto& row : w.exec("SELECT name, owner_id, definition, dropped FROM views ORDER BY name")) {
      auto v = ViewFromRow(row);
      if (!v.ok()) return v.status();
      out.push_back(std::move(*v));
    }
    return out;
  });
}

absl::Status Store::SetViewPermissions(const std::string& name, uint64_t version,
                                       const std::vector<std::string>& perms) {
  return Run("set view permissions", [&](pqxx::connection& c) -> absl::Status {
    pqxx::work w(c);
    auto r = ExecParams(w, "SELECT definition FROM views WHERE name = $1 AND version = $2 AND NOT dropped FOR UPDATE",
                        name, static_cast<int64_t>(version));
    if (r.empty()) return absl::OkStatus();
    vpb::ViewDefinition d;
    if (!google::protobuf::util::JsonStringToMessage(r[0][0].c_str(), &d).ok())
      return absl::DataLossError(absl::StrCat("view ", name, ": stored definition is not readable"));
    d.clear_owner_permissions();
    for (const auto& p : perms) d.add_owner_permissions(p);
    ExecParams(w, "UPDATE views SET definition = $2, updated_at_us = $3 WHERE name = $1", name, ViewJson(d),
               absl::ToUnixMicros(absl::Now()));
    w.commit();
    return absl::OkStatus();
  });
}

}  // namespace sa::admin
