// cdc-bridge's configuration: the defaults are valid, and each refusal names
// the key that is wrong.
#include "cdc_bridge/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace sa::cdc_bridge {
namespace {

using ::testing::HasSubstr;

TEST(CdcBridgeConfig, DefaultsAreValid) {
  auto c = DefaultConfig();
  EXPECT_TRUE(ValidateConfig(c).ok()) << ValidateConfig(c);
  EXPECT_EQ(c.connector().snapshot_mode(), "initial");
  EXPECT_FALSE(c.connector().kafka().enabled());
}

TEST(CdcBridgeConfig, EachRefusalNamesTheKey) {
  struct Case {
    const char* key;
    void (*edit)(streamadmin::config::v1::CdcBridgeConfig&);
  };
  const Case cases[] = {
      {"source.dsn", [](auto& c) { c.mutable_source()->clear_dsn(); }},
      {"connector.server_name", [](auto& c) { c.mutable_connector()->set_server_name("pg.main"); }},
      {"connector.slot_name", [](auto& c) { c.mutable_connector()->set_slot_name("Slot-1"); }},
      {"connector.publication_name", [](auto& c) { c.mutable_connector()->set_publication_name(""); }},
      {"connector.include_tables[0]", [](auto& c) { c.mutable_connector()->add_include_tables("t; drop"); }},
      {"connector.exclude_tables[0]", [](auto& c) { c.mutable_connector()->add_exclude_tables("nodot"); }},
      {"connector.status_interval_ms", [](auto& c) { c.mutable_connector()->set_status_interval_ms(0); }},
      {"connector.heartbeat_interval_s", [](auto& c) { c.mutable_connector()->set_heartbeat_interval_s(4000); }},
      {"connector.snapshot_mode", [](auto& c) { c.mutable_connector()->set_snapshot_mode("sometimes"); }},
      {"connector.snapshot_chunk_size", [](auto& c) { c.mutable_connector()->set_snapshot_chunk_size(0); }},
      {"connector.kafka.bootstrap_servers", [](auto& c) { c.mutable_connector()->mutable_kafka()->set_enabled(true); }},
  };
  for (const auto& tc : cases) {
    auto c = DefaultConfig();
    tc.edit(c);
    absl::Status st = ValidateConfig(c);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << tc.key;
    EXPECT_THAT(std::string(st.message()), HasSubstr(std::string("key '") + tc.key + "'")) << st;
  }
}

TEST(CdcBridgeConfig, KafkaSinkOptionsCarryEveryProperty) {
  streamadmin::config::v1::KafkaOutputConfig k;
  k.set_bootstrap_servers("127.0.0.1:9092");
  k.set_tombstones_on_delete(true);
  auto* p = k.add_properties();
  p->set_name("linger.ms");
  p->set_value("5");
  auto o = KafkaSinkOptions(k);
  EXPECT_EQ(o.bootstrap_servers, "127.0.0.1:9092");
  EXPECT_TRUE(o.tombstones_on_delete);
  EXPECT_EQ(o.topic_prefix, "");
  EXPECT_EQ(o.properties.at("linger.ms"), "5");
}

}  // namespace
}  // namespace sa::cdc_bridge
