#include "cli/ask_command.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "cli/query_command.h"
#include "streamadmin/query/v1/query.grpc.pb.h"

namespace sa::cli {

namespace qpb = streamadmin::query::v1;

int RunAsk(const AskOptions& o) {
  if (o.question.empty()) {
    std::fprintf(stderr, "stream-admin ask: a question, e.g. stream-admin ask \"trades per venue today\"\n");
    return 2;
  }
  if (o.json && o.csv) {
    std::fprintf(stderr, "stream-admin ask: --json or --csv, not both\n");
    return 2;
  }
  auto channel = grpc::CreateChannel(o.target, o.credentials ? o.credentials : grpc::InsecureChannelCredentials());
  auto stub = qpb::Query::NewStub(channel);
  grpc::ClientContext ctx;
  if (!o.token.empty()) ctx.AddMetadata("authorization", "Bearer " + o.token);
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(static_cast<int64_t>(std::max(0.001, o.timeout_s) * 1000)));
  qpb::AskRequest req;
  req.set_question(o.question);
  req.set_dry_run(o.dry_run);
  req.set_max_rows(o.max_rows);
  auto reader = stub->Ask(&ctx, req);
  qpb::AskAnswer answer;
  std::vector<qpb::Column> cols;
  std::vector<qpb::Row> rows;
  qpb::Trailer trailer;
  qpb::AskResponse part;
  while (reader->Read(&part)) {
    if (part.has_answer()) answer = part.answer();
    if (part.has_header()) cols.assign(part.header().columns().begin(), part.header().columns().end());
    if (part.has_rows())
      for (auto& r : *part.mutable_rows()->mutable_rows()) rows.push_back(std::move(r));
    if (part.has_trailer()) trailer = part.trailer();
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) {
    std::fprintf(stderr, "stream-admin ask: %s\n", st.error_message().c_str());
    return 1;
  }
  const bool machine = o.json || o.csv;
  if (o.dry_run && o.json) {
    nlohmann::json j = {{"dsl", answer.dsl()}, {"explanation", answer.explanation()}, {"tries", answer.tries()}};
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::FILE* head = machine ? stderr : stdout;
  std::fprintf(head, "%s\n", answer.dsl().c_str());
  if (!answer.explanation().empty()) std::fprintf(head, "// %s\n", answer.explanation().c_str());
  if (answer.tries() > 1) std::fprintf(stderr, "(%u tries)\n", answer.tries());
  if (o.dry_run) return 0;
  if (!machine) std::printf("\n");
  return PrintResult(cols, rows, trailer, o.json, o.csv);
}

}  // namespace sa::cli
