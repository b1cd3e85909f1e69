#include "warehouse_sink/app.h"

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "runtime/main.h"
#include "runtime/nats_service_app.h"
#include "runtime/streams.h"
#include "streamadmin/cdc/v1/cdc.grpc.pb.h"
#include "warehouse_sink/cdc_sink.h"
#include "warehouse_sink/market_data_sink.h"
#include "wire/subjects.h"

namespace sa::warehouse_sink {

namespace cfg = streamadmin::config::v1;
namespace cdcpb = streamadmin::cdc::v1;

// The defaults are cdc-bridge's sink defaults of before the move, durable
// names included, so JetStream consumers and warehouse positions carry over.
cfg::WarehouseSinkConfig DefaultConfig() {
  cfg::WarehouseSinkConfig c;
  runtime::SetCommonDefaults(7106, 9106, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("warehouse-sink");
  *c.add_streams() = runtime::DlqStream();
  c.mutable_warehouse()->set_dsn("host=127.0.0.1 port=5432 dbname=warehouse user=postgres");
  auto* cdc = c.mutable_cdc();
  cdc->mutable_consumer()->set_stream("CDC");
  cdc->mutable_consumer()->set_durable("warehouse");
  cdc->mutable_consumer()->set_filter_subject(wire::kCdcAll);
  cdc->mutable_consumer()->set_ack_wait_s(60);
  cdc->mutable_consumer()->set_max_ack_pending(200000);
  cdc->mutable_consumer()->set_fetch_batch(1000);
  cdc->set_schema_template("cdc_{server}_{schema}");
  cdc->set_max_batch_events(20000);
  auto* md = c.mutable_market_data();
  md->set_stream("MD");
  md->set_schema("md");
  md->set_batch(5000);
  return c;
}

namespace {

bool IsPgName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char ch : s)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) return false;
  return true;
}

}  // namespace

absl::Status ValidateConfig(const cfg::WarehouseSinkConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (c.cdc().disabled() && c.market_data().disabled())
    return absl::InvalidArgumentError(
        "keys 'cdc.disabled' and 'market_data.disabled': both parts are off, the service would do nothing");
  if (c.warehouse().dsn().empty()) return absl::InvalidArgumentError("key 'warehouse.dsn': required");
  if (!c.cdc().disabled()) {
    if (auto st = runtime::ValidateConsumer(c.cdc().consumer(), "cdc.consumer"); !st.ok()) return st;
    if (c.cdc().consumer().max_ack_pending() == 0)
      return absl::InvalidArgumentError(
          "key 'cdc.consumer.max_ack_pending': must be > 0 (and above the largest source transaction)");
    if (c.cdc().schema_template().empty())
      return absl::InvalidArgumentError("key 'cdc.schema_template': required, e.g. \"cdc_{server}_{schema}\"");
  }
  if (!c.market_data().disabled()) {
    if (c.market_data().stream().empty())
      return absl::InvalidArgumentError("key 'market_data.stream': required, e.g. \"MD\"");
    if (!IsPgName(c.market_data().schema()))
      return absl::InvalidArgumentError(
          absl::StrCat("key 'market_data.schema': '", c.market_data().schema(), "' must be 1-63 of [a-z0-9_]"));
    if (c.market_data().batch() == 0 || c.market_data().batch() > 100000)
      return absl::InvalidArgumentError(
          absl::StrCat("key 'market_data.batch': ", c.market_data().batch(), " must be 1..100000"));
  }
  return runtime::ValidateStreams(c.streams());
}

namespace {

// The CDC part and the market-data part, each on its own worker thread
// (CdcSink, MarketDataSink); this class only starts, pauses and stops them
// and reports their state. Readiness is NATS and the warehouse
// (NatsServiceApp's probes): the parts retry on their own while either is down.
class WarehouseSinkApp final : public runtime::NatsServiceApp, public cdcpb::CdcSink::Service {
 public:
  explicit WarehouseSinkApp(const cfg::WarehouseSinkConfig& c)
      : NatsServiceApp(c.nats(), {c.streams().begin(), c.streams().end()}, {{"warehouse", c.warehouse().dsn()}}),
        config_(c) {}

  absl::Status OnStart() override {
    if (!config_.cdc().disabled()) {
      cdc_ = std::make_unique<CdcSink>(nats(), config_.warehouse().dsn(), config_.cdc(), config_.citus_shard_count());
      cdc_->Start();
    }
    if (!config_.market_data().disabled()) {
      md_ = std::make_unique<MarketDataSink>(nats(), config_.warehouse().dsn(), config_.market_data(),
                                             config_.citus_shard_count());
      md_->Start();
    }
    return absl::OkStatus();
  }

  absl::Status Pause() override {
    SetPaused(true);
    return absl::OkStatus();
  }
  absl::Status Resume() override {
    SetPaused(false);
    return absl::OkStatus();
  }
  // Stops fetching; what was applied is acked, what is buffered and not yet
  // applied stays unacked and comes again to the next process.
  absl::Status Drain(absl::Duration) override {
    StopParts();
    return absl::OkStatus();
  }
  void OnStop() override {
    StopParts();
    md_.reset();
    cdc_.reset();
  }

  std::vector<grpc::Service*> GrpcServices() override { return {this}; }

  grpc::Status GetSinkStatus(grpc::ServerContext*, const cdcpb::GetSinkStatusRequest*,
                             cdcpb::SinkStatus* out) override {
    out->set_enabled(cdc_ != nullptr);
    if (!cdc_) return grpc::Status::OK;
    for (const auto& [k, v] : cdc_->Details()) {
      uint64_t n = 0;
      if (absl::StartsWith(k, "sink_position.")) {
        auto* p = out->add_positions();
        p->set_server(k.substr(std::strlen("sink_position.")));
        p->set_lsn(v);
      } else if (k == "sink_last_error") {
        out->set_last_error(v);
      } else if (absl::SimpleAtoi(v, &n)) {
        if (k == "sink_applied") out->set_applied(n);
        if (k == "sink_skipped") out->set_skipped(n);
        if (k == "sink_dead_letters") out->set_dead_letters(n);
        if (k == "sink_transactions") out->set_transactions(n);
        if (k == "sink_errors") out->set_errors(n);
        if (k == "sink_rewinds") out->set_rewinds(n);
      }
    }
    return grpc::Status::OK;
  }

  // The keys cdc-bridge reported for its sinks before the move (sink_*,
  // warehouse_md_*), so dashboards and scripts reading GetStatus carry over.
  std::map<std::string, std::string> Details() override {
    std::map<std::string, std::string> d;
    d["cdc"] = cdc_ ? "on" : "off";
    d["market_data"] = md_ ? "on" : "off";
    if (cdc_) {
      d.merge(cdc_->Details());
      d["sink_connected"] = cdc_->healthy() ? "true" : "false";
    }
    if (md_) {
      d["warehouse_md_trades"] = std::to_string(md_->trades());
      d["warehouse_md_candles"] = std::to_string(md_->candles());
      d["warehouse_md_dead_letters"] = std::to_string(md_->dead_letters());
      d["warehouse_md_last_error"] = md_->last_error();
    }
    // The consumer loops' health entries, as details: readiness stays NATS +
    // the warehouse (a CDC or MD stream that does not exist yet is waited for).
    std::vector<streamadmin::control::v1::Dependency> loops;
    if (cdc_) loops.push_back(cdc_->Health());
    if (md_)
      for (auto& h : md_->Health()) loops.push_back(std::move(h));
    for (const auto& h : loops) d[h.name()] = h.detail();
    return d;
  }

 private:
  void SetPaused(bool paused) {
    if (cdc_) cdc_->SetPaused(paused);
    if (md_) md_->SetPaused(paused);
  }
  void StopParts() {
    if (cdc_) cdc_->Stop();
    if (md_) md_->Stop();
  }

  const cfg::WarehouseSinkConfig config_;
  std::unique_ptr<CdcSink> cdc_;        // null when cdc.disabled
  std::unique_ptr<MarketDataSink> md_;  // null when market_data.disabled
};

}  // namespace

absl::StatusOr<std::unique_ptr<runtime::Application>> CreateApp(const cfg::WarehouseSinkConfig& c) {
  return std::make_unique<WarehouseSinkApp>(c);
}

}  // namespace sa::warehouse_sink
