#include "warehouse_sink/market_data_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crash_point.h"
#include "wire/msg_ids.h"
#include "wire/subjects.h"

namespace sa::warehouse_sink {

namespace mdpb = streamadmin::marketdata::v1;

namespace cfg = streamadmin::config::v1;

MarketDataSink::MarketDataSink(runtime::NatsClient& nats, std::string warehouse_dsn, cfg::MarketDataSinkConfig config,
                               uint32_t citus_shard_count)
    : nats_(nats), dsn_(std::move(warehouse_dsn)), config_(std::move(config)), citus_shard_count_(citus_shard_count) {}

MarketDataSink::~MarketDataSink() { Stop(); }

void MarketDataSink::Start() {
  const std::string stream = config_.stream().empty() ? "MD" : config_.stream();
  for (Part* part : {&trades_part_, &candles_part_}) {
    cfg::ConsumerConfig c;
    c.set_stream(stream);
    c.set_durable(part == &trades_part_ ? "warehouse-trades" : "warehouse-candles");
    c.set_filter_subject(part == &trades_part_ ? wire::kTradeAll : wire::kCandleAll);
    c.set_ack_wait_s(60);
    c.set_max_ack_pending(50000);
    c.set_fetch_batch(config_.batch() ? config_.batch() : 5000);
    part->trades = part == &trades_part_;
    // One cumulative ack per stored batch. A batch that could not be stored
    // is not nak'd (a later batch's ack would ack it): the durable rewinds to
    // its ack floor after the back-off, and so does the first bind.
    part->loop = std::make_unique<runtime::ConsumerLoop>(
        nats_,
        runtime::ConsumerLoop::Options{.consumer = c,
                                       .name = part->trades ? "consumer.trades" : "consumer.candles",
                                       .fetch_wait = absl::Milliseconds(50),
                                       .acks = bus::AckPolicy::kAll},
        [this, part](std::vector<bus::ReceivedMessage>& batch) {
          if (batch.empty()) return runtime::ConsumerLoop::Next::kFetch;
          return Write(*part, batch) ? runtime::ConsumerLoop::Next::kFetch : runtime::ConsumerLoop::Next::kRewind;
        });
    part->loop->Start();
  }
}

void MarketDataSink::Stop() {
  for (Part* part : {&trades_part_, &candles_part_})
    if (part->loop) part->loop->Stop();
  std::lock_guard lock(dlq_mu_);
  dlq_.reset();
}

void MarketDataSink::SetPaused(bool paused) {
  for (Part* part : {&trades_part_, &candles_part_})
    if (part->loop) part->loop->SetPaused(paused);
}

std::vector<streamadmin::control::v1::Dependency> MarketDataSink::Health() const {
  std::vector<streamadmin::control::v1::Dependency> out;
  for (const Part* part : {&trades_part_, &candles_part_})
    if (part->loop) out.push_back(part->loop->Health());
  return out;
}

bus::DeadLetterWriter* MarketDataSink::Dlq() {
  std::lock_guard lock(dlq_mu_);
  if (!dlq_) {
    auto p = bus::DeadLetterWriter::Create(nats_.connection(), {.stage = "warehouse", .subject = wire::kDlqWarehouse});
    if (p.ok()) dlq_ = std::move(*p);
  }
  return dlq_.get();
}

std::string MarketDataSink::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

void MarketDataSink::SetError(std::string e) {
  std::lock_guard lock(error_mu_);
  last_error_ = std::move(e);
}

void MarketDataSink::DeadLetter(const bus::ReceivedMessage& m, const std::string& reason, const std::string& error) {
  probe_.dead_letters.For(reason).Inc();
  spdlog::error("warehouse: {} (msg id {}) dead-lettered to dlq.warehouse ({}): {}", m.subject(), m.msg_id(), reason,
                error);
  bus::DeadLetterWriter* dlq = Dlq();
  if (dlq == nullptr) return;
  if (absl::Status st = dlq->Write(
          {.reason = reason,
           .error = error,
           .subject = m.subject(),
           .input_msg_id = m.msg_id().empty() ? wire::StreamPositionId(m.subject(), m.stream_sequence()) : m.msg_id(),
           .payload = m.data()});
      !st.ok())
    spdlog::error("dead letter of {} not published: {}", m.subject(), std::string(st.message()));
}

bool MarketDataSink::Write(Part& part, std::vector<bus::ReceivedMessage>& batch) {
  const bool trades = part.trades;
  std::vector<bus::ReceivedMessage>* msgs = &batch;
  std::vector<mdpb::Trade> t;
  std::vector<warehouse::CandleRow> c;
  std::vector<bool> ok(msgs->size(), false);
  if (trades) t.resize(msgs->size()); else c.resize(msgs->size());
  size_t parked = 0;
  for (size_t i = 0; i < msgs->size(); ++i) {
    const auto& m = (*msgs)[i];
    std::string why;
    if (trades) {
      if (!t[i].ParseFromString(m.data())) {
        why = "payload is not a marketdata.v1.Trade";
      } else {
        // Kraken v1 trades carry no venue id: the key is then what MD keeps
        // unique, the message's Nats-Msg-Id (deterministic per raw frame).
        if (t[i].trade_id().empty()) t[i].set_trade_id(m.msg_id());
        why = warehouse::MarketDataWriter::Check(t[i]);
      }
    } else {
      std::vector<std::string> tok = absl::StrSplit(m.subject(), '.');  // md.candle.<interval>.<venue>.<SYMBOL>
      c[i].interval = tok.size() >= 3 ? tok[2] : "";
      why = !c[i].candle.ParseFromString(m.data()) ? "payload is not a marketdata.v1.Candle"
                                                   : warehouse::MarketDataWriter::Check(c[i]);
    }
    if (!why.empty()) {
      DeadLetter(m, absl::StartsWith(why, "payload") ? "undecodable" : "invalid", why);
      ++parked;
      continue;
    }
    ok[i] = true;
  }
  if (!part.writer) {
    auto w = warehouse::MarketDataWriter::Connect(
        {.conninfo = dsn_,
         .schema = config_.schema().empty() ? "md" : config_.schema(),
         .citus_shard_count = citus_shard_count_ > 0 ? static_cast<int>(citus_shard_count_) : 8});
    if (!w.ok()) {
      probe_.errors.Inc();
      SetError(std::string(w.status().message()));
      spdlog::warn("warehouse (market data): {}", std::string(w.status().message()));
      return false;
    }
    part.writer = std::move(*w);
  }
  absl::StatusOr<size_t> n;
  if (trades) {
    std::vector<const mdpb::Trade*> p;
    for (size_t i = 0; i < t.size(); ++i)
      if (ok[i]) p.push_back(&t[i]);
    n = part.writer->WriteTrades(p);
  } else {
    std::vector<const warehouse::CandleRow*> p;
    for (size_t i = 0; i < c.size(); ++i)
      if (ok[i]) p.push_back(&c[i]);
    n = part.writer->WriteCandles(p);
  }
  if (!n.ok()) {
    probe_.errors.Inc();
    SetError(std::string(n.status().message()));
    spdlog::warn("warehouse (market data): batch of {} not stored: {}", msgs->size(), std::string(n.status().message()));
    part.writer.reset();
    return false;
  }
  if (parked > 0) {
    if (bus::DeadLetterWriter* dlq = Dlq()) (void)dlq->Flush(absl::Seconds(10));
  }
  SetError("");
  SA_CRASH_POINT("md_sink.batch_committed");  // in the warehouse, nothing acked
  // Ack-all: the batch's highest stream sequence acks it whole (and what
  // earlier batches stored).
  auto last = std::max_element(msgs->begin(), msgs->end(),
                               [](const auto& a, const auto& b) { return a.stream_sequence() < b.stream_sequence(); });
  (void)last->Ack();
  for (size_t i = 0; i < msgs->size(); ++i) SA_CRASH_POINT("md_sink.message_acked");  // once per message acked
  (trades ? probe_.trades : probe_.candles).Inc(static_cast<double>(*n));
  return true;
}

}  // namespace sa::warehouse_sink
