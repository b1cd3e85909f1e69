#include "migrations.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/builtin_roles.h"
#include "db.h"
#include "pg/rows.h"
#include "wire/subjects.h"

namespace sa::admin {
namespace {

struct Migration {
  int version;
  const char* description;
  std::function<absl::Status(Tx&)> apply;
};

// The built-in role `name` (one that exists).
const streamadmin::admin::v1::Role& Builtin(const std::string& name) {
  static const auto* roles = new std::vector<streamadmin::admin::v1::Role>(auth::BuiltinRoles());
  return *std::find_if(roles->begin(), roles->end(), [&](const auto& r) { return r.name() == name; });
}

// The stored spec of role `name`; nullopt when there is none or it does not parse.
absl::StatusOr<std::optional<streamadmin::admin::v1::Role>> StoredRole(Tx& w, const std::string& name) {
  auto r = w.Exec("SELECT spec FROM roles WHERE name = $1", name);
  if (!r.ok()) return r.status();
  pg::Rows rows(*r);
  streamadmin::admin::v1::Role stored;
  if (rows.empty() || !google::protobuf::util::JsonStringToMessage(rows[0][0].str(), &stored).ok())
    return std::optional<streamadmin::admin::v1::Role>();
  return std::optional<streamadmin::admin::v1::Role>(std::move(stored));
}

absl::Status SaveSpec(Tx& w, const streamadmin::admin::v1::Role& role, bool only_if_missing) {
  std::string spec;
  (void)google::protobuf::util::MessageToJsonString(role, &spec);
  return w
      .Exec(only_if_missing ? "INSERT INTO roles (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING"
                            : "UPDATE roles SET spec = $2 WHERE name = $1",
            role.name(), spec)
      .status();
}

const std::vector<Migration>& Migrations() {
  static const auto* m = new std::vector<Migration>{
      {1, "users, roles, bindings, api keys, refresh tokens, append-only audit log",
       [](Tx& w) -> absl::Status {
         return w.ExecScript(R"sql(
CREATE TABLE users (
  id text PRIMARY KEY,
  username text NOT NULL UNIQUE,
  display_name text NOT NULL DEFAULT '',
  password_hash text NOT NULL,
  disabled boolean NOT NULL DEFAULT false,
  created_at_us bigint NOT NULL,
  failed_logins integer NOT NULL DEFAULT 0,
  locked_until_us bigint NOT NULL DEFAULT 0);
CREATE TABLE roles (
  name text PRIMARY KEY,
  spec text NOT NULL);
CREATE TABLE user_roles (
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role text NOT NULL REFERENCES roles(name) ON DELETE CASCADE,
  PRIMARY KEY (user_id, role));
CREATE TABLE api_keys (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name text NOT NULL,
  prefix text NOT NULL,
  hash text NOT NULL,
  created_at_us bigint NOT NULL,
  expires_at_us bigint NOT NULL,
  revoked boolean NOT NULL DEFAULT false);
CREATE TABLE refresh_tokens (
  id text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  hash text NOT NULL,
  expires_at_us bigint NOT NULL,
  revoked boolean NOT NULL DEFAULT false);
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  time_us bigint NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  resource text NOT NULL,
  peer text NOT NULL,
  outcome text NOT NULL,
  detail text NOT NULL);
CREATE INDEX audit_log_time ON audit_log (time_us DESC);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
)sql");
       }},
      {2, "built-in roles (admin, viewer, one per service)",
       [](Tx& w) -> absl::Status {
         for (const auto& role : auth::BuiltinRoles())
           if (auto st = SaveSpec(w, role, /*only_if_missing=*/true); !st.ok()) return st;
         return absl::OkStatus();
       }},
      {3,
       "durable revocations, API key permission sets, refresh token use, per-name login failures, viewer "
       "without audit:read (idempotent)",
       [](Tx& w) -> absl::Status {
         if (auto st = w.ExecScript(R"sql(
CREATE TABLE IF NOT EXISTS revocations (
  kind text NOT NULL,
  id text NOT NULL,
  until_us bigint NOT NULL,
  issued_before_us bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (kind, id));
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS permissions text;
ALTER TABLE refresh_tokens ADD COLUMN IF NOT EXISTS used_at_us bigint;
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS login_failures (
  username text PRIMARY KEY,
  failures integer NOT NULL,
  locked_until_us bigint NOT NULL DEFAULT 0,
  last_failure_us bigint NOT NULL);
)sql");
             !st.ok())
           return st;
         // The built-in viewer granted "*:read", which covers audit:read. A viewer
         // role still holding exactly that gets the built-in explicit list.
         auto stored = StoredRole(w, "viewer");
         if (!stored.ok() || !*stored) return stored.status();
         auto& viewer = **stored;
         if (viewer.permissions_size() != 1 || viewer.permissions(0).resource() != "*" ||
             viewer.permissions(0).action() != "read")
           return absl::OkStatus();
         *viewer.mutable_permissions() = Builtin("viewer").permissions();
         return SaveSpec(w, viewer, /*only_if_missing=*/false);
       }},
      {4, "the built-in viewer queries market data in the warehouse (md:read, query.v1)",
       [](Tx& w) -> absl::Status {
         // Only a stored viewer that is still the built-in one of schema 3
         // (its explicit reads, nothing else): an edited role is left alone.
         const std::vector<std::string> schema3 = {"control:read", "ingest:read", "normalizer:read", "cdc:read",
                                                   "users:read",   "roles:read",  "apikeys:read"};
         auto stored = StoredRole(w, "viewer");
         if (!stored.ok() || !*stored) return stored.status();
         auto& viewer = **stored;
         std::vector<std::string> perms;
         for (const auto& p : viewer.permissions()) perms.push_back(p.resource() + ":" + p.action());
         if (perms != schema3) return absl::OkStatus();
         auto* md = viewer.add_permissions();
         md->set_resource("md");
         md->set_action("read");
         return SaveSpec(w, viewer, /*only_if_missing=*/false);
       }},
      {5,
       "built-in service roles: JetStream API rights scoped to their own "
       "streams and consumers",
       [](Tx& w) -> absl::Status {
         // The service roles of schema 2 granted "$JS.API.>" (any stream, any
         // consumer, republish onto any subject). A stored service role still
         // granting it gets the built-in NATS lists; a role an operator changed
         // otherwise is left alone.
         for (const auto& role : auth::BuiltinRoles()) {
           if (!role.name().starts_with("svc-")) continue;
           auto stored = StoredRole(w, role.name());
           if (!stored.ok()) return stored.status();
           if (!*stored) continue;
           const auto& allow = (*stored)->nats().publish_allow();
           if (std::find(allow.begin(), allow.end(), "$JS.API.>") == allow.end()) continue;
           *(*stored)->mutable_nats() = role.nats();
           if (auto st = SaveSpec(w, **stored, /*only_if_missing=*/false); !st.ok()) return st;
         }
         return absl::OkStatus();
       }},
      {6, "built-in svc-warehouse-sink role; svc-cdc-bridge without the warehouse sink's rights",
       [](Tx& w) -> absl::Status {
         // The sinks left cdc-bridge for warehouse-sink. The new role is
         // added (a role of that name an operator made is kept); a stored
         // svc-cdc-bridge that is still exactly schema 5's built-in one
         // loses what moved. Schema 5's = today's cdc-bridge lists plus the
         // sink's own rights: what svc-warehouse-sink publishes that
         // svc-cdc-bridge does not, its audit subjects aside.
         const auto& sink = Builtin("svc-warehouse-sink");
         const auto& bridge = Builtin("svc-cdc-bridge");
         if (auto st = SaveSpec(w, sink, /*only_if_missing=*/true); !st.ok()) return st;
         auto stored = StoredRole(w, "svc-cdc-bridge");
         if (!stored.ok() || !*stored) return stored.status();
         std::set<std::string> schema5(bridge.nats().publish_allow().begin(), bridge.nats().publish_allow().end());
         for (const auto& s : sink.nats().publish_allow())
           if (!s.starts_with(wire::kAuditPrefix)) schema5.insert(s);
         const auto& n = (*stored)->nats();
         const std::set<std::string> have(n.publish_allow().begin(), n.publish_allow().end());
         const bool same_rest = std::equal(n.subscribe_allow().begin(), n.subscribe_allow().end(),
                                           bridge.nats().subscribe_allow().begin(),
                                           bridge.nats().subscribe_allow().end()) &&
                                n.publish_deny().empty() && n.subscribe_deny().empty();
         if (have != schema5 || !same_rest) return absl::OkStatus();  // changed by an operator: left alone
         *(*stored)->mutable_nats() = bridge.nats();
         return SaveSpec(w, **stored, /*only_if_missing=*/false);
       }},
      // Idempotent, like every migration: an upgrade test re-runs them from an earlier version.
      {7, "continuous views: one row per name (dropped ones kept, so a re-created view gets a new version)",
       [](Tx& w) -> absl::Status {
         if (auto st = w.ExecScript(R"sql(
CREATE TABLE IF NOT EXISTS views (
  name text PRIMARY KEY,
  version bigint NOT NULL,
  owner_id text NOT NULL,
  definition text NOT NULL,
  dropped boolean NOT NULL DEFAULT false,
  updated_at_us bigint NOT NULL);
)sql");
             !st.ok())
           return st;
         // The views service's role, and the admin's rights on the view
         // buckets (a stored svc-admin still exactly schema 6's gets them;
         // one an operator changed is left alone).
         if (auto st = SaveSpec(w, Builtin("svc-views"), /*only_if_missing=*/true); !st.ok()) return st;
         auto stored = StoredRole(w, "svc-admin");
         if (!stored.ok() || !*stored) return stored.status();
         const auto& n = (*stored)->nats();
         const bool schema6 = n.publish_allow_size() == 1 && n.publish_allow(0) == wire::kAuthRevoked &&
                              n.publish_deny().empty() && n.subscribe_deny().empty();
         if (!schema6) return absl::OkStatus();
         *(*stored)->mutable_nats()->mutable_publish_allow() = Builtin("svc-admin").nats().publish_allow();
         return SaveSpec(w, **stored, /*only_if_missing=*/false);
       }},
      {8, "built-in svc-normalizer reads MD_RAW's stream state (book checkpoints under per-service credentials)",
       [](Tx& w) -> absl::Status {
         // A stored svc-normalizer that is still exactly schema 7's built-in
         // one (today's without the new right) gets it; an edited one is
         // left alone.
         const std::string added = "$JS.API.STREAM.INFO.MD_RAW";
         const auto& builtin = Builtin("svc-normalizer");
         std::set<std::string> schema7(builtin.nats().publish_allow().begin(), builtin.nats().publish_allow().end());
         schema7.erase(added);
         auto stored = StoredRole(w, "svc-normalizer");
         if (!stored.ok() || !*stored) return stored.status();
         const std::set<std::string> have((*stored)->nats().publish_allow().begin(),
                                          (*stored)->nats().publish_allow().end());
         if (have != schema7) return absl::OkStatus();
         (*stored)->mutable_nats()->add_publish_allow(added);
         return SaveSpec(w, **stored, /*only_if_missing=*/false);
       }},
  };
  return *m;
}

}  // namespace

int LatestSchemaVersion() { return Migrations().back().version; }

absl::StatusOr<int> Migrate(pg::Connection& conn, const char* what) {
  Tx w(conn, what);
  if (auto st = w.Begin(); !st.ok()) return st;
  // Every migration not recorded as applied runs, in order: a gap (a row
  // removed by hand, or a version skipped by an older binary) is filled, not
  // hidden behind a higher applied version. Migrations are idempotent.
  auto run = [&]() -> absl::StatusOr<int> {
    if (auto st = w.ExecScript(
            "SELECT pg_advisory_xact_lock(7105001); "
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, description text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())");
        !st.ok())
      return st;
    auto r = w.Exec("SELECT version FROM schema_migrations");
    if (!r.ok()) return r.status();
    std::set<int> applied;
    for (pg::Row row : pg::Rows(*r)) applied.insert(row[0].as<int>());
    for (const auto& m : Migrations()) {
      if (applied.count(m.version)) continue;
      if (auto st = m.apply(w); !st.ok()) return st;
      auto rec = w.Exec("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)", m.version,
                        std::string(m.description));
      if (!rec.ok()) return rec.status();
      applied.insert(m.version);
    }
    return applied.empty() ? 0 : *applied.rbegin();
  };
  auto version = run();
  if (!version.ok()) {
    w.Rollback();
    return version;
  }
  if (auto st = w.Commit(); !st.ok()) return st;
  return version;
}

}  // namespace sa::admin
