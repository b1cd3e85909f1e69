#include "dsl/parser.h"

#include <gtest/gtest.h>

#include <string>

#include "dsl/error.h"

namespace sa::dsl {
namespace {

ErrorDetail ErrorOf(const std::string& text, const Limits& limits = {}) {
  auto st = Parse(text, limits);
  EXPECT_FALSE(st.ok()) << text;
  if (st.ok()) return {};
  EXPECT_EQ(st.status().code(), absl::StatusCode::kInvalidArgument);
  auto d = GetErrorDetail(st.status());
  EXPECT_TRUE(d.has_value()) << st.status();
  return d.value_or(ErrorDetail{});
}

TEST(Parser, ReadsAPipelineIntoStages) {
  auto st = Parse(
      "md.trades | where symbol = \"ETH-USD\" and ts > now() - 1h\n"
      "  | summarize vwap = vwap(price, size), n = count() by venue, minute = bin(ts, 1m)\n"
      "  | sort by n desc | limit 5");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->source, "md.trades");
  ASSERT_EQ(st->stages.size(), 4u);
  EXPECT_EQ(st->stages[0].kind, StageKind::kWhere);
  EXPECT_EQ(st->stages[1].kind, StageKind::kSummarize);
  ASSERT_EQ(st->stages[1].items.size(), 2u);
  EXPECT_EQ(st->stages[1].items[0].name, "vwap");
  ASSERT_EQ(st->stages[1].by.size(), 2u);
  EXPECT_EQ(st->stages[1].by[1].name, "minute");
  EXPECT_EQ(st->stages[2].order.size(), 1u);
  EXPECT_TRUE(st->stages[2].order[0].desc);
  EXPECT_EQ(st->stages[3].count, 5);
}

TEST(Parser, ReadsWindowsWithTheirRequiredGrace) {
  auto st = Parse("md.trade | window hopping 5m every 1m grace 500ms | summarize n = count()");
  ASSERT_TRUE(st.ok()) << st.status();
  const Stage& w = st->stages[0];
  EXPECT_EQ(w.window, WindowKind::kHopping);
  EXPECT_EQ(w.size_ns, 300000000000);
  EXPECT_EQ(w.every_ns, 60000000000);
  EXPECT_EQ(w.grace_ns, 500000000);
  EXPECT_EQ(ErrorOf("md.trade | window tumbling 1m | summarize n = count()").message,
            "expected 'grace' and a duration (a window needs a grace period for late events), found '|'");
}

TEST(Parser, ReadsDurationsExactly) {
  auto st = Parse("md.trade | where ts > now() - 1.5s and ts < now() + 250us + 3d + 7ns");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(ErrorOf("md.trade | where ts > now() - 1x").message, "unknown duration unit 'x'");
  EXPECT_EQ(ErrorOf("md.trade | where ts > now() - 0.5ns").message, "duration is not a whole number of nanoseconds");
}

TEST(Parser, ReadsQuotedNamesAndStringEscapes) {
  auto st = Parse("cdc_pg_public.`Order Items` | where `select` = \"a\\\"b\\\\c\"");
  ASSERT_TRUE(st.ok()) << st.status();
  EXPECT_EQ(st->source, "cdc_pg_public.Order Items");
  EXPECT_EQ(st->stages[0].predicate->args[1]->text, "a\"b\\c");
}

TEST(Parser, GivesLineAndColumnOnLaterLines) {
  const ErrorDetail d = ErrorOf("md.trades\n| where price >\n| limit 3");
  EXPECT_EQ(d.line, 3);
  EXPECT_EQ(d.column, 1);
}

TEST(Parser, CountsColumnsInCodePoints) {
  const ErrorDetail d = ErrorOf("md.trade | where venue = \"été\" and and");
  EXPECT_EQ(d.column, 36);
}

TEST(Parser, RefusesTooLongInputNamingTheLimit) {
  Limits l;
  l.max_input_bytes = 100;
  const ErrorDetail d = ErrorOf("md.trade | where " + std::string(200, ' ') + "true", l);
  EXPECT_EQ(d.message, "statement of 221 bytes exceeds the limit of 100 bytes (max_input_bytes)");
}

TEST(Parser, RefusesDeepNestingWithoutOverflowingTheStack) {
  for (const std::string& open : {std::string("("), std::string("-"), std::string("not "), std::string("abs(")}) {
    std::string text = "md.trade | where ";
    for (int i = 0; i < 100000 && text.size() < 15000; ++i) text += open;
    const ErrorDetail d = ErrorOf(text);
    EXPECT_EQ(d.message, "expression nested deeper than 64 levels (limit max_depth)") << open;
  }
}

TEST(Parser, RefusesLongOperatorChainsAsDeepNesting) {
  std::string text = "md.trade | where price > 0";
  for (int i = 0; i < 1000; ++i) text += " or price > 0";
  const ErrorDetail d = ErrorOf(text);
  EXPECT_EQ(d.message, "expression nested deeper than 64 levels (limit max_depth)");
  EXPECT_EQ(d.hint, "split long chains of operators, e.g. use 'in (...)' instead of many 'or'");
}

TEST(Parser, RefusesHugeLiterals) {
  EXPECT_EQ(ErrorOf("md.trade | where venue = \"" + std::string(2000, 'x') + "\"").message,
            "string literal longer than 1024 bytes (limit max_literal_bytes)");
  EXPECT_EQ(ErrorOf("md.trade | where price > " + std::string(50, '9')).message,
            "number with 50 digits exceeds the limit of 38 digits (max_number_digits)");
}

TEST(Parser, RefusesTooManyStagesAndItems) {
  std::string text = "md.trades";
  for (int i = 0; i < 40; ++i) text += " | where true";
  EXPECT_EQ(ErrorOf(text).message, "more than 32 pipeline stages (limit max_stages)");
  std::string in = "md.trade | where venue in (\"a\"";
  for (int i = 0; i < 300; ++i) in += ", \"a\"";
  EXPECT_EQ(ErrorOf(in + ")").message, "more than 256 values in 'in' (limit max_list_items)");
}

TEST(Parser, ExplainsCommonSlipsFromOtherLanguages) {
  EXPECT_EQ(ErrorOf("md.trade | where venue == \"kraken\"").hint, "equality is written with one '='");
  EXPECT_EQ(ErrorOf("md.trade | where venue = 'kraken'").hint, "strings are written in double quotes: \"BTC-USD\"");
  EXPECT_EQ(ErrorOf("md.trade | where a && b").hint, "the logical operator is written 'and'");
  EXPECT_EQ(ErrorOf("md.trade | where price <> 1").hint, "inequality is written '!='");
  EXPECT_EQ(ErrorOf("md.trade | where true; DROP TABLE md.trades").message, "unexpected ';'");
  EXPECT_EQ(ErrorOf("md.trade | where 1 < price < 2").message,
            "comparisons do not chain: expected 'and', 'or' or the end of the expression");
}

TEST(Parser, RefusesNonAsciiNamesSuchAsLookAlikes) {
  // Cyrillic 'а' (U+0430) in "mаrket".
  const ErrorDetail d = ErrorOf("md.tr\xd0\xb0" "de | where true");
  EXPECT_EQ(d.message, "unexpected character '\xd0\xb0' (U+0430)");
  EXPECT_EQ(d.column, 6);
}

TEST(ErrorFormat, ShowsTheLineWithACaretUnderTheFault) {
  auto st = Parse("md.trade\n  | where price >> 3");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(std::string(st.status().message()),
            "2:18: expected an expression (a field, a literal, a function call or '('), found '>'\n"
            "  2 |   | where price >> 3\n"
            "    |                  ^");
}

}  // namespace
}  // namespace sa::dsl

namespace sa::dsl {
namespace {

// Found by the fuzzer: a string literal holding the payload's separator byte
// (0x1f) made the ErrorDetail payload unreadable, so the error lost its position.
TEST(ErrorPayload, SurvivesAnyBytesInTheMessage) {
  const std::string text = "md.m\"\x1fuy\"d.mdt";
  auto st = Parse(text);
  ASSERT_FALSE(st.ok());
  auto d = GetErrorDetail(st.status());
  ASSERT_TRUE(d.has_value()) << st.status();
  EXPECT_EQ(d->line, 1);
  EXPECT_EQ(d->column, 5);
  ErrorDetail odd{2, 3, 4, "message with \x1f and \n inside", "hint \x1f too"};
  auto back = GetErrorDetail(MakeError(odd, "a\nbcdefgh"));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->message, odd.message);
  EXPECT_EQ(back->hint, odd.hint);
  EXPECT_EQ(back->length, 4);
}

}  // namespace
}  // namespace sa::dsl

namespace sa::dsl {
namespace {

// Found by the fuzzer (ASan heap-buffer-overflow in FormatError): a line
// longer than 100 characters with carriage returns in it; the caret column
// was counted past the shown text.
TEST(ErrorFormat, ShowsLongLinesWithCarriageReturnsAroundTheFault) {
  const std::string text = "md.trade | where " + std::string(120, 'a') + "\r\r 1x";
  auto st = Parse(text);
  ASSERT_FALSE(st.ok());
  auto d = GetErrorDetail(st.status());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->column, 142);
  const std::string msg(st.status().message());
  EXPECT_NE(msg.find("^"), std::string::npos) << msg;
  // A column past the end of a long line still formats.
  ErrorDetail far{1, 500, 3, "past the end", ""};
  EXPECT_NE(FormatError(far, std::string(150, 'x')).find("past the end"), std::string::npos);
}

}  // namespace
}  // namespace sa::dsl
