#include "bus/dead_letters.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "wire/headers.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::bus {

namespace {

// Headers of the input that a dead letter must not repeat: its own dedup id,
// and the dead-letter set (a dead letter of a dead letter says it once).
bool IsReplacedHeader(const std::string& name) {
  namespace h = wire::header;
  for (const char* n :
       {kMsgIdHeader, h::kDlqReason, h::kDlqError, h::kDlqSubject, h::kDlqStage, h::kDlqMsgId, h::kDlqTruncated})
    if (name == n) return true;
  return false;
}

}  // namespace

DeadLetterWriter::DeadLetterWriter(Options options)
    : options_(std::move(options)),
      truncated_(obs::MetricsRegistry::Default().GetCounter(
          "streamadmin_bus_dead_letters_truncated_total",
          "Dead letters whose payload was over the cap and was shrunk or dropped", {{"stage", options_.stage}})) {
  if (options_.subject.empty()) options_.subject = wire::DlqSubject(options_.stage);
}

absl::StatusOr<std::unique_ptr<DeadLetterWriter>> DeadLetterWriter::Create(Connection& connection, Options options) {
  if (!options.publisher.on_failure) {
    options.publisher.on_failure = [stage = options.stage](const std::string& msg_id, const absl::Status& error) {
      spdlog::error("dead letter {} of {} not stored: {}", msg_id, stage, std::string(error.message()));
    };
  }
  auto writer = std::make_unique<DeadLetterWriter>(std::move(options));
  auto publisher = JetStreamPublisher::Create(connection, writer->options_.publisher);
  if (!publisher.ok()) return publisher.status();
  writer->publisher_ = std::move(*publisher);
  return writer;
}

DeadLetterWriter::~DeadLetterWriter() = default;

obs::Counter& DeadLetterWriter::CounterFor(const std::string& reason) {
  std::lock_guard lock(counters_mu_);
  auto it = counters_.find(reason);
  if (it == counters_.end()) {
    it = counters_
             .emplace(reason, &obs::MetricsRegistry::Default().GetCounter(
                                  "streamadmin_bus_dead_letters_total", "Inputs parked on dlq.<stage>, by reason",
                                  {{"stage", options_.stage}, {"reason", reason}}))
             .first;
  }
  return *it->second;
}

Message DeadLetterWriter::Build(DeadLetter letter) {
  namespace h = wire::header;
  CounterFor(letter.reason).Inc();
  Message m;
  m.subject = options_.subject;
  m.msg_id = wire::DeadLetterMsgId(options_.stage, letter.input_msg_id);
  m.headers = std::move(letter.input_headers);
  m.headers.erase(
      std::remove_if(m.headers.begin(), m.headers.end(), [](const auto& kv) { return IsReplacedHeader(kv.first); }),
      m.headers.end());
  m.headers.emplace_back(h::kDlqReason, letter.reason);
  m.headers.emplace_back(h::kDlqError, letter.error.substr(0, kMaxErrorBytes));
  m.headers.emplace_back(h::kDlqSubject, letter.subject);
  m.headers.emplace_back(h::kDlqStage, options_.stage);
  m.headers.emplace_back(h::kDlqMsgId, letter.input_msg_id);
  if (letter.payload.size() > options_.max_payload_bytes) {
    std::string how = letter.shrink ? letter.shrink(&letter.payload) : "";
    if (how.empty() || letter.payload.size() > options_.max_payload_bytes) {
      letter.payload.clear();
      how = wire::dlq_truncation::kPayloadDropped;
    }
    m.headers.emplace_back(h::kDlqTruncated, how);
    truncated_.Inc();
  }
  m.data = std::move(letter.payload);
  return m;
}

absl::Status DeadLetterWriter::Write(DeadLetter letter) {
  if (!publisher_)
    return absl::FailedPreconditionError(
        absl::StrCat("dead-letter writer of ", options_.stage, " was made without a connection"));
  return publisher_->Publish(Build(std::move(letter)));
}

absl::Status DeadLetterWriter::Flush(absl::Duration timeout) {
  if (!publisher_) return absl::OkStatus();
  return publisher_->Flush(timeout);
}

}  // namespace sa::bus
