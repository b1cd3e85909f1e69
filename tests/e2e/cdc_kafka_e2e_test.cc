// cdc-bridge with its Kafka output enabled, against librdkafka's mock cluster
// (real wire protocol on TCP, hosted by this test process): the same changes
// land in JetStream and, as Debezium JSON envelopes keyed by primary key, in
// Kafka, read back by a separate consumer; the slot moves only past what both
// acknowledged.
#include <gtest/gtest.h>
#include <simdjson.h>

#include "../../libs/cdc/tests/kafka_mock.h"
#include "absl/strings/str_cat.h"
#include "cdc_e2e_fixture.h"

namespace sa {
namespace {

using cdc::kafka_testing::MockKafka;
using cdc::kafka_testing::ReadTopic;
using e2e::CdcBridgeE2E;

TEST_F(CdcBridgeE2E, KafkaGetsDebeziumEnvelopesAndJetStreamTheSameChanges) {
  MockKafka kafka;
  kafka.CreateTopic("pg.public.orders", 1);
  ASSERT_TRUE(pg_->Exec("CREATE TABLE orders (id int PRIMARY KEY, note text, amount numeric(10,2))").ok());
  Bridge bridge = StartBridge(absl::StrCat("  kafka:\n    enabled: true\n    bootstrap_servers: \"", kafka.bootstraps(),
                                           "\"\n"));
  ASSERT_TRUE(pg_->Exec("INSERT INTO orders VALUES (1, 'one', 10.50), (2, 'two', 20.00);"
                        "UPDATE orders SET note = 'uno' WHERE id = 1; DELETE FROM orders WHERE id = 2")
                  .ok());
  std::vector<e2e::Stored> js;
  ASSERT_TRUE(testing::WaitFor([&] { return (js = Read("cdc.pg.public.orders")).size() >= 4; }, absl::Seconds(30)))
      << bridge.process->Output();
  EXPECT_EQ(js.size(), 4u);

  // c, c, u, d and the tombstone after the delete.
  std::vector<cdc::kafka_testing::Record> records;
  ASSERT_TRUE(testing::WaitFor([&] { return (records = ReadTopic(kafka.bootstraps(), "pg.public.orders", 1)).size() >= 5; },
                               absl::Seconds(30)))
      << records.size() << "\n" << bridge.process->Output();
  ASSERT_EQ(records.size(), 5u);
  simdjson::dom::parser parser;
  std::vector<std::string> ops;
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(records[i].value.has_value());
    simdjson::dom::element v = parser.parse(*records[i].value);
    std::string_view op = v["op"].get_string().value();
    ops.emplace_back(op);
    EXPECT_EQ(std::string_view(v["source"]["connector"].get_string().value()), "postgresql");
    EXPECT_EQ(std::string_view(v["source"]["table"].get_string().value()), "orders");
    EXPECT_FALSE(v["ts_ms"].is_null());
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"c", "c", "u", "d"}));
  EXPECT_EQ(*records[0].key, "{\"id\":1}");
  simdjson::dom::element upd = parser.parse(*records[2].value);
  EXPECT_EQ(std::string_view(upd["after"]["note"].get_string().value()), "uno");
  EXPECT_EQ(std::string_view(upd["after"]["amount"].get_string().value()), "10.50") << "exact decimal as text";
  EXPECT_EQ(*records[4].key, "{\"id\":2}");
  EXPECT_FALSE(records[4].value.has_value()) << "tombstone after the delete";

  // The slot moved past the delete: both outputs acknowledged it.
  const std::string last = Sql("SELECT pg_current_wal_lsn()");
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        return Sql(absl::StrCat("SELECT confirmed_flush_lsn >= '", last,
                                "'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'e2e_slot'")) == "t";
      },
      absl::Seconds(30)));
}

}  // namespace
}  // namespace sa
