#include "admin/views_admin.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bus/jetstream.h"
#include "common/status.h"
#include "dsl/catalog.h"
#include "observability/metrics.h"
#include "streamadmin/views/v1/views.grpc.pb.h"
#include "views/definition.h"

namespace sa::admin {

namespace vpb = streamadmin::views::v1;

struct ViewsAdmin::Buckets {
  std::unique_ptr<bus::JetStream> js;
  std::unique_ptr<bus::KeyValue> definitions;
  std::unique_ptr<bus::KeyValue> status;
};

namespace {

// The rights a view runs with: "*:*" when auth is off (no owner).
constexpr char kAllRights[] = "*:*";

obs::Counter& SyncErrors() {
  static obs::Counter& c = obs::MetricsRegistry::Default().GetCounter(
      "streamadmin_admin_view_sync_errors_total", "Failed synchronisations of view definitions into their bucket");
  return c;
}

// The captured table a CDC source reads, from the catalog's columns.
void FillCdcTable(const dsl::SourceDef& s, vpb::ViewDefinition* d) {
  if (s.message != dsl::MessageKind::kChangeEvent) return;
  std::vector<std::string> parts = absl::StrSplit(s.resource, '.');
  if (parts.size() != 3) return;
  auto* t = d->mutable_cdc_table();
  t->set_server(parts[0]);
  t->set_schema(parts[1]);
  t->set_table(parts[2]);
  for (const auto& f : s.fields) {
    if (f.image != dsl::CdcImage::kCurrent) continue;
    auto* c = t->add_columns();
    c->set_name(f.column);
    c->set_pg_type(f.pg_type);
  }
}

}  // namespace

class ViewsAdmin::Service final : public vpb::Views::Service {
 public:
  explicit Service(ViewsAdmin* owner) : o_(owner) {}

  grpc::Status CreateView(grpc::ServerContext* ctx, const vpb::CreateViewRequest* req, vpb::ViewInfo* out) override {
    return Put(*ctx, req->name(), req->statement(), req->emit(), req->has_start() ? &req->start() : nullptr,
               req->memory_limit_bytes(), true, out);
  }
  grpc::Status ReplaceView(grpc::ServerContext* ctx, const vpb::ReplaceViewRequest* req, vpb::ViewInfo* out) override {
    return Put(*ctx, req->name(), req->statement(), req->emit(), req->has_start() ? &req->start() : nullptr,
               req->memory_limit_bytes(), false, out);
  }

  grpc::Status DropView(grpc::ServerContext*, const vpb::DropViewRequest* req, vpb::DropViewResponse* out) override {
    if (auto st = views::ValidateViewName(req->name()); !st.ok()) return ToGrpcStatus(st);
    auto version = o_->core_->store().DropView(req->name());
    if (!version.ok()) return ToGrpcStatus(version.status());
    out->set_version(*version);
    Publish(req->name(), nullptr);
    return grpc::Status::OK;
  }

  grpc::Status GetView(grpc::ServerContext*, const vpb::GetViewRequest* req, vpb::ViewInfo* out) override {
    if (auto st = views::ValidateViewName(req->name()); !st.ok()) return ToGrpcStatus(st);
    auto v = o_->core_->store().GetView(req->name());
    if (!v.ok()) return ToGrpcStatus(v.status());
    *out->mutable_definition() = v->definition;
    AddStatus(out);
    return grpc::Status::OK;
  }

  grpc::Status ListViews(grpc::ServerContext*, const vpb::ListViewsRequest*, vpb::ListViewsResponse* out) override {
    auto all = o_->core_->store().ListViews();
    if (!all.ok()) return ToGrpcStatus(all.status());
    for (auto& v : *all) {
      if (v.dropped) continue;
      auto* info = out->add_views();
      *info->mutable_definition() = std::move(v.definition);
      AddStatus(info);
    }
    return grpc::Status::OK;
  }

 private:
  grpc::Status Put(grpc::ServerContext& ctx, const std::string& name, const std::string& statement, vpb::Emit emit,
                   const vpb::StartAt* start, uint64_t memory_limit, bool create, vpb::ViewInfo* out) {
    if (auto st = views::ValidateViewName(name); !st.ok()) return ToGrpcStatus(st);
    if (statement.empty())
      return ToGrpcStatus(absl::InvalidArgumentError("statement: required (a DSL filter or windowed aggregate)"));
    if (statement.size() > o_->options_.max_statement_bytes)
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "statement: ", statement.size(), " bytes, over the limit of ", o_->options_.max_statement_bytes)));
    if (memory_limit != 0 && memory_limit < (1u << 20))
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("memory_limit_bytes: ", memory_limit, " is below 1 MiB (0: the service's default)")));
    if (start != nullptr && start->from_case() == vpb::StartAt::kStreamSequence && start->stream_sequence() == 0)
      return ToGrpcStatus(absl::InvalidArgumentError("start.stream_sequence: sequences start at 1"));
    const auth::Caller caller = o_->core_->CallerOf(ctx);
    if (create) {
      auto all = o_->core_->store().ListViews();
      if (!all.ok()) return ToGrpcStatus(all.status());
      const size_t live = std::count_if(all->begin(), all->end(), [](const ViewRecord& v) { return !v.dropped; });
      if (live >= o_->options_.max_views)
        return ToGrpcStatus(
            absl::ResourceExhaustedError(absl::StrCat("there are ", live, " views, the limit (drop one first)")));
    }

    vpb::ViewDefinition d;
    d.set_name(name);
    d.set_statement(statement);
    d.set_emit(emit == vpb::EMIT_CHANGES ? vpb::EMIT_CHANGES : vpb::EMIT_FINAL);
    if (start != nullptr && start->from_case() != vpb::StartAt::FROM_NOT_SET)
      *d.mutable_start() = *start;
    else
      d.mutable_start()->set_now(true);
    d.set_memory_limit_bytes(memory_limit);
    d.set_owner(caller.authenticated ? caller.name : "");

    // The statement against every source admin knows (captured tables from
    // the warehouse when queries are configured), then the caller's rights.
    std::shared_ptr<const dsl::StaticCatalog> catalog;
    if (o_->query_->enabled()) {
      auto full = o_->query_->FullCatalog();
      if (full.ok()) catalog = *full;
    }
    if (!catalog) catalog = std::make_shared<dsl::StaticCatalog>(dsl::BuiltinCatalog());
    auto plan = views::CheckStatement(statement, *catalog);
    if (!plan.ok()) return DslReply(plan.status());
    if (caller.authenticated) {
      if (auto st = views::CheckOwnerMayRead(*plan, caller.name, caller.perms); !st.ok())
        return ToGrpcStatus(
            absl::PermissionDeniedError(absl::StrCat("you may not read the view's source: ", st.message())));
    }
    FillCdcTable(*plan->source, &d);
    if (caller.authenticated) {
      auto perms = o_->core_->PermissionsOf(caller.sub);
      if (!perms.ok()) return ToGrpcStatus(perms.status());
      for (const auto& p : *perms) d.add_owner_permissions(p);
    } else {
      d.add_owner_permissions(kAllRights);
    }
    // What every replica will do with it: a refusal here is a refusal there.
    d.set_version(1);
    auto prepared = views::Prepare(d, 64u << 20);
    if (!prepared.ok()) return DslReply(prepared.status());
    for (const auto& s : prepared->engine->subjects()) d.add_subjects(s);

    auto stored = o_->core_->store().PutView(std::move(d), caller.authenticated ? caller.sub : "", create);
    if (!stored.ok()) return ToGrpcStatus(stored.status());
    Publish(name, &*stored);
    *out->mutable_definition() = *stored;
    return grpc::Status::OK;
  }

  // Into the bucket now; Sync repairs what fails here.
  void Publish(const std::string& name, const vpb::ViewDefinition* d) {
    auto b = o_->Open();
    absl::Status st = b.status();
    if (b.ok())
      st = d ? (*b)->definitions->Put(name, d->SerializeAsString()).status() : (*b)->definitions->Delete(name);
    if (!st.ok()) {
      SyncErrors().Inc();
      spdlog::warn("views: {} not in {} yet ({}); the next sync retries", name, o_->options_.definitions_bucket,
                   std::string(st.message()));
      o_->ResetBuckets();
    }
  }

  void AddStatus(vpb::ViewInfo* info) {
    auto b = o_->Open();
    if (!b.ok()) return;
    auto v = (*b)->status->Get(info->definition().name());
    if (!v.ok() || !v->has_value()) return;
    vpb::ViewStatus s;
    if (s.ParseFromString(**v)) *info->mutable_status() = std::move(s);
  }

  ViewsAdmin* o_;
};

ViewsAdmin::ViewsAdmin(AdminCore* core, QueryEngine* query, std::function<bus::Connection*()> nats,
                       ViewsAdminOptions options)
    : core_(core),
      query_(query),
      nats_(std::move(nats)),
      options_(std::move(options)),
      service_(std::make_unique<Service>(this)) {
  SyncErrors();  // at 0 from the start, so increase() sees the first failure
}

ViewsAdmin::~ViewsAdmin() = default;

grpc::Service* ViewsAdmin::service() { return service_.get(); }

void ViewsAdmin::ResetBuckets() {
  std::lock_guard lock(mu_);
  buckets_.reset();
}

absl::StatusOr<ViewsAdmin::Buckets*> ViewsAdmin::Open() {
  std::lock_guard lock(mu_);
  if (buckets_) return buckets_.get();
  bus::Connection* conn = nats_();
  if (conn == nullptr) return absl::UnavailableError("NATS not started");
  auto b = std::make_unique<Buckets>();
  auto js = bus::JetStream::Create(*conn);
  if (!js.ok()) return js.status();
  b->js = *std::move(js);
  auto defs = bus::KeyValue::Create(*b->js, options_.definitions_bucket);
  if (!defs.ok()) return defs.status();
  auto status = bus::KeyValue::Create(*b->js, options_.status_bucket);
  if (!status.ok()) return status.status();
  b->definitions = *std::move(defs);
  b->status = *std::move(status);
  buckets_ = std::move(b);
  return buckets_.get();
}

absl::Status ViewsAdmin::Sync() {
  std::lock_guard sync_lock(sync_mu_);
  auto all = core_->store().ListViews();
  if (!all.ok()) return all.status();
  auto b = Open();
  if (!b.ok()) {
    SyncErrors().Inc();
    return b.status();
  }
  absl::Status first;
  auto note = [&](const absl::Status& st) {
    if (st.ok()) return;
    SyncErrors().Inc();
    if (first.ok()) first = st;
  };
  std::set<std::string> live;
  for (auto& v : *all) {
    const std::string& name = v.definition.name();
    if (v.dropped) continue;
    live.insert(name);
    // The owner's rights now: a disabled or deleted owner has none.
    if (!v.owner_id.empty()) {
      std::vector<std::string> perms;
      auto user = core_->store().FindUserById(v.owner_id);
      if (user.ok() && !user->user.disabled()) {
        auto p = core_->PermissionsOf(v.owner_id);
        if (!p.ok()) {
          note(p.status());
          continue;
        }
        perms = *std::move(p);
      } else if (!user.ok() && user.status().code() != absl::StatusCode::kNotFound) {
        note(user.status());
        continue;
      }
      std::sort(perms.begin(), perms.end());
      std::vector<std::string> had(v.definition.owner_permissions().begin(), v.definition.owner_permissions().end());
      std::sort(had.begin(), had.end());
      if (perms != had) {
        spdlog::info("views: the rights of {}'s owner {} changed; rewriting its definition", name,
                     v.definition.owner());
        note(core_->store().SetViewPermissions(name, v.definition.version(), perms));
        v.definition.clear_owner_permissions();
        for (const auto& p : perms) v.definition.add_owner_permissions(p);
      }
    }
    const std::string want = v.definition.SerializeAsString();
    auto have = (*b)->definitions->Get(name);
    if (!have.ok()) {
      note(have.status());
      continue;
    }
    if (!have->has_value() || **have != want) note((*b)->definitions->Put(name, want).status());
  }
  // Dropped and unknown keys.
  auto keys = (*b)->definitions->Keys();
  if (!keys.ok()) {
    note(keys.status());
  } else {
    for (const auto& k : *keys)
      if (!live.contains(k)) note((*b)->definitions->Delete(k));
  }
  if (!first.ok()) ResetBuckets();
  return first;
}

}  // namespace sa::admin
