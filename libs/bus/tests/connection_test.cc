#include "bus/connection.h"

#include <condition_variable>
#include <mutex>
#include <vector>

#include "bus/core_publisher.h"
#include "bus_test_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/nats_server.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa::bus {
namespace {

using ::testing::Contains;
using ::testing::Pair;
using test::FastConfig;

// Collects messages delivered to a handler; waits for a count.
class Inbox {
 public:
  Connection::MessageHandler Handler() {
    return [this](const InboundMessage& m) {
      std::lock_guard<std::mutex> lock(mu_);
      messages_.push_back(m);
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return messages_.size() >= n; });
  }
  std::vector<InboundMessage> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<InboundMessage> messages_;
};

class ConnectionTest : public test::NatsFixture {};

TEST_F(ConnectionTest, RoundTripsCoreMessagesWithHeaders) {
  Inbox inbox;
  auto sub = conn_->Subscribe("t.>", inbox.Handler());
  ASSERT_TRUE(sub.ok()) << sub.status();
  ASSERT_TRUE(conn_->Flush(absl::Seconds(5)).ok());  // subscription registered
  ASSERT_TRUE(conn_->Publish("t.a", "hello", {{"k", "v1"}, {"k", "v2"}, {"x", "y"}}).ok());
  ASSERT_TRUE(inbox.WaitFor(1, absl::Seconds(5)));
  const InboundMessage m = inbox.messages()[0];
  EXPECT_EQ(m.subject, "t.a");
  EXPECT_EQ(m.data, "hello");
  EXPECT_THAT(m.headers, Contains(Pair("k", "v1")));
  EXPECT_THAT(m.headers, Contains(Pair("k", "v2")));
  EXPECT_THAT(m.headers, Contains(Pair("x", "y")));
  EXPECT_TRUE(conn_->IsConnected());
}

TEST_F(ConnectionTest, DestroyingTheSubscriptionUnsubscribes) {
  Inbox gone, witness;
  auto sub = conn_->Subscribe("u", gone.Handler());
  auto witness_sub = conn_->Subscribe("u", witness.Handler());
  ASSERT_TRUE(sub.ok() && witness_sub.ok());
  ASSERT_TRUE(conn_->Flush(absl::Seconds(5)).ok());
  ASSERT_TRUE(conn_->Publish("u", "1").ok());
  ASSERT_TRUE(gone.WaitFor(1, absl::Seconds(5)));
  sub->reset();
  ASSERT_TRUE(conn_->Publish("u", "2").ok());
  ASSERT_TRUE(witness.WaitFor(2, absl::Seconds(5)));
  EXPECT_EQ(gone.messages().size(), 1u);
}

TEST_F(ConnectionTest, CorePublisherSetsTheMsgIdHeader) {
  Inbox inbox;
  auto sub = conn_->Subscribe("c", inbox.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(conn_->Flush(absl::Seconds(5)).ok());
  CorePublisher pub(*conn_);
  ASSERT_TRUE(pub.Publish(Message{"c", "d", "id-1", {}}).ok());
  ASSERT_TRUE(pub.Flush(absl::Seconds(5)).ok());
  ASSERT_TRUE(inbox.WaitFor(1, absl::Seconds(5)));
  EXPECT_THAT(inbox.messages()[0].headers, Contains(Pair(kMsgIdHeader, "id-1")));
}

TEST_F(ConnectionTest, ReconnectsByItselfAfterAServerRestart) {
  const double reconnected_before = test::EventCount("reconnected");
  Inbox inbox;
  auto sub = conn_->Subscribe("r", inbox.Handler());
  ASSERT_TRUE(sub.ok());
  ASSERT_TRUE(server_->Restart().ok());
  ASSERT_TRUE(sa::testing::WaitFor([&] { return conn_->stats().reconnects >= 1; }, absl::Seconds(10)));
  EXPECT_TRUE(conn_->IsConnected());
  EXPECT_GE(conn_->stats().disconnects, 1u);
  EXPECT_GE(test::EventCount("reconnected"), reconnected_before + 1);
  // The subscription was re-established on the new server.
  ASSERT_TRUE(conn_->Publish("r", "after").ok());
  ASSERT_TRUE(inbox.WaitFor(1, absl::Seconds(5)));
}

TEST(Connection, ConnectReturnsPromptlyBeforeTheServerIsUpAndConnectsLater) {
  auto port = sa::testing::PickFreePort();
  ASSERT_TRUE(port.ok());
  const std::string url = "nats://127.0.0.1:" + std::to_string(*port);
  const double connected_before = test::EventCount("connected");

  const absl::Time start = absl::Now();
  auto conn = Connection::Connect(FastConfig(url));
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_LT(took, absl::Seconds(1));
  EXPECT_FALSE((*conn)->IsConnected());
  EXPECT_FALSE((*conn)->WaitConnected(absl::Milliseconds(50)));

  sa::testing::NatsServer::Options opts;
  opts.port = *port;
  auto server = sa::testing::NatsServer::Start(opts);
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*conn)->WaitConnected(absl::Seconds(10)));
  EXPECT_TRUE((*conn)->IsConnected());
  EXPECT_EQ((*conn)->stats().connects, 1u);
  EXPECT_GE(test::EventCount("connected"), connected_before + 1);
  EXPECT_TRUE((*conn)->Publish("x", "y").ok());
  EXPECT_TRUE((*conn)->Flush(absl::Seconds(5)).ok());
}

TEST(Connection, RejectsAMissingTlsCaFile) {
  auto cfg = FastConfig("nats://127.0.0.1:1");
  cfg.mutable_tls()->set_enabled(true);
  cfg.mutable_tls()->set_ca_file("/nonexistent/ca.pem");
  auto conn = Connection::Connect(cfg);
  ASSERT_FALSE(conn.ok());
  EXPECT_THAT(std::string(conn.status().message()), ::testing::HasSubstr("Connect"));
}

TEST(Connection, CloseAndDrainAreIdempotent) {
  auto server = sa::testing::NatsServer::Start();
  ASSERT_TRUE(server.ok());
  auto conn = Connection::Connect(FastConfig((*server)->url()));
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE((*conn)->WaitConnected(absl::Seconds(5)));
  EXPECT_TRUE((*conn)->Drain(absl::Seconds(5)).ok());
  EXPECT_FALSE((*conn)->IsConnected());
  (*conn)->Close();
  EXPECT_FALSE((*conn)->Publish("x", "y").ok());
}

}  // namespace
}  // namespace sa::bus
