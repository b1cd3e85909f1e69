#include "normalizer/book_checkpoints.h"

#include "absl/strings/str_cat.h"
#include "marketdata/raw_codec.h"

namespace sa::normalizer {

absl::StatusOr<std::string> EncodeCheckpoint(const streamadmin::marketdata::v1::BookCheckpoint& checkpoint) {
  std::string value = checkpoint.SerializeAsString();
  const bool compressed = md::CompressRawPayload(&value, kCheckpointCompressAbove);
  if (value.size() > kCheckpointMaxBytes)
    return absl::ResourceExhaustedError(absl::StrCat(value.size(), " bytes, over ", kCheckpointMaxBytes));
  return absl::StrCat(compressed ? "z" : "p", value);
}

absl::StatusOr<streamadmin::marketdata::v1::BookCheckpoint> DecodeCheckpoint(const std::string& value,
                                                                             size_t max_bytes) {
  if (value.empty() || (value[0] != 'z' && value[0] != 'p'))
    return absl::InvalidArgumentError("not a book checkpoint (prefix)");
  auto bytes = md::DecodeRawPayload(value.substr(1), value[0] == 'z' ? md::kEncodingZstd : "", max_bytes);
  streamadmin::marketdata::v1::BookCheckpoint c;
  if (!bytes.ok() || !c.ParseFromString(*bytes)) return absl::InvalidArgumentError("not a book checkpoint");
  return c;
}

}  // namespace sa::normalizer
