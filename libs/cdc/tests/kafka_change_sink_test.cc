// KafkaChangeSink against librdkafka's in-process mock cluster; what it wrote
// is read back by a separate consumer (explicit assign, no group rebalance)
// and parsed as JSON.
#include "cdc/kafka_change_sink.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

// clang-format off
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>  // needs rdkafka.h first
// clang-format on

#include "absl/strings/str_cat.h"
#include "change_events.h"
#include "kafka_mock.h"
#include "observability/metrics.h"

namespace sa::cdc {
namespace {

using kafka_testing::MockKafka;
using kafka_testing::ReadTopic;
using kafka_testing::Record;

using event_testing::AddColumn;
using streamadmin::cdc::v1::ChangeEvent;
using streamadmin::cdc::v1::Column;

constexpr absl::Duration kWait = absl::Seconds(20);
// Kafka protocol API keys (librdkafka does not install rdkafka_protocol.h).
constexpr int16_t kApiProduce = 0;
constexpr int16_t kApiInitProducerId = 22;


// on_delivered results by event id; waits on a condition variable.
class Deliveries {
 public:
  std::function<void(absl::Status)> For(int id) {
    return [this, id](absl::Status s) {
      std::lock_guard<std::mutex> lock(mu_);
      statuses_[id].push_back(std::move(s));
      ++total_;
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, absl::Duration timeout = kWait) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return total_ >= n; });
  }
  std::map<int, std::vector<absl::Status>> statuses() const {
    std::lock_guard<std::mutex> lock(mu_);
    return statuses_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, std::vector<absl::Status>> statuses_;
  size_t total_ = 0;
};

ChangeEvent Event(streamadmin::cdc::v1::Op op, const std::string& table, uint64_t lsn) {
  return event_testing::ShopEvent(op, table, {.lsn = lsn, .event_lsn = lsn - 8, .txid = 700, .ts_ms = 1700000001000});
}

// The insert of order 1 (public.orders, id int4 only) at lsn 1000.
ChangeEvent OrderOneCreated() {
  ChangeEvent e = Event(streamadmin::cdc::v1::OP_CREATE, "orders", 1000);
  AddColumn(e.mutable_after(), "id", "int4", true)->mutable_value()->set_int_value(1);
  return e;
}

// A row of public.types: one column per Value kind.
void FillTypesRow(google::protobuf::RepeatedPtrField<Column>* row, int64_t id) {
  AddColumn(row, "id", "int8", true)->mutable_value()->set_int_value(id);
  AddColumn(row, "price", "numeric")->mutable_value()->set_numeric_value("12.3400");
  AddColumn(row, "name", "text")->mutable_value()->set_text_value("caf\xC3\xA9 \"q\"\n");
  AddColumn(row, "active", "bool")->mutable_value()->set_bool_value(true);
  AddColumn(row, "created", "timestamp")->mutable_value()->set_timestamp_us(1700000000123456);
  AddColumn(row, "updated", "timestamptz")->mutable_value()->set_timestamptz_us(1700000000123456);
  AddColumn(row, "day", "date")->mutable_value()->set_date_days(19675);
  AddColumn(row, "ref", "uuid")
      ->mutable_value()
      ->set_uuid_value(std::string("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x01\x23\x45\x67\x89\xab\xcd\xef", 16));
  AddColumn(row, "doc", "jsonb")->mutable_value()->set_json_value("{\"a\": 1}");
  AddColumn(row, "blob", "bytea")->mutable_value()->set_bytes_value(std::string("\x00\xff", 2));
  auto* tags = AddColumn(row, "tags", "_int4")->mutable_value()->mutable_array_value();
  tags->add_elements()->set_int_value(1);
  tags->add_elements()->set_null(true);
  AddColumn(row, "ratio", "float8")->mutable_value()->set_float_value(0.25);
  AddColumn(row, "nan", "float8")->mutable_value()->set_float_value(std::nan(""));
  AddColumn(row, "gone", "text")->mutable_value()->set_null(true);
  AddColumn(row, "big", "text")->mutable_value()->set_unchanged_toast(true);
}

std::vector<std::string> Keys(simdjson::dom::object o) {
  std::vector<std::string> out;
  for (auto field : o) out.emplace_back(field.key);
  return out;
}

std::string Str(simdjson::dom::element e) {
  std::string_view s;
  EXPECT_EQ(e.get(s), simdjson::SUCCESS) << simdjson::to_string(e);
  return std::string(s);
}

int64_t Int(simdjson::dom::element e) {
  int64_t v = 0;
  EXPECT_EQ(e.get(v), simdjson::SUCCESS) << simdjson::to_string(e);
  return v;
}

std::unique_ptr<KafkaChangeSink> MakeSink(KafkaChangeSinkOptions o) {
  auto sink = KafkaChangeSink::Create(std::move(o));
  EXPECT_TRUE(sink.ok()) << sink.status();
  return sink.ok() ? *std::move(sink) : nullptr;
}

TEST(KafkaChangeSink, WritesDebeziumEnvelopesThatAConsumerReadsBack) {
  MockKafka kafka;
  kafka.CreateTopic("pg1.public.types", 1);
  obs::MetricsRegistry metrics;
  auto sink = MakeSink({.bootstrap_servers = kafka.bootstraps(), .metrics = &metrics});
  ASSERT_NE(sink, nullptr);

  ChangeEvent create = Event(streamadmin::cdc::v1::OP_CREATE, "types", 1000);
  FillTypesRow(create.mutable_after(), 1);
  ChangeEvent update = Event(streamadmin::cdc::v1::OP_UPDATE, "types", 2000);
  AddColumn(update.mutable_before(), "id", "int8", true)->mutable_value()->set_int_value(1);
  FillTypesRow(update.mutable_after(), 1);
  ChangeEvent del = Event(streamadmin::cdc::v1::OP_DELETE, "types", 3000);
  AddColumn(del.mutable_before(), "id", "int8", true)->mutable_value()->set_int_value(1);
  ChangeEvent truncate = Event(streamadmin::cdc::v1::OP_TRUNCATE, "types", 4000);

  Deliveries deliveries;
  ASSERT_TRUE(sink->Send(create, deliveries.For(0)).ok());
  ASSERT_TRUE(sink->Send(update, deliveries.For(1)).ok());
  ASSERT_TRUE(sink->Send(del, deliveries.For(2)).ok());
  ASSERT_TRUE(sink->Send(truncate, deliveries.For(3)).ok());
  ASSERT_TRUE(sink->Flush(kWait).ok());
  EXPECT_EQ(sink->InFlight(), 0u);
  const auto statuses = deliveries.statuses();
  ASSERT_EQ(statuses.size(), 4u);
  for (const auto& [id, list] : statuses) {
    ASSERT_EQ(list.size(), 1u) << "event " << id << " reported more than once";
    EXPECT_TRUE(list[0].ok()) << id << ": " << list[0];
  }
  EXPECT_EQ(metrics.GetCounter("streamadmin_cdc_kafka_produced_total", "").Value(), 5);
  EXPECT_EQ(metrics.GetCounter("streamadmin_cdc_kafka_delivery_errors_total", "").Value(), 0);
  EXPECT_EQ(metrics.GetGauge("streamadmin_cdc_kafka_inflight", "").Value(), 0);

  const auto records = ReadTopic(kafka.bootstraps(), "pg1.public.types", 1);
  ASSERT_EQ(records.size(), 5u);  // c, u, d, tombstone, t
  const std::vector<std::string> envelope = {"before", "after", "source", "op", "ts_ms",
                                             "transaction"};
  const std::vector<std::string> source_fields = {"version", "connector", "name", "ts_ms",
                                                  "snapshot", "db", "sequence", "schema",
                                                  "table", "txId", "lsn", "xmin"};
  const char* ops[] = {"c", "u", "d", nullptr, "t"};
  simdjson::dom::parser parser;
  for (size_t i = 0; i < records.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("record ", i));
    const Record& r = records[i];
    if (i == 4) {
      EXPECT_FALSE(r.key.has_value()) << "truncate has a null key";
    } else {
      ASSERT_TRUE(r.key.has_value());
      EXPECT_EQ(*r.key, "{\"id\":1}");
    }
    if (ops[i] == nullptr) {
      EXPECT_FALSE(r.value.has_value()) << "tombstone after delete has a null value";
      continue;
    }
    ASSERT_TRUE(r.value.has_value());
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(simdjson::padded_string(*r.value)).get(doc), simdjson::SUCCESS)
        << *r.value;
    simdjson::dom::object obj;
    ASSERT_EQ(doc.get(obj), simdjson::SUCCESS);
    EXPECT_EQ(Keys(obj), envelope);
    EXPECT_EQ(Str(doc["op"]), ops[i]);
    EXPECT_EQ(Int(doc["ts_ms"]), 1700000001000);
    EXPECT_TRUE(doc["transaction"].is_null());
    simdjson::dom::object source;
    ASSERT_EQ(doc["source"].get(source), simdjson::SUCCESS);
    EXPECT_EQ(Keys(source), source_fields);
    EXPECT_EQ(Str(source["connector"]), "postgresql");
    EXPECT_EQ(Str(source["name"]), "pg1");
    EXPECT_EQ(Str(source["db"]), "shop");
    EXPECT_EQ(Str(source["schema"]), "public");
    EXPECT_EQ(Str(source["table"]), "types");
    EXPECT_EQ(Str(source["snapshot"]), "false");
    EXPECT_EQ(Int(source["ts_ms"]), 1700000000123);
    EXPECT_EQ(Int(source["txId"]), 700);
    const int64_t lsn = 1000 * (i < 3 ? static_cast<int64_t>(i) + 1 : 4);
    EXPECT_EQ(Int(source["lsn"]), lsn - 8);
    EXPECT_EQ(Str(source["sequence"]), absl::StrCat("[\"", lsn, "\",\"", lsn - 8, "\"]"));
    EXPECT_TRUE(source["xmin"].is_null());
  }

  // create: before null, after with every value kind.
  simdjson::dom::element c;
  ASSERT_EQ(parser.parse(simdjson::padded_string(*records[0].value)).get(c), simdjson::SUCCESS);
  EXPECT_TRUE(c["before"].is_null());
  simdjson::dom::element after = c["after"];
  EXPECT_EQ(Int(after["id"]), 1);
  EXPECT_EQ(Str(after["price"]), "12.3400");
  EXPECT_EQ(Str(after["name"]), "caf\xC3\xA9 \"q\"\n");
  bool active = false;
  EXPECT_EQ(after["active"].get(active), simdjson::SUCCESS);
  EXPECT_TRUE(active);
  EXPECT_EQ(Int(after["created"]), 1700000000123456);
  EXPECT_EQ(Str(after["updated"]), "2023-11-14T22:13:20.123456Z");
  EXPECT_EQ(Int(after["day"]), 19675);
  EXPECT_EQ(Str(after["ref"]), "12345678-9abc-def0-0123-456789abcdef");
  EXPECT_EQ(Str(after["doc"]), "{\"a\": 1}");
  EXPECT_EQ(Str(after["blob"]), "AP8=");
  simdjson::dom::array tags;
  ASSERT_EQ(after["tags"].get(tags), simdjson::SUCCESS);
  ASSERT_EQ(tags.size(), 2u);
  EXPECT_EQ(Int(tags.at(0)), 1);
  EXPECT_TRUE(tags.at(1).is_null());
  double ratio = 0;
  EXPECT_EQ(after["ratio"].get(ratio), simdjson::SUCCESS);
  EXPECT_EQ(ratio, 0.25);
  EXPECT_EQ(Str(after["nan"]), "NaN");
  EXPECT_TRUE(after["gone"].is_null());
  EXPECT_EQ(Str(after["big"]), "__debezium_unavailable_value");

  // update: before is the key; delete: before is the key, after null;
  // truncate: both null.
  simdjson::dom::element u;
  ASSERT_EQ(parser.parse(simdjson::padded_string(*records[1].value)).get(u), simdjson::SUCCESS);
  EXPECT_EQ(simdjson::to_string(u["before"]), "{\"id\":1}");
  EXPECT_EQ(Str(u["after"]["price"]), "12.3400");
  simdjson::dom::element d;
  ASSERT_EQ(parser.parse(simdjson::padded_string(*records[2].value)).get(d), simdjson::SUCCESS);
  EXPECT_EQ(simdjson::to_string(d["before"]), "{\"id\":1}");
  EXPECT_TRUE(d["after"].is_null());
  simdjson::dom::element t;
  ASSERT_EQ(parser.parse(simdjson::padded_string(*records[4].value)).get(t), simdjson::SUCCESS);
  EXPECT_TRUE(t["before"].is_null());
  EXPECT_TRUE(t["after"].is_null());
}

TEST(KafkaChangeSink, SameKeyIncludingTombstoneLandsOnTheSamePartitionInSendOrder) {
  MockKafka kafka;
  kafka.CreateTopic("pg1.public.orders", 4);
  auto sink = MakeSink({.bootstrap_servers = kafka.bootstraps()});
  ASSERT_NE(sink, nullptr);
  Deliveries deliveries;
  constexpr int kKeys = 12, kRounds = 5;
  for (int round = 0; round < kRounds; ++round) {
    for (int k = 0; k < kKeys; ++k) {
      ChangeEvent e = Event(round == 0 ? streamadmin::cdc::v1::OP_CREATE
                                       : streamadmin::cdc::v1::OP_UPDATE,
                            "orders", 1000 + 10 * static_cast<uint64_t>(round * kKeys + k));
      AddColumn(e.mutable_after(), "id", "int4", true)->mutable_value()->set_int_value(k);
      AddColumn(e.mutable_after(), "round", "int4")->mutable_value()->set_int_value(round);
      ASSERT_TRUE(sink->Send(e, deliveries.For(round * kKeys + k)).ok());
    }
  }
  // Then each key is deleted: the delete and its tombstone follow on the
  // key's partition.
  for (int k = 0; k < kKeys; ++k) {
    ChangeEvent e = Event(streamadmin::cdc::v1::OP_DELETE, "orders", 5000 + 10 * k);
    AddColumn(e.mutable_before(), "id", "int4", true)->mutable_value()->set_int_value(k);
    ASSERT_TRUE(sink->Send(e, deliveries.For(kRounds * kKeys + k)).ok());
  }
  ASSERT_TRUE(deliveries.WaitFor((kRounds + 1) * kKeys));
  for (const auto& [id, list] : deliveries.statuses()) {
    ASSERT_EQ(list.size(), 1u);
    EXPECT_TRUE(list[0].ok()) << list[0];
  }

  std::map<std::string, std::set<int32_t>> partitions_of_key;
  std::map<std::string, std::vector<int64_t>> rounds_of_key;  // in offset order
  simdjson::dom::parser parser;
  for (const Record& r : ReadTopic(kafka.bootstraps(), "pg1.public.orders", 4)) {
    ASSERT_TRUE(r.key.has_value());
    partitions_of_key[*r.key].insert(r.partition);
    if (!r.value) {
      rounds_of_key[*r.key].push_back(-2);  // tombstone
      continue;
    }
    simdjson::dom::element doc;
    ASSERT_EQ(parser.parse(simdjson::padded_string(*r.value)).get(doc), simdjson::SUCCESS);
    rounds_of_key[*r.key].push_back(Str(doc["op"]) == "d" ? -1 : Int(doc["after"]["round"]));
  }
  ASSERT_EQ(partitions_of_key.size(), static_cast<size_t>(kKeys));
  std::set<int32_t> used;
  for (const auto& [key, parts] : partitions_of_key) {
    EXPECT_EQ(parts.size(), 1u) << key;
    used.insert(*parts.begin());
    EXPECT_EQ(rounds_of_key[key], (std::vector<int64_t>{0, 1, 2, 3, 4, -1, -2})) << key;
  }
  EXPECT_GT(used.size(), 1u) << "keys are spread over partitions";
}

TEST(KafkaChangeSink, TopicPrefixAndNoTombstonesWhenDisabled) {
  MockKafka kafka;
  kafka.CreateTopic("dbz.public.orders", 1);
  auto sink = MakeSink({.bootstrap_servers = kafka.bootstraps(),
                        .topic_prefix = "dbz",
                        .tombstones_on_delete = false});
  ASSERT_NE(sink, nullptr);
  ChangeEvent del = Event(streamadmin::cdc::v1::OP_DELETE, "orders", 3000);
  AddColumn(del.mutable_before(), "id", "int4", true)->mutable_value()->set_int_value(5);
  EXPECT_EQ(sink->TopicFor(del.table()), "dbz.public.orders");
  Deliveries deliveries;
  ASSERT_TRUE(sink->Send(del, deliveries.For(0)).ok());
  ASSERT_TRUE(deliveries.WaitFor(1));
  EXPECT_TRUE(deliveries.statuses()[0][0].ok());
  const auto records = ReadTopic(kafka.bootstraps(), "dbz.public.orders", 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, "{\"id\":5}");
  ASSERT_TRUE(records[0].value.has_value());
  EXPECT_NE(records[0].value->find("\"op\":\"d\""), std::string::npos);
}

TEST(KafkaChangeSink, RejectsInvalidEventsAndUnsafeProperties) {
  MockKafka kafka;
  auto sink = MakeSink({.bootstrap_servers = kafka.bootstraps()});
  ASSERT_NE(sink, nullptr);
  ChangeEvent e = Event(streamadmin::cdc::v1::OP_UNSPECIFIED, "orders", 1000);
  bool called = false;
  EXPECT_EQ(sink->Send(e, [&](absl::Status) { called = true; }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(called);

  EXPECT_EQ(KafkaChangeSink::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KafkaChangeSink::Create({.bootstrap_servers = kafka.bootstraps(),
                                     .properties = {{"enable.idempotence", "false"}}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KafkaChangeSink::Create({.bootstrap_servers = kafka.bootstraps(),
                                     .properties = {{"acks", "1"}}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(KafkaChangeSink::Create({.bootstrap_servers = kafka.bootstraps(),
                                     .properties = {{"no.such.property", "1"}}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KafkaChangeSink, BrokerRejectionIsReportedToOnDeliveredAndLaterEventsStillGoThrough) {
  MockKafka kafka;
  kafka.CreateTopic("pg1.public.orders", 1);
  obs::MetricsRegistry metrics;
  auto sink = MakeSink({.bootstrap_servers = kafka.bootstraps(), .metrics = &metrics});
  ASSERT_NE(sink, nullptr);
  // The next Produce request is refused with a non-retriable error.
  rd_kafka_mock_push_request_errors(kafka.cluster(), kApiProduce, 1,
                                    RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE);
  const ChangeEvent e = OrderOneCreated();
  Deliveries deliveries;
  ASSERT_TRUE(sink->Send(e, deliveries.For(0)).ok());
  ASSERT_TRUE(deliveries.WaitFor(1));
  const absl::Status failed = deliveries.statuses()[0][0];
  EXPECT_EQ(failed.code(), absl::StatusCode::kUnavailable) << failed;
  EXPECT_NE(failed.message().find("pg1.public.orders"), absl::string_view::npos) << failed;
  EXPECT_EQ(metrics.GetCounter("streamadmin_cdc_kafka_delivery_errors_total", "").Value(), 1);

  const absl::Status again = sink->Send(e, deliveries.For(1));
  ASSERT_TRUE(again.ok()) << again;
  ASSERT_TRUE(deliveries.WaitFor(2));
  EXPECT_TRUE(deliveries.statuses()[1][0].ok()) << deliveries.statuses()[1][0];
}

TEST(KafkaChangeSink, FatalIdempotenceErrorFailsDeliveryAndTheNextSend) {
  MockKafka kafka;
  kafka.CreateTopic("pg1.public.orders", 1);
  // The producer's InitProducerId is refused with an error librdkafka's
  // idempotent producer treats as fatal.
  rd_kafka_mock_push_request_errors(kafka.cluster(), kApiInitProducerId, 1,
                                    RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
  auto sink = MakeSink({.bootstrap_servers = kafka.bootstraps()});
  ASSERT_NE(sink, nullptr);
  const ChangeEvent e = OrderOneCreated();
  Deliveries deliveries;
  ASSERT_TRUE(sink->Send(e, deliveries.For(0)).ok());
  ASSERT_TRUE(deliveries.WaitFor(1));
  const absl::Status failed = deliveries.statuses()[0][0];
  EXPECT_EQ(failed.code(), absl::StatusCode::kFailedPrecondition) << failed;
  const absl::Status next = sink->Send(e, deliveries.For(1));
  EXPECT_EQ(next.code(), absl::StatusCode::kFailedPrecondition) << next;
  EXPECT_NE(next.message().find("fatal"), absl::string_view::npos) << next;
}

TEST(KafkaChangeSink, BackPressureBlocksSendAndCloseCancelsWhatTheBrokerNeverAcked) {
  MockKafka kafka;
  kafka.CreateTopic("pg1.public.orders", 1);
  auto sink = MakeSink({.bootstrap_servers = kafka.bootstraps(), .max_inflight = 2});
  ASSERT_NE(sink, nullptr);
  // The broker is down: nothing is acknowledged, so the third Send blocks
  // until Close gives up on the first two.
  rd_kafka_mock_broker_set_down(kafka.cluster(), 1);
  const ChangeEvent e = OrderOneCreated();
  Deliveries deliveries;
  ASSERT_TRUE(sink->Send(e, deliveries.For(0)).ok());
  ASSERT_TRUE(sink->Send(e, deliveries.For(1)).ok());
  EXPECT_EQ(sink->InFlight(), 2u);
  EXPECT_EQ(sink->Flush(absl::Milliseconds(300)).code(), absl::StatusCode::kDeadlineExceeded);

  std::mutex mu;
  std::condition_variable cv;
  bool third_returned = false;
  absl::Status third;
  std::thread sender([&] {
    absl::Status s = sink->Send(e, deliveries.For(2));
    std::lock_guard<std::mutex> lock(mu);
    third = s;
    third_returned = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    EXPECT_FALSE(cv.wait_for(lock, std::chrono::milliseconds(300), [&] { return third_returned; }))
        << "Send did not block at max_inflight";
  }
  sink->Close(absl::Milliseconds(200));
  sender.join();
  EXPECT_EQ(third.code(), absl::StatusCode::kFailedPrecondition) << third;
  const auto statuses = deliveries.statuses();
  ASSERT_EQ(statuses.size(), 2u);
  for (int id : {0, 1}) {
    ASSERT_EQ(statuses.at(id).size(), 1u);
    EXPECT_EQ(statuses.at(id)[0].code(), absl::StatusCode::kCancelled) << statuses.at(id)[0];
  }
  EXPECT_EQ(sink->InFlight(), 0u);
  EXPECT_EQ(sink->Send(e, deliveries.For(3)).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace sa::cdc
