// The steady-state decode path allocates nothing: messages, scratch vectors,
// symbol caches and padded buffers are reused. Counted with a replaced global
// operator new (this test binary only).
#include <atomic>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace {
std::atomic<size_t> g_allocations{0};
}  // namespace

#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

// Every plain (non-aligned) form is replaced, so allocation and release
// always pair up (also for libraries that use the nothrow forms).
namespace {
void* CountedAlloc(size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(size_t size) {
  if (void* p = CountedAlloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t size) {
  if (void* p = CountedAlloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t size, const std::nothrow_t&) noexcept { return CountedAlloc(size); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return CountedAlloc(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace sa::md {
namespace {

// Replaces the digits after `"key":` (first occurrence).
void SetNumber(std::string& text, const std::string& key, uint64_t value) {
  const std::string needle = "\"" + key + "\":";
  size_t at = text.find(needle);
  ASSERT_NE(at, std::string::npos) << key;
  at += needle.size();
  size_t end = at;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  text.replace(at, end - at, std::to_string(value));
}

// The recording's trade frames, repeated and renumbered into a valid stream.
std::vector<RawFrame> TradeStream(const std::string& venue, const std::string& file,
                                  const std::string& marker, size_t n) {
  std::vector<RawFrame> trades;
  for (const RawFrame& frame : testing::LoadFrames(file, venue)) {
    if (frame.data.find(marker) != std::string::npos) trades.push_back(frame);
  }
  EXPECT_FALSE(trades.empty());
  std::vector<RawFrame> stream;
  std::map<std::string, uint64_t> trade_ids;
  for (size_t i = 0; i < n && !trades.empty(); ++i) {
    RawFrame frame = trades[i % trades.size()];
    frame.frame_seq = i + 1;
    if (venue == "coinbase") SetNumber(frame.data, "sequence_num", i + 1);
    if (venue == "coinbase-exchange") {
      const size_t at = frame.data.find("\"product_id\":\"") + 14;
      const std::string product = frame.data.substr(at, frame.data.find('"', at) - at);
      const uint64_t id = ++trade_ids[product] + 1000;
      SetNumber(frame.data, "trade_id", id);
      SetNumber(frame.data, "sequence", id * 10);
    }
    ReserveJsonPadding(frame.data);
    stream.push_back(std::move(frame));
  }
  return stream;
}

class NullSink : public Sink {
 public:
  void OnTrade(const pb::Trade&) override { ++trades; }
  void OnTicker(const pb::Ticker&) override {}
  void OnBookUpdate(const pb::BookUpdate&) override {}
  void OnCandle(const pb::Candle&) override {}
  void OnVenueStatus(const pb::VenueStatus&) override { ++statuses; }
  void OnResyncRequest(const ResyncRequest&) override {}
  size_t trades = 0;
  size_t statuses = 0;
};

TEST(HotPath, SteadyStateTradeDecodingDoesNotAllocate) {
  const struct {
    const char* venue;
    const char* file;
    const char* marker;
  } cases[] = {{"kraken", "kraken.jsonl.zst", R"(,"trade",")"},
               {"binance", "binance.jsonl.zst", R"("e":"aggTrade")"},
               {"coinbase", "coinbase-advanced-trade.jsonl.zst", R"("type":"update","trades")"},
               {"coinbase-exchange", "coinbase-exchange.jsonl.zst", R"("type":"match")"}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.venue);
    const std::vector<RawFrame> stream = TradeStream(c.venue, c.file, c.marker, 2000);
    auto decoder = testing::MakeDecoder(c.venue);
    NullSink sink;
    for (size_t i = 0; i < 1000; ++i) ASSERT_TRUE(decoder->Decode(stream[i], sink).ok());
    const size_t before = g_allocations.load();
    for (size_t i = 1000; i < stream.size(); ++i) {
      ASSERT_TRUE(decoder->Decode(stream[i], sink).ok());
    }
    EXPECT_EQ(g_allocations.load() - before, 0u);
    EXPECT_EQ(sink.statuses, 0u);
    EXPECT_GE(sink.trades, 2000u);
  }
}

}  // namespace
}  // namespace sa::md
