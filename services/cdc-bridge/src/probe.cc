#include "cdc_bridge/probe.h"

namespace sa::cdc_bridge {

namespace cdcpb = streamadmin::cdc::v1;

namespace {
constexpr char kDeadLettersTotal[] = "streamadmin_cdc_dead_letters_total";
constexpr char kDeadLettersHelp[] = "Change events parked on dlq.cdc, by reason";

const char* OpName(cdcpb::Op op) {
  switch (op) {
    case cdcpb::OP_CREATE:
      return "c";
    case cdcpb::OP_UPDATE:
      return "u";
    case cdcpb::OP_DELETE:
      return "d";
    case cdcpb::OP_TRUNCATE:
      return "t";
    default:
      return "?";
  }
}
}  // namespace

const char* CdcProbe::ReasonLabel(DeadLetterReason reason) {
  switch (reason) {
    case DeadLetterReason::kSerializeFailed:
      return "serialize_failed";
    case DeadLetterReason::kPublishRefused:
      return "publish_refused";
    case DeadLetterReason::kKafkaRefused:
      return "kafka_refused";
    case DeadLetterReason::kPublishFailed:
      return "publish_failed";
  }
  return "unknown";
}

CdcProbe::CdcProbe(obs::MetricsRegistry& r)
    : transactions(r.GetCounter("streamadmin_cdc_transactions_total", "Committed transactions received from the slot")),
      events_acked(r.GetCounter("streamadmin_cdc_events_acked_total", "Change events acknowledged by JetStream")),
      replication_errors(r.GetCounter("streamadmin_cdc_replication_errors_total",
                                      "Replication errors (connect, slot, stream); each is followed by a reconnect")),
      reconnects(r.GetCounter("streamadmin_cdc_reconnects_total", "Replication connections opened after the first")),
      slot_lag_bytes(r.GetGauge("streamadmin_cdc_slot_lag_bytes",
                                "pg_current_wal_lsn() - confirmed_flush_lsn of the slot, in bytes")),
      confirmed_lsn(r.GetGauge("streamadmin_cdc_confirmed_lsn", "LSN the slot was last confirmed to")),
      streaming(r.GetGauge("streamadmin_cdc_streaming", "1 while the replication stream is open")) {
  for (auto op : {cdcpb::OP_CREATE, cdcpb::OP_UPDATE, cdcpb::OP_DELETE, cdcpb::OP_TRUNCATE})
    events_by_op_[op] =
        &r.GetCounter("streamadmin_cdc_events_total", "Change events handed to JetStream, by op", {{"op", OpName(op)}});
  // Every reason at 0 from the start, so increase() sees the first one.
  for (auto reason : {DeadLetterReason::kSerializeFailed, DeadLetterReason::kPublishRefused,
                      DeadLetterReason::kKafkaRefused, DeadLetterReason::kPublishFailed})
    dead_letters_[static_cast<int>(reason)] =
        &r.GetCounter(kDeadLettersTotal, kDeadLettersHelp, {{"reason", ReasonLabel(reason)}});
}

void CdcProbe::CountEvent(cdcpb::Op op) {
  const int i = static_cast<int>(op);
  if (i >= 0 && i < 6 && events_by_op_[i] != nullptr) events_by_op_[i]->Inc();
}

uint64_t CdcProbe::dead_letters() const {
  uint64_t n = 0;
  for (const obs::Counter* c : dead_letters_) n += Count(*c);
  return n;
}

}  // namespace sa::cdc_bridge
