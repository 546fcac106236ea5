#pragma once

// The executor's test harness: a FakeLoop standing in for the agent (events in, calls out), a
// runner (FakeRunner, completed by hand with real GMP digits, or a real one), and the event
// builders the executor tests share.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "compute.hpp"
#include "executor.hpp"
#include "factorial/recordio.hpp"
#include "support/fake_loop.hpp"

namespace factorial::testing::executor {

using namespace std::chrono_literals;
using factorial::executor::ComputeOutcome;
using factorial::executor::ComputeRequest;
using factorial::executor::Executor;
using factorial::executor::ExecutorEnv;
namespace v1 = factorial::v1;
namespace ev = factorial::v1::executor;
using v1::TaskState;


class FakeRunner final : public factorial::executor::ComputeRunner {
 public:
  FakeRunner() = default;
  explicit FakeRunner(factorial::EventLoop& /*loop*/) {}
  struct Job {
    ComputeRequest request;
    Done done;
  };
  void Start(const std::string& key, const ComputeRequest& request, Done done) override {
    jobs[key] = Job{request, std::move(done)};
    started.push_back(key);
  }
  void Kill(const std::string& key) override {
    killed.push_back(key);
    if (jobs.contains(key)) {
      ComputeOutcome killed_outcome;
      killed_outcome.kind = ComputeOutcome::Kind::kKilled;
      Finish(key, killed_outcome);
    }
  }
  void Finish(const std::string& key, ComputeOutcome outcome) {
    auto done = std::move(jobs.at(key).done);
    jobs.erase(key);
    done(std::move(outcome));
  }
  // Completes `key` with the real digits of n!.
  void Compute(const std::string& key) {
    ComputeOutcome outcome;
    outcome.kind = ComputeOutcome::Kind::kInline;
    outcome.digits = factorial::executor::Factorial(jobs.at(key).request.n).ToString();
    Finish(key, std::move(outcome));
  }
  std::uint64_t InProcessMaxN() const override { return in_process_max_n; }
  std::map<std::string, Job> jobs;
  std::vector<std::string> started, killed;
  std::uint64_t in_process_max_n = 0;  // batches: every number goes through Start
};

inline ExecutorEnv TestEnv(bool checkpoint = true) {
  ExecutorEnv env;
  env.agent_endpoint = "127.0.0.1:5051";
  env.framework_id = "FID";
  env.executor_id = "EID";
  env.sandbox = "/sandbox";
  env.agent_sandbox = "/agent/sandbox";  // as in a container image: the two views differ
  env.checkpoint = checkpoint;
  env.recovery_timeout = 15min;
  env.subscription_backoff_max = 2s;
  env.shutdown_grace_period = 5s;
  return env;
}

inline std::string Record(const ev::Event& e) { return factorial::EncodeRecord(v1::Serialize(e)); }

inline ev::Event Subscribed() {
  ev::Event e;
  e.type = ev::EventType::kSubscribed;
  auto& s = e.subscribed.emplace();
  s.executor_info.executor_id.value = "EID";
  s.framework_info.user = "u";
  s.framework_info.name = "f";
  s.agent_info.hostname = "localhost";
  s.agent_info.id = v1::AgentID{"S0"};
  return e;
}

inline v1::Resource Scalar(const std::string& name, double value) {
  v1::Resource r;
  r.name = name;
  r.type = v1::ValueType::kScalar;
  r.scalar = value;
  return r;
}

inline ev::Event Launch(const std::string& id, const std::string& data, double cpus = 1, double mem = 64) {
  ev::Event e;
  e.type = ev::EventType::kLaunch;
  auto& t = e.launch.emplace().task;
  t.name = "factorial " + data;
  t.task_id.value = id;
  t.agent_id.value = "S0";
  t.resources = {Scalar("cpus", cpus), Scalar("mem", mem)};
  t.data = data;
  return e;
}

inline ev::Event Acknowledged(const std::string& id, const std::string& uuid) {
  ev::Event e;
  e.type = ev::EventType::kAcknowledged;
  e.acknowledged.emplace().task_id.value = id;
  e.acknowledged->uuid = uuid;
  return e;
}

inline ev::Event Kill(const std::string& id) {
  ev::Event e;
  e.type = ev::EventType::kKill;
  e.kill.emplace().task_id.value = id;
  return e;
}

inline ev::Event Simple(ev::EventType type) {
  ev::Event e;
  e.type = type;
  return e;
}

// The executor on a FakeLoop with `Runner` (FakeRunner, or a real RoutingRunner built from
// `runner_args` after the loop).
template <class Runner>
struct BasicHarness {
  template <class... RunnerArgs>
  explicit BasicHarness(ExecutorEnv env = TestEnv(), RunnerArgs&&... runner_args)
      : runner(loop, std::forward<RunnerArgs>(runner_args)...),
        executor(loop, runner, std::move(env), [this](int code) { exit_code = code; }, /*seed=*/1) {
    loop.AutoReply(202);
    executor.Start();
  }
  // Delivers events on the current subscription stream.
  void Deliver(const std::vector<ev::Event>& events) {
    std::string bytes;
    for (const auto& e : events) bytes += Record(e);
    loop.StreamBytes(loop.LastStream()->id, bytes);
  }
  // Every UPDATE call sent so far, in order.
  std::vector<v1::TaskStatus> Updates() {
    loop.Pump();  // deliver replies, so calls queued behind them are sent
    std::vector<v1::TaskStatus> out;
    for (auto* r : loop.All()) {
      if (r->stream) continue;
      auto call = v1::ParseExecutorCall(r->http.body);
      REQUIRE(call.ok());
      if (call->type == ev::CallType::kUpdate) out.push_back(call->update->status);
    }
    return out;
  }
  ev::Call LastSubscribe() {
    auto call = v1::ParseExecutorCall(loop.LastStream()->http.body);
    REQUIRE(call.ok());
    REQUIRE(call->type == ev::CallType::kSubscribe);
    return call.value();
  }

  // The last update of `task_id` once it is terminal, pumping (and waiting for other threads'
  // work) until then; fails the test after a minute.
  v1::TaskStatus Terminal(const std::string& task_id) {
    std::optional<v1::TaskStatus> terminal;
    bool reached = loop.PumpUntil([&] {
      for (const auto& u : Updates()) {
        if (u.task_id.value == task_id && v1::IsTerminal(u.state)) terminal = u;
      }
      return terminal.has_value();
    });
    REQUIRE(reached);
    return *terminal;
  }

  FakeLoop loop;
  Runner runner;
  std::optional<int> exit_code;
  Executor executor;
};

using Harness = BasicHarness<FakeRunner>;

}  // namespace factorial::testing::executor
