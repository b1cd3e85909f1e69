// ChangeApplier against a real PostgreSQL: tables created and evolved from
// events, upserts/deletes/truncates, replays skipped, bad events rejected
// while the rest of the batch is applied.
#include "warehouse/change_applier.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "warehouse_pg_test.h"

namespace sa::warehouse {
namespace {

namespace cdcpb = streamadmin::cdc::v1;

struct Col {
  std::string name, type;
  std::optional<std::string> text;  // nullopt: NULL
  bool pk = false;
  bool toast = false;  // unchanged TOAST
};

void Fill(google::protobuf::RepeatedPtrField<cdcpb::Column>* out, const std::vector<Col>& cols) {
  for (const auto& c : cols) {
    auto* col = out->Add();
    col->set_name(c.name);
    col->set_type_name(c.type);
    col->set_primary_key(c.pk);
    col->set_key(c.pk);
    if (c.toast)
      col->mutable_value()->set_unchanged_toast(true);
    else if (!c.text)
      col->mutable_value()->set_null(true);
    else if (c.type == "int8" || c.type == "int4")
      col->mutable_value()->set_int_value(std::stoll(*c.text));
    else if (c.type == "numeric")
      col->mutable_value()->set_numeric_value(*c.text);
    else
      col->mutable_value()->set_text_value(*c.text);
  }
}

cdcpb::ChangeEvent Event(cdcpb::Op op, uint64_t lsn, uint32_t index, const std::vector<Col>& before,
                         const std::vector<Col>& after, const std::string& table = "items") {
  cdcpb::ChangeEvent e;
  e.set_op(op);
  e.mutable_table()->set_server("src");
  e.mutable_table()->set_database("db");
  e.mutable_table()->set_schema("public");
  e.mutable_table()->set_table(table);
  e.mutable_source()->set_lsn(lsn);
  e.mutable_source()->set_index(index);
  Fill(e.mutable_before(), before);
  Fill(e.mutable_after(), after);
  return e;
}

std::vector<Col> Row(int id, const std::string& name, const std::string& price) {
  return {{"id", "int8", std::to_string(id), true}, {"name", "text", name}, {"price", "numeric", price}};
}
std::vector<Col> Key(int id) { return {{"id", "int8", std::to_string(id), true}}; }

std::vector<const cdcpb::ChangeEvent*> Ptrs(const std::vector<cdcpb::ChangeEvent>& v) {
  std::vector<const cdcpb::ChangeEvent*> out;
  for (const auto& e : v) out.push_back(&e);
  return out;
}

class ChangeApplierTest : public WarehousePgTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(WarehousePgTest::SetUp());
    ASSERT_NO_FATAL_FAILURE(Connect(&applier_));
  }
  ApplyResult Apply(const std::vector<cdcpb::ChangeEvent>& events, uint64_t up_to) {
    auto r = applier_->Apply("src", Ptrs(events), up_to);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : ApplyResult{};
  }
  std::unique_ptr<ChangeApplier> applier_;
};

TEST_F(ChangeApplierTest, CreatesTableWithSourceKeyAndAppliesNetEffectOfBatch) {
  auto r = Apply({Event(cdcpb::OP_CREATE, 10, 0, {}, Row(1, "a", "1.10")),
                  Event(cdcpb::OP_CREATE, 10, 1, {}, Row(2, "b", "2.20")),
                  Event(cdcpb::OP_UPDATE, 20, 0, Key(1), Row(1, "a2", "1.11")),
                  Event(cdcpb::OP_DELETE, 20, 1, Key(2), {}),
                  Event(cdcpb::OP_CREATE, 30, 0, {}, Row(2, "b again", "2.00")),
                  Event(cdcpb::OP_UPDATE, 30, 1, Key(3), Row(4, "moved", "4")),  // key change of a row not here
                  Event(cdcpb::OP_CREATE, 30, 2, {}, Row(3, "three", "3"))},
                 30);
  EXPECT_EQ(r.applied, 7u);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(Q("SELECT string_agg(id || ':' || name || ':' || price, ',' ORDER BY id) FROM cdc_src_public.items"),
            "1:a2:1.11,2:b again:2.00,3:three:3,4:moved:4");
  EXPECT_EQ(Q("SELECT string_agg(a.attname, ',') FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND "
              "a.attnum = ANY(i.indkey) WHERE i.indrelid = 'cdc_src_public.items'::regclass AND i.indisprimary"),
            "id");
  EXPECT_EQ(Q("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'cdc_src_public.items'::regclass "
              "AND attname = 'price'"),
            "numeric");
  EXPECT_EQ(*applier_->AppliedLsn("src"), 30u);
}

TEST_F(ChangeApplierTest, SkipsReplayAtOrBelowPosition) {
  Apply({Event(cdcpb::OP_CREATE, 10, 0, {}, Row(1, "a", "1"))}, 10);
  Apply({Event(cdcpb::OP_UPDATE, 20, 0, Key(1), Row(1, "b", "2"))}, 20);
  // A crash replays both; neither may change anything.
  auto r = Apply({Event(cdcpb::OP_CREATE, 10, 0, {}, Row(1, "a", "1")),
                  Event(cdcpb::OP_UPDATE, 20, 0, Key(1), Row(1, "b", "2"))},
                 20);
  EXPECT_EQ(r.skipped, 2u);
  EXPECT_EQ(r.applied, 0u);
  EXPECT_EQ(Q("SELECT name || price FROM cdc_src_public.items"), "b2");
}

TEST_F(ChangeApplierTest, UnchangedToastKeepsWarehouseValue) {
  Apply({Event(cdcpb::OP_CREATE, 10, 0, {}, Row(1, "big text", "1"))}, 10);
  Apply({Event(cdcpb::OP_UPDATE, 20, 0, Key(1),
               {{"id", "int8", "1", true}, {"name", "text", std::nullopt, false, true}, {"price", "numeric", "5"}})},
        20);
  EXPECT_EQ(Q("SELECT name || '|' || price FROM cdc_src_public.items"), "big text|5");
}

TEST_F(ChangeApplierTest, AddsColumnsAndTruncates) {
  Apply({Event(cdcpb::OP_CREATE, 10, 0, {}, Row(1, "a", "1"))}, 10);
  auto row = Row(2, "b", "2");
  row.push_back({"note", "varchar", "new column"});
  Apply({Event(cdcpb::OP_CREATE, 20, 0, {}, row)}, 20);
  EXPECT_EQ(Q("SELECT coalesce(note, '-') FROM cdc_src_public.items ORDER BY id"), "-\nnew column");
  Apply({Event(cdcpb::OP_TRUNCATE, 30, 0, {}, {}), Event(cdcpb::OP_CREATE, 30, 1, {}, Row(7, "after", "7"))}, 30);
  EXPECT_EQ(Q("SELECT string_agg(id::text, ',') FROM cdc_src_public.items"), "7");
}

TEST_F(ChangeApplierTest, RejectsBadEventsAndAppliesTheRest) {
  auto no_pk = Event(cdcpb::OP_CREATE, 10, 1, {}, {{"x", "int4", "1"}}, "nokey");
  auto unknown = Event(cdcpb::OP_CREATE, 10, 2, {}, {{"id", "int8", "9", true}, {"p", "oid:99999", "(1,2)"}}, "odd");
  auto bad_numeric = Event(cdcpb::OP_CREATE, 10, 3, {}, Row(3, "bad", "not a number"));
  auto sql_text = Event(cdcpb::OP_CREATE, 10, 4, {}, Row(4, "'); DROP TABLE cdc_src_public.items; --\"\x01", "4"));
  auto r = Apply({Event(cdcpb::OP_CREATE, 10, 0, {}, Row(1, "ok", "1")), no_pk, unknown, bad_numeric, sql_text}, 10);
  ASSERT_EQ(r.rejected.size(), 3u);
  EXPECT_EQ(r.rejected[0].index, 1u);
  EXPECT_EQ(r.rejected[0].reason, "no_primary_key");
  EXPECT_NE(r.rejected[0].error.find("public.nokey"), std::string::npos);
  EXPECT_EQ(r.rejected[1].reason, "unknown_type");
  EXPECT_NE(r.rejected[1].error.find("oid:99999"), std::string::npos);
  EXPECT_EQ(r.rejected[2].index, 3u);
  EXPECT_EQ(r.rejected[2].reason, "apply_failed");
  EXPECT_NE(r.rejected[2].error.find("numeric"), std::string::npos) << r.rejected[2].error;
  EXPECT_TRUE(r.slow_path);
  EXPECT_EQ(r.applied, 2u);
  EXPECT_EQ(Q("SELECT string_agg(id::text, ',' ORDER BY id) FROM cdc_src_public.items"), "1,4");
  EXPECT_EQ(Q("SELECT name = E'\\'); DROP TABLE cdc_src_public.items; --\"\\x01' FROM cdc_src_public.items WHERE id = 4"), "t");
  EXPECT_EQ(*applier_->AppliedLsn("src"), 10u);
}


// Enough new keys in one batch go in by COPY; the rows must read back exactly
// as the unnest() upsert would have stored them, whatever the bytes.
TEST_F(ChangeApplierTest, ManyNewKeysAreCopiedWithEveryByteKept) {
  const std::vector<std::string> awkward = {"tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N",
                                            "quote\"s'", "{array,like}", "", "plain"};
  std::vector<cdcpb::ChangeEvent> events;
  for (int i = 1; i <= 600; ++i) {
    auto row = Row(i, awkward[i % awkward.size()], absl::StrCat(i, ".5"));
    if (i % 7 == 0) row[1].text = std::nullopt;  // NULL
    events.push_back(Event(cdcpb::OP_CREATE, 10, i, {}, row));
  }
  auto r = Apply(events, 10);
  EXPECT_EQ(r.applied, 600u);
  EXPECT_FALSE(r.slow_path);
  std::string want;
  for (int i = 1; i <= 600; ++i)
    absl::StrAppend(&want, i > 1 ? "," : "", i, "=", i % 7 == 0 ? "<null>" : awkward[i % awkward.size()], "=", i,
                    ".5");
  EXPECT_EQ(Q("SELECT string_agg(id || '=' || coalesce(name, '<null>') || '=' || price, ',' ORDER BY id) "
              "FROM cdc_src_public.items"),
            want);
}

// An insert of a key the warehouse already holds (written there by someone
// else) cannot be COPYed: the batch falls back to the upsert, whole.
TEST_F(ChangeApplierTest, NewKeysTheWarehouseAlreadyHoldsAreUpserted) {
  Apply({Event(cdcpb::OP_CREATE, 10, 0, {}, Row(1, "first", "1"))}, 10);
  ASSERT_TRUE(pg_->Query("INSERT INTO cdc_src_public.items VALUES (300, 'stray', 0)").ok());
  std::vector<cdcpb::ChangeEvent> events;
  for (int i = 2; i <= 400; ++i) events.push_back(Event(cdcpb::OP_CREATE, 20, i, {}, Row(i, "n", std::to_string(i))));
  events.push_back(Event(cdcpb::OP_UPDATE, 20, 401, Key(1), Row(1, "updated", "1")));
  auto r = Apply(events, 20);
  EXPECT_EQ(r.applied, 400u);
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_FALSE(r.slow_path);
  EXPECT_EQ(Q("SELECT count(*) || ':' || sum(price) FROM cdc_src_public.items"), "400:80200");
  EXPECT_EQ(Q("SELECT name || price FROM cdc_src_public.items WHERE id IN (1, 300) ORDER BY id"), "updated1\nn300");
  EXPECT_EQ(*applier_->AppliedLsn("src"), 20u);
}

// A batch that inserts, deletes and re-inserts keys among many new ones:
// only keys first seen as inserts are copied, and the net effect holds.
TEST_F(ChangeApplierTest, CopiedInsertsMixWithDeletesAndReinserts) {
  std::vector<cdcpb::ChangeEvent> events;
  uint32_t idx = 0;
  for (int i = 1; i <= 900; ++i) events.push_back(Event(cdcpb::OP_CREATE, 10, idx++, {}, Row(i, "v1", "1")));
  for (int i = 1; i <= 900; i += 3) events.push_back(Event(cdcpb::OP_DELETE, 10, idx++, Key(i), {}));
  for (int i = 1; i <= 900; i += 6) events.push_back(Event(cdcpb::OP_CREATE, 10, idx++, {}, Row(i, "v2", "2")));
  for (int i = 2; i <= 900; i += 3) events.push_back(Event(cdcpb::OP_UPDATE, 10, idx++, Key(i), Row(i, "u", "3")));
  auto r = Apply(events, 10);
  EXPECT_TRUE(r.rejected.empty());
  std::map<int, std::string> oracle;
  for (int i = 1; i <= 900; ++i) oracle[i] = "v1:1";
  for (int i = 1; i <= 900; i += 3) oracle.erase(i);
  for (int i = 1; i <= 900; i += 6) oracle[i] = "v2:2";
  for (int i = 2; i <= 900; i += 3) oracle[i] = "u:3";
  std::string want;
  for (const auto& [id, v] : oracle) absl::StrAppend(&want, want.empty() ? "" : ",", id, ":", v);
  EXPECT_EQ(Q("SELECT string_agg(id || ':' || name || ':' || price, ',' ORDER BY id) FROM cdc_src_public.items"),
            want);
}

}  // namespace
}  // namespace sa::warehouse
