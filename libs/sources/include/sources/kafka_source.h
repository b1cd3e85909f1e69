// KafkaSource — a librdkafka consumer-group member; every record of the
// subscribed topics becomes a Frame{kind="kafka", conn="kafka.<topic>.<partition>",
// url=<topic>, frame_seq=offset+1, data=value}.
//
// Delivery: AT LEAST ONCE. Every frame carries `done`; an offset is stored
// for commit only once the sink has called done(true) for that record and for
// every earlier one of its partition (a record not stored stops the prefix).
// Stored offsets are committed in the background (auto.commit.interval.ms),
// before a rebalance gives partitions up, and on Stop() (after waiting up to
// close_settle_timeout for the records in flight). A crash or a rebalance
// between OnFrame and the commit redelivers the records since the last
// commit — consumers deduplicate on (conn, frame_seq), which is stable across
// restarts. Within one partition frames arrive in offset order.
//
// Back-pressure: OnFrame blocking stops polling. Blocking longer than
// max.poll.interval.ms (librdkafka default 300 s) makes the consumer leave the
// group; raise it through `properties` if the sink can block that long.
//
// Threading: one poll thread owned by the source; the sink is called from it.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sources/frame.h"

namespace sa::sources {

struct KafkaSourceOptions {
  std::string name;                    // default "kafka.<group_id>"
  std::string brokers;                 // bootstrap.servers, required
  std::string group_id;                // required
  std::vector<std::string> topics;     // required, non-empty
  std::string venue;                   // venue of every frame, unless the header says otherwise
  std::string venue_header = "venue";  // record header naming the venue; empty: ignore headers
  std::string auto_offset_reset = "earliest";
  absl::Duration poll_timeout = absl::Milliseconds(100);  // bounds Stop() latency
  // At Stop, how long to wait for the records handed to the sink to be
  // stored downstream before the final commit (those still unsettled are
  // consumed again by the next run).
  absl::Duration close_settle_timeout = absl::Seconds(5);
  // Extra librdkafka properties, applied last (they win). The source itself
  // owns enable.auto.offset.store (false) and enable.auto.commit (true).
  std::map<std::string, std::string> properties;
};

// Config for the "kafka" registry kind: {"brokers", "group_id", "topics": [...],
// "venue", "venue_header", "auto_offset_reset", "poll_timeout_ms", "name",
// "properties": {"key": "value"}}.
absl::StatusOr<KafkaSourceOptions> KafkaSourceOptionsFromJson(const nlohmann::json& config);

class KafkaSource final : public Source {
 public:
  // InvalidArgument for missing brokers/group/topics or a property librdkafka
  // rejects (the message names it).
  static absl::StatusOr<std::unique_ptr<KafkaSource>> Create(KafkaSourceOptions options);
  ~KafkaSource() override;  // Stop()

  // Creates the consumer and subscribes; FailedPrecondition if started before.
  absl::Status Start(FrameSink* sink) override;
  // Commits what the sink accepted, leaves the group, joins the poll thread.
  void Stop() override;
  SourceStats Stats() const override;
  std::string name() const override;

 private:
  struct Impl;
  explicit KafkaSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sa::sources
