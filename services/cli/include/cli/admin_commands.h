// stream-admin commands of the admin service:
//   init    create the first administrator in the admin database (no default password)
//   login   exchange a username + password for an access token (printed on stdout)
//   keygen  new signing key and NATS operator/account seeds, as admin config YAML
#pragma once

#include <grpcpp/security/credentials.h>

#include <memory>
#include <string>

namespace sa::cli {

struct InitOptions {
  std::string dsn;  // admin database (libpq)
  std::string username = "admin";
};
// Password: STREAM_ADMIN_INIT_PASSWORD, else asked twice on the terminal.
int RunInit(const InitOptions& options);

struct LoginOptions {
  std::string target = "127.0.0.1:7105";  // the admin service
  std::string username;
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // TLS; null: plaintext
  bool json = false;  // the whole TokenResponse (refresh token for `logout`) instead of the access token
};
// Password: STREAM_ADMIN_PASSWORD, else asked on the terminal. Prints the token.
int RunLogin(const LoginOptions& options);

int RunKeygen();

}  // namespace sa::cli
