// Conversions between natsMsg and the plain bus types.
#pragma once

#include <nats/nats.h>

#include <string>

#include "bus/message.h"

namespace sa::bus::internal {

// Creates a natsMsg (caller owns it) with `headers` added in order.
natsStatus BuildNatsMsg(natsMsg** out, const std::string& subject, const std::string& data,
                        const Headers& headers);

Headers ReadHeaders(natsMsg* msg);

// The first value of `key`, or "" when absent.
std::string HeaderValue(natsMsg* msg, const char* key);

inline std::string MsgData(natsMsg* msg) {
  const char* d = natsMsg_GetData(msg);
  return d == nullptr ? std::string() : std::string(d, static_cast<size_t>(natsMsg_GetDataLength(msg)));
}

inline std::string CStr(const char* s) { return s == nullptr ? std::string() : std::string(s); }

}  // namespace sa::bus::internal
