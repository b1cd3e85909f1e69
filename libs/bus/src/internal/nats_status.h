// natsStatus -> absl::Status, naming the operation.
#pragma once

#include <nats/nats.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sa::bus::internal {

// "EnsureStream MD_RAW: Timeout (...last error...) [jetstream error 10058]".
// Reads nats_GetLastError() of the calling thread, so call it right after the
// failing nats.c call, on the same thread.
absl::Status NatsToStatus(natsStatus s, absl::string_view op, int js_err = 0);

}  // namespace sa::bus::internal
