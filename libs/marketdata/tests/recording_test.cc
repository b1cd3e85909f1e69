#include "marketdata/recording.h"

#include <zstd.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.h"

namespace sa::md {
namespace {

using Type = RecordingRecord::Type;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/sa_md_", ::getpid(), "_", name);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

std::string Compress(const std::string& text) {
  std::string out(ZSTD_compressBound(text.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), text.data(), text.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

std::map<Type, size_t> CountTypes(const std::string& path) {
  std::map<Type, size_t> counts;
  auto reader = RecordingReader::Open(path);
  EXPECT_TRUE(reader.ok()) << reader.status();
  if (!reader.ok()) return counts;
  RecordingRecord record;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&record);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    ++counts[record.type];
  }
  return counts;
}

TEST(RecordingReader, StreamsEveryRecordOfTheCompressedRecordings) {
  EXPECT_EQ(CountTypes(testing::FixturePath("kraken.jsonl.zst")),
            (std::map<Type, size_t>{{Type::kHeader, 1}, {Type::kHttp, 1}, {Type::kConnect, 3},
                                    {Type::kSend, 3}, {Type::kRecv, 4430}}));
  EXPECT_EQ(CountTypes(testing::FixturePath("binance.jsonl.zst")),
            (std::map<Type, size_t>{{Type::kHeader, 1}, {Type::kHttp, 5}, {Type::kConnect, 1},
                                    {Type::kRecv, 265}}));
  EXPECT_EQ(CountTypes(testing::FixturePath("coinbase-exchange.jsonl.zst"))[Type::kRecv], 9946u);
  EXPECT_EQ(CountTypes(testing::FixturePath("coinbase-advanced-trade.jsonl.zst"))[Type::kRecv],
            242u);
}

TEST(RecordingReader, ReadsFieldsExactly) {
  auto reader = RecordingReader::Open(testing::FixturePath("kraken.jsonl.zst"));
  ASSERT_TRUE(reader.ok()) << reader.status();
  RecordingRecord record;
  ASSERT_TRUE(*(*reader)->Next(&record));
  EXPECT_EQ(record.type, Type::kHeader);
  EXPECT_EQ(record.exchange, "KRAKEN");
  EXPECT_EQ(record.format, 2);
  EXPECT_EQ(record.line, 1);
  ASSERT_TRUE(*(*reader)->Next(&record));
  EXPECT_EQ(record.type, Type::kHttp);
  EXPECT_EQ(record.conn, "KRAKEN.http.sync");
  EXPECT_EQ(record.url, "https://api.kraken.com/0/public/AssetPairs");
  EXPECT_EQ(record.ts_ns, 1618678132358447000);
  EXPECT_DOUBLE_EQ(record.ts, 1618678132.358447);
  EXPECT_THAT(record.data, ::testing::StartsWith(R"({"error":[],"result":{"AAVEAUD")"));
  EXPECT_THAT(record.data, ::testing::HasSubstr(R"("wsname":"AAVE\/AUD")"));  // unescaped once
  ASSERT_TRUE(*(*reader)->Next(&record));
  EXPECT_EQ(record.type, Type::kConnect);
  EXPECT_EQ(record.addr, "wss://ws.kraken.com");
}

TEST(RecordingReader, ReadsPlainJsonLinesToo) {
  const std::string path = TempPath("plain.jsonl");
  WriteFile(path,
            "{\"t\":\"header\",\"format\":2,\"exchange\":\"X\"}\n\n"
            "{\"t\":\"recv\",\"conn\":\"X.ws.1\",\"ts\":1.5,\"data\":\"{\\\"a\\\":1}\"}");
  auto reader = RecordingReader::Open(path);
  ASSERT_TRUE(reader.ok());
  RecordingRecord record;
  ASSERT_TRUE(*(*reader)->Next(&record));
  ASSERT_TRUE(*(*reader)->Next(&record));  // the blank line is skipped
  EXPECT_EQ(record.type, Type::kRecv);
  EXPECT_EQ(record.data, R"({"a":1})");
  EXPECT_EQ(record.ts_ns, 1'500'000'000);
  EXPECT_EQ(record.line, 3);
  EXPECT_FALSE(*(*reader)->Next(&record));
  std::remove(path.c_str());
}

TEST(RecordingReader, MalformedLineIsAnErrorNamingFileAndLine) {
  const std::string path = TempPath("bad.jsonl.zst");
  WriteFile(path, Compress("{\"t\":\"header\"}\n"
                           "{\"t\":\"recv\",\"conn\":\"c\",\"ts\":1,\"data\":\"x\"}\n"
                           "{\"t\":\"recv\",\"conn\":\"c\",\"ts\":1,\"data\":\"x\"\n"
                           "{\"t\":\"recv\",\"conn\":\"c\",\"ts\":1,\"data\":\"x\"}\n"));
  auto reader = RecordingReader::Open(path);
  ASSERT_TRUE(reader.ok());
  RecordingRecord record;
  ASSERT_TRUE(*(*reader)->Next(&record));
  ASSERT_TRUE(*(*reader)->Next(&record));
  absl::StatusOr<bool> bad = (*reader)->Next(&record);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), ::testing::StartsWith(path + ":3: "));
  std::remove(path.c_str());
}

TEST(RecordingReader, RecordsMissingRequiredFieldsAreErrors) {
  const std::string path = TempPath("fields.jsonl");
  for (const std::string& line :
       {std::string(R"({"conn":"c","ts":1,"data":"x"})"),
        std::string(R"({"t":"recv","ts":1,"data":"x"})"),
        std::string(R"({"t":"recv","conn":"c","data":"x"})"),
        std::string(R"({"t":"recv","conn":"c","ts":1})"),
        std::string(R"({"t":"http","conn":"c","ts":1,"data":"x"})"),
        std::string(R"({"t":"bogus","conn":"c","ts":1,"data":"x"})"),
        std::string(R"({"t":"recv","conn":"c","ts":"soon","data":"x"})"),
        std::string(R"([1,2,3])")}) {
    WriteFile(path, line + "\n");
    auto reader = RecordingReader::Open(path);
    ASSERT_TRUE(reader.ok());
    RecordingRecord record;
    absl::StatusOr<bool> result = (*reader)->Next(&record);
    EXPECT_FALSE(result.ok()) << line;
    EXPECT_THAT(std::string(result.status().message()), ::testing::StartsWith(path + ":1: "));
  }
  std::remove(path.c_str());
}

TEST(RecordingReader, TruncatedZstdStreamIsDataLoss) {
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    text += absl::StrCat(R"({"t":"recv","conn":"c","ts":)", i, R"(,"data":"frame )", i, "\"}\n");
  }
  std::string compressed = Compress(text);
  compressed.resize(compressed.size() / 2);
  const std::string path = TempPath("cut.jsonl.zst");
  WriteFile(path, compressed);
  auto reader = RecordingReader::Open(path);
  ASSERT_TRUE(reader.ok());
  RecordingRecord record;
  absl::Status status;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&record);
    if (!more.ok()) {
      status = more.status();
      break;
    }
    ASSERT_TRUE(*more) << "reached a clean end of a truncated file";
  }
  EXPECT_TRUE(status.code() == absl::StatusCode::kDataLoss ||
              status.code() == absl::StatusCode::kInvalidArgument)
      << status;
  EXPECT_THAT(std::string(status.message()), ::testing::StartsWith(path + ":"));
  std::remove(path.c_str());
}

TEST(RecordingReader, MissingFileIsNotFound) {
  auto reader = RecordingReader::Open("/nonexistent/recording.jsonl.zst");
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kNotFound);
}

TEST(ReadRawFrames, NumbersFramesPerConnectionAndKeepsPadding) {
  auto frames = ReadRawFrames(testing::FixturePath("binance.jsonl.zst"), "binance");
  ASSERT_TRUE(frames.ok()) << frames.status();
  ASSERT_EQ(frames->size(), 5u + 265u);
  EXPECT_EQ((*frames)[0].kind, FrameKind::kHttp);
  EXPECT_EQ((*frames)[0].conn, "BINANCE.http.sync");
  EXPECT_EQ((*frames)[0].frame_seq, 1u);
  EXPECT_EQ((*frames)[1].conn, "BINANCE.http.0");
  EXPECT_EQ((*frames)[4].frame_seq, 4u);
  EXPECT_EQ((*frames)[5].kind, FrameKind::kWs);
  EXPECT_EQ((*frames)[5].frame_seq, 1u);
  EXPECT_EQ(frames->back().frame_seq, 265u);
  EXPECT_EQ(frames->back().venue, "binance");
  for (const RawFrame& frame : *frames) {
    EXPECT_GE(frame.data.capacity() - frame.data.size(), 64u);
    EXPECT_GT(frame.recv_time_ns, 1'600'000'000'000'000'000);
  }
}

}  // namespace
}  // namespace sa::md
