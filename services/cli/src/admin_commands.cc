#include "cli/admin_commands.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "admin/bootstrap.h"
#include "admin/store.h"
#include "auth/crypto.h"
#include "auth/nkeys.h"
#include "cli/rpc.h"
#include "cli/terminal.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"

namespace sa::cli {
int RunInit(const InitOptions& o) {
  std::string password = EnvOr("STREAM_ADMIN_INIT_PASSWORD");
  if (password.empty()) {
    password = PromptSecret("password for the first administrator: ");
    if (password.empty() || PromptSecret("again: ") != password) {
      std::fprintf(stderr, "stream-admin init: no password (set STREAM_ADMIN_INIT_PASSWORD or type it twice)\n");
      return 2;
    }
  }
  admin::Store store(o.dsn);
  if (auto st = store.Connect(); !st.ok()) {
    std::fprintf(stderr, "stream-admin init: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  auto created = admin::CreateFirstAdministrator(store, o.username, password);
  if (!created.ok()) {
    std::fprintf(stderr, "stream-admin init: %s\n", std::string(created.status().message()).c_str());
    return 1;
  }
  if (!*created) {
    std::fprintf(stderr, "stream-admin init: the database already has users; nothing changed\n");
    return 1;
  }
  std::printf("created administrator '%s'\n", o.username.c_str());
  return 0;
}

int RunLogin(const LoginOptions& o) {
  std::string password = EnvOr("STREAM_ADMIN_PASSWORD");
  if (password.empty()) password = PromptSecret("password: ");
  auto stub = streamadmin::admin::v1::Auth::NewStub(
      grpc::CreateChannel(o.target, o.credentials ? o.credentials : grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  streamadmin::admin::v1::LoginRequest req;
  req.set_username(o.username);
  req.set_password(password);
  streamadmin::admin::v1::TokenResponse resp;
  grpc::Status st = stub->Login(&ctx, req, &resp);
  if (!st.ok()) return ReportFailure("login", "admin", {o.target, "", o.credentials, 10}, st);
  if (o.json) {
    std::printf("%s\n", ProtoJson(resp).c_str());
    return 0;
  }
  std::printf("%s\n", resp.access_token().c_str());
  return 0;
}

int RunKeygen() {
  std::string seed = auth::RandomBytes(32);
  auto kp = auth::KeyPairFromSeed(seed);
  auto op = auth::nkeys::Generate(auth::nkeys::Type::kOperator);
  auto acc = auth::nkeys::Generate(auth::nkeys::Type::kAccount);
  std::printf(
      "# admin service (keep secret; prefer STREAM_ADMIN_AUTH_SIGNING_KEY etc. or a mounted secret)\n"
      "auth:\n  signing_key: \"%s\"\nnats_jwt:\n  operator_seed: \"%s\"\n  account_seed: \"%s\"\n"
      "# every other service\nserver:\n  auth:\n    mode: token\n    public_key: \"%s\"\n",
      auth::Base64(seed).c_str(), op.seed.c_str(), acc.seed.c_str(), auth::Base64(kp->public_key).c_str());
  return 0;
}

}  // namespace sa::cli
