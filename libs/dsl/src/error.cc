#include "dsl/error.h"

#include <algorithm>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace sa::dsl {
namespace {

constexpr absl::string_view kPayloadUrl = "type.streamadmin.dev/sa.dsl.ErrorDetail";

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

std::string FormatError(const ErrorDetail& d, std::string_view source) {
  // The offending line; tabs and carriage returns shown as one space so the
  // caret lines up (columns count every code point but '\n').
  std::string line_text;
  int line = 1;
  size_t i = 0;
  while (i < source.size() && line < d.line) {
    if (source[i] == '\n') ++line;
    ++i;
  }
  for (; i < source.size() && source[i] != '\n'; ++i)
    line_text.push_back(source[i] == '\t' || source[i] == '\r' ? ' ' : source[i]);
  // Long lines: show at most 100 code points around the column.
  int first_col = 1;
  std::string shown = line_text;
  {
    std::vector<size_t> starts;  // byte offset of each code point
    for (size_t k = 0; k < line_text.size(); ++k)
      if (!IsContinuation(static_cast<unsigned char>(line_text[k]))) starts.push_back(k);
    const int n = static_cast<int>(starts.size());
    if (n > 100) {
      first_col = std::clamp(d.column - 50, 1, n - 99);
      const int last_col = first_col + 99;  // <= n
      const size_t b = starts[first_col - 1];
      const size_t e = last_col < n ? starts[last_col] : line_text.size();
      shown = absl::StrCat(first_col > 1 ? "..." : "", line_text.substr(b, e - b), last_col < n ? "..." : "");
      if (first_col > 1) first_col -= 3;  // the "..." takes three columns
    }
  }
  const std::string num = absl::StrCat(d.line);
  std::string caret(std::max(0, d.column - first_col), ' ');
  caret += '^';
  if (d.length > 1) caret += std::string(std::min(d.length, 100) - 1, '~');
  std::string out = absl::StrCat(d.line, ":", d.column, ": ", d.message, "\n  ", num, " | ", shown, "\n  ",
                                 std::string(num.size(), ' '), " | ", caret);
  if (!d.hint.empty()) absl::StrAppend(&out, "\nhint: ", d.hint);
  return out;
}

absl::Status MakeError(const ErrorDetail& d, std::string_view source) {
  absl::Status st = absl::InvalidArgumentError(FormatError(d, source));
  // "line,column,length,message_size:" then message and hint: sizes, not
  // separators, so any byte may appear in the texts.
  st.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(d.line, ",", d.column, ",", d.length, ",", d.message.size(), ":",
                                                     d.message, d.hint)));
  return st;
}

std::optional<ErrorDetail> GetErrorDetail(const absl::Status& status) {
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  const std::string text(*payload);
  const size_t colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  std::vector<std::string> nums = absl::StrSplit(text.substr(0, colon), ',');
  ErrorDetail d;
  size_t message_size = 0;
  if (nums.size() != 4 || !absl::SimpleAtoi(nums[0], &d.line) || !absl::SimpleAtoi(nums[1], &d.column) ||
      !absl::SimpleAtoi(nums[2], &d.length) || !absl::SimpleAtoi(nums[3], &message_size) ||
      message_size > text.size() - colon - 1)
    return std::nullopt;
  d.message = text.substr(colon + 1, message_size);
  d.hint = text.substr(colon + 1 + message_size);
  return d;
}

}  // namespace sa::dsl
