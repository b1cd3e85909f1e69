// Back end 1: a live filter (and projection) compiled once from a Plan and
// evaluated directly on decoded protobufs (md.* messages, anomalies, CDC
// ChangeEvents).
//
// Contract:
// - Compile() does all the work that can be done once: names are resolved,
//   constants folded, comparisons against constants specialised, regular
//   expressions compiled (RE2, linear time).
// - Matches() and Project() never allocate (tests/filter_alloc_test.cc
//   counts); strings in projected rows are views into the message and the
//   filter, valid while both live.
// - NULL semantics are SQL's (three-valued): a message passes when every
//   `where` is TRUE; NULL and FALSE drop it.
// - now() is the wall clock (CLOCK_REALTIME) read when evaluated, unless
//   FilterOptions::now_ns pins it (tests).
// - Thread safety: const methods may be called from many threads at once.
// - Lifetime: a Filter refers to the catalog's field definitions; the catalog
//   (a StaticCatalog and its copies share them) must outlive it.
#pragma once

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dsl/checker.h"
#include "dsl/types.h"

namespace streamadmin::marketdata::v1 {
class Trade;
class Ticker;
class BookUpdate;
class Candle;
class VenueStatus;
}  // namespace streamadmin::marketdata::v1
namespace streamadmin::anomaly::v1 {
class Anomaly;
}
namespace streamadmin::cdc::v1 {
class ChangeEvent;
}

namespace sa::dsl {

struct FilterOptions {
  int64_t now_ns = 0;  // 0: the wall clock
};

class Filter {
 public:
  // `plan` must be a kFilter plan (a stream without summarize).
  static absl::StatusOr<Filter> Compile(const Plan& plan, FilterOptions options = {});

  // The protobuf type Matches()/Project() take.
  MessageKind message() const { return message_; }
  // The NATS subject filter of the source ("md.trade.>").
  const std::string& subject() const { return subject_; }
  // Narrower subject filters implied by the statement's equality predicates
  // on venue / symbol / interval (pushdown for [9]): `where venue in ("kraken",
  // "coinbase") and symbol = "BTC-USD"` gives md.trade.kraken.BTC-USD and
  // md.trade.coinbase.BTC-USD. Subscribing to these instead of subject()
  // drops only messages the filter would drop; Matches() must still run.
  // Equals {subject()} when nothing narrows it (or more than 64 subjects would).
  const std::vector<std::string>& subjects() const { return subjects_; }
  const std::vector<OutputColumn>& columns() const { return columns_; }
  // True when there is no project stage: the whole message is the output.
  bool whole_message() const { return whole_message_; }

  // Typed entry points; each aborts if the filter is for another message kind.
  bool Matches(const streamadmin::marketdata::v1::Trade& m) const { return MatchesAs(MessageKind::kTrade, &m); }
  bool Matches(const streamadmin::marketdata::v1::Ticker& m) const { return MatchesAs(MessageKind::kTicker, &m); }
  bool Matches(const streamadmin::marketdata::v1::BookUpdate& m) const { return MatchesAs(MessageKind::kBook, &m); }
  bool Matches(const streamadmin::marketdata::v1::Candle& m) const { return MatchesAs(MessageKind::kCandle, &m); }
  bool Matches(const streamadmin::marketdata::v1::VenueStatus& m) const { return MatchesAs(MessageKind::kStatus, &m); }
  bool Matches(const streamadmin::anomaly::v1::Anomaly& m) const { return MatchesAs(MessageKind::kAnomaly, &m); }
  bool Matches(const streamadmin::cdc::v1::ChangeEvent& m) const { return MatchesAs(MessageKind::kChangeEvent, &m); }

  // Fills row[0..columns().size()) with the output columns of `message` (of
  // kind message()).
  void Project(const void* message, Value* row) const;

  // Untyped: `message` must point to the protobuf of kind `kind`.
  bool MatchesAs(MessageKind kind, const void* message) const;

  struct Node;  // the compiled predicate (filter.cc)

 private:
  Filter() = default;
  MessageKind message_ = MessageKind::kNone;
  std::string subject_;
  std::vector<std::string> subjects_;
  std::vector<OutputColumn> columns_;
  bool whole_message_ = false;
  int64_t now_ns_ = 0;
  std::shared_ptr<const std::vector<Node>> nodes_;  // nodes_->back() is the root; empty: every message passes
};

}  // namespace sa::dsl
