#include "sources/kafka_source.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/clock.h"
#include "internal/metrics.h"
#include "internal/source_common.h"

namespace sa::sources {
namespace {

using internal::ErrorReason;

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

}  // namespace

struct KafkaSource::Impl {
  explicit Impl(KafkaSourceOptions o)
      : opts(std::move(o)), metrics(opts.venue.empty() ? "unknown" : opts.venue) {}

  void Run();
  void HandleMessage(const rd_kafka_message_t* msg);
  void Emit(SourceEventType type, const std::string& conn, const std::string& reason,
            const std::string& detail);
  static void RebalanceCb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* parts, void* opaque);
  static void ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf);

  // Metrics per venue seen (venues are a bounded set); poll thread only.
  internal::SourceMetrics& MetricsFor(const std::string& venue) {
    auto& m = venue_metrics[venue];
    if (!m) m = std::make_unique<internal::SourceMetrics>(venue.empty() ? "unknown" : venue);
    return *m;
  }

  const KafkaSourceOptions opts;
  internal::SourceMetrics metrics;  // labelled with the configured venue
  std::map<std::string, std::unique_ptr<internal::SourceMetrics>> venue_metrics;
  ConfPtr conf;  // validated at Create, consumed by Start
  rd_kafka_t* rk = nullptr;
  std::thread thread;
  std::atomic<bool> stop{false};

  std::mutex lifecycle_mu;
  bool started = false;
  bool stopped = false;
  FrameSink* sink = nullptr;

  // Offsets handed to the sink, per partition, in order, until the sink says
  // they are stored; only the contiguous stored prefix is committed, so a
  // record in flight at a crash is consumed again (and deduplicated by its
  // msg id downstream), never skipped.
  struct PartitionKey {
    std::string topic;
    int32_t partition;
    bool operator<(const PartitionKey& o) const { return topic != o.topic ? topic < o.topic : partition < o.partition; }
  };
  struct InFlight {
    int64_t offset;
    bool stored = false;
    bool settled = false;  // the sink answered (stored or not)
  };
  std::mutex flight_mu;
  std::condition_variable flight_cv;
  std::map<PartitionKey, std::deque<InFlight>> in_flight;  // guarded by flight_mu
  void Settle(const PartitionKey& key, int64_t offset, bool stored);
  // Stores the offsets of each partition's stored prefix (poll thread).
  void StoreSettled();
  // Forgets the partitions given up (their unsettled records go to the next owner).
  void Forget(const rd_kafka_topic_partition_list_t* parts);
  // Waits up to `timeout` until every record handed out is settled.
  void AwaitSettled(absl::Duration timeout);

  int assigned = 0;  // poll thread only
  mutable std::mutex stats_mu;
  SourceStats stats;
};

void KafkaSource::Impl::Emit(SourceEventType type, const std::string& conn,
                             const std::string& reason, const std::string& detail) {
  sink->OnStatus(internal::MakeSourceEvent(type, opts.name, opts.venue, conn, reason, detail));
}

// Runs inside rd_kafka_consumer_poll, i.e. on the poll thread.
void KafkaSource::Impl::RebalanceCb(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                    rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  std::vector<std::string> names;
  for (int i = 0; i < parts->cnt; ++i) {
    names.push_back(absl::StrCat(parts->elems[i].topic, "/", parts->elems[i].partition));
  }
  const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
      self->assigned += parts->cnt;
    } else {
      rd_kafka_assign(rk, parts);
      self->assigned = parts->cnt;
    }
    spdlog::info("source {}: assigned {}", self->opts.name, absl::StrJoin(names, ","));
    {
      std::lock_guard<std::mutex> lock(self->stats_mu);
      ++self->stats.connects;
      self->stats.connected = self->assigned > 0;
    }
    self->Emit(SourceEventType::kConnected, "", "",
               absl::StrCat("assigned ", absl::StrJoin(names, ",")));
    return;
  }
  // Revoked (or lost): commit what is stored downstream before giving the
  // partitions up, so the next owner starts right after it.
  self->StoreSettled();
  if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk)) {
    rd_kafka_commit(rk, nullptr, 0);
  }
  self->Forget(parts);
  if (cooperative) {
    if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    self->assigned -= parts->cnt;
  } else {
    rd_kafka_assign(rk, nullptr);
    self->assigned = 0;
  }
  spdlog::info("source {}: revoked {}", self->opts.name, absl::StrJoin(names, ","));
  {
    std::lock_guard<std::mutex> lock(self->stats_mu);
    self->stats.connected = self->assigned > 0;
  }
  self->Emit(SourceEventType::kDisconnected, "", "rebalance",
             absl::StrCat("revoked ", absl::StrJoin(names, ",")));
}

void KafkaSource::Impl::ErrorCb(rd_kafka_t*, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  internal::CountError(ErrorReason::kKafka, self->metrics, self->stats_mu, self->stats);
  spdlog::warn("source {}: kafka error {}: {}", self->opts.name,
               rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
  self->Emit(SourceEventType::kError, "", "kafka",
             absl::StrCat(rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), ": ", reason));
}

void KafkaSource::Impl::LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug.
  if (level <= 3) {
    spdlog::error("rdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
  } else if (level == 4) {
    spdlog::warn("rdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
  } else {
    spdlog::debug("rdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
  }
}

void KafkaSource::Impl::HandleMessage(const rd_kafka_message_t* msg) {
  if (msg->err) {
    if (msg->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return;
    internal::CountError(ErrorReason::kKafka, metrics, stats_mu, stats);
    const std::string where =
        msg->rkt ? absl::StrCat("kafka.", rd_kafka_topic_name(msg->rkt), ".", msg->partition) : "";
    spdlog::warn("source {}: consume error {}: {}", opts.name, where, rd_kafka_message_errstr(msg));
    Emit(SourceEventType::kError, where, "kafka", rd_kafka_message_errstr(msg));
    return;
  }
  const std::string topic = rd_kafka_topic_name(msg->rkt);
  Frame frame;
  frame.recv_time_ns = NowUnixNanos();
  frame.venue = opts.venue;
  if (!opts.venue_header.empty()) {
    rd_kafka_headers_t* headers = nullptr;
    if (rd_kafka_message_headers(msg, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR && headers) {
      const void* value = nullptr;
      size_t size = 0;
      if (rd_kafka_header_get_last(headers, opts.venue_header.c_str(), &value, &size) ==
              RD_KAFKA_RESP_ERR_NO_ERROR &&
          value) {
        frame.venue.assign(static_cast<const char*>(value), size);
      }
    }
  }
  frame.conn = absl::StrCat("kafka.", topic, ".", msg->partition);
  frame.kind = "kafka";
  frame.url = topic;
  if (msg->payload) frame.data.assign(static_cast<const char*>(msg->payload), msg->len);
  frame.frame_seq = static_cast<uint64_t>(msg->offset) + 1;
  internal::CountFrame(frame, MetricsFor(frame.venue), stats_mu, stats);
  // The offset is stored (and later committed) only once the sink says the
  // record is safe downstream (at-least-once; a record accepted but not yet
  // stored when the process dies is consumed again).
  PartitionKey key{topic, msg->partition};
  {
    std::lock_guard<std::mutex> lock(flight_mu);
    in_flight[key].push_back({msg->offset});
  }
  frame.done = [this, key, offset = msg->offset](bool stored) { Settle(key, offset, stored); };
  sink->OnFrame(std::move(frame));
}

void KafkaSource::Impl::Settle(const PartitionKey& key, int64_t offset, bool stored) {
  {
    std::lock_guard<std::mutex> lock(flight_mu);
    auto it = in_flight.find(key);
    if (it == in_flight.end()) return;  // the partition was given up meanwhile
    for (auto& f : it->second)
      if (f.offset == offset) {
        f.stored = stored;
        f.settled = true;
        break;
      }
  }
  flight_cv.notify_all();
}

void KafkaSource::Impl::StoreSettled() {
  rd_kafka_topic_partition_list_t* list = nullptr;
  {
    std::lock_guard<std::mutex> lock(flight_mu);
    for (auto& [key, q] : in_flight) {
      int64_t last = -1;
      // A record the sink could not store stops the prefix: it (and what
      // follows) is consumed again after a restart.
      while (!q.empty() && q.front().settled && q.front().stored) {
        last = q.front().offset;
        q.pop_front();
      }
      if (last < 0) continue;
      if (!list) list = rd_kafka_topic_partition_list_new(static_cast<int>(in_flight.size()));
      // The committed offset is the next record to read.
      rd_kafka_topic_partition_list_add(list, key.topic.c_str(), key.partition)->offset = last + 1;
    }
  }
  if (!list) return;
  if (rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk, list); err) {
    // Typically a partition was revoked meanwhile: it will be redelivered.
    spdlog::warn("source {}: cannot store offsets: {}", opts.name, rd_kafka_err2str(err));
  }
  rd_kafka_topic_partition_list_destroy(list);
}

void KafkaSource::Impl::Forget(const rd_kafka_topic_partition_list_t* parts) {
  std::lock_guard<std::mutex> lock(flight_mu);
  for (int i = 0; i < parts->cnt; ++i) in_flight.erase(PartitionKey{parts->elems[i].topic, parts->elems[i].partition});
}

void KafkaSource::Impl::AwaitSettled(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(flight_mu);
  flight_cv.wait_for(lock, std::chrono::nanoseconds(absl::ToInt64Nanoseconds(timeout)), [this] {
    for (const auto& [key, q] : in_flight)
      for (const auto& f : q)
        if (!f.settled) return false;
    return true;
  });
}

void KafkaSource::Impl::Run() {
  const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(opts.poll_timeout));
  while (!stop.load(std::memory_order_acquire)) {
    rd_kafka_message_t* msg = rd_kafka_consumer_poll(rk, timeout_ms);
    if (msg != nullptr) {
      try {
        HandleMessage(msg);
      } catch (const std::exception& e) {
        spdlog::error("source {}: exception from the sink: {}", opts.name, e.what());
      }
      rd_kafka_message_destroy(msg);
    }
    StoreSettled();  // also when idle: completions arrive on other threads
  }
  // Final commit of everything stored downstream (waiting a little for what
  // is in flight), then leave the group (consumer_close serves the revoke
  // callback on this thread).
  AwaitSettled(opts.close_settle_timeout);
  StoreSettled();
  rd_kafka_resp_err_t err = rd_kafka_commit(rk, nullptr, 0);
  if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    spdlog::warn("source {}: final commit failed: {}", opts.name, rd_kafka_err2str(err));
  }
  rd_kafka_consumer_close(rk);
}

absl::StatusOr<KafkaSourceOptions> KafkaSourceOptionsFromJson(const nlohmann::json& c) {
  auto bad = [](const std::string& key, const std::string& want) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka source config: '", key, "' must be ", want));
  };
  if (!c.is_object()) return absl::InvalidArgumentError("kafka source config: must be an object");
  KafkaSourceOptions o;
  for (auto [key, field] : std::initializer_list<std::pair<const char*, std::string*>>{
           {"name", &o.name},
           {"brokers", &o.brokers},
           {"group_id", &o.group_id},
           {"venue", &o.venue},
           {"venue_header", &o.venue_header},
           {"auto_offset_reset", &o.auto_offset_reset}}) {
    if (!c.contains(key)) continue;
    if (!c[key].is_string()) return bad(key, "a string");
    *field = c[key].get<std::string>();
  }
  if (c.contains("topics")) {
    if (!c["topics"].is_array()) return bad("topics", "an array of strings");
    for (const auto& t : c["topics"]) {
      if (!t.is_string()) return bad("topics", "an array of strings");
      o.topics.push_back(t.get<std::string>());
    }
  }
  if (c.contains("poll_timeout_ms")) {
    if (!c["poll_timeout_ms"].is_number() || c["poll_timeout_ms"].get<double>() <= 0) {
      return bad("poll_timeout_ms", "a positive number");
    }
    o.poll_timeout = absl::Milliseconds(c["poll_timeout_ms"].get<double>());
  }
  if (c.contains("properties")) {
    if (!c["properties"].is_object()) return bad("properties", "an object of strings");
    for (const auto& [k, v] : c["properties"].items()) {
      if (!v.is_string()) return bad(absl::StrCat("properties.", k), "a string");
      o.properties[k] = v.get<std::string>();
    }
  }
  return o;
}

absl::StatusOr<std::unique_ptr<KafkaSource>> KafkaSource::Create(KafkaSourceOptions o) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat("kafka source: ", what));
  };
  if (o.brokers.empty()) return bad("brokers is required");
  if (o.group_id.empty()) return bad("group_id is required");
  if (o.topics.empty()) return bad("topics must not be empty");
  if (o.venue.empty() && o.venue_header.empty()) return bad("venue or venue_header is required");
  if (o.poll_timeout <= absl::ZeroDuration()) return bad("poll_timeout must be > 0");
  if (o.name.empty()) o.name = absl::StrCat("kafka.", o.group_id);

  ConfPtr conf(rd_kafka_conf_new());
  char errstr[512];
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", o.brokers},
      {"group.id", o.group_id},
      {"client.id", o.name},
      {"auto.offset.reset", o.auto_offset_reset},
      {"enable.partition.eof", "false"},
  };
  for (const auto& [k, v] : o.properties) props.emplace_back(k, v);
  // Owned by the source: they are what makes delivery at-least-once.
  props.emplace_back("enable.auto.offset.store", "false");
  props.emplace_back("enable.auto.commit", "true");
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf.get(), k.c_str(), v.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      return bad(absl::StrCat("property '", k, "'='", v, "': ", errstr));
    }
  }
  auto impl = std::make_unique<Impl>(std::move(o));
  rd_kafka_conf_set_opaque(conf.get(), impl.get());
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::RebalanceCb);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::ErrorCb);
  rd_kafka_conf_set_log_cb(conf.get(), &Impl::LogCb);
  impl->conf = std::move(conf);
  return std::unique_ptr<KafkaSource>(new KafkaSource(std::move(impl)));
}

KafkaSource::KafkaSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaSource::~KafkaSource() {
  Stop();
  if (impl_->rk) rd_kafka_destroy(impl_->rk);
}

absl::Status KafkaSource::Start(FrameSink* sink) {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (auto st = internal::CheckCanStart("kafka", impl_->opts.name, sink, impl_->started); !st.ok()) return st;
  char errstr[512];
  // rd_kafka_new takes the conf on success only.
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, impl_->conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("source ", impl_->opts.name, ": ", errstr));
  }
  impl_->conf.release();
  impl_->rk = rk;
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(static_cast<int>(impl_->opts.topics.size()));
  for (const auto& t : impl_->opts.topics) {
    rd_kafka_topic_partition_list_add(topics, t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    return absl::InvalidArgumentError(absl::StrCat("source ", impl_->opts.name, ": subscribe ",
                                                   absl::StrJoin(impl_->opts.topics, ","), ": ",
                                                   rd_kafka_err2str(err)));
  }
  impl_->started = true;
  impl_->sink = sink;
  impl_->thread = std::thread([impl = impl_.get()] { impl->Run(); });
  return absl::OkStatus();
}

void KafkaSource::Stop() {
  std::lock_guard<std::mutex> lock(impl_->lifecycle_mu);
  if (!internal::ClaimStop(impl_->started, &impl_->stopped, impl_->thread, impl_->opts.name)) return;
  impl_->stop.store(true, std::memory_order_release);
  impl_->thread.join();
  std::lock_guard<std::mutex> stats_lock(impl_->stats_mu);
  impl_->stats.connected = false;
}

SourceStats KafkaSource::Stats() const {
  std::lock_guard<std::mutex> lock(impl_->stats_mu);
  return impl_->stats;
}

std::string KafkaSource::name() const { return impl_->opts.name; }

}  // namespace sa::sources
