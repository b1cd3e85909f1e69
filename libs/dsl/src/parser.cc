#include "dsl/parser.h"

#include "absl/strings/str_cat.h"
#include "internal/lexer.h"

namespace sa::dsl {

const char* OpText(Op op) {
  switch (op) {
    case Op::kAdd: return "+";
    case Op::kSub: return "-";
    case Op::kMul: return "*";
    case Op::kDiv: return "/";
    case Op::kMod: return "%";
    case Op::kEq: return "=";
    case Op::kNe: return "!=";
    case Op::kLt: return "<";
    case Op::kLe: return "<=";
    case Op::kGt: return ">";
    case Op::kGe: return ">=";
    case Op::kAnd: return "and";
    case Op::kOr: return "or";
    case Op::kNeg: return "-";
    case Op::kNot: return "not";
  }
  return "?";
}

Op FlipComparison(Op op) {
  switch (op) {
    case Op::kLt: return Op::kGt;
    case Op::kLe: return Op::kGe;
    case Op::kGt: return Op::kLt;
    case Op::kGe: return Op::kLe;
    default: return op;
  }
}

const char* StageName(StageKind k) {
  switch (k) {
    case StageKind::kWhere: return "where";
    case StageKind::kProject: return "project";
    case StageKind::kSummarize: return "summarize";
    case StageKind::kWindow: return "window";
    case StageKind::kSort: return "sort";
    case StageKind::kTop: return "top";
    case StageKind::kLimit: return "limit";
  }
  return "?";
}

namespace {

using internal::Describe;
using internal::Tok;
using internal::Token;

constexpr const char* kReserved[] = {"and", "or", "not", "in", "is", "null", "true", "false", "by", "asc", "desc"};
constexpr const char* kStageNames[] = {"where", "project", "summarize", "window", "sort", "top", "limit"};

bool IsReserved(const std::string& s) {
  for (const char* r : kReserved)
    if (s == r) return true;
  return false;
}

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits, std::vector<Token> tokens)
      : text_(text), limits_(limits), toks_(std::move(tokens)) {}

  absl::StatusOr<Statement> Run() {
    Statement st;
    if (!ParseSource(&st)) return error_;
    while (Peek().kind == Tok::kPipe) {
      Next();
      if (static_cast<int>(st.stages.size()) >= limits_.max_stages)
        return Fail(Peek().span, absl::StrCat("more than ", limits_.max_stages, " pipeline stages (limit max_stages)"));
      Stage stage;
      if (!ParseStage(&stage)) return error_;
      st.stages.push_back(std::move(stage));
    }
    if (Peek().kind != Tok::kEnd) {
      const Token& t = Peek();
      std::string hint;
      if (t.kind == Tok::kIdent && IsStageName(t.text)) hint = absl::StrCat("stages are separated by '|': | ", t.text);
      return Fail(t.span, absl::StrCat("expected '|' or end of input, found ", Describe(t)), hint);
    }
    return st;
  }

 private:
  static bool IsStageName(const std::string& s) {
    for (const char* n : kStageNames)
      if (s == n) return true;
    return false;
  }

  const Token& Peek(int k = 0) const {
    const size_t i = std::min(pos_ + k, toks_.size() - 1);
    return toks_[i];
  }
  const Token& Next() {
    const Token& t = toks_[pos_];
    if (pos_ + 1 < toks_.size()) ++pos_;
    return t;
  }
  bool IsWord(const Token& t, const char* w) const { return t.kind == Tok::kIdent && t.text == w; }

  absl::Status Fail(Span span, std::string message, std::string hint = "") {
    if (error_.ok()) error_ = internal::ErrorAt(text_, span, std::move(message), std::move(hint));
    return error_;
  }
  bool FailB(Span span, std::string message, std::string hint = "") {
    (void)Fail(span, std::move(message), std::move(hint));
    return false;
  }
  ExprPtr FailE(Span span, std::string message, std::string hint = "") {
    (void)Fail(span, std::move(message), std::move(hint));
    return nullptr;
  }
  bool Expect(Tok kind, const char* what) {
    if (Peek().kind == kind) {
      Next();
      return true;
    }
    return FailB(Peek().span, absl::StrCat("expected ", what, ", found ", Describe(Peek())));
  }
  bool ExpectWord(const char* w, std::string context = "") {
    if (IsWord(Peek(), w)) {
      Next();
      return true;
    }
    return FailB(Peek().span, absl::StrCat("expected '", w, "'", context, ", found ", Describe(Peek())));
  }

  // A name part: identifier (not reserved) or `quoted`.
  bool ParseNamePart(std::string* out, Span* span, const char* what) {
    const Token& t = Peek();
    if (t.kind == Tok::kQuotedIdent || (t.kind == Tok::kIdent && !IsReserved(t.text))) {
      *out = t.text;
      *span = t.span;
      Next();
      return true;
    }
    std::string hint;
    if (t.kind == Tok::kIdent) hint = absl::StrCat("'", t.text, "' is a reserved word; quote it as `", t.text, "`");
    return FailB(t.span, absl::StrCat("expected ", what, ", found ", Describe(t)), hint);
  }

  bool ParseSource(Statement* st) {
    Span s;
    std::string part;
    if (Peek().kind == Tok::kEnd)
      return FailB(Peek().span, "expected a source (a stream such as md.trade or a table such as md.trades), found end of input");
    if (!ParseNamePart(&part, &s, "a source (a stream such as md.trade or a table such as md.trades)")) return false;
    st->source = part;
    st->source_span = s;
    int parts = 1;
    while (Peek().kind == Tok::kDot) {
      Next();
      if (++parts > 8) return FailB(Peek().span, "source name with more than 8 parts");
      if (!ParseNamePart(&part, &s, "the next part of the source name after '.'")) return false;
      absl::StrAppend(&st->source, ".", part);
      st->source_span.end = s.end;
    }
    return true;
  }

  bool ParseStage(Stage* stage) {
    const Token& t = Peek();
    stage->span = t.span;
    if (t.kind != Tok::kIdent || !IsStageName(t.text)) {
      return FailB(t.span, absl::StrCat("expected a stage (where, project, summarize, window, sort, top, limit), found ",
                                        Describe(t)));
    }
    const std::string name = Next().text;
    if (name == "where") {
      stage->kind = StageKind::kWhere;
      stage->predicate = ParseExpr();
      return stage->predicate != nullptr;
    }
    if (name == "project") {
      stage->kind = StageKind::kProject;
      return ParseNamedList(&stage->items);
    }
    if (name == "summarize") {
      stage->kind = StageKind::kSummarize;
      if (IsWord(Peek(), "by"))
        return FailB(Peek().span, "expected an aggregate before 'by'", "summarize n = count() by venue");
      if (!ParseNamedList(&stage->items)) return false;
      if (Peek().kind == Tok::kQuotedIdent ||
          (Peek().kind == Tok::kIdent && !IsReserved(Peek().text) && !IsStageName(Peek().text))) {
        return FailB(Peek().span, absl::StrCat("expected 'by', ',' or '|' after the aggregates, found ", Describe(Peek())),
                     absl::StrCat("group with 'by': summarize ... by ", Peek().text));
      }
      if (IsWord(Peek(), "by")) {
        stage->by_span = Next().span;
        return ParseNamedList(&stage->by);
      }
      return true;
    }
    if (name == "window") {
      stage->kind = StageKind::kWindow;
      if (IsWord(Peek(), "tumbling")) {
        Next();
        stage->window = WindowKind::kTumbling;
        if (!ParseDuration(&stage->size_ns, &stage->size_span, "the window size (a duration such as 1m)")) return false;
      } else if (IsWord(Peek(), "hopping")) {
        Next();
        stage->window = WindowKind::kHopping;
        if (!ParseDuration(&stage->size_ns, &stage->size_span, "the window size (a duration such as 5m)")) return false;
        if (!ExpectWord("every", " and the hop of a hopping window (window hopping 5m every 1m grace 10s)")) return false;
        if (!ParseDuration(&stage->every_ns, &stage->every_span, "the hop (a duration such as 1m)")) return false;
      } else {
        return FailB(Peek().span, absl::StrCat("expected 'tumbling' or 'hopping', found ", Describe(Peek())),
                     "window tumbling 1m grace 10s");
      }
      if (!IsWord(Peek(), "grace")) {
        return FailB(Peek().span,
                     absl::StrCat("expected 'grace' and a duration (a window needs a grace period for late events), found ",
                                  Describe(Peek())),
                     "window tumbling 1m grace 10s (grace 0s accepts no late event)");
      }
      Next();
      return ParseDuration(&stage->grace_ns, &stage->grace_span, "the grace period (a duration such as 10s)");
    }
    if (name == "sort" || name == "top") {
      stage->kind = name == "sort" ? StageKind::kSort : StageKind::kTop;
      if (name == "top" && !ParseCount(stage, "the number of rows of top (top 10 by amount desc)")) return false;
      if (!IsWord(Peek(), "by")) {
        return FailB(Peek().span, absl::StrCat("expected 'by' after ", name, ", found ", Describe(Peek())),
                     name == "top" ? "top 10 by amount desc" : "sort by ts desc");
      }
      Next();
      do {
        if (static_cast<int>(stage->order.size()) >= limits_.max_list_items)
          return FailB(Peek().span, absl::StrCat("more than ", limits_.max_list_items, " items (limit max_list_items)"));
        OrderItem item;
        item.expr = ParseExpr();
        if (item.expr == nullptr) return false;
        if (IsWord(Peek(), "desc")) {
          item.desc = true;
          Next();
        } else if (IsWord(Peek(), "asc")) {
          Next();
        }
        stage->order.push_back(std::move(item));
      } while (Peek().kind == Tok::kComma && (Next(), true));
      return true;
    }
    stage->kind = StageKind::kLimit;
    return ParseCount(stage, "the number of rows (limit 100)");
  }

  bool ParseCount(Stage* stage, const char* what) {
    const Token& t = Peek();
    if (t.kind != Tok::kInt || t.int_value <= 0)
      return FailB(t.span, absl::StrCat("expected ", what, ": a whole number above 0, found ", Describe(t)));
    stage->count = t.int_value;
    stage->count_span = t.span;
    Next();
    return true;
  }

  bool ParseDuration(int64_t* ns, Span* span, const char* what) {
    const Token& t = Peek();
    if (t.kind != Tok::kDuration) {
      std::string hint;
      if (t.kind == Tok::kInt) hint = absl::StrCat("add a unit: ", t.text, "s, ", t.text, "m, ...");
      return FailB(t.span, absl::StrCat("expected ", what, ", found ", Describe(t)), hint);
    }
    *ns = t.int_value;
    *span = t.span;
    Next();
    return true;
  }

  bool ParseNamedList(std::vector<NamedExpr>* out) {
    do {
      if (static_cast<int>(out->size()) >= limits_.max_list_items)
        return FailB(Peek().span, absl::StrCat("more than ", limits_.max_list_items, " items (limit max_list_items)"));
      NamedExpr item;
      // name = expr (a name followed by '=' that is not part of an expression).
      if ((Peek().kind == Tok::kQuotedIdent || (Peek().kind == Tok::kIdent && !IsReserved(Peek().text))) &&
          Peek(1).kind == Tok::kEq) {
        item.name = Peek().text;
        item.name_span = Peek().span;
        Next();
        Next();
      }
      item.expr = ParseExpr();
      if (item.expr == nullptr) return false;
      out->push_back(std::move(item));
    } while (Peek().kind == Tok::kComma && (Next(), true));
    return true;
  }

  // Depth guard for every recursive production.
  struct DepthGuard {
    Parser* p;
    bool ok;
    explicit DepthGuard(Parser* parser) : p(parser), ok(++parser->depth_ <= parser->limits_.max_depth) {
      if (!ok)
        (void)p->Fail(p->Peek().span,
                absl::StrCat("expression nested deeper than ", p->limits_.max_depth, " levels (limit max_depth)"));
    }
    ~DepthGuard() { --p->depth_; }
  };

  // Every node's height is bounded too: a long chain such as a+a+...+a
  // nests as deeply as parentheses do (and is walked recursively later).
  ExprPtr Make(Expr e) {
    int h = 0;
    for (const auto& a : e.args) h = std::max(h, static_cast<int>(a->height));
    e.height = static_cast<uint16_t>(h + 1);
    if (e.height > limits_.max_depth)
      return FailE(e.span, absl::StrCat("expression nested deeper than ", limits_.max_depth, " levels (limit max_depth)"),
                   "split long chains of operators, e.g. use 'in (...)' instead of many 'or'");
    return std::make_shared<const Expr>(std::move(e));
  }
  ExprPtr Binary(Op op, ExprPtr a, ExprPtr b) {
    Expr e;
    e.kind = ExprKind::kBinary;
    e.op = op;
    e.span = Span{a->span.begin, b->span.end};
    e.args = {std::move(a), std::move(b)};
    return Make(std::move(e));
  }

  ExprPtr ParseExpr() {
    DepthGuard g(this);
    if (!g.ok) return nullptr;
    return ParseChain("or", Op::kOr, &Parser::ParseAnd);
  }
  ExprPtr ParseAnd() { return ParseChain("and", Op::kAnd, &Parser::ParseNot); }
  // `operand (word operand)*`, left-associative: a or b or c is (a or b) or c.
  ExprPtr ParseChain(const char* word, Op op, ExprPtr (Parser::*operand)()) {
    ExprPtr left = (this->*operand)();
    while (left && IsWord(Peek(), word)) {
      Next();
      ExprPtr right = (this->*operand)();
      if (!right) return nullptr;
      left = Binary(op, left, right);
    }
    return left;
  }
  // `op operand` where the operand is parsed by `operand` (recursion bounded).
  ExprPtr ParsePrefix(Op op, ExprPtr (Parser::*operand)()) {
    DepthGuard g(this);
    if (!g.ok) return nullptr;
    const Span s = Next().span;
    ExprPtr x = (this->*operand)();
    if (!x) return nullptr;
    Expr e;
    e.kind = ExprKind::kUnary;
    e.op = op;
    e.span = Span{s.begin, x->span.end};
    e.args = {x};
    return Make(std::move(e));
  }
  ExprPtr ParseNot() {
    if (IsWord(Peek(), "not")) return ParsePrefix(Op::kNot, &Parser::ParseNot);
    return ParseComparison();
  }
  ExprPtr ParseComparison() {
    ExprPtr left = ParseAdditive();
    if (!left) return nullptr;
    const Token& t = Peek();
    Op op;
    switch (t.kind) {
      case Tok::kEq: op = Op::kEq; break;
      case Tok::kNe: op = Op::kNe; break;
      case Tok::kLt: op = Op::kLt; break;
      case Tok::kLe: op = Op::kLe; break;
      case Tok::kGt: op = Op::kGt; break;
      case Tok::kGe: op = Op::kGe; break;
      default: {
        bool negated = false;
        if (IsWord(t, "not") && IsWord(Peek(1), "in")) {
          negated = true;
          Next();
        }
        if (IsWord(Peek(), "in")) {
          Next();
          if (!Expect(Tok::kLParen, "'(' and a list of values after 'in'")) return nullptr;
          Expr e;
          e.kind = ExprKind::kIn;
          e.negated = negated;
          e.args.push_back(left);
          if (Peek().kind == Tok::kRParen)
            return FailE(Peek().span, "expected at least one value in the 'in' list, found ')'");
          do {
            if (static_cast<int>(e.args.size()) > limits_.max_list_items)
              return FailE(Peek().span,
                           absl::StrCat("more than ", limits_.max_list_items, " values in 'in' (limit max_list_items)"));
            ExprPtr item = ParseAdditive();
            if (!item) return nullptr;
            e.args.push_back(item);
          } while (Peek().kind == Tok::kComma && (Next(), true));
          e.span = Span{left->span.begin, Peek().span.end};
          if (!Expect(Tok::kRParen, "',' or ')' in the 'in' list")) return nullptr;
          return Make(std::move(e));
        }
        if (IsWord(Peek(), "is")) {
          Next();
          Expr e;
          e.kind = ExprKind::kIsNull;
          if (IsWord(Peek(), "not")) {
            e.negated = true;
            Next();
          }
          if (!IsWord(Peek(), "null"))
            return FailE(Peek().span, absl::StrCat("expected 'null' after 'is", e.negated ? " not" : "", "', found ",
                                                   Describe(Peek())));
          e.span = Span{left->span.begin, Next().span.end};
          e.args = {left};
          return Make(std::move(e));
        }
        return left;
      }
    }
    Next();
    ExprPtr right = ParseAdditive();
    if (!right) return nullptr;
    ExprPtr cmp = Binary(op, left, right);
    switch (Peek().kind) {
      case Tok::kEq: case Tok::kNe: case Tok::kLt: case Tok::kLe: case Tok::kGt: case Tok::kGe:
        return FailE(Peek().span, "comparisons do not chain: expected 'and', 'or' or the end of the expression",
                     "write a < b and b < c");
      default: break;
    }
    return cmp;
  }
  ExprPtr ParseAdditive() {
    DepthGuard g(this);
    if (!g.ok) return nullptr;
    ExprPtr left = ParseMultiplicative();
    while (left && (Peek().kind == Tok::kPlus || Peek().kind == Tok::kMinus)) {
      const Op op = Next().kind == Tok::kPlus ? Op::kAdd : Op::kSub;
      ExprPtr right = ParseMultiplicative();
      if (!right) return nullptr;
      left = Binary(op, left, right);
    }
    return left;
  }
  ExprPtr ParseMultiplicative() {
    ExprPtr left = ParseUnary();
    while (left && (Peek().kind == Tok::kStar || Peek().kind == Tok::kSlash || Peek().kind == Tok::kPercent)) {
      const Tok k = Next().kind;
      const Op op = k == Tok::kStar ? Op::kMul : k == Tok::kSlash ? Op::kDiv : Op::kMod;
      ExprPtr right = ParseUnary();
      if (!right) return nullptr;
      left = Binary(op, left, right);
    }
    return left;
  }
  ExprPtr ParseUnary() {
    if (Peek().kind == Tok::kMinus) return ParsePrefix(Op::kNeg, &Parser::ParseUnary);
    return ParsePrimary();
  }
  ExprPtr ParsePrimary() {
    const Token& t = Peek();
    Expr e;
    e.span = t.span;
    // Number, duration and string literals: the token's text and value.
    auto literal = [&](ExprKind kind) {
      e.kind = kind;
      e.int_value = t.int_value;
      e.text = t.text;
      Next();
      return Make(std::move(e));
    };
    switch (t.kind) {
      case Tok::kInt: return literal(ExprKind::kLiteralInt);
      case Tok::kDecimal: return literal(ExprKind::kLiteralDecimal);
      case Tok::kDuration: return literal(ExprKind::kLiteralDuration);
      case Tok::kString: return literal(ExprKind::kLiteralString);
      case Tok::kLParen: {
        DepthGuard g(this);
        if (!g.ok) return nullptr;
        Next();
        ExprPtr inner = ParseExpr();
        if (!inner) return nullptr;
        if (!Expect(Tok::kRParen, "')'")) return nullptr;
        return inner;
      }
      case Tok::kIdent:
        if (t.text == "true" || t.text == "false") {
          e.kind = ExprKind::kLiteralBool;
          e.bool_value = t.text == "true";
          Next();
          return Make(std::move(e));
        }
        if (t.text == "null") {
          e.kind = ExprKind::kLiteralNull;
          Next();
          return Make(std::move(e));
        }
        if (IsReserved(t.text)) break;
        if (Peek(1).kind == Tok::kLParen) return ParseCall();
        [[fallthrough]];
      case Tok::kQuotedIdent: {
        e.kind = ExprKind::kName;
        e.path.push_back(t.text);
        Next();
        if (Peek().kind == Tok::kDot) {
          Next();
          std::string part;
          Span s;
          if (!ParseNamePart(&part, &s, "a field name after '.'")) return nullptr;
          e.path.push_back(part);
          e.span.end = s.end;
          if (Peek().kind == Tok::kDot)
            return FailE(Peek().span, "field paths have at most two parts (before.status, event.op)");
        }
        return Make(std::move(e));
      }
      default: break;
    }
    std::string hint;
    if (t.kind == Tok::kPipe) hint = "a stage is missing its expression";
    return FailE(t.span, absl::StrCat("expected an expression (a field, a literal, a function call or '('), found ",
                                      Describe(t)),
                 hint);
  }
  ExprPtr ParseCall() {
    DepthGuard g(this);
    if (!g.ok) return nullptr;
    Expr e;
    e.kind = ExprKind::kCall;
    e.text = Peek().text;
    e.name_span = Peek().span;
    e.span = Peek().span;
    Next();
    Next();  // (
    if (Peek().kind != Tok::kRParen) {
      do {
        if (static_cast<int>(e.args.size()) >= limits_.max_list_items)
          return FailE(Peek().span, absl::StrCat("more than ", limits_.max_list_items, " arguments (limit max_list_items)"));
        ExprPtr a = ParseExpr();
        if (!a) return nullptr;
        e.args.push_back(a);
      } while (Peek().kind == Tok::kComma && (Next(), true));
    }
    e.span.end = Peek().span.end;
    if (!Expect(Tok::kRParen, "',' or ')' after the function's arguments")) return nullptr;
    return Make(std::move(e));
  }

  std::string_view text_;
  const Limits& limits_;
  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  absl::Status error_;
};

}  // namespace

absl::StatusOr<Statement> Parse(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_input_bytes) {
    return internal::ErrorAt(text.substr(0, 200), Span{0, 1},
                             absl::StrCat("statement of ", text.size(), " bytes exceeds the limit of ",
                                          limits.max_input_bytes, " bytes (max_input_bytes)"));
  }
  std::vector<Token> tokens;
  if (auto st = internal::Lex(text, limits, &tokens); !st.ok()) return st;
  Parser p(text, limits, std::move(tokens));
  return p.Run();
}

}  // namespace sa::dsl
