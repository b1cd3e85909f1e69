// The one dead-letter writer against a real nats-server: the header set, the
// id scheme (a retry parks once), the size cap and the counter by reason.
#include "bus/dead_letters.h"

#include <string>
#include <vector>

#include "bus_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/streams.h"
#include "wire/headers.h"
#include "wire/subjects.h"

namespace sa::bus {
namespace {

using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class DeadLetterWriterTest : public test::NatsFixture {
 protected:
  void SetUp() override {
    test::NatsFixture::SetUp();
    // The DLQ stream exactly as the services create it.
    ASSERT_TRUE(js_->EnsureStream(runtime::DlqStream()).ok());
  }

  std::vector<ReceivedMessage> ReadDlq(const std::string& filter, size_t n) {
    auto c = test::Consumer("DLQ", "reader");
    c.set_filter_subject(filter);
    EXPECT_TRUE(js_->EnsurePullConsumer(c).ok());
    auto sub = js_->PullSubscribe(c);
    EXPECT_TRUE(sub.ok()) << sub.status();
    std::vector<ReceivedMessage> all;
    if (!sub.ok()) return all;
    while (all.size() < n) {
      auto batch = (*sub)->Fetch(64, absl::Seconds(2));
      if (!batch.ok() || batch->empty()) break;
      for (auto& m : *batch) all.push_back(std::move(m));
    }
    return all;
  }

  static double Count(const std::string& stage, const std::string& reason) {
    return obs::MetricsRegistry::Default()
        .GetCounter("streamadmin_bus_dead_letters_total", "", {{"stage", stage}, {"reason", reason}})
        .Value();
  }
};

TEST_F(DeadLetterWriterTest, ParksTheInputWithTheHeaderSetOnItsStagesSubject) {
  auto w = DeadLetterWriter::Create(*conn_, {.stage = "normalizer"});
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->subject(), wire::kDlqNormalizer);
  const double before = Count("normalizer", "bad_json");
  DeadLetter d;
  d.reason = "bad_json";
  d.error = std::string(5000, 'e');
  d.subject = "md.raw.kraken";
  d.input_msg_id = "kraken:c1:7";
  d.payload = "garbage{";
  d.input_headers = {{"Sa-Conn", "c1"}, {kMsgIdHeader, "kraken:c1:7"}, {"Sa-Dlq-Reason", "old"}};
  ASSERT_TRUE((*w)->Write(d).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(10)).ok());

  auto msgs = ReadDlq(wire::kDlqAll, 1);
  ASSERT_EQ(msgs.size(), 1u);
  const auto& m = msgs[0];
  EXPECT_EQ(m.subject(), "dlq.normalizer");
  EXPECT_EQ(m.data(), "garbage{");
  EXPECT_EQ(m.msg_id(), "dlq:normalizer:kraken:c1:7");
  std::vector<std::pair<std::string, std::string>> others;
  for (const auto& [k, v] : m.headers())
    if (k != kMsgIdHeader) others.emplace_back(k, v);
  // nats.c hands headers back in no particular order.
  EXPECT_THAT(others, UnorderedElementsAre(Pair("Sa-Conn", "c1"), Pair("Sa-Dlq-Reason", "bad_json"),
                                           Pair("Sa-Dlq-Error", std::string(1024, 'e')),
                                           Pair("Sa-Dlq-Subject", "md.raw.kraken"), Pair("Sa-Dlq-Stage", "normalizer"),
                                           Pair("Sa-Msg-Id", "kraken:c1:7")));
  EXPECT_EQ(Count("normalizer", "bad_json"), before + 1);
}

TEST_F(DeadLetterWriterTest, TheSameInputIsParkedOnce) {
  auto w = DeadLetterWriter::Create(*conn_, {.stage = "cdc-bridge", .subject = wire::kDlqCdc});
  ASSERT_TRUE(w.ok()) << w.status();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE((*w)->Write({.reason = "publish_failed",
                             .error = "x",
                             .subject = "cdc.pg.public.t",
                             .input_msg_id = "pg:0/1:0",
                             .payload = "e"})
                    .ok());
  }
  ASSERT_TRUE((*w)->Flush(absl::Seconds(10)).ok());
  auto info = js_->GetStreamInfo("DLQ");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->messages, 1u);
  auto msgs = ReadDlq("dlq.cdc", 1);
  ASSERT_EQ(msgs.size(), 1u);
  EXPECT_EQ(msgs[0].header("Sa-Dlq-Stage").value_or(""), "cdc-bridge");
}

TEST_F(DeadLetterWriterTest, AnOversizedPayloadIsShrunkOrDroppedAndSaysSo) {
  auto w = DeadLetterWriter::Create(*conn_, {.stage = "warehouse", .max_payload_bytes = 100});
  ASSERT_TRUE(w.ok()) << w.status();
  DeadLetter shrinkable{
      .reason = "r", .error = "e", .subject = "s", .input_msg_id = "a", .payload = std::string(500, 'x')};
  shrinkable.shrink = [](std::string* p) {
    p->resize(10);
    return std::string(wire::dlq_truncation::kKeyColumnsOnly);
  };
  DeadLetter unshrinkable{
      .reason = "r", .error = "e", .subject = "s", .input_msg_id = "b", .payload = std::string(500, 'y')};
  unshrinkable.shrink = [](std::string*) { return std::string(); };
  DeadLetter too_big_anyway{
      .reason = "r", .error = "e", .subject = "s", .input_msg_id = "c", .payload = std::string(500, 'z')};
  too_big_anyway.shrink = [](std::string* p) {
    p->resize(200);
    return std::string(wire::dlq_truncation::kKeyColumnsOnly);
  };
  DeadLetter small{.reason = "r", .error = "e", .subject = "s", .input_msg_id = "d", .payload = std::string(100, 'w')};
  for (auto* d : {&shrinkable, &unshrinkable, &too_big_anyway, &small}) ASSERT_TRUE((*w)->Write(*d).ok());
  ASSERT_TRUE((*w)->Flush(absl::Seconds(10)).ok());

  auto msgs = ReadDlq("dlq.warehouse", 4);
  ASSERT_EQ(msgs.size(), 4u);
  EXPECT_EQ(msgs[0].data(), std::string(10, 'x'));
  EXPECT_EQ(msgs[0].header(wire::header::kDlqTruncated).value_or(""), "key-columns-only");
  EXPECT_EQ(msgs[1].data(), "");
  EXPECT_EQ(msgs[1].header(wire::header::kDlqTruncated).value_or(""), "payload-dropped");
  EXPECT_EQ(msgs[2].data(), "");
  EXPECT_EQ(msgs[2].header(wire::header::kDlqTruncated).value_or(""), "payload-dropped");
  EXPECT_EQ(msgs[3].data(), std::string(100, 'w')) << "at the cap is whole";
  EXPECT_FALSE(msgs[3].header(wire::header::kDlqTruncated).has_value());
}

TEST_F(DeadLetterWriterTest, AWriterWithoutAConnectionBuildsTheSameMessageAndCounts) {
  DeadLetterWriter w({.stage = "normalizer"});
  const double before = Count("normalizer", "unknown_venue");
  Message m = w.Build({.reason = "unknown_venue",
                       .error = "no decoder",
                       .subject = "md.raw.x",
                       .input_msg_id = "x:c:1",
                       .payload = "p"});
  EXPECT_EQ(m.subject, "dlq.normalizer");
  EXPECT_EQ(m.msg_id, "dlq:normalizer:x:c:1");
  EXPECT_EQ(m.data, "p");
  EXPECT_EQ(Count("normalizer", "unknown_venue"), before + 1);
  EXPECT_TRUE(absl::IsFailedPrecondition(w.Write({.reason = "r", .input_msg_id = "y"})));
}

}  // namespace
}  // namespace sa::bus
