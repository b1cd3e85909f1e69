// Shared helpers for marketdata tests: fixture paths, a sink that keeps copies
// of everything, and decoding a whole recording.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "marketdata/decoder.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/recording.h"

namespace sa::md::testing {

// $SA_FIXTURES_DIR/<name>; else $SA_SOURCE_DIR/../shared/fixtures/exchanges/<name> when it
// exists; else the same path relative to this source file.
inline std::string FixturePath(const std::string& name) {
  if (const char* dir = std::getenv("SA_FIXTURES_DIR"); dir != nullptr && *dir != '\0') {
    return absl::StrCat(dir, "/", name);
  }
  if (const char* src = std::getenv("SA_SOURCE_DIR"); src != nullptr && *src != '\0') {
    std::string path = absl::StrCat(src, "/../shared/fixtures/exchanges/", name);
    if (::access(path.c_str(), R_OK) == 0) return path;
  }
  std::string here = __FILE__;  // .../main/libs/marketdata/tests/test_util.h
  for (int i = 0; i < 5; ++i) here = here.substr(0, here.rfind('/'));
  return absl::StrCat(here, "/shared/fixtures/exchanges/", name);
}

class CollectingSink : public Sink {
 public:
  void OnTrade(const pb::Trade& m) override { trades.push_back(m); }
  void OnTicker(const pb::Ticker& m) override { tickers.push_back(m); }
  void OnBookUpdate(const pb::BookUpdate& m) override {
    if (keep_book_updates) {
      book_updates.push_back(m);
    } else {
      ++book_update_count;
    }
  }
  void OnCandle(const pb::Candle& m) override { candles.push_back(m); }
  void OnVenueStatus(const pb::VenueStatus& m) override { statuses.push_back(m); }
  void OnResyncRequest(const ResyncRequest& r) override { resyncs.push_back(r); }

  std::vector<pb::VenueStatus::Kind> StatusKinds() const {
    std::vector<pb::VenueStatus::Kind> kinds;
    for (const auto& s : statuses) kinds.push_back(s.kind());
    return kinds;
  }

  bool keep_book_updates = true;
  size_t book_update_count = 0;
  std::vector<pb::Trade> trades;
  std::vector<pb::Ticker> tickers;
  std::vector<pb::BookUpdate> book_updates;
  std::vector<pb::Candle> candles;
  std::vector<pb::VenueStatus> statuses;
  std::vector<ResyncRequest> resyncs;
};

inline std::vector<RawFrame> LoadFrames(const std::string& file, const std::string& venue) {
  absl::StatusOr<std::vector<RawFrame>> frames = ReadRawFrames(FixturePath(file), venue);
  EXPECT_TRUE(frames.ok()) << frames.status();
  return frames.ok() ? *std::move(frames) : std::vector<RawFrame>();
}

inline std::unique_ptr<Decoder> MakeDecoder(const std::string& venue,
                                            const DecoderOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<Decoder>> decoder =
      DecoderRegistry::Global().Create(venue, options);
  EXPECT_TRUE(decoder.ok()) << decoder.status();
  return decoder.ok() ? *std::move(decoder) : nullptr;
}

// Decodes every frame; returns the errors' messages.
inline std::vector<std::string> DecodeAll(Decoder& decoder, const std::vector<RawFrame>& frames,
                                          Sink& sink) {
  std::vector<std::string> errors;
  for (const RawFrame& frame : frames) {
    absl::Status status = decoder.Decode(frame, sink);
    if (!status.ok()) errors.push_back(std::string(status.message()));
  }
  return errors;
}

struct DecodeWithOptions {
  bool keep_book_updates = true;  // see CollectingSink
};

// What a fresh decoder of `venue` made of `frames`: the decoder after the last
// frame, what it sent, and the messages of the frames it refused.
struct Decoded {
  std::unique_ptr<Decoder> decoder;
  CollectingSink sink;
  std::vector<std::string> errors;
};

inline Decoded DecodeWith(const std::string& venue, const std::vector<RawFrame>& frames,
                          const DecodeWithOptions& options = {}) {
  Decoded decoded{MakeDecoder(venue), {}, {}};
  decoded.sink.keep_book_updates = options.keep_book_updates;
  decoded.errors = DecodeAll(*decoded.decoder, frames, decoded.sink);
  return decoded;
}

// Renumbers frame_seq per conn (as ingest would for frames it never received).
inline void Renumber(std::vector<RawFrame>& frames) {
  std::map<std::string, uint64_t> seq;
  for (RawFrame& frame : frames) frame.frame_seq = ++seq[frame.conn];
}

inline RawFrame WsFrame(const std::string& conn, uint64_t seq, const std::string& data,
                        const std::string& venue = "") {
  RawFrame frame;
  frame.venue = venue;
  frame.conn = conn;
  frame.frame_seq = seq;
  frame.recv_time_ns = 1'600'000'000'000'000'000 + static_cast<int64_t>(seq);
  frame.kind = FrameKind::kWs;
  frame.data = data;
  return frame;
}

}  // namespace sa::md::testing
