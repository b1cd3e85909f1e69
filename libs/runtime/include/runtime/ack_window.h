// AckWindow: acks a consumer's inputs once every output they produced is
// stored, without waiting for those acks on the processing thread.
//
// The processing thread opens an entry per batch of inputs (Open), takes one
// completion per output it publishes (Entry::Expect, handed to
// bus::JetStreamPublisher::Publish) and seals the entry (Entry::Seal). Once
// an entry is sealed and all of its completions have reported, and every
// entry opened before it is settled, the window's own thread settles it:
//   - every completion OK: its inputs are acked;
//   - any completion reported an error (a failed or refused publish): its
//     inputs are nak'd and never acked, so JetStream delivers them again;
//     the outputs' deterministic msg ids make the replay store nothing twice.
// Entries settle strictly in Open order: an input is acked only after every
// earlier entry is settled. A stateful consumer must not claim progress past
// a failed input (the normalizer's book checkpoints): `then(false)` and
// failed() tell it.
//
// Acks (Options::acks, the durable's ack policy):
//   - kExplicit: every input is acked on its own.
//   - kAll (cumulative): one ack per settled run — of the input with the
//     highest stream sequence below every input not yet stored (in an entry
//     not settled, or nak'd and not yet delivered and stored again), which
//     acks every earlier one. So an ack never reaches past a failed input:
//     inputs stored after it are held, unacked, until its redelivery is
//     stored (or, if the process ends first, delivered again themselves; the
//     consumer's first bind rewinds to the ack floor). Held inputs do not
//     count against WaitForRoom (the redelivery must still be fetched); the
//     durable's max_ack_pending bounds them. Every input handed to the
//     consumer must reach the window (or be nak'd): one dropped unacked would
//     be acked by a later input's ack. `then(true)` means the entry's outputs
//     are stored; its inputs' ack may come with a later entry's.
//
// Threading: Open/Submit from one processing thread at a time; completions
// from any thread (quick, no publishing); `then` runs on the window's thread,
// after the entry's inputs are acked or nak'd, in Open order. Completions may
// come after the window is gone (the publisher's destructor cancels what is
// left): they then do nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bus/jetstream.h"
#include "bus/jetstream_publisher.h"
#include "bus/message.h"

namespace sa::runtime {

namespace internal {
struct AckWindowState;
}

class AckWindow {
 public:
  // Runs once per entry, on the window's thread, after its inputs are acked
  // (`stored`) or nak'd (!`stored`).
  using Then = std::function<void(bool stored)>;

  // An open entry. Move-only; destroying it unsealed seals it.
  class Entry {
   public:
    Entry(Entry&&) noexcept;
    Entry& operator=(Entry&&) noexcept;
    ~Entry();

    // One more output to wait for; call the result exactly once with its
    // outcome (an error, e.g. a refused publish, fails the entry). Only
    // before Seal().
    bus::JetStreamPublisher::Completion Expect();
    // No more outputs: the entry settles once those expected have reported.
    void Seal();

   private:
    friend class AckWindow;
    Entry(std::shared_ptr<internal::AckWindowState> state, uint64_t seq) : state_(std::move(state)), seq_(seq) {}
    std::shared_ptr<internal::AckWindowState> state_;
    uint64_t seq_ = 0;
  };

  struct Options {
    bus::AckPolicy acks = bus::AckPolicy::kExplicit;
    // Passed after each input is acked — with kAll once per input a
    // cumulative ack covered, after that ack (tests/chaos kill a service
    // between two acks); null: none.
    const char* crash_point_after_ack = nullptr;
  };

  AckWindow() : AckWindow(Options{}) {}
  explicit AckWindow(Options options);
  // Stops the window's thread; entries not settled are left unacked (JetStream
  // redelivers their inputs). Drain first to finish them.
  ~AckWindow();
  AckWindow(const AckWindow&) = delete;
  AckWindow& operator=(const AckWindow&) = delete;

  Entry Open(std::vector<bus::ReceivedMessage> inputs, Then then = nullptr);
  // Open + publish every output with a completion + Seal. A publish refused
  // outright fails the entry (logged); the rest are still published.
  void Submit(bus::JetStreamPublisher& publisher, std::vector<bus::ReceivedMessage> inputs,
              const std::vector<bus::Message>& outputs, Then then = nullptr);

  // Blocks until fewer than `max_inputs` inputs are in the window or
  // `timeout` passes; true when there is room.
  bool WaitForRoom(size_t max_inputs, absl::Duration timeout);
  // Waits up to `timeout` for every entry opened so far to settle, then stops
  // the window's thread. DeadlineExceeded names how many entries (and inputs)
  // are left unacked for redelivery. No Open after Drain; a second Drain
  // does not wait.
  absl::Status Drain(absl::Duration timeout);

  // In entries not settled yet (what WaitForRoom counts).
  size_t inputs_in_flight() const;
  // kAll: stored inputs whose ack waits for an earlier input to be stored.
  size_t inputs_held() const;
  size_t entries_in_flight() const;
  // An entry has been nak'd since the window started.
  bool failed() const;

 private:
  std::shared_ptr<internal::AckWindowState> state_;
};

}  // namespace sa::runtime
