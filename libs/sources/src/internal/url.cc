#include "internal/url.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"

namespace sa::sources::internal {

std::string ParsedUrl::HostHeader() const {
  std::string h = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host;
  if (!default_port) absl::StrAppend(&h, ":", port);
  return h;
}

absl::StatusOr<ParsedUrl> ParseUrl(const std::string& url) {
  ParsedUrl out;
  const size_t colon = url.find("://");
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("url '", url, "': missing scheme://"));
  }
  out.scheme = url.substr(0, colon);
  std::transform(out.scheme.begin(), out.scheme.end(), out.scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string default_port;
  if (out.scheme == "ws" || out.scheme == "http") {
    default_port = "80";
  } else if (out.scheme == "wss" || out.scheme == "https") {
    default_port = "443";
    out.tls = true;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("url '", url, "': unsupported scheme '", out.scheme, "'"));
  }
  const std::string rest = url.substr(colon + 3);
  const size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  out.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (!out.target.empty() && out.target[0] == '?') out.target = "/" + out.target;
  if (authority.find('@') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("url '", url, "': credentials not supported"));
  }
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("url '", url, "': bad IPv6 literal"));
    }
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return absl::InvalidArgumentError(absl::StrCat("url '", url, "': bad authority"));
      }
      port = authority.substr(close + 2);
    }
  } else {
    const size_t pc = authority.rfind(':');
    out.host = authority.substr(0, pc);
    if (pc != std::string::npos) port = authority.substr(pc + 1);
  }
  if (out.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("url '", url, "': empty host"));
  }
  if (!port.empty()) {
    if (!std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        port.size() > 5 || std::stoi(port) == 0 || std::stoi(port) > 65535) {
      return absl::InvalidArgumentError(absl::StrCat("url '", url, "': bad port '", port, "'"));
    }
    out.default_port = port == default_port;
    out.port = port;
  } else {
    out.port = default_port;
  }
  return out;
}

}  // namespace sa::sources::internal
