#include "marketdata/raw_frame.h"

#include <simdjson.h>

namespace sa::md {

absl::string_view FrameKindName(FrameKind kind) {
  return kind == FrameKind::kHttp ? "http" : "ws";
}

bool ParseFrameKind(absl::string_view name, FrameKind* kind) {
  if (name == "ws") {
    *kind = FrameKind::kWs;
    return true;
  }
  if (name == "http") {
    *kind = FrameKind::kHttp;
    return true;
  }
  return false;
}

void ReserveJsonPadding(std::string& data) {
  data.reserve(data.size() + simdjson::SIMDJSON_PADDING);
}

}  // namespace sa::md
