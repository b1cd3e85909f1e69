// Change events built by hand for the Debezium and Kafka sink tests.
#pragma once

#include <cstdint>
#include <string>

#include "streamadmin/cdc/v1/cdc.pb.h"

namespace sa::cdc::event_testing {

// Appends column `name` of PostgreSQL type `type` (no value yet) to `row`.
inline streamadmin::cdc::v1::Column* AddColumn(google::protobuf::RepeatedPtrField<streamadmin::cdc::v1::Column>* row,
                                               const std::string& name, const std::string& type, bool key = false) {
  streamadmin::cdc::v1::Column* c = row->Add();
  c->set_name(name);
  c->set_type_name(type);
  c->set_key(key);
  return c;
}

// Where an event stands in the source's WAL and when it was committed; given
// with designated initializers (a field left out is zero).
struct SourcePosition {
  uint64_t lsn;
  uint64_t event_lsn;
  uint64_t txid;
  int64_t commit_time_us = 1700000000123456;
  int64_t ts_ms;  // when the bridge processed it
};

// An event of `op`, without row images, on pg1.shop.public.<table>.
inline streamadmin::cdc::v1::ChangeEvent ShopEvent(streamadmin::cdc::v1::Op op, const std::string& table,
                                                   const SourcePosition& at) {
  streamadmin::cdc::v1::ChangeEvent e;
  e.set_op(op);
  e.mutable_table()->set_server("pg1");
  e.mutable_table()->set_database("shop");
  e.mutable_table()->set_schema("public");
  e.mutable_table()->set_table(table);
  e.mutable_source()->set_lsn(at.lsn);
  e.mutable_source()->set_event_lsn(at.event_lsn);
  e.mutable_source()->set_txid(at.txid);
  e.mutable_source()->set_commit_time_us(at.commit_time_us);
  e.set_ts_ms(at.ts_ms);
  return e;
}

}  // namespace sa::cdc::event_testing
