#include "views/engine.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "dsl/types.h"
#include "observability/logging.h"
#include "streamadmin/anomaly/v1/anomaly.pb.h"
#include "streamadmin/cdc/v1/cdc.pb.h"
#include "streamadmin/marketdata/v1/marketdata.pb.h"

namespace sa::views {
namespace {

namespace mdpb = streamadmin::marketdata::v1;

constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr uint32_t kCheckpointMagic = 0x31575653;  // "SVW1"

std::unique_ptr<google::protobuf::Message> NewMessage(dsl::MessageKind kind) {
  switch (kind) {
    case dsl::MessageKind::kTrade:
      return std::make_unique<mdpb::Trade>();
    case dsl::MessageKind::kTicker:
      return std::make_unique<mdpb::Ticker>();
    case dsl::MessageKind::kBook:
      return std::make_unique<mdpb::BookUpdate>();
    case dsl::MessageKind::kCandle:
      return std::make_unique<mdpb::Candle>();
    case dsl::MessageKind::kStatus:
      return std::make_unique<mdpb::VenueStatus>();
    case dsl::MessageKind::kAnomaly:
      return std::make_unique<streamadmin::anomaly::v1::Anomaly>();
    case dsl::MessageKind::kChangeEvent:
      return std::make_unique<streamadmin::cdc::v1::ChangeEvent>();
    case dsl::MessageKind::kNone:
      break;
  }
  return nullptr;
}

bool ValidViewName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

void AppendJsonString(std::string_view s, std::string* out) {
  out->push_back('"');
  out->append(obs::JsonEscape(s));
  out->push_back('"');
}

void AppendValue(const dsl::Value& v, std::string* out) {
  switch (v.kind) {
    case dsl::TypeKind::kNull:
      out->append("null");
      return;
    case dsl::TypeKind::kBool:
      out->append(v.b ? "true" : "false");
      return;
    case dsl::TypeKind::kInt:
      absl::StrAppend(out, v.i);
      return;
    case dsl::TypeKind::kFloat:
      if (std::isfinite(v.f)) {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.17g", v.f);
        out->append(buf);
      } else {
        AppendJsonString(std::isnan(v.f) ? "NaN" : v.f > 0 ? "Infinity" : "-Infinity", out);
      }
      return;
    case dsl::TypeKind::kString:
    case dsl::TypeKind::kEnum:
      AppendJsonString(v.s, out);
      return;
    case dsl::TypeKind::kDecimal:
    case dsl::TypeKind::kTimestamp:
    case dsl::TypeKind::kDuration:
    case dsl::TypeKind::kOpaque:
      AppendJsonString(dsl::ValueToString(v), out);
      return;
  }
}

// 128-bit FNV-1a (two 64-bit lanes with different offsets) of a group's keys,
// in hex: the same in every process, short enough for a message id.
std::string KeysHash(std::string_view keys) {
  uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
  for (unsigned char c : keys) {
    a = (a ^ c) * 0x100000001b3ULL;
    b = (b ^ c) * 0x100000001b3ULL;
  }
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx", static_cast<unsigned long long>(a),
                static_cast<unsigned long long>(b));
  return buf;
}

template <typename T>
void PutFixed(std::string* out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out->append(buf, sizeof(T));
}
template <typename T>
bool GetFixed(std::string_view* in, T* v) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(v, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

}  // namespace

Engine::Engine(const dsl::Plan& plan, EngineOptions options) : plan_(plan), options_(std::move(options)) {}
Engine::~Engine() = default;

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(const dsl::Plan& plan, EngineOptions options) {
  if (!ValidViewName(options.view))
    return absl::InvalidArgumentError(
        absl::StrCat("view name '", obs::JsonEscape(options.view), "': use 1 to 64 of a-z, 0-9 and _"));
  if (plan.source == nullptr || plan.source->kind != dsl::SourceKind::kStream)
    return absl::InvalidArgumentError(
        "a view reads a live stream (md.trade, cdc.<server>.<schema>.<table>, ...), "
        "not a warehouse table");
  if (plan.use != dsl::Use::kFilter && plan.use != dsl::Use::kWindowedAggregate)
    return absl::InvalidArgumentError(
        absl::StrCat("a view is a filter or a windowed aggregate, not a ", dsl::UseName(plan.use)));
  if (plan.uses_now)
    return absl::InvalidArgumentError(
        "a view cannot use now(): a replay would see another time and give other outputs; compare with a fixed "
        "time or use a window");
  std::unique_ptr<Engine> e(new Engine(plan, std::move(options)));
  e->message_ = NewMessage(plan.source->message);
  if (e->message_ == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("source ", plan.source->name, " carries no message a view reads"));
  // The subject filters: a filter's own; an aggregate's from its filters alone.
  dsl::Plan filter_plan = plan;
  if (plan.use == dsl::Use::kWindowedAggregate) {
    filter_plan.use = dsl::Use::kFilter;
    filter_plan.aggregated = false;
    filter_plan.window.reset();
    filter_plan.keys.clear();
    filter_plan.aggregates.clear();
    filter_plan.having.clear();
    filter_plan.columns.clear();
    auto a = dsl::Aggregation::Create(plan);
    if (!a.ok()) return a.status();
    e->aggregation_ = *std::move(a);
  }
  auto f = dsl::Filter::Compile(filter_plan);
  if (!f.ok()) return f.status();
  e->subjects_ = f->subjects();
  if (plan.use == dsl::Use::kFilter) {
    e->filter_ = std::make_unique<dsl::Filter>(*std::move(f));
    e->row_.resize(e->filter_->columns().size());
  }
  std::string& cj = e->columns_json_;
  cj.push_back('[');
  for (size_t i = 0; i < plan.columns.size(); ++i) {
    if (i > 0) cj.push_back(',');
    cj.append("{\"name\":");
    AppendJsonString(plan.columns[i].name, &cj);
    cj.append(",\"type\":");
    AppendJsonString(dsl::TypeName(plan.columns[i].type), &cj);
    cj.push_back('}');
  }
  cj.push_back(']');
  return e;
}

const std::vector<dsl::OutputColumn>& Engine::columns() const { return plan_.columns; }

void Engine::EmitRow(std::string msg_id, const std::vector<dsl::Value>& row, bool final, uint64_t seq,
                     std::vector<Record>* out) {
  Record r;
  r.msg_id = std::move(msg_id);
  std::string& p = r.payload;
  p.reserve(128 + columns_json_.size() + row.size() * 24);
  p.append("{\"view\":");
  AppendJsonString(options_.view, &p);
  absl::StrAppend(&p, ",\"version\":", options_.version, ",\"seq\":", seq, ",\"final\":", final ? "true" : "false",
                  ",\"columns\":", columns_json_, ",\"row\":{");
  for (size_t i = 0; i < row.size(); ++i) {
    if (i > 0) p.push_back(',');
    AppendJsonString(plan_.columns[i].name, &p);
    p.push_back(':');
    AppendValue(row[i], &p);
  }
  p.append("}}");
  ++counters_.outputs;
  out->push_back(std::move(r));
}

absl::StatusOr<Step> Engine::Process(uint64_t seq, std::string_view payload, std::vector<Record>* out) {
  if (seq <= position_)
    return absl::FailedPreconditionError(
        absl::StrCat("view ", options_.view, ": sequence ", seq, " is not after the position ", position_));
  position_ = seq;
  ++counters_.inputs;
  Step step;
  if (!message_->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    ++counters_.invalid;
    return absl::InvalidArgumentError(absl::StrCat("view ", options_.view, ": message ", seq, " (", payload.size(),
                                                   " bytes) is not a ", message_->GetTypeName()));
  }
  const std::string prefix = absl::StrCat(options_.view, ".", options_.version, ".");
  if (filter_ != nullptr) {
    if (!filter_->MatchesAs(plan_.source->message, message_.get())) return step;
    step.matched = true;
    ++counters_.matched;
    filter_->Project(message_.get(), row_.data());
    EmitRow(absl::StrCat(prefix, seq), row_, true, seq, out);
    return step;
  }
  auto added = aggregation_->Add(message_.get(), closed_through_);
  step.event_ns = added.event_ns;
  if (added.outcome == dsl::Aggregation::Outcome::kDropped) return step;
  step.matched = true;
  ++counters_.matched;
  if (added.outcome == dsl::Aggregation::Outcome::kLate) {
    step.late = true;
    ++counters_.late;
    return step;
  }
  if (options_.emit == Emit::kChanges) {
    for (size_t i = 0; i < added.groups.size(); ++i) {
      auto row = aggregation_->RowOf(added.groups[i]);
      if (!row) continue;
      std::vector<dsl::Value> values;
      for (const auto& v : *row) values.push_back(v.get());
      EmitRow(absl::StrCat(prefix, seq, ".", i), values, false, seq, out);
    }
  }
  if (added.event_ns > stream_time_) {
    stream_time_ = added.event_ns;
    const auto& w = *plan_.window;
    // Windows [s, s + size) with s + size + grace <= stream time are closed.
    const int64_t closed =
        stream_time_ < kMin64 + w.size_ns + w.grace_ns ? kMin64 : stream_time_ - w.size_ns - w.grace_ns;
    if (closed > closed_through_) {
      closed_through_ = closed;
      for (auto& c : aggregation_->Close(closed)) {
        if (options_.emit != Emit::kFinal || !c.row) continue;
        std::vector<dsl::Value> values;
        for (const auto& v : *c.row) values.push_back(v.get());
        EmitRow(absl::StrCat(prefix, "w", c.window_start, ".", KeysHash(dsl::Aggregation::KeyOf(c.group))), values,
                true, seq, out);
      }
    }
  }
  if (absl::Status st = CheckMemory(false); !st.ok()) return st;
  return step;
}

absl::Status Engine::CheckMemory(bool force) {
  if (aggregation_ == nullptr) return absl::OkStatus();
  if (!force && ++since_memory_check_ < kMemoryCheckEvery) return absl::OkStatus();
  since_memory_check_ = 0;
  memory_bytes_ = aggregation_->MemoryBytes();
  if (memory_bytes_ <= options_.memory_limit_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrCat("view ", options_.view, " holds ", memory_bytes_, " bytes of window state, over its limit of ",
                   options_.memory_limit_bytes, " (", aggregation_->group_count(), " open groups)"));
}

size_t Engine::MemoryBytes() const { return aggregation_ ? aggregation_->MemoryBytes() : 0; }

std::string Engine::Checkpoint() const {
  std::string out;
  PutFixed(&out, kCheckpointMagic);
  PutFixed<uint32_t>(&out, static_cast<uint32_t>(options_.view.size()));
  out.append(options_.view);
  PutFixed(&out, options_.version);
  PutFixed(&out, position_);
  PutFixed(&out, stream_time_);
  PutFixed(&out, closed_through_);
  PutFixed(&out, counters_.inputs);
  PutFixed(&out, counters_.matched);
  PutFixed(&out, counters_.late);
  PutFixed(&out, counters_.invalid);
  PutFixed(&out, counters_.outputs);
  if (aggregation_) aggregation_->Save(&out);
  return out;
}

absl::Status Engine::Restore(std::string_view in) {
  const std::string what = absl::StrCat("checkpoint of view ", options_.view, " version ", options_.version);
  uint32_t magic = 0, name_len = 0;
  if (!GetFixed(&in, &magic) || magic != kCheckpointMagic || !GetFixed(&in, &name_len) || in.size() < name_len)
    return absl::DataLossError(absl::StrCat(what, ": not a view checkpoint"));
  const std::string_view name = in.substr(0, name_len);
  in.remove_prefix(name_len);
  uint64_t version = 0;
  if (name != options_.view || !GetFixed(&in, &version) || version != options_.version)
    return absl::DataLossError(
        absl::StrCat(what, ": it belongs to view ", obs::JsonEscape(name), " version ", version));
  uint64_t position = 0;
  int64_t stream_time = 0, closed_through = 0;
  Counters c;
  if (!GetFixed(&in, &position) || !GetFixed(&in, &stream_time) || !GetFixed(&in, &closed_through) ||
      !GetFixed(&in, &c.inputs) || !GetFixed(&in, &c.matched) || !GetFixed(&in, &c.late) ||
      !GetFixed(&in, &c.invalid) || !GetFixed(&in, &c.outputs))
    return absl::DataLossError(absl::StrCat(what, ": truncated"));
  if (aggregation_) {
    if (absl::Status st = aggregation_->Load(in); !st.ok())
      return absl::DataLossError(absl::StrCat(what, ": ", st.message()));
  } else if (!in.empty()) {
    return absl::DataLossError(absl::StrCat(what, ": window state in a filter's checkpoint"));
  }
  position_ = position;
  stream_time_ = stream_time;
  closed_through_ = closed_through;
  counters_ = c;
  since_memory_check_ = 0;
  return CheckMemory(true);
}

}  // namespace sa::views
