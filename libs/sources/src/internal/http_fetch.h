// One HTTP(S) GET on an io_context, for REST snapshots. Private to sources.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "internal/url.h"

namespace sa::sources::internal {

class HttpFetchHandle {
 public:
  virtual ~HttpFetchHandle() = default;
  // Io thread only. The callback still runs (once) with Cancelled.
  virtual void Cancel() = 0;
};

// Body of a 2xx response, or: Unavailable (resolve/connect/non-2xx, with the
// status and the start of the body), DeadlineExceeded, Cancelled,
// ResourceExhausted (body over `body_limit`), PermissionDenied-free TLS errors
// as Unavailable with "tls:" prefix.
using HttpCallback = std::function<void(absl::StatusOr<std::string> body)>;

struct HttpGetParams {
  ParsedUrl url;
  std::string url_text;  // for messages
  absl::Duration timeout = absl::Seconds(10);
  size_t body_limit = size_t{64} << 20;
  std::string user_agent;
  bool tls_verify = true;
};

// Starts the request; `done` runs exactly once on the io_context's thread.
std::shared_ptr<HttpFetchHandle> StartHttpGet(boost::asio::io_context& ioc,
                                              boost::asio::ssl::context& tls, HttpGetParams params,
                                              HttpCallback done);

}  // namespace sa::sources::internal
