#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "observability/grpc_server.h"
#include "observability/http_server.h"
#include "observability/logging.h"
#include "observability/metrics.h"
#include "streamadmin/control/v1/control.grpc.pb.h"

namespace sa::obs {
namespace {

namespace ctl = streamadmin::control::v1;
using ::testing::HasSubstr;

TEST(HttpServer, ServesMetricsHealthAndReadiness) {
  MetricsRegistry registry;
  registry.GetCounter("streamadmin_test_total", "t").Inc();
  bool ready = false;
  auto srv = HttpServer::Start(
      "127.0.0.1:0",
      [&]() { return ready ? absl::OkStatus() : absl::UnavailableError("nats: disconnected"); },
      &registry);
  ASSERT_TRUE(srv.ok()) << srv.status();
  httplib::Client cli("127.0.0.1", (*srv)->port());
  auto m = cli.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
  EXPECT_THAT(m->body, HasSubstr("streamadmin_test_total 1"));
  EXPECT_THAT(m->get_header_value("Content-Type"), HasSubstr("text/plain; version=0.0.4"));
  EXPECT_EQ(cli.Get("/healthz")->status, 200);
  auto r = cli.Get("/readyz");
  EXPECT_EQ(r->status, 503);
  EXPECT_THAT(r->body, HasSubstr("nats: disconnected"));
  ready = true;
  EXPECT_EQ(cli.Get("/readyz")->status, 200);
}

TEST(HttpServer, RejectsABadListenAddress) {
  auto srv = HttpServer::Start("localhost:http", nullptr);
  EXPECT_EQ(srv.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(srv.status().message()), HasSubstr("'localhost:http'"));
}

class FakeControl : public ControlHandler {
 public:
  ctl::GetStatusResponse Status() override {
    ctl::GetStatusResponse r;
    r.set_service("test");
    r.set_state(state);
    return r;
  }
  std::string EffectiveConfigJson() override { return "{\"a\":1}"; }
  absl::StatusOr<ctl::ServingState> Pause() override { return state = ctl::SERVING_STATE_PAUSED; }
  absl::StatusOr<ctl::ServingState> Resume() override { return state = ctl::SERVING_STATE_RUNNING; }
  absl::StatusOr<ctl::ServingState> Drain(absl::Duration) override {
    return absl::FailedPreconditionError("already draining");
  }
  ctl::ServingState state = ctl::SERVING_STATE_RUNNING;
};

TEST(GrpcServer, AlwaysServesHealthReflectionAndControl) {
  FakeControl control;
  GrpcServer::Options opts;
  opts.listen = "127.0.0.1:0";
  opts.service_name = "test";
  opts.control = &control;
  auto srv = GrpcServer::Start(std::move(opts));
  ASSERT_TRUE(srv.ok()) << srv.status();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*srv)->port()),
                                     grpc::InsecureChannelCredentials());

  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(health->Check(&ctx, hreq, &hresp).ok());
    EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }
  (*srv)->SetServing(true);
  {
    grpc::ClientContext ctx;
    hreq.set_service("test");
    ASSERT_TRUE(health->Check(&ctx, hreq, &hresp).ok());
    EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }

  auto stub = ctl::ServiceControl::NewStub(channel);
  {
    grpc::ClientContext ctx;
    ctl::PauseResponse resp;
    ASSERT_TRUE(stub->Pause(&ctx, ctl::PauseRequest(), &resp).ok());
    EXPECT_EQ(resp.state(), ctl::SERVING_STATE_PAUSED);
  }
  {
    grpc::ClientContext ctx;
    ctl::GetStatusResponse resp;
    ASSERT_TRUE(stub->GetStatus(&ctx, ctl::GetStatusRequest(), &resp).ok());
    EXPECT_EQ(resp.service(), "test");
    EXPECT_EQ(resp.state(), ctl::SERVING_STATE_PAUSED);
  }
  {
    grpc::ClientContext ctx;
    ctl::DrainResponse resp;
    grpc::Status st = stub->Drain(&ctx, ctl::DrainRequest(), &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_EQ(st.error_message(), "already draining");
  }
  EXPECT_THAT(MetricsRegistry::Default().RenderPrometheus(),
              HasSubstr("streamadmin_grpc_server_handled_total{method=\"/streamadmin.control.v1."
                        "ServiceControl/Drain\",code=\"FAILED_PRECONDITION\"} 1"));
  (*srv)->Shutdown(absl::Seconds(1));
}

TEST(Logging, RejectsUnknownLevelAndFormat) {
  EXPECT_FALSE(InitLogging("t", "chatty", "json").ok());
  EXPECT_FALSE(InitLogging("t", "info", "xml").ok());
  EXPECT_TRUE(InitLogging("t", "info", "json").ok());
}

TEST(Logging, JsonEscapeHandlesQuotesAndControlCharacters) {
  EXPECT_EQ(JsonEscape("a\"b\\c\nd\x01"), "a\\\"b\\\\c\\nd\\u0001");
}

}  // namespace
}  // namespace sa::obs
