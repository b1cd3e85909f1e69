#include "internal/msg_util.h"

#include <cstdlib>

namespace sa::bus::internal {

natsStatus BuildNatsMsg(natsMsg** out, const std::string& subject, const std::string& data,
                        const Headers& headers) {
  natsMsg* msg = nullptr;
  natsStatus s = natsMsg_Create(&msg, subject.c_str(), nullptr, data.data(),
                                static_cast<int>(data.size()));
  for (size_t i = 0; s == NATS_OK && i < headers.size(); ++i) {
    s = natsMsgHeader_Add(msg, headers[i].first.c_str(), headers[i].second.c_str());
  }
  if (s != NATS_OK) {
    natsMsg_Destroy(msg);
    return s;
  }
  *out = msg;
  return NATS_OK;
}

Headers ReadHeaders(natsMsg* msg) {
  Headers out;
  const char** keys = nullptr;
  int nkeys = 0;
  if (natsMsgHeader_Keys(msg, &keys, &nkeys) != NATS_OK) return out;
  out.reserve(static_cast<size_t>(nkeys));  // one value per key is the usual case
  for (int i = 0; i < nkeys; ++i) {
    const char** values = nullptr;
    int nvalues = 0;
    if (natsMsgHeader_Values(msg, keys[i], &values, &nvalues) == NATS_OK) {
      for (int j = 0; j < nvalues; ++j) out.emplace_back(keys[i], values[j]);
      free(static_cast<void*>(values));  // the array is ours, the strings are the message's
    }
  }
  free(static_cast<void*>(keys));
  return out;
}

std::string HeaderValue(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || value == nullptr) return {};
  return value;
}

}  // namespace sa::bus::internal
