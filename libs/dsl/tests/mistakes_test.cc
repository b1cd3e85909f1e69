// Typical mistakes and the exact messages they get: position, the line with a
// caret, what was expected, and the nearest known name.
#include <gtest/gtest.h>

#include <string>

#include "dsl/checker.h"
#include "dsl/error.h"

namespace sa::dsl {
namespace {

std::string MessageOf(const std::string& text) {
  CheckOptions o;
  o.now_ns = 1714564800000000000;
  auto plan = Check(text, ExampleCatalog(), o);
  EXPECT_FALSE(plan.ok()) << text;
  if (plan.ok()) return "";
  EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(GetErrorDetail(plan.status()).has_value());
  return std::string(plan.status().message());
}

struct Mistake {
  const char* what;
  const char* text;
  const char* message;
};

const Mistake kMistakes[] = {
    {"misspelt field", "md.trade | where prise > 60000",
     "1:18: unknown field 'prise' of md.trade\n"
     "  1 | md.trade | where prise > 60000\n"
     "    |                  ^~~~~\n"
     "hint: did you mean 'price'?"},
    {"string compared with a number", "md.trade | where symbol = 60000",
     "1:18: cannot compare string with int using '='\n"
     "  1 | md.trade | where symbol = 60000\n"
     "    |                  ^~~~~~~~~~~~~~\n"
     "hint: write the number as a string: \"60000\", or compare a numeric field"},
    {"missing by", "md.trades | summarize n = count() venue",
     "1:35: expected 'by', ',' or '|' after the aggregates, found 'venue'\n"
     "  1 | md.trades | summarize n = count() venue\n"
     "    |                                   ^~~~~\n"
     "hint: group with 'by': summarize ... by venue"},
    {"unclosed quote", "md.trade | where symbol = \"BTC-USD",
     "1:27: unclosed string: expected a closing '\"' on the same line\n"
     "  1 | md.trade | where symbol = \"BTC-USD\n"
     "    |                           ^"},
    {"unknown function", "md.trades | summarize n = cnt() by venue",
     "1:27: unknown function 'cnt'\n"
     "  1 | md.trades | summarize n = cnt() by venue\n"
     "    |                           ^~~\n"
     "hint: did you mean 'count'?"},
    {"misspelt source", "md.trdes | limit 10",
     "1:1: unknown source 'md.trdes'\n"
     "  1 | md.trdes | limit 10\n"
     "    | ^~~~~~~~\n"
     "hint: did you mean 'md.trades'?"},
    {"value outside an enum", "md.trade | where side = \"bye\"",
     "1:25: \"bye\" is not a value of side: expected one of buy, sell, unknown\n"
     "  1 | md.trade | where side = \"bye\"\n"
     "    |                         ^~~~~\n"
     "hint: did you mean \"buy\"?"},
    {"window without grace", "md.trade | window tumbling 1m | summarize n = count()",
     "1:31: expected 'grace' and a duration (a window needs a grace period for late events), found '|'\n"
     "  1 | md.trade | window tumbling 1m | summarize n = count()\n"
     "    |                               ^\n"
     "hint: window tumbling 1m grace 10s (grace 0s accepts no late event)"},
    {"top on a live stream", "md.trade | top 5 by price desc",
     "1:12: 'top' cannot run on a live stream: it needs the whole input, and a stream never ends\n"
     "  1 | md.trade | top 5 by price desc\n"
     "    |            ^~~\n"
     "hint: query the warehouse instead: md.trades"},
    {"aggregate outside summarize", "md.trades | where sum(size) > 10",
     "1:19: aggregate sum() outside summarize\n"
     "  1 | md.trades | where sum(size) > 10\n"
     "    |                   ^~~\n"
     "hint: | summarize sum(...) by ..."},
    {"window in a warehouse query", "md.trades | window tumbling 1m grace 5s | summarize n = count()",
     "1:13: 'window' is for live streams: a warehouse table is grouped by time with bin()\n"
     "  1 | md.trades | window tumbling 1m grace 5s | summarize n = count()\n"
     "    |             ^~~~~~\n"
     "hint: summarize n = count() by bin(ts, 1m)"},
    {"single-quoted string on a later line", "md.trades\n| where venue = 'kraken'",
     "2:17: unexpected character '\\''\n"
     "  2 | | where venue = 'kraken'\n"
     "    |                 ^\n"
     "hint: strings are written in double quotes: \"BTC-USD\""},
    {"comparison with null", "cdc_pg_public.orders | where note = null",
     "1:30: a comparison with null is never true (it is null)\n"
     "  1 | cdc_pg_public.orders | where note = null\n"
     "    |                              ^~~~~~~~~~~\n"
     "hint: test with 'is null' or 'is not null'"},
    {"now() in a windowed aggregate",
     "md.trade | where ts > now() - 1m | window tumbling 1m grace 5s | summarize n = count()",
     "1:23: now() in a windowed aggregate: windows run on event time, so their results must not depend on when they "
     "are computed\n"
     "  1 | md.trade | where ts > now() - 1m | window tumbling 1m grace 5s | summarize n = count()\n"
     "    |                       ^~~~~\n"
     "hint: filter on event time, e.g. ts >= window_start"},
};

TEST(Mistakes, EachGetsItsRecordedMessageWithLineColumnAndCaret) {
  for (const Mistake& m : kMistakes) EXPECT_EQ(MessageOf(m.text), m.message) << m.what;
}

TEST(Mistakes, CarryTheirPositionAsAPayload) {
  CheckOptions o;
  auto plan = Check("md.trade\n  | where prise > 1", ExampleCatalog(), o);
  ASSERT_FALSE(plan.ok());
  auto d = GetErrorDetail(plan.status());
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->line, 2);
  EXPECT_EQ(d->column, 11);
  EXPECT_EQ(d->length, 5);
  EXPECT_EQ(d->message, "unknown field 'prise' of md.trade");
  EXPECT_EQ(d->hint, "did you mean 'price'?");
}

}  // namespace
}  // namespace sa::dsl
