// Debezium envelope and type mapping, compared byte for byte with what
// Debezium's PostgreSQL connector + JsonConverter (schemas.enable=false) write.
#include "cdc/debezium.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>
#include <string>

#include "change_events.h"

namespace sa::cdc {
namespace {

using event_testing::AddColumn;
using streamadmin::cdc::v1::ChangeEvent;
using streamadmin::cdc::v1::Column;
using streamadmin::cdc::v1::Value;

ChangeEvent BaseEvent(streamadmin::cdc::v1::Op op) {
  return event_testing::ShopEvent(op, "orders",
                                  {.lsn = 24023128, .event_lsn = 24023000, .txid = 555, .ts_ms = 1700000000999});
}

std::string ValueJson(const Value& v, const DebeziumOptions& o = {}) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_CREATE);
  *AddColumn(e.mutable_after(), "v", "x")->mutable_value() = v;
  const std::string json = DebeziumValueJson(e, o);
  // {"before":null,"after":{"v":<value>},"source":...
  const std::string prefix = "{\"before\":null,\"after\":{\"v\":";
  EXPECT_EQ(json.rfind(prefix, 0), 0u) << json;
  const size_t end = json.find("},\"source\":");
  return json.substr(prefix.size(), end - prefix.size());
}

bool ValidJson(const std::string& s) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  return parser.parse(simdjson::padded_string(s)).get(doc) == simdjson::SUCCESS;
}

TEST(Debezium, CreateEnvelopeHasDebeziumFieldsInDebeziumOrder) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_CREATE);
  AddColumn(e.mutable_after(), "id", "int8", true)->mutable_value()->set_int_value(1);
  AddColumn(e.mutable_after(), "note", "text")->mutable_value()->set_text_value("hi");
  EXPECT_EQ(DebeziumValueJson(e),
            "{\"before\":null,\"after\":{\"id\":1,\"note\":\"hi\"},"
            "\"source\":{\"version\":\"2.5.4.Final\",\"connector\":\"postgresql\",\"name\":\"pg1\","
            "\"ts_ms\":1700000000123,\"snapshot\":\"false\",\"db\":\"shop\","
            "\"sequence\":\"[\\\"24023128\\\",\\\"24023000\\\"]\",\"schema\":\"public\","
            "\"table\":\"orders\",\"txId\":555,\"lsn\":24023000,\"xmin\":null},"
            "\"op\":\"c\",\"ts_ms\":1700000000999,\"transaction\":null}");
  EXPECT_EQ(DebeziumKeyJson(e), "{\"id\":1}");
  EXPECT_TRUE(ValidJson(DebeziumValueJson(e)));
}

TEST(Debezium, EveryOpMapsToDebeziumOpCode) {
  EXPECT_EQ(DebeziumOp(streamadmin::cdc::v1::OP_CREATE), "c");
  EXPECT_EQ(DebeziumOp(streamadmin::cdc::v1::OP_UPDATE), "u");
  EXPECT_EQ(DebeziumOp(streamadmin::cdc::v1::OP_DELETE), "d");
  EXPECT_EQ(DebeziumOp(streamadmin::cdc::v1::OP_READ), "r");
  EXPECT_EQ(DebeziumOp(streamadmin::cdc::v1::OP_TRUNCATE), "t");
  EXPECT_EQ(DebeziumOp(streamadmin::cdc::v1::OP_UNSPECIFIED), "");
}

TEST(Debezium, UpdateCarriesBeforeAndAfterAndTheNewKey) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_UPDATE);
  AddColumn(e.mutable_before(), "id", "int4", true)->mutable_value()->set_int_value(1);
  AddColumn(e.mutable_after(), "id", "int4", true)->mutable_value()->set_int_value(2);
  AddColumn(e.mutable_after(), "qty", "int4")->mutable_value()->set_int_value(7);
  const std::string json = DebeziumValueJson(e);
  EXPECT_EQ(json.rfind("{\"before\":{\"id\":1},\"after\":{\"id\":2,\"qty\":7},", 0), 0u) << json;
  EXPECT_NE(json.find("\"op\":\"u\""), std::string::npos);
  EXPECT_EQ(DebeziumKeyJson(e), "{\"id\":2}");
}

TEST(Debezium, DeleteHasNullAfterAndKeyFromBefore) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_DELETE);
  AddColumn(e.mutable_before(), "tenant", "text", true)->mutable_value()->set_text_value("a");
  AddColumn(e.mutable_before(), "note", "text")->mutable_value()->set_text_value("x");
  AddColumn(e.mutable_before(), "id", "int8", true)->mutable_value()->set_int_value(9);
  const std::string json = DebeziumValueJson(e);
  EXPECT_EQ(json.rfind("{\"before\":{\"tenant\":\"a\",\"note\":\"x\",\"id\":9},\"after\":null,", 0),
            0u)
      << json;
  EXPECT_NE(json.find("\"op\":\"d\""), std::string::npos);
  EXPECT_EQ(DebeziumKeyJson(e), "{\"tenant\":\"a\",\"id\":9}");
  EXPECT_TRUE(HasDebeziumKey(e));
}

TEST(Debezium, TruncateHasNullRowsAndNullKey) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_TRUNCATE);
  const std::string json = DebeziumValueJson(e);
  EXPECT_EQ(json.rfind("{\"before\":null,\"after\":null,\"source\":{", 0), 0u) << json;
  EXPECT_NE(json.find("\"op\":\"t\""), std::string::npos);
  EXPECT_FALSE(HasDebeziumKey(e));
  EXPECT_EQ(DebeziumKeyJson(e), "null");
}

TEST(Debezium, TableWithoutKeyHasNullKey) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_CREATE);
  AddColumn(e.mutable_after(), "v", "int4")->mutable_value()->set_int_value(1);
  EXPECT_FALSE(HasDebeziumKey(e));
  EXPECT_EQ(DebeziumKeyJson(e), "null");
}

TEST(Debezium, SnapshotReadsAreMarkedAndTheLastOneIsLast) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_READ);
  AddColumn(e.mutable_after(), "id", "int4", true)->mutable_value()->set_int_value(1);
  e.mutable_source()->set_snapshot(true);
  e.set_transaction_total(2);
  e.set_transaction_order(1);
  EXPECT_NE(DebeziumValueJson(e).find("\"snapshot\":\"true\""), std::string::npos);
  EXPECT_NE(DebeziumValueJson(e).find("\"op\":\"r\""), std::string::npos);
  e.set_transaction_order(2);
  EXPECT_NE(DebeziumValueJson(e).find("\"snapshot\":\"last\""), std::string::npos);
}

TEST(Debezium, MapsEveryValueKindLikeDebeziumDefaults) {
  Value v;
  v.set_null(true);
  EXPECT_EQ(ValueJson(v), "null");
  v.set_int_value(-9223372036854775807LL - 1);
  EXPECT_EQ(ValueJson(v), "-9223372036854775808");
  v.set_numeric_value("-12.3400");  // decimal.handling.mode=string: exact text
  EXPECT_EQ(ValueJson(v), "\"-12.3400\"");
  v.set_numeric_value("NaN");
  EXPECT_EQ(ValueJson(v), "\"NaN\"");
  v.set_text_value("abc");
  EXPECT_EQ(ValueJson(v), "\"abc\"");
  v.set_bool_value(true);
  EXPECT_EQ(ValueJson(v), "true");
  v.set_bool_value(false);
  EXPECT_EQ(ValueJson(v), "false");
  v.set_timestamp_us(1700000000123456);  // io.debezium.time.MicroTimestamp
  EXPECT_EQ(ValueJson(v), "1700000000123456");
  v.set_timestamptz_us(1700000000123456);  // io.debezium.time.ZonedTimestamp
  EXPECT_EQ(ValueJson(v), "\"2023-11-14T22:13:20.123456Z\"");
  v.set_date_days(19675);  // io.debezium.time.Date
  EXPECT_EQ(ValueJson(v), "19675");
  v.set_date_days(-1);
  EXPECT_EQ(ValueJson(v), "-1");
  v.set_uuid_value(std::string("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x23\x45\x67\x89\xab\xcd\xef", 16));
  EXPECT_EQ(ValueJson(v), "\"12345678-9abc-def0-0123-456789abcdef\"");
  v.set_json_value("{\"a\": [1, \"x\"]}");  // io.debezium.data.Json: the text as a string
  EXPECT_EQ(ValueJson(v), "\"{\\\"a\\\": [1, \\\"x\\\"]}\"");
  v.set_bytes_value(std::string("\x00\xff\x10hi", 5));  // binary.handling.mode=bytes: base64
  EXPECT_EQ(ValueJson(v), "\"AP8QaGk=\"");
  v.set_float_value(1.5);
  EXPECT_EQ(ValueJson(v), "1.5");
  v.set_float_value(3);
  EXPECT_EQ(ValueJson(v), "3.0");
  v.set_float_value(0.1);
  EXPECT_EQ(ValueJson(v), "0.1");
  v.set_float_value(1e300);
  EXPECT_EQ(ValueJson(v), "1e+300");
  v.set_float_value(std::nan(""));
  EXPECT_EQ(ValueJson(v), "\"NaN\"");
  v.set_float_value(std::numeric_limits<double>::infinity());
  EXPECT_EQ(ValueJson(v), "\"Infinity\"");
  v.set_float_value(-std::numeric_limits<double>::infinity());
  EXPECT_EQ(ValueJson(v), "\"-Infinity\"");
  v.set_unchanged_toast(true);
  EXPECT_EQ(ValueJson(v), "\"__debezium_unavailable_value\"");
  DebeziumOptions o;
  o.unavailable_value_placeholder = "<toast>";
  EXPECT_EQ(ValueJson(v, o), "\"<toast>\"");
}

TEST(Debezium, MapsArraysElementByElement) {
  Value v;
  auto* a = v.mutable_array_value();
  a->add_elements()->set_int_value(1);
  a->add_elements()->set_null(true);
  a->add_elements()->set_int_value(-3);
  EXPECT_EQ(ValueJson(v), "[1,null,-3]");
  v.mutable_array_value()->Clear();
  v.mutable_array_value()->add_elements()->set_text_value("a\"b");
  v.mutable_array_value()->add_elements()->set_numeric_value("1.10");
  EXPECT_EQ(ValueJson(v), "[\"a\\\"b\",\"1.10\"]");
  v.mutable_array_value()->Clear();
  EXPECT_EQ(ValueJson(v), "[]");
}

TEST(Debezium, ZonedTimestampTrimsTrailingZerosAndHandlesPreEpoch) {
  EXPECT_EQ(FormatZonedTimestamp(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatZonedTimestamp(1500000), "1970-01-01T00:00:01.5Z");
  EXPECT_EQ(FormatZonedTimestamp(1000), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(FormatZonedTimestamp(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatZonedTimestamp(253402300799999999), "9999-12-31T23:59:59.999999Z");
}

TEST(Debezium, PreEpochCommitTimeRoundsDownToMillis) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_TRUNCATE);
  e.mutable_source()->set_commit_time_us(-1500);
  EXPECT_NE(DebeziumValueJson(e).find("\"ts_ms\":-2,"), std::string::npos);
}

TEST(Debezium, EscapesControlCharactersAndQuotes) {
  std::string out;
  AppendJsonString(std::string("a\"b\\c\n\r\t\b\f\x01\x1f\x7f/", 14), &out);
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\n\\r\\t\\b\\f\\u0001\\u001f\x7f/\"");
  out.clear();
  AppendJsonString(std::string("nul\0end", 7), &out);
  EXPECT_EQ(out, "\"nul\\u0000end\"");
}

TEST(Debezium, PassesValidUtf8AndReplacesInvalidBytes) {
  std::string out;
  AppendJsonString("h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", &out);  // é € 😀
  EXPECT_EQ(out, "\"h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  const std::string r = "\xEF\xBF\xBD";
  const std::pair<std::string, std::string> cases[] = {
      {"a\xFF" "b", "a" + r + "b"},              // never valid
      {"\xC3", r},                               // truncated at the end
      {"\xC3(", r + "("},                        // bad continuation
      {"\xC0\xAF", r + r},                       // overlong '/'
      {"\xE0\x80\xAF", r + r + r},               // overlong 3-byte
      {"\xED\xA0\x80", r + r + r},               // surrogate U+D800
      {"\xF4\x90\x80\x80", r + r + r + r},       // above U+10FFFF
      {"\xF0\x9F\x98", r + r + r},               // truncated 4-byte
  };
  for (const auto& [in, want] : cases) {
    out.clear();
    AppendJsonString(in, &out);
    EXPECT_EQ(out, "\"" + want + "\"") << testing::PrintToString(in);
    EXPECT_TRUE(ValidJson(out)) << out;
  }
}

TEST(Debezium, EscapesNamesAndParsesBackToTheSameStrings) {
  ChangeEvent e = BaseEvent(streamadmin::cdc::v1::OP_CREATE);
  e.mutable_table()->set_table("we\"ird\ntable");
  AddColumn(e.mutable_after(), "k\"ey", "text", true)->mutable_value()->set_text_value("line1\nline2\x02");
  const std::string json = DebeziumValueJson(e);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(simdjson::padded_string(json)).get(doc), simdjson::SUCCESS) << json;
  std::string_view table, value;
  ASSERT_EQ(doc["source"]["table"].get(table), simdjson::SUCCESS);
  EXPECT_EQ(table, "we\"ird\ntable");
  ASSERT_EQ(doc["after"]["k\"ey"].get(value), simdjson::SUCCESS);
  EXPECT_EQ(value, "line1\nline2\x02");
  EXPECT_EQ(DebeziumKeyJson(e), "{\"k\\\"ey\":\"line1\\nline2\\u0002\"}");
}

TEST(Debezium, TopicIsPrefixSchemaTableWithIllegalCharactersReplaced) {
  streamadmin::cdc::v1::TableId t;
  t.set_server("pg1");
  t.set_schema("public");
  t.set_table("orders");
  EXPECT_EQ(DebeziumTopic(t, ""), "pg1.public.orders");
  EXPECT_EQ(DebeziumTopic(t, "dbz"), "dbz.public.orders");
  t.set_table("my table/é");
  EXPECT_EQ(DebeziumTopic(t, ""), "pg1.public.my_table___");
}

}  // namespace
}  // namespace sa::cdc
