// Plain message types of the bus: what services publish and receive. No
// nats.c type appears in any public header of this library.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace sa::bus {

// NATS headers, in order; a key may repeat.
using Headers = std::vector<std::pair<std::string, std::string>>;

// An outbound message. For JetStream `msg_id` is mandatory: it becomes the
// Nats-Msg-Id header, so a retried publish is stored once (see TARGET.md:
// built from the source's own position, e.g. venue+conn+seq or LSN+index).
struct Message {
  std::string subject;
  std::string data;
  std::string msg_id;
  Headers headers;
};

// A core NATS message delivered to a Connection::Subscribe handler.
struct InboundMessage {
  std::string subject;
  std::string reply;
  std::string data;
  Headers headers;
};

// The header JetStream deduplicates on.
inline constexpr char kMsgIdHeader[] = "Nats-Msg-Id";

}  // namespace sa::bus
