// simdjson helpers shared by the decoders. Everything uses error codes: no
// simdjson exception ever leaves the library.
#pragma once

#include <simdjson.h>

#include <cstring>

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "marketdata/decode_error.h"

namespace sa::md::internal {

namespace od = simdjson::ondemand;

inline absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
inline std::string_view SV(absl::string_view s) { return std::string_view(s.data(), s.size()); }

// A padded view of frame text for simdjson: in place when the string has the
// padding in its capacity, else copied into a reusable buffer (no allocation
// once the buffer has grown to the largest frame).
class PaddedInput {
 public:
  simdjson::padded_string_view View(const std::string& text) {
    if (text.capacity() - text.size() >= simdjson::SIMDJSON_PADDING) {
      return simdjson::padded_string_view(text.data(), text.size(), text.capacity());
    }
    return Copy(text.data(), text.size());
  }
  simdjson::padded_string_view Copy(const char* data, size_t size) {
    if (buffer_.size() < size + simdjson::SIMDJSON_PADDING) {
      buffer_.resize(size + simdjson::SIMDJSON_PADDING);
    }
    if (size > 0) std::memcpy(buffer_.data(), data, size);
    return simdjson::padded_string_view(buffer_.data(), size, buffer_.size());
  }

 private:
  std::string buffer_;
};

inline DecodeError ClassifyJsonError(simdjson::error_code error) {
  switch (error) {
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    case simdjson::UNCLOSED_STRING:
    case simdjson::EMPTY:
      return DecodeError::kTruncated;
    case simdjson::INCORRECT_TYPE:
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
      return DecodeError::kBadValue;
    case simdjson::NO_SUCH_FIELD:
      return DecodeError::kMissingField;
    default:
      return DecodeError::kMalformedJson;
  }
}

// A field's key: a view of the document's text when it has no escape (every
// key a venue sends), so nothing is copied; else unescaped as unescaped_key()
// does. The scan stops at the closing quote, which stage 1 has checked exists.
inline simdjson::error_code KeyText(simdjson::simdjson_result<od::field>& field, std::string_view* out) {
  od::raw_json_string raw_key;
  if (auto error = field.key().get(raw_key)) return error;
  const char* raw = raw_key.raw();
  size_t size = 0;
  while (raw[size] != '"' && raw[size] != '\\') ++size;
  if (raw[size] == '"') {
    *out = std::string_view(raw, size);
    return simdjson::SUCCESS;
  }
  return field.unescaped_key().get(*out);
}

// key == literal with the literal's length known at compile time: a length
// check and a few integer compares, no memcmp call (keys are matched on every
// field of every frame).
template <size_t N>
inline bool KeyIs(std::string_view key, const char (&literal)[N]) {
  return key.size() == N - 1 && std::memcmp(key.data(), literal, N - 1) == 0;
}

// The text of a number or string token as written (strings without quotes and
// not unescaped). Used to keep ids verbatim whether the venue sends 123 or "123".
inline simdjson::error_code RawScalarText(od::value value, std::string_view* out) {
  od::json_type type;
  if (auto error = value.type().get(type)) return error;
  if (type == od::json_type::string) return value.get_string().get(*out);
  if (type == od::json_type::number) {
    std::string_view token = value.raw_json_token();
    while (!token.empty() && (token.back() == ' ' || token.back() == '\n' ||
                              token.back() == '\r' || token.back() == '\t')) {
      token.remove_suffix(1);
    }
    *out = token;
    return simdjson::SUCCESS;
  }
  return simdjson::INCORRECT_TYPE;
}

}  // namespace sa::md::internal
