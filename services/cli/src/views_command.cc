#include "cli/views_command.h"

#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "cli/rpc.h"
#include "cli/tail.h"
#include "streamadmin/views/v1/views.grpc.pb.h"
#include "wire/subjects.h"

namespace sa::cli {
namespace {

namespace vpb = streamadmin::views::v1;

int Fail(const ViewsOptions& o, const grpc::Status& st) {
  return ReportFailure("views", "admin", CallOptionsOf(o), st);
}

int Usage(const std::string& what) { return ReportUsage("views", what); }

// --from: now | beginning | seq:N | time:RFC3339
bool ParseFrom(const std::string& s, vpb::StartAt* out) {
  if (s == "now") {
    out->set_now(true);
  } else if (s == "beginning") {
    out->set_beginning(true);
  } else if (absl::StartsWith(s, "seq:")) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(s.substr(4), &n) || n == 0) return false;
    out->set_stream_sequence(n);
  } else if (absl::StartsWith(s, "time:")) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, s.substr(5), &t, &err)) return false;
    out->set_time_ns(absl::ToUnixNanos(t));
  } else {
    return false;
  }
  return true;
}

const char* StateName(vpb::ViewState s, bool has_status) {
  if (!has_status) return "PENDING";
  switch (s) {
    case vpb::VIEW_STATE_STARTING:
      return "STARTING";
    case vpb::VIEW_STATE_RUNNING:
      return "RUNNING";
    case vpb::VIEW_STATE_STOPPED:
      return "STOPPED";
    case vpb::VIEW_STATE_FAILED:
      return "FAILED";
    default:
      return "?";
  }
}

void PrintInfo(const vpb::ViewInfo& v) {
  const auto& d = v.definition();
  const auto& s = v.status();
  std::printf("view %s v%llu (%s, owner %s)\n  %s\n", d.name().c_str(), static_cast<unsigned long long>(d.version()),
              d.emit() == vpb::EMIT_CHANGES ? "emit changes" : "emit final",
              d.owner().empty() ? "-" : d.owner().c_str(), d.statement().c_str());
  std::printf("  subject view.%s, reads %s\n", d.name().c_str(),
              d.subjects().empty() ? "?" : absl::StrJoin(d.subjects(), ", ").c_str());
  std::printf("  state %s%s%s\n", StateName(s.state(), v.has_status()), s.reason().empty() ? "" : ": ",
              s.reason().c_str());
  if (v.has_status())
    std::printf(
        "  replica %s, position %llu, lag %llu, in %.1f/s, out %.1f/s, late %llu, invalid %llu, memory %llu B\n",
        s.owner_replica().c_str(), static_cast<unsigned long long>(s.position()),
        static_cast<unsigned long long>(s.input_lag()), s.inputs_per_s(), s.outputs_per_s(),
        static_cast<unsigned long long>(s.late()), static_cast<unsigned long long>(s.invalid()),
        static_cast<unsigned long long>(s.memory_bytes()));
}

int Put(const ViewsOptions& o, vpb::Views::Stub& stub, bool create) {
  if (o.name.empty() || o.statement.empty()) return Usage(absl::StrCat(o.action, " NAME 'STATEMENT'"));
  if (o.emit != "final" && o.emit != "changes") return Usage("--emit is final or changes");
  vpb::StartAt start;
  if (!ParseFrom(o.from, &start))
    return Usage(absl::StrCat("--from '", o.from, "': now, beginning, seq:N (N >= 1) or time:RFC3339"));
  vpb::ViewInfo out;
  grpc::Status st;
  auto ctx = MakeContext(CallOptionsOf(o));
  const vpb::Emit emit = o.emit == "changes" ? vpb::EMIT_CHANGES : vpb::EMIT_FINAL;
  if (create) {
    vpb::CreateViewRequest req;
    req.set_name(o.name);
    req.set_statement(o.statement);
    req.set_emit(emit);
    *req.mutable_start() = start;
    req.set_memory_limit_bytes(o.memory_limit_bytes);
    st = stub.CreateView(ctx.get(), req, &out);
  } else {
    vpb::ReplaceViewRequest req;
    req.set_name(o.name);
    req.set_statement(o.statement);
    req.set_emit(emit);
    *req.mutable_start() = start;
    req.set_memory_limit_bytes(o.memory_limit_bytes);
    st = stub.ReplaceView(ctx.get(), req, &out);
  }
  if (!st.ok()) return Fail(o, st);
  if (o.json) {
    std::printf("%s\n", ProtoJson(out).c_str());
  } else {
    std::printf("%s view %s v%llu; outputs on view.%s\n", create ? "created" : "replaced", o.name.c_str(),
                static_cast<unsigned long long>(out.definition().version()), o.name.c_str());
  }
  return 0;
}

}  // namespace

int RunViews(const ViewsOptions& o) {
  if (o.action == "tail") {
    if (o.name.empty()) return Usage("tail NAME");
    TailOptions t;
    t.server = o.server;
    t.subject = wire::ViewSubject(o.name);
    t.limit = o.limit;
    return RunTail(t);
  }
  auto channel = MakeChannel(CallOptionsOf(o));
  auto stub = vpb::Views::NewStub(channel);
  if (o.action == "create") return Put(o, *stub, true);
  if (o.action == "replace") return Put(o, *stub, false);
  if (o.action == "drop") {
    if (o.name.empty()) return Usage("drop NAME");
    vpb::DropViewRequest req;
    req.set_name(o.name);
    vpb::DropViewResponse resp;
    auto ctx = MakeContext(CallOptionsOf(o));
    if (auto st = stub->DropView(ctx.get(), req, &resp); !st.ok()) return Fail(o, st);
    std::printf("dropped view %s (v%llu)\n", o.name.c_str(), static_cast<unsigned long long>(resp.version()));
    return 0;
  }
  if (o.action == "get") {
    if (o.name.empty()) return Usage("get NAME");
    vpb::GetViewRequest req;
    req.set_name(o.name);
    vpb::ViewInfo resp;
    auto ctx = MakeContext(CallOptionsOf(o));
    if (auto st = stub->GetView(ctx.get(), req, &resp); !st.ok()) return Fail(o, st);
    if (o.json)
      std::printf("%s\n", ProtoJson(resp).c_str());
    else
      PrintInfo(resp);
    return 0;
  }
  if (o.action == "list") {
    vpb::ListViewsResponse resp;
    auto ctx = MakeContext(CallOptionsOf(o));
    if (auto st = stub->ListViews(ctx.get(), vpb::ListViewsRequest(), &resp); !st.ok()) return Fail(o, st);
    if (o.json) {
      std::printf("%s\n", ProtoJson(resp).c_str());
      return 0;
    }
    std::printf("%-24s %4s %-8s %-20s %10s %8s %10s %10s %s\n", "NAME", "VER", "STATE", "REPLICA", "POSITION", "LAG",
                "IN/S", "OUT/S", "REASON");
    for (const auto& v : resp.views()) {
      const auto& s = v.status();
      std::printf("%-24s %4llu %-8s %-20s %10llu %8llu %10.1f %10.1f %s\n", v.definition().name().c_str(),
                  static_cast<unsigned long long>(v.definition().version()), StateName(s.state(), v.has_status()),
                  s.owner_replica().empty() ? "-" : s.owner_replica().c_str(),
                  static_cast<unsigned long long>(s.position()), static_cast<unsigned long long>(s.input_lag()),
                  s.inputs_per_s(), s.outputs_per_s(), s.reason().c_str());
    }
    return 0;
  }
  return Usage(absl::StrCat("unknown action '", o.action, "': create, replace, list, get, drop or tail"));
}

}  // namespace sa::cli
