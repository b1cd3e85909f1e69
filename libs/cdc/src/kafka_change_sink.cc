#include "cdc/kafka_change_sink.h"

#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "observability/metrics.h"

namespace sa::cdc {
namespace {

using streamadmin::cdc::v1::ChangeEvent;

// How long Send waits for a delivery before retrying a full librdkafka queue.
constexpr auto kQueueFullRetry = std::chrono::milliseconds(100);
// How long Close waits for purged records to be reported after the flush.
constexpr absl::Duration kPurgeWait = absl::Seconds(5);

// One event on its way: its value record and optional tombstone each hold a
// pointer to it as librdkafka message opaque.
struct Pending {
  std::function<void(absl::Status)> on_delivered;
  int remaining = 0;     // records not yet reported; guarded by Impl::mu
  absl::Status status;   // first failure; guarded by Impl::mu
};

std::string ErrName(rd_kafka_resp_err_t err) { return rd_kafka_err2name(err); }

}  // namespace

struct KafkaChangeSink::Impl {
  explicit Impl(KafkaChangeSinkOptions o)
      : opts(std::move(o)),
        registry(opts.metrics != nullptr ? *opts.metrics : obs::MetricsRegistry::Default()),
        produced(registry.GetCounter(
            "streamadmin_cdc_kafka_produced_total",
            "Kafka records (change events and tombstones) acknowledged by the broker")),
        delivery_errors(registry.GetCounter("streamadmin_cdc_kafka_delivery_errors_total",
                                            "Kafka records whose delivery failed")),
        inflight(registry.GetGauge("streamadmin_cdc_kafka_inflight",
                                   "Change events sent to Kafka whose delivery is not yet reported")) {}

  static void DeliveryReport(rd_kafka_t* rk, const rd_kafka_message_t* msg, void* opaque);
  static void ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque);
  static void LogCb(const rd_kafka_t* rk, int level, const char* fac, const char* buf);

  // Records one outcome for `p`; completes it when it was the last record.
  void Report(Pending* p, absl::Status status);
  // Runs on_delivered, then forgets `p` (so Flush returns after callbacks).
  void Complete(Pending* p);
  void Forget(Pending* p);  // without a callback: the record was never queued
  // Produces one record, retrying while the queue is full; `lock` is held on
  // entry and exit, released around librdkafka calls.
  absl::Status Produce(std::unique_lock<std::mutex>& lock, const std::string& topic,
                       const std::string& key, const std::string* value, Pending* p);

  const KafkaChangeSinkOptions opts;
  obs::MetricsRegistry& registry;
  obs::Counter& produced;
  obs::Counter& delivery_errors;
  obs::Gauge& inflight;

  rd_kafka_t* rk = nullptr;
  std::thread poller;
  std::atomic<bool> stop_polling{false};

  std::mutex close_mu;  // serialises Close
  bool destroyed = false;  // guarded by close_mu

  mutable std::mutex mu;
  std::condition_variable cv;  // a delivery completed, or closed/fatal changed
  std::unordered_set<Pending*> pending;
  bool closed = false;
  int active_sends = 0;  // Sends between their checks and their last librdkafka call
  absl::Status fatal;
};

void KafkaChangeSink::Impl::DeliveryReport(rd_kafka_t* rk, const rd_kafka_message_t* msg,
                                           void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  auto* p = static_cast<Pending*>(msg->_private);
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    self->produced.Inc();
    self->Report(p, absl::OkStatus());
    return;
  }
  self->delivery_errors.Inc();
  const std::string topic = msg->rkt != nullptr ? rd_kafka_topic_name(msg->rkt) : "?";
  std::string what = absl::StrCat("kafka delivery to topic ", topic, " partition ",
                                  msg->partition, " failed: ", ErrName(msg->err), ": ",
                                  rd_kafka_err2str(msg->err));
  // librdkafka purges the queue after a fatal error, before the error
  // callback runs: name the fatal error rather than the purge.
  char fatal_buf[512];
  const rd_kafka_resp_err_t fatal_err = rd_kafka_fatal_error(rk, fatal_buf, sizeof(fatal_buf));
  absl::Status status;
  if (msg->err == RD_KAFKA_RESP_ERR__FATAL || fatal_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (fatal_err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      absl::StrAppend(&what, " (producer fatal error ", ErrName(fatal_err), ": ", fatal_buf, ")");
    }
    status = absl::FailedPreconditionError(what);
  } else if (msg->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE ||
             msg->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
    status = absl::CancelledError(what);
  } else {
    status = absl::UnavailableError(what);
  }
  spdlog::warn("{}", what);
  self->Report(p, std::move(status));
}

void KafkaChangeSink::Impl::ErrorCb(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Impl*>(opaque);
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  if (code != RD_KAFKA_RESP_ERR__FATAL) {
    // Transport and broker errors: librdkafka retries; deliveries report
    // what could not be recovered.
    spdlog::warn("cdc kafka sink: {}: {}", ErrName(code), reason);
    return;
  }
  char buf[512];
  const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
  const std::string what = absl::StrCat("kafka producer fatal error ", ErrName(orig), ": ", buf,
                                        " (the sink must be recreated)");
  spdlog::error("cdc kafka sink: {}", what);
  {
    std::lock_guard<std::mutex> lock(self->mu);
    if (self->fatal.ok()) self->fatal = absl::FailedPreconditionError(what);
  }
  self->cv.notify_all();
}

void KafkaChangeSink::Impl::LogCb(const rd_kafka_t* rk, int level, const char* fac,
                                  const char* buf) {
  // syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug.
  if (level <= 3) {
    spdlog::error("rdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
  } else if (level == 4) {
    spdlog::warn("rdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
  } else if (level <= 6) {
    spdlog::info("rdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
  } else {
    spdlog::debug("rdkafka {} {}: {}", rd_kafka_name(rk), fac, buf);
  }
}

void KafkaChangeSink::Impl::Report(Pending* p, absl::Status status) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (p->status.ok() && !status.ok()) p->status = std::move(status);
    if (--p->remaining > 0) return;
  }
  Complete(p);
}

void KafkaChangeSink::Impl::Complete(Pending* p) {
  p->on_delivered(p->status);
  Forget(p);
}

void KafkaChangeSink::Impl::Forget(Pending* p) {
  {
    std::lock_guard<std::mutex> lock(mu);
    pending.erase(p);
  }
  inflight.Add(-1);
  delete p;
  cv.notify_all();
}

absl::Status KafkaChangeSink::Impl::Produce(std::unique_lock<std::mutex>& lock,
                                            const std::string& topic, const std::string& key,
                                            const std::string* value, Pending* p) {
  for (;;) {
    if (closed) return absl::FailedPreconditionError("kafka sink is closed");
    if (!fatal.ok()) return fatal;
    lock.unlock();
    // librdkafka's V_ macros do not parenthesise their arguments.
    void* key_ptr = key.empty() ? nullptr : const_cast<char*>(key.data());
    const size_t key_len = key.size();
    void* value_ptr = value == nullptr ? nullptr : const_cast<char*>(value->data());
    const size_t value_len = value == nullptr ? 0 : value->size();
    // F_COPY: librdkafka copies key and value before this call returns.
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key_ptr, key_len),
        RD_KAFKA_V_VALUE(value_ptr, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
    lock.lock();
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) return absl::OkStatus();
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (err == RD_KAFKA_RESP_ERR__FATAL && fatal.ok()) {
        // The error callback may not have run yet.
        char buf[512];
        const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof(buf));
        fatal = absl::FailedPreconditionError(absl::StrCat(
            "kafka producer fatal error ", ErrName(orig), ": ", buf, " (the sink must be recreated)"));
      }
      if (!fatal.ok()) return fatal;
      const std::string what = absl::StrCat("kafka produce to topic ", topic, " refused: ",
                                            ErrName(err), ": ", rd_kafka_err2str(err));
      if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) return absl::InvalidArgumentError(what);
      // Topic or partition errors librdkafka holds until a metadata refresh
      // (unknown topic, authorization, ...).
      return absl::UnavailableError(what);
    }
    // Back-pressure: the poll thread frees queue space as deliveries come in.
    cv.wait_for(lock, kQueueFullRetry);
  }
}

KafkaChangeSink::KafkaChangeSink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

KafkaChangeSink::~KafkaChangeSink() { Close(absl::Seconds(10)); }

absl::StatusOr<std::unique_ptr<KafkaChangeSink>> KafkaChangeSink::Create(
    KafkaChangeSinkOptions options) {
  if (options.bootstrap_servers.empty()) {
    return absl::InvalidArgumentError("kafka sink: bootstrap_servers is empty");
  }
  if (options.max_inflight == 0) {
    return absl::InvalidArgumentError("kafka sink: max_inflight must be > 0");
  }
  for (const auto& [name, value] : options.properties) {
    const std::string v = absl::AsciiStrToLower(value);
    if (name == "enable.idempotence" && v != "true") {
      return absl::InvalidArgumentError(absl::StrCat(
          "kafka sink: property enable.idempotence=", value, " is not allowed (must stay true)"));
    }
    if ((name == "acks" || name == "request.required.acks") && v != "all" && v != "-1") {
      return absl::InvalidArgumentError(
          absl::StrCat("kafka sink: property ", name, "=", value, " is not allowed (must be all)"));
    }
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  const KafkaChangeSinkOptions& o = impl->opts;

  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> props = {
      {"bootstrap.servers", o.bootstrap_servers},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", std::to_string(o.linger_ms)},
      {"batch.size", std::to_string(o.batch_size_bytes)},
      {"message.timeout.ms", std::to_string(o.message_timeout_ms)},
      // Java's default partitioner for keyed records: a key lands on the same
      // partition as it would with Debezium (Kafka Connect).
      {"partitioner", "murmur2_random"},
  };
  for (const auto& kv : o.properties) props.push_back(kv);
  for (const auto& [name, value] : props) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), err, sizeof(err)) !=
        RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return absl::InvalidArgumentError(
          absl::StrCat("kafka sink: property ", name, "=", value, ": ", err));
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &Impl::DeliveryReport);
  rd_kafka_conf_set_error_cb(conf, &Impl::ErrorCb);
  rd_kafka_conf_set_log_cb(conf, &Impl::LogCb);
  rd_kafka_conf_set_opaque(conf, impl.get());
  impl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (impl->rk == nullptr) {
    rd_kafka_conf_destroy(conf);  // rd_kafka_new only takes it on success
    return absl::InvalidArgumentError(absl::StrCat("kafka sink: cannot create producer: ", err));
  }
  Impl* raw = impl.get();
  impl->poller = std::thread([raw] {
    while (!raw->stop_polling.load(std::memory_order_relaxed)) rd_kafka_poll(raw->rk, 100);
  });
  return std::unique_ptr<KafkaChangeSink>(new KafkaChangeSink(std::move(impl)));
}

absl::Status KafkaChangeSink::Send(const ChangeEvent& event,
                                   std::function<void(absl::Status)> on_delivered) {
  Impl& s = *impl_;
  if (DebeziumOp(event.op()).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kafka sink: event of ", event.table().schema(), ".", event.table().table(), " at lsn ",
        event.source().lsn(), " has no op"));
  }
  if (event.table().table().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("kafka sink: event at lsn ", event.source().lsn(), " has no table name"));
  }
  const std::string topic = TopicFor(event.table());
  const bool keyed = HasDebeziumKey(event);
  const std::string key = keyed ? DebeziumKeyJson(event, s.opts.debezium) : std::string();
  const std::string value = DebeziumValueJson(event, s.opts.debezium);
  const bool tombstone =
      s.opts.tombstones_on_delete && keyed && event.op() == streamadmin::cdc::v1::OP_DELETE;

  std::unique_lock<std::mutex> lock(s.mu);
  s.cv.wait(lock, [&] {
    return s.closed || !s.fatal.ok() || s.pending.size() < s.opts.max_inflight;
  });
  if (s.closed) return absl::FailedPreconditionError("kafka sink is closed");
  if (!s.fatal.ok()) return s.fatal;
  auto* p = new Pending{std::move(on_delivered), tombstone ? 2 : 1, absl::OkStatus()};
  s.pending.insert(p);
  s.inflight.Add(1);
  ++s.active_sends;
  struct ActiveSend {
    Impl& s;
    ~ActiveSend() {
      --s.active_sends;  // the caller's lock is held here
      s.cv.notify_all();
    }
  } active{s};

  if (absl::Status st = s.Produce(lock, topic, key, &value, p); !st.ok()) {
    lock.unlock();
    s.Forget(p);  // nothing of this event was queued
    lock.lock();
    return st;
  }
  if (!tombstone) return absl::OkStatus();
  if (absl::Status st = s.Produce(lock, topic, key, nullptr, p); !st.ok()) {
    // The value record is queued: on_delivered must still run, with this
    // error. If the value was already acknowledged that happens right here,
    // on the Send thread.
    lock.unlock();
    s.Report(p, absl::Status(st.code(), absl::StrCat("tombstone not sent: ", st.message())));
    lock.lock();
  }
  return absl::OkStatus();
}

absl::Status KafkaChangeSink::Flush(absl::Duration timeout) {
  Impl& s = *impl_;
  std::unique_lock<std::mutex> lock(s.mu);
  const auto deadline = std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  if (!s.cv.wait_until(lock, deadline, [&] { return s.pending.empty(); })) {
    return absl::DeadlineExceededError(absl::StrCat(
        "kafka sink: ", s.pending.size(), " event(s) still unacknowledged after ",
        absl::FormatDuration(timeout)));
  }
  return absl::OkStatus();
}

size_t KafkaChangeSink::InFlight() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->pending.size();
}

void KafkaChangeSink::Close(absl::Duration timeout) {
  Impl& s = *impl_;
  std::lock_guard<std::mutex> close_lock(s.close_mu);
  if (s.destroyed) return;
  {
    std::unique_lock<std::mutex> lock(s.mu);
    s.closed = true;
    s.cv.notify_all();
    // Sends blocked on back-pressure return on `closed`; the others finish
    // their librdkafka call before the producer goes away.
    s.cv.wait(lock, [&] { return s.active_sends == 0; });
  }
  if (!Flush(timeout).ok()) {
    spdlog::warn("cdc kafka sink: closing with {} unacknowledged event(s); purging them",
                 InFlight());
    rd_kafka_purge(s.rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    (void)Flush(kPurgeWait);  // the poll thread reports the purged records
  }
  s.stop_polling = true;
  s.poller.join();
  rd_kafka_destroy(s.rk);
  s.rk = nullptr;
  s.destroyed = true;
  std::vector<Pending*> left;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    left.assign(s.pending.begin(), s.pending.end());
  }
  for (Pending* p : left) {
    if (p->status.ok()) p->status = absl::CancelledError("kafka sink closed before delivery");
    s.Complete(p);
  }
}

std::string KafkaChangeSink::TopicFor(const streamadmin::cdc::v1::TableId& table) const {
  return DebeziumTopic(table, impl_->opts.topic_prefix);
}

}  // namespace sa::cdc
