#include "cdc/decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cdc/pgoutput.h"

namespace sa::cdc {
namespace {

using streamadmin::cdc::v1::OP_CREATE;
using streamadmin::cdc::v1::OP_DELETE;
using streamadmin::cdc::v1::OP_TRUNCATE;
using streamadmin::cdc::v1::OP_UPDATE;
using ::testing::HasSubstr;

// Hand-built pgoutput messages.
class Msg {
 public:
  explicit Msg(char type) { s_.push_back(type); }
  Msg& U8(uint8_t v) { s_.push_back(static_cast<char>(v)); return *this; }
  Msg& U16(uint16_t v) { return Big(v, 2); }
  Msg& U32(uint32_t v) { return Big(v, 4); }
  Msg& U64(uint64_t v) { return Big(v, 8); }
  Msg& Str(const std::string& v) { s_ += v; s_.push_back('\0'); return *this; }
  Msg& Text(const std::string& v) { U8('t'); U32(static_cast<uint32_t>(v.size())); s_ += v; return *this; }
  Msg& Null() { return U8('n'); }
  Msg& Toast() { return U8('u'); }
  const std::string& str() const { return s_; }

 private:
  Msg& Big(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) s_.push_back(static_cast<char>((v >> (i * 8)) & 0xff));
    return *this;
  }
  std::string s_;
};

std::string Begin(uint64_t lsn, uint32_t xid) { return Msg('B').U64(lsn).U64(1000000).U32(xid).str(); }
std::string Commit(uint64_t lsn, uint64_t end) { return Msg('C').U8(0).U64(lsn).U64(end).U64(1000000).str(); }
std::string Relation(uint32_t id) {
  return Msg('R').U32(id).Str("public").Str("t").U8('d').U16(3)
      .U8(1).Str("id").U32(20).U32(0xffffffff)
      .U8(0).Str("body").U32(25).U32(0xffffffff)
      .U8(0).Str("extra").U32(99999).U32(0xffffffff)
      .str();
}

TEST(PgOutputParser, ParsesARelationMessage) {
  auto m = ParsePgOutputMessage(Relation(42));
  ASSERT_TRUE(m.ok()) << m.status();
  const auto& r = std::get<RelationMessage>(*m);
  EXPECT_EQ(r.relation_id, 42u);
  EXPECT_EQ(r.schema, "public");
  ASSERT_EQ(r.columns.size(), 3u);
  EXPECT_TRUE(r.columns[0].key);
  EXPECT_EQ(r.columns[1].type_oid, 25u);
  EXPECT_EQ(r.columns[2].type_modifier, -1);
}

TEST(PgOutputParser, RejectsEveryTruncationOfEveryMessageWithTypeAndOffset) {
  const std::string messages[] = {
      Begin(1, 2), Commit(1, 2), Relation(42),
      Msg('I').U32(42).U8('N').U16(3).Text("1").Toast().Null().str(),
      Msg('U').U32(42).U8('O').U16(1).Text("1").U8('N').U16(1).Text("2").str(),
      Msg('D').U32(42).U8('K').U16(1).Text("1").str(),
      Msg('T').U32(2).U8(1).U32(42).U32(43).str(),
      Msg('Y').U32(99999).Str("public").Str("mood").str(),
      Msg('O').U64(5).Str("origin").str(),
      Msg('M').U8(1).U64(5).Str("p").U32(3).str() + "abc",
  };
  for (const std::string& full : messages) {
    ASSERT_TRUE(ParsePgOutputMessage(full).ok()) << full[0];
    for (size_t n = 1; n < full.size(); ++n) {
      auto m = ParsePgOutputMessage(full.substr(0, n));
      ASSERT_FALSE(m.ok()) << full[0] << " truncated to " << n;
      EXPECT_THAT(std::string(m.status().message()), HasSubstr("at byte")) << m.status();
      EXPECT_THAT(std::string(m.status().message()), HasSubstr("pgoutput")) << m.status();
    }
    EXPECT_THAT(std::string(ParsePgOutputMessage(full + "x").status().message()),
                HasSubstr("trailing"));
  }
}

TEST(PgOutputParser, NamesTheMessageTypeAndOffsetOfABadTupleKind) {
  auto m = ParsePgOutputMessage(Msg('I').U32(42).U8('N').U16(2).Text("1").U8('z').str());
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("Insert"));
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("at byte 14"));
}

TEST(PgOutputParser, RejectsUnknownAndEmptyMessages) {
  EXPECT_FALSE(ParsePgOutputMessage("").ok());
  auto m = ParsePgOutputMessage("S\x00\x00\x00\x01");
  ASSERT_FALSE(m.ok());
  EXPECT_THAT(std::string(m.status().message()), HasSubstr("unknown message type 0x53"));
}

TEST(PgOutputParser, SurvivesRandomGarbage) {
  uint32_t seed = 12345;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const int len = static_cast<int>(seed % 64);
    for (int j = 0; j < len; ++j) {
      seed = seed * 1103515245 + 12345;
      s.push_back(static_cast<char>(seed >> 16));
    }
    if (!s.empty()) s[0] = "BCORYIUDTM"[seed % 10];
    PgOutputDecoder decoder({});
    (void)decoder.Decode(Relation(42), 0);
    (void)decoder.Decode(Begin(1, 1), 0);
    (void)decoder.Decode(s, 0);  // must not crash; result does not matter
  }
}

TEST(PgOutputDecoder, RefusesAChangeForAnUnknownRelation) {
  PgOutputDecoder decoder({});
  ASSERT_TRUE(decoder.Decode(Begin(100, 7), 10).ok());
  auto r = decoder.Decode(Msg('I').U32(777).U8('N').U16(1).Text("1").str(), 11);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("unknown relation id 777"));
  EXPECT_FALSE(decoder.in_transaction());
}

TEST(PgOutputDecoder, RefusesATupleWhoseWidthDiffersFromTheRelation) {
  PgOutputDecoder decoder({});
  ASSERT_TRUE(decoder.Decode(Relation(42), 1).ok());
  ASSERT_TRUE(decoder.Decode(Begin(100, 7), 10).ok());
  auto r = decoder.Decode(Msg('I').U32(42).U8('N').U16(1).Text("1").str(), 11);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("tuple has 1 columns"));
}

TEST(PgOutputDecoder, RefusesChangesOutsideATransaction) {
  PgOutputDecoder decoder({});
  ASSERT_TRUE(decoder.Decode(Relation(42), 1).ok());
  EXPECT_FALSE(
      decoder.Decode(Msg('I').U32(42).U8('N').U16(3).Text("1").Null().Null().str(), 2).ok());
  EXPECT_FALSE(decoder.Decode(Commit(1, 2), 3).ok());
}

TEST(PgOutputDecoder, BuildsATransactionAtCommit) {
  PgOutputDecoder decoder({"srv", "db", {}});
  ASSERT_TRUE(decoder.Decode(Relation(42), 1).ok());
  ASSERT_TRUE(decoder.Decode(Begin(0x500, 9), 0x100).ok());
  auto r1 = decoder.Decode(Msg('I').U32(42).U8('N').U16(3).Text("1").Text("hi").Text("x").str(), 0x200);
  ASSERT_TRUE(r1.ok() && !r1->has_value());
  ASSERT_TRUE(decoder.Decode(Msg('U').U32(42).U8('N').U16(3).Text("1").Toast().Null().str(), 0x300).ok());
  ASSERT_TRUE(decoder.Decode(Msg('D').U32(42).U8('K').U16(3).Text("1").Null().Null().str(), 0x400).ok());
  ASSERT_TRUE(decoder.Decode(Msg('T').U32(1).U8(0).U32(42).str(), 0x450).ok());
  ASSERT_TRUE(decoder.Decode(Msg('M').U8(1).U64(5).Str("p").U32(0).str(), 0x460).ok());
  auto done = decoder.Decode(Commit(0x500, 0x528), 0x500);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_TRUE(done->has_value());
  const Transaction& tx = **done;
  EXPECT_EQ(tx.xid, 9u);
  EXPECT_EQ(tx.end_lsn, 0x528u);
  EXPECT_EQ(tx.commit_time_us, kPgEpochOffsetUs + 1000000);
  ASSERT_EQ(tx.events.size(), 4u);
  const auto& ins = tx.events[0];
  EXPECT_EQ(ins.op(), OP_CREATE);
  EXPECT_EQ(ins.table().server(), "srv");
  EXPECT_EQ(ins.table().database(), "db");
  EXPECT_EQ(ins.table().table(), "t");
  EXPECT_EQ(ins.source().lsn(), 0x500u);
  EXPECT_EQ(ins.source().event_lsn(), 0x200u);
  EXPECT_EQ(ins.source().index(), 0u);
  EXPECT_EQ(ins.transaction_order(), 1u);
  EXPECT_EQ(ins.transaction_total(), 4u);
  ASSERT_EQ(ins.after_size(), 3);
  EXPECT_EQ(ins.after(0).value().int_value(), 1);
  EXPECT_TRUE(ins.after(0).key());
  EXPECT_EQ(ins.after(1).value().text_value(), "hi");
  EXPECT_EQ(ins.after(2).type_name(), "oid:99999");  // unknown type: text, never a crash
  EXPECT_EQ(ins.after(2).value().text_value(), "x");

  const auto& upd = tx.events[1];
  EXPECT_EQ(upd.op(), OP_UPDATE);
  EXPECT_TRUE(upd.after(1).value().unchanged_toast());
  EXPECT_TRUE(upd.after(2).value().null());
  ASSERT_EQ(upd.before_size(), 1);  // key columns of the new row
  EXPECT_EQ(upd.before(0).name(), "id");
  EXPECT_EQ(upd.source().index(), 1u);

  const auto& del = tx.events[2];
  EXPECT_EQ(del.op(), OP_DELETE);
  ASSERT_EQ(del.before_size(), 1);
  EXPECT_EQ(del.before(0).value().int_value(), 1);
  EXPECT_EQ(del.after_size(), 0);

  EXPECT_EQ(tx.events[3].op(), OP_TRUNCATE);
  EXPECT_EQ(tx.events[3].source().index(), 3u);
  EXPECT_FALSE(decoder.in_transaction());
}

TEST(PgOutputDecoder, UsesTypeMessagesForNamesAndDropsExcludedTables) {
  PgOutputDecoder decoder({"s", "d", {"public.t"}});
  ASSERT_TRUE(decoder.Decode(Msg('Y').U32(99999).Str("public").Str("mood").str(), 1).ok());
  ASSERT_TRUE(decoder.Decode(Relation(42), 1).ok());
  ASSERT_TRUE(decoder.Decode(Begin(5, 1), 2).ok());
  ASSERT_TRUE(decoder.Decode(Msg('I').U32(42).U8('N').U16(3).Text("1").Null().Text("ok").str(), 3).ok());
  auto done = decoder.Decode(Commit(5, 6), 5);
  ASSERT_TRUE(done.ok() && done->has_value());
  EXPECT_TRUE((*done)->events.empty());
  EXPECT_EQ((*done)->end_lsn, 6u);
}

TEST(Lsn, FormatsAndParses) {
  EXPECT_EQ(FormatLsn(0x16B374D848ULL), "16/B374D848");
  EXPECT_EQ(*ParseLsn("16/B374D848"), 0x16B374D848ULL);
  EXPECT_EQ(*ParseLsn("0/0"), 0u);
  EXPECT_FALSE(ParseLsn("16-B3").ok());
  EXPECT_FALSE(ParseLsn("1/2x").ok());
}

}  // namespace
}  // namespace sa::cdc
