#include "runtime/ack_window.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/crash_point.h"

namespace sa::runtime {
namespace internal {

struct AckWindowState {
  struct Pending {
    uint64_t seq = 0;
    std::vector<bus::ReceivedMessage> inputs;
    AckWindow::Then then;
    size_t outstanding = 1;  // expected outputs not reported yet, plus one until sealed
    bool failed = false;
    uint64_t min_seq = kNoSeq;  // lowest stream sequence of `inputs`
  };
  static constexpr uint64_t kNoSeq = std::numeric_limits<uint64_t>::max();

  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Pending> entries;  // by seq, oldest first
  uint64_t next_seq = 1;
  size_t inputs = 0;  // of `entries`
  bool stopping = false;
  bool failed = false;
  const char* crash_point_after_ack = nullptr;
  bus::AckPolicy acks = bus::AckPolicy::kExplicit;
  size_t held_count = 0;  // mu: held.size()
  std::thread settler;

  // kAll, the settler's thread only: stored inputs not acked yet, by stream
  // sequence; sequences nak'd and not stored since; the last cumulative ack.
  std::map<uint64_t, bus::ReceivedMessage> held;
  std::set<uint64_t> unstored;
  uint64_t acked_through = 0;

  Pending* FindLocked(uint64_t seq) {
    if (entries.empty() || seq < entries.front().seq) return nullptr;
    const size_t i = static_cast<size_t>(seq - entries.front().seq);
    return i < entries.size() ? &entries[i] : nullptr;
  }

  // One expected output (or the seal) of entry `seq` is done.
  void Report(uint64_t seq, bool ok) {
    bool notify = false;
    {
      std::lock_guard lock(mu);
      Pending* p = FindLocked(seq);
      if (p == nullptr) return;  // the window stopped and dropped it
      if (!ok) p->failed = true;
      notify = --p->outstanding == 0;
    }
    if (notify) cv.notify_all();
  }

  static void NakInputs(Pending& p) {
    if (!p.inputs.empty())
      spdlog::error("outputs of {} inputs were not stored; the inputs are nak'd for redelivery", p.inputs.size());
    for (auto& m : p.inputs) (void)m.Nak();
  }

  // kAll: `done` settled (in Open order); `first_unsettled` is the lowest
  // stream sequence still in an entry. Nak'd inputs block every ack past
  // them until they are stored; stored inputs are held until one ack covers
  // them.
  void SettleCumulative(std::vector<Pending>& done, uint64_t first_unsettled) {
    for (auto& p : done) {
      if (p.failed) {
        for (const auto& m : p.inputs) unstored.insert(m.stream_sequence());
        NakInputs(p);
        continue;
      }
      for (auto& m : p.inputs) {
        const uint64_t seq = m.stream_sequence();
        unstored.erase(seq);
        if (seq > acked_through) held.emplace(seq, std::move(m));  // a second delivery of one held keeps the first
      }
    }
    const uint64_t limit = unstored.empty() ? first_unsettled : std::min(first_unsettled, *unstored.begin());
    AckHeldBelow(limit);
    {
      std::lock_guard lock(mu);
      held_count = held.size();
    }
    for (auto& p : done)
      if (p.then) p.then(!p.failed);
  }

  // Acks the held input with the highest stream sequence below `limit` whose
  // delivery is older than that of every held input above it: the server
  // ignores a cumulative ack whose delivery sequence is below its ack floor's,
  // so acks go out in delivery order too (a redelivered input is acked
  // through a later one). Drops what the ack covers.
  void AckHeldBelow(uint64_t limit) {
    uint64_t min_delivery_above = kNoSeq;
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      const uint64_t delivery = it->second.consumer_sequence();
      if (it->first < limit && delivery < min_delivery_above) {
        auto chosen = std::prev(it.base());
        (void)chosen->second.Ack();
        acked_through = chosen->first;
        const auto end = std::next(chosen);
        // Passed once per input the ack covered: "killed after acking the
        // n-th input" means the same as with explicit acks.
        if (crash_point_after_ack != nullptr)
          for (auto c = held.begin(); c != end; ++c) SA_CRASH_POINT(crash_point_after_ack);
        held.erase(held.begin(), end);
        return;
      }
      min_delivery_above = std::min(min_delivery_above, delivery);
    }
  }

  // The window's thread: settles finished entries in seq order.
  void Run() {
    pthread_setname_np(pthread_self(), "ack-window");
    while (true) {
      std::vector<Pending> done;
      uint64_t first_unsettled = kNoSeq;  // lowest stream sequence in the entries left
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stopping || (!entries.empty() && entries.front().outstanding == 0); });
        if (stopping) return;
        while (!entries.empty() && entries.front().outstanding == 0) {
          inputs -= entries.front().inputs.size();
          if (entries.front().failed) failed = true;
          done.push_back(std::move(entries.front()));
          entries.pop_front();
        }
        if (acks == bus::AckPolicy::kAll)
          for (const Pending& p : entries) first_unsettled = std::min(first_unsettled, p.min_seq);
      }
      if (acks == bus::AckPolicy::kAll) {
        SettleCumulative(done, first_unsettled);
      } else {
        for (auto& p : done) {
          if (p.failed) {
            NakInputs(p);
          } else {
            for (auto& m : p.inputs) {
              (void)m.Ack();
              if (crash_point_after_ack != nullptr) SA_CRASH_POINT(crash_point_after_ack);
            }
          }
          if (p.then) p.then(!p.failed);
        }
      }
      cv.notify_all();  // room for WaitForRoom
    }
  }
};

}  // namespace internal

using internal::AckWindowState;

AckWindow::Entry::Entry(Entry&& other) noexcept : state_(std::move(other.state_)), seq_(other.seq_) {}

AckWindow::Entry& AckWindow::Entry::operator=(Entry&& other) noexcept {
  if (this != &other) {
    Seal();
    state_ = std::move(other.state_);
    seq_ = other.seq_;
  }
  return *this;
}

AckWindow::Entry::~Entry() { Seal(); }

bus::JetStreamPublisher::Completion AckWindow::Entry::Expect() {
  if (state_ == nullptr) std::abort();  // sealed: the entry may already be settled
  {
    std::lock_guard lock(state_->mu);
    AckWindowState::Pending* p = state_->FindLocked(seq_);
    if (p == nullptr) std::abort();  // unsealed entries stay in the window until the window stops
    ++p->outstanding;
  }
  return [state = state_, seq = seq_](const absl::Status& result) { state->Report(seq, result.ok()); };
}

void AckWindow::Entry::Seal() {
  if (state_ == nullptr) return;
  state_->Report(seq_, /*ok=*/true);  // the count Open started with
  state_.reset();
}

AckWindow::AckWindow(Options options) : state_(std::make_shared<AckWindowState>()) {
  state_->crash_point_after_ack = options.crash_point_after_ack;
  state_->acks = options.acks;
  state_->settler = std::thread([state = state_.get()] { state->Run(); });
}

AckWindow::~AckWindow() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  if (state_->settler.joinable()) state_->settler.join();
  std::lock_guard lock(state_->mu);
  if (!state_->entries.empty())
    spdlog::warn("ack window stopped with {} entries ({} inputs) unsettled; their inputs will be redelivered",
                 state_->entries.size(), state_->inputs);
  if (state_->held_count > 0)
    spdlog::warn("ack window stopped with {} stored inputs unacked behind a nak'd one; they will be redelivered",
                 state_->held_count);
  state_->entries.clear();  // drops the inputs unacked
  state_->inputs = 0;
}

AckWindow::Entry AckWindow::Open(std::vector<bus::ReceivedMessage> inputs, Then then) {
  uint64_t seq;
  {
    std::lock_guard lock(state_->mu);
    seq = state_->next_seq++;
    state_->inputs += inputs.size();
    AckWindowState::Pending p;
    p.seq = seq;
    if (state_->acks == bus::AckPolicy::kAll)
      for (const auto& m : inputs) p.min_seq = std::min(p.min_seq, m.stream_sequence());
    p.inputs = std::move(inputs);
    p.then = std::move(then);
    state_->entries.push_back(std::move(p));
  }
  return Entry(state_, seq);
}

void AckWindow::Submit(bus::JetStreamPublisher& publisher, std::vector<bus::ReceivedMessage> inputs,
                       const std::vector<bus::Message>& outputs, Then then) {
  Entry entry = Open(std::move(inputs), std::move(then));
  for (const auto& o : outputs) {
    bus::JetStreamPublisher::Completion done = entry.Expect();
    absl::Status st = publisher.Publish(o, done);
    if (st.ok()) continue;
    // Refused outright: the publisher will not call `done`. The inputs must
    // not be acked; the entry still waits for the outputs already published.
    spdlog::error("publish {} ({}): {}", o.subject, o.msg_id, std::string(st.message()));
    done(st);
  }
  entry.Seal();
}

bool AckWindow::WaitForRoom(size_t max_inputs, absl::Duration timeout) {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                             [&] { return state_->stopping || state_->inputs < max_inputs; });
}

absl::Status AckWindow::Drain(absl::Duration timeout) {
  absl::Status result;
  {
    std::unique_lock lock(state_->mu);
    if (state_->stopping) timeout = absl::ZeroDuration();  // drained before: nothing settles any more
    if (!state_->cv.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return state_->entries.empty(); }))
      result = absl::DeadlineExceededError(absl::StrCat("ack window: ", state_->entries.size(), " entries (",
                                                        state_->inputs, " inputs) not settled after ",
                                                        absl::FormatDuration(timeout), "; they will be redelivered"));
    state_->stopping = true;
  }
  state_->cv.notify_all();
  if (state_->settler.joinable()) state_->settler.join();
  return result;
}

size_t AckWindow::inputs_in_flight() const {
  std::lock_guard lock(state_->mu);
  return state_->inputs;
}

size_t AckWindow::inputs_held() const {
  std::lock_guard lock(state_->mu);
  return state_->held_count;
}

size_t AckWindow::entries_in_flight() const {
  std::lock_guard lock(state_->mu);
  return state_->entries.size();
}

bool AckWindow::failed() const {
  std::lock_guard lock(state_->mu);
  return state_->failed;
}

}  // namespace sa::runtime
