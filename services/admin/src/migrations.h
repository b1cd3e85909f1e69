// Versioned schema migrations of the admin database, applied in order, each
// once, inside one transaction holding an advisory lock (replicas starting
// together do not race). Never edit an applied migration: add a new one.
#pragma once

#include "absl/status/statusor.h"
#include "pg/connection.h"

namespace sa::admin {

// Applies the missing migrations; returns the schema version reached. Errors
// are worded "<what>: ..." (what: the store operation that opened the
// connection).
absl::StatusOr<int> Migrate(pg::Connection& conn, const char* what);
int LatestSchemaVersion();

}  // namespace sa::admin
