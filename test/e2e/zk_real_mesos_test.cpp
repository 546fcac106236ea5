// ZooKeeper detection against real Mesos 1.12 masters (MESOS_HOME): three masters elected
// through a real ZooKeeper, one agent. Skipped, with the reason, without Mesos or ZooKeeper.

#include <string>

#include <catch2/catch.hpp>

#include "support/mesos_cluster.hpp"
#include "support/zk_detection.hpp"

namespace {

using namespace std::chrono_literals;
using factorial::testing::Detection;
using factorial::testing::Eventually;
using factorial::testing::MesosCluster;
using factorial::testing::Server;
using factorial::testing::Skip;

std::string MesosHome() {
  auto home = MesosCluster::Home();
  if (!home) Skip("no Mesos: set MESOS_HOME to a Mesos 1.12 install, or put mesos-master on PATH");
  return *home;
}

}  // namespace

TEST_CASE("the detector follows real masters' elections through a leader crash", "[zk][real-mesos]") {
  std::string home = MesosHome();
  MesosCluster cluster(home, Server().address(), "/detector", 3);
  int leader = -1;
  // Masters built at -O0 elect in a few seconds; bounded generously for a loaded machine.
  REQUIRE(Eventually([&] { return (leader = cluster.Leader(1)) >= 0; }, 90s));
  INFO(cluster.Logs());

  Detection detection(cluster.zk_url());
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return r.leaders().size() == 1; }, 15s));
  CHECK(r.leaders()[0] == cluster.master_url(leader));

  auto crashed = std::chrono::steady_clock::now();
  cluster.KillMaster(leader);
  REQUIRE(Eventually([&] { return r.leaders().size() == 2; }, 60s));
  auto detected = std::chrono::steady_clock::now();
  std::string next = r.leaders()[1];
  CHECK(next != cluster.master_url(leader));
  int next_leader = -1;
  REQUIRE(Eventually([&] { return (next_leader = cluster.Leader()) >= 0; }, 60s));
  CHECK(next == cluster.master_url(next_leader));
  std::fprintf(stderr, "new leader detected %lld ms after the crash\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(detected - crashed).count()));
  CHECK(r.errors().empty());
}
