#include "testing/nats_server.h"

#include <fstream>
#include <iterator>

#include "testing/nats_cluster.h"
#include "testing/wait.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_util.h"

namespace sa::testing {
namespace {

// Speaks just enough of the NATS protocol: read INFO, send CONNECT + PING,
// expect PONG.
bool PingPong(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    std::string got;
    char buf[4096];
    auto read_until = [&](const std::string& needle) {
      while (got.find(needle) == std::string::npos) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) return false;
        got.append(buf, static_cast<size_t>(n));
      }
      return true;
    };
    if (read_until("INFO ")) {
      const std::string hello = "CONNECT {\"verbose\":false}\r\nPING\r\n";
      if (write(fd, hello.data(), hello.size()) == static_cast<ssize_t>(hello.size())) {
        ok = read_until("PONG");
      }
    }
  }
  close(fd);
  return ok;
}

TEST(NatsServer, StartsReadyOnAFreeLoopbackPort) {
  auto server = NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_GT((*server)->port(), 0);
  EXPECT_EQ((*server)->url(), "nats://127.0.0.1:" + std::to_string((*server)->port()));
  EXPECT_TRUE(PingPong((*server)->port()));
  EXPECT_TRUE(std::filesystem::exists((*server)->store_dir() + "/jetstream"));
}

TEST(NatsServer, RestartKeepsPortAndStore) {
  auto server = NatsServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_EQ((*server)->port(), port);
  EXPECT_TRUE(PingPong(port));

  ASSERT_TRUE((*server)->Kill().ok());
  EXPECT_FALSE(PingPong(port));
  ASSERT_TRUE((*server)->Restart().ok());
  EXPECT_TRUE(PingPong(port));
}

TEST(NatsServer, DestructorRemovesEverything) {
  std::string store;
  {
    auto server = NatsServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    store = (*server)->store_dir();
    ASSERT_TRUE(std::filesystem::exists(store));
  }
  EXPECT_FALSE(std::filesystem::exists(store));
  EXPECT_THAT(ZombieChildren(), ::testing::IsEmpty());
}

TEST(NatsServer, AcceptsAConfigFile) {
  NatsServer::Options opts;
  opts.config_text = "max_payload: 2MB";
  auto server = NatsServer::Start(opts);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(PingPong((*server)->port()));
}

}  // namespace
}  // namespace sa::testing

namespace sa::testing {
namespace {

TEST(NatsCluster, ThreeNodesRouteToEachOtherUnderTheirNames) {
  auto c = NatsCluster::Start(3);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ((*c)->size(), 3);
  EXPECT_EQ((*c)->urls().size(), 3u);
  EXPECT_EQ((*c)->IndexOf("n2"), 1);
  EXPECT_EQ((*c)->IndexOf("n9"), -1);
  // Every node saw the others' routes.
  for (int i = 0; i < 3; ++i) {
    const std::string log = (*c)->node(i).log_path();
    EXPECT_TRUE(WaitFor(
        [&] {
          std::ifstream in(log);
          std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          size_t routes = 0;
          for (size_t at = text.find("Route connection created"); at != std::string::npos;
               at = text.find("Route connection created", at + 1))
            ++routes;
          return routes >= 2;
        },
        absl::Seconds(20)))
        << "node " << i;
  }
}

}  // namespace
}  // namespace sa::testing
