// KafkaSource against librdkafka's in-process mock cluster (it speaks the real
// protocol, consumer groups and offset commits included).
#include "sources/kafka_source.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>

// clang-format off
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>  // needs rdkafka.h first
// clang-format on

#include "absl/strings/str_cat.h"
#include "test_sink.h"
#include "testing/wait.h"

namespace sa::sources {
namespace {

using testing::RecordingSink;

constexpr absl::Duration kWait = absl::Seconds(20);

// A one-broker mock cluster plus a producer for it.
class MockKafka {
 public:
  MockKafka() {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    host_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    cluster_ = rd_kafka_mock_cluster_new(host_, 1);
    bootstraps_ = rd_kafka_mock_cluster_bootstraps(cluster_);
    rd_kafka_conf_t* pconf = rd_kafka_conf_new();
    rd_kafka_conf_set(pconf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof(err));
    rd_kafka_conf_set(pconf, "log_level", "3", err, sizeof(err));
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, err, sizeof(err));
  }
  ~MockKafka() {
    rd_kafka_destroy(producer_);
    rd_kafka_mock_cluster_destroy(cluster_);
    rd_kafka_destroy(host_);
  }

  const std::string& bootstraps() const { return bootstraps_; }

  void CreateTopic(const std::string& topic, int partitions) {
    ASSERT_EQ(rd_kafka_mock_topic_create(cluster_, topic.c_str(), partitions, 1),
              RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // value "<partition>:<i>"; with a venue header when `venue` is set.
  void Produce(const std::string& topic, int partition, int count, int first,
               const std::string& venue = "") {
    for (int i = first; i < first + count; ++i) {
      const std::string value = absl::StrCat(partition, ":", i);
      rd_kafka_resp_err_t err;
      if (venue.empty()) {
        err = rd_kafka_producev(producer_, RD_KAFKA_V_TOPIC(topic.c_str()),
                                RD_KAFKA_V_PARTITION(partition),
                                RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      } else {
        err = rd_kafka_producev(
            producer_, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
            RD_KAFKA_V_HEADER("venue", venue.data(), static_cast<ssize_t>(venue.size())),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
      }
      ASSERT_EQ(err, RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ(rd_kafka_flush(producer_, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  // The group's committed offset of topic/partition (-1001 if none).
  int64_t Committed(const std::string& group, const std::string& topic, int partition) {
    char err[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps_.c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof(err));
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic.c_str(), partition);
    int64_t offset = -2;
    if (rd_kafka_committed(rk, parts, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR)
      offset = parts->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_destroy(rk);
    return offset;
  }

 private:
  rd_kafka_t* host_ = nullptr;
  rd_kafka_mock_cluster_t* cluster_ = nullptr;
  rd_kafka_t* producer_ = nullptr;
  std::string bootstraps_;
};

std::unique_ptr<KafkaSource> MustCreate(KafkaSourceOptions options) {
  auto source = KafkaSource::Create(std::move(options));
  EXPECT_TRUE(source.ok()) << source.status();
  return source.ok() ? *std::move(source) : nullptr;
}

KafkaSourceOptions Options(const MockKafka& kafka, const std::string& group,
                           const std::string& topic) {
  KafkaSourceOptions o;
  o.brokers = kafka.bootstraps();
  o.group_id = group;
  o.topics = {topic};
  o.venue = "kafka_default";
  // The mock coordinator holds a rejoin after a LeaveGroup for the group's
  // session timeout minus 1 s, so keep it short for the restart; it must
  // still exceed the mock's 3 s initial rebalance delay, or the first
  // member times out while its JoinGroup is parked.
  o.properties = {{"auto.commit.interval.ms", "100"},
                  {"session.timeout.ms", "4500"},
                  {"heartbeat.interval.ms", "500"},
                  {"log_level", "3"}};
  return o;
}

TEST(KafkaSource, ConsumesEveryRecordInOffsetOrderPerPartition) {
  MockKafka kafka;
  kafka.CreateTopic("md-raw", 3);
  for (int p = 0; p < 3; ++p) kafka.Produce("md-raw", p, 10, 0, p == 0 ? "kraken" : "");
  RecordingSink sink;
  auto source = MustCreate(Options(kafka, "g-order", "md-raw"));
  ASSERT_TRUE(source->Start(&sink).ok());

  ASSERT_TRUE(sink.WaitForFrames(30, kWait)) << sink.frames().size();
  std::map<std::string, std::vector<Frame>> by_conn;
  for (auto& f : sink.frames()) by_conn[f.conn].push_back(f);
  ASSERT_EQ(by_conn.size(), 3u);
  for (int p = 0; p < 3; ++p) {
    const auto& frames = by_conn[absl::StrCat("kafka.md-raw.", p)];
    ASSERT_EQ(frames.size(), 10u) << p;
    for (size_t i = 0; i < frames.size(); ++i) {
      EXPECT_EQ(frames[i].frame_seq, i + 1);
      EXPECT_EQ(frames[i].data, absl::StrCat(p, ":", i));
      EXPECT_EQ(frames[i].kind, "kafka");
      EXPECT_EQ(frames[i].url, "md-raw");
      EXPECT_EQ(frames[i].venue, p == 0 ? "kraken" : "kafka_default");
    }
  }
  EXPECT_EQ(source->Stats().frames, 30u);
  EXPECT_GE(sink.CountEvents(SourceEventType::kConnected), 1u);
}

TEST(KafkaSource, RestartResumesFromTheCommittedOffsetWithoutLoss) {
  MockKafka kafka;
  kafka.CreateTopic("md-resume", 1);
  kafka.Produce("md-resume", 0, 20, 0);
  RecordingSink first_sink;
  {
    auto source = MustCreate(Options(kafka, "g-resume", "md-resume"));
    ASSERT_TRUE(source->Start(&first_sink).ok());
    ASSERT_TRUE(first_sink.WaitForFrames(20, kWait));
    source->Stop();
  }
  EXPECT_EQ(kafka.Committed("g-resume", "md-resume", 0), 20);
  kafka.Produce("md-resume", 0, 10, 20);

  RecordingSink second_sink;  // declared before the source: it must outlive it
  auto source = MustCreate(Options(kafka, "g-resume", "md-resume"));
  ASSERT_TRUE(source->Start(&second_sink).ok());
  ASSERT_TRUE(second_sink.WaitForFrames(10, kWait));
  const auto frames = second_sink.frames();
  ASSERT_EQ(frames.size(), 10u);
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(frames[i].frame_seq, 21 + i);
    EXPECT_EQ(frames[i].data, absl::StrCat("0:", 20 + i));
  }
}

TEST(KafkaSource, CommitsOnlyWhatTheSinkHasAccepted) {
  MockKafka kafka;
  kafka.CreateTopic("md-commit", 1);
  kafka.Produce("md-commit", 0, 12, 0);
  RecordingSink sink;
  sink.BlockAt(6);  // the 6th OnFrame (offset 5) blocks until Release()
  auto source = MustCreate(Options(kafka, "g-commit", "md-commit"));
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(sink.WaitForFrames(6, kWait));

  // Offsets 0..4 were accepted; the consumer has fetched all 12, but the
  // commit must not pass 5 while the sink holds offset 5. There is no
  // notification for a broker-side commit, so poll it with a deadline.
  int64_t committed = -1;
  sa::testing::WaitFor([&] { return (committed = kafka.Committed("g-commit", "md-commit", 0)) == 5; }, kWait);
  EXPECT_EQ(committed, 5);
  EXPECT_EQ(kafka.Committed("g-commit", "md-commit", 0), 5);

  sink.Release();
  ASSERT_TRUE(sink.WaitForFrames(12, kWait));
  source->Stop();
  EXPECT_EQ(kafka.Committed("g-commit", "md-commit", 0), 12);
}

// Accepted is not stored: the offset moves only over the records the sink
// says are stored downstream, in order, and never past one that was not.
TEST(KafkaSource, CommitsOnlyWhatIsStoredDownstreamInOrder) {
  MockKafka kafka;
  kafka.CreateTopic("md-stored", 1);
  kafka.Produce("md-stored", 0, 10, 0);
  RecordingSink sink;
  sink.HoldCompletions();
  auto options = Options(kafka, "g-stored", "md-stored");
  options.close_settle_timeout = absl::Milliseconds(200);
  auto source = MustCreate(options);
  ASSERT_TRUE(source->Start(&sink).ok());
  ASSERT_TRUE(sink.WaitForFrames(10, kWait));
  ASSERT_EQ(sink.held(), 10u);

  // Stored out of order: 0, 1, 2 and 4..6. The commit may reach 3 (the next
  // record to read), not 7: record 3 is not stored yet.
  for (size_t i : {2, 0, 1, 4, 5, 6}) sink.Settle(i, true);
  int64_t committed = -1;
  sa::testing::WaitFor([&] { return (committed = kafka.Committed("g-stored", "md-stored", 0)) == 3; }, kWait);
  EXPECT_EQ(committed, 3);
  // Record 3 stored: the prefix runs to 6.
  sink.Settle(3, true);
  sa::testing::WaitFor([&] { return (committed = kafka.Committed("g-stored", "md-stored", 0)) == 7; }, kWait);
  EXPECT_EQ(committed, 7);
  // Record 7 could not be stored (shutdown): 8 and 9 were, but the commit
  // stays at 7, so a restart consumes 7, 8 and 9 again.
  sink.Settle(7, false);
  sink.Settle(8, true);
  sink.Settle(9, true);
  source->Stop();
  EXPECT_EQ(kafka.Committed("g-stored", "md-stored", 0), 7);

  RecordingSink again;
  auto second = MustCreate(Options(kafka, "g-stored", "md-stored"));
  ASSERT_TRUE(second->Start(&again).ok());
  ASSERT_TRUE(again.WaitForFrames(3, kWait));
  const auto frames = again.frames();
  ASSERT_EQ(frames.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(frames[i].frame_seq, 8 + i);
}

}  // namespace
}  // namespace sa::sources
