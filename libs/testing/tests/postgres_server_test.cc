#include "testing/postgres_server.h"

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace sa::testing {
namespace {

class PostgresServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = PostgresServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    pg_ = std::move(*server);
  }
  std::unique_ptr<PostgresServer> pg_;
};

TEST_F(PostgresServerTest, AnswersQueriesOverTcpWithLogicalReplicationOn) {
  EXPECT_EQ(pg_->dsn(), "host=127.0.0.1 port=" + std::to_string(pg_->port()) +
                            " user=postgres dbname=postgres");
  auto one = pg_->Query("select 1");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, "1");
  auto wal = pg_->Query("show wal_level");
  ASSERT_TRUE(wal.ok()) << wal.status();
  EXPECT_EQ(*wal, "logical");
  auto slots = pg_->Query("show max_replication_slots");
  ASSERT_TRUE(slots.ok());
  EXPECT_EQ(*slots, "10");
  // A logical slot can be created (needs wal_level=logical + pgoutput).
  ASSERT_TRUE(pg_->Exec("select pg_create_logical_replication_slot('t', 'pgoutput')").ok());
}

TEST_F(PostgresServerTest, ReportsSqlErrors) {
  auto r = pg_->Query("select * from no_such_table");
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), ::testing::HasSubstr("no_such_table"));
}

TEST_F(PostgresServerTest, DataSurvivesRestartAndCrash) {
  ASSERT_TRUE(pg_->Exec("create table t(id int primary key, v text)").ok());
  ASSERT_TRUE(pg_->Exec("insert into t values (1, 'one')").ok());
  const int port = pg_->port();

  ASSERT_TRUE(pg_->Restart().ok());
  EXPECT_EQ(pg_->port(), port);
  auto v = pg_->Query("select v from t where id = 1");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(*v, "one");

  ASSERT_TRUE(pg_->Exec("insert into t values (2, 'two')").ok());
  ASSERT_TRUE(pg_->Kill().ok());
  EXPECT_FALSE(pg_->Query("select 1").ok());
  ASSERT_TRUE(pg_->Resume().ok());
  auto n = pg_->Query("select count(*) from t");
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, "2");
  EXPECT_THAT(ZombieChildren(), ::testing::IsEmpty());
}

TEST(PostgresServer, DestructorStopsTheServerAndRemovesTheDirectory) {
  std::string dir;
  {
    auto server = PostgresServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    dir = (*server)->data_dir();
    ASSERT_TRUE((*server)->Exec("select 1").ok());
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_THAT(ZombieChildren(), ::testing::IsEmpty());
}

}  // namespace
}  // namespace sa::testing
