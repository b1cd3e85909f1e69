// md.raw payloads as the normalizer receives them from the bus: identity or
// zstd (Sa-Encoding), decompressed with a size cap (marketdata/raw_codec.h).
// First byte: the encoding ('z' zstd, else identity); then the payload.
// Promises checked: the output never exceeds the cap; refusals are
// INVALID_ARGUMENT (corrupt) or RESOURCE_EXHAUSTED (over the cap); what
// ingest compresses decompresses to the same bytes.
#include <string>

#include "fuzz_target.h"
#include "marketdata/raw_codec.h"

SA_FUZZ_TARGET(raw_payload) {
  using namespace sa;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.empty()) return;
  constexpr size_t kCap = 1 << 16;
  const std::string encoding = input[0] == 'z' ? md::kEncodingZstd : "";
  const std::string payload(input.substr(1));
  auto out = md::DecodeRawPayload(payload, encoding, kCap);
  if (out.ok()) {
    if (out->size() > kCap) fuzz::Broken("raw_payload", "decoded beyond the cap", input);
  } else if (out.status().code() != absl::StatusCode::kInvalidArgument &&
             out.status().code() != absl::StatusCode::kResourceExhausted) {
    fuzz::Broken("raw_payload", "refused with a code it does not promise", input, out.status().ToString());
  }
  std::string compressed = payload;
  if (md::CompressRawPayload(&compressed, 16)) {
    auto back = md::DecodeRawPayload(compressed, md::kEncodingZstd, payload.size());
    if (!back.ok() || *back != payload) fuzz::Broken("raw_payload", "compression does not round-trip", input);
  }
}
