// ReplicationClient + decoder against a real PostgreSQL 15 (wal_level=logical).
// One server for the suite; every test has its own tables, publication and slot.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cdc/pgoutput.h"
#include "cdc/replication_client.h"
#include "cdc/value_mapping.h"
#include "testing/suite_servers.h"
#include "testing/wait.h"

namespace sa::cdc {
namespace {

using streamadmin::cdc::v1::ChangeEvent;
using streamadmin::cdc::v1::Column;
using streamadmin::cdc::v1::OP_CREATE;
using streamadmin::cdc::v1::OP_DELETE;
using streamadmin::cdc::v1::OP_TRUNCATE;
using streamadmin::cdc::v1::OP_UPDATE;
using streamadmin::cdc::v1::Value;
using ::testing::HasSubstr;

class CdcReplication : public sa::testing::PostgresSuite<CdcReplication> {
 protected:
  void Sql(const std::string& sql) {
    absl::Status st = pg_->Exec(sql);
    ASSERT_TRUE(st.ok()) << st;
  }
  std::string Q(const std::string& sql) {
    auto r = pg_->Query(sql);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : "";
  }
  int64_t QInt(const std::string& sql) {
    int64_t v = 0;
    EXPECT_TRUE(absl::SimpleAtoi(Q(sql), &v)) << sql;
    return v;
  }

  ReplicationOptions Options(const std::string& name, std::vector<std::string> tables) {
    ReplicationOptions o;
    o.conninfo = pg_->dsn();
    o.slot_name = name;
    o.publication_name = name;
    o.include_tables = std::move(tables);
    o.server_name = "pg1";
    o.status_interval = absl::Milliseconds(200);
    return o;
  }

  // Connect, ensure publication + slot, start. Returns the client.
  std::unique_ptr<ReplicationClient> StartClient(const ReplicationOptions& o,
                                                 SlotInfo* slot = nullptr) {
    auto c = ReplicationClient::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return nullptr;
    absl::Status st = (*c)->EnsurePublication();
    EXPECT_TRUE(st.ok()) << st;
    auto info = (*c)->EnsureSlot();
    EXPECT_TRUE(info.ok()) << info.status();
    if (slot && info.ok()) *slot = *info;
    st = (*c)->Start();
    EXPECT_TRUE(st.ok()) << st;
    return std::move(*c);
  }

  // Polls until `n` transactions arrived or 30 s passed.
  std::vector<Transaction> Collect(ReplicationClient& c, size_t n) {
    std::vector<Transaction> out;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (out.size() < n && absl::Now() < deadline) {
      auto got = c.Poll(absl::Milliseconds(500));
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok()) break;
      for (auto& t : *got) out.push_back(std::move(t));
    }
    EXPECT_EQ(out.size(), n);
    return out;
  }

  uint64_t SlotConfirmed(const std::string& slot) {
    auto lsn = ParseLsn(
        Q(absl::StrCat("select confirmed_flush_lsn from pg_replication_slots where slot_name = '",
                       slot, "'")));
    return lsn.ok() ? *lsn : 0;
  }
  void WaitSlotInactive(const std::string& slot) {
    ASSERT_TRUE(sa::testing::WaitFor(
        [&] {
          return Q(absl::StrCat("select active from pg_replication_slots where slot_name = '",
                                slot, "'")) == "f";
        },
        absl::Seconds(30)));
  }

  static const Column* Find(const google::protobuf::RepeatedPtrField<Column>& cols,
                            const std::string& name) {
    for (const Column& c : cols)
      if (c.name() == name) return &c;
    return nullptr;
  }
};

std::string Hex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

TEST_F(CdcReplication, DecodesEveryMappedTypeAsSqlSeesIt) {
  Sql(R"(create table types_t (
      id int8 primary key, i2 int2, i4 int4, n numeric, t text, vc varchar(20), bc char(5),
      b bool, ts timestamp, tstz timestamptz, d date, u uuid, j json, jb jsonb, by bytea,
      f4 float4, f8 float8, a_int int4[], a_text text[], a_num numeric[], nul text, p point))");
  auto client = StartClient(Options("types_slot", {"public.types_t"}));
  ASSERT_NE(client, nullptr);
  Sql(R"(set timezone = 'Asia/Kolkata'; insert into types_t values (
      9007199254740993, -32768, 2147483647,
      '-123456789012345678901234567890.123456789012345678901234567890', 'héllo, "world"',
      'var', 'ab', true, '2024-02-29 23:59:59.999999', '1999-12-31 23:30:00.5+05:30',
      '1900-03-01', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, 2]}',
      '{"b": {"c": null}, "a": 1.50}', '\x00ff7f0a', 0.1, -1.2345678901234567e-300,
      '{1,NULL,-3}', array['a b', 'q"uote', NULL, 'back\slash', 'NULL', '', '{x}'],
      '{1.10,NaN,-0.000000000000000000000001}', NULL, '(1.5,2)'))");
  Sql("update types_t set t = 'changed', f8 = 'Infinity' where id = 9007199254740993");
  Sql("delete from types_t");
  auto txs = Collect(*client, 3);
  ASSERT_EQ(txs.size(), 3u);
  ASSERT_EQ(txs[0].events.size(), 1u);
  const ChangeEvent& ins = txs[0].events[0];
  EXPECT_EQ(ins.op(), OP_CREATE);
  EXPECT_EQ(ins.table().server(), "pg1");
  EXPECT_EQ(ins.table().database(), "postgres");
  EXPECT_EQ(ins.table().schema(), "public");
  EXPECT_EQ(ins.table().table(), "types_t");
  EXPECT_EQ(ins.after_size(), 22);
  auto v = [&](const std::string& name) -> const Value& {
    const Column* c = Find(ins.after(), name);
    EXPECT_NE(c, nullptr) << name;
    static const Value kEmpty;
    return c ? c->value() : kEmpty;
  };
  // Expected values come from PostgreSQL itself (as of before the update).
  EXPECT_EQ(Find(ins.after(), "id")->type_name(), "int8");
  EXPECT_TRUE(Find(ins.after(), "id")->key());
  EXPECT_FALSE(Find(ins.after(), "i2")->key());
  EXPECT_EQ(v("id").int_value(), 9007199254740993);
  EXPECT_EQ(v("i2").int_value(), -32768);
  EXPECT_EQ(v("i4").int_value(), 2147483647);
  EXPECT_EQ(v("n").numeric_value(),
            Q("select '-123456789012345678901234567890.123456789012345678901234567890'::numeric"));
  EXPECT_EQ(v("t").text_value(), "héllo, \"world\"");
  EXPECT_EQ(v("vc").text_value(), "var");
  EXPECT_EQ(v("bc").text_value(), "ab   ");
  EXPECT_EQ(Find(ins.after(), "bc")->type_name(), "bpchar");
  EXPECT_TRUE(v("b").bool_value());
  EXPECT_EQ(v("ts").timestamp_us(),
            QInt("select (extract(epoch from timestamp '2024-02-29 23:59:59.999999') * 1000000)::int8"));
  EXPECT_EQ(v("tstz").timestamptz_us(),
            QInt("select (extract(epoch from timestamptz '1999-12-31 23:30:00.5+05:30') * 1000000)::int8"));
  EXPECT_EQ(v("d").date_days(), QInt("select date '1900-03-01' - date '1970-01-01'"));
  EXPECT_EQ(Hex(v("u").uuid_value()), "a0eebc999c0b4ef8bb6d6bb9bd380a11");
  EXPECT_EQ(v("j").json_value(), R"({"k": [1, 2]})");
  EXPECT_EQ(v("jb").json_value(), Q(R"(select '{"b": {"c": null}, "a": 1.50}'::jsonb::text)"));
  EXPECT_EQ(Hex(v("by").bytes_value()), "00ff7f0a");
  EXPECT_EQ(v("f4").float_value(), std::strtod(Q("select 0.1::float4::text").c_str(), nullptr));
  EXPECT_EQ(v("f8").float_value(), -1.2345678901234567e-300);
  ASSERT_EQ(v("a_int").array_value().elements_size(), 3);
  EXPECT_EQ(v("a_int").array_value().elements(0).int_value(), 1);
  EXPECT_TRUE(v("a_int").array_value().elements(1).null());
  EXPECT_EQ(v("a_int").array_value().elements(2).int_value(), -3);
  const std::vector<std::optional<std::string>> texts = {"a b", "q\"uote", std::nullopt,
                                                         "back\\slash", "NULL", "", "{x}"};
  ASSERT_EQ(v("a_text").array_value().elements_size(), static_cast<int>(texts.size()));
  for (size_t i = 0; i < texts.size(); ++i) {
    const Value& e = v("a_text").array_value().elements(static_cast<int>(i));
    if (texts[i]) {
      EXPECT_EQ(e.text_value(), *texts[i]) << i;
    } else {
      EXPECT_TRUE(e.null()) << i;
    }
  }
  EXPECT_EQ(Find(ins.after(), "a_text")->type_name(), "_text");
  ASSERT_EQ(v("a_num").array_value().elements_size(), 3);
  EXPECT_EQ(v("a_num").array_value().elements(0).numeric_value(), "1.10");
  EXPECT_EQ(v("a_num").array_value().elements(1).numeric_value(), "NaN");
  EXPECT_EQ(v("a_num").array_value().elements(2).numeric_value(),
            Q("select (-0.000000000000000000000001)::numeric::text"));
  EXPECT_TRUE(v("nul").null());
  EXPECT_EQ(v("p").text_value(), "(1.5,2)");  // no typed mapping: exact text
  EXPECT_EQ(Find(ins.after(), "p")->type_name(), "point");

  ASSERT_EQ(txs[1].events.size(), 1u);
  const ChangeEvent& upd = txs[1].events[0];
  EXPECT_EQ(upd.op(), OP_UPDATE);
  EXPECT_EQ(Find(upd.after(), "t")->value().text_value(), "changed");
  EXPECT_TRUE(std::isinf(Find(upd.after(), "f8")->value().float_value()));
  ASSERT_EQ(upd.before_size(), 1);  // DEFAULT identity, key unchanged: key of the row
  EXPECT_EQ(upd.before(0).value().int_value(), 9007199254740993);

  ASSERT_EQ(txs[2].events.size(), 1u);
  const ChangeEvent& del = txs[2].events[0];
  EXPECT_EQ(del.op(), OP_DELETE);
  ASSERT_EQ(del.before_size(), 1);  // DEFAULT: key columns only
  EXPECT_EQ(del.before(0).name(), "id");
  EXPECT_EQ(del.before(0).value().int_value(), 9007199254740993);
  EXPECT_EQ(del.after_size(), 0);
}

TEST_F(CdcReplication, ReportsAnUnchangedToastedColumnAsUnchangedToast) {
  Sql("create table toast_t (id int primary key, small int, big text)");
  Sql("alter table toast_t alter column big set storage external");
  auto client = StartClient(Options("toast_slot", {"toast_t"}));
  ASSERT_NE(client, nullptr);
  Sql("insert into toast_t values (1, 1, repeat('0123456789', 1000))");
  Sql("update toast_t set small = 2 where id = 1");
  Sql("update toast_t set big = 'short now' where id = 1");
  auto txs = Collect(*client, 3);
  ASSERT_EQ(txs.size(), 3u);
  EXPECT_EQ(Find(txs[0].events[0].after(), "big")->value().text_value().size(), 10000u);
  const Column* big = Find(txs[1].events[0].after(), "big");
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(big->value().kind_case(), Value::kUnchangedToast);
  EXPECT_TRUE(big->value().unchanged_toast());
  EXPECT_EQ(Find(txs[1].events[0].after(), "small")->value().int_value(), 2);
  EXPECT_EQ(Find(txs[2].events[0].after(), "big")->value().text_value(), "short now");
}

TEST_F(CdcReplication, DecodesTransactionsInOrderWithReplicaIdentityAndTruncate) {
  Sql("create table full_t (id int primary key, v text, w int)");
  Sql("alter table full_t replica identity full");
  Sql("create table def_t (id int primary key, v text)");
  auto client = StartClient(Options("tx_slot", {"full_t", "def_t"}));
  ASSERT_NE(client, nullptr);
  const int64_t txid = QInt(
      "insert into full_t values (1, 'a', 10), (2, 'b', 20); insert into def_t values (1, 'x');"
      " update full_t set v = 'A' where id = 1; delete from def_t where id = 1;"
      " select txid_current()");
  Sql("delete from full_t where id = 2");
  Sql("insert into def_t values (5, 'y'); truncate def_t");
  auto txs = Collect(*client, 3);
  ASSERT_EQ(txs.size(), 3u);

  const Transaction& t0 = txs[0];
  EXPECT_EQ(t0.xid, static_cast<uint32_t>(txid));
  ASSERT_EQ(t0.events.size(), 5u);
  const std::vector<std::pair<int, std::string>> ops = {
      {OP_CREATE, "full_t"}, {OP_CREATE, "full_t"}, {OP_CREATE, "def_t"},
      {OP_UPDATE, "full_t"}, {OP_DELETE, "def_t"}};
  uint64_t last_event_lsn = 0;
  for (size_t i = 0; i < t0.events.size(); ++i) {
    const ChangeEvent& e = t0.events[i];
    EXPECT_EQ(e.op(), ops[i].first) << i;
    EXPECT_EQ(e.table().table(), ops[i].second) << i;
    EXPECT_EQ(e.source().index(), i);
    EXPECT_EQ(e.transaction_order(), i + 1);
    EXPECT_EQ(e.transaction_total(), 5u);
    EXPECT_EQ(e.source().txid(), static_cast<uint64_t>(txid));
    EXPECT_EQ(e.source().lsn(), t0.commit_lsn);
    EXPECT_GT(e.source().event_lsn(), last_event_lsn);
    EXPECT_LE(e.source().event_lsn(), t0.commit_lsn);
    last_event_lsn = e.source().event_lsn();
  }
  EXPECT_GT(t0.end_lsn, t0.commit_lsn);
  EXPECT_NEAR(static_cast<double>(t0.commit_time_us),
              static_cast<double>(absl::ToUnixMicros(absl::Now())), 60e6);
  // REPLICA IDENTITY FULL: the whole old row.
  const ChangeEvent& upd = t0.events[3];
  ASSERT_EQ(upd.before_size(), 3);
  EXPECT_EQ(Find(upd.before(), "v")->value().text_value(), "a");
  EXPECT_EQ(Find(upd.before(), "w")->value().int_value(), 10);
  EXPECT_EQ(Find(upd.after(), "v")->value().text_value(), "A");
  // DEFAULT: key columns only.
  ASSERT_EQ(t0.events[4].before_size(), 1);
  EXPECT_EQ(t0.events[4].before(0).name(), "id");

  ASSERT_EQ(txs[1].events.size(), 1u);
  EXPECT_EQ(txs[1].events[0].op(), OP_DELETE);
  ASSERT_EQ(txs[1].events[0].before_size(), 3);
  EXPECT_EQ(Find(txs[1].events[0].before(), "w")->value().int_value(), 20);
  EXPECT_GT(txs[1].commit_lsn, t0.commit_lsn);

  ASSERT_EQ(txs[2].events.size(), 2u);
  EXPECT_EQ(txs[2].events[0].op(), OP_CREATE);
  EXPECT_EQ(txs[2].events[1].op(), OP_TRUNCATE);
  EXPECT_EQ(txs[2].events[1].table().table(), "def_t");
  EXPECT_EQ(txs[2].events[1].source().index(), 1u);
}

TEST_F(CdcReplication, SlotAdvancesOnlyToConfirmedLsnAndUnconfirmedIsRedelivered) {
  Sql("create table conf_t (id int primary key)");
  ReplicationOptions o = Options("conf_slot", {"conf_t"});
  SlotInfo slot;
  auto client = StartClient(o, &slot);
  ASSERT_NE(client, nullptr);
  EXPECT_TRUE(slot.created);
  EXPECT_FALSE(slot.snapshot_name.empty());
  EXPECT_GT(slot.consistent_point, 0u);
  Sql("insert into conf_t values (1)");
  Sql("insert into conf_t values (2)");
  auto txs = Collect(*client, 2);
  ASSERT_EQ(txs.size(), 2u);
  // Received but not confirmed: status updates keep going out (every 200 ms)
  // and must not move the slot.
  auto more = client->Poll(absl::Seconds(1));
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_TRUE(more->empty());
  EXPECT_EQ(SlotConfirmed("conf_slot"), slot.consistent_point);
  auto lag = client->SlotLagBytes();
  ASSERT_TRUE(lag.ok()) << lag.status();
  EXPECT_GT(*lag, 0u);

  client->Confirm(txs[0].end_lsn);
  client->Confirm(txs[0].commit_lsn);  // smaller: ignored
  EXPECT_EQ(client->confirmed_lsn(), txs[0].end_lsn);
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto r = client->Poll(absl::Milliseconds(50));
        return r.ok() && SlotConfirmed("conf_slot") >= txs[0].end_lsn;
      },
      absl::Seconds(30)));
  EXPECT_EQ(SlotConfirmed("conf_slot"), txs[0].end_lsn);

  // A new client resumes after the confirmed transaction: the second one
  // comes again (at-least-once), with the same position.
  client.reset();
  WaitSlotInactive("conf_slot");
  auto again = StartClient(o, &slot);
  ASSERT_NE(again, nullptr);
  EXPECT_FALSE(slot.created);
  EXPECT_EQ(slot.confirmed_flush_lsn, txs[0].end_lsn);
  auto redelivered = Collect(*again, 1);
  ASSERT_EQ(redelivered.size(), 1u);
  EXPECT_EQ(redelivered[0].commit_lsn, txs[1].commit_lsn);
  ASSERT_EQ(redelivered[0].events.size(), 1u);
  EXPECT_EQ(redelivered[0].events[0].after(0).value().int_value(), 2);
  EXPECT_EQ(redelivered[0].events[0].source().index(), txs[1].events[0].source().index());

  again->Confirm(redelivered[0].end_lsn);
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto r = again->Poll(absl::Milliseconds(50));
        return r.ok() && SlotConfirmed("conf_slot") >= txs[1].end_lsn;
      },
      absl::Seconds(30)));
  again.reset();
  WaitSlotInactive("conf_slot");
  auto third = StartClient(o);
  ASSERT_NE(third, nullptr);
  Sql("insert into conf_t values (3)");
  auto fresh = Collect(*third, 1);
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_EQ(fresh[0].events[0].after(0).value().int_value(), 3);  // nothing older
}

TEST_F(CdcReplication, IdleKeepalivesAdvanceTheSlotPastWalOutsideThePublication) {
  Sql("create table idle_t (id int primary key)");
  Sql("create table other_t (id int primary key)");
  auto client = StartClient(Options("idle_slot", {"idle_t"}));
  ASSERT_NE(client, nullptr);
  Sql("insert into other_t select generate_series(1, 1000)");
  auto target = ParseLsn(Q("select pg_current_wal_lsn()"));
  ASSERT_TRUE(target.ok());
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto r = client->Poll(absl::Milliseconds(50));
        EXPECT_TRUE(r.ok() && r->empty());
        return SlotConfirmed("idle_slot") >= *target;
      },
      absl::Seconds(30)));
  auto lag = client->SlotLagBytes();
  ASSERT_TRUE(lag.ok());
}

TEST_F(CdcReplication, TableWithoutKeyStreamsInsertsAndPostgresRefusesUpdatesUntilIdentitySet) {
  Sql("create table nokey_t (a int, b text)");
  auto client = StartClient(Options("nokey_slot", {"nokey_t"}));
  ASSERT_NE(client, nullptr);
  Sql("insert into nokey_t values (1, 'one')");
  absl::Status refused = pg_->Exec("update nokey_t set b = 'uno'");
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.message()), HasSubstr("does not have a replica identity"));
  EXPECT_FALSE(pg_->Exec("delete from nokey_t").ok());
  Sql("alter table nokey_t replica identity full");
  Sql("update nokey_t set b = 'uno'");
  auto txs = Collect(*client, 2);
  ASSERT_EQ(txs.size(), 2u);
  ASSERT_EQ(txs[0].events.size(), 1u);
  EXPECT_EQ(txs[0].events[0].op(), OP_CREATE);
  for (const Column& c : txs[0].events[0].after()) EXPECT_FALSE(c.key());
  ASSERT_EQ(txs[1].events.size(), 1u);
  EXPECT_EQ(txs[1].events[0].op(), OP_UPDATE);
  ASSERT_EQ(txs[1].events[0].before_size(), 2);
  EXPECT_EQ(Find(txs[1].events[0].before(), "b")->value().text_value(), "one");
}

TEST_F(CdcReplication, NamesUserTypesFromTypeMessagesAndKeepsTheirText) {
  Sql("create type mood as enum ('sad', 'happy')");
  Sql("create table enum_t (id int primary key, m mood, ms mood[], inet_v inet)");
  auto client = StartClient(Options("enum_slot", {"enum_t"}));
  ASSERT_NE(client, nullptr);
  Sql("insert into enum_t values (1, 'happy', '{sad,happy}', '10.0.0.1/8')");
  auto txs = Collect(*client, 1);
  ASSERT_EQ(txs.size(), 1u);
  const auto& after = txs[0].events[0].after();
  EXPECT_EQ(Find(after, "m")->type_name(), "public.mood");
  EXPECT_EQ(Find(after, "m")->value().text_value(), "happy");
  EXPECT_EQ(Find(after, "ms")->value().text_value(), "{sad,happy}");  // unmapped array: text
  EXPECT_EQ(Find(after, "inet_v")->type_name(), "inet");
  EXPECT_EQ(Find(after, "inet_v")->value().text_value(), "10.0.0.1/8");
}

TEST_F(CdcReplication, PollFailsWhenTheServerRestartsAndANewClientResumesFromTheSlot) {
  Sql("create table restart_t (id int primary key)");
  ReplicationOptions o = Options("restart_slot", {"restart_t"});
  auto client = StartClient(o);
  ASSERT_NE(client, nullptr);
  Sql("insert into restart_t values (1)");
  auto txs = Collect(*client, 1);
  ASSERT_EQ(txs.size(), 1u);
  // Confirmed: the shutdown does not wait for us (it waits for the client to
  // report all sent WAL flushed). The slot position is written at the
  // shutdown checkpoint, which can precede this confirmation: the
  // transaction may come again (at-least-once), never out of order.
  client->Confirm(txs[0].end_lsn);
  ASSERT_TRUE(client->Poll(absl::Milliseconds(10)).ok());
  ASSERT_TRUE(pg_->Restart().ok());
  absl::Status failure;
  ASSERT_TRUE(sa::testing::WaitFor(
      [&] {
        auto r = client->Poll(absl::Milliseconds(100));
        failure = r.status();
        return !r.ok();
      },
      absl::Seconds(30)));
  EXPECT_EQ(failure.code(), absl::StatusCode::kUnavailable) << failure;
  client.reset();
  auto again = StartClient(o);
  ASSERT_NE(again, nullptr);
  Sql("insert into restart_t values (2)");
  std::vector<Transaction> after;
  auto has_two = [&] {
    return !after.empty() && !after.back().events.empty() &&
           after.back().events[0].after(0).value().int_value() == 2;
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!has_two() && absl::Now() < deadline) {
    auto more = again->Poll(absl::Milliseconds(500));
    ASSERT_TRUE(more.ok()) << more.status();
    for (auto& t : *more) after.push_back(std::move(t));
  }
  ASSERT_TRUE(has_two());
  ASSERT_LE(after.size(), 2u);
  if (after.size() == 2) {
    EXPECT_EQ(after[0].commit_lsn, txs[0].commit_lsn);
  }
  EXPECT_GT(after.back().commit_lsn, txs[0].commit_lsn);
}

TEST_F(CdcReplication, ReturnsTheServerMessageOnErrors) {
  ReplicationOptions o = Options("err_slot", {"no_such_table"});
  auto c = ReplicationClient::Connect(o);
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Status st = (*c)->EnsurePublication();
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("no_such_table"));
  EXPECT_FALSE((*c)->Start().ok());  // no such slot
  o.slot_name = "Bad-Name";
  EXPECT_EQ(ReplicationClient::Connect(o).status().code(), absl::StatusCode::kInvalidArgument);
  o = Options("err_slot", {});
  o.conninfo = "host=127.0.0.1 port=1 user=postgres connect_timeout=5";
  EXPECT_EQ(ReplicationClient::Connect(o).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace sa::cdc
