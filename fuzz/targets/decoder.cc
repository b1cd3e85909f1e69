// The four venue decoders over a script of frames, one record per line:
//   a<text>           WebSocket frame on conn A (simdjson padding reserved)
//   b<text>           WebSocket frame on conn B (no padding: the copy path)
//   h<url>\t<body>    REST response (symbol lists, Binance depth snapshots)
//   g                 conn A loses a frame (its next frame_seq jumps)
//   r                 conn A restarts at frame_seq 1 (ingest reused the id)
//   l                 conn A is lost (OnConnectionLost)
//   e                 checkpoint: ExportBooks, ImportBooks into a new decoder,
//                     which carries on with the rest of the script
// any other first byte: the whole line is a frame on conn A.
//
// Promises checked (libs/marketdata/include/marketdata/decoder.h): a failed
// Decode is INVALID_ARGUMENT with a DecodeError payload; TopLevels is OK,
// NOT_FOUND or UNAVAILABLE, and a served book has exact decimal levels with
// bids strictly falling and asks strictly rising; a checkpoint imports into a
// fresh decoder, which then serves exactly the books the old one served.
#include <map>
#include <memory>
#include <string>

#include "fuzz_target.h"
#include "marketdata/decimal.h"
#include "marketdata/decode_error.h"
#include "marketdata/decoder.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/sink.h"

namespace sa::fuzz {
namespace {

namespace pb = ::streamadmin::marketdata::v1;

class CountingSink : public md::Sink {
 public:
  void OnTrade(const pb::Trade& m) override { bytes_ += m.ByteSizeLong(); }
  void OnTicker(const pb::Ticker& m) override { bytes_ += m.ByteSizeLong(); }
  void OnBookUpdate(const pb::BookUpdate& m) override { bytes_ += m.ByteSizeLong(); }
  void OnCandle(const pb::Candle& m) override { bytes_ += m.ByteSizeLong(); }
  void OnVenueStatus(const pb::VenueStatus& m) override { bytes_ += m.ByteSizeLong(); }
  void OnResyncRequest(const md::ResyncRequest& r) override { bytes_ += r.symbol.size(); }

 private:
  size_t bytes_ = 0;
};

std::unique_ptr<md::Decoder> NewDecoder(const char* venue) {
  md::DecoderOptions options;
  options.max_frame_bytes = 1 << 20;
  options.max_buffered_diffs = 64;
  auto d = md::DecoderRegistry::Global().Create(venue, options);
  if (!d.ok()) std::abort();
  return std::move(*d);
}

void CheckSide(const char* target, std::string_view input, const std::string& symbol,
               const google::protobuf::RepeatedPtrField<pb::BookLevel>& levels, int order) {
  md::ExactDecimal prev;
  for (int i = 0; i < levels.size(); ++i) {
    md::ExactDecimal price;
    if (!md::ParseExactDecimal(levels[i].price().value(), &price))
      Broken(target, "a served book level's price is not an exact decimal", input,
             symbol + " " + levels[i].price().value());
    md::ExactDecimal size;
    if (!md::ParseExactDecimal(levels[i].size().value(), &size))
      Broken(target, "a served book level's size is not an exact decimal", input,
             symbol + " " + levels[i].size().value());
    if (i > 0 && md::ExactCompare(price, prev) != order)
      Broken(target, "a served book side is out of order", input, symbol + " at " + levels[i].price().value());
    prev = price;
  }
}

// symbol -> serialized TopLevels, for the books the decoder serves.
std::map<std::string, std::string> ServedBooks(const char* target, std::string_view input, const md::Decoder& d) {
  std::map<std::string, std::string> served;
  for (const auto& symbol : d.BookSymbols()) {
    auto top = d.TopLevels(symbol, 25);
    if (!top.ok()) {
      auto code = top.status().code();
      if (code != absl::StatusCode::kNotFound && code != absl::StatusCode::kUnavailable)
        Broken(target, "TopLevels failed with a code it does not promise", input, top.status().ToString());
      continue;
    }
    CheckSide(target, input, symbol, top->bids(), -1);
    CheckSide(target, input, symbol, top->asks(), 1);
    std::string bytes;
    top->SerializeToString(&bytes);
    served[symbol] = std::move(bytes);
  }
  (void)d.TopLevels("NO-SUCH", 1);
  return served;
}

void RunScript(const char* target, const char* venue, const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto decoder = NewDecoder(venue);
  CountingSink sink;
  std::map<std::string, uint64_t> seq;
  uint64_t frames = 0;
  for (std::string_view line : Lines(input)) {
    char op = line.empty() ? '\0' : line[0];  // an empty line: an empty frame on conn A
    md::RawFrame frame;
    frame.venue = venue;
    frame.recv_time_ns = 1618678132350000000 + static_cast<int64_t>(seq["A"]) * 1000000;
    switch (op) {
      case 'g':
        ++seq["A"];
        continue;
      case 'r':
        seq["A"] = 0;
        continue;
      case 'l':
        decoder->OnConnectionLost("A", "fuzz", sink);
        seq["A"] = 0;
        continue;
      case 'e': {
        auto cp = decoder->ExportBooks();
        if (!cp.ok()) {
          if (cp.status().code() != absl::StatusCode::kUnimplemented)
            Broken(target, "ExportBooks failed other than UNIMPLEMENTED", input, cp.status().ToString());
          continue;
        }
        auto before = ServedBooks(target, input, *decoder);
        auto fresh = NewDecoder(venue);
        absl::Status imported = fresh->ImportBooks(*cp);
        if (!imported.ok()) Broken(target, "a decoder's own checkpoint does not import", input, imported.ToString());
        if (ServedBooks(target, input, *fresh) != before)
          Broken(target, "the imported decoder serves other books than the exported one", input);
        decoder = std::move(fresh);
        continue;
      }
      case 'h': {
        std::string_view rest = line.substr(1);
        size_t tab = rest.find('\t');
        frame.kind = md::FrameKind::kHttp;
        frame.conn = "H";
        frame.url = std::string(rest.substr(0, tab));
        frame.data = tab == std::string_view::npos ? "" : std::string(rest.substr(tab + 1));
        frame.frame_seq = ++seq["H"];
        break;
      }
      case 'b':
        frame.conn = "B";
        frame.data = std::string(line.substr(1));
        frame.data.shrink_to_fit();
        frame.frame_seq = ++seq["B"];
        break;
      case 'a':
        line.remove_prefix(1);
        [[fallthrough]];
      default:
        frame.conn = "A";
        frame.data = std::string(line);
        md::ReserveJsonPadding(frame.data);
        frame.frame_seq = ++seq["A"];
        break;
    }
    absl::Status s = decoder->Decode(frame, sink);
    if (!s.ok()) {
      if (s.code() != absl::StatusCode::kInvalidArgument)
        Broken(target, "Decode failed with a code other than INVALID_ARGUMENT", input, s.ToString());
      if (md::GetDecodeError(s) == md::DecodeError::kNone)
        Broken(target, "Decode failed without a DecodeError payload", input, s.ToString());
    }
    // Every book after every 8th frame and at the end: after each frame
    // would cost more than the decoding and slow the fuzzer tenfold.
    if (++frames % 8 == 0) ServedBooks(target, input, *decoder);
    (void)decoder->PendingResyncs();
  }
  ServedBooks(target, input, *decoder);
}

}  // namespace
}  // namespace sa::fuzz

SA_FUZZ_TARGET(decoder_kraken) { sa::fuzz::RunScript("decoder_kraken", "kraken", data, size); }
SA_FUZZ_TARGET(decoder_binance) { sa::fuzz::RunScript("decoder_binance", "binance", data, size); }
SA_FUZZ_TARGET(decoder_coinbase) { sa::fuzz::RunScript("decoder_coinbase", "coinbase", data, size); }
SA_FUZZ_TARGET(decoder_coinbase_exchange) {
  sa::fuzz::RunScript("decoder_coinbase_exchange", "coinbase-exchange", data, size);
}
