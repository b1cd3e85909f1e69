#include "views/definition.h"

#include "absl/strings/str_cat.h"
#include "auth/permissions.h"
#include "wire/subjects.h"

namespace sa::views {

namespace vpb = streamadmin::views::v1;

absl::Status ValidateViewName(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return absl::InvalidArgumentError(absl::StrCat("view name '", name.substr(0, 80), "' must be 1-64 characters"));
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return absl::InvalidArgumentError(
          absl::StrCat("view name '", name, "' may hold only a-z, 0-9 and _ (it becomes the subject view.<name>)"));
  }
  return absl::OkStatus();
}

std::string OutputSubject(const std::string& name) { return wire::ViewSubject(name); }
std::string DeadLetterSubject(const std::string& name) { return wire::ViewDlqSubject(name); }
std::string DurableName(const std::string& name) { return absl::StrCat("view_", name); }

std::shared_ptr<const dsl::StaticCatalog> CatalogFor(const vpb::ViewDefinition& definition) {
  auto catalog = std::make_shared<dsl::StaticCatalog>(dsl::BuiltinCatalog());
  if (definition.has_cdc_table()) {
    const auto& t = definition.cdc_table();
    std::vector<dsl::StaticCatalog::Column> columns;
    for (const auto& c : t.columns()) columns.push_back({c.name(), c.pg_type()});
    catalog->AddCdcTable(t.server(), t.schema(), t.table(), columns);
  }
  return catalog;
}

absl::StatusOr<dsl::Plan> CheckStatement(const std::string& statement, const dsl::Catalog& catalog) {
  dsl::CheckOptions options;
  options.allowed_uses = static_cast<unsigned>(dsl::Use::kFilter) | static_cast<unsigned>(dsl::Use::kWindowedAggregate);
  return dsl::Check(statement, catalog, options);
}

absl::Status CheckOwnerMayRead(const dsl::Plan& plan, const std::string& owner,
                               const std::vector<std::string>& permissions) {
  const dsl::SourceDef& s = *plan.source;
  if (auth::AllowsRead(permissions, s.permission, s.resource)) return absl::OkStatus();
  if (s.permission == "cdc:read" && !s.resource.empty())
    return absl::PermissionDeniedError(
        absl::StrCat("owner '", owner, "' lacks 'cdc:read' (or 'cdc.", s.resource, ":read') needed to read ", s.name));
  return absl::PermissionDeniedError(
      absl::StrCat("owner '", owner, "' lacks '", s.permission, "' needed to read ", s.name));
}

EngineOptions EngineOptionsFor(const vpb::ViewDefinition& definition, size_t default_memory_limit) {
  EngineOptions o;
  o.view = definition.name();
  o.version = definition.version();
  o.emit = definition.emit() == vpb::EMIT_CHANGES ? Emit::kChanges : Emit::kFinal;
  o.memory_limit_bytes = definition.memory_limit_bytes() ? definition.memory_limit_bytes() : default_memory_limit;
  return o;
}

absl::StatusOr<PreparedView> Prepare(const vpb::ViewDefinition& definition, size_t default_memory_limit) {
  if (auto st = ValidateViewName(definition.name()); !st.ok()) return st;
  if (!definition.stopped_reason().empty()) return absl::FailedPreconditionError(definition.stopped_reason());
  PreparedView v;
  v.catalog = CatalogFor(definition);
  auto plan = CheckStatement(definition.statement(), *v.catalog);
  if (!plan.ok()) return plan.status();
  v.plan = *std::move(plan);
  if (auto st = CheckOwnerMayRead(v.plan, definition.owner(),
                                  {definition.owner_permissions().begin(), definition.owner_permissions().end()});
      !st.ok())
    return st;
  auto engine = Engine::Create(v.plan, EngineOptionsFor(definition, default_memory_limit));
  if (!engine.ok()) return engine.status();
  v.engine = *std::move(engine);
  return v;
}

}  // namespace sa::views
