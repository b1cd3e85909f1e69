#include "sources/testing/recording.h"

#include <zstd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

#ifndef SA_EXCHANGE_FIXTURES_DIR
#define SA_EXCHANGE_FIXTURES_DIR "../shared/fixtures/exchanges"
#endif

namespace sa::sources::testing {

namespace {

absl::StatusOr<std::string> Decompress(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("recording '", path, "': cannot open"));
  const std::string compressed((std::istreambuf_iterator<char>(in)),
                               std::istreambuf_iterator<char>());
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  std::string out;
  std::string chunk(ZSTD_DStreamOutSize(), '\0');
  ZSTD_inBuffer input{compressed.data(), compressed.size(), 0};
  // Until all input is read and a call leaves room in the output chunk: zstd
  // has then flushed everything it buffered.
  for (;;) {
    ZSTD_outBuffer output{chunk.data(), chunk.size(), 0};
    const size_t rc = ZSTD_decompressStream(ctx.get(), &output, &input);
    if (ZSTD_isError(rc)) {
      return absl::DataLossError(
          absl::StrCat("recording '", path, "': zstd: ", ZSTD_getErrorName(rc)));
    }
    out.append(chunk.data(), output.pos);
    if (input.pos == input.size && output.pos < output.size) break;
  }
  return out;
}

std::string Str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::StatusOr<std::vector<RecordingRecord>> LoadRecording(const std::string& path) {
  auto text = Decompress(path);
  if (!text.ok()) return text.status();
  std::vector<RecordingRecord> records;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t end = text->find('\n', pos);
    if (end == std::string::npos) end = text->size();
    ++line_no;
    const std::string line = text->substr(pos, end - pos);
    pos = end + 1;
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::DataLossError(absl::StrCat(path, ":", line_no, ": not a JSON object"));
    }
    RecordingRecord r;
    r.t = Str(j, "t");
    r.conn = Str(j, "conn");
    r.url = Str(j, "url");
    r.addr = Str(j, "addr");
    r.data = Str(j, "data");
    if (auto it = j.find("ts"); it != j.end() && it->is_number()) r.ts = it->get<double>();
    records.push_back(std::move(r));
  }
  return records;
}

std::vector<std::string> RecordedData(const std::vector<RecordingRecord>& records,
                                      const std::string& t, const std::string& conn) {
  std::vector<std::string> out;
  for (const auto& r : records) {
    if (r.t == t && (conn.empty() || r.conn == conn)) out.push_back(r.data);
  }
  return out;
}

std::string ExchangeFixturesDir() {
  if (const char* dir = std::getenv("SA_FIXTURES_DIR"); dir != nullptr && *dir != '\0') return dir;
  return SA_EXCHANGE_FIXTURES_DIR;
}

}  // namespace sa::sources::testing
