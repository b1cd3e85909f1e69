#include "normalizer/config.h"

#include "absl/strings/str_cat.h"
#include "runtime/main.h"
#include "runtime/streams.h"
#include "wire/subjects.h"

namespace sa::normalizer {

namespace cfg = streamadmin::config::v1;

cfg::NormalizerConfig DefaultConfig() {
  cfg::NormalizerConfig c;
  runtime::SetCommonDefaults(7102, 9102, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("normalizer");
  *c.add_streams() = runtime::MdStream();
  *c.add_streams() = runtime::DlqStream();
  auto* consumer = c.mutable_consumer();
  consumer->set_stream("MD_RAW");
  consumer->set_durable("normalizer");
  consumer->set_filter_subject(wire::kRawAll);
  consumer->set_ack_wait_s(30);
  consumer->set_max_ack_pending(20000);
  consumer->set_fetch_batch(1024);
  // Standing pull requests: frames come as they are stored, not a round trip
  // after the previous batch (latency), and within max_ack_pending.
  consumer->set_prefetch(2048);
  c.add_candle_intervals("1s");
  c.add_candle_intervals("1m");
  c.set_max_frame_bytes(32 << 20);
  c.set_max_message_bytes(512 << 10);
  c.set_book_checkpoint_interval_ms(5000);
  c.set_book_checkpoint_bucket("NORMALIZER_BOOKS");
  c.set_book_checkpoint_max_replay(500000);
  return c;
}

absl::Status ValidateConfig(const cfg::NormalizerConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (auto st = runtime::ValidateStreams(c.streams()); !st.ok()) return st;
  if (auto st = runtime::ValidateConsumer(c.consumer()); !st.ok()) return st;
  if (c.max_message_bytes() != 0 && (c.max_message_bytes() < 4096 || c.max_message_bytes() > (64u << 20)))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'max_message_bytes': ", c.max_message_bytes(), " must be 4096..67108864 (0: default)"));
  for (int i = 0; i < c.candle_intervals_size(); ++i) {
    const auto& iv = c.candle_intervals(i);
    if (iv != "1s" && iv != "1m")
      return absl::InvalidArgumentError(absl::StrCat("key 'candle_intervals[", i, "]': '", iv, "' is not 1s or 1m"));
  }
  return absl::OkStatus();
}

size_t MaxFrameBytes(const cfg::NormalizerConfig& c) { return c.max_frame_bytes() ? c.max_frame_bytes() : (32u << 20); }

size_t MaxMessageBytes(const cfg::NormalizerConfig& c) {
  return c.max_message_bytes() ? c.max_message_bytes() : (512u << 10);
}

std::vector<md::CandleBuilder::Interval> CandleIntervals(const cfg::NormalizerConfig& c) {
  std::vector<md::CandleBuilder::Interval> out;
  for (const auto& iv : c.candle_intervals())
    out.push_back({iv, iv == "1s" ? int64_t{1'000'000'000} : int64_t{60'000'000'000}});
  return out;
}

absl::Duration CheckpointInterval(const cfg::NormalizerConfig& c) {
  return absl::Milliseconds(c.book_checkpoint_interval_ms() ? c.book_checkpoint_interval_ms() : 5000);
}

std::string CheckpointBucket(const cfg::NormalizerConfig& c) {
  return c.book_checkpoint_bucket().empty() ? "NORMALIZER_BOOKS" : c.book_checkpoint_bucket();
}

uint64_t CheckpointMaxReplay(const cfg::NormalizerConfig& c) {
  return c.book_checkpoint_max_replay() ? c.book_checkpoint_max_replay() : 500000;
}

std::string CheckpointKey(const cfg::NormalizerConfig& c, const std::string& venue) {
  return absl::StrCat(c.consumer().durable(), ".", venue);
}

}  // namespace sa::normalizer
