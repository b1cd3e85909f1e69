#include "cdc_bridge/confirm_tracker.h"

#include <algorithm>
#include <utility>

namespace sa::cdc_bridge {

void ConfirmTracker::Reset(uint64_t start_lsn) {
  std::lock_guard lock(mu_);
  pending_.clear();
  if (start_lsn > confirmable_.load()) confirmable_ = start_lsn;
}

void ConfirmTracker::Add(uint64_t commit_lsn, uint64_t end_lsn, uint64_t gate, std::vector<Event> events,
                         uint8_t outputs) {
  Pending p;
  p.end_lsn = end_lsn;
  p.gate = gate;
  p.remaining = events.size();
  p.waiting.assign(events.size(), outputs);
  p.events = std::move(events);
  std::lock_guard lock(mu_);
  pending_[commit_lsn] = std::move(p);
  AdvanceLocked();
}

bool ConfirmTracker::MarkDone(uint64_t commit_lsn, uint32_t index, uint8_t outputs, std::string* subject,
                              std::string* payload) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(commit_lsn);
  if (it == pending_.end() || index >= it->second.waiting.size()) return false;
  Pending& p = it->second;
  if (subject) *subject = p.events[index].subject;
  if (payload) *payload = p.events[index].payload;
  if (p.waiting[index] == 0) return true;
  p.waiting[index] &= static_cast<uint8_t>(~outputs);
  if (p.waiting[index] != 0) return true;
  std::string().swap(p.events[index].payload);
  --p.remaining;
  AdvanceLocked();
  return true;
}

void ConfirmTracker::SetReceivedWal(uint64_t wal_end) {
  std::lock_guard lock(mu_);
  if (wal_end <= received_wal_.load()) return;
  received_wal_ = wal_end;
  AdvanceLocked();
}

size_t ConfirmTracker::waiting() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

bool ConfirmTracker::Contains(uint64_t commit_lsn) const {
  std::lock_guard lock(mu_);
  return pending_.count(commit_lsn) > 0;
}

// The head, once all its events are stored (and its gate passed), and every
// following one that is complete too. Never past the key (commit LSN) of an
// entry still waiting: a snapshot chunk keyed just below its gate may be
// added after a transaction that ends past that key completed.
void ConfirmTracker::AdvanceLocked() {
  uint64_t lsn = 0;
  const uint64_t received = received_wal_.load();
  while (!pending_.empty() && pending_.begin()->second.remaining == 0 && pending_.begin()->second.gate <= received) {
    lsn = pending_.begin()->second.end_lsn;
    pending_.erase(pending_.begin());
    if (!pending_.empty()) lsn = std::min(lsn, pending_.begin()->first);
  }
  if (lsn > confirmable_.load()) confirmable_ = lsn;
}

}  // namespace sa::cdc_bridge
