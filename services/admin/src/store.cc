#include "admin/store.h"

#include <google/protobuf/util/json_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <type_traits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "db.h"
#include "migrations.h"
#include "pg/error.h"
#include "pg/rows.h"

namespace sa::admin {
namespace {

namespace adm = streamadmin::admin::v1;

UserRecord UserFromRow(pg::Row r) {
  UserRecord u;
  u.user.set_id(r["id"].str());
  u.user.set_username(r["username"].str());
  u.user.set_display_name(r["display_name"].str());
  u.user.set_disabled(r["disabled"].as_bool());
  u.user.set_created_at_us(r["created_at_us"].as_int64());
  u.user.set_locked_until_us(r["locked_until_us"].as_int64());
  u.password_hash = r["password_hash"].str();
  u.failed_logins = r["failed_logins"].as<int>();
  return u;
}

constexpr char kUserColumns[] =
    "id, username, display_name, password_hash, disabled, created_at_us, failed_logins, locked_until_us";

// The user's roles and its name's login lock.
absl::Status LoadRoles(Tx& w, adm::User* u) {
  u->clear_roles();
  auto roles = w.Exec("SELECT role FROM user_roles WHERE user_id = $1 ORDER BY role", u->id());
  if (!roles.ok()) return roles.status();
  for (pg::Row r : pg::Rows(*roles)) u->add_roles(r[0].str());
  auto lock = w.Exec("SELECT locked_until_us FROM login_failures WHERE username = $1", u->username());
  if (!lock.ok()) return lock.status();
  pg::Rows l(*lock);
  u->set_locked_until_us(l.empty() ? 0 : l[0][0].as_int64());
  return absl::OkStatus();
}

absl::Status BindRoles(Tx& w, const std::string& user_id, const std::vector<std::string>& roles) {
  if (auto r = w.Exec("DELETE FROM user_roles WHERE user_id = $1", user_id); !r.ok()) return r.status();
  for (const auto& role : roles) {
    auto r = w.Exec("INSERT INTO user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING", user_id, role);
    if (!r.ok()) return r.status();
  }
  return absl::OkStatus();
}

// The first row of `r` (valid while `r` lives), NotFound with `missing` when none.
absl::StatusOr<pg::Row> FirstRow(const absl::StatusOr<pg::Result>& r, const std::string& missing) {
  if (!r.ok()) return r.status();
  pg::Rows rows(*r);
  if (rows.empty()) return absl::NotFoundError(missing);
  return rows[0];
}

// A user row of `r` (the first) with its roles, or NotFound with `missing`.
absl::StatusOr<UserRecord> UserWithRoles(Tx& w, const absl::StatusOr<pg::Result>& r, const std::string& missing) {
  auto row = FirstRow(r, missing);
  if (!row.ok()) return row.status();
  UserRecord u = UserFromRow(*row);
  if (auto st = LoadRoles(w, &u.user); !st.ok()) return st;
  return u;
}

adm::ApiKey KeyFromRow(pg::Row r) {
  adm::ApiKey k;
  k.set_id(r["id"].str());
  k.set_user_id(r["user_id"].str());
  k.set_name(r["name"].str());
  k.set_prefix(r["prefix"].str());
  k.set_created_at_us(r["created_at_us"].as_int64());
  k.set_expires_at_us(r["expires_at_us"].as_int64());
  k.set_revoked(r["revoked"].as_bool());
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

// The roles of a `SELECT spec` result.
absl::StatusOr<std::vector<adm::Role>> RolesFrom(const absl::StatusOr<pg::Result>& r) {
  if (!r.ok()) return r.status();
  std::vector<adm::Role> out;
  for (pg::Row row : pg::Rows(*r)) {
    auto role = RoleFromSpec(row[0].str());
    if (!role.ok()) return role.status();
    out.push_back(std::move(*role));
  }
  return out;
}

// OK when the statement touched a row; NotFound with `missing` when none.
absl::Status Touched(const absl::StatusOr<pg::Result>& r, const std::string& missing) {
  if (!r.ok()) return r.status();
  return pg::Rows(*r).affected() == 0 ? absl::NotFoundError(missing) : absl::OkStatus();
}

// The first column of the first row as text, NotFound with `missing` when none.
absl::StatusOr<std::string> FirstText(const absl::StatusOr<pg::Result>& r, const std::string& missing) {
  auto row = FirstRow(r, missing);
  if (!row.ok()) return row.status();
  return (*row)[0].str();
}

}  // namespace

struct Store::Db {
  std::unique_ptr<pg::Connection> conn;
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
    if (db && db->conn && db->conn->ok()) idle_.push_back(std::move(db));
  }
  free_.notify_one();
}

namespace {
const absl::Status& StatusOf(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace

// One transaction: committed when f succeeds, rolled back otherwise. A
// connection that is gone is dropped (Release) and a new one opened (and the
// schema migrated) on a later call.
template <typename F>
auto Store::Run(const char* what, F&& f) {
  using R = std::invoke_result_t<F, Tx&>;
  std::unique_ptr<Db> db = Acquire();
  // Back to the pool (dropped when closed) on every path.
  struct Returner {
    Store* store;
    std::unique_ptr<Db>* db;
    ~Returner() { store->Release(std::move(*db)); }
  } returner{this, &db};
  if (!db || !db->conn || !db->conn->ok()) {
    auto conn = pg::Connection::Connect(dsn_, {.application_name = "stream-admin-admin"});
    if (!conn.ok())
      return R(pg::ConnectionError("", absl::StrCat(what, ": database unavailable: ", conn.status().message())));
    db = std::make_unique<Db>(Db{std::move(*conn)});
    auto v = Migrate(*db->conn, what);
    if (!v.ok()) return R(v.status());
    bool first = false;
    {
      std::lock_guard lock(mu_);
      first = !migrated_;
      migrated_ = true;
    }
    if (first) spdlog::info("admin database connected, schema version {}, pool of {}", *v, pool_size_);
  }
  Tx tx(*db->conn, what);
  if (auto st = tx.Begin(); !st.ok()) return R(st);
  R result = f(tx);
  if (!StatusOf(result).ok()) {
    tx.Rollback();
    return result;
  }
  if (auto st = tx.Commit(); !st.ok()) return R(st);
  return result;
}

absl::Status Store::Connect() {
  return Run("connect", [&](Tx&) -> absl::Status { return absl::OkStatus(); });
}

absl::StatusOr<int> Store::SchemaVersion() {
  return Run("schema version", [&](Tx& w) -> absl::StatusOr<int> {
    auto r = w.Exec("SELECT coalesce(max(version), 0) FROM schema_migrations");
    if (!r.ok()) return r.status();
    return pg::Rows(*r)[0][0].as<int>();
  });
}

absl::StatusOr<UserRecord> Store::CreateUser(const std::string& id, const std::string& username,
                                             const std::string& display_name, const std::string& password_hash,
                                             const std::vector<std::string>& roles, int64_t now_us) {
  return Run("create user", [&](Tx& w) -> absl::StatusOr<UserRecord> {
    auto r = w.Exec(absl::StrCat("INSERT INTO users (id, username, display_name, password_hash, "
                                 "created_at_us) VALUES ($1, $2, $3, $4, $5) RETURNING ",
                                 kUserColumns),
                    id, username, display_name, password_hash, now_us);
    if (!r.ok()) return r.status();
    UserRecord u = UserFromRow(pg::Rows(*r)[0]);
    if (auto st = BindRoles(w, id, roles); !st.ok()) return st;
    if (auto st = LoadRoles(w, &u.user); !st.ok()) return st;
    return u;
  });
}

absl::StatusOr<UserRecord> Store::FindUserWhere(const char* column, const std::string& value) {
  return Run("find user", [&](Tx& w) -> absl::StatusOr<UserRecord> {
    return UserWithRoles(w, w.Exec(absl::StrCat("SELECT ", kUserColumns, " FROM users WHERE ", column, " = $1"), value),
                         "no such user");
  });
}

absl::StatusOr<UserRecord> Store::FindUser(const std::string& username) { return FindUserWhere("username", username); }
absl::StatusOr<UserRecord> Store::FindUserById(const std::string& id) { return FindUserWhere("id", id); }

absl::StatusOr<std::vector<adm::User>> Store::ListUsers() {
  return Run("list users", [&](Tx& w) -> absl::StatusOr<std::vector<adm::User>> {
    auto r = w.Exec(absl::StrCat("SELECT ", kUserColumns, " FROM users ORDER BY username"));
    if (!r.ok()) return r.status();
    std::vector<adm::User> out;
    for (pg::Row row : pg::Rows(*r)) {
      out.push_back(UserFromRow(row).user);
      if (auto st = LoadRoles(w, &out.back()); !st.ok()) return st;
    }
    return out;
  });
}

absl::StatusOr<UserRecord> Store::UpdateUser(const std::string& username, const std::string& display_name,
                                             bool disabled) {
  return Run("update user", [&](Tx& w) -> absl::StatusOr<UserRecord> {
    return UserWithRoles(w,
                         w.Exec(absl::StrCat("UPDATE users SET display_name = $2, disabled = $3 WHERE username = $1 "
                                             "RETURNING ",
                                             kUserColumns),
                                username, display_name, disabled),
                         absl::StrCat("no user '", username, "'"));
  });
}

absl::StatusOr<UserRecord> Store::SetUserRoles(const std::string& username, const std::vector<std::string>& roles) {
  return Run("set roles", [&](Tx& w) -> absl::StatusOr<UserRecord> {
    auto r = w.Exec(absl::StrCat("SELECT ", kUserColumns, " FROM users WHERE username = $1 FOR UPDATE"), username);
    auto row = FirstRow(r, absl::StrCat("no user '", username, "'"));
    if (!row.ok()) return row.status();
    UserRecord u = UserFromRow(*row);
    if (auto st = BindRoles(w, u.user.id(), roles); !st.ok()) return st;
    if (auto st = LoadRoles(w, &u.user); !st.ok()) return st;
    return u;
  });
}

absl::StatusOr<std::string> Store::SetPasswordHash(const std::string& username, const std::string& hash) {
  return Run("set password", [&](Tx& w) -> absl::StatusOr<std::string> {
    auto id = FirstText(w.Exec("UPDATE users SET password_hash = $2 WHERE username = $1 RETURNING id", username, hash),
                        absl::StrCat("no user '", username, "'"));
    if (!id.ok()) return id;
    if (auto r = w.Exec("DELETE FROM login_failures WHERE username = $1", username); !r.ok()) return r.status();
    return id;
  });
}

absl::StatusOr<std::string> Store::DeleteUser(const std::string& username) {
  return Run("delete user", [&](Tx& w) -> absl::StatusOr<std::string> {
    return FirstText(w.Exec("DELETE FROM users WHERE username = $1 RETURNING id", username),
                     absl::StrCat("no user '", username, "'"));
  });
}

absl::StatusOr<int64_t> Store::CountUsers() {
  return Run("count users", [&](Tx& w) -> absl::StatusOr<int64_t> {
    auto r = w.Exec("SELECT count(*) FROM users");
    if (!r.ok()) return r.status();
    return pg::Rows(*r)[0][0].as_int64();
  });
}

absl::StatusOr<LoginFailures> Store::LoginFailuresOf(const std::string& username) {
  return Run("login failures", [&](Tx& w) -> absl::StatusOr<LoginFailures> {
    auto r = w.Exec("SELECT failures, locked_until_us FROM login_failures WHERE username = $1", username);
    if (!r.ok()) return r.status();
    pg::Rows rows(*r);
    if (rows.empty()) return LoginFailures{};
    return LoginFailures{rows[0][0].as<int>(), rows[0][1].as_int64()};
  });
}

absl::StatusOr<LoginFailures> Store::RecordLoginFailure(const std::string& username, int threshold, int64_t now_us,
                                                        int64_t lock_until_us) {
  return Run("record login failure", [&](Tx& w) -> absl::StatusOr<LoginFailures> {
    auto r = w.Exec(
        "INSERT INTO login_failures AS f (username, failures, locked_until_us, last_failure_us) "
        "VALUES ($1, 1, CASE WHEN 1 >= $2::integer THEN $4::bigint ELSE 0 END, $3::bigint) "
        "ON CONFLICT (username) DO UPDATE SET failures = f.failures + 1, last_failure_us = $3::bigint, "
        "locked_until_us = CASE WHEN f.locked_until_us > $3::bigint THEN f.locked_until_us "
        "WHEN f.failures + 1 >= $2::integer THEN $4::bigint ELSE f.locked_until_us END "
        "RETURNING failures, locked_until_us",
        username, threshold, now_us, lock_until_us);
    if (!r.ok()) return r.status();
    pg::Rows rows(*r);
    return LoginFailures{rows[0][0].as<int>(), rows[0][1].as_int64()};
  });
}

absl::Status Store::ResetLoginFailures(const std::string& username) {
  return Run("reset login failures", [&](Tx& w) -> absl::Status {
    return w.Exec("DELETE FROM login_failures WHERE username = $1", username).status();
  });
}

absl::Status Store::PruneLoginFailures(int64_t before_us, int64_t now_us) {
  return Run("prune login failures", [&](Tx& w) -> absl::Status {
    return w.Exec("DELETE FROM login_failures WHERE last_failure_us < $1 AND locked_until_us <= $2", before_us, now_us)
        .status();
  });
}

absl::Status Store::PutRole(const adm::Role& role) {
  return Run("put role", [&](Tx& w) -> absl::Status {
    std::string spec;
    (void)google::protobuf::util::MessageToJsonString(role, &spec);
    return w
        .Exec("INSERT INTO roles (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET spec = $2", role.name(),
              spec)
        .status();
  });
}

absl::StatusOr<std::vector<adm::Role>> Store::ListRoles() {
  return Run("list roles", [&](Tx& w) -> absl::StatusOr<std::vector<adm::Role>> {
    return RolesFrom(w.Exec("SELECT spec FROM roles ORDER BY name"));
  });
}

absl::StatusOr<std::vector<adm::Role>> Store::RolesOf(const std::string& user_id) {
  return Run("roles of user", [&](Tx& w) -> absl::StatusOr<std::vector<adm::Role>> {
    return RolesFrom(w.Exec(
        "SELECT r.spec FROM roles r JOIN user_roles ur ON ur.role = r.name WHERE ur.user_id = $1 ORDER BY r.name",
        user_id));
  });
}

absl::Status Store::DeleteRole(const std::string& name) {
  return Run("delete role", [&](Tx& w) -> absl::Status {
    return Touched(w.Exec("DELETE FROM roles WHERE name = $1", name), absl::StrCat("no role '", name, "'"));
  });
}

absl::Status Store::CreateApiKey(const ApiKeyRecord& k) {
  return Run("create api key", [&](Tx& w) -> absl::Status {
    return w
        .Exec(
            "INSERT INTO api_keys (id, user_id, name, prefix, hash, created_at_us, expires_at_us, permissions) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            k.key.id(), k.key.user_id(), k.key.name(), k.key.prefix(), k.hash, k.key.created_at_us(),
            k.key.expires_at_us(), absl::StrJoin(k.key.permissions(), " "))
        .status();
  });
}

absl::StatusOr<ApiKeyRecord> Store::FindApiKey(const std::string& id) {
  return Run("find api key", [&](Tx& w) -> absl::StatusOr<ApiKeyRecord> {
    auto r = w.Exec("SELECT * FROM api_keys WHERE id = $1", id);
    auto row = FirstRow(r, "no such API key");
    if (!row.ok()) return row.status();
    return ApiKeyRecord{KeyFromRow(*row), (*row)["hash"].str(), !(*row)["permissions"].is_null()};
  });
}

absl::StatusOr<std::vector<adm::ApiKey>> Store::ListApiKeys(const std::string& user_id) {
  return Run("list api keys", [&](Tx& w) -> absl::StatusOr<std::vector<adm::ApiKey>> {
    auto r = w.Exec("SELECT * FROM api_keys WHERE user_id = $1 ORDER BY created_at_us", user_id);
    if (!r.ok()) return r.status();
    std::vector<adm::ApiKey> out;
    for (pg::Row row : pg::Rows(*r)) out.push_back(KeyFromRow(row));
    return out;
  });
}

absl::Status Store::RevokeApiKey(const std::string& id) {
  return Run("revoke api key", [&](Tx& w) -> absl::Status {
    return Touched(w.Exec("UPDATE api_keys SET revoked = true WHERE id = $1", id),
                   absl::StrCat("no API key '", id, "'"));
  });
}

absl::Status Store::CreateRefresh(const RefreshRecord& t) {
  return Run("create refresh token", [&](Tx& w) -> absl::Status {
    return w
        .Exec("INSERT INTO refresh_tokens (id, user_id, hash, expires_at_us) VALUES ($1, $2, $3, $4)", t.id, t.user_id,
              t.hash, t.expires_at_us)
        .status();
  });
}

absl::StatusOr<RefreshRecord> Store::FindRefresh(const std::string& id) {
  return Run("find refresh token", [&](Tx& w) -> absl::StatusOr<RefreshRecord> {
    auto r = w.Exec("SELECT id, user_id, hash, expires_at_us, revoked FROM refresh_tokens WHERE id = $1", id);
    auto row = FirstRow(r, "no such refresh token");
    if (!row.ok()) return row.status();
    pg::Row t = *row;
    return RefreshRecord{t[0].str(), t[1].str(), t[2].str(), t[3].as_int64(), t[4].as_bool()};
  });
}

absl::Status Store::RevokeRefresh(const std::string& id) {
  return Run("revoke refresh token", [&](Tx& w) -> absl::Status {
    return w.Exec("UPDATE refresh_tokens SET revoked = true WHERE id = $1", id).status();
  });
}

absl::StatusOr<std::string> Store::ConsumeRefresh(const std::string& id, const std::string& hash, int64_t now_us) {
  return Run("use refresh token", [&](Tx& w) -> absl::StatusOr<std::string> {
    return FirstText(w.Exec("UPDATE refresh_tokens SET used_at_us = $3, revoked = true WHERE id = $1 AND hash = $2 "
                            "AND used_at_us IS NULL AND NOT revoked AND expires_at_us > $3 RETURNING user_id",
                            id, hash, now_us),
                     "refresh token unknown, used, revoked or expired");
  });
}

absl::Status Store::RevokeRefreshTokensOf(const std::string& user_id) {
  return Run("revoke refresh tokens", [&](Tx& w) -> absl::Status {
    return w.Exec("UPDATE refresh_tokens SET revoked = true WHERE user_id = $1 AND NOT revoked", user_id).status();
  });
}

absl::Status Store::SaveRevocation(const auth::Revocation& r) {
  return Run("save revocation", [&](Tx& w) -> absl::Status {
    // Merged as RevocationList::Add merges: later expiry, later bound (0 covers every token).
    return w
        .Exec(
            "INSERT INTO revocations AS v (kind, id, until_us, issued_before_us) "
            "VALUES ($1, $2, $3::bigint, $4::bigint) "
            "ON CONFLICT (kind, id) DO UPDATE SET until_us = greatest(v.until_us, $3::bigint), "
            "issued_before_us = CASE WHEN v.issued_before_us = 0 OR $4::bigint = 0 THEN 0 "
            "ELSE greatest(v.issued_before_us, $4::bigint) END",
            r.kind, r.id, r.until_us, r.issued_before_us)
        .status();
  });
}

absl::StatusOr<std::vector<auth::Revocation>> Store::LoadRevocations(int64_t now_us) {
  return Run("load revocations", [&](Tx& w) -> absl::StatusOr<std::vector<auth::Revocation>> {
    if (auto r = w.Exec("DELETE FROM revocations WHERE until_us <= $1", now_us); !r.ok()) return r.status();
    auto r = w.Exec("SELECT kind, id, until_us, issued_before_us FROM revocations ORDER BY kind, id");
    if (!r.ok()) return r.status();
    std::vector<auth::Revocation> out;
    for (pg::Row row : pg::Rows(*r)) out.push_back({row[0].str(), row[1].str(), row[2].as_int64(), row[3].as_int64()});
    return out;
  });
}

absl::Status Store::AppendAudit(const adm::AuditEntry& e) {
  return Run("append audit", [&](Tx& w) -> absl::Status {
    return w
        .Exec(
            "INSERT INTO audit_log (time_us, actor, action, resource, peer, outcome, detail) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            e.time_us(), e.actor(), e.action(), e.resource(), e.peer(), e.outcome(), e.detail())
        .status();
  });
}

absl::StatusOr<std::vector<adm::AuditEntry>> Store::ListAudit(const AuditFilter& f) {
  return Run("list audit", [&](Tx& w) -> absl::StatusOr<std::vector<adm::AuditEntry>> {
    auto rows = w.Exec(
        "SELECT id, time_us, actor, action, resource, peer, outcome, detail FROM audit_log "
        "WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2) AND time_us >= $3 "
        "ORDER BY id DESC LIMIT $4",
        f.actor, f.action, f.since_us, f.limit);
    if (!rows.ok()) return rows.status();
    std::vector<adm::AuditEntry> out;
    for (pg::Row r : pg::Rows(*rows)) {
      adm::AuditEntry e;
      e.set_id(r[0].as<uint64_t>());
      e.set_time_us(r[1].as_int64());
      e.set_actor(r[2].str());
      e.set_action(r[3].str());
      e.set_resource(r[4].str());
      e.set_peer(r[5].str());
      e.set_outcome(r[6].str());
      e.set_detail(r[7].str());
      out.push_back(std::move(e));
    }
    return out;
  });
}

namespace {

namespace vpb = streamadmin::views::v1;

absl::StatusOr<ViewRecord> ViewFromRow(pg::Row r) {
  ViewRecord v;
  if (!google::protobuf::util::JsonStringToMessage(r["definition"].str(), &v.definition).ok())
    return absl::DataLossError(absl::StrCat("view ", r["name"].str(), ": stored definition is not readable"));
  v.owner_id = r["owner_id"].str();
  v.dropped = r["dropped"].as_bool();
  return v;
}

std::string ViewJson(const vpb::ViewDefinition& d) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(d, &json);
  return json;
}

}  // namespace

absl::StatusOr<vpb::ViewDefinition> Store::PutView(vpb::ViewDefinition d, const std::string& owner_id, bool create) {
  return Run(create ? "create view" : "replace view", [&](Tx& w) -> absl::StatusOr<vpb::ViewDefinition> {
    auto r = w.Exec("SELECT version, dropped, definition FROM views WHERE name = $1 FOR UPDATE", d.name());
    if (!r.ok()) return r.status();
    pg::Rows cur(*r);
    const bool live = !cur.empty() && !cur[0][1].as_bool();
    if (create && live)
      return absl::AlreadyExistsError(absl::StrCat("view ", d.name(), " exists (replace it, or drop it first)"));
    if (!create && !live) return absl::NotFoundError(absl::StrCat("no view named ", d.name()));
    const int64_t now_us = absl::ToUnixMicros(absl::Now());
    d.set_version(cur.empty() ? 1 : cur[0][0].as<uint64_t>() + 1);
    if (create || cur.empty()) {
      d.set_created_at_ns(now_us * 1000);
    } else {
      vpb::ViewDefinition old;
      if (google::protobuf::util::JsonStringToMessage(cur[0][2].str(), &old).ok())
        d.set_created_at_ns(old.created_at_ns());
    }
    auto put = w.Exec(
        "INSERT INTO views (name, version, owner_id, definition, dropped, updated_at_us) "
        "VALUES ($1, $2, $3, $4, false, $5) ON CONFLICT (name) DO UPDATE SET version = $2, owner_id = $3, "
        "definition = $4, dropped = false, updated_at_us = $5",
        d.name(), static_cast<int64_t>(d.version()), owner_id, ViewJson(d), now_us);
    if (!put.ok()) return put.status();
    return d;
  });
}

absl::StatusOr<uint64_t> Store::DropView(const std::string& name) {
  return Run("drop view", [&](Tx& w) -> absl::StatusOr<uint64_t> {
    auto r = w.Exec(
        "UPDATE views SET dropped = true, updated_at_us = $2 WHERE name = $1 AND NOT dropped "
        "RETURNING version",
        name, absl::ToUnixMicros(absl::Now()));
    auto row = FirstRow(r, absl::StrCat("no view named ", name));
    if (!row.ok()) return row.status();
    return (*row)[0].as<uint64_t>();
  });
}

absl::StatusOr<ViewRecord> Store::GetView(const std::string& name) {
  return Run("get view", [&](Tx& w) -> absl::StatusOr<ViewRecord> {
    auto r = w.Exec("SELECT name, owner_id, definition, dropped FROM views WHERE name = $1 AND NOT dropped", name);
    auto row = FirstRow(r, absl::StrCat("no view named ", name));
    if (!row.ok()) return row.status();
    return ViewFromRow(*row);
  });
}

absl::StatusOr<std::vector<ViewRecord>> Store::ListViews() {
  return Run("list views", [&](Tx& w) -> absl::StatusOr<std::vector<ViewRecord>> {
    auto r = w.Exec("SELECT name, owner_id, definition, dropped FROM views ORDER BY name");
    if (!r.ok()) return r.status();
    std::vector<ViewRecord> out;
    for (pg::Row row : pg::Rows(*r)) {
      auto v = ViewFromRow(row);
      if (!v.ok()) return v.status();
      out.push_back(std::move(*v));
    }
    return out;
  });
}

absl::Status Store::SetViewPermissions(const std::string& name, uint64_t version,
                                       const std::vector<std::string>& perms) {
  return Run("set view permissions", [&](Tx& w) -> absl::Status {
    auto r = w.Exec("SELECT definition FROM views WHERE name = $1 AND version = $2 AND NOT dropped FOR UPDATE", name,
                    static_cast<int64_t>(version));
    if (!r.ok()) return r.status();
    pg::Rows rows(*r);
    if (rows.empty()) return absl::OkStatus();
    vpb::ViewDefinition d;
    if (!google::protobuf::util::JsonStringToMessage(rows[0][0].str(), &d).ok())
      return absl::DataLossError(absl::StrCat("view ", name, ": stored definition is not readable"));
    d.clear_owner_permissions();
    for (const auto& p : perms) d.add_owner_permissions(p);
    return w
        .Exec("UPDATE views SET definition = $2, updated_at_us = $3 WHERE name = $1", name, ViewJson(d),
              absl::ToUnixMicros(absl::Now()))
        .status();
  });
}

}  // namespace sa::admin
