// The query.v1 gRPC layer: request in, QueryEngine, responses and audit out.
#include <google/protobuf/any.pb.h>

#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "admin/ask.h"
#include "admin/query.h"
#include "admin/services.h"
#include "common/status.h"
#include "dsl/error.h"
#include "observability/grpc_server.h"
#include "observability/metrics.h"
#include "streamadmin/query/v1/query.grpc.pb.h"

namespace sa::admin {
namespace {

namespace qpb = streamadmin::query::v1;

constexpr int kBatchRows = 1000;
constexpr size_t kBatchBytes = 256 * 1024;

// INVALID_ARGUMENT with the DSL's position also as status details (an
// RpcStatus, google.rpc.Status on the wire, holding a QueryError).
qpb::QueryError ErrorOf(const absl::Status& st) {
  qpb::QueryError e;
  e.set_formatted(std::string(st.message()));
  if (auto d = dsl::GetErrorDetail(st)) {
    e.set_line(d->line);
    e.set_column(d->column);
    e.set_length(d->length);
    e.set_message(d->message);
    e.set_hint(d->hint);
  } else {
    e.set_message(std::string(st.message()));
  }
  return e;
}

}  // namespace

grpc::Status DslReply(const absl::Status& st) {
  if (!absl::IsInvalidArgument(st) || !dsl::GetErrorDetail(st)) return ToGrpcStatus(st);
  qpb::RpcStatus details;
  details.set_code(static_cast<int>(st.code()));
  details.set_message(std::string(st.message()));
  details.add_details()->PackFrom(ErrorOf(st));
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(st.message()), details.SerializeAsString());
}

namespace {

void AddColumns(const std::vector<dsl::SqlColumn>& cols, google::protobuf::RepeatedPtrField<qpb::Column>* out) {
  for (const auto& c : cols) {
    auto* col = out->Add();
    col->set_name(c.name);
    col->set_type(dsl::TypeName(c.type));
  }
}

class QueryProbe {
 public:
  QueryProbe() {
    auto& r = obs::MetricsRegistry::Default();
    for (const char* outcome : {"ok", "invalid", "denied", "timeout", "cancelled", "error"})
      queries_[Index(outcome)] =
          &r.GetCounter("streamadmin_admin_queries_total", "DSL queries run, by outcome", {{"outcome", outcome}});
    rows_ = &r.GetCounter("streamadmin_admin_query_rows_total", "Rows returned by DSL queries");
    truncated_ = &r.GetCounter("streamadmin_admin_query_truncated_total", "DSL query results cut at the row limit");
    seconds_ = &r.GetHistogram("streamadmin_admin_query_seconds", "DSL query duration (Run)");
  }
  void Done(const absl::Status& st, uint64_t rows, bool truncated, absl::Duration d) {
    queries_[Index(Outcome(st))]->Inc();
    rows_->Inc(static_cast<double>(rows));
    if (truncated) truncated_->Inc();
    seconds_->Observe(absl::ToDoubleSeconds(d));
  }
  static const char* Outcome(const absl::Status& st) {
    if (st.ok()) return "ok";
    if (absl::IsInvalidArgument(st)) return "invalid";
    if (absl::IsPermissionDenied(st)) return "denied";
    if (absl::IsDeadlineExceeded(st)) return "timeout";
    if (absl::IsCancelled(st)) return "cancelled";
    return "error";
  }

 private:
  static int Index(std::string_view o) {
    static const char* names[] = {"ok", "invalid", "denied", "timeout", "cancelled", "error"};
    for (int i = 0; i < 6; ++i)
      if (o == names[i]) return i;
    return 5;
  }
  obs::Counter* queries_[6] = {};
  obs::Counter* rows_;
  obs::Counter* truncated_;
  obs::Histogram* seconds_;
};

class QueryService final : public qpb::Query::Service {
 public:
  QueryService(AdminCore* core, QueryEngine* engine, AskOptions ask)
      : core_(core), engine_(engine), ask_(std::move(ask)) {}

  grpc::Status Run(grpc::ServerContext* ctx, const qpb::RunRequest* req,
                   grpc::ServerWriter<qpb::RunResponse>* writer) override {
    const absl::Time start = absl::Now();
    const auth::Caller caller = core_->CallerOf(*ctx);
    std::string denied;
    auto q = engine_->Compile(caller, req->query(), req->max_rows(), &denied);
    if (!q.ok()) return Finish(ctx, caller, "query.run", denied, req->query(), q.status(), {}, start);
    auto stats = Stream(ctx, *q, writer, start);
    return Finish(ctx, caller, "query.run", q->plan.source->name, req->query(), stats.status(),
                  stats.ok() ? *stats : RunStats{}, start);
  }

  // Translate (admin/ask.h), check with the caller's permissions exactly as
  // Run does, then stream like Run. The model never sees rows. Audited as
  // query.ask with the question and the DSL, whatever the outcome.
  grpc::Status Ask(grpc::ServerContext* ctx, const qpb::AskRequest* req,
                   grpc::ServerWriter<qpb::AskResponse>* writer) override {
    const absl::Time start = absl::Now();
    const auth::Caller caller = core_->CallerOf(*ctx);
    std::string denied;
    std::string dsl_text;
    std::optional<CompiledQuery> compiled;
    auto audit = [&](const std::string& source, const absl::Status& st, RunStats stats, int tries) {
      const std::string text = absl::StrCat("asked (tries=", tries, "): ", req->question(), " | dsl: ", dsl_text);
      return Finish(ctx, caller, "query.ask", source, text, st, stats, start);
    };
    if (ask_.endpoint.empty())
      return audit(
          "", absl::FailedPreconditionError("no model configured for Ask: set the admin config key 'ask.endpoint'"), {},
          0);
    if (req->question().empty()) return audit("", absl::InvalidArgumentError("an empty question"), {}, 0);
    if (req->question().size() > 4096)
      return audit("", absl::InvalidArgumentError("the question is longer than 4096 bytes"), {}, 0);
    auto catalog = engine_->CatalogFor(caller);
    if (!catalog.ok()) return audit("", catalog.status(), {}, 0);
    ChatClient client(ask_);
    auto t = Translate(client, **catalog, req->question(), [&](const std::string& dsl) -> absl::Status {
      dsl_text = dsl;
      if (ctx->IsCancelled()) return absl::CancelledError("the caller cancelled");
      auto q = engine_->Compile(caller, dsl, req->max_rows(), &denied);
      if (!q.ok()) return q.status();
      compiled = std::move(*q);
      return absl::OkStatus();
    });
    if (!t.ok()) return audit(denied, t.status(), {}, 0);
    const std::string source = compiled->plan.source->name;
    qpb::AskResponse first;
    auto* a = first.mutable_answer();
    a->set_dsl(t->answer.dsl);
    a->set_explanation(t->answer.explanation);
    a->set_tries(static_cast<uint32_t>(t->tries));
    a->set_source(source);
    writer->Write(first);
    if (req->dry_run()) return audit(source, absl::OkStatus(), {}, t->tries);
    auto stats = Stream(ctx, *compiled, writer, start);
    return audit(source, stats.status(), stats.ok() ? *stats : RunStats{}, t->tries);
  }

  grpc::Status Explain(grpc::ServerContext* ctx, const qpb::ExplainRequest* req, qpb::ExplainResponse* resp) override {
    const absl::Time start = absl::Now();
    const auth::Caller caller = core_->CallerOf(*ctx);
    std::string denied;
    auto q = engine_->Compile(caller, req->query(), req->max_rows(), &denied);
    if (!q.ok()) return Finish(ctx, caller, "query.explain", denied, req->query(), q.status(), {}, start);
    auto plan = engine_->Explain(*q);
    if (!plan.ok())
      return Finish(ctx, caller, "query.explain", q->plan.source->name, req->query(), plan.status(), {}, start);
    resp->set_sql(q->sql.sql);
    for (const auto& p : q->sql.params) {
      auto* cell = resp->add_params();
      if (p)
        cell->set_text(*p);
      else
        cell->set_is_null(true);
    }
    resp->set_plan(*plan);
    AddColumns(q->sql.columns, resp->mutable_columns());
    resp->set_row_limit(static_cast<uint64_t>(q->sql.row_limit));
    resp->set_truncatable(q->sql.truncatable);
    resp->set_statement_timeout_ms(q->sql.statement_timeout_ms);
    return Finish(ctx, caller, "query.explain", q->plan.source->name, req->query(), absl::OkStatus(), {}, start);
  }

  // Errors of the query are the answer (OK status); denials are audited.
  grpc::Status Validate(grpc::ServerContext* ctx, const qpb::ValidateRequest* req,
                        qpb::ValidateResponse* resp) override {
    const auth::Caller caller = core_->CallerOf(*ctx);
    std::string denied;
    auto q = engine_->Compile(caller, req->query(), 0, &denied);
    if (q.ok()) {
      resp->set_ok(true);
      resp->set_source(q->plan.source->name);
      AddColumns(q->sql.columns, resp->mutable_columns());
      return grpc::Status::OK;
    }
    if (absl::IsInvalidArgument(q.status())) {
      *resp->add_errors() = ErrorOf(q.status());
      return grpc::Status::OK;
    }
    if (absl::IsPermissionDenied(q.status()))
      return Finish(ctx, caller, "query.validate", denied, req->query(), q.status(), {}, absl::Now());
    return DslReply(q.status());
  }

  grpc::Status Catalog(grpc::ServerContext* ctx, const qpb::CatalogRequest*, qpb::CatalogResponse* resp) override {
    auto cat = engine_->CatalogFor(core_->CallerOf(*ctx));
    if (!cat.ok()) return DslReply(cat.status());
    for (const dsl::SourceDef* s : (*cat)->Sources()) {
      if (s->kind != dsl::SourceKind::kTable) continue;  // streams are for views ([9])
      auto* src = resp->add_sources();
      src->set_name(s->name);
      src->set_doc(s->doc);
      src->set_permission(s->permission);
      src->set_resource(s->resource);
      for (const auto& f : s->fields) {
        auto* col = src->add_fields();
        col->set_name(f.name);
        col->set_type(dsl::TypeName(f.type));
        col->set_doc(f.doc);
      }
    }
    return grpc::Status::OK;
  }

 private:
  // Streams q's header, row batches and trailer (RunResponse and AskResponse
  // share the part names).
  template <class Response>
  absl::StatusOr<RunStats> Stream(grpc::ServerContext* ctx, const CompiledQuery& q,
                                  grpc::ServerWriter<Response>* writer, absl::Time start) {
    Response header;
    AddColumns(q.sql.columns, header.mutable_header()->mutable_columns());
    writer->Write(header);
    Response batch;
    size_t bytes = 0;
    auto flush = [&] {
      if (batch.rows().rows_size() == 0) return true;
      const bool ok = writer->Write(batch);
      batch.Clear();
      bytes = 0;
      return ok;
    };
    auto stats = engine_->Run(
        q, [ctx] { return ctx->IsCancelled(); },
        [&](const std::vector<const char*>& values, const std::vector<bool>& nulls) {
          auto* row = batch.mutable_rows()->add_rows();
          for (size_t i = 0; i < values.size(); ++i) {
            auto* cell = row->add_cells();
            if (nulls[i]) {
              cell->set_is_null(true);
            } else {
              cell->set_text(values[i]);
              bytes += cell->text().size();
            }
          }
          bytes += 8 * values.size();
          if (batch.rows().rows_size() >= kBatchRows || bytes >= kBatchBytes) return flush();
          return true;
        });
    if (!stats.ok()) return stats.status();
    flush();
    Response trailer;
    auto* t = trailer.mutable_trailer();
    t->set_row_count(stats->rows);
    t->set_truncated(stats->truncated);
    t->set_row_limit(static_cast<uint64_t>(q.sql.row_limit));
    t->set_duration_us(absl::ToInt64Microseconds(absl::Now() - start));
    writer->Write(trailer);
    return stats;
  }

  // Audits the call (who, text, rows, duration, outcome) and answers it.
  grpc::Status Finish(grpc::ServerContext* ctx, const auth::Caller& caller, const char* action,
                      const std::string& source, const std::string& text, const absl::Status& st, RunStats stats,
                      absl::Time start) {
    const absl::Duration took = absl::Now() - start;
    if (std::string_view(action) == "query.run") probe_.Done(st, stats.rows, stats.truncated, took);
    std::string detail = absl::StrFormat("rows=%d truncated=%s duration_ms=%.3f query: %s", stats.rows,
                                         stats.truncated ? "true" : "false", absl::ToDoubleMilliseconds(took), text);
    if (!st.ok()) detail = absl::StrCat(st.message().substr(0, 300), " | ", detail);
    core_->Audit(caller.authenticated ? caller.name : "anonymous", action, source, core_->PeerOf(*ctx),
                 obs::GrpcCodeName(static_cast<grpc::StatusCode>(st.code())), detail);
    return DslReply(st);
  }

  AdminCore* core_;
  QueryEngine* engine_;
  const AskOptions ask_;
  QueryProbe probe_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeQueryService(AdminCore* core, QueryEngine* engine, const AskOptions& ask) {
  return std::make_unique<QueryService>(core, engine, ask);
}

}  // namespace sa::admin
