#include "normalizer/pipeline.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/crash_point.h"
#include "marketdata/decode_error.h"
#include "marketdata/decoder_registry.h"
#include "normalizer/frame_outputs.h"
#include "wire/subjects.h"

namespace sa::normalizer {

namespace mdpb = streamadmin::marketdata::v1;

struct Pipeline::Venue {
  // Guards everything below: written by the decoder thread one frame at a
  // time, read by the gRPC threads (decoders are not thread-safe).
  mutable std::mutex mu;
  std::unique_ptr<md::Decoder> decoder;
  std::unique_ptr<md::CandleBuilder> candles;
  // Candle clock: event time advanced by wall time since it was seen, so a
  // replay closes candles by the data's time and a live feed by the clock.
  int64_t watermark_event_ns = 0;
  int64_t watermark_wall_ns = 0;
  uint64_t frames = 0, trades = 0, book_updates = 0;
  // The venue's metrics: its decode errors, and the books waiting for a
  // snapshot (the StreamAdminBookResyncingTooLong alert), refreshed once a second.
  NormalizerProbe::Venue* probe = nullptr;
  // Frames of this venue at or below this MD_RAW sequence are in the books
  // restored from a checkpoint, their outputs stored: acked, not decoded.
  uint64_t skip_through = 0;
  uint64_t last_seq = 0;  // highest MD_RAW sequence of the venue decoded (or skipped)
};

Pipeline::Pipeline(Options options)
    : options_(std::move(options)),
      probe_(options_.probe ? *options_.probe : NormalizerProbe::Default()),
      schedule_(options_.checkpoints_enabled, options_.checkpoint_interval, absl::Now()) {}

Pipeline::~Pipeline() = default;

absl::StatusOr<std::unique_ptr<Pipeline::Venue>> Pipeline::NewVenue(const std::string& venue) {
  absl::StatusOr<std::unique_ptr<md::Decoder>> decoder;
  if (options_.decoder_factory) {
    decoder = options_.decoder_factory(venue);
  } else {
    md::DecoderOptions opts;
    opts.max_frame_bytes = options_.max_frame_bytes;
    decoder = md::DecoderRegistry::Global().Create(venue, opts);
  }
  if (!decoder.ok()) return decoder.status();
  auto v = std::make_unique<Venue>();
  v->decoder = std::move(*decoder);
  v->probe = &probe_.ForVenue(venue);  // its dead-letter reasons at 0 from the start
  if (!options_.candle_intervals.empty()) {
    md::CandleBuilder::Options co;
    co.intervals = options_.candle_intervals;
    v->candles = std::make_unique<md::CandleBuilder>(co);
  }
  return v;
}

Pipeline::Venue* Pipeline::FindVenue(const std::string& venue) const {
  std::shared_lock lock(venues_mu_);
  auto it = venues_.find(venue);
  return it == venues_.end() ? nullptr : it->second.get();
}

// A new venue is set up (its books restored, which may take a replay of raw
// frames) before it is listed, so readers never wait for that.
Pipeline::Venue* Pipeline::VenueFor(const std::string& venue, uint64_t first_seq, DecodedBatch* batch,
                                    std::string* error) {
  if (Venue* v = FindVenue(venue)) return v;
  auto v = NewVenue(venue);
  if (!v.ok()) {
    *error = std::string(v.status().message());
    return nullptr;
  }
  if (options_.restore_books) {
    {
      std::unique_lock lock(venues_mu_);
      restoring_.insert(venue);
    }
    auto restored = options_.restore_books(venue, first_seq, *(*v)->decoder);
    if (!restored.ok()) {
      v = NewVenue(venue);  // whatever was imported is dropped
      if (!v.ok()) {
        *error = std::string(v.status().message());
        std::unique_lock lock(venues_mu_);
        restoring_.erase(venue);
        return nullptr;
      }
    } else {
      (*v)->skip_through = *restored;  // frames up to it come again when their acks were lost
      for (auto& r : (*v)->decoder->PendingResyncs()) batch->resyncs.push_back(r);
    }
  }
  std::unique_lock lock(venues_mu_);
  restoring_.erase(venue);
  return venues_.emplace(venue, std::move(*v)).first->second.get();
}

DecodedBatch Pipeline::Decode(const std::vector<RawInput>& inputs, absl::Time now) {
  DecodedBatch batch;
  batch.frames = inputs.size();
  for (const auto& in : inputs) DecodeOne(in, &batch);
  if (now - last_resync_gauges_ >= absl::Seconds(1)) {
    last_resync_gauges_ = now;
    std::shared_lock lock(venues_mu_);
    for (auto& [name, v] : venues_) {
      std::lock_guard venue_lock(v->mu);
      v->probe->books_resyncing.Set(static_cast<double>(v->decoder->PendingResyncs().size()));
    }
  }
  if (schedule_.Due(now)) batch.checkpoints = TakeCheckpoints();
  return batch;
}

void Pipeline::DecodeOne(const RawInput& in, DecodedBatch* batch) {
  auto parsed = ParseRawFrame(in, options_.max_frame_bytes);
  if (!parsed.ok()) {
    DeadLetter(in, DeadLetterReasonOf(parsed.status()), std::string(parsed.status().message()), batch);
    return;
  }
  md::RawFrame& frame = *parsed;
  std::string error;
  Venue* v = VenueFor(frame.venue, in.stream_sequence, batch, &error);
  if (!v) {
    DeadLetter(in, "unknown_venue", error, batch);
    return;
  }
  FrameOutputs sink(frame.venue, v->candles.get(), options_.max_message_bytes);
  absl::Status st;
  {
    std::lock_guard lock(v->mu);
    ++v->frames;
    v->last_seq = std::max(v->last_seq, in.stream_sequence);
    if (in.stream_sequence <= v->skip_through) return;  // in the restored books, outputs stored
    SA_CRASH_POINT("normalizer.frame_decoding");        // the k-th frame of this process, before its decode
    sink.StartFrame(in.FrameId());
    st = v->decoder->Decode(frame, sink);
    v->trades += sink.trades();
    v->book_updates += sink.book_updates();
    if (sink.max_event_time_ns() > v->watermark_event_ns) {
      v->watermark_event_ns = sink.max_event_time_ns();
      v->watermark_wall_ns = NowUnixNanos();
    }
  }
  AddStatuses(sink.statuses());
  for (auto& r : sink.resyncs()) batch->resyncs.push_back(std::move(r));
  for (auto& o : sink.messages()) batch->outputs.push_back(std::move(o));
  if (!st.ok()) {
    md::DecodeError reason = md::GetDecodeError(st);
    // A redelivery of a frame this process already decoded: its outputs are out.
    if (reason == md::DecodeError::kOutOfOrder && in.delivery_count > 1) return;
    DeadLetter(in, std::string(md::DecodeErrorName(reason)), std::string(st.message()), batch, v->probe);
  }
}

// The dead letter goes out with the batch's other outputs: the raw frame is
// acked only once it is stored.
void Pipeline::DeadLetter(const RawInput& in, const std::string& reason, const std::string& error, DecodedBatch* batch,
                          NormalizerProbe::Venue* venue) {
  const std::string& subject = *in.subject;
  if (venue == nullptr) venue = &probe_.ForVenue(subject.substr(std::min(subject.size(), strlen(wire::kRawPrefix))));
  probe_.DeadLetter(*venue, reason);
  spdlog::warn("dead letter ({}): {}", reason, error);
  batch->outputs.push_back(dlq_.Build({.reason = reason,
                                       .error = error,
                                       .subject = subject,
                                       .input_msg_id = in.FrameId(),
                                       .payload = *in.data,
                                       .input_headers = in.headers ? *in.headers : bus::Headers{}}));
}

void Pipeline::AddStatuses(std::vector<mdpb::VenueStatus>& statuses) {
  if (statuses.empty()) return;
  std::lock_guard lock(status_mu_);
  for (auto& s : statuses) {
    recent_status_.push_back(std::move(s));
    if (recent_status_.size() > kRecentStatusLimit) recent_status_.pop_front();
  }
}

std::vector<bus::Message> Pipeline::CloseDueCandles(int64_t now) {
  std::vector<bus::Message> out;
  std::shared_lock lock(venues_mu_);
  for (auto& [venue, v] : venues_) {
    std::lock_guard venue_lock(v->mu);
    if (!v->candles || v->watermark_event_ns == 0) continue;
    FrameOutputs sink(venue, nullptr, options_.max_message_bytes);
    v->candles->CloseDue(v->watermark_event_ns + (now - v->watermark_wall_ns),
                         [&](const mdpb::Candle& c) { sink.OnBuiltCandle(c); });
    for (auto& o : sink.messages()) out.push_back(std::move(o));
  }
  return out;
}

std::vector<Checkpoint> Pipeline::TakeCheckpoints() {
  std::vector<Checkpoint> out;
  std::shared_lock lock(venues_mu_);
  for (auto& [venue, v] : venues_) {
    absl::StatusOr<mdpb::BookCheckpoint> c;
    {
      std::lock_guard venue_lock(v->mu);
      if (v->last_seq == 0) continue;
      c = v->decoder->ExportBooks();
      if (!c.ok()) continue;  // Unimplemented: the venue restarts from snapshots
      c->set_raw_stream_seq(std::max(v->last_seq, v->skip_through));
    }
    c->set_saved_at_ns(NowUnixNanos());
    auto value = EncodeCheckpoint(*c);
    if (!value.ok()) {
      spdlog::warn("book checkpoint of {}: {}: not saved", venue, std::string(value.status().message()));
      probe_.Checkpoint(*v->probe, "too_big");
      continue;
    }
    out.push_back({.venue = venue,
                   .key = options_.checkpoint_key ? options_.checkpoint_key(venue) : venue,
                   .value = std::move(*value)});
  }
  return out;
}

absl::StatusOr<mdpb::BookUpdate> Pipeline::TopLevels(const std::string& venue, const std::string& symbol,
                                                     size_t depth) const {
  const Venue* v = nullptr;
  {
    std::shared_lock lock(venues_mu_);
    auto it = venues_.find(venue);
    if (it != venues_.end()) {
      v = it->second.get();
    } else if (restoring_.contains(venue)) {
      return absl::UnavailableError(
          absl::StrCat("venue '", venue, "': its books are being restored from a checkpoint; try again shortly"));
    }
  }
  if (v == nullptr) return absl::NotFoundError(absl::StrCat("no frames seen from venue '", venue, "'"));
  std::lock_guard lock(v->mu);
  return v->decoder->TopLevels(symbol, depth);
}

std::vector<mdpb::VenueStatus> Pipeline::RecentStatus(size_t limit) const {
  std::vector<mdpb::VenueStatus> out;
  std::lock_guard lock(status_mu_);
  for (auto it = recent_status_.rbegin(); it != recent_status_.rend() && out.size() < limit; ++it) out.push_back(*it);
  return out;
}

std::vector<VenueSummary> Pipeline::Venues() const {
  std::vector<VenueSummary> out;
  std::shared_lock lock(venues_mu_);
  for (auto& [name, v] : venues_) {
    std::lock_guard venue_lock(v->mu);
    VenueSummary s;
    s.venue = name;
    s.frames = v->frames;
    s.decode_errors = probe_.decode_errors(*v->probe);
    s.trades = v->trades;
    s.book_updates = v->book_updates;
    s.symbols = v->decoder->BookSymbols();
    s.books_resyncing = v->decoder->PendingResyncs().size();
    out.push_back(std::move(s));
  }
  return out;
}

PipelineTotals Pipeline::Totals() const {
  PipelineTotals t;
  std::shared_lock lock(venues_mu_);
  t.venues = venues_.size();
  for (auto& [name, v] : venues_) {
    std::lock_guard venue_lock(v->mu);
    t.frames += v->frames;
    t.decode_errors += probe_.decode_errors(*v->probe);
  }
  return t;
}

}  // namespace sa::normalizer
