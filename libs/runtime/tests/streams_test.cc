#include "runtime/streams.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/main.h"

namespace sa::runtime {
namespace {

using ::testing::HasSubstr;
namespace cfg = streamadmin::config::v1;

TEST(Streams, DefaultsMatchTheSubjectsOfTheArchitecture) {
  EXPECT_EQ(MdRawStream().subjects(0), "md.raw.>");
  EXPECT_EQ(CdcStream().subjects(0), "cdc.>");
  EXPECT_EQ(DlqStream().subjects(0), "dlq.>");
  EXPECT_GT(CdcStream().duplicate_window_s(), MdStream().duplicate_window_s())
      << "CDC replays after a crash must stay inside the dedup window";
}

TEST(Streams, ValidationNamesTheKey) {
  google::protobuf::RepeatedPtrField<cfg::StreamConfig> streams;
  *streams.Add() = MdRawStream();
  EXPECT_TRUE(ValidateStreams(streams).ok());
  streams.Add()->set_name("md.raw");
  EXPECT_THAT(std::string(ValidateStreams(streams).message()), HasSubstr("key 'streams[1].name'"));
  streams[1] = MdRawStream();
  EXPECT_THAT(std::string(ValidateStreams(streams).message()), HasSubstr("defined twice"));
  streams[1] = MdStream();
  streams[1].set_storage("disk");
  EXPECT_THAT(std::string(ValidateStreams(streams).message()), HasSubstr("key 'streams[1].storage'"));
}

TEST(CommonConfig, ValidationNamesTheKey) {
  cfg::ServerConfig server;
  cfg::LogConfig log;
  cfg::NatsConfig nats;
  SetCommonDefaults(7101, 9101, &server, &log, &nats);
  EXPECT_TRUE(ValidateCommon(server, &nats).ok());
  nats.add_servers("http://x:80");
  EXPECT_THAT(std::string(ValidateCommon(server, &nats).message()), HasSubstr("key 'nats.servers'"));
  nats.clear_servers();
  EXPECT_THAT(std::string(ValidateCommon(server, &nats).message()), HasSubstr("at least one server"));
  server.set_http_listen("9101");
  EXPECT_THAT(std::string(ValidateCommon(server, nullptr).message()), HasSubstr("key 'server.http_listen'"));
}

}  // namespace
}  // namespace sa::runtime
