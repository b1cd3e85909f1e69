// The views engine: one continuous view (a DSL filter or windowed aggregate,
// docs/DSL.md) run over the messages of its source stream, in stream order.
// No NATS here: the views service feeds it the stored messages and publishes
// what it returns; everything the engine decides is a function of the input
// sequence alone, so a replica that restores a checkpoint and is fed the
// same messages again returns the same outputs with the same ids.
//
// Contract:
// - Process(seq, payload) takes the source's protobuf (md.trade: a Trade,
//   cdc.<server>.<schema>.<table>: a ChangeEvent, ...) at stream sequence
//   `seq`; sequences must increase (a repeat or an older one is refused, so a
//   redelivery cannot be counted twice).
// - Filters: each matching message gives one output, id
//   "<view>.<version>.<seq>".
// - Windowed aggregates: stream time is the largest event time seen; a window
//   [start, start + size) closes once stream time reaches start + size +
//   grace. An event whose windows are all closed is late: counted and
//   returned (Step::late) for the dead-letter subject, never added.
//   Emit::kFinal gives one output per (window, keys) when its window closes,
//   id "<view>.<version>.w<window start>.<keys hash>"; Emit::kChanges gives
//   one output per changed group per input, id "<view>.<version>.<seq>.<i>".
//   Windows close on event time only (not the wall clock): an idle source
//   keeps its last windows open until a later event arrives.
// - now() is refused: its value would differ between a run and its replay.
// - Memory: the window state is measured every kMemoryCheckEvery inputs; past EngineOptions::memory_limit_bytes
//   Process returns ResourceExhausted (the view must stop; the state is kept
//   as it was, so nothing already emitted is contradicted).
// - Checkpoint() holds the position, stream time, counters and the open
//   windows; Restore() of it continues exactly where it was taken.
// Threading: one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dsl/aggregate.h"
#include "dsl/checker.h"
#include "dsl/filter.h"

namespace google::protobuf {
class Message;
}

namespace sa::views {

enum class Emit : uint8_t { kFinal, kChanges };

struct EngineOptions {
  std::string view;      // the view's name ([a-z0-9_]+, checked by Create)
  uint64_t version = 1;  // a replaced definition is a new version
  Emit emit = Emit::kFinal;
  size_t memory_limit_bytes = 64u << 20;
};

// One output message: its Nats-Msg-Id and its JSON envelope (docs/VIEWS.md):
// {"view":"<name>","version":N,"seq":<input seq>,"final":true|false,
//  "columns":[{"name":"venue","type":"string"},...],"row":{"venue":"kraken",...}}
// Values: null, true/false, ints as numbers, floats as numbers (NaN and
// infinities as strings), decimals as strings (exact), timestamps as RFC 3339
// strings, durations as "<n>ns", enums and strings as strings.
struct Record {
  std::string msg_id;
  std::string payload;
};

struct Step {
  bool matched = false;  // passed the filters (filters: an output was made)
  bool late = false;     // windowed: every window of the event was closed
  int64_t event_ns = 0;  // windowed: the event time (0: none)
};

class Engine {
 public:
  static constexpr uint64_t kMemoryCheckEvery = 256;

  // `plan` must come from dsl::Check over a stream source, with use kFilter
  // or kWindowedAggregate, and must not use now().
  static absl::StatusOr<std::unique_ptr<Engine>> Create(const dsl::Plan& plan, EngineOptions options);
  ~Engine();

  // Appends the outputs of the message at `seq` to *out. Errors: InvalidArgument
  // when `payload` is not the source's protobuf (the caller dead-letters it;
  // the position still advances), FailedPrecondition when seq is not after
  // position(), ResourceExhausted past the memory limit.
  absl::StatusOr<Step> Process(uint64_t seq, std::string_view payload, std::vector<Record>* out);

  // The subject filters that select every message the view can match
  // (pushdown of equality predicates on venue, symbol, ...; dsl::Filter::subjects).
  const std::vector<std::string>& subjects() const { return subjects_; }
  const std::vector<dsl::OutputColumn>& columns() const;
  const EngineOptions& options() const { return options_; }
  bool windowed() const { return aggregation_ != nullptr; }

  uint64_t position() const { return position_; }          // the last sequence processed (0: none)
  int64_t stream_time_ns() const { return stream_time_; }  // windowed: the largest event time seen
  size_t MemoryBytes() const;

  struct Counters {
    uint64_t inputs = 0, matched = 0, late = 0, invalid = 0, outputs = 0;
  };
  const Counters& counters() const { return counters_; }

  std::string Checkpoint() const;
  // DataLoss when `checkpoint` is not one of this view and version.
  absl::Status Restore(std::string_view checkpoint);

 private:
  Engine(const dsl::Plan& plan, EngineOptions options);
  void EmitRow(std::string msg_id, const std::vector<dsl::Value>& row, bool final, uint64_t seq,
               std::vector<Record>* out);
  absl::Status CheckMemory(bool force);

  dsl::Plan plan_;
  EngineOptions options_;
  std::unique_ptr<google::protobuf::Message> message_;  // reused for every input
  std::unique_ptr<dsl::Filter> filter_;                 // filters
  std::unique_ptr<dsl::Aggregation> aggregation_;       // windowed aggregates
  std::vector<std::string> subjects_;
  std::string columns_json_;  // the envelope's "columns" (fixed per view)
  uint64_t position_ = 0;
  int64_t stream_time_ = INT64_MIN;
  int64_t closed_through_ = INT64_MIN;  // windows starting at or before it are closed
  uint64_t since_memory_check_ = 0;
  size_t memory_bytes_ = 0;
  Counters counters_;
  std::vector<dsl::Value> row_;  // scratch for projections
};

}  // namespace sa::views
