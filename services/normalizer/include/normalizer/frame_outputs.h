// FrameOutputs: what one decoded raw frame turns into — the canonical
// messages to publish on MD with their subjects and deterministic ids, the
// venue status events and the resync requests it raised.
//
// Ids are deterministic so that decoding a frame again after a crash stores
// nothing twice: trades by the venue's trade id, candles built from trades by
// their interval and open time, the rest by the raw frame's id plus their
// position among the frame's outputs (wire/msg_ids.h). A book snapshot over
// max_message_bytes is split into parts (marketdata/book_parts.h).
//
// Not thread-safe: one decoder thread fills it, then takes what it collected.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bus/message.h"
#include "marketdata/candle_builder.h"
#include "marketdata/sink.h"

namespace sa::normalizer {

class FrameOutputs final : public md::Sink {
 public:
  // `candles` (may be null: no candles built) gets every trade; the candles
  // it closes are published too.
  FrameOutputs(std::string venue, md::CandleBuilder* candles, size_t max_message_bytes);

  // The next outputs come from the raw frame `frame_id` (RawInput::FrameId):
  // their positional ids count from 0 again.
  void StartFrame(std::string frame_id);

  void OnTrade(const streamadmin::marketdata::v1::Trade& t) override;
  void OnTicker(const streamadmin::marketdata::v1::Ticker& t) override;
  void OnBookUpdate(const streamadmin::marketdata::v1::BookUpdate& b) override;
  // Candles the venue itself sends (Coinbase candles, Binance kline) keep the
  // venue's interval, marked native, apart from the ones built from trades.
  void OnCandle(const streamadmin::marketdata::v1::Candle& c) override;
  void OnVenueStatus(const streamadmin::marketdata::v1::VenueStatus& s) override;
  void OnResyncRequest(const md::ResyncRequest& r) override;
  // A candle the CandleBuilder closed (or one closed by the candle clock).
  void OnBuiltCandle(const streamadmin::marketdata::v1::Candle& c);

  std::vector<bus::Message>& messages() { return messages_; }
  std::vector<streamadmin::marketdata::v1::VenueStatus>& statuses() { return statuses_; }
  std::vector<md::ResyncRequest>& resyncs() { return resyncs_; }
  uint64_t trades() const { return trades_; }
  uint64_t book_updates() const { return book_updates_; }
  // Latest exchange (else receive) time of the trades seen; 0 before any.
  int64_t max_event_time_ns() const { return max_event_time_ns_; }

 private:
  std::string NextId(const char* kind);
  void Add(std::string subject, std::string id, const google::protobuf::Message& m);

  std::string venue_;
  md::CandleBuilder* candles_;
  size_t max_message_bytes_;
  std::string frame_id_;
  int index_ = 0;
  uint64_t trades_ = 0;
  uint64_t book_updates_ = 0;
  int64_t max_event_time_ns_ = 0;
  std::vector<bus::Message> messages_;
  std::vector<streamadmin::marketdata::v1::VenueStatus> statuses_;
  std::vector<md::ResyncRequest> resyncs_;
};

// Decodes for the state only (a checkpoint's replay): what it emits was
// published before.
class DiscardingSink final : public md::Sink {
 public:
  void OnTrade(const streamadmin::marketdata::v1::Trade&) override {}
  void OnTicker(const streamadmin::marketdata::v1::Ticker&) override {}
  void OnBookUpdate(const streamadmin::marketdata::v1::BookUpdate&) override {}
  void OnCandle(const streamadmin::marketdata::v1::Candle&) override {}
  void OnVenueStatus(const streamadmin::marketdata::v1::VenueStatus&) override {}
  void OnResyncRequest(const md::ResyncRequest&) override {}
};

}  // namespace sa::normalizer
