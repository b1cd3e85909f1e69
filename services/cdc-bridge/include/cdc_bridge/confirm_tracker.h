// ConfirmTracker: which received transactions are wholly stored, so that the
// replication slot may be confirmed past them, in commit order.
//
// Each transaction is added with its events; each event waits for the
// outputs named by a bit mask (JetStream, and Kafka when it is enabled). An
// output reports an event stored — or parked on the dead-letter stream,
// which counts as done — by (commit LSN, index). The confirmable position is
// the end LSN of the longest run of complete transactions at the head,
// capped below the commit LSN of the first one still waiting, so that a
// watermark (confirmable - 1) never covers a waiting event. A snapshot chunk
// is added with a `gate`: it completes only once the stream has been read
// past that LSN (SetReceivedWal).
//
// Threading: every method is thread-safe (the worker adds; the publisher's
// ack thread and the Kafka poll thread mark done).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sa::cdc_bridge {

class ConfirmTracker {
 public:
  // The outputs an event waits for.
  static constexpr uint8_t kJetStream = 1;
  static constexpr uint8_t kKafka = 2;
  static constexpr uint8_t kAll = kJetStream | kKafka;

  struct Event {
    std::string subject;
    std::string payload;  // kept for a dead letter until every output stored the event
  };

  // A new replication session: what an earlier one left waiting comes again
  // from the slot. The confirmable position never goes back; it starts at
  // least at `start_lsn` (where the slot streams from).
  void Reset(uint64_t start_lsn);
  // A received transaction (or snapshot chunk, keyed by `commit_lsn`) whose
  // events wait for `outputs`. One without events is complete at once.
  void Add(uint64_t commit_lsn, uint64_t end_lsn, uint64_t gate, std::vector<Event> events, uint8_t outputs);
  // Event `index` of transaction `commit_lsn` is stored (or parked) by
  // `outputs`. Hands back its subject and payload when asked (a copy: another
  // output may still need it). False when the transaction is unknown (an
  // earlier session's) or the index out of range.
  bool MarkDone(uint64_t commit_lsn, uint32_t index, uint8_t outputs, std::string* subject = nullptr,
                std::string* payload = nullptr);
  // The stream was read up to `wal_end`: snapshot chunks gated below it may
  // complete.
  void SetReceivedWal(uint64_t wal_end);

  // Every event below this LSN is stored.
  uint64_t confirmable() const { return confirmable_.load(); }
  uint64_t received_wal() const { return received_wal_.load(); }
  size_t waiting() const;  // transactions not yet complete (or behind one that is not)
  bool Contains(uint64_t commit_lsn) const;

 private:
  struct Pending {
    uint64_t end_lsn = 0;
    uint64_t gate = 0;
    size_t remaining = 0;
    std::vector<uint8_t> waiting;  // by index: output bits not yet stored
    std::vector<Event> events;     // payload released once stored
  };
  void AdvanceLocked();

  mutable std::mutex mu_;
  std::map<uint64_t, Pending> pending_;  // mu_; by commit LSN = commit order
  std::atomic<uint64_t> confirmable_{0};
  std::atomic<uint64_t> received_wal_{0};
};

}  // namespace sa::cdc_bridge
