#include "normalizer/checkpoint_store.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "normalizer/config.h"
#include "normalizer/frame_outputs.h"
#include "normalizer/raw_input.h"
#include "wire/subjects.h"

namespace sa::normalizer {

namespace cfg = streamadmin::config::v1;

CheckpointStore::CheckpointStore(const cfg::NormalizerConfig& config, bus::JetStream& jetstream, NormalizerProbe& probe)
    : config_(config), jetstream_(jetstream), probe_(probe) {}

bus::KeyValue* CheckpointStore::Kv() {
  std::lock_guard lock(mu_);
  if (!kv_) {
    const std::string bucket = CheckpointBucket(config_);
    auto kv = bus::KeyValue::Create(jetstream_, bucket);
    if (!kv.ok()) {
      spdlog::warn("book checkpoints: bucket {}: {}", bucket, std::string(kv.status().message()));
      return nullptr;
    }
    kv_ = std::move(*kv);
  }
  return kv_.get();
}

void CheckpointStore::Save(const std::vector<Checkpoint>& checkpoints) {
  if (checkpoints.empty()) return;
  bus::KeyValue* kv = Kv();
  if (kv == nullptr) return;
  for (const auto& c : checkpoints) {
    if (auto r = kv->Put(c.key, c.value); !r.ok()) {
      spdlog::warn("book checkpoint {}: {}", c.key, std::string(r.status().message()));
      probe_.Checkpoint(probe_.ForVenue(c.venue), "save_failed");
      continue;
    }
    probe_.Checkpoint(probe_.ForVenue(c.venue), "saved");
    std::lock_guard lock(mu_);
    if (logged_venues_.insert(c.venue).second)
      spdlog::info("book checkpoints of {}: saved every {} in {} (key {})", c.venue,
                   absl::FormatDuration(CheckpointInterval(config_)), kv->bucket(), c.key);
  }
}

absl::StatusOr<uint64_t> CheckpointStore::Restore(const std::string& venue, uint64_t first_seq, md::Decoder& decoder) {
  bus::KeyValue* kv = Kv();
  if (kv == nullptr) return 0;
  auto got = kv->Get(CheckpointKey(config_, venue));
  if (!got.ok()) {
    spdlog::warn("book checkpoint of {}: {}", venue, std::string(got.status().message()));
    probe_.Checkpoint(probe_.ForVenue(venue), "load_failed");
    return 0;
  }
  if (!got->has_value() || (*got)->empty()) return 0;
  auto c = DecodeCheckpoint(**got, MaxFrameBytes(config_));
  if (!c.ok()) {
    spdlog::warn("book checkpoint of {}: unreadable, not used", venue);
    probe_.Checkpoint(probe_.ForVenue(venue), "unreadable");
    return 0;
  }
  const uint64_t from = c->raw_stream_seq();
  auto fail = [&](const std::string& why, const char* outcome) {
    spdlog::warn("book checkpoint of {} at MD_RAW {}: {}; its books wait for the venue's snapshots", venue, from, why);
    probe_.Checkpoint(probe_.ForVenue(venue), outcome);
    return absl::FailedPreconditionError(why);
  };
  if (from + 1 < first_seq) {
    if (first_seq - from - 1 > CheckpointMaxReplay(config_))
      return fail(absl::StrCat(first_seq - from - 1, " raw frames behind"), "stale");
    auto info = jetstream_.GetStreamInfo(config_.consumer().stream());
    if (!info.ok()) return fail(std::string(info.status().message()), "load_failed");
    if (info->first_seq > from + 1) return fail("MD_RAW no longer holds the frames after it", "stale");
  }
  if (absl::Status st = decoder.ImportBooks(*c); !st.ok()) return fail(std::string(st.message()), "unreadable");
  uint64_t replayed = 0;
  if (from + 1 < first_seq) {
    auto n = ReplayRaw(venue, from + 1, first_seq, decoder);
    if (!n.ok()) return fail(std::string(n.status().message()), "load_failed");
    replayed = *n;
  }
  probe_.Checkpoint(probe_.ForVenue(venue), "restored");
  spdlog::info("book checkpoint of {}: {} books restored at MD_RAW {}, {} raw frames replayed up to {}", venue,
               c->books_size(), from, replayed, first_seq);
  return from;
}

absl::StatusOr<uint64_t> CheckpointStore::ReplayRaw(const std::string& venue, uint64_t from, uint64_t to,
                                                    md::Decoder& decoder) {
  cfg::ConsumerConfig rc;
  rc.set_stream(config_.consumer().stream());
  rc.set_durable(absl::StrCat(config_.consumer().durable(), "-books-", venue));
  rc.set_filter_subject(wire::RawSubject(venue));
  rc.set_max_ack_pending(100000);
  rc.set_ack_wait_s(300);
  bus::JetStream& js = jetstream_;
  if (absl::Status st = js.RecreatePullConsumerAt(rc, from); !st.ok()) return st;
  auto sub = js.PullSubscribe(rc);
  if (!sub.ok()) {
    (void)js.DeleteConsumer(rc.stream(), rc.durable());
    return sub.status();
  }
  DiscardingSink sink;
  uint64_t n = 0;
  absl::Status result;
  bool done = false;
  constexpr int kMaxIdleFetches = 5;  // 1 s each: the frames before `to` are stored, so they come at once
  for (int idle = 0; !done;) {
    auto msgs = (*sub)->Fetch(1000, absl::Seconds(1));
    if (!msgs.ok()) {
      result = msgs.status();
      break;
    }
    if (msgs->empty()) {
      if (++idle < kMaxIdleFetches) continue;
      result = absl::DeadlineExceededError(absl::StrCat("replay stopped before MD_RAW ", to));
      break;
    }
    idle = 0;
    for (auto& m : *msgs) {
      if (m.stream_sequence() >= to) {
        done = true;
        break;
      }
      auto frame = ParseRawFrame(RawInputOf(m), MaxFrameBytes(config_));
      if (frame.ok()) (void)decoder.Decode(*frame, sink);  // errors were dead-lettered the first time
      ++n;
    }
  }
  sub->reset();
  (void)js.DeleteConsumer(rc.stream(), rc.durable());
  if (!result.ok()) return result;
  return n;
}

}  // namespace sa::normalizer
