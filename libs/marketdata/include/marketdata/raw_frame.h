// RawFrame: one frame as ingest received it from a venue. Ingest publishes it on
// md.raw.<venue> (frame text as payload; conn, frame seq, receive time, kind and
// url as headers) and the normalizer hands it to the venue's Decoder.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace sa::md {

enum class FrameKind {
  kWs,    // a WebSocket message the venue sent
  kHttp,  // a REST response body (symbol lists, book snapshots); `url` says which
};

// "ws" / "http", the values of the md.raw kind header.
absl::string_view FrameKindName(FrameKind kind);
// Inverse of FrameKindName; false for anything else.
bool ParseFrameKind(absl::string_view name, FrameKind* kind);

struct RawFrame {
  std::string venue;         // registry name of the decoder: "kraken", "binance", ...
  std::string conn;          // ingest connection id, e.g. "KRAKEN.ws.50"
  uint64_t frame_seq = 0;    // 1, 2, 3... per conn, in receive order; 0 = unknown
  int64_t recv_time_ns = 0;  // local receive time, ns since the epoch
  FrameKind kind = FrameKind::kWs;
  std::string url;           // kHttp: the request URL
  // The frame text exactly as received. Decoders parse it with simdjson, which
  // reads up to 64 bytes past the end: when data.capacity() - data.size() >= 64
  // (ReserveJsonPadding) the text is parsed in place, otherwise it is copied
  // into a decoder-owned padded buffer first.
  std::string data;
};

// Reserves simdjson's padding behind `data` so decoders can parse it in place.
void ReserveJsonPadding(std::string& data);

}  // namespace sa::md
