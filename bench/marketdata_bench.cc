// Decode throughput per venue, against simdjson parse-only of the same frames.
//
//   bench/marketdata_bench --benchmark_min_time=1
//
// Workload: the trade frames of each recording in shared/fixtures/exchanges
// (Kraken `trade`, Binance `aggTrade`, Coinbase Advanced Trade `market_trades`
// updates, Coinbase Exchange `match`), repeated to 4096 frames. Where the
// venue numbers its messages the copies are renumbered (Advanced Trade
// sequence_num; Exchange trade_id and sequence) so the decoder sees a valid,
// gap-free stream and the benchmark measures the normal path, not the error
// path. At the end of the 4096 frames the connection state is reset
// (OnConnectionLost) and the stream replays.
//
//   BM_Decode/<venue>     Decoder::Decode into a counting Sink: frames/s
//                         (items_per_second) and trades/s.
//   BM_ParseOnly/<venue>  the same frames through JsonWalker: simdjson On
//                         Demand with the decoders' kernel, every value read.
//
// Whole recordings (issue [13]): every recv and http frame of a recording, in
// file order, as ingest's replay publishes them (md::ReadRawFrames), books
// kept, Kraken checksums verified, Binance REST snapshots bridged to their
// diffs, Coinbase l2 snapshots applied.
//
//   BM_DecodeRecording/<venue>     one fresh Decoder per pass over the whole
//                                  recording: frames/s, with the decoder's own
//                                  counters per pass (checksums verified and
//                                  mismatched, gaps, book updates, decode
//                                  errors) so a run that skips books shows.
//   BM_ParseOnlyRecording/<venue>  the same frames through JsonWalker.
//
// Fixtures: $SA_FIXTURES_DIR, else $SA_SOURCE_DIR/../shared/fixtures/exchanges,
// else relative to this file.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "bench_util.h"
#include "absl/strings/str_cat.h"
#include "marketdata/decoder_registry.h"
#include "marketdata/json_walk.h"
#include "marketdata/recording.h"

namespace {

using sa::md::Decoder;
using sa::md::DecoderRegistry;
using sa::md::RawFrame;
namespace pb = ::streamadmin::marketdata::v1;

constexpr size_t kStreamFrames = 4096;

using sa::bench::FixturePath;

// Replaces the digits after `"key":` at or after `from`; returns the position after them.
size_t ReplaceNumber(std::string& text, const std::string& key, uint64_t value, size_t from = 0) {
  const std::string needle = absl::StrCat("\"", key, "\":");
  size_t at = text.find(needle, from);
  if (at == std::string::npos) return std::string::npos;
  at += needle.size();
  size_t end = at;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  text.replace(at, end - at, std::to_string(value));
  return at;
}

std::string StringField(const std::string& text, const std::string& key) {
  const std::string needle = absl::StrCat("\"", key, "\":\"");
  const size_t at = text.find(needle);
  if (at == std::string::npos) return "";
  return text.substr(at + needle.size(), text.find('"', at + needle.size()) - at - needle.size());
}

struct Workload {
  std::string venue;
  std::string conn;
  std::vector<RawFrame> frames;
  size_t bytes = 0;
};

Workload Build(const std::string& venue, const std::string& file) {
  Workload workload;
  workload.venue = venue;
  absl::StatusOr<std::vector<RawFrame>> all = sa::md::ReadRawFrames(FixturePath(file), venue);
  if (!all.ok()) {
    std::fprintf(stderr, "%s\n", all.status().ToString().c_str());
    std::abort();
  }
  std::vector<RawFrame> trades;
  for (const RawFrame& frame : *all) {
    const std::string& d = frame.data;
    const bool is_trade =
        (venue == "kraken" && d.find(R"(,"trade",")") != std::string::npos) ||
        (venue == "binance" && d.find(R"("e":"aggTrade")") != std::string::npos) ||
        (venue == "coinbase" && d.find(R"("channel":"market_trades")") != std::string::npos &&
         d.find(R"("type":"update")") != std::string::npos) ||
        (venue == "coinbase-exchange" && d.find(R"("type":"match")") != std::string::npos);
    if (is_trade) trades.push_back(frame);
  }
  if (trades.empty()) std::abort();
  workload.conn = trades[0].conn;
  std::map<std::string, uint64_t> trade_id, sequence;  // per product (Exchange)
  for (size_t i = 0; i < kStreamFrames; ++i) {
    RawFrame frame = trades[i % trades.size()];
    frame.frame_seq = i + 1;
    if (venue == "coinbase") {
      ReplaceNumber(frame.data, "sequence_num", i + 1);
    } else if (venue == "coinbase-exchange") {
      const std::string product = StringField(frame.data, "product_id");
      ReplaceNumber(frame.data, "trade_id", ++trade_id[product] + 1000);
      ReplaceNumber(frame.data, "sequence", (sequence[product] += 7) + 1000);
    }
    sa::md::ReserveJsonPadding(frame.data);
    workload.bytes += frame.data.size();
    workload.frames.push_back(std::move(frame));
  }
  return workload;
}

const Workload& Get(const std::string& venue) {
  static const std::map<std::string, Workload> workloads = [] {
    std::map<std::string, Workload> w;
    w["kraken"] = Build("kraken", "kraken.jsonl.zst");
    w["binance"] = Build("binance", "binance.jsonl.zst");
    w["coinbase"] = Build("coinbase", "coinbase-advanced-trade.jsonl.zst");
    w["coinbase-exchange"] = Build("coinbase-exchange", "coinbase-exchange.jsonl.zst");
    return w;
  }();
  return workloads.at(venue);
}

class CountingSink : public sa::md::Sink {
 public:
  void OnTrade(const pb::Trade& trade) override {
    ++trades;
    benchmark::DoNotOptimize(trade.price().value().data());
  }
  void OnTicker(const pb::Ticker&) override {}
  void OnBookUpdate(const pb::BookUpdate&) override {}
  void OnCandle(const pb::Candle&) override {}
  void OnVenueStatus(const pb::VenueStatus&) override { ++statuses; }
  void OnResyncRequest(const sa::md::ResyncRequest&) override {}
  uint64_t trades = 0;
  uint64_t statuses = 0;
};

void BM_Decode(benchmark::State& state, const std::string& venue) {
  const Workload& workload = Get(venue);
  std::unique_ptr<Decoder> decoder = *DecoderRegistry::Global().Create(venue);
  CountingSink sink;
  size_t i = 0;
  for (auto _ : state) {
    if (i == workload.frames.size()) {
      decoder->OnConnectionLost(workload.conn, "benchmark replay", sink);
      i = 0;
    }
    absl::Status status = decoder->Decode(workload.frames[i++], sink);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
  }
  if (sink.statuses != 0) state.SkipWithError("unexpected venue status (gap?)");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * workload.bytes /
                                               workload.frames.size()));
  state.counters["trades/s"] =
      benchmark::Counter(static_cast<double>(sink.trades), benchmark::Counter::kIsRate);
}

void BM_ParseOnly(benchmark::State& state, const std::string& venue) {
  const Workload& workload = Get(venue);
  sa::md::JsonWalker walker;
  size_t i = 0;
  for (auto _ : state) {
    if (i == workload.frames.size()) i = 0;
    absl::StatusOr<size_t> scalars = walker.Walk(workload.frames[i++].data);
    if (!scalars.ok()) {
      state.SkipWithError(std::string(scalars.status().message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(*scalars);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * workload.bytes /
                                               workload.frames.size()));
}

// Every frame of a recording, padded for simdjson.
struct Recording {
  std::vector<RawFrame> frames;
  size_t bytes = 0;
};

const Recording& GetRecording(const std::string& venue) {
  static std::map<std::string, Recording>* recordings = [] {
    auto* r = new std::map<std::string, Recording>;
    for (const auto& [v, file] : {std::pair<std::string, std::string>{"kraken", "kraken.jsonl.zst"},
                                  {"binance", "binance.jsonl.zst"},
                                  {"coinbase", "coinbase-advanced-trade.jsonl.zst"},
                                  {"coinbase-exchange", "coinbase-exchange.jsonl.zst"}}) {
      absl::StatusOr<std::vector<RawFrame>> all = sa::md::ReadRawFrames(FixturePath(file), v);
      if (!all.ok()) {
        std::fprintf(stderr, "%s\n", all.status().ToString().c_str());
        std::abort();
      }
      Recording& rec = (*r)[v];
      rec.frames = std::move(*all);
      for (RawFrame& f : rec.frames) {
        sa::md::ReserveJsonPadding(f.data);
        rec.bytes += f.data.size();
      }
    }
    return r;
  }();
  return recordings->at(venue);
}

// Counts every output, reading one field of each so nothing is optimised away.
class EverythingSink : public sa::md::Sink {
 public:
  void OnTrade(const pb::Trade& trade) override { benchmark::DoNotOptimize(trade.price().value().data()); }
  void OnTicker(const pb::Ticker& ticker) override { benchmark::DoNotOptimize(ticker.bid_price().value().data()); }
  void OnBookUpdate(const pb::BookUpdate& book) override { benchmark::DoNotOptimize(book.bids_size()); }
  void OnCandle(const pb::Candle& candle) override { benchmark::DoNotOptimize(candle.close().value().data()); }
  void OnVenueStatus(const pb::VenueStatus&) override {}
  void OnResyncRequest(const sa::md::ResyncRequest&) override {}
};

void BM_DecodeRecording(benchmark::State& state, const std::string& venue) {
  const Recording& rec = GetRecording(venue);
  EverythingSink sink;
  sa::md::DecoderStats last;
  for (auto _ : state) {
    std::unique_ptr<Decoder> decoder = *DecoderRegistry::Global().Create(venue);
    for (const RawFrame& frame : rec.frames) {
      // A frame the venue's decoder rejects (the recordings hold a few odd
      // messages) is counted in stats().errors, as the normalizer counts it.
      benchmark::DoNotOptimize(decoder->Decode(frame, sink).ok());
    }
    last = decoder->stats();
  }
  const auto passes = static_cast<int64_t>(state.iterations());
  state.SetItemsProcessed(passes * static_cast<int64_t>(rec.frames.size()));
  state.SetBytesProcessed(passes * static_cast<int64_t>(rec.bytes));
  // Per pass (every pass decodes the same frames on a fresh decoder).
  state.counters["frames"] = static_cast<double>(rec.frames.size());
  state.counters["errors"] = static_cast<double>(last.errors);
  state.counters["book_updates"] = static_cast<double>(last.book_updates);
  state.counters["snapshots"] = static_cast<double>(last.book_snapshots);
  state.counters["checksums_ok"] = static_cast<double>(last.checksums_verified);
  state.counters["checksums_bad"] = static_cast<double>(last.checksum_mismatches);
  state.counters["gaps"] = static_cast<double>(last.gaps);
  state.counters["trades"] = static_cast<double>(last.trades);
  if (last.book_updates == 0) state.SkipWithError("no book update decoded: books not kept?");
  if (venue == "kraken" && last.checksums_verified == 0) state.SkipWithError("no Kraken checksum verified");
}

void BM_ParseOnlyRecording(benchmark::State& state, const std::string& venue) {
  const Recording& rec = GetRecording(venue);
  sa::md::JsonWalker walker;
  uint64_t errors = 0;
  for (auto _ : state) {
    for (const RawFrame& frame : rec.frames) {
      absl::StatusOr<size_t> scalars = walker.Walk(frame.data);
      if (!scalars.ok()) ++errors;
      benchmark::DoNotOptimize(scalars);
    }
  }
  const auto passes = static_cast<int64_t>(state.iterations());
  state.SetItemsProcessed(passes * static_cast<int64_t>(rec.frames.size()));
  state.SetBytesProcessed(passes * static_cast<int64_t>(rec.bytes));
  state.counters["frames"] = static_cast<double>(rec.frames.size());
  state.counters["errors"] = passes > 0 ? static_cast<double>(errors / static_cast<uint64_t>(passes)) : 0;
}

BENCHMARK_CAPTURE(BM_Decode, kraken, std::string("kraken"));
BENCHMARK_CAPTURE(BM_ParseOnly, kraken, std::string("kraken"));
BENCHMARK_CAPTURE(BM_Decode, binance, std::string("binance"));
BENCHMARK_CAPTURE(BM_ParseOnly, binance, std::string("binance"));
BENCHMARK_CAPTURE(BM_Decode, coinbase, std::string("coinbase"));
BENCHMARK_CAPTURE(BM_ParseOnly, coinbase, std::string("coinbase"));
BENCHMARK_CAPTURE(BM_Decode, coinbase_exchange, std::string("coinbase-exchange"));
BENCHMARK_CAPTURE(BM_ParseOnly, coinbase_exchange, std::string("coinbase-exchange"));
BENCHMARK_CAPTURE(BM_DecodeRecording, kraken, std::string("kraken"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ParseOnlyRecording, kraken, std::string("kraken"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeRecording, binance, std::string("binance"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ParseOnlyRecording, binance, std::string("binance"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeRecording, coinbase, std::string("coinbase"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ParseOnlyRecording, coinbase, std::string("coinbase"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_DecodeRecording, coinbase_exchange, std::string("coinbase-exchange"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ParseOnlyRecording, coinbase_exchange, std::string("coinbase-exchange"))
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
