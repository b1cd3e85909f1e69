// DSL errors as data: every syntax, type, use and limit error is
// absl::InvalidArgumentError whose message is the full, human-readable text
//
//   1:18: unknown field 'prise' of md.trade
//     1 | md.trade | where prise > 60000
//       |                  ^~~~~
//   hint: did you mean 'price'?
//
// and which carries an ErrorDetail payload (line, column, length, message,
// hint) so that editors (phase 2's Validate) and the natural-language loop
// of [10] get the position without parsing text. Branch on the status code
// and the payload, never on the message.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace sa::dsl {

struct ErrorDetail {
  int line = 1;         // 1-based
  int column = 1;       // 1-based, in Unicode code points
  int length = 1;       // code points under the caret (>= 1)
  std::string message;  // one line: what is wrong and what was expected
  std::string hint;     // "did you mean 'price'?", or empty
};

// The full text (position, message, the line with a caret, hint) of `detail`
// within `source`.
std::string FormatError(const ErrorDetail& detail, std::string_view source);

// InvalidArgumentError(FormatError(detail, source)) carrying `detail`.
absl::Status MakeError(const ErrorDetail& detail, std::string_view source);

// The detail carried by a status from MakeError; nullopt for anything else.
std::optional<ErrorDetail> GetErrorDetail(const absl::Status& status);

}  // namespace sa::dsl
