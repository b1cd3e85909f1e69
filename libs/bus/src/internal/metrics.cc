#include "internal/metrics.h"

namespace sa::bus::internal {
namespace {

constexpr char kEvents[] = "streamadmin_bus_connection_events_total";
constexpr char kEventsHelp[] = "NATS connection events by kind.";

obs::Counter& Event(const char* event) {
  return obs::MetricsRegistry::Default().GetCounter(kEvents, kEventsHelp, {{"event", event}});
}

}  // namespace

BusMetrics& BusMetrics::Get() {
  static BusMetrics* metrics = [] {
    auto& reg = obs::MetricsRegistry::Default();
    return new BusMetrics{
        Event("connected"),
        Event("disconnected"),
        Event("reconnected"),
        Event("closed"),
        Event("error"),
        reg.GetGauge("streamadmin_bus_connected", "NATS connections currently established."),
        reg.GetCounter("streamadmin_bus_connection_rebuilds_total",
                       "NATS connections built anew after nats.c closed one for good or refused the first."),
        reg.GetCounter("streamadmin_bus_connection_rebuild_failures_total",
                       "Attempts to build a NATS connection anew that failed (retried with backoff)."),
        reg.GetCounter("streamadmin_bus_js_published_total",
                       "Messages handed to JetStreamPublisher::Publish."),
        reg.GetCounter("streamadmin_bus_js_acked_total",
                       "JetStream publish acknowledgements received (stored or duplicate)."),
        reg.GetCounter("streamadmin_bus_js_retried_total",
                       "JetStream publishes re-sent after a timeout or error."),
        reg.GetCounter("streamadmin_bus_js_failed_total",
                       "JetStream publishes that failed permanently (not retried)."),
        reg.GetGauge("streamadmin_bus_js_in_flight",
                     "JetStream publishes not yet acknowledged, including those awaiting retry."),
    };
  }();
  return *metrics;
}

obs::Gauge& BusMetrics::ConsumerPending(const std::string& stream, const std::string& durable) {
  return obs::MetricsRegistry::Default().GetGauge(
      "streamadmin_bus_consumer_pending",
      "Messages of the stream a durable consumer has not been delivered yet, as of its last fetched message.",
      {{"stream", stream}, {"durable", durable}});
}

}  // namespace sa::bus::internal
