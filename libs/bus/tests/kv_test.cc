#include "bus/kv.h"

#include "bus_test_util.h"
#include "gtest/gtest.h"
#include "testing/wait.h"

namespace sa::bus {
namespace {

class KeyValueTest : public test::NatsFixture {};

TEST_F(KeyValueTest, PutGetDelete) {
  auto kv = KeyValue::Create(*js_, "checkpoints");
  ASSERT_TRUE(kv.ok()) << kv.status();
  auto missing = (*kv)->Get("nope");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_FALSE(missing->has_value());

  auto rev1 = (*kv)->Put("slot", "0/16B3748");
  ASSERT_TRUE(rev1.ok()) << rev1.status();
  auto rev2 = (*kv)->Put("slot", std::string("bin\0ary", 7));
  ASSERT_TRUE(rev2.ok());
  EXPECT_GT(*rev2, *rev1);
  auto v = (*kv)->Get("slot");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->value_or(""), std::string("bin\0ary", 7));

  ASSERT_TRUE((*kv)->Delete("slot").ok());
  v = (*kv)->Get("slot");
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->has_value());

  // Creating again opens the same bucket.
  auto again = KeyValue::Create(*js_, "checkpoints");
  ASSERT_TRUE(again.ok()) << again.status();
  auto none = KeyValue::Open(*js_, "no_such_bucket");
  EXPECT_FALSE(none.ok());
}

TEST_F(KeyValueTest, ValuesSurviveAServerRestart) {
  auto kv = KeyValue::Create(*js_, "state");
  ASSERT_TRUE(kv.ok()) << kv.status();
  ASSERT_TRUE((*kv)->Put("cursor", "42").ok());
  ASSERT_TRUE(server_->Restart().ok());
  // Every KV call is a request: it fails until the client has reconnected.
  EXPECT_TRUE(sa::testing::WaitFor(
      [&] {
        auto v = (*kv)->Get("cursor");
        return v.ok() && v->value_or("") == "42";
      },
      absl::Seconds(15)));
  auto reopened = KeyValue::Open(*js_, "state");
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto v = (*reopened)->Get("cursor");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->value_or(""), "42");
}

}  // namespace
}  // namespace sa::bus
