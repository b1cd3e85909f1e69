// Lexer and recursive-descent parser of the DSL (grammar: docs/DSL.md).
//
// Every limit below is checked before it could hurt: input length up front,
// nesting depth on entry to each nested expression (so recursion is bounded
// and no input can overflow the stack), literal sizes in the lexer, stage and
// list counts as they are parsed. Exceeding one is an error naming the limit.
#pragma once

#include <string_view>

#include "absl/status/statusor.h"
#include "dsl/ast.h"

namespace sa::dsl {

struct Limits {
  size_t max_input_bytes = 16 * 1024;
  int max_depth = 64;            // nested parentheses / operators / calls
  size_t max_literal_bytes = 1024;   // one string literal (after unescaping) or regex
  int max_number_digits = 38;    // digits of a number literal
  int max_stages = 32;
  int max_list_items = 256;      // items of project/summarize/by/in/sort, call arguments
};

// Parses `text`; on error InvalidArgument with an ErrorDetail (dsl/error.h).
absl::StatusOr<Statement> Parse(std::string_view text, const Limits& limits = {});

}  // namespace sa::dsl
