// The ZooKeeper master detector against a real ZooKeeper server (Debian's package, started
// by the test on a free loopback port), with masters announced the way Mesos masters do.

#include <string>

#include <catch2/catch.hpp>

#include "support/timeouts.hpp"
#include "support/zk_detection.hpp"
#include "zk_registry.hpp"

namespace {

using namespace std::chrono_literals;
using factorial::sim::ZkRegistry;
using factorial::testing::Detection;
using factorial::testing::Eventually;
using factorial::testing::Server;
using factorial::testing::ZooKeeperServer;
using factorial::testing::kQuietWindow;
using factorial::testing::kSettled;
using factorial::testing::kSlowPeer;

std::string GroupUrl(const std::string& path) { return "zk://" + Server().address() + path; }

std::string Info(int port) {
  return ZkRegistry::MasterInfoJson("m" + std::to_string(port), "127.0.0.1", port, "localhost");
}

}  // namespace

TEST_CASE("the detector follows the smallest json.info member among other nodes", "[zk]") {
  ZkRegistry registry(GroupUrl("/factorial/follow"));
  // Around the masters: a replicated log's node and garbage, which Mesos skips.
  registry.CreateChild("log_replicas", "", /*sequential=*/false, /*ephemeral=*/false);
  registry.CreateChild("json.info_garbage", "{}", false);
  registry.RegisterMasters({Info(41001), Info(41002), Info(41003)});

  Detection detection(GroupUrl("/factorial/follow"));
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return r.leaders().size() == 1; }, kSlowPeer));
  CHECK(r.leaders()[0] == "http://127.0.0.1:41001");
  CHECK(detection.current() == "http://127.0.0.1:41001");

  registry.SetLeader(2);
  REQUIRE(Eventually([&] { return r.leaders().size() == 2; }, kSlowPeer));
  CHECK(r.leaders()[1] == "http://127.0.0.1:41003");

  // The leader's session ends: the next oldest member leads.
  registry.SetLeader(0);  // 2 and 1 withdraw and rejoin behind 0
  REQUIRE(Eventually([&] { return r.leaders().size() == 3; }, kSlowPeer));
  CHECK(r.leaders()[2] == "http://127.0.0.1:41001");
  CHECK(r.errors().empty());
}

TEST_CASE("a leader whose data is garbage is an error until a good one leads", "[zk]") {
  ZkRegistry registry(GroupUrl("/factorial/garbage"));
  std::string bad = registry.CreateChild("json.info_", "{\"address\":{\"ip\":\"127.0.0.1\"", /*sequential=*/true);
  Detection detection(GroupUrl("/factorial/garbage"), {.session_timeout = 10s, .deadline = 1500ms});
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return !r.errors().empty(); }, kSlowPeer));
  CHECK_THAT(r.errors()[0], Catch::Contains("leading master's MasterInfo: not JSON"));
  CHECK(r.leaders().empty());

  registry.RegisterMasters({Info(41010)});
  registry.DeleteChild(bad);
  REQUIRE(Eventually([&] { return r.leaders().size() == 1; }, kSlowPeer));
  CHECK(r.leaders()[0] == "http://127.0.0.1:41010");
}

TEST_CASE("a wrong path is a clear error after the deadline, and detection goes on", "[zk]") {
  // The deadline leaves a freshly started server time to open its first session.
  Detection detection(GroupUrl("/factorial/not-yet"), {.session_timeout = 10s, .deadline = 5s});
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return !r.errors().empty(); }, kSlowPeer));
  CHECK_THAT(r.errors()[0], Catch::StartsWith("no leading master found through zk://" + Server().address() +
                                              "/factorial/not-yet within 5000 ms: the path /factorial/not-yet does "
                                              "not exist in ZooKeeper"));
  // The path appears later (masters starting after the scheduler): found through the watch.
  ZkRegistry registry(GroupUrl("/factorial/not-yet"));
  registry.RegisterMasters({Info(41020)});
  REQUIRE(Eventually([&] { return r.leaders().size() == 1; }, kSlowPeer));
  CHECK(r.leaders()[0] == "http://127.0.0.1:41020");
  CHECK(r.errors().size() == 1);
}

TEST_CASE("an empty group is a clear error after the deadline", "[zk]") {
  ZkRegistry registry(GroupUrl("/factorial/empty"));
  registry.CreateChild("log_replicas", "", false, false);
  Detection detection(GroupUrl("/factorial/empty"), {.session_timeout = 10s, .deadline = 1s});
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return !r.errors().empty(); }, kSlowPeer));
  CHECK_THAT(r.errors()[0], Catch::EndsWith("none of the 1 nodes under /factorial/empty is a master"));
  CHECK(r.leaders().empty());
}

TEST_CASE("an unreachable ensemble is a clear error after the deadline", "[zk]") {
  ZooKeeperServer& server = Server();
  static_cast<void>(server);
  // A port that was free a moment ago: nothing listens there.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  std::string nowhere = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  Detection detection("zk://" + nowhere + "/mesos", {.session_timeout = 4s, .deadline = 1s});
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return !r.errors().empty(); }, kSlowPeer));
  CHECK(r.errors()[0] == "no leading master found through zk://" + nowhere +
                             "/mesos within 1000 ms: no ZooKeeper session with " + nowhere + " (unreachable or not answering)");
}

TEST_CASE("digest credentials in the URL are used", "[zk]") {
  std::string url = "zk://factorial:pa55@" + Server().address() + "/factorial/digest";
  ZkRegistry registry(url);
  registry.RegisterMasters({Info(41030)});
  Detection detection(url);
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return r.leaders().size() == 1; }, kSlowPeer));
  CHECK(r.leaders()[0] == "http://127.0.0.1:41030");
}

TEST_CASE("losing the ZooKeeper session keeps the current master", "[zk]") {
  ZooKeeperServer& server = Server();
  ZkRegistry registry(GroupUrl("/factorial/session"), 10s);
  registry.RegisterMasters({Info(41040), Info(41041)});
  Detection detection(GroupUrl("/factorial/session"), {.session_timeout = 20s, .deadline = 10s});
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return r.leaders().size() == 1; }, kSlowPeer));

  server.Stop();
  // No event while ZooKeeper is gone, however long: observed across more than the detector's
  // retry interval, with the current master kept.
  CHECK_FALSE(Eventually([&] { return r.leaders().size() != 1 || !r.errors().empty(); }, kQuietWindow));
  CHECK(detection.current() == "http://127.0.0.1:41040");

  server.Start();
  // Both sessions resume (the server kept them, within their timeout); changes are seen again.
  REQUIRE(Eventually(
      [&] {
        try {
          registry.SetLeader(1);
          return true;
        } catch (const std::exception&) {
          return false;  // the registry's session is still reconnecting
        }
      },
      kSettled));
  REQUIRE(Eventually([&] { return r.leaders().size() == 2; }, kSettled));
  CHECK(r.leaders()[1] == "http://127.0.0.1:41041");
  CHECK(r.errors().empty());
}
