// Where end-to-end tests find the binaries under test and the recordings.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "bus/connection.h"
#include "testing/nats_server.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"

namespace sa::e2e {

using testing::BinDir;

// A recording of shared/fixtures/exchanges: SA_FIXTURES_DIR, else
// <source dir>/../shared/fixtures/exchanges.
inline std::string Fixture(const std::string& name) {
  if (const char* f = std::getenv("SA_FIXTURES_DIR")) return absl::StrCat(f, "/", name);
  const char* s = std::getenv("SA_SOURCE_DIR");
  return absl::StrCat(s ? s : ".", "/../shared/fixtures/exchanges/", name);
}

// One ingest source, an item of `sources:`, named `name`, that replays the
// recording `file` (see Fixture) at `speed` times its pace ("0": as fast as it
// reads).
inline std::string ReplaySourceYaml(const std::string& name, const std::string& file, const std::string& speed) {
  return absl::StrCat("  - {name: ", name, ", kind: replay, replay: {path: \"", Fixture(file), "\", speed: ", speed,
                      "}}\n");
}

// A fresh nats-server (JetStream), a scratch directory for configs and logs,
// and the test's own NATS connection, per test.
class NatsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto nats = testing::NatsServer::Start();
    ASSERT_TRUE(nats.ok()) << nats.status();
    nats_ = std::move(*nats);
    auto dir = testing::TempDir::Create("e2e");
    ASSERT_TRUE(dir.ok()) << dir.status();
    dir_ = std::make_unique<testing::TempDir>(std::move(*dir));
    streamadmin::config::v1::NatsConfig cfg;
    cfg.add_servers(nats_->url());
    auto conn = bus::Connection::Connect(cfg);
    ASSERT_TRUE(conn.ok()) << conn.status();
    conn_ = std::move(*conn);
    ASSERT_TRUE(conn_->WaitConnected(absl::Seconds(10)));
  }

  std::unique_ptr<testing::NatsServer> nats_;
  std::unique_ptr<testing::TempDir> dir_;
  std::unique_ptr<bus::Connection> conn_;
};

// NatsTest plus a fresh PostgreSQL per test, `pg_` (the CDC source).
class NatsPostgresTest : public NatsTest {
 protected:
  void SetUp() override {
    NatsTest::SetUp();
    auto pg = testing::PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
  }

  std::unique_ptr<testing::PostgresServer> pg_;
};

}  // namespace sa::e2e
