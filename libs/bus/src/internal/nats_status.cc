#include "internal/nats_status.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace sa::bus::internal {
namespace {

absl::StatusCode CodeFor(natsStatus s, int js_err) {
  switch (js_err) {
    case JSStreamNotFoundErr:
    case JSConsumerNotFoundErr:
      return absl::StatusCode::kNotFound;
    case JSStreamNameExistErr:
    case JSConsumerNameExistErr:
      return absl::StatusCode::kAlreadyExists;
    default:
      break;
  }
  switch (s) {
    case NATS_OK:
      return absl::StatusCode::kOk;
    case NATS_TIMEOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case NATS_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_SUBSCRIPTION:
      return absl::StatusCode::kInvalidArgument;
    case NATS_NOT_PERMITTED:
      return absl::StatusCode::kPermissionDenied;
    case NATS_MAX_PAYLOAD:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_SLOW_CONSUMER:
    case NATS_NO_MEMORY:
      return absl::StatusCode::kResourceExhausted;
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_NO_RESPONDERS:
    case NATS_IO_ERROR:
    case NATS_STALE_CONNECTION:
    case NATS_DRAINING:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kInternal;
  }
}

}  // namespace

absl::Status NatsToStatus(natsStatus s, absl::string_view op, int js_err) {
  if (s == NATS_OK) return absl::OkStatus();
  const char* text = natsStatus_GetText(s);
  const char* last = nats_GetLastError(nullptr);
  std::string msg = absl::StrCat(op, ": ", text);
  if (last != nullptr && *last != '\0' && std::strcmp(last, text) != 0) {
    absl::StrAppend(&msg, " (", last, ")");
  }
  if (js_err != 0) absl::StrAppend(&msg, " [jetstream error ", js_err, "]");
  return absl::Status(CodeFor(s, js_err), msg);
}

}  // namespace sa::bus::internal
