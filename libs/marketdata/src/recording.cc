#include "marketdata/recording.h"

#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "internal/json.h"
#include "marketdata/decimal.h"

namespace sa::md {
namespace {

using internal::AV;
namespace od = simdjson::ondemand;

constexpr unsigned char kZstdMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};

bool ParseType(std::string_view t, RecordingRecord::Type* type) {
  using Type = RecordingRecord::Type;
  if (t == "recv") *type = Type::kRecv;
  else if (t == "http") *type = Type::kHttp;
  else if (t == "send") *type = Type::kSend;
  else if (t == "connect") *type = Type::kConnect;
  else if (t == "header") *type = Type::kHeader;
  else return false;
  return true;
}

}  // namespace

class RecordingReader::Impl {
 public:
  Impl(const std::string& path, FILE* file) : path_(path), file_(file) {}
  ~Impl() {
    if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
    if (file_ != nullptr) std::fclose(file_);
  }

  absl::Status Init() {
    in_.resize(ZSTD_DStreamInSize());
    in_size_ = std::fread(in_.data(), 1, in_.size(), file_);
    if (std::ferror(file_)) return ReadError();
    if (in_size_ >= 4 && std::memcmp(in_.data(), kZstdMagic, 4) == 0) {
      dctx_ = ZSTD_createDCtx();
      if (dctx_ == nullptr) return absl::ResourceExhaustedError("ZSTD_createDCtx failed");
    } else {
      pending_.append(in_.data(), in_size_);
      in_size_ = 0;
    }
    return absl::OkStatus();
  }

  // Next line without its '\n' into *line; false at the end.
  absl::StatusOr<bool> NextLine(std::string* line) {
    while (true) {
      const size_t newline = pending_.find('\n', pending_pos_);
      if (newline != std::string::npos) {
        line->assign(pending_, pending_pos_, newline - pending_pos_);
        pending_pos_ = newline + 1;
        ++line_number_;
        return true;
      }
      if (pending_pos_ > 0) {
        pending_.erase(0, pending_pos_);
        pending_pos_ = 0;
      }
      absl::StatusOr<bool> more = Fill();
      if (!more.ok()) return more.status();
      if (!*more) {
        if (pending_.empty()) return false;
        line->swap(pending_);  // last line without a trailing newline
        pending_.clear();
        ++line_number_;
        return true;
      }
    }
  }

  int64_t line_number() const { return line_number_; }
  od::parser& parser() { return parser_; }

 private:
  absl::Status ReadError() const {
    return absl::DataLossError(absl::StrCat(path_, ": read failed: ", std::strerror(errno)));
  }

  // Appends more text to pending_; false when the file is exhausted.
  absl::StatusOr<bool> Fill() {
    if (dctx_ == nullptr) {
      char buf[1 << 16];
      const size_t n = std::fread(buf, 1, sizeof(buf), file_);
      if (std::ferror(file_)) return ReadError();
      pending_.append(buf, n);
      return n > 0;
    }
    out_.resize(ZSTD_DStreamOutSize());
    while (true) {
      if (in_pos_ == in_size_) {
        in_size_ = std::fread(in_.data(), 1, in_.size(), file_);
        in_pos_ = 0;
        if (std::ferror(file_)) return ReadError();
        if (in_size_ == 0) {
          if (last_ret_ != 0) {
            return absl::DataLossError(
                absl::StrCat(path_, ":", line_number_ + 1, ": truncated zstd stream"));
          }
          return false;
        }
      }
      ZSTD_inBuffer input{in_.data(), in_size_, in_pos_};
      ZSTD_outBuffer output{out_.data(), out_.size(), 0};
      const size_t ret = ZSTD_decompressStream(dctx_, &output, &input);
      in_pos_ = input.pos;
      if (ZSTD_isError(ret)) {
        return absl::DataLossError(absl::StrCat(path_, ":", line_number_ + 1,
                                                ": corrupt zstd stream: ", ZSTD_getErrorName(ret)));
      }
      last_ret_ = ret;
      if (output.pos > 0) {
        pending_.append(out_.data(), output.pos);
        return true;
      }
    }
  }

  std::string path_;
  FILE* file_;
  ZSTD_DCtx* dctx_ = nullptr;
  std::vector<char> in_;
  size_t in_size_ = 0;
  size_t in_pos_ = 0;
  std::vector<char> out_;
  size_t last_ret_ = 0;
  std::string pending_;
  size_t pending_pos_ = 0;
  int64_t line_number_ = 0;
  od::parser parser_;
};

RecordingReader::RecordingReader(std::string path) : path_(std::move(path)) {}
RecordingReader::~RecordingReader() = default;

absl::StatusOr<std::unique_ptr<RecordingReader>> RecordingReader::Open(const std::string& path) {
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    const int error = errno;
    const std::string message = absl::StrCat(path, ": ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(message) : absl::PermissionDeniedError(message);
  }
  std::unique_ptr<RecordingReader> reader(new RecordingReader(path));
  reader->impl_ = std::make_unique<Impl>(path, file);
  if (absl::Status status = reader->impl_->Init(); !status.ok()) return status;
  return reader;
}

absl::StatusOr<bool> RecordingReader::Next(RecordingRecord* record) {
  std::string line;
  while (true) {
    absl::StatusOr<bool> got = impl_->NextLine(&line);
    if (!got.ok() || !*got) return got;
    if (line.find_first_not_of(" \t\r") != std::string::npos) break;  // skip blank lines
  }
  const int64_t line_number = impl_->line_number();
  auto fail = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(path_, ":", line_number, ": ", what));
  };
  auto json_fail = [&](absl::string_view where, simdjson::error_code error) {
    return fail(absl::StrCat(where, ": ", simdjson::error_message(error)));
  };

  ReserveJsonPadding(line);
  od::parser& parser = impl_->parser();
  od::document doc;
  if (auto error = parser.iterate(simdjson::padded_string_view(line.data(), line.size(),
                                                               line.capacity()))
                       .get(doc)) {
    return json_fail("not JSON", error);
  }
  od::object object;
  if (auto error = doc.get_object().get(object)) return json_fail("not a JSON object", error);

  *record = RecordingRecord();
  record->line = line_number;
  bool has_type = false, has_conn = false, has_ts = false, has_data = false, has_url = false;
  for (auto field : object) {
    std::string_view key;
    if (auto error = field.unescaped_key().get(key)) return json_fail("key", error);
    std::string_view text;
    if (key == "t") {
      if (auto error = field.value().get_string().get(text)) return json_fail("t", error);
      if (!ParseType(text, &record->type)) {
        return fail(absl::StrCat("unknown record type \"", AV(text), "\""));
      }
      has_type = true;
    } else if (key == "conn") {
      if (auto error = field.value().get_string().get(text)) return json_fail("conn", error);
      record->conn.assign(text);
      has_conn = true;
    } else if (key == "ts") {
      od::value value = field.value();
      std::string_view token;
      if (auto error = internal::RawScalarText(value, &token)) return json_fail("ts", error);
      if (!ParseDecimalSecondsToNs(AV(token), &record->ts_ns)) {
        return fail(absl::StrCat("ts ", AV(token), " is not seconds since the epoch"));
      }
      record->ts = static_cast<double>(record->ts_ns) / 1e9;
      has_ts = true;
    } else if (key == "url") {
      if (auto error = field.value().get_string().get(text)) return json_fail("url", error);
      record->url.assign(text);
      has_url = true;
    } else if (key == "addr") {
      if (auto error = field.value().get_string().get(text)) return json_fail("addr", error);
      record->addr.assign(text);
    } else if (key == "data") {
      if (auto error = field.value().get_string().get(text)) return json_fail("data", error);
      record->data.reserve(text.size() + simdjson::SIMDJSON_PADDING);
      record->data.assign(text);
      has_data = true;
    } else if (key == "exchange") {
      if (auto error = field.value().get_string().get(text)) return json_fail("exchange", error);
      record->exchange.assign(text);
    } else if (key == "format") {
      int64_t format = 0;
      if (auto error = field.value().get_int64().get(format)) return json_fail("format", error);
      record->format = static_cast<int>(format);
    }
  }
  if (!has_type) return fail("record without \"t\"");
  using Type = RecordingRecord::Type;
  if (record->type != Type::kHeader) {
    if (!has_conn) return fail("record without \"conn\"");
    if (!has_ts) return fail("record without \"ts\"");
  }
  if ((record->type == Type::kRecv || record->type == Type::kSend || record->type == Type::kHttp) &&
      !has_data) {
    return fail("record without \"data\"");
  }
  if (record->type == Type::kHttp && !has_url) return fail("http record without \"url\"");
  return true;
}

absl::StatusOr<std::vector<RawFrame>> ReadRawFrames(const std::string& path,
                                                    absl::string_view venue) {
  absl::StatusOr<std::unique_ptr<RecordingReader>> reader = RecordingReader::Open(path);
  if (!reader.ok()) return reader.status();
  std::vector<RawFrame> frames;
  absl::flat_hash_map<std::string, uint64_t> seq;
  RecordingRecord record;
  while (true) {
    absl::StatusOr<bool> more = (*reader)->Next(&record);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (record.type != RecordingRecord::Type::kRecv &&
        record.type != RecordingRecord::Type::kHttp) {
      continue;
    }
    RawFrame frame;
    frame.venue = std::string(venue);
    frame.conn = record.conn;
    frame.frame_seq = ++seq[record.conn];
    frame.recv_time_ns = record.ts_ns;
    frame.kind = record.type == RecordingRecord::Type::kHttp ? FrameKind::kHttp : FrameKind::kWs;
    frame.url = std::move(record.url);
    frame.data = std::move(record.data);
    ReserveJsonPadding(frame.data);
    frames.push_back(std::move(frame));
  }
  return frames;
}

}  // namespace sa::md
