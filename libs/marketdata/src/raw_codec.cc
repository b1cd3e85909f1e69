#include "marketdata/raw_codec.h"

#include <zstd.h>

#include "absl/strings/str_cat.h"

namespace sa::md {

bool CompressRawPayload(std::string* data, size_t threshold) {
  if (data->size() <= threshold) return false;
  std::string out(ZSTD_compressBound(data->size()), '\0');
  // Level 1: JSON compresses 5-10x even at the fastest level; ingest's hot
  // path cannot afford more.
  size_t n = ZSTD_compress(out.data(), out.size(), data->data(), data->size(), 1);
  if (ZSTD_isError(n) || n >= data->size()) return false;
  out.resize(n);
  *data = std::move(out);
  return true;
}

absl::StatusOr<std::string> DecodeRawPayload(const std::string& payload, const std::string& encoding,
                                             size_t max_bytes) {
  if (encoding.empty() || encoding == "identity") return payload;
  if (encoding != kEncodingZstd)
    return absl::InvalidArgumentError(absl::StrCat("unknown ", kHeaderEncoding, " '", encoding, "'"));
  unsigned long long size = ZSTD_getFrameContentSize(payload.data(), payload.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return absl::InvalidArgumentError("corrupt zstd payload");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) return absl::InvalidArgumentError("zstd payload without a content size");
  if (size > max_bytes)
    return absl::ResourceExhaustedError(
        absl::StrCat("zstd payload would expand to ", size, " bytes, over the limit of ", max_bytes));
  std::string out(size, '\0');
  size_t n = ZSTD_decompress(out.data(), out.size(), payload.data(), payload.size());
  if (ZSTD_isError(n) || n != size)
    return absl::InvalidArgumentError(absl::StrCat("corrupt zstd payload: ", ZSTD_getErrorName(n)));
  return out;
}

}  // namespace sa::md
