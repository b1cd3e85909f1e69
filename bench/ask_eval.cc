// ask_eval: runs the evaluation set of query.v1 Ask (bench/ask/eval.jsonl)
// against a running admin whose `ask` section points at the model to judge,
// and prints the share answered correctly, the tries needed and the latency.
//
//   build/bench/ask_eval -t 127.0.0.1:7105 --token "$STREAM_ADMIN_TOKEN" [--set bench/ask/eval.jsonl]
//
// Each line of the set is {"question", "reference"}: the rows a correct answer
// returns are the rows of the reference DSL, run through query.v1 Run on the
// same warehouse at the same moment (so the set holds for any replay of the
// recordings and any captured orders table). An answer is correct when its
// rows equal the reference's as a multiset (row order and column order
// ignored; column names are free). docs/ASK.md says how to run it.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "streamadmin/query/v1/query.grpc.pb.h"

namespace {

namespace qpb = streamadmin::query::v1;
using Rows = std::vector<std::vector<std::string>>;

struct Outcome {
  grpc::Status status;
  Rows rows;
  std::string dsl;
  uint32_t tries = 0;
};

template <class Response>
void Collect(const Response& part, Rows* rows) {
  for (const auto& r : part.rows().rows()) {
    std::vector<std::string> row;
    for (const auto& c : r.cells()) row.push_back(c.is_null() ? "\x01NULL" : c.text());
    std::sort(row.begin(), row.end());  // column order is free
    rows->push_back(std::move(row));
  }
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& token, int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

// Reads one server stream to its end: rows collected, `each` also sees every part.
template <typename Response, typename Start, typename Each>
Outcome ReadStream(const std::string& token, int seconds, Start start, Each each) {
  auto ctx = Context(token, seconds);
  auto reader = start(ctx.get());
  Outcome out;
  Response part;
  while (reader->Read(&part)) {
    each(part, out);
    Collect(part, &out.rows);
  }
  out.status = reader->Finish();
  return out;
}

Outcome Ask(qpb::Query::Stub& stub, const std::string& token, const std::string& question) {
  qpb::AskRequest req;
  req.set_question(question);
  return ReadStream<qpb::AskResponse>(
      token, 600, [&](grpc::ClientContext* ctx) { return stub.Ask(ctx, req); },
      [](const qpb::AskResponse& part, Outcome& out) {
        if (!part.has_answer()) return;
        out.dsl = part.answer().dsl();
        out.tries = part.answer().tries();
      });
}

Outcome Run(qpb::Query::Stub& stub, const std::string& token, const std::string& query) {
  qpb::RunRequest req;
  req.set_query(query);
  return ReadStream<qpb::RunResponse>(
      token, 120, [&](grpc::ClientContext* ctx) { return stub.Run(ctx, req); },
      [](const qpb::RunResponse&, Outcome&) {});
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string target = "127.0.0.1:7105";
  std::string token = std::getenv("STREAM_ADMIN_TOKEN") ? std::getenv("STREAM_ADMIN_TOKEN") : "";
  std::string set = SA_ASK_EVAL_SET;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "-t" || flag == "--target")
      target = argv[i + 1];
    else if (flag == "--token")
      token = argv[i + 1];
    else if (flag == "--set")
      set = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: ask_eval [-t host:port] [--token T] [--set eval.jsonl]\n");
      return 2;
    }
  }
  std::ifstream in(set);
  if (!in) {
    std::fprintf(stderr, "ask_eval: cannot read %s\n", set.c_str());
    return 2;
  }
  auto stub = qpb::Query::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  int total = 0, correct = 0, answered = 0;
  uint64_t tries = 0;
  std::vector<double> latency_ms;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto item = nlohmann::json::parse(line, nullptr, false);
    if (item.is_discarded() || !item.contains("question") || !item.contains("reference")) {
      std::fprintf(stderr, "ask_eval: %s: a line that is not {question, reference}: %s\n", set.c_str(), line.c_str());
      return 2;
    }
    const std::string question = item["question"];
    ++total;
    auto want = Run(*stub, token, item["reference"]);
    if (!want.status.ok()) {
      std::fprintf(stderr, "ask_eval: the reference of \"%s\" failed: %s\n", question.c_str(),
                   want.status.error_message().c_str());
      return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    auto got = Ask(*stub, token, question);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    latency_ms.push_back(ms);
    std::sort(want.rows.begin(), want.rows.end());
    std::sort(got.rows.begin(), got.rows.end());
    const char* verdict = "ERROR";
    if (got.status.ok()) {
      ++answered;
      tries += got.tries;
      verdict = got.rows == want.rows ? "ok" : "WRONG";
      if (got.rows == want.rows) ++correct;
    }
    std::printf("%-5s  tries=%u  %7.0f ms  %s\n       %s\n", verdict, got.tries, ms, question.c_str(),
                got.status.ok() ? got.dsl.c_str() : got.status.error_message().c_str());
  }
  std::printf("\ncorrect %d/%d (%.0f%%); answered %d; mean tries %.2f; latency p50 %.0f ms, p90 %.0f ms\n", correct,
              total, total ? 100.0 * correct / total : 0.0, answered,
              answered ? static_cast<double>(tries) / answered : 0.0, Percentile(latency_ms, 0.5),
              Percentile(latency_ms, 0.9));
  return 0;
}
