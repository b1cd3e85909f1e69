// The cdc-bridge end-to-end fixture: a real PostgreSQL 15 (logical
// replication, plus a "warehouse" database), a real nats-server, the
// cdc-bridge binary reading the source, and (for the tests that look at the
// warehouse) the warehouse-sink binary writing the "warehouse" database.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bus/connection.h"
#include "bus/jetstream.h"
#include "cli/control_client.h"
#include "e2e_util.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace sa::e2e {

namespace cdcpb = streamadmin::cdc::v1;

struct Stored {
  std::string subject;
  std::string msg_id;
  cdcpb::ChangeEvent event;
  std::map<std::string, std::string> headers;
};

inline const cdcpb::Column* Find(const google::protobuf::RepeatedPtrField<cdcpb::Column>& cols, const std::string& name) {
  for (const auto& c : cols)
    if (c.name() == name) return &c;
  return nullptr;
}

inline std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

class CdcBridgeE2E : public e2e::NatsPostgresTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(e2e::NatsPostgresTest::SetUp());
    ASSERT_TRUE(pg_->Exec("CREATE DATABASE warehouse").ok());
  }

  struct Bridge {
    std::unique_ptr<testing::Process> process;
    std::string target;
    int http_port = 0;
  };
  using Sink = Bridge;  // a running warehouse-sink

  // `wait_streaming`: return once the slot streams (changes from then on are captured).
  Bridge StartBridge(const std::string& extra_config = "", bool wait_streaming = true) {
    int grpc_port = *testing::PickFreePort();
    int http_port = *testing::PickFreePort();
    std::string cfg = absl::StrCat(dir_->path(), "/cdc-bridge.yaml");
    std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port << "\n  http_listen: 127.0.0.1:"
                       << http_port << "\n  shutdown_grace_s: 5\nnats:\n  servers: [" << nats_->url()
                       << "]\nsource:\n  dsn: \"" << pg_->dsn()
                       << "\"\nconnector:\n  server_name: pg\n  slot_name: e2e_slot\n  publication_name: e2e_pub\n"
                       << "  heartbeat_interval_s: 1\n  status_interval_ms: 200\n  lag_refresh_interval_ms: 200\n"
                       << extra_config;
    testing::Process::Options opts;
    opts.log_file = absl::StrCat(dir_->path(), "/cdc-bridge.log");
    auto p = testing::Process::Spawn({e2e::BinDir() + "/cdc-bridge", "--config", cfg}, opts);
    EXPECT_TRUE(p.ok()) << p.status();
    Bridge b{std::move(*p), absl::StrCat("127.0.0.1:", grpc_port), http_port};
    cli::ControlClient client(b.target, absl::Seconds(2));
    EXPECT_TRUE(testing::WaitFor([&] { return client.Health().ok(); }, absl::Seconds(30))) << b.process->Output();
    if (!wait_streaming) return b;
    // Streaming: the slot exists, so changes from here on are captured.
    EXPECT_TRUE(testing::WaitFor(
        [&] {
          auto st = client.GetStatus();
          return st.ok() && st->details().count("streaming") && st->details().at("streaming") == "true";
        },
        absl::Seconds(30)))
        << b.process->Output();
    return b;
  }

  // warehouse-sink (both parts) writing the "warehouse" database of the
  // fixture's server, or `warehouse_dsn`; `extra_config`: more top-level YAML.
  // Returns once it answers health.
  Sink StartSink(const std::string& extra_config = "", const std::string& warehouse_dsn = "") {
    int grpc_port = *testing::PickFreePort();
    int http_port = *testing::PickFreePort();
    std::string cfg = absl::StrCat(dir_->path(), "/warehouse-sink.yaml");
    std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port << "\n  http_listen: 127.0.0.1:"
                       << http_port << "\n  shutdown_grace_s: 5\nnats:\n  servers: [" << nats_->url()
                       << "]\nwarehouse:\n  dsn: \""
                       << (warehouse_dsn.empty() ? absl::StrCat(pg_->dsn(), " dbname=warehouse") : warehouse_dsn)
                       << "\"\n"
                       << extra_config;
    testing::Process::Options opts;
    opts.log_file = absl::StrCat(dir_->path(), "/warehouse-sink.log");
    auto p = testing::Process::Spawn({e2e::BinDir() + "/warehouse-sink", "--config", cfg}, opts);
    EXPECT_TRUE(p.ok()) << p.status();
    Sink s{std::move(*p), absl::StrCat("127.0.0.1:", grpc_port), http_port};
    cli::ControlClient client(s.target, absl::Seconds(2));
    EXPECT_TRUE(testing::WaitFor([&] { return client.Health().ok(); }, absl::Seconds(30))) << s.process->Output();
    return s;
  }

  // Every message of CDC under `filter`, through a fresh durable.
  std::vector<Stored> Read(const std::string& filter) {
    static int n = 0;
    std::vector<Stored> out;
    auto js = bus::JetStream::Create(*conn_);
    EXPECT_TRUE(js.ok());
    if (!js.ok()) return out;
    streamadmin::config::v1::ConsumerConfig c;
    c.set_stream(filter.rfind("dlq.", 0) == 0 ? "DLQ" : "CDC");
    c.set_durable(absl::StrCat("read", ++n));
    c.set_filter_subject(filter);
    c.set_max_ack_pending(100000);
    if (!(*js)->EnsurePullConsumer(c).ok()) return out;  // stream not created yet
    auto sub = (*js)->PullSubscribe(c);
    EXPECT_TRUE(sub.ok()) << sub.status();
    if (!sub.ok()) return out;
    while (true) {
      auto msgs = (*sub)->Fetch(1000, absl::Milliseconds(300));
      if (!msgs.ok() || msgs->empty()) break;
      for (auto& m : *msgs) {
        Stored s;
        s.subject = m.subject();
        s.msg_id = m.msg_id();
        for (const auto& [k, v] : m.headers()) s.headers[k] = v;
        if (absl::EndsWith(s.subject, ".heartbeat")) {
          EXPECT_THAT(m.data(), ::testing::HasSubstr("\"slot\":\"e2e_slot\"")) << "heartbeat is JSON";
        } else if (s.headers["Sa-Dlq-Reason"] != "undecodable" && !absl::StartsWith(s.headers["Sa-Dlq-Subject"], "md.")) {
          EXPECT_TRUE(s.event.ParseFromString(m.data())) << m.subject();
        }
        out.push_back(std::move(s));
        (void)m.Ack();
      }
    }
    return out;
  }

  std::string Sql(const std::string& q) {
    auto r = pg_->Query(q);
    EXPECT_TRUE(r.ok()) << q << ": " << r.status();
    return r.ok() ? *r : "";
  }
};

}  // namespace sa::e2e
