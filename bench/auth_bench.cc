// What the auth enforcer adds to a gRPC call (docs/PERFORMANCE.md): the
// decision alone (cached token, new token = signature check), and a whole
// unary call over loopback with auth off vs on (same server, same method).
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "auth/crypto.h"
#include "auth/enforcer.h"
#include "auth/token.h"
#include "observability/grpc_server.h"
#include "streamadmin/control/v1/control.grpc.pb.h"

namespace {

namespace ctl = streamadmin::control::v1;
namespace cfg = streamadmin::config::v1;

constexpr char kMethod[] = "/streamadmin.control.v1.ServiceControl/GetStatus";

struct Keys {
  sa::auth::KeyPair kp = sa::auth::GenerateKeyPair();
  std::string Token(int i = 0) const {
    sa::auth::Claims c;
    c.sub = "u_bench";
    c.name = "bench";
    c.jti = absl::StrCat("t_", i);
    c.iat_us = absl::ToUnixMicros(absl::Now());
    c.exp_us = c.iat_us + 3600LL * 1000000;
    c.perms = {"ingest:*", "*:read"};
    return sa::auth::IssueToken(c, kp.secret_key);
  }
};

const Keys& BenchKeys() {
  static const Keys* k = new Keys();
  return *k;
}

std::unique_ptr<sa::auth::Enforcer> MakeEnforcer(bool on) {
  cfg::ServerConfig s;
  if (on) {
    s.mutable_auth()->set_mode("token");
    s.mutable_auth()->set_public_key(sa::auth::Base64(BenchKeys().kp.public_key));
  }
  return *sa::auth::Enforcer::Create(s, nullptr, "bench");
}

void BM_CheckCachedToken(benchmark::State& state) {
  auto e = MakeEnforcer(true);
  std::string auth = "Bearer " + BenchKeys().Token();
  int64_t now = absl::ToUnixMicros(absl::Now());
  for (auto _ : state) benchmark::DoNotOptimize(e->Check(kMethod, auth, now));
}
BENCHMARK(BM_CheckCachedToken)->Threads(1)->Threads(2);

void BM_CheckNewToken(benchmark::State& state) {
  auto e = MakeEnforcer(true);
  std::vector<std::string> tokens;
  for (int i = 0; i < 2000; ++i) tokens.push_back("Bearer " + BenchKeys().Token(i));
  int64_t now = absl::ToUnixMicros(absl::Now());
  size_t i = 0;
  for (auto _ : state) {
    // A different token every time: the signature check, cache insert included.
    benchmark::DoNotOptimize(e->Check(kMethod, tokens[i++ % tokens.size()], now));
    if (i % tokens.size() == 0) {
      state.PauseTiming();
      e = MakeEnforcer(true);  // empty cache again
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_CheckNewToken);

class Control final : public sa::obs::ControlHandler {
 public:
  ctl::GetStatusResponse Status() override {
    ctl::GetStatusResponse r;
    r.set_service("bench");
    return r;
  }
  std::string EffectiveConfigJson() override { return "{}"; }
  absl::StatusOr<ctl::ServingState> Pause() override { return ctl::SERVING_STATE_PAUSED; }
  absl::StatusOr<ctl::ServingState> Resume() override { return ctl::SERVING_STATE_RUNNING; }
  absl::StatusOr<ctl::ServingState> Drain(absl::Duration) override { return ctl::SERVING_STATE_DRAINED; }
};

// state.range(0): 0 = auth none, 1 = auth token (cached after the first call).
void BM_UnaryCall(benchmark::State& state) {
  Control control;
  auto enforcer = MakeEnforcer(state.range(0) == 1);
  sa::obs::GrpcServer::Options o;
  o.listen = "127.0.0.1:0";
  o.service_name = "bench";
  o.control = &control;
  o.credentials = enforcer->Credentials();
  auto server = sa::obs::GrpcServer::Start(std::move(o));
  if (!server.ok()) {
    state.SkipWithError("server");
    return;
  }
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()), grpc::InsecureChannelCredentials());
  auto stub = ctl::ServiceControl::NewStub(channel);
  std::string token = BenchKeys().Token();
  for (auto _ : state) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer " + token);  // sent in both modes: same bytes on the wire
    ctl::GetStatusResponse resp;
    if (!stub->GetStatus(&ctx, ctl::GetStatusRequest(), &resp).ok()) {
      state.SkipWithError("call failed");
      break;
    }
  }
  state.SetLabel(state.range(0) == 1 ? "auth=token" : "auth=none");
}
BENCHMARK(BM_UnaryCall)->Arg(0)->Arg(1)->Arg(0)->Arg(1)->MinTime(3)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
