// Versioned schema migrations of the admin database, applied in order, each
// once, inside one transaction holding an advisory lock (replicas starting
// together do not race). Never edit an applied migration: add a new one.
#pragma once

#include <pqxx/pqxx>

#include "absl/status/status.h"

namespace sa::admin {

// Applies the missing migrations; returns the schema version reached.
int Migrate(pqxx::connection& conn);
int LatestSchemaVersion();

}  // namespace sa::admin
