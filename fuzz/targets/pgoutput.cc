// The pgoutput decoder (cdc/decoder.h) over a stream of XLogData payloads, as
// a replication connection would deliver them: records of a big-endian u16
// length and that many bytes. Every payload also goes through
// ParsePgOutputMessage alone; every committed transaction through the
// Debezium envelope, and every value through the strict type mapping.
//
// Promises checked: a parse error is INVALID_ARGUMENT and names the byte
// offset; the decoder fails only with INVALID_ARGUMENT, NOT_FOUND (unknown
// relation) or FAILED_PRECONDITION (protocol order); a transaction's events
// have an op; the Debezium key and value are valid JSON.
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "cdc/debezium.h"
#include "cdc/decoder.h"
#include "cdc/pgoutput.h"
#include "cdc/value_mapping.h"
#include "fuzz_target.h"
#include "nlohmann/json.hpp"

namespace {

namespace cdcpb = ::streamadmin::cdc::v1;

void CheckEnvelope(const cdcpb::ChangeEvent& e, std::string_view input) {
  if (e.op() == cdcpb::OP_UNSPECIFIED) sa::fuzz::Broken("pgoutput", "a decoded event has no op", input);
  std::string key = sa::cdc::DebeziumKeyJson(e);
  if (!nlohmann::json::accept(key)) sa::fuzz::Broken("pgoutput", "Debezium key is not JSON", input, key);
  std::string value = sa::cdc::DebeziumValueJson(e);
  if (!nlohmann::json::accept(value)) sa::fuzz::Broken("pgoutput", "Debezium value is not JSON", input, value);
  (void)sa::cdc::DebeziumTopic(e.table(), "");
}

}  // namespace

SA_FUZZ_TARGET(pgoutput) {
  using namespace sa;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  cdc::PgOutputDecoder::Options options;
  options.server = "fuzz";
  options.database = "db";
  options.exclude_tables = {"public.skipped"};
  options.resolve_primary_key = [](uint32_t) { return std::vector<std::string>{"id"}; };
  cdc::PgOutputDecoder decoder(options);
  uint64_t wal = 0x16B3740000;
  absl::string_view rest(input.data(), input.size());
  while (rest.size() >= 2) {
    size_t n = (static_cast<uint8_t>(rest[0]) << 8) | static_cast<uint8_t>(rest[1]);
    rest.remove_prefix(2);
    absl::string_view payload = rest.substr(0, n);
    rest.remove_prefix(payload.size());
    wal += 0x40;

    auto parsed = cdc::ParsePgOutputMessage(payload);
    if (!parsed.ok()) {
      if (parsed.status().code() != absl::StatusCode::kInvalidArgument)
        fuzz::Broken("pgoutput", "a parse error is not INVALID_ARGUMENT", input, parsed.status().ToString());
      if (!payload.empty() && !absl::StrContains(parsed.status().message(), "byte") &&
          !absl::StrContains(parsed.status().message(), "unknown message type"))
        fuzz::Broken("pgoutput", "a parse error does not say where", input, parsed.status().ToString());
    }
    auto tx = decoder.Decode(payload, wal);
    if (!tx.ok()) {
      auto code = tx.status().code();
      if (code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kNotFound &&
          code != absl::StatusCode::kFailedPrecondition)
        fuzz::Broken("pgoutput", "Decode failed with a code it does not promise", input, tx.status().ToString());
      continue;
    }
    if (!tx->has_value()) continue;
    for (const auto& e : (*tx)->events) {
      CheckEnvelope(e, input);
    }
  }
  // The value mapping on its own: the payload's tail as text of every built-in type.
  for (uint32_t oid : {16u, 17u, 20u, 21u, 23u, 25u, 700u, 701u, 1043u, 1082u, 1083u, 1114u, 1184u, 1186u, 1700u,
                       2950u, 114u, 3802u, 1007u, 1009u, 1016u, 1231u, 1266u, 1115u, 1185u}) {
    cdcpb::Value v;
    (void)cdc::ConvertTextValue(oid, rest, &v);
    cdc::MapTextValue(oid, rest, &v);
  }
  std::vector<std::optional<std::string>> elements;
  (void)cdc::ParseArrayLiteral(rest, &elements);
}
