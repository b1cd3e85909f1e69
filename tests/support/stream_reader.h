// Reading a whole JetStream stream (or the part under a filter subject) from a
// test, through a fresh durable: the independent view of what was stored.
#pragma once

#include <string>
#include <vector>

#include "bus/connection.h"
#include "bus/message.h"

namespace sa::e2e {

struct StoredMessage {
  std::string subject;
  std::string msg_id;
  std::string data;
  bus::Headers headers;
  uint64_t stream_sequence = 0;
};

// Every message of `stream` under `filter` stored so far, in stream order.
// An empty vector when the stream does not exist yet. Fetches until a fetch comes
// back empty (400 ms).
std::vector<StoredMessage> ReadAll(bus::Connection& conn, const std::string& stream, const std::string& filter);

}  // namespace sa::e2e
