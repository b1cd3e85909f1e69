// Admin under login load (issue [6] item 17; docs/PERFORMANCE.md "Admin"):
// the real `admin` binary on a real PostgreSQL, 16 readers calling
// Users.GetUser as fast as they can, first alone, then while 4 clients log
// in with a password (Argon2id) in a loop. Prints the readers' calls/s and
// p99 in both phases of the same run, and their ratio.
//
//   build/bench/admin_bench [--bin_dir=build/bin] [--seconds=10] [--readers=16] [--logins=4] [--pool=4]
//
// --bin_dir may name an older build's bin/ to compare (a pool size is only
// written to the config when --pool is given and > 0).
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/crypto.h"
#include "bench_util.h"
#include "cli/control_client.h"
#include "streamadmin/admin/v1/admin.grpc.pb.h"
#include "testing/postgres_server.h"
#include "testing/process.h"
#include "testing/temp_dir.h"
#include "testing/wait.h"

namespace {

namespace adm = streamadmin::admin::v1;
using sa::bench::CheckOr;
using sa::bench::Die;

constexpr char kPassword[] = "bench-admin-password-1";

struct Args {
  std::string bin_dir = "build/bin";
  int seconds = 10;
  int readers = 16;
  int logins = 4;
  int pool = 0;
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto num = [&](const char* flag, int* out) { return sa::bench::IntFlag(s, flag, out); };
    if (absl::StartsWith(s, "--bin_dir=")) {
      a.bin_dir = s.substr(10);
    } else if (!num("--seconds=", &a.seconds) && !num("--readers=", &a.readers) && !num("--logins=", &a.logins) &&
               !num("--pool=", &a.pool)) {
      Die(absl::StrCat("unknown argument ", s));
    }
  }
  return a;
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  return ctx;
}

// A separate connection per client, like separate programs.
std::shared_ptr<grpc::Channel> Channel(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

std::string Login(adm::Auth::Stub& stub) {
  adm::LoginRequest req;
  req.set_username("admin");
  req.set_password(kPassword);
  adm::TokenResponse resp;
  grpc::Status st = stub.Login(Ctx("").get(), req, &resp);
  if (!st.ok()) Die(absl::StrCat("login: ", st.error_message()));
  return resp.access_token();
}

struct Phase {
  double reads_per_s = 0;
  double p50_ms = 0, p99_ms = 0;
  double logins_per_s = 0;
  int errors = 0;
};

Phase Run(const Args& a, const std::string& target, const std::string& token, bool with_logins) {
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::atomic<int64_t> logins{0};
  std::vector<std::vector<double>> lat(a.readers);
  std::vector<std::thread> threads;
  for (int i = 0; i < a.readers; ++i) {
    threads.emplace_back([&, i] {
      auto stub = adm::Users::NewStub(Channel(target));
      adm::GetUserRequest req;
      req.set_username("admin");
      while (!stop.load()) {
        adm::User u;
        absl::Time t0 = absl::Now();
        grpc::Status st = stub->GetUser(Ctx(token).get(), req, &u);
        if (!st.ok()) errors++;
        lat[i].push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
      }
    });
  }
  for (int i = 0; with_logins && i < a.logins; ++i) {
    threads.emplace_back([&] {
      auto stub = adm::Auth::NewStub(Channel(target));
      while (!stop.load()) {
        Login(*stub);
        logins++;
      }
    });
  }
  absl::SleepFor(absl::Seconds(a.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  Phase p;
  p.reads_per_s = static_cast<double>(all.size()) / a.seconds;
  p.p50_ms = all.empty() ? 0 : all[all.size() / 2];
  p.p99_ms = all.empty() ? 0 : all[std::min(all.size() - 1, all.size() * 99 / 100)];
  p.logins_per_s = static_cast<double>(logins.load()) / a.seconds;
  p.errors = errors.load();
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = ParseArgs(argc, argv);
  sa::bench::StartWatchdog("admin_bench", 4 * a.seconds + 120);
  auto dir = CheckOr(sa::testing::TempDir::Create("admin-bench"), "TempDir");
  auto pg = CheckOr(sa::testing::PostgresServer::Start(), "PostgreSQL");
  int grpc_port = CheckOr(sa::testing::PickFreePort(), "port");
  std::string cfg = absl::StrCat(dir.path(), "/admin.yaml");
  std::ofstream(cfg) << "server:\n  grpc_listen: 127.0.0.1:" << grpc_port
                     << "\n  http_listen: 127.0.0.1:0\n  auth:\n    mode: token\ndatabase:\n  dsn: \"" << pg->dsn()
                     << "\"\nauth:\n  signing_key: \"" << sa::auth::Base64(sa::auth::RandomBytes(32)) << "\"\n"
                     << (a.pool > 0 ? absl::StrCat("database_pool_size: ", a.pool, "\n") : "");
  setenv("STREAM_ADMIN_AUTH_BOOTSTRAP_PASSWORD", kPassword, 1);
  auto admin = CheckOr(sa::testing::Process::Spawn({a.bin_dir + "/admin", "--config", cfg},
                                                   {.log_file = absl::StrCat(dir.path(), "/admin.log")}),
                       "spawn admin");
  std::string target = absl::StrCat("127.0.0.1:", grpc_port);
  sa::cli::ControlClient control(target, absl::Seconds(1));
  if (!sa::testing::WaitFor([&] { return control.Health().ok(); }, absl::Seconds(30)))
    Die("admin did not become SERVING:\n" + admin->Output());
  auto auth = adm::Auth::NewStub(Channel(target));
  std::string token = Login(*auth);

  std::printf("admin_bench: %s, %d readers (Users.GetUser), %d login clients, %d s per phase, pool %s\n",
              a.bin_dir.c_str(), a.readers, a.logins, a.seconds,
              a.pool > 0 ? std::to_string(a.pool).c_str() : "(binary's default)");
  (void)Run(a, target, token, false);  // warm-up: connections, caches
  Phase alone = Run(a, target, token, false);
  Phase loaded = Run(a, target, token, true);
  std::printf("readers alone:        %8.1f calls/s  p50 %7.2f ms  p99 %7.2f ms  errors %d\n", alone.reads_per_s,
              alone.p50_ms, alone.p99_ms, alone.errors);
  std::printf("readers + %d logins:   %8.1f calls/s  p50 %7.2f ms  p99 %7.2f ms  errors %d  (%.1f logins/s)\n",
              a.logins, loaded.reads_per_s, loaded.p50_ms, loaded.p99_ms, loaded.errors, loaded.logins_per_s);
  std::printf("ratio with/without logins: calls/s %.2f, p99 %.2fx\n", loaded.reads_per_s / alone.reads_per_s,
              loaded.p99_ms / alone.p99_ms);
  (void)admin->Terminate(absl::Seconds(5));
  return 0;
}
