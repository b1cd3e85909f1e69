// Servers shared by every test of a suite: started in SetUpTestSuite, before
// its first test, and stopped in TearDownTestSuite, after its last. `Suite` is
// the deriving fixture, so that each suite has servers of its own.
//
// A fixture that sets up more hides these and calls them first:
//   static void SetUpTestSuite() {
//     ASSERT_NO_FATAL_FAILURE(PostgresSuite::SetUpTestSuite());
//     ...
//   }
// and, in TearDownTestSuite, stops what uses the servers before calling
// theirs.
//
// Header-only: needs gtest, which sa::testing does not link.
#pragma once

#include <gtest/gtest.h>

#include "testing/nats_server.h"
#include "testing/postgres_server.h"

namespace sa::testing {

// One PostgreSQL, `pg_`.
template <typename Suite>
class PostgresSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto pg = PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = pg->release();
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
  }

  inline static PostgresServer* pg_ = nullptr;
};

// A nats-server (JetStream), `nats_`, and a PostgreSQL, `pg_`.
template <typename Suite>
class NatsPostgresSuite : public PostgresSuite<Suite> {
 protected:
  static void SetUpTestSuite() {
    auto nats = NatsServer::Start();
    ASSERT_TRUE(nats.ok()) << nats.status();
    nats_ = nats->release();
    PostgresSuite<Suite>::SetUpTestSuite();
  }
  static void TearDownTestSuite() {
    PostgresSuite<Suite>::TearDownTestSuite();
    delete nats_;
    nats_ = nullptr;
  }

  inline static NatsServer* nats_ = nullptr;
};

}  // namespace sa::testing
