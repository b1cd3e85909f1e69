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

TEST_F(KeyValueTest, CompareAndSetRefusesAWriterThatIsBehind) {
  auto kv = KeyValue::Create(*js_, "leases");
  ASSERT_TRUE(kv.ok()) << kv.status();
  auto first = (*kv)->PutIfAbsent("view.a", "replica-1");
  ASSERT_TRUE(first.ok()) << first.status();
  auto taken = (*kv)->PutIfAbsent("view.a", "replica-2");
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kFailedPrecondition) << taken.status();

  auto renewed = (*kv)->PutIfRevision("view.a", "replica-1", *first);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  auto stale = (*kv)->PutIfRevision("view.a", "replica-2", *first);  // read before the renewal
  EXPECT_EQ(stale.status().code(), absl::StatusCode::kFailedPrecondition) << stale.status();
  auto entry = (*kv)->GetEntry("view.a");
  ASSERT_TRUE(entry.ok() && entry->has_value());
  EXPECT_EQ((*entry)->value, "replica-1");
  EXPECT_EQ((*entry)->revision, *renewed);

  // A deleted key can be created again.
  ASSERT_TRUE((*kv)->Delete("view.a").ok());
  EXPECT_TRUE((*kv)->PutIfAbsent("view.a", "replica-2").ok());
  auto keys = (*kv)->Keys();
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(*keys, std::vector<std::string>{"view.a"});
}

TEST_F(KeyValueTest, AWatcherSeesTheCurrentValuesThenEveryChange) {
  auto kv = KeyValue::Create(*js_, "defs");
  ASSERT_TRUE(kv.ok()) << kv.status();
  auto empty = (*kv)->Keys();
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->empty());
  ASSERT_TRUE((*kv)->Put("view.a", "1").ok());
  ASSERT_TRUE((*kv)->Put("other", "x").ok());
  auto w = (*kv)->Watch("view.>");
  ASSERT_TRUE(w.ok()) << w.status();
  auto next = [&] {
    auto e = (*w)->Next(absl::Seconds(5));
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : std::nullopt;
  };
  auto a = next();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->key, "view.a");
  EXPECT_EQ(a->value, "1");
  EXPECT_FALSE(next().has_value());  // the initial values are done
  ASSERT_TRUE((*kv)->Put("view.b", "2").ok());
  ASSERT_TRUE((*kv)->Delete("view.a").ok());
  auto b = next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->key, "view.b");
  EXPECT_FALSE(b->deleted);
  auto gone = next();
  ASSERT_TRUE(gone.has_value());
  EXPECT_EQ(gone->key, "view.a");
  EXPECT_TRUE(gone->deleted);
  EXPECT_EQ((*w)->Next(absl::Milliseconds(50)).status().code(), absl::StatusCode::kDeadlineExceeded);
  (*w)->Stop();
  EXPECT_EQ((*w)->Next(absl::Seconds(5)).status().code(), absl::StatusCode::kFailedPrecondition);
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
