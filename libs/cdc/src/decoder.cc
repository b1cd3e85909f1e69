#include "cdc/decoder.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "cdc/value_mapping.h"

namespace sa::cdc {
namespace {

using streamadmin::cdc::v1::ChangeEvent;
using streamadmin::cdc::v1::Column;
using streamadmin::cdc::v1::Op;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

PgOutputDecoder::PgOutputDecoder(Options options) : options_(std::move(options)) {}

const RelationMessage* PgOutputDecoder::FindRelation(uint32_t relation_id) const {
  auto it = relations_.find(relation_id);
  return it == relations_.end() ? nullptr : &it->second.message;
}

std::string PgOutputDecoder::TypeName(uint32_t oid) {
  std::string name = BuiltinTypeName(oid);
  if (!name.empty()) return name;
  if (auto it = types_.find(oid); it != types_.end()) {
    if (it->second.schema.empty() || it->second.schema == "pg_catalog") return it->second.name;
    return absl::StrCat(it->second.schema, ".", it->second.name);
  }
  if (options_.resolve_type_name) {
    std::string resolved = options_.resolve_type_name(oid);
    if (!resolved.empty()) {
      types_[oid] = TypeMessage{oid, "", resolved};
      return resolved;
    }
  }
  return absl::StrCat("oid:", oid);
}

absl::StatusOr<std::optional<Transaction>> PgOutputDecoder::Decode(absl::string_view payload,
                                                                   uint64_t wal_start) {
  absl::StatusOr<PgOutputMessage> message = ParsePgOutputMessage(payload);
  if (!message.ok()) {
    in_transaction_ = false;
    current_ = Transaction{};
    return message.status();
  }
  return Apply(*message, wal_start);
}

absl::Status PgOutputDecoder::FillColumns(const Relation& relation, const TupleData& tuple,
                                          bool keys_only,
                                          google::protobuf::RepeatedPtrField<Column>* out,
                                          const char* what) const {
  const auto& columns = relation.message.columns;
  if (tuple.size() != columns.size())
    return absl::InvalidArgumentError(absl::StrCat(
        "pgoutput ", what, " message: tuple has ", tuple.size(), " columns, relation ",
        relation.message.schema, ".", relation.message.table, " (id ",
        relation.message.relation_id, ") has ", columns.size()));
  for (size_t i = 0; i < columns.size(); ++i) {
    const RelationColumn& rc = columns[i];
    if (keys_only && !rc.key) continue;
    Column* c = out->Add();
    c->set_name(rc.name);
    c->set_type_name(relation.type_names[i]);
    c->set_type_oid(rc.type_oid);
    c->set_key(rc.key);
    c->set_primary_key(relation.primary_key[i]);
    const TupleColumn& tc = tuple[i];
    switch (tc.kind) {
      case TupleColumn::Kind::kNull: c->mutable_value()->set_null(true); break;
      case TupleColumn::Kind::kUnchangedToast:
        c->mutable_value()->set_unchanged_toast(true);
        break;
      case TupleColumn::Kind::kText: MapTextValue(rc.type_oid, tc.text, c->mutable_value()); break;
    }
  }
  return absl::OkStatus();
}

absl::Status PgOutputDecoder::AddChange(Op op, uint32_t relation_id, const TupleData* before,
                                        char before_kind, const TupleData* after,
                                        uint64_t wal_start, const char* what) {
  if (!in_transaction_)
    return absl::FailedPreconditionError(
        absl::StrCat("pgoutput ", what, " message outside a transaction (no Begin) at byte 0"));
  auto it = relations_.find(relation_id);
  if (it == relations_.end())
    return absl::NotFoundError(absl::StrCat("pgoutput ", what, " message: unknown relation id ",
                                            relation_id, " (no Relation message) at byte 1"));
  const Relation& relation = it->second;
  ChangeEvent event;
  event.set_op(op);
  auto* table = event.mutable_table();
  table->set_server(options_.server);
  table->set_database(options_.database);
  table->set_schema(relation.message.schema.empty() ? "pg_catalog" : relation.message.schema);
  table->set_table(relation.message.table);
  auto* source = event.mutable_source();
  source->set_event_lsn(wal_start);
  if (before) {
    if (absl::Status st =
            FillColumns(relation, *before, before_kind == 'K', event.mutable_before(), what);
        !st.ok())
      return st;
  }
  if (after) {
    if (absl::Status st = FillColumns(relation, *after, false, event.mutable_after(), what);
        !st.ok())
      return st;
    // DEFAULT identity and the key did not change: PostgreSQL sends no old
    // tuple; the key columns of the new row are the before-image's key.
    if (op == streamadmin::cdc::v1::OP_UPDATE && !before) {
      for (const Column& c : event.after())
        if (c.key()) *event.add_before() = c;
    }
  }
  if (!relation.excluded) current_.events.push_back(std::move(event));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Transaction>> PgOutputDecoder::Apply(const PgOutputMessage& message,
                                                                  uint64_t wal_start) {
  std::optional<Transaction> done;
  absl::Status status = std::visit(
      Overloaded{
          [&](const BeginMessage& m) -> absl::Status {
            if (in_transaction_)
              return absl::FailedPreconditionError(
                  "pgoutput Begin message inside a transaction (no Commit) at byte 0");
            in_transaction_ = true;
            current_ = Transaction{};
            current_.xid = m.xid;
            current_.commit_lsn = m.final_lsn;
            current_.commit_time_us = m.commit_time_pg_us + kPgEpochOffsetUs;
            return absl::OkStatus();
          },
          [&](const CommitMessage& m) -> absl::Status {
            if (!in_transaction_)
              return absl::FailedPreconditionError(
                  "pgoutput Commit message without Begin at byte 0");
            in_transaction_ = false;
            current_.commit_lsn = m.commit_lsn;
            current_.end_lsn = m.end_lsn;
            current_.commit_time_us = m.commit_time_pg_us + kPgEpochOffsetUs;
            const uint32_t total = static_cast<uint32_t>(current_.events.size());
            for (uint32_t i = 0; i < total; ++i) {
              ChangeEvent& e = current_.events[i];
              auto* s = e.mutable_source();
              s->set_lsn(current_.commit_lsn);
              s->set_index(i);
              s->set_txid(current_.xid);
              s->set_commit_time_us(current_.commit_time_us);
              e.set_transaction_order(i + 1);
              e.set_transaction_total(total);
            }
            done = std::move(current_);
            current_ = Transaction{};
            return absl::OkStatus();
          },
          [&](const OriginMessage&) { return absl::OkStatus(); },
          [&](const RelationMessage& m) -> absl::Status {
            Relation r;
            r.message = m;
            for (const RelationColumn& c : m.columns) r.type_names.push_back(TypeName(c.type_oid));
            std::vector<std::string> pk;
            if (m.replica_identity != 'd' && options_.resolve_primary_key)
              pk = options_.resolve_primary_key(m.relation_id);
            for (const RelationColumn& c : m.columns)
              r.primary_key.push_back(m.replica_identity == 'd'
                                          ? c.key
                                          : std::find(pk.begin(), pk.end(), c.name) != pk.end());
            const std::string full =
                absl::StrCat(m.schema.empty() ? "pg_catalog" : m.schema, ".", m.table);
            r.excluded = std::find(options_.exclude_tables.begin(), options_.exclude_tables.end(),
                                   full) != options_.exclude_tables.end();
            relations_[m.relation_id] = std::move(r);
            return absl::OkStatus();
          },
          [&](const TypeMessage& m) {
            types_[m.type_oid] = m;
            return absl::OkStatus();
          },
          [&](const InsertMessage& m) {
            return AddChange(streamadmin::cdc::v1::OP_CREATE, m.relation_id, nullptr, 0,
                             &m.new_tuple, wal_start, "Insert");
          },
          [&](const UpdateMessage& m) {
            return AddChange(streamadmin::cdc::v1::OP_UPDATE, m.relation_id,
                             m.old_kind ? &m.old_tuple : nullptr, m.old_kind, &m.new_tuple,
                             wal_start, "Update");
          },
          [&](const DeleteMessage& m) {
            return AddChange(streamadmin::cdc::v1::OP_DELETE, m.relation_id, &m.old_tuple,
                             m.old_kind, nullptr, wal_start, "Delete");
          },
          [&](const TruncateMessage& m) -> absl::Status {
            for (uint32_t id : m.relation_ids) {
              if (absl::Status st = AddChange(streamadmin::cdc::v1::OP_TRUNCATE, id, nullptr, 0,
                                              nullptr, wal_start, "Truncate");
                  !st.ok())
                return st;
            }
            return absl::OkStatus();
          },
          [&](const LogicalMessage&) { return absl::OkStatus(); },
      },
      message);
  if (!status.ok()) {
    in_transaction_ = false;
    current_ = Transaction{};
    return status;
  }
  return done;
}

}  // namespace sa::cdc
