// views.v1.Views on admin: continuous view definitions ([9], docs/VIEWS.md).
//
// The admin database is the source of truth (Store::PutView & co.); the
// views replicas read definitions from the JetStream KV bucket
// VIEW_DEFINITIONS, which this class writes right after each change and
// re-synchronises every few seconds (Sync): a definition the bucket missed
// (NATS down at the time) arrives late, never not at all, and a drop removes
// the key.
//
// Rights: Create/Replace need views:write and the caller's right to read the
// statement's source (md:read, cdc:read or a per-table cdc.<...>:read); the
// view then runs with its owner's rights, which Sync re-reads from the
// owner's roles (a disabled or deleted owner has none) and writes into the
// definition, so a view whose owner lost them stops, saying why.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "admin/query.h"
#include "admin/services.h"
#include "bus/connection.h"
#include "bus/kv.h"

namespace sa::admin {

struct ViewsAdminOptions {
  std::string definitions_bucket = "VIEW_DEFINITIONS";
  std::string status_bucket = "VIEW_STATUS";
  size_t max_statement_bytes = 64 * 1024;
  size_t max_views = 1000;
};

class ViewsAdmin {
 public:
  // `nats`: the admin's connection once NATS is started (null before).
  ViewsAdmin(AdminCore* core, QueryEngine* query, std::function<bus::Connection*()> nats,
             ViewsAdminOptions options = {});
  ~ViewsAdmin();

  grpc::Service* service();
  // Database -> bucket: puts what differs, deletes dropped and unknown keys,
  // rewrites owners' rights that changed. Returns the first error.
  absl::Status Sync();

 private:
  class Service;
  struct Buckets;
  absl::StatusOr<Buckets*> Open();
  void ResetBuckets();

  AdminCore* core_;
  QueryEngine* query_;
  std::function<bus::Connection*()> nats_;
  const ViewsAdminOptions options_;
  std::unique_ptr<Service> service_;
  std::mutex mu_;  // guards buckets_
  std::unique_ptr<Buckets> buckets_;
  std::mutex sync_mu_;  // one Sync at a time
};

}  // namespace sa::admin
