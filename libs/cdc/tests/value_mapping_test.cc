#include "cdc/value_mapping.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/civil_days.h"

namespace sa::cdc {
namespace {

using streamadmin::cdc::v1::Value;

Value Map(uint32_t oid, const std::string& text) {
  Value v;
  MapTextValue(oid, text, &v);
  return v;
}

TEST(ValueMapping, MapsScalars) {
  EXPECT_EQ(Map(20, "-9223372036854775808").int_value(), INT64_MIN);
  EXPECT_EQ(Map(21, "12").int_value(), 12);
  EXPECT_EQ(Map(1700, "-12345678901234567890.000000000000000001").numeric_value(),
            "-12345678901234567890.000000000000000001");
  EXPECT_EQ(Map(1700, "NaN").numeric_value(), "NaN");
  EXPECT_TRUE(Map(16, "t").bool_value());
  EXPECT_EQ(Map(16, "f").kind_case(), Value::kBoolValue);
  EXPECT_EQ(Map(3802, "{\"a\": 1}").json_value(), "{\"a\": 1}");
  EXPECT_EQ(Map(17, "\\x00ff10").bytes_value(), std::string("\x00\xff\x10", 3));
  EXPECT_EQ(Map(17, "\\x").bytes_value(), "");
  EXPECT_EQ(Map(2950, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").uuid_value(),
            std::string("\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11", 16));
  EXPECT_DOUBLE_EQ(Map(701, "0.1").float_value(), 0.1);
  EXPECT_TRUE(std::isnan(Map(701, "NaN").float_value()));
  EXPECT_TRUE(std::isinf(Map(700, "-Infinity").float_value()));
}

TEST(ValueMapping, MapsDatesAndTimestamps) {
  EXPECT_EQ(Map(1082, "1970-01-01").date_days(), 0);
  EXPECT_EQ(Map(1082, "2000-03-01").date_days(), 11017);
  EXPECT_EQ(Map(1082, "1969-12-31").date_days(), -1);
  EXPECT_EQ(Map(1114, "1970-01-01 00:00:01.5").timestamp_us(), 1500000);
  EXPECT_EQ(Map(1184, "2024-01-02 03:04:05.123456+00").timestamptz_us(), 1704164645123456);
  EXPECT_EQ(Map(1184, "2024-01-02 08:34:05.123456+05:30").timestamptz_us(), 1704164645123456);
  EXPECT_EQ(Map(1184, "2024-01-01 19:04:05.123456-08").timestamptz_us(), 1704164645123456);
  EXPECT_EQ(Map(1184, "1900-01-01 00:00:00+00:09:21").timestamptz_us(),
            (DaysFromCivil(1900, 1, 1) * 86400 - 561) * 1000000);
  // Not representable: the exact text rides in text_value.
  EXPECT_EQ(Map(1184, "infinity").text_value(), "infinity");
  EXPECT_EQ(Map(1082, "0044-03-15 BC").text_value(), "0044-03-15 BC");
}

TEST(ValueMapping, MapsOneDimensionalArrays) {
  Value v = Map(1009, R"({plain,"with space","q\"uote","back\\slash",NULL,"NULL",""})");
  ASSERT_EQ(v.kind_case(), Value::kArrayValue);
  const auto& e = v.array_value().elements();
  ASSERT_EQ(e.size(), 7);
  EXPECT_EQ(e[0].text_value(), "plain");
  EXPECT_EQ(e[1].text_value(), "with space");
  EXPECT_EQ(e[2].text_value(), "q\"uote");
  EXPECT_EQ(e[3].text_value(), "back\\slash");
  EXPECT_TRUE(e[4].null());
  EXPECT_EQ(e[5].text_value(), "NULL");
  EXPECT_EQ(e[6].text_value(), "");
  Value ints = Map(1007, "[0:1]={1,-2}");
  ASSERT_EQ(ints.array_value().elements_size(), 2);
  EXPECT_EQ(ints.array_value().elements(1).int_value(), -2);
  EXPECT_EQ(Map(1016, "{}").array_value().elements_size(), 0);
  EXPECT_EQ(Map(1007, "{{1,2},{3,4}}").text_value(), "{{1,2},{3,4}}");
}

TEST(ValueMapping, FallsBackToTextAndNeverCrashesOnOddInput) {
  EXPECT_EQ(Map(600, "(1,2)").text_value(), "(1,2)");  // point: no typed mapping
  EXPECT_EQ(Map(20, "12x").text_value(), "12x");
  EXPECT_EQ(Map(2950, "zz").text_value(), "zz");
  const char* odd[] = {"", "{", "}", "{\"", "{\\", "[", "[1:2]", "{a,", "-", "+", "\\x1",
                       "2024-", "2024-01-01 ", "2024-01-01 1:", "2024-01-01 10:00:00+"};
  const uint32_t oids[] = {16, 17, 20, 700, 1082, 1114, 1184, 2950, 1007, 1009, 1185, 3807, 0};
  for (uint32_t oid : oids)
    for (const char* s : odd) {
      Value v;
      MapTextValue(oid, s, &v);
      EXPECT_NE(v.kind_case(), Value::KIND_NOT_SET) << oid << " " << s;
    }
}

}  // namespace
}  // namespace sa::cdc
