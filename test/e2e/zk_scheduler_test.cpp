// factorial-scheduler with `--master zk://...`: the real binaries find mesos-sim's leading
// master through a real ZooKeeper and follow a leader change mid-run.

#include <atomic>
#include <set>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "sim.hpp"
#include "support/curl_global.hpp"
#include "support/expected.hpp"
#include "support/timeouts.hpp"
#include "support/zk_detection.hpp"
#include "zk_registry.hpp"

namespace {

using namespace std::chrono_literals;
using factorial::sim::MesosSim;
using factorial::sim::SimOptions;
using factorial::sim::ZkRegistry;
using factorial::testing::CheckDigitCounts;
using factorial::testing::Eventually;
using factorial::testing::IndependentFactorial;
using factorial::testing::Json;
using factorial::testing::Lines;
using factorial::testing::Process;
using factorial::testing::Server;
using factorial::testing::SimGet;
using factorial::testing::SimPost;
using factorial::testing::Split;
using factorial::testing::kSmallRun;

// mesos-sim with two masters announced in ZooKeeper; /sim/leader moves leadership there too.
class SimInZooKeeper {
 public:
  explicit SimInZooKeeper(const std::string& group) : url_("zk://" + Server().address() + group) {
    SimOptions o;
    o.agents = 2;
    o.masters = 2;
    o.heartbeat_interval = 1000ms;
    o.allocation_interval = 50ms;
    o.update_retry_interval = 500ms;
    o.executor_shutdown_grace_period = 1000ms;
    o.on_leader_changed = [this](int leader) {
      if (auto* r = announced_.load()) r->SetLeader(leader);
    };
    sim_ = std::make_unique<MesosSim>(o);
    sim_->Start();
    registry_ = std::make_unique<ZkRegistry>(url_);
    std::vector<std::string> infos;
    for (int i = 0; i < 2; ++i) {
      infos.push_back(ZkRegistry::MasterInfoJson("sim-" + std::to_string(i), "127.0.0.1",
                                                 Split(sim_->master_url(i)).port, "localhost"));
    }
    registry_->RegisterMasters(infos);
    announced_ = registry_.get();
  }
  ~SimInZooKeeper() {
    announced_ = nullptr;
    sim_.reset();
  }
  const std::string& zk_url() const { return url_; }
  MesosSim& sim() { return *sim_; }
  std::string leader_url(int i) const { return "http://127.0.0.1:" + std::to_string(Split(sim_->master_url(i)).port); }

 private:
  std::string url_;
  std::unique_ptr<MesosSim> sim_;
  std::unique_ptr<ZkRegistry> registry_;
  std::atomic<ZkRegistry*> announced_{nullptr};
};

std::vector<std::string> SchedulerArgs(const std::string& master, std::vector<std::string> extra) {
  std::vector<std::string> args = {FACTORIAL_SCHEDULER_BINARY, "--master", master, "--executor",
                                   FACTORIAL_EXECUTOR_BINARY, "--refuse-seconds", "0.2"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace

TEST_CASE("zk://: the scheduler finds the leading master through ZooKeeper", "[zk][scheduler]") {
  SimInZooKeeper cluster("/factorial/found");
  Process p(SchedulerArgs(cluster.zk_url(), {"5", "7", "10", "70"}));
  REQUIRE(p.Wait() == 0);
  CHECK(Lines(p.Stdout()) ==
        std::vector<std::string>{"5! = 120", "7! = 5040", "10! = 3628800", "70! = " + IndependentFactorial(70)});
  CHECK_THAT(p.Stderr(), Catch::Contains("leading master is " + cluster.leader_url(0)));
  CHECK_THAT(p.Stderr(), !Catch::Contains("is not the leader"));  // found, not redirected to
  auto state = SimGet(cluster.sim().master_url(0), "state");
  CHECK(state["frameworks"].empty());
  CHECK(state["completed_frameworks"].size() == 1);
}

TEST_CASE("zk://: a leader change mid-run is followed, every result exact and printed once", "[zk][scheduler]") {
  SimInZooKeeper cluster("/factorial/switch");
  std::vector<std::string> numbers;
  for (int i = 0; i < 16; ++i) numbers.push_back(std::to_string(120000 + i));
  Process p(SchedulerArgs(cluster.zk_url(), numbers));
  std::string control = cluster.sim().master_url(0);
  // Mid-run: some tasks launched, not every number printed.
  REQUIRE(Eventually([&] { return !SimGet(control, "launches").empty(); }, kSmallRun));
  REQUIRE(Lines(p.Stdout()).size() < numbers.size());
  SimPost(control, "leader?index=1");
  REQUIRE(p.Wait() == 0);

  auto lines = Lines(p.Stdout());
  CheckDigitCounts(lines, numbers);
  CHECK(lines[0].substr(lines[0].find("= ") + 2) == IndependentFactorial(120000));
  CHECK_THAT(p.Stderr(), Catch::Contains("leading master is " + cluster.leader_url(1)));

  // The new leader was given the framework ID: one framework throughout, no task launched twice.
  std::set<std::string> framework_ids;
  int subscribes = 0;
  for (const auto& c : SimGet(control, "calls")) {
    Json call = Json::parse(c.get<std::string>());
    if (call["type"] != "SUBSCRIBE") continue;
    ++subscribes;
    if (call.contains("framework_id")) framework_ids.insert(call["framework_id"]["value"].get<std::string>());
  }
  CHECK(subscribes >= 2);
  CHECK(framework_ids.size() == 1);
  std::set<std::string> task_ids;
  for (const auto& l : SimGet(control, "launches")) task_ids.insert(l["task_id"].get<std::string>());
  CHECK(SimGet(control, "launches").size() == task_ids.size());  // batches, each launched once
}
