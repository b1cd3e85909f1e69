#include "bus/core_publisher.h"

namespace sa::bus {

absl::Status CorePublisher::Publish(const Message& message) {
  if (message.msg_id.empty()) return connection_.Publish(message.subject, message.data, message.headers);
  Headers headers = message.headers;
  headers.emplace_back(kMsgIdHeader, message.msg_id);
  return connection_.Publish(message.subject, message.data, headers);
}

absl::Status CorePublisher::Flush(absl::Duration timeout) { return connection_.Flush(timeout); }

}  // namespace sa::bus
