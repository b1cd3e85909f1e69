// The fixture of the warehouse writers' tests: a fresh PostgreSQL per test.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "testing/postgres_server.h"

namespace sa::warehouse {

class WarehousePgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = testing::PostgresServer::Start();
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = std::move(*pg);
  }

  // Connects a W (ChangeApplier, MarketDataWriter) to the test's PostgreSQL.
  template <typename W>
  void Connect(std::unique_ptr<W>* out) {
    auto w = W::Connect({.conninfo = pg_->dsn()});
    ASSERT_TRUE(w.ok()) << w.status();
    *out = std::move(*w);
  }

  // The text of a query's result ("" after a failure, which is reported).
  std::string Q(const std::string& sql) {
    auto r = pg_->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : "";
  }

  std::unique_ptr<testing::PostgresServer> pg_;
};

}  // namespace sa::warehouse
