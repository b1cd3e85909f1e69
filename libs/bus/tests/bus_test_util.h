// Shared setup for the libs/bus integration tests.
#pragma once

#include <memory>
#include <string>

#include "bus/connection.h"
#include "bus/jetstream.h"
#include "gtest/gtest.h"
#include "observability/metrics.h"
#include "streamadmin/config/v1/config.pb.h"
#include "testing/nats_server.h"

namespace sa::bus::test {

// Fast reconnects so restart tests stay short.
inline streamadmin::config::v1::NatsConfig FastConfig(const std::string& url) {
  streamadmin::config::v1::NatsConfig cfg;
  cfg.add_servers(url);
  cfg.set_name("bus-test");
  cfg.set_reconnect_wait_ms(20);
  cfg.set_reconnect_max_wait_ms(250);
  cfg.set_reconnect_jitter_ms(10);
  return cfg;
}

inline double EventCount(const char* event) {
  return obs::MetricsRegistry::Default()
      .GetCounter("streamadmin_bus_connection_events_total", "", {{"event", event}})
      .Value();
}

inline streamadmin::config::v1::StreamConfig Stream(const std::string& name,
                                                    const std::string& subject) {
  streamadmin::config::v1::StreamConfig s;
  s.set_name(name);
  s.add_subjects(subject);
  return s;
}

inline streamadmin::config::v1::ConsumerConfig Consumer(const std::string& stream,
                                                        const std::string& durable) {
  streamadmin::config::v1::ConsumerConfig c;
  c.set_stream(stream);
  c.set_durable(durable);
  return c;
}

// Stream `name` on `subject`, a durable `durable` with standing pull requests
// for `prefetch` messages, and a subscription bound to it.
inline absl::StatusOr<std::unique_ptr<PullSubscription>> PrefetchingSubscription(
    JetStream& js, const std::string& name, const std::string& subject, const std::string& durable,
    uint32_t prefetch) {
  if (absl::Status st = js.EnsureStream(Stream(name, subject)); !st.ok()) return st;
  auto c = Consumer(name, durable);
  c.set_prefetch(prefetch);
  if (absl::Status st = js.EnsurePullConsumer(c); !st.ok()) return st;
  return js.PullSubscribe(c);
}

// A nats-server, a connection to it and a JetStream context.
class NatsFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = sa::testing::NatsServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto conn = Connection::Connect(FastConfig(server_->url()));
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = std::move(*conn);
    ASSERT_TRUE(conn_->WaitConnected(absl::Seconds(10)));
    auto js = JetStream::Create(*conn_);
    ASSERT_TRUE(js.ok()) << js.status();
    js_ = std::move(*js);
  }

  std::unique_ptr<sa::testing::NatsServer> server_;
  std::unique_ptr<Connection> conn_;
  std::unique_ptr<JetStream> js_;
};

}  // namespace sa::bus::test
