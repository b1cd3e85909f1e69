#include "normalizer/frame_outputs.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "marketdata/book_parts.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::normalizer {

namespace mdpb = streamadmin::marketdata::v1;

FrameOutputs::FrameOutputs(std::string venue, md::CandleBuilder* candles, size_t max_message_bytes)
    : venue_(std::move(venue)), candles_(candles), max_message_bytes_(max_message_bytes) {}

void FrameOutputs::StartFrame(std::string frame_id) {
  frame_id_ = std::move(frame_id);
  index_ = 0;
}

void FrameOutputs::OnTrade(const mdpb::Trade& t) {
  const auto& o = t.origin();
  Add(wire::TradeSubject(venue_, o.symbol()),
      t.trade_id().empty() ? NextId(wire::kOutputTrade) : wire::TradeMsgId(venue_, o.symbol(), t.trade_id()), t);
  ++trades_;
  int64_t ts = o.exchange_time_ns() ? o.exchange_time_ns() : o.receive_time_ns();
  max_event_time_ns_ = std::max(max_event_time_ns_, ts);
  if (candles_) {
    if (absl::Status st = candles_->Add(t, [this](const mdpb::Candle& c) { OnBuiltCandle(c); }); !st.ok())
      spdlog::warn("candle: {}", std::string(st.message()));
  }
}

void FrameOutputs::OnTicker(const mdpb::Ticker& t) {
  Add(wire::TickerSubject(venue_, t.origin().symbol()), NextId(wire::kOutputTicker), t);
}

void FrameOutputs::OnBookUpdate(const mdpb::BookUpdate& b) {
  ++book_updates_;
  const std::string subject = wire::BookSubject(venue_, b.origin().symbol());
  if (b.ByteSizeLong() <= max_message_bytes_) {
    Add(subject, NextId(wire::kOutputBook), b);
    return;
  }
  // Over NATS's max_payload: parts a subscriber reassembles (see BookUpdate).
  for (const auto& part : md::SplitBookSnapshot(b, max_message_bytes_)) Add(subject, NextId(wire::kOutputBook), part);
}

void FrameOutputs::OnCandle(const mdpb::Candle& c) {
  Add(wire::NativeCandleSubject(c.interval(), venue_, c.origin().symbol()), NextId(wire::kOutputCandle), c);
}

void FrameOutputs::OnBuiltCandle(const mdpb::Candle& c) {
  Add(wire::CandleSubject(c.interval(), venue_, c.origin().symbol()),
      wire::BuiltCandleMsgId(c.interval(), venue_, c.origin().symbol(), c.open_time_ns(), c.closed()), c);
}

void FrameOutputs::OnVenueStatus(const mdpb::VenueStatus& s) {
  Add(wire::StatusSubject(venue_), NextId(wire::kOutputStatus), s);
  statuses_.push_back(s);
  spdlog::warn("{} {}: {} {}", venue_, s.origin().symbol(), mdpb::VenueStatus::Kind_Name(s.kind()), s.detail());
}

void FrameOutputs::OnResyncRequest(const md::ResyncRequest& r) { resyncs_.push_back(r); }

std::string FrameOutputs::NextId(const char* kind) { return wire::FrameOutputMsgId(kind, frame_id_, index_++); }

void FrameOutputs::Add(std::string subject, std::string id, const google::protobuf::Message& m) {
  bus::Message out;
  out.subject = std::move(subject);
  out.msg_id = std::move(id);
  m.SerializeToString(&out.data);
  messages_.push_back(std::move(out));
}

}  // namespace sa::normalizer
