// Every Nats-Msg-Id scheme. An id is built from the source's own position, so
// a retried or replayed publish is stored once within the stream's duplicate
// window; the schemes below are that promise, per producer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sa::wire {

// ---- md.raw.<venue> (ingest) ----
// "<venue>:<conn>:<frame seq>". Venues have no ':'; the connection id may.
std::string RawMsgId(std::string_view venue, std::string_view conn, uint64_t frame_seq);
struct RawMsgIdParts {
  std::string venue;
  std::string conn;
  uint64_t frame_seq = 0;
};
std::optional<RawMsgIdParts> ParseRawMsgId(std::string_view id);
// A message's position when it carries no id: "<subject>:<stream sequence>".
std::string StreamPositionId(std::string_view subject, uint64_t stream_sequence);

// ---- md.* (normalizer) ----
// Trades by the venue's trade id: "trade:<venue>:<symbol>:<trade id>".
std::string TradeMsgId(std::string_view venue, std::string_view symbol, std::string_view trade_id);
// Any other output of a raw frame, by its position among the frame's outputs:
// "<kind>:<raw frame id>:<index>", kind one of the FrameOutputKind names.
inline constexpr char kOutputTrade[] = "trade";
inline constexpr char kOutputTicker[] = "ticker";
inline constexpr char kOutputBook[] = "book";
inline constexpr char kOutputCandle[] = "candle";
inline constexpr char kOutputStatus[] = "status";
std::string FrameOutputMsgId(std::string_view kind, std::string_view raw_msg_id, int index);
// Candles built from trades: "candle:<interval>:<venue>:<symbol>:<open ns>:<c|o>".
std::string BuiltCandleMsgId(std::string_view interval, std::string_view venue, std::string_view symbol,
                             int64_t open_time_ns, bool closed);

// ---- cdc.* (cdc-bridge) ----
// Events: "<server>:<commit LSN>:<index in the transaction>"; the LSN in
// PostgreSQL's text form (X/X), as cdc::FormatLsn writes it.
std::string CdcEventMsgId(std::string_view server, std::string_view commit_lsn, uint32_t index);
struct CdcEventMsgIdParts {
  std::string server;
  std::string commit_lsn;
  uint32_t index = 0;
};
// nullopt unless `id` has exactly three ':'-separated parts and a numeric index
// (the LSN text is not checked).
std::optional<CdcEventMsgIdParts> ParseCdcEventMsgId(std::string_view id);
// Watermarks: "<server>:wm:<LSN>".
std::string CdcWatermarkMsgId(std::string_view server, std::string_view lsn);
bool IsCdcWatermarkMsgId(std::string_view id);

// ---- anomaly.* (anomaly) ----
// "anomaly:<id of the md message scored>".
std::string AnomalyMsgId(std::string_view source_msg_id);

// ---- dlq.* (bus::DeadLetterWriter) ----
// "dlq:<stage>:<input id>": one dead letter per input and stage.
std::string DeadLetterMsgId(std::string_view stage, std::string_view input_msg_id);

}  // namespace sa::wire
