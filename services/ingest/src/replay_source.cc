#include "replay_source.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/clock.h"
#include "marketdata/recording.h"

namespace sa::ingest {

std::string VenueFromExchange(const std::string& exchange) {
  return absl::StrReplaceAll(absl::AsciiStrToLower(exchange), {{"_", "-"}});
}

absl::Status ReplaySource::Start(sources::FrameSink* sink) {
  if (thread_.joinable()) return absl::FailedPreconditionError("replay " + options_.name + " already started");
  // Open once up front so a missing or unreadable file is reported to the caller.
  auto reader = md::RecordingReader::Open(options_.path);
  if (!reader.ok()) return reader.status();
  sink_ = sink;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void ReplaySource::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

sources::SourceStats ReplaySource::Stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool ReplaySource::WaitUntil(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, deadline, [this] { return stopping_; });
  return !stopping_;
}

void ReplaySource::Run() {
  do {
    int64_t run = NowUnixNanos() / 1000000;
    absl::Status st = PlayOnce(run);
    if (!st.ok()) {
      sources::SourceEvent ev;
      ev.type = sources::SourceEventType::kError;
      ev.source = options_.name;
      ev.venue = options_.venue;
      ev.reason = "replay";
      ev.detail = std::string(st.message());
      ev.time_ns = NowUnixNanos();
      spdlog::error("replay {}: {}", options_.name, ev.detail);
      sink_->OnStatus(ev);
      {
        std::lock_guard lock(mu_);
        ++stats_.errors;
      }
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
  } while (options_.loop);
  finished_ = true;
  spdlog::info("replay {} finished: {} frames from {}", options_.name, Stats().frames, options_.path);
}

absl::Status ReplaySource::PlayOnce(int64_t run) {
  auto reader = md::RecordingReader::Open(options_.path);
  if (!reader.ok()) return reader.status();
  std::string venue = options_.venue;
  std::map<std::string, uint64_t> seq_by_conn;
  md::RecordingRecord rec;
  const auto start = std::chrono::steady_clock::now();
  int64_t first_ts_ns = 0;
  while (true) {
    auto more = (*reader)->Next(&rec);
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
    if (rec.type == md::RecordingRecord::Type::kHeader) {
      if (venue.empty()) venue = VenueFromExchange(rec.exchange);
      continue;
    }
    if (rec.type != md::RecordingRecord::Type::kRecv && rec.type != md::RecordingRecord::Type::kHttp) continue;
    if (venue.empty()) return absl::InvalidArgumentError(absl::StrCat(options_.path, ": no header naming the venue"));
    if (first_ts_ns == 0) first_ts_ns = rec.ts_ns;
    if (options_.speed > 0) {
      auto offset = std::chrono::nanoseconds(static_cast<int64_t>((rec.ts_ns - first_ts_ns) / options_.speed));
      if (!WaitUntil(start + offset)) return absl::OkStatus();
    } else {
      std::lock_guard lock(mu_);
      if (stopping_) return absl::OkStatus();
    }
    sources::Frame f;
    f.venue = venue;
    f.conn = absl::StrCat(options_.name, ".", run, ".", rec.conn);
    f.kind = rec.type == md::RecordingRecord::Type::kHttp ? "http" : "ws";
    f.url = rec.url;
    f.data = std::move(rec.data);
    f.recv_time_ns = NowUnixNanos();
    f.frame_seq = ++seq_by_conn[rec.conn];
    const size_t bytes = f.data.size();
    sink_->OnFrame(std::move(f));  // may block: back-pressure from NATS
    std::lock_guard lock(mu_);
    ++stats_.frames;
    stats_.bytes += bytes;
    if (rec.type == md::RecordingRecord::Type::kHttp) ++stats_.http_frames;
    stats_.last_frame_time_ns = NowUnixNanos();
    stats_.connected = true;
  }
}

}  // namespace sa::ingest
