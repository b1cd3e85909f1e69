#include "runtime/nats_client.h"

#include <gtest/gtest.h>

#include "runtime/main.h"
#include "runtime/streams.h"
#include "testing/nats_server.h"

namespace sa::runtime {
namespace {

namespace cfg = streamadmin::config::v1;

cfg::NatsConfig ConfigFor(const std::string& url) {
  cfg::ServerConfig server;
  cfg::LogConfig log;
  cfg::NatsConfig nats;
  SetCommonDefaults(0, 0, &server, &log, &nats);
  nats.clear_servers();
  nats.add_servers(url);
  return nats;
}

TEST(NatsClient, EnsuresStreamsOnceTheServerComesUp) {
  auto server = testing::NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_TRUE((*server)->Stop().ok());

  auto client = NatsClient::Start(ConfigFor((*server)->url()), {MdRawStream(), DlqStream()});
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_FALSE((*client)->Ready());
  EXPECT_FALSE((*client)->Health().healthy());
  EXPECT_EQ((*client)->Health().name(), "nats");

  ASSERT_TRUE((*server)->Resume().ok());
  ASSERT_TRUE((*client)->WaitReady(absl::Seconds(30)));
  EXPECT_TRUE((*client)->Health().healthy()) << (*client)->Health().detail();
  auto info = (*client)->jetstream().GetStreamInfo("MD_RAW");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->subjects, std::vector<std::string>{"md.raw.>"});
}

TEST(NatsClient, ShutsDownPromptlyWhileStillWaitingForTheServer) {
  auto client = NatsClient::Start(ConfigFor("nats://127.0.0.1:1"), {MdRawStream()});
  ASSERT_TRUE(client.ok());
  EXPECT_FALSE((*client)->WaitReady(absl::Milliseconds(50)));
  client->reset();  // must not hang
}

}  // namespace
}  // namespace sa::runtime
