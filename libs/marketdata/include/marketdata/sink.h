// Sink: where a Decoder delivers canonical messages and resync signals.
#pragma once

#include <cstdint>
#include <string>

#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::md {

namespace pb = ::streamadmin::marketdata::v1;

// What the service must do to bring a book back, raised when a book becomes
// known-wrong (gap, checksum mismatch, lost connection) or has never been
// synced. The decoder keeps the book out of publication until the venue's new
// snapshot arrives as an ordinary frame; PendingResyncs() lists open requests.
struct ResyncRequest {
  enum class Action {
    // Binance: GET `url` (a REST depth snapshot) and feed the response to the
    // decoder as an http RawFrame with that url.
    kFetchSnapshot,
    // Kraken / Coinbase: unsubscribe and subscribe `channel` for `venue_symbol`
    // again on `conn` (or a new connection); the venue then sends a snapshot.
    kResubscribe,
  };
  Action action = Action::kResubscribe;
  std::string venue;
  std::string conn;          // connection that fed the book
  std::string symbol;        // canonical BASE-QUOTE
  std::string venue_symbol;  // "XBT/USD", "NKNUSDT", "BTC-USD"
  std::string channel;       // kResubscribe: "book" (Kraken), "level2" (Coinbase)
  int depth = 0;             // kResubscribe on Kraken: the book depth subscribed
  std::string url;           // kFetchSnapshot: REST snapshot URL
  std::string reason;        // "initial", "gap", "checksum_mismatch", "connection_lost"
};

// Receives the decoder's output. Called on the thread that calls
// Decoder::Decode, synchronously, in venue order. The references are only valid
// during the call: decoders reuse the message objects (no allocation per
// message in steady state), so copy what you keep.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual void OnTrade(const pb::Trade& trade) = 0;
  virtual void OnTicker(const pb::Ticker& ticker) = 0;
  virtual void OnBookUpdate(const pb::BookUpdate& update) = 0;
  virtual void OnCandle(const pb::Candle& candle) = 0;
  virtual void OnVenueStatus(const pb::VenueStatus& status) = 0;
  virtual void OnResyncRequest(const ResyncRequest& request) = 0;
};

}  // namespace sa::md
