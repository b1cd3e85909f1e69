// Tokens of the DSL. Internal to libs/dsl.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "dsl/ast.h"
#include "dsl/parser.h"

namespace sa::dsl::internal {

enum class Tok : uint8_t {
  kEnd, kIdent, kQuotedIdent, kInt, kDecimal, kDuration, kString,
  kPipe, kLParen, kRParen, kComma, kDot, kEq, kNe, kLt, kLe, kGt, kGe,
  kPlus, kMinus, kStar, kSlash, kPercent,
};

struct Token {
  Tok kind = Tok::kEnd;
  Span span;
  std::string text;     // identifier (unquoted), string (unescaped), number as written
  int64_t int_value = 0;  // kInt; kDuration in ns
};

// Splits `text` into tokens (the last is kEnd). Errors carry an ErrorDetail.
absl::Status Lex(std::string_view text, const Limits& limits, std::vector<Token>* out);

// "'|'", "end of input", "identifier 'foo'", ... for "found ..." messages.
std::string Describe(const Token& t);

// Line/column (1-based, code points) of byte offset `offset` in `text`.
void LineColumn(std::string_view text, uint32_t offset, int* line, int* column);

// InvalidArgument with an ErrorDetail for `span` of `text`.
absl::Status ErrorAt(std::string_view text, Span span, std::string message, std::string hint = "");

}  // namespace sa::dsl::internal
