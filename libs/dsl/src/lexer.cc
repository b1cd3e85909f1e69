#include "internal/lexer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "dsl/decimal.h"
#include "dsl/error.h"

namespace sa::dsl::internal {
namespace {

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Decodes one UTF-8 code point at text[i] (for messages); advances *len.
uint32_t CodePoint(std::string_view text, size_t i, size_t* len) {
  const auto c = static_cast<unsigned char>(text[i]);
  int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + n > text.size()) n = 1;
  uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  *len = n;
  return cp;
}

struct Unit {
  const char* name;
  int64_t ns;
};
constexpr Unit kUnits[] = {{"ns", 1},
                           {"us", 1000},
                           {"ms", 1000000},
                           {"s", 1000000000},
                           {"m", 60LL * 1000000000},
                           {"h", 3600LL * 1000000000},
                           {"d", 86400LL * 1000000000}};

}  // namespace

void LineColumn(std::string_view text, uint32_t offset, int* line, int* column) {
  *line = 1;
  *column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++*line;
      *column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      ++*column;
    }
  }
}

absl::Status ErrorAt(std::string_view text, Span span, std::string message, std::string hint) {
  ErrorDetail d;
  LineColumn(text, span.begin, &d.line, &d.column);
  int l2, c2;
  // Caret length: code points of the span on its first line.
  uint32_t end = span.end > span.begin ? span.end : span.begin + 1;
  for (uint32_t i = span.begin; i < end && i < text.size(); ++i)
    if (text[i] == '\n') {
      end = i;
      break;
    }
  LineColumn(text, std::min<uint32_t>(end, static_cast<uint32_t>(text.size())), &l2, &c2);
  d.length = (l2 == d.line && c2 > d.column) ? c2 - d.column : 1;
  d.message = std::move(message);
  d.hint = std::move(hint);
  return MakeError(d, text);
}

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Tok::kEnd: return "end of input";
    case Tok::kIdent: return absl::StrCat("'", t.text, "'");
    case Tok::kQuotedIdent: return absl::StrCat("name `", t.text, "`");
    case Tok::kInt:
    case Tok::kDecimal: return absl::StrCat("number ", t.text);
    case Tok::kDuration: return absl::StrCat("duration ", t.text);
    case Tok::kString: {
      if (t.text.size() > 40) return "a string";
      std::string shown;  // control characters escaped, so a message stays one line
      for (char c : t.text) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
          absl::StrAppend(&shown, absl::StrFormat("\\x%02x", static_cast<unsigned char>(c)));
        else
          shown.push_back(c);
      }
      return absl::StrCat("string \"", shown, "\"");
    }
    default: return absl::StrCat("'", t.text, "'");
  }
}

absl::Status Lex(std::string_view text, const Limits& limits, std::vector<Token>* out) {
  out->clear();
  size_t i = 0;
  const size_t n = text.size();
  auto span = [](size_t b, size_t e) { return Span{static_cast<uint32_t>(b), static_cast<uint32_t>(e)}; };
  while (true) {
    // Blanks and // comments.
    while (i < n) {
      if (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r') {
        ++i;
      } else if (text[i] == '/' && i + 1 < n && text[i + 1] == '/') {
        while (i < n && text[i] != '\n') ++i;
      } else {
        break;
      }
    }
    Token t;
    const size_t b = i;
    if (i >= n) {
      t.kind = Tok::kEnd;
      t.span = span(n, n);
      out->push_back(std::move(t));
      return absl::OkStatus();
    }
    const char c = text[i];
    if (IsIdentStart(c)) {
      while (i < n && IsIdentChar(text[i])) ++i;
      t.kind = Tok::kIdent;
      t.text = std::string(text.substr(b, i - b));
      if (t.text.size() > 128) return ErrorAt(text, span(b, i), "name longer than 128 characters (limit max_name)");
    } else if (c == '`') {
      ++i;
      while (true) {
        if (i >= n || text[i] == '\n')
          return ErrorAt(text, span(b, b + 1), "unclosed quoted name: expected a closing '`'");
        if (text[i] == '`') {
          if (i + 1 < n && text[i + 1] == '`') {
            t.text.push_back('`');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        t.text.push_back(text[i++]);
      }
      if (t.text.empty()) return ErrorAt(text, span(b, i), "empty quoted name");
      if (t.text.size() > 128)
        return ErrorAt(text, span(b, i), "quoted name longer than 128 bytes (limit max_name)");
      t.kind = Tok::kQuotedIdent;
    } else if (IsDigit(c)) {
      int digits = 0;
      bool dot = false;
      while (i < n && (IsDigit(text[i]) || (text[i] == '.' && !dot && i + 1 < n && IsDigit(text[i + 1])))) {
        if (text[i] == '.')
          dot = true;
        else
          ++digits;
        ++i;
      }
      t.text = std::string(text.substr(b, i - b));
      if (digits > limits.max_number_digits)
        return ErrorAt(text, span(b, i),
                       absl::StrCat("number with ", digits, " digits exceeds the limit of ", limits.max_number_digits,
                                    " digits (max_number_digits)"));
      if (i < n && IsIdentStart(text[i])) {
        const size_t ub = i;
        while (i < n && IsIdentChar(text[i])) ++i;
        const std::string unit(text.substr(ub, i - ub));
        const Unit* found = nullptr;
        for (const Unit& u : kUnits)
          if (unit == u.name) found = &u;
        if (found == nullptr)
          return ErrorAt(text, span(ub, i), absl::StrCat("unknown duration unit '", unit, "'"),
                         "durations are a number and one of the units ns, us, ms, s, m, h, d: 500ms, 1h");
        auto v = Decimal::Parse(t.text);
        Decimal ns;
        if (!v.has_value() || !Decimal::Mul(*v, Decimal::FromInt(found->ns), &ns))
          return ErrorAt(text, span(b, i), "duration out of range");
        Decimal whole;
        if (!Decimal::Round(ns, 0, &whole) || Decimal::Compare(whole, ns) != 0)
          return ErrorAt(text, span(b, i), "duration is not a whole number of nanoseconds");
        const Int128 m = whole.mantissa();
        if (m > INT64_MAX) return ErrorAt(text, span(b, i), "duration out of range (at most 292 years)");
        t.int_value = static_cast<int64_t>(m);
        t.kind = Tok::kDuration;
        t.text = std::string(text.substr(b, i - b));
      } else if (dot) {
        t.kind = Tok::kDecimal;
      } else {
        t.kind = Tok::kInt;
        Int128 v = 0;
        for (char d : t.text) v = v * 10 + (d - '0');
        if (v > INT64_MAX) t.kind = Tok::kDecimal;  // exact, as a decimal
        else t.int_value = static_cast<int64_t>(v);
      }
    } else if (c == '"') {
      ++i;
      while (true) {
        if (i >= n || text[i] == '\n' || text[i] == '\r')
          return ErrorAt(text, span(b, b + 1), "unclosed string: expected a closing '\"' on the same line");
        const char ch = text[i];
        if (ch == '"') {
          ++i;
          break;
        }
        if (ch == '\\') {
          if (i + 1 >= n) return ErrorAt(text, span(i, i + 1), "unclosed string: expected a closing '\"'");
          const char e = text[i + 1];
          switch (e) {
            case '"': t.text.push_back('"'); break;
            case '\\': t.text.push_back('\\'); break;
            case 'n': t.text.push_back('\n'); break;
            case 't': t.text.push_back('\t'); break;
            default:
              return ErrorAt(text, span(i, i + 2), absl::StrCat("unknown escape '\\", std::string(1, e), "' in string"),
                             "strings know the escapes \\\" \\\\ \\n \\t");
          }
          i += 2;
        } else if (ch == '\0') {
          return ErrorAt(text, span(i, i + 1), "NUL character in a string");
        } else {
          t.text.push_back(ch);
          ++i;
        }
        if (t.text.size() > limits.max_literal_bytes)
          return ErrorAt(text, span(b, b + 1),
                         absl::StrCat("string literal longer than ", limits.max_literal_bytes,
                                      " bytes (limit max_literal_bytes)"));
      }
      t.kind = Tok::kString;
    } else if (c == '\'') {
      return ErrorAt(text, span(b, b + 1), "unexpected character '\\''", "strings are written in double quotes: \"BTC-USD\"");
    } else {
      auto op = [&](Tok k, size_t len) {
        t.kind = k;
        t.text = std::string(text.substr(b, len));
        i += len;
      };
      const char d = i + 1 < n ? text[i + 1] : '\0';
      switch (c) {
        case '|':
          if (d == '|') return ErrorAt(text, span(b, b + 2), "unexpected '||'", "the logical operator is written 'or'");
          op(Tok::kPipe, 1);
          break;
        case '(': op(Tok::kLParen, 1); break;
        case ')': op(Tok::kRParen, 1); break;
        case ',': op(Tok::kComma, 1); break;
        case '.': op(Tok::kDot, 1); break;
        case '+': op(Tok::kPlus, 1); break;
        case '-': op(Tok::kMinus, 1); break;
        case '*': op(Tok::kStar, 1); break;
        case '/': op(Tok::kSlash, 1); break;
        case '%': op(Tok::kPercent, 1); break;
        case '=':
          if (d == '=') return ErrorAt(text, span(b, b + 2), "unexpected '=='", "equality is written with one '='");
          op(Tok::kEq, 1);
          break;
        case '!':
          if (d == '=') {
            op(Tok::kNe, 2);
            break;
          }
          return ErrorAt(text, span(b, b + 1), "unexpected '!'", "negation is written 'not', inequality '!='");
        case '<':
          if (d == '>') return ErrorAt(text, span(b, b + 2), "unexpected '<>'", "inequality is written '!='");
          if (d == '=') op(Tok::kLe, 2);
          else op(Tok::kLt, 1);
          break;
        case '>':
          if (d == '=') op(Tok::kGe, 2);
          else op(Tok::kGt, 1);
          break;
        case '&':
          return ErrorAt(text, span(b, d == '&' ? b + 2 : b + 1), "unexpected '&'", "the logical operator is written 'and'");
        case ';':
          return ErrorAt(text, span(b, b + 1), "unexpected ';'",
                         "a statement is one pipeline: there is nothing to separate");
        default: {
          size_t len = 1;
          const uint32_t cp = CodePoint(text, i, &len);
          if (cp < 0x20 || cp == 0x7f)
            return ErrorAt(text, span(b, b + len), absl::StrFormat("unexpected control character U+%04X", cp));
          return ErrorAt(text, span(b, b + len),
                         absl::StrFormat("unexpected character '%s' (U+%04X)", std::string(text.substr(b, len)), cp),
                         cp >= 0x80 ? "names are ASCII letters, digits and '_'; quote other names in backticks"
                                    : "");
        }
      }
    }
    t.span = span(b, i);
    out->push_back(std::move(t));
  }
}

}  // namespace sa::dsl::internal
