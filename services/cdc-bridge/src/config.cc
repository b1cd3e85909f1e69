#include "cdc_bridge/config.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/main.h"
#include "runtime/streams.h"

namespace sa::cdc_bridge {

namespace cfg = streamadmin::config::v1;

cfg::CdcBridgeConfig DefaultConfig() {
  cfg::CdcBridgeConfig c;
  runtime::SetCommonDefaults(7103, 9103, c.mutable_server(), c.mutable_log(), c.mutable_nats());
  c.mutable_nats()->set_name("cdc-bridge");
  *c.add_streams() = runtime::CdcStream();
  *c.add_streams() = runtime::DlqStream();
  c.mutable_source()->set_dsn("host=127.0.0.1 port=5432 dbname=postgres user=postgres");
  auto* k = c.mutable_connector();
  k->set_server_name("pg");
  k->set_slot_name("streamadmin_cdc");
  k->set_publication_name("streamadmin_cdc");
  k->set_heartbeat_interval_s(10);
  k->set_status_interval_ms(1000);
  k->set_lag_refresh_interval_ms(2000);
  k->mutable_kafka()->set_tombstones_on_delete(true);
  k->set_snapshot_mode("initial");
  k->set_snapshot_chunk_size(10000);  // Debezium's tombstones.on.delete default
  return c;
}

namespace {

bool IsPgName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_'; });
}

// A NATS subject token: no '.', '*', '>', whitespace, and (for the msg id) no ':'.
bool IsServerName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
  });
}

}  // namespace

absl::Status ValidateConfig(const cfg::CdcBridgeConfig& c) {
  if (auto st = runtime::ValidateCommon(c.server(), &c.nats()); !st.ok()) return st;
  if (c.source().dsn().empty()) return absl::InvalidArgumentError("key 'source.dsn': required");
  const auto& k = c.connector();
  if (!IsServerName(k.server_name()))
    return absl::InvalidArgumentError(absl::StrCat("key 'connector.server_name': '", k.server_name(),
                                                   "' must be 1-64 of [A-Za-z0-9_-] (it is a subject token)"));
  if (!IsPgName(k.slot_name()))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'connector.slot_name': '", k.slot_name(), "' must be 1-63 of [a-z0-9_]"));
  if (!IsPgName(k.publication_name()))
    return absl::InvalidArgumentError(
        absl::StrCat("key 'connector.publication_name': '", k.publication_name(), "' must be 1-63 of [a-z0-9_]"));
  for (int i = 0; i < k.include_tables_size(); ++i)
    if (k.include_tables(i).empty() || k.include_tables(i).find_first_of(" ;\"'") != std::string::npos)
      return absl::InvalidArgumentError(absl::StrCat("key 'connector.include_tables[", i, "]': '", k.include_tables(i),
                                                     "' must be \"schema.table\" or \"table\""));
  for (int i = 0; i < k.exclude_tables_size(); ++i)
    if (std::count(k.exclude_tables(i).begin(), k.exclude_tables(i).end(), '.') != 1)
      return absl::InvalidArgumentError(absl::StrCat("key 'connector.exclude_tables[", i, "]': '", k.exclude_tables(i),
                                                     "' must be \"schema.table\""));
  if (k.status_interval_ms() == 0 || k.status_interval_ms() > 30000)
    return absl::InvalidArgumentError(
        absl::StrCat("key 'connector.status_interval_ms': ", k.status_interval_ms(), " must be 1..30000"));
  if (k.heartbeat_interval_s() > 3600)
    return absl::InvalidArgumentError(
        absl::StrCat("key 'connector.heartbeat_interval_s': ", k.heartbeat_interval_s(), " must be 0..3600"));
  if (k.lag_refresh_interval_ms() == 0)
    return absl::InvalidArgumentError("key 'connector.lag_refresh_interval_ms': must be > 0");
  if (k.snapshot_mode() != "initial" && k.snapshot_mode() != "never" && k.snapshot_mode() != "when_needed" &&
      k.snapshot_mode() != "initial_only")
    return absl::InvalidArgumentError(absl::StrCat("key 'connector.snapshot_mode': '", k.snapshot_mode(),
                                                   "' must be initial, never, when_needed or initial_only"));
  if (k.snapshot_chunk_size() == 0 || k.snapshot_chunk_size() > 1000000)
    return absl::InvalidArgumentError(
        absl::StrCat("key 'connector.snapshot_chunk_size': ", k.snapshot_chunk_size(), " must be 1..1000000"));
  if (k.kafka().enabled() && k.kafka().bootstrap_servers().empty())
    return absl::InvalidArgumentError("key 'connector.kafka.bootstrap_servers': required when connector.kafka.enabled");
  for (int i = 0; i < k.kafka().properties_size(); ++i)
    if (k.kafka().properties(i).name().empty())
      return absl::InvalidArgumentError(absl::StrCat("key 'connector.kafka.properties[", i, "].name': required"));
  return runtime::ValidateStreams(c.streams());
}

cdc::KafkaChangeSinkOptions KafkaSinkOptions(const cfg::KafkaOutputConfig& kc) {
  cdc::KafkaChangeSinkOptions o;
  o.bootstrap_servers = kc.bootstrap_servers();
  o.topic_prefix = kc.topic_prefix();  // empty: server_name, as Debezium's topic.prefix
  o.tombstones_on_delete = kc.tombstones_on_delete();
  for (const auto& p : kc.properties()) o.properties[p.name()] = p.value();
  return o;
}
}  // namespace sa::cdc_bridge
