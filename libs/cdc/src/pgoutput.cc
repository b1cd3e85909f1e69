#include "cdc/pgoutput.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace sa::cdc {
namespace {

const char* MessageName(char type) {
  switch (type) {
    case 'B': return "Begin";
    case 'C': return "Commit";
    case 'O': return "Origin";
    case 'R': return "Relation";
    case 'Y': return "Type";
    case 'I': return "Insert";
    case 'U': return "Update";
    case 'D': return "Delete";
    case 'T': return "Truncate";
    case 'M': return "Message";
    default: return "unknown";
  }
}

// Big-endian reader over one message; every failure records the offset.
class Reader {
 public:
  Reader(absl::string_view data, char type) : data_(data), type_(type) {}

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("pgoutput ", MessageName(type_), " message ('",
                                                   std::string(1, type_), "'): ", what,
                                                   " at byte ", pos_));
  }
  bool Need(size_t n) const { return data_.size() - pos_ >= n; }

  absl::Status U8(uint8_t* v, absl::string_view field) {
    if (!Need(1)) return Error(absl::StrCat("truncated reading ", field));
    *v = static_cast<uint8_t>(data_[pos_++]);
    return absl::OkStatus();
  }
  absl::Status U16(uint16_t* v, absl::string_view field) {
    uint64_t x = 0;
    if (auto st = Big(2, &x, field); !st.ok()) return st;
    *v = static_cast<uint16_t>(x);
    return absl::OkStatus();
  }
  absl::Status U32(uint32_t* v, absl::string_view field) {
    uint64_t x = 0;
    if (auto st = Big(4, &x, field); !st.ok()) return st;
    *v = static_cast<uint32_t>(x);
    return absl::OkStatus();
  }
  absl::Status U64(uint64_t* v, absl::string_view field) { return Big(8, v, field); }
  absl::Status I64(int64_t* v, absl::string_view field) {
    uint64_t x = 0;
    if (auto st = Big(8, &x, field); !st.ok()) return st;
    *v = static_cast<int64_t>(x);
    return absl::OkStatus();
  }
  absl::Status CString(std::string* v, absl::string_view field) {
    size_t end = data_.find('\0', pos_);
    if (end == absl::string_view::npos)
      return Error(absl::StrCat("unterminated string ", field));
    v->assign(data_.data() + pos_, end - pos_);
    pos_ = end + 1;
    return absl::OkStatus();
  }
  absl::Status Bytes(size_t n, std::string* v, absl::string_view field) {
    if (!Need(n)) return Error(absl::StrCat("truncated reading ", field, " (", n, " bytes)"));
    v->assign(data_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  absl::Status End() const {
    if (pos_ != data_.size())
      return Error(absl::StrCat(data_.size() - pos_, " trailing bytes"));
    return absl::OkStatus();
  }
  absl::Status Tuple(TupleData* tuple) {
    uint16_t n = 0;
    if (auto st = U16(&n, "tuple column count"); !st.ok()) return st;
    tuple->clear();
    tuple->reserve(n);
    for (uint16_t i = 0; i < n; ++i) {
      uint8_t kind = 0;
      if (auto st = U8(&kind, absl::StrCat("tuple column ", i, " kind")); !st.ok()) return st;
      TupleColumn col;
      switch (kind) {
        case 'n': col.kind = TupleColumn::Kind::kNull; break;
        case 'u': col.kind = TupleColumn::Kind::kUnchangedToast; break;
        case 't': {
          col.kind = TupleColumn::Kind::kText;
          uint32_t len = 0;
          if (auto st = U32(&len, absl::StrCat("tuple column ", i, " length")); !st.ok())
            return st;
          if (auto st = Bytes(len, &col.text, absl::StrCat("tuple column ", i, " value"));
              !st.ok())
            return st;
          break;
        }
        default:
          --pos_;
          return Error(absl::StrFormat("tuple column %d: unsupported kind 0x%02x", i, kind));
      }
      tuple->push_back(std::move(col));
    }
    return absl::OkStatus();
  }
  char Peek() const { return Need(1) ? data_[pos_] : '\0'; }

 private:
  absl::Status Big(int n, uint64_t* v, absl::string_view field) {
    if (!Need(n)) return Error(absl::StrCat("truncated reading ", field));
    uint64_t x = 0;
    for (int i = 0; i < n; ++i) x = (x << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += n;
    *v = x;
    return absl::OkStatus();
  }

  absl::string_view data_;
  char type_;
  size_t pos_ = 1;  // past the type byte
};

#define RET(expr)                                \
  do {                                           \
    if (absl::Status _st = (expr); !_st.ok()) return _st; \
  } while (0)

}  // namespace

absl::StatusOr<PgOutputMessage> ParsePgOutputMessage(absl::string_view payload) {
  if (payload.empty()) return absl::InvalidArgumentError("pgoutput: empty message at byte 0");
  const char type = payload[0];
  Reader r(payload, type);
  switch (type) {
    case 'B': {
      BeginMessage m;
      RET(r.U64(&m.final_lsn, "final LSN"));
      RET(r.I64(&m.commit_time_pg_us, "commit timestamp"));
      RET(r.U32(&m.xid, "xid"));
      RET(r.End());
      return m;
    }
    case 'C': {
      CommitMessage m;
      RET(r.U8(&m.flags, "flags"));
      RET(r.U64(&m.commit_lsn, "commit LSN"));
      RET(r.U64(&m.end_lsn, "end LSN"));
      RET(r.I64(&m.commit_time_pg_us, "commit timestamp"));
      RET(r.End());
      return m;
    }
    case 'O': {
      OriginMessage m;
      RET(r.U64(&m.commit_lsn, "origin LSN"));
      RET(r.CString(&m.name, "origin name"));
      RET(r.End());
      return m;
    }
    case 'R': {
      RelationMessage m;
      RET(r.U32(&m.relation_id, "relation id"));
      RET(r.CString(&m.schema, "namespace"));
      RET(r.CString(&m.table, "relation name"));
      uint8_t ri = 0;
      RET(r.U8(&ri, "replica identity"));
      m.replica_identity = static_cast<char>(ri);
      uint16_t n = 0;
      RET(r.U16(&n, "column count"));
      m.columns.reserve(n);
      for (uint16_t i = 0; i < n; ++i) {
        RelationColumn c;
        uint8_t flags = 0;
        uint32_t mod = 0;
        RET(r.U8(&flags, absl::StrCat("column ", i, " flags")));
        c.key = (flags & 1) != 0;
        RET(r.CString(&c.name, absl::StrCat("column ", i, " name")));
        RET(r.U32(&c.type_oid, absl::StrCat("column ", i, " type oid")));
        RET(r.U32(&mod, absl::StrCat("column ", i, " type modifier")));
        c.type_modifier = static_cast<int32_t>(mod);
        m.columns.push_back(std::move(c));
      }
      RET(r.End());
      return m;
    }
    case 'Y': {
      TypeMessage m;
      RET(r.U32(&m.type_oid, "type oid"));
      RET(r.CString(&m.schema, "namespace"));
      RET(r.CString(&m.name, "type name"));
      RET(r.End());
      return m;
    }
    case 'I': {
      InsertMessage m;
      RET(r.U32(&m.relation_id, "relation id"));
      uint8_t marker = 0;
      RET(r.U8(&marker, "new tuple marker"));
      if (marker != 'N') return r.Error("expected 'N' new tuple marker");
      RET(r.Tuple(&m.new_tuple));
      RET(r.End());
      return m;
    }
    case 'U': {
      UpdateMessage m;
      RET(r.U32(&m.relation_id, "relation id"));
      uint8_t marker = 0;
      RET(r.U8(&marker, "tuple marker"));
      if (marker == 'K' || marker == 'O') {
        m.old_kind = static_cast<char>(marker);
        RET(r.Tuple(&m.old_tuple));
        RET(r.U8(&marker, "new tuple marker"));
      }
      if (marker != 'N') return r.Error("expected 'N' new tuple marker");
      RET(r.Tuple(&m.new_tuple));
      RET(r.End());
      return m;
    }
    case 'D': {
      DeleteMessage m;
      RET(r.U32(&m.relation_id, "relation id"));
      uint8_t marker = 0;
      RET(r.U8(&marker, "old tuple marker"));
      if (marker != 'K' && marker != 'O') return r.Error("expected 'K' or 'O' old tuple marker");
      m.old_kind = static_cast<char>(marker);
      RET(r.Tuple(&m.old_tuple));
      RET(r.End());
      return m;
    }
    case 'T': {
      TruncateMessage m;
      uint32_t n = 0;
      uint8_t options = 0;
      RET(r.U32(&n, "relation count"));
      RET(r.U8(&options, "options"));
      m.cascade = (options & 1) != 0;
      m.restart_identity = (options & 2) != 0;
      if (!r.Need(static_cast<size_t>(n) * 4)) return r.Error("truncated relation id list");
      m.relation_ids.resize(n);
      for (uint32_t i = 0; i < n; ++i) RET(r.U32(&m.relation_ids[i], "relation id"));
      RET(r.End());
      return m;
    }
    case 'M': {
      LogicalMessage m;
      uint8_t flags = 0;
      uint32_t len = 0;
      std::string content;
      RET(r.U8(&flags, "flags"));
      m.transactional = (flags & 1) != 0;
      RET(r.U64(&m.lsn, "LSN"));
      RET(r.CString(&m.prefix, "prefix"));
      RET(r.U32(&len, "content length"));
      RET(r.Bytes(len, &content, "content"));
      RET(r.End());
      return m;
    }
    default:
      return absl::InvalidArgumentError(absl::StrFormat(
          "pgoutput: unknown message type 0x%02x at byte 0 (protocol version 1 expected)",
          static_cast<uint8_t>(type)));
  }
}

std::string FormatLsn(uint64_t lsn) {
  return absl::StrFormat("%X/%X", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

absl::StatusOr<uint64_t> ParseLsn(absl::string_view text) {
  unsigned hi = 0, lo = 0;
  int consumed = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%X/%X%n", &hi, &lo, &consumed) != 2 ||
      consumed != static_cast<int>(s.size()))
    return absl::InvalidArgumentError(absl::StrCat("not an LSN: '", s, "'"));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

}  // namespace sa::cdc
