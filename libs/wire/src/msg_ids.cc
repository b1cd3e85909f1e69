#include "wire/msg_ids.h"

#include <charconv>
#include <vector>

namespace sa::wire {

namespace {

std::string Cat(std::initializer_list<std::string_view> parts) {
  size_t n = 0;
  for (auto p : parts) n += p.size();
  std::string out;
  out.reserve(n);
  for (auto p : parts) out.append(p.data(), p.size());
  return out;
}

template <typename T>
bool ParseUnsigned(std::string_view s, T* out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

constexpr char kWatermarkTag[] = ":wm:";

}  // namespace

std::string RawMsgId(std::string_view venue, std::string_view conn, uint64_t frame_seq) {
  return Cat({venue, ":", conn, ":", std::to_string(frame_seq)});
}

std::optional<RawMsgIdParts> ParseRawMsgId(std::string_view id) {
  const size_t first = id.find(':');
  const size_t last = id.rfind(':');
  if (first == std::string_view::npos || first == last) return std::nullopt;
  RawMsgIdParts p;
  if (!ParseUnsigned(id.substr(last + 1), &p.frame_seq)) return std::nullopt;
  p.venue = std::string(id.substr(0, first));
  p.conn = std::string(id.substr(first + 1, last - first - 1));
  return p;
}

std::string StreamPositionId(std::string_view subject, uint64_t stream_sequence) {
  return Cat({subject, ":", std::to_string(stream_sequence)});
}

std::string TradeMsgId(std::string_view venue, std::string_view symbol, std::string_view trade_id) {
  return Cat({kOutputTrade, ":", venue, ":", symbol, ":", trade_id});
}

std::string FrameOutputMsgId(std::string_view kind, std::string_view raw_msg_id, int index) {
  return Cat({kind, ":", raw_msg_id, ":", std::to_string(index)});
}

std::string BuiltCandleMsgId(std::string_view interval, std::string_view venue, std::string_view symbol,
                             int64_t open_time_ns, bool closed) {
  return Cat({kOutputCandle, ":", interval, ":", venue, ":", symbol, ":", std::to_string(open_time_ns), ":",
              closed ? "c" : "o"});
}

std::string CdcEventMsgId(std::string_view server, std::string_view commit_lsn, uint32_t index) {
  return Cat({server, ":", commit_lsn, ":", std::to_string(index)});
}

std::optional<CdcEventMsgIdParts> ParseCdcEventMsgId(std::string_view id) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t colon = id.find(':', start);
    parts.push_back(id.substr(start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() != 3) return std::nullopt;
  CdcEventMsgIdParts p;
  if (!ParseUnsigned(parts[2], &p.index)) return std::nullopt;
  p.server = std::string(parts[0]);
  p.commit_lsn = std::string(parts[1]);
  return p;
}

std::string CdcWatermarkMsgId(std::string_view server, std::string_view lsn) {
  return Cat({server, kWatermarkTag, lsn});
}

bool IsCdcWatermarkMsgId(std::string_view id) { return id.find(kWatermarkTag) != std::string_view::npos; }

std::string AnomalyMsgId(std::string_view source_msg_id) { return Cat({"anomaly:", source_msg_id}); }

std::string DeadLetterMsgId(std::string_view stage, std::string_view input_msg_id) {
  return Cat({"dlq:", stage, ":", input_msg_id});
}

}  // namespace sa::wire
