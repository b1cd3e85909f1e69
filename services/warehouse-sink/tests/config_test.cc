#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "config/loader.h"
#include "warehouse_sink/app.h"

namespace sa::warehouse_sink {
namespace {

// The defaults are cdc-bridge's sink defaults of before the move: the same
// durables and schemas, so consumers and warehouse positions carry over.
TEST(WarehouseSinkConfig, DefaultsAreValidAndKeepTheDurablesCdcBridgeUsed) {
  auto c = DefaultConfig();
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  EXPECT_EQ(c.server().grpc_listen(), "0.0.0.0:7106");
  EXPECT_EQ(c.cdc().consumer().stream(), "CDC");
  EXPECT_EQ(c.cdc().consumer().durable(), "warehouse");
  EXPECT_EQ(c.cdc().consumer().filter_subject(), "cdc.>");
  EXPECT_EQ(c.cdc().consumer().max_ack_pending(), 200000u);
  EXPECT_EQ(c.cdc().schema_template(), "cdc_{server}_{schema}");
  EXPECT_EQ(c.cdc().max_batch_events(), 20000u);
  EXPECT_EQ(c.market_data().stream(), "MD");
  EXPECT_EQ(c.market_data().schema(), "md");
  EXPECT_EQ(c.market_data().batch(), 5000u);
  ASSERT_EQ(c.streams_size(), 1);
  EXPECT_EQ(c.streams(0).name(), "DLQ");
}

TEST(WarehouseSinkConfig, EachPartSwitchesOffOnItsOwn) {
  auto c = DefaultConfig();
  c.mutable_cdc()->set_disabled(true);
  EXPECT_TRUE(ValidateConfig(c).ok());
  c.mutable_cdc()->set_schema_template("");  // not checked for a part that is off
  EXPECT_TRUE(ValidateConfig(c).ok());
  c = DefaultConfig();
  c.mutable_market_data()->set_disabled(true);
  c.mutable_market_data()->set_schema("Not A Name");
  EXPECT_TRUE(ValidateConfig(c).ok());
  c.mutable_cdc()->set_disabled(true);
  absl::Status st = ValidateConfig(c);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("both parts are off"));
}

TEST(WarehouseSinkConfig, ErrorsNameTheKey) {
  auto check = [](auto mutate, const std::string& key) {
    auto c = DefaultConfig();
    mutate(c);
    absl::Status st = ValidateConfig(c);
    EXPECT_FALSE(st.ok()) << key;
    EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr(absl::StrCat("'", key, "'"))) << st;
  };
  check([](auto& c) { c.mutable_warehouse()->set_dsn(""); }, "warehouse.dsn");
  check([](auto& c) { c.mutable_cdc()->mutable_consumer()->set_durable("a.b"); }, "cdc.consumer.durable");
  check([](auto& c) { c.mutable_cdc()->mutable_consumer()->set_max_ack_pending(0); }, "cdc.consumer.max_ack_pending");
  check([](auto& c) { c.mutable_cdc()->set_schema_template(""); }, "cdc.schema_template");
  check([](auto& c) { c.mutable_market_data()->set_schema("md; drop"); }, "market_data.schema");
  check([](auto& c) { c.mutable_market_data()->set_batch(0); }, "market_data.batch");
  check([](auto& c) { c.mutable_market_data()->set_stream(""); }, "market_data.stream");
}

// The environment reaches both switches (the chart sets them that way).
TEST(WarehouseSinkConfig, SwitchesAndTheWarehouseComeFromTheEnvironment) {
  auto c = DefaultConfig();
  ASSERT_TRUE(config::ApplyEnvironment({{"STREAM_ADMIN_CDC_DISABLED", "true"},
                                        {"STREAM_ADMIN_MARKET_DATA_BATCH", "100"},
                                        {"STREAM_ADMIN_WAREHOUSE_DSN", "host=wh dbname=warehouse"}},
                                       &c)
                  .ok());
  EXPECT_TRUE(c.cdc().disabled());
  EXPECT_FALSE(c.market_data().disabled());
  EXPECT_EQ(c.market_data().batch(), 100u);
  EXPECT_EQ(c.warehouse().dsn(), "host=wh dbname=warehouse");
}

}  // namespace
}  // namespace sa::warehouse_sink
