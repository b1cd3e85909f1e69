#include "config/loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "streamadmin/config/v1/config.pb.h"

namespace sa::config {
namespace {

using streamadmin::config::v1::IngestConfig;
using ::testing::HasSubstr;

TEST(ConfigLoader, MergesYamlOverDefaults) {
  IngestConfig cfg;
  cfg.mutable_server()->set_grpc_listen("0.0.0.0:7101");
  cfg.mutable_nats()->set_max_pending_acks(4096);
  ASSERT_TRUE(MergeYamlString(R"(
server:
  http_listen: 127.0.0.1:9101
nats:
  servers: [nats://a:4222, nats://b:4222]
  reconnect_jitter_ms: 250
streams:
  - name: MD_RAW
    subjects: ["md.raw.>"]
    max_age_s: 3600
)", "test.yaml", &cfg).ok());
  EXPECT_EQ(cfg.server().grpc_listen(), "0.0.0.0:7101");  // default kept
  EXPECT_EQ(cfg.server().http_listen(), "127.0.0.1:9101");
  ASSERT_EQ(cfg.nats().servers_size(), 2);
  EXPECT_EQ(cfg.nats().servers(1), "nats://b:4222");
  EXPECT_EQ(cfg.nats().reconnect_jitter_ms(), 250u);
  EXPECT_EQ(cfg.nats().max_pending_acks(), 4096u);
  ASSERT_EQ(cfg.streams_size(), 1);
  EXPECT_EQ(cfg.streams(0).max_age_s(), 3600u);
}

TEST(ConfigLoader, UnknownKeyNamesFileLineAndKeyPath) {
  IngestConfig cfg;
  absl::Status st = MergeYamlString("nats:\n  servrs: [x]\n", "/etc/sa/ingest.yaml", &cfg);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("config /etc/sa/ingest.yaml:2:3: key 'nats.servrs': unknown key"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("known: servers"));
  EXPECT_EQ(std::string(st.message()).find('\n'), std::string::npos) << "one line";
}

TEST(ConfigLoader, WrongTypeNamesTheKeyAndTheValue) {
  IngestConfig cfg;
  absl::Status st = MergeYamlString("nats:\n  max_pending_acks: lots\n", "x.yaml", &cfg);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("x.yaml:2:21: key 'nats.max_pending_acks': expected an unsigned integer, got 'lots'"));
  st = MergeYamlString("nats:\n  max_pending_acks: -3\n", "x.yaml", &cfg);
  EXPECT_THAT(std::string(st.message()), HasSubstr("expected an unsigned integer, got '-3'"));
  st = MergeYamlString("nats: [1, 2]\n", "x.yaml", &cfg);
  EXPECT_THAT(std::string(st.message()), HasSubstr("key 'nats': expected a map, got a list"));
  st = MergeYamlString("streams:\n  - name: [a]\n", "x.yaml", &cfg);
  EXPECT_THAT(std::string(st.message()), HasSubstr("key 'streams[0].name': expected a scalar, got a list"));
}

TEST(ConfigLoader, BrokenYamlReportsPosition) {
  IngestConfig cfg;
  absl::Status st = MergeYamlString("nats:\n  servers: [a, b\n", "bad.yaml", &cfg);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("config bad.yaml:"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("invalid YAML"));
}

TEST(ConfigLoader, MissingFileIsNotFoundAndNamesThePath) {
  IngestConfig cfg;
  absl::Status st = MergeYamlFile("/nonexistent/ingest.yaml", &cfg);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(st.message()), HasSubstr("config /nonexistent/ingest.yaml: cannot open file"));
}

TEST(ConfigLoader, ReadsAFile) {
  std::string path = ::testing::TempDir() + "/cfg_test.yaml";
  std::ofstream(path) << "log:\n  level: debug\n";
  IngestConfig cfg;
  ASSERT_TRUE(MergeYamlFile(path, &cfg).ok());
  EXPECT_EQ(cfg.log().level(), "debug");
  std::remove(path.c_str());
}

TEST(ConfigEnvironment, OverridesNestedKeysWithUnderscoresInNames) {
  IngestConfig cfg;
  cfg.mutable_server()->set_grpc_listen("0.0.0.0:1");
  ASSERT_TRUE(ApplyEnvironment({{"STREAM_ADMIN_SERVER_GRPC_LISTEN", "127.0.0.1:5"},
                                {"STREAM_ADMIN_NATS_MAX_PENDING_ACKS", "17"},
                                {"STREAM_ADMIN_NATS_SERVERS", "nats://x:1, nats://y:2"},
                                {"PATH", "/bin"}},
                               &cfg)
                  .ok());
  EXPECT_EQ(cfg.server().grpc_listen(), "127.0.0.1:5");
  EXPECT_EQ(cfg.nats().max_pending_acks(), 17u);
  ASSERT_EQ(cfg.nats().servers_size(), 2);
  EXPECT_EQ(cfg.nats().servers(1), "nats://y:2");
}

// Found by fuzz/targets/config.cc: a string key could hold bytes that are not
// UTF-8, and printing the effective config (--print-config, GetStatus) then
// failed in protobuf. Refused at load, naming the key.
TEST(ConfigLoader, StringKeysMustBeUtf8) {
  IngestConfig cfg;
  absl::Status st = MergeYamlString("nats:\n  servers: [\"nats://a\xff:4222\"]\n", "x.yaml", &cfg);
  EXPECT_THAT(std::string(st.message()), HasSubstr("key 'nats.servers[0]': expected UTF-8 text")) << st;
  for (const char* bad : {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\x80"}) {
    st = ApplyEnvironment({{"STREAM_ADMIN_NATS_NAME", bad}}, &cfg);
    EXPECT_THAT(std::string(st.message()), HasSubstr("expected UTF-8 text")) << st;
  }
  EXPECT_TRUE(ApplyEnvironment({{"STREAM_ADMIN_NATS_NAME", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80"}}, &cfg).ok());
  EXPECT_EQ(cfg.nats().name(), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x80");
}

TEST(ConfigEnvironment, UnknownVariableAndBadValueAreErrors) {
  IngestConfig cfg;
  absl::Status st = ApplyEnvironment({{"STREAM_ADMIN_NATS_SERVRS", "x"}}, &cfg);
  EXPECT_THAT(std::string(st.message()), HasSubstr("environment STREAM_ADMIN_NATS_SERVRS='x': names no config key"));
  st = ApplyEnvironment({{"STREAM_ADMIN_NATS_CONNECT_TIMEOUT_MS", "soon"}}, &cfg);
  EXPECT_THAT(std::string(st.message()), HasSubstr("expected an unsigned integer, got 'soon'"));
  st = ApplyEnvironment({{"STREAM_ADMIN_STREAMS", "x"}}, &cfg);
  EXPECT_THAT(std::string(st.message()), HasSubstr("cannot be set from the environment"));
  EXPECT_TRUE(ApplyEnvironment({{"STREAM_ADMIN_CONFIG", "/x"}}, &cfg, {"STREAM_ADMIN_CONFIG"}).ok());
}

// cdc-bridge's warehouse and sink are warehouse-sink's now: an old config is
// refused with where they went, not with the list of keys it does know.
TEST(ConfigLoader, AKeyThatMovedSaysWhereItWent) {
  streamadmin::config::v1::CdcBridgeConfig bridge;
  absl::Status st = MergeYamlString("source:\n  dsn: x\nwarehouse:\n  dsn: y\n", "cdc-bridge.yaml", &bridge);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("config cdc-bridge.yaml:3:1: key 'warehouse': moved to the warehouse-sink service"));
  st = MergeYamlString("sink:\n  disabled: true\n", "cdc-bridge.yaml", &bridge);
  EXPECT_THAT(std::string(st.message()), HasSubstr("key 'sink': moved to the warehouse-sink service"));
  st = ApplyEnvironment({{"STREAM_ADMIN_WAREHOUSE_DSN", "y"}}, &bridge);
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("environment STREAM_ADMIN_WAREHOUSE_DSN='y': key 'warehouse': moved to the warehouse-sink"));
  // The sink's own sections: cdc-bridge's layout is named with the new keys.
  streamadmin::config::v1::WarehouseSinkConfig sink;
  st = MergeYamlString("sink:\n  market_data_batch: 10\n", "warehouse-sink.yaml", &sink);
  EXPECT_THAT(std::string(st.message()), HasSubstr("key 'sink': cdc-bridge's sink section is split here into cdc"));
  st = MergeYamlString("cdc:\n  market_data_batch: 10\n", "warehouse-sink.yaml", &sink);
  EXPECT_THAT(std::string(st.message()), HasSubstr("key 'cdc.market_data_batch': it is market_data.batch now"));
  EXPECT_TRUE(MergeYamlString("market_data:\n  batch: 10\n", "warehouse-sink.yaml", &sink).ok());
  EXPECT_EQ(sink.market_data().batch(), 10u);
  // An unknown key that never existed still lists the known ones.
  st = MergeYamlString("sourze: {}\n", "cdc-bridge.yaml", &bridge);
  EXPECT_THAT(std::string(st.message()), HasSubstr("unknown key (known: server, log, nats, streams, source, connector)"));
}

TEST(ConfigRedaction, SecretsNeverLeaveTheProcess) {
  streamadmin::config::v1::CdcBridgeConfig cfg;
  cfg.mutable_source()->set_dsn("host=db password=hunter2");
  cfg.mutable_nats()->set_password("pw");
  cfg.mutable_nats()->set_user("svc");
  std::string json = ToRedactedJson(cfg);
  EXPECT_EQ(json.find("hunter2"), std::string::npos);
  EXPECT_EQ(json.find("\"pw\""), std::string::npos);
  EXPECT_THAT(json, HasSubstr("\"svc\""));
  EXPECT_THAT(json, HasSubstr("***"));
  EXPECT_THAT(ToRedactedYaml(cfg), HasSubstr("user: svc"));
  EXPECT_EQ(cfg.source().dsn(), "host=db password=hunter2") << "the original is untouched";
}

}  // namespace
}  // namespace sa::config
