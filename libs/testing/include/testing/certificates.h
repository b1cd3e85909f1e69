// A throwaway PKI for TLS tests, made with the openssl command.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace sa::testing {

// Writes into `dir` a CA (ca.key, ca.crt) and, signed by it, a server and a
// client key and certificate (server.key, server.crt, client.key, client.crt;
// CN=server / CN=client, both valid for DNS:localhost and IP:127.0.0.1). EC
// P-256 keys, valid for one day. An error names the openssl call that failed
// and carries its output.
absl::Status MakeTestCertificates(const std::string& dir);

}  // namespace sa::testing
