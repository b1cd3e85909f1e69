// Payload encoding of md.raw frames. Venues send book snapshots of several MB
// (Coinbase Advanced Trade l2_data, Binance REST depth); NATS refuses messages
// above its max_payload (1 MB by default). Ingest compresses frames above a
// threshold with zstd and says so in the Sa-Encoding header; the normalizer
// decompresses with a size cap, so a hostile payload cannot balloon memory.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "wire/headers.h"

namespace sa::md {

inline constexpr const auto& kHeaderEncoding = wire::header::kEncoding;  // absent: identity
inline constexpr const auto& kEncodingZstd = wire::encoding::kZstd;

// Compresses `data` in place when it is larger than `threshold` bytes and
// compression pays off; returns true when it did (then set Sa-Encoding: zstd).
bool CompressRawPayload(std::string* data, size_t threshold);

// The frame text of a payload with `encoding` ("" or "zstd"). InvalidArgument
// for an unknown encoding or corrupt data; ResourceExhausted when the
// decompressed size would exceed `max_bytes`.
absl::StatusOr<std::string> DecodeRawPayload(const std::string& payload, const std::string& encoding,
                                             size_t max_bytes);

}  // namespace sa::md
