// Minimal URL splitting for the schemes sources speak: ws, wss, http, https.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace sa::sources::internal {

struct ParsedUrl {
  std::string scheme;  // lower case
  std::string host;    // without brackets for IPv6 literals
  std::string port;    // explicit or the scheme default
  std::string target;  // path + query, at least "/"
  bool tls = false;    // wss / https
  bool default_port = true;

  // Host header value: host, plus ":port" when not the scheme default.
  std::string HostHeader() const;
};

absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url);

}  // namespace sa::sources::internal
