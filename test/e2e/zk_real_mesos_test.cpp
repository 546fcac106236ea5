// ZooKeeper detection against real Mesos 1.12 masters (MESOS_HOME): three masters elected
// through a real ZooKeeper, one agent. Skipped, with the reason, without Mesos or ZooKeeper.

#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "support/curl_global.hpp"
#include "support/expected.hpp"
#include "support/mesos_cluster.hpp"
#include "support/real_mesos.hpp"
#include "support/timeouts.hpp"
#include "support/zk_detection.hpp"

namespace {

using namespace std::chrono_literals;
using factorial::testing::CheckDigitCounts;
using factorial::testing::Detection;
using factorial::testing::Eventually;
using factorial::testing::IndependentFactorial;
using factorial::testing::Lines;
using factorial::testing::MesosCluster;
using factorial::testing::Process;
using factorial::testing::Server;
using factorial::testing::Skip;
using factorial::testing::kClusterReady;
using factorial::testing::kLargeRun;
using factorial::testing::kSlowPeer;
using factorial::testing::kSmallRun;

std::string MesosHome() {
  std::string why;
  auto install = factorial::testing::FindMesos(&why);
  if (!install) Skip(why);
  return install->master.parent_path().parent_path().string();  // bin/mesos-master
}

}  // namespace

TEST_CASE("the detector follows real masters' elections through a leader crash", "[zk][real-mesos]") {
  std::string home = MesosHome();
  MesosCluster cluster(home, Server().address(), "/detector", 3);
  int leader = -1;
  INFO("every daemon's log: " << cluster.dir().path().string() << " (kept if this test fails)");
  // Masters built at -O0 elect in a few seconds; bounded generously for a loaded machine.
  REQUIRE(Eventually([&] { return (leader = cluster.Ready(1)) >= 0; }, kClusterReady));

  Detection detection(cluster.zk_url());
  auto& r = detection.recorder();
  REQUIRE(Eventually([&] { return r.leaders().size() == 1; }, kSlowPeer));
  CHECK(r.leaders()[0] == cluster.master_url(leader));

  auto crashed = std::chrono::steady_clock::now();
  cluster.KillMaster(leader);
  REQUIRE(Eventually([&] { return r.leaders().size() == 2; }, kSmallRun));
  auto detected = std::chrono::steady_clock::now();
  std::string next = r.leaders()[1];
  CHECK(next != cluster.master_url(leader));
  int next_leader = -1;
  REQUIRE(Eventually([&] { return (next_leader = cluster.Leader()) >= 0; }, kSmallRun));
  CHECK(next == cluster.master_url(next_leader));
  std::fprintf(stderr, "new leader detected %lld ms after the crash\n",
               static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(detected - crashed).count()));
  CHECK(r.errors().empty());
}

TEST_CASE("zk://: the scheduler follows real masters through a leader crash, every result exact and once",
          "[zk][real-mesos][scheduler]") {
  std::string home = MesosHome();
  MesosCluster cluster(home, Server().address(), "/scheduler", 3);
  int leader = -1;
  INFO("every daemon's and the scheduler's log: " << cluster.dir().path().string() << " (kept if this test fails)");
  REQUIRE(Eventually([&] { return (leader = cluster.Ready(1)) >= 0; }, kClusterReady));

  // One task per number, so tasks are launched through both leaders, some just before the
  // crash (a batch would hold all 24 numbers and be launched before it).
  std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", cluster.zk_url(), "--executor",
                                   FACTORIAL_EXECUTOR_BINARY, "--refuse-seconds", "0.2", "--batch-size", "1"};
  std::vector<std::string> numbers;
  for (int i = 0; i < 24; ++i) numbers.push_back(std::to_string(60000 + i));
  args.insert(args.end(), numbers.begin(), numbers.end());
  Process p(args, std::chrono::minutes(4), (cluster.dir() / "scheduler.log").string());
  // Mid-run: a result is out and others are not.
  REQUIRE(Eventually([&] { return !Lines(p.Stdout()).empty(); }, kLargeRun));
  REQUIRE(Lines(p.Stdout()).size() < numbers.size());
  cluster.KillMaster(leader);

  int code = p.Wait();
  REQUIRE(code == 0);
  auto lines = Lines(p.Stdout());
  CheckDigitCounts(lines, numbers);
  CHECK(lines.back().substr(lines.back().find("= ") + 2) == IndependentFactorial(60023));
  int next_leader = cluster.Leader();
  REQUIRE(next_leader >= 0);
  CHECK(next_leader != leader);
  CHECK_THAT(p.Stderr(), Catch::Contains("leading master is " + cluster.master_url(next_leader)));
}
