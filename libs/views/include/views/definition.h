// What admin and the views service agree on about a view definition
// (streamadmin.views.v1.ViewDefinition): names, the catalog its statement is
// checked against, the check itself, the owner's right to read its source,
// and where its outputs, checkpoints and leases live.
//
// Admin checks a definition with these functions before storing it; every
// views replica checks it again with the same functions before running it, so
// a definition that admin accepted runs the same way on every replica.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dsl/catalog.h"
#include "dsl/checker.h"
#include "streamadmin/views/v1/views.pb.h"
#include "views/engine.h"
#include "wire/subjects.h"

namespace sa::views {

// The KV buckets (defaults; ViewsConfig may rename them).
inline constexpr char kDefinitionsBucket[] = "VIEW_DEFINITIONS";
inline constexpr char kLeasesBucket[] = "VIEW_LEASES";
inline constexpr char kCheckpointsBucket[] = "VIEW_CHECKPOINTS";
inline constexpr char kStatusBucket[] = "VIEW_STATUS";
inline constexpr char kOutputStream[] = "VIEWS";

// [a-z0-9_]{1,64}: InvalidArgument naming what is wrong otherwise.
absl::Status ValidateViewName(const std::string& name);

// Outputs of view `name`: "view.<name>"; the output stream captures "view.>".
std::string OutputSubject(const std::string& name);
inline constexpr const char* kOutputSubjects = wire::kViewAll;
// Late and undecodable inputs of view `name`: "dlq.view.<name>".
std::string DeadLetterSubject(const std::string& name);
// The durable consumer a view reads its source through: "view_<name>".
std::string DurableName(const std::string& name);

// The catalog a definition's statement is checked against: the built-in
// market data and anomaly streams, plus its captured table (cdc_table) if any.
std::shared_ptr<const dsl::StaticCatalog> CatalogFor(const streamadmin::views::v1::ViewDefinition& definition);

// Checks `statement` as a view: parse and types (InvalidArgument with
// line:col), a stream source, a filter/projection or a windowed aggregate,
// no now(), no order/limit. `catalog` must outlive the plan.
absl::StatusOr<dsl::Plan> CheckStatement(const std::string& statement, const dsl::Catalog& catalog);

// PermissionDenied (saying which permission) unless `permissions` may read
// the plan's source; the owner is named in the message.
absl::Status CheckOwnerMayRead(const dsl::Plan& plan, const std::string& owner,
                               const std::vector<std::string>& permissions);

// A definition made ready to run: its catalog (kept alive for the plan), the
// checked plan and a fresh engine. Errors: InvalidArgument (name, statement
// with line:col, a use a view cannot have), PermissionDenied (the owner may
// not read the source), FailedPrecondition (stopped_reason is set).
struct PreparedView {
  std::shared_ptr<const dsl::StaticCatalog> catalog;
  dsl::Plan plan;
  std::unique_ptr<Engine> engine;
};
absl::StatusOr<PreparedView> Prepare(const streamadmin::views::v1::ViewDefinition& definition,
                                     size_t default_memory_limit);

// The engine options a definition asks for (memory 0: `default_memory_limit`).
EngineOptions EngineOptionsFor(const streamadmin::views::v1::ViewDefinition& definition, size_t default_memory_limit);

}  // namespace sa::views
