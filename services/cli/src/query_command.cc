#include "cli/query_command.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/rpc.h"
#include "streamadmin/query/v1/query.grpc.pb.h"

namespace sa::cli {
namespace {

namespace qpb = streamadmin::query::v1;

int Fail(const QueryOptions& o, const grpc::Status& st) {
  return ReportFailure("query", "admin", CallOptionsOf(o), st);
}

// Code points, so that the columns of names with accents line up.
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool RightAligned(const std::string& type) { return type == "int" || type == "decimal" || type == "float"; }

std::string Csv(const qpb::Cell& c) {
  if (c.is_null()) return "";
  const std::string& t = c.text();
  if (t.find_first_of(",\"\r\n") == std::string::npos) return t;
  std::string out = "\"";
  for (char ch : t) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

// A typed JSON value: ints, floats and bools as JSON; decimals stay strings
// (exact), like every other type.
nlohmann::json Json(const qpb::Cell& c, const std::string& type) {
  if (c.is_null()) return nullptr;
  if (type == "int") {
    int64_t v;
    if (absl::SimpleAtoi(c.text(), &v)) return v;
  } else if (type == "float") {
    double v;
    if (absl::SimpleAtod(c.text(), &v) && std::isfinite(v)) return v;
  } else if (type == "bool") {
    return c.text() == "t" || c.text() == "true";
  }
  return c.text();
}

std::string Text(const qpb::Cell& c, const std::string& type) {
  if (c.is_null()) return "null";
  if (type == "bool") return c.text() == "t" ? "true" : c.text() == "f" ? "false" : c.text();
  return c.text();
}

}  // namespace

int PrintResult(const std::vector<qpb::Column>& cols, const std::vector<qpb::Row>& rows, const qpb::Trailer& trailer,
                bool json, bool csv) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rows) {
      nlohmann::json obj = nlohmann::json::object();
      for (int i = 0; i < r.cells_size() && i < static_cast<int>(cols.size()); ++i)
        obj[cols[i].name()] = Json(r.cells(i), cols[i].type());
      out.push_back(std::move(obj));
    }
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else if (csv) {
    std::vector<std::string> names;
    for (const auto& c : cols) names.push_back(c.name());
    std::printf("%s\n", absl::StrJoin(names, ",").c_str());
    for (const auto& r : rows) {
      std::vector<std::string> f;
      for (const auto& c : r.cells()) f.push_back(Csv(c));
      std::printf("%s\n", absl::StrJoin(f, ",").c_str());
    }
  } else {
    std::vector<size_t> width;
    for (const auto& c : cols) width.push_back(Width(c.name()));
    for (const auto& r : rows)
      for (int i = 0; i < r.cells_size() && i < static_cast<int>(cols.size()); ++i)
        width[i] = std::max(width[i], Width(Text(r.cells(i), cols[i].type())));
    auto line = [&](const std::vector<std::string>& f) {
      std::string out;
      for (size_t i = 0; i < f.size(); ++i) {
        const std::string pad(width[i] - std::min(width[i], Width(f[i])), ' ');
        if (i) out += "  ";
        out += RightAligned(cols[i].type()) ? pad + f[i] : (i + 1 == f.size() ? f[i] : f[i] + pad);
      }
      std::printf("%s\n", out.c_str());
    };
    std::vector<std::string> head, rule;
    for (size_t i = 0; i < cols.size(); ++i) {
      head.push_back(cols[i].name());
      rule.push_back(std::string(width[i], '-'));
    }
    line(head);
    line(rule);
    for (const auto& r : rows) {
      std::vector<std::string> f;
      for (int i = 0; i < r.cells_size() && i < static_cast<int>(cols.size()); ++i)
        f.push_back(Text(r.cells(i), cols[i].type()));
      line(f);
    }
  }
  std::fprintf(stderr, "(%llu row%s%s, %.1f ms)\n", static_cast<unsigned long long>(trailer.row_count()),
               trailer.row_count() == 1 ? "" : "s",
               trailer.truncated() ? absl::StrCat("; TRUNCATED at the row limit of ", trailer.row_limit()).c_str() : "",
               static_cast<double>(trailer.duration_us()) / 1000.0);
  return 0;
}

namespace {

int Run(const QueryOptions& o, qpb::Query::Stub& stub) {
  qpb::RunRequest req;
  req.set_query(o.query);
  req.set_max_rows(o.max_rows);
  auto ctx = MakeContext(CallOptionsOf(o));
  auto reader = stub.Run(ctx.get(), req);
  std::vector<qpb::Column> cols;
  std::vector<qpb::Row> rows;
  qpb::Trailer trailer;
  qpb::RunResponse part;
  while (reader->Read(&part)) {
    if (part.has_header()) cols.assign(part.header().columns().begin(), part.header().columns().end());
    if (part.has_rows())
      for (auto& r : *part.mutable_rows()->mutable_rows()) rows.push_back(std::move(r));
    if (part.has_trailer()) trailer = part.trailer();
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) return Fail(o, st);
  return PrintResult(cols, rows, trailer, o.json, o.csv);
}

int Explain(const QueryOptions& o, qpb::Query::Stub& stub) {
  qpb::ExplainRequest req;
  req.set_query(o.query);
  req.set_max_rows(o.max_rows);
  qpb::ExplainResponse resp;
  auto ctx = MakeContext(CallOptionsOf(o));
  grpc::Status st = stub.Explain(ctx.get(), req, &resp);
  if (!st.ok()) return Fail(o, st);
  std::printf("-- SQL (read-only transaction, statement timeout %lld ms, row limit %llu%s)\n%s\n",
              static_cast<long long>(resp.statement_timeout_ms()), static_cast<unsigned long long>(resp.row_limit()),
              resp.truncatable() ? ", truncated past it" : "", resp.sql().c_str());
  std::printf("-- parameters\n");
  for (int i = 0; i < resp.params_size(); ++i)
    std::printf("$%d = %s\n", i + 1,
                resp.params(i).is_null() ? "NULL" : nlohmann::json(resp.params(i).text()).dump().c_str());
  std::printf("-- columns\n");
  for (int i = 0; i < resp.columns_size(); ++i)
    std::printf("c%d = %s (%s)\n", i + 1, resp.columns(i).name().c_str(), resp.columns(i).type().c_str());
  std::printf("-- plan\n%s\n", resp.plan().c_str());
  return 0;
}

int Validate(const QueryOptions& o, qpb::Query::Stub& stub) {
  qpb::ValidateRequest req;
  req.set_query(o.query);
  qpb::ValidateResponse resp;
  auto ctx = MakeContext(CallOptionsOf(o));
  grpc::Status st = stub.Validate(ctx.get(), req, &resp);
  if (!st.ok()) return Fail(o, st);
  if (!resp.ok()) {
    for (const auto& e : resp.errors()) std::fprintf(stderr, "%s\n", e.formatted().c_str());
    return 1;
  }
  std::vector<std::string> cols;
  for (const auto& c : resp.columns()) cols.push_back(absl::StrCat(c.name(), " ", c.type()));
  std::printf("ok: %s -> %s\n", resp.source().c_str(), absl::StrJoin(cols, ", ").c_str());
  return 0;
}

int Catalog(const QueryOptions& o, qpb::Query::Stub& stub) {
  qpb::CatalogResponse resp;
  auto ctx = MakeContext(CallOptionsOf(o));
  grpc::Status st = stub.Catalog(ctx.get(), qpb::CatalogRequest(), &resp);
  if (!st.ok()) return Fail(o, st);
  for (const auto& s : resp.sources()) {
    std::printf("%s  (%s%s)\n", s.name().c_str(), s.permission().c_str(),
                s.resource().empty() ? "" : absl::StrCat(", ", s.resource()).c_str());
    for (const auto& f : s.fields()) std::printf("  %-24s %s\n", f.name().c_str(), f.type().c_str());
  }
  return 0;
}

}  // namespace

int RunQuery(const QueryOptions& o) {
  if (!o.catalog && o.query.empty()) {
    return ReportUsage("query", "a query (or --catalog)");
  }
  if (o.json && o.csv) {
    return ReportUsage("query", "--json or --csv, not both");
  }
  auto channel = MakeChannel(CallOptionsOf(o));
  auto stub = qpb::Query::NewStub(channel);
  if (o.catalog) return Catalog(o, *stub);
  if (o.validate) return Validate(o, *stub);
  if (o.explain) return Explain(o, *stub);
  return Run(o, *stub);
}

}  // namespace sa::cli
