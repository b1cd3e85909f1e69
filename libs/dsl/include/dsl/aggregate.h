// Aggregates as incremental accumulators, and a small driver that runs a
// windowed-aggregate Plan over messages.
//
// Semantics (the same as the SQL back end's PostgreSQL, tested against it):
// - NULL inputs are skipped; count() counts rows, count(x) non-null x.
// - sum/avg/vwap of ints and decimals are exact (dsl/decimal.h); avg and vwap
//   divide with PostgreSQL's numeric division scale. A sum that leaves 38
//   digits makes the result NULL (overflowed() says so).
// - sum/avg of floats are floats; stddev (sample) is a float computed from
//   exact decimal sums where the input is exact.
// - min/max compare exactly; strings byte-wise (COLLATE "C").
// - first/last: the value at the earliest/latest event time (ties: the
//   first/last added).
// - percentile(x, p): the discrete percentile (percentile_disc): the value at
//   1-based rank max(1, ceil(p * n)) of the sorted non-null inputs.
// - An empty group gives NULL (count: 0).
//
// Memory: percentile keeps every input; the others are O(1) (first/last/
// min/max keep one string). MemoryBytes() lets the views service cap it.
// Threading: one thread at a time per object.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "dsl/checker.h"
#include "dsl/filter.h"
#include "dsl/types.h"

namespace sa::dsl {

namespace internal {
class StateWriter;
class StateReader;
}  // namespace internal

// A Value that owns its string.
struct OwnedValue {
  Value value;
  std::string text;
  OwnedValue() = default;
  explicit OwnedValue(const Value& v) { Set(v); }
  void Set(const Value& v) {
    value = v;
    if (v.kind == TypeKind::kString || v.kind == TypeKind::kEnum) text.assign(v.s.data(), v.s.size());
  }
  // The value, its string pointing into this object.
  Value get() const {
    Value v = value;
    if (v.kind == TypeKind::kString || v.kind == TypeKind::kEnum) v.s = text;
    return v;
  }
};

class Accumulator {
 public:
  virtual ~Accumulator() = default;
  // args: the call's arguments evaluated on one input (count(): none);
  // event_ns: the input's event time (first/last).
  virtual void Add(const Value* args, int64_t event_ns) = 0;
  virtual Value Result() const = 0;
  virtual size_t MemoryBytes() const = 0;
  // True when an exact sum left the 38-digit range (the result is then NULL).
  virtual bool overflowed() const { return false; }
  // Checkpoints: Save appends the state, Load restores a saved one (false
  // when the input is not one).
  virtual void Save(internal::StateWriter& w) const = 0;
  virtual bool Load(internal::StateReader& r) = 0;
};

std::unique_ptr<Accumulator> MakeAccumulator(const AggregateCall& call);

// Runs a kWindowedAggregate plan over messages of its source: filters,
// assigns each message to its windows (by event time), groups by the keys
// and feeds the accumulators. Which windows are closed (watermarks, grace)
// and what is emitted when is the caller's (views/engine.h); this class
// holds the open groups, computes their rows, closes windows when told and
// saves and restores its state.
//
// A group is named by its id: the window start (20 fixed-width digits, so
// ids order by window) followed by the group keys' text. Ids are the same
// in every process that sees the same messages.
class Aggregation {
 public:
  static absl::StatusOr<std::unique_ptr<Aggregation>> Create(const Plan& plan);

  // Start times of the windows an event at `event_ns` belongs to, oldest first.
  std::vector<int64_t> WindowsOf(int64_t event_ns) const;

  enum class Outcome : uint8_t {
    kDropped,  // the filters drop it, or it has no event time
    kAdded,
    kLate,  // it passes the filters but every window it belongs to is closed
  };
  struct AddResult {
    Outcome outcome = Outcome::kDropped;
    int64_t event_ns = 0;
    std::vector<std::string> groups;  // kAdded: the ids of the groups it changed
  };
  // Adds `message` (the source's protobuf type) to each of its windows that
  // starts after `closed_through` (windows starting at or before it are closed).
  AddResult Add(const void* message, int64_t closed_through);
  // Adds to every window; false when the filters drop it or it has no event time.
  bool Add(const void* message);

  // One output row per (window, key) group whose `where` after summarize
  // holds, ordered by window start then keys; values own their strings.
  std::vector<std::vector<OwnedValue>> Rows() const;
  // The row of one group; nullopt when there is no such group or the `where`
  // after summarize drops it.
  std::optional<std::vector<OwnedValue>> RowOf(const std::string& group) const;

  struct ClosedGroup {
    std::string group;  // its id
    int64_t window_start = 0;
    std::optional<std::vector<OwnedValue>> row;  // nullopt: dropped by the `where` after summarize
  };
  // Removes the groups of every window starting at or before `closed_through`
  // and returns them, in id order (oldest window first).
  std::vector<ClosedGroup> Close(int64_t closed_through);

  // The keys' part of a group id (after the window start).
  static std::string_view KeyOf(std::string_view group) { return group.size() > 20 ? group.substr(20) : ""; }
  int64_t window_size_ns() const { return plan_.window->size_ns; }
  size_t group_count() const { return groups_.size(); }

  // Appends the open groups; Load replaces them with saved ones. A state
  // saved by an Aggregation of another plan fails to load or loads wrong:
  // callers keep it beside the plan it belongs to (views store the version).
  void Save(std::string* out) const;
  absl::Status Load(std::string_view state);

  size_t MemoryBytes() const;
  const std::vector<OutputColumn>& columns() const { return plan_.columns; }

 private:
  explicit Aggregation(const Plan& plan) : plan_(plan) {}
  struct Group {
    int64_t window_start = 0;
    std::vector<OwnedValue> keys;
    std::vector<std::unique_ptr<Accumulator>> accumulators;
  };
  std::optional<std::vector<OwnedValue>> RowOfGroup(const Group& g) const;
  Group NewGroup(int64_t window_start) const;
  Plan plan_;
  const FieldDef* time_field_ = nullptr;
  std::map<std::string, Group> groups_;
};

}  // namespace sa::dsl
