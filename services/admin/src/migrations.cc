#include "migrations.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "auth/builtin_roles.h"
#include "wire/subjects.h"

namespace sa::admin {
namespace {

struct Migration {
  int version;
  const char* description;
  std::function<void(pqxx::work&)> apply;
};

void Sql(pqxx::work& w, const char* sql) { w.exec(sql); }

const std::vector<Migration>& Migrations() {
  static const auto* m = new std::vector<Migration>{
      {1, "users, roles, bindings, api keys, refresh tokens, append-only audit log",
       [](pqxx::work& w) {
         Sql(w, R"sql(
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
       [](pqxx::work& w) {
         for (const auto& role : auth::BuiltinRoles()) {
           std::string spec;
           (void)google::protobuf::util::MessageToJsonString(role, &spec);
           w.exec_params("INSERT INTO roles (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", role.name(),
                         spec);
         }
       }},
      {3,
       "durable revocations, API key permission sets, refresh token use, per-name login failures, viewer "
       "without audit:read (idempotent)",
       [](pqxx::work& w) {
         Sql(w, R"sql(
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
         // The built-in viewer granted "*:read", which covers audit:read. A viewer
         // role still holding exactly that gets the built-in explicit list.
         for (const auto& role : auth::BuiltinRoles()) {
           if (role.name() != "viewer") continue;
           auto r = w.exec("SELECT spec FROM roles WHERE name = 'viewer'");
           if (r.empty()) continue;
           streamadmin::admin::v1::Role stored;
           if (!google::protobuf::util::JsonStringToMessage(r[0][0].c_str(), &stored).ok()) continue;
           if (stored.permissions_size() != 1 || stored.permissions(0).resource() != "*" ||
               stored.permissions(0).action() != "read")
             continue;
           *stored.mutable_permissions() = role.permissions();
           std::string spec;
           (void)google::protobuf::util::MessageToJsonString(stored, &spec);
           w.exec_params("UPDATE roles SET spec = $1 WHERE name = 'viewer'", spec);
         }
       }},
      {4, "the built-in viewer queries market data in the warehouse (md:read, query.v1)",
       [](pqxx::work& w) {
         // Only a stored viewer that is still the built-in one of schema 3
         // (its explicit reads, nothing else): an edited role is left alone.
         const std::vector<std::string> schema3 = {"control:read", "ingest:read", "normalizer:read", "cdc:read",
                                                   "users:read",   "roles:read",  "apikeys:read"};
         auto r = w.exec("SELECT spec FROM roles WHERE name = 'viewer'");
         if (r.empty()) return;
         streamadmin::admin::v1::Role stored;
         if (!google::protobuf::util::JsonStringToMessage(r[0][0].c_str(), &stored).ok()) return;
         std::vector<std::string> perms;
         for (const auto& p : stored.permissions()) perms.push_back(p.resource() + ":" + p.action());
         if (perms != schema3) return;
         auto* md = stored.add_permissions();
         md->set_resource("md");
         md->set_action("read");
         std::string spec;
         (void)google::protobuf::util::MessageToJsonString(stored, &spec);
         w.exec_params("UPDATE roles SET spec = $1 WHERE name = 'viewer'", spec);
       }},
      {5,
       "built-in service roles: JetStream API rights scoped to their own "
       "streams and consumers",
       [](pqxx::work& w) {
         // The service roles of schema 2 granted "$JS.API.>" (any stream, any
         // consumer, republish onto any subject). A stored service role still
         // granting it gets the built-in NATS lists; a role an operator changed
         // otherwise is left alone.
         for (const auto& role : auth::BuiltinRoles()) {
           if (!role.name().starts_with("svc-")) continue;
           auto r = w.exec_params("SELECT spec FROM roles WHERE name = $1", role.name());
           if (r.empty()) continue;
           streamadmin::admin::v1::Role stored;
           if (!google::protobuf::util::JsonStringToMessage(r[0][0].c_str(), &stored).ok()) continue;
           const auto& allow = stored.nats().publish_allow();
           if (std::find(allow.begin(), allow.end(), "$JS.API.>") == allow.end()) continue;
           *stored.mutable_nats() = role.nats();
           std::string spec;
           (void)google::protobuf::util::MessageToJsonString(stored, &spec);
           w.exec_params("UPDATE roles SET spec = $1 WHERE name = $2", spec, role.name());
         }
       }},
      {6, "built-in svc-warehouse-sink role; svc-cdc-bridge without the warehouse sink's rights",
       [](pqxx::work& w) {
         // The sinks left cdc-bridge for warehouse-sink. The new role is
         // added (a role of that name an operator made is kept); a stored
         // svc-cdc-bridge that is still exactly schema 5's built-in one
         // loses what moved. Schema 5's = today's cdc-bridge lists plus the
         // sink's own rights: what svc-warehouse-sink publishes that
         // svc-cdc-bridge does not, its audit subjects aside.
         const auto roles = auth::BuiltinRoles();
         auto builtin = [&](const std::string& name) -> const streamadmin::admin::v1::Role& {
           return *std::find_if(roles.begin(), roles.end(), [&](const auto& r) { return r.name() == name; });
         };
         const auto& sink = builtin("svc-warehouse-sink");
         const auto& bridge = builtin("svc-cdc-bridge");
         std::string spec;
         (void)google::protobuf::util::MessageToJsonString(sink, &spec);
         w.exec_params("INSERT INTO roles (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", sink.name(),
                       spec);
         auto r = w.exec("SELECT spec FROM roles WHERE name = 'svc-cdc-bridge'");
         if (r.empty()) return;
         streamadmin::admin::v1::Role stored;
         if (!google::protobuf::util::JsonStringToMessage(r[0][0].c_str(), &stored).ok()) return;
         std::set<std::string> schema5(bridge.nats().publish_allow().begin(), bridge.nats().publish_allow().end());
         for (const auto& s : sink.nats().publish_allow())
           if (!s.starts_with(wire::kAuditPrefix)) schema5.insert(s);
         const auto& n = stored.nats();
         const std::set<std::string> have(n.publish_allow().begin(), n.publish_allow().end());
         const bool same_rest = std::equal(n.subscribe_allow().begin(), n.subscribe_allow().end(),
                                           bridge.nats().subscribe_allow().begin(),
                                           bridge.nats().subscribe_allow().end()) &&
                                n.publish_deny().empty() && n.subscribe_deny().empty();
         if (have != schema5 || !same_rest) return;  // changed by an operator: left alone
         *stored.mutable_nats() = bridge.nats();
         spec.clear();
         (void)google::protobuf::util::MessageToJsonString(stored, &spec);
         w.exec_params("UPDATE roles SET spec = $1 WHERE name = 'svc-cdc-bridge'", spec);
       }},
      // Idempotent, like every migration: an upgrade test re-runs them from an earlier version.
      {7, "continuous views: one row per name (dropped ones kept, so a re-created view gets a new version)",
       [](pqxx::work& w) {
         Sql(w, R"sql(
CREATE TABLE IF NOT EXISTS views (
  name text PRIMARY KEY,
  version bigint NOT NULL,
  owner_id text NOT NULL,
  definition text NOT NULL,
  dropped boolean NOT NULL DEFAULT false,
  updated_at_us bigint NOT NULL);
)sql");
         // The views service's role, and the admin's rights on the view
         // buckets (a stored svc-admin still exactly schema 6's gets them;
         // one an operator changed is left alone).
         const auto roles = auth::BuiltinRoles();
         auto builtin = [&](const std::string& name) -> const streamadmin::admin::v1::Role& {
           return *std::find_if(roles.begin(), roles.end(), [&](const auto& r) { return r.name() == name; });
         };
         std::string spec;
         (void)google::protobuf::util::MessageToJsonString(builtin("svc-views"), &spec);
         w.exec_params("INSERT INTO roles (name, spec) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", "svc-views",
                       spec);
         auto r = w.exec("SELECT spec FROM roles WHERE name = 'svc-admin'");
         if (r.empty()) return;
         streamadmin::admin::v1::Role stored;
         if (!google::protobuf::util::JsonStringToMessage(r[0][0].c_str(), &stored).ok()) return;
         const auto& n = stored.nats();
         const bool schema6 = n.publish_allow_size() == 1 && n.publish_allow(0) == wire::kAuthRevoked &&
                              n.publish_deny().empty() && n.subscribe_deny().empty();
         if (!schema6) return;
         *stored.mutable_nats()->mutable_publish_allow() = builtin("svc-admin").nats().publish_allow();
         spec.clear();
         (void)google::protobuf::util::MessageToJsonString(stored, &spec);
         w.exec_params("UPDATE roles SET spec = $1 WHERE name = 'svc-admin'", spec);
       }},
      {8, "built-in svc-normalizer reads MD_RAW's stream state (book checkpoints under per-service credentials)",
       [](pqxx::work& w) {
         // A stored svc-normalizer that is still exactly schema 7's built-in
         // one (today's without the new right) gets it; an edited one is
         // left alone.
         const std::string added = "$JS.API.STREAM.INFO.MD_RAW";
         const auto roles = auth::BuiltinRoles();
         const auto& builtin =
             *std::find_if(roles.begin(), roles.end(), [](const auto& r) { return r.name() == "svc-normalizer"; });
         std::set<std::string> schema7(builtin.nats().publish_allow().begin(), builtin.nats().publish_allow().end());
         schema7.erase(added);
         auto r = w.exec("SELECT spec FROM roles WHERE name = 'svc-normalizer'");
         if (r.empty()) return;
         streamadmin::admin::v1::Role stored;
         if (!google::protobuf::util::JsonStringToMessage(r[0][0].c_str(), &stored).ok()) return;
         const std::set<std::string> have(stored.nats().publish_allow().begin(), stored.nats().publish_allow().end());
         if (have != schema7) return;
         stored.mutable_nats()->add_publish_allow(added);
         std::string spec;
         (void)google::protobuf::util::MessageToJsonString(stored, &spec);
         w.exec_params("UPDATE roles SET spec = $1 WHERE name = 'svc-normalizer'", spec);
       }},
  };
  return *m;
}

}  // namespace

int LatestSchemaVersion() { return Migrations().back().version; }

int Migrate(pqxx::connection& conn) {
  pqxx::work w(conn);
  w.exec("SELECT pg_advisory_xact_lock(7105001)");
  w.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, description text NOT NULL, "
      "applied_at timestamptz NOT NULL DEFAULT now())");
  // Every migration not recorded as applied runs, in order: a gap (a row
  // removed by hand, or a version skipped by an older binary) is filled, not
  // hidden behind a higher applied version. Migrations are idempotent.
  std::set<int> applied;
  for (const auto& row : w.exec("SELECT version FROM schema_migrations")) applied.insert(row[0].as<int>());
  for (const auto& m : Migrations()) {
    if (applied.count(m.version)) continue;
    m.apply(w);
    w.exec_params("INSERT INTO schema_migrations (version, description) VALUES ($1, $2)", m.version,
                  std::string(m.description));
    applied.insert(m.version);
  }
  w.commit();
  return applied.empty() ? 0 : *applied.rbegin();
}

}  // namespace sa::admin
