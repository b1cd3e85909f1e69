#include "warehouse/sql_text.h"

#include <gtest/gtest.h>

#include <cmath>

namespace sa::warehouse {
namespace {

namespace cdcpb = streamadmin::cdc::v1;

std::string Text(const cdcpb::Value& v) {
  auto t = ValueToSqlText(v);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() && *t ? **t : "<null>";
}

TEST(ValueToSqlText, WritesEachKindAsPostgresInputText) {
  cdcpb::Value v;
  v.set_int_value(-42);
  EXPECT_EQ(Text(v), "-42");
  v.set_numeric_value("12345678901234567890.000000001");
  EXPECT_EQ(Text(v), "12345678901234567890.000000001");
  v.set_bool_value(false);
  EXPECT_EQ(Text(v), "f");
  v.set_timestamp_us(1700000000123456);
  EXPECT_EQ(Text(v), "2023-11-14 22:13:20.123456");
  v.set_timestamptz_us(-1);
  EXPECT_EQ(Text(v), "1969-12-31 23:59:59.999999+00");
  v.set_date_days(-719162);  // 0001-01-01
  EXPECT_EQ(Text(v), "0001-01-01");
  v.set_uuid_value(std::string("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x23\x45\x67\x89\xab\xcd\xef", 16));
  EXPECT_EQ(Text(v), "12345678-9abc-def0-0123-456789abcdef");
  v.set_bytes_value(std::string("\x00\xff", 2));
  EXPECT_EQ(Text(v), "\\x00ff");
  v.set_float_value(0.1);
  EXPECT_EQ(Text(v), "0.1");
  v.set_float_value(-INFINITY);
  EXPECT_EQ(Text(v), "-Infinity");
  v.set_float_value(NAN);
  EXPECT_EQ(Text(v), "NaN");
  v.set_null(true);
  auto null = ValueToSqlText(v);
  ASSERT_TRUE(null.ok());
  EXPECT_FALSE(null->has_value());
}

TEST(ValueToSqlText, QuotesArrayElementsAndKeepsNulls) {
  cdcpb::Value v;
  auto* a = v.mutable_array_value();
  a->add_elements()->set_text_value("a \"quoted\", {braced} \\ value");
  a->add_elements()->set_null(true);
  a->add_elements()->set_text_value("NULL");
  EXPECT_EQ(Text(v), "{\"a \\\"quoted\\\", {braced} \\\\ value\",NULL,\"NULL\"}");
}

TEST(AppendCopyField, EscapesWhatCopyTextFormatReadsSpecially) {
  std::string out;
  AppendCopyField(std::nullopt, &out);
  out.push_back('|');
  AppendCopyField(std::string("a\tb\nc\rd\\e\\N"), &out);
  out.push_back('|');
  AppendCopyField(std::string(""), &out);
  EXPECT_EQ(out, "\\N|a\\tb\\nc\\rd\\\\e\\\\N|");
}

TEST(ValueToSqlText, RefusesWhatHasNoText) {
  cdcpb::Value v;
  EXPECT_FALSE(ValueToSqlText(v).ok());
  v.set_unchanged_toast(true);
  EXPECT_FALSE(ValueToSqlText(v).ok());
  v.set_uuid_value("short");
  EXPECT_FALSE(ValueToSqlText(v).ok());
  EXPECT_FALSE(CheckSqlText(v).ok());
  v.mutable_array_value()->add_elements();  // an element with no kind
  EXPECT_FALSE(CheckSqlText(v).ok());
  v.set_text_value("x");
  EXPECT_TRUE(CheckSqlText(v).ok());
}

TEST(ValueToSqlText, WritesTimestampsAtTheEndsOfFourDigitYearsAndBeyond) {
  cdcpb::Value v;
  v.set_timestamp_us(-62135596800LL * 1000000);  // 0001-01-01
  EXPECT_EQ(Text(v), "0001-01-01 00:00:00.000000");
  v.set_timestamptz_us(253402300799999999LL);
  EXPECT_EQ(Text(v), "9999-12-31 23:59:59.999999+00");
  v.set_timestamp_us(253402300800000000LL);  // year 10000: the general formatter
  EXPECT_EQ(Text(v), "10000-01-01 00:00:00.000000");
  v.set_timestamp_us(951782400000001LL);  // a leap day
  EXPECT_EQ(Text(v), "2000-02-29 00:00:00.000001");
}

TEST(AppendSqlText, AppendsWhatValueToSqlTextReturns) {
  cdcpb::Value v;
  v.set_int_value(7);
  std::string out = "x=";
  bool null = true;
  ASSERT_TRUE(AppendSqlText(v, &out, &null).ok());
  EXPECT_FALSE(null);
  EXPECT_EQ(out, "x=7");
  v.set_null(true);
  ASSERT_TRUE(AppendSqlText(v, &out, &null).ok());
  EXPECT_TRUE(null);
  EXPECT_EQ(out, "x=7");
}

}  // namespace
}  // namespace sa::warehouse
