// Every metric of libs/bus, declared in one place. Process-wide (the default
// registry): counts add up over all connections and publishers.
#pragma once

#include <string>

#include "observability/metrics.h"

namespace sa::bus::internal {

struct BusMetrics {
  obs::Counter& connected;     // streamadmin_bus_connection_events_total{event="connected"}
  obs::Counter& disconnected;  // {event="disconnected"}
  obs::Counter& reconnected;   // {event="reconnected"}
  obs::Counter& closed;        // {event="closed"}
  obs::Counter& errors;        // {event="error"}
  obs::Gauge& connections_up;  // streamadmin_bus_connected
  obs::Counter& rebuilds;          // streamadmin_bus_connection_rebuilds_total
  obs::Counter& rebuild_failures;  // streamadmin_bus_connection_rebuild_failures_total

  obs::Counter& js_published;  // streamadmin_bus_js_published_total
  obs::Counter& js_acked;      // streamadmin_bus_js_acked_total
  obs::Counter& js_retried;    // streamadmin_bus_js_retried_total
  obs::Counter& js_failed;     // streamadmin_bus_js_failed_total
  obs::Gauge& js_in_flight;    // streamadmin_bus_js_in_flight

  static BusMetrics& Get();
  // streamadmin_bus_consumer_pending{stream,durable}: messages a durable has not
  // been delivered yet, as of the last message fetched (its metadata).
  static obs::Gauge& ConsumerPending(const std::string& stream, const std::string& durable);
};

}  // namespace sa::bus::internal
