// The executor's progress reports: ProgressReporter on a manual clock (exactly which MESSAGE
// data it sends, and when), BatchRun::Progress as numbers finish, and the executor's MESSAGE
// calls to the agent.

#include "progress_reporter.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "factorial/base64.hpp"
#include "factorial/cost_model.hpp"
#include "support/executor_harness.hpp"
#include "support/fake_loop.hpp"

using namespace std::chrono_literals;
using factorial::TaskProgressReport;
using factorial::executor::ProgressReporter;
using factorial::testing::FakeLoop;

namespace {

struct Reporter {
  FakeLoop loop;
  std::vector<TaskProgressReport> running;
  std::vector<std::string> sent;
  bool connected = true;
  ProgressReporter reporter{loop, [this] { return running; },
                            [this](std::string data) {
                              if (!connected) return false;
                              sent.push_back(std::move(data));
                              return true;
                            }};
};

std::string Work(double seconds) { return fmt::format("{:.6f}", seconds); }

}  // namespace

TEST_CASE("the reporter sends each running task's figure every 3 s when it changed", "[progress]") {
  Reporter r;
  r.running = {{"a", 0, 0}, {"b", 2, 1.5}};
  r.reporter.Watch();
  r.reporter.Watch();  // one timer, however often a task starts
  CHECK(r.loop.pending_timers() == 1);
  r.loop.Advance(2999ms);
  CHECK(r.sent.empty());
  r.loop.Advance(1ms);
  // `a` has nothing done yet: nothing to say.
  CHECK(r.sent == std::vector<std::string>{"progress b 2 1.500000"});

  r.running = {{"a", 1, 0.25}, {"b", 2, 1.5}};
  r.loop.Advance(3s);
  CHECK(r.sent == std::vector<std::string>{"progress b 2 1.500000", "progress a 1 0.250000"});

  r.loop.Advance(3s);  // nothing changed: nothing sent
  CHECK(r.sent.size() == 2);

  r.running = {{"b", 3, 2.125}};
  r.loop.Advance(3s);
  CHECK(r.sent.back() == "progress b 3 2.125000");
  CHECK(r.sent.size() == 3);
}

TEST_CASE("the reporter stops ticking when no task runs and offers unsent figures again", "[progress]") {
  Reporter r;
  r.running = {{"a", 4, 1}};
  r.connected = false;
  r.reporter.Watch();
  r.loop.Advance(3s);
  CHECK(r.sent.empty());
  r.connected = true;  // subscribed again: the figure not sent is offered at the next tick
  r.loop.Advance(3s);
  CHECK(r.sent == std::vector<std::string>{"progress a 4 1.000000"});

  r.running.clear();
  r.loop.Advance(3s);
  CHECK(r.loop.pending_timers() == 0);
  r.loop.Advance(1min);
  CHECK(r.sent.size() == 1);

  // A task of the same ID later starts afresh: its figure is sent even if equal to the old.
  r.running = {{"a", 4, 1}};
  r.reporter.Watch();
  r.loop.Advance(3s);
  CHECK(r.sent.size() == 2);
  r.reporter.Stop();
  CHECK(r.loop.pending_timers() == 0);
}

TEST_CASE("the executor sends MESSAGE calls with a running batch's numbers and estimated work done",
          "[progress][executor]") {
  using namespace factorial::testing::executor;
  Harness h;
  h.Deliver({Subscribed(), Launch("t", "2000 3000 4000")});  // one lane: largest first
  REQUIRE(h.runner.started == std::vector<std::string>{"t/4000"});
  auto messages = [&] {
    std::vector<std::string> data;
    for (auto* r : h.loop.All()) {
      if (r->stream) continue;
      auto json = nlohmann::json::parse(r->http.body);
      if (json["type"] != "MESSAGE") continue;
      CHECK(json["executor_id"]["value"] == "EID");
      CHECK(json["framework_id"]["value"] == "FID");
      CHECK(r->http.url == "http://127.0.0.1:5051/api/v1/executor");
      auto decoded = factorial::Base64Decode(json["message"]["data"].get<std::string>());
      REQUIRE(decoded.ok());
      data.push_back(decoded.value());
    }
    return data;
  };
  h.loop.Advance(3s);
  CHECK(messages().empty());  // nothing done yet

  h.runner.Compute("t/4000");
  h.loop.Advance(3s);
  double work4000 = factorial::EstimatedCpuSeconds(4000);
  CHECK(messages() == std::vector<std::string>{"progress t 1 " + Work(work4000)});
  h.loop.Advance(3s);
  CHECK(messages().size() == 1);

  h.runner.Compute("t/3000");
  h.loop.Advance(3s);
  CHECK(messages().back() == "progress t 2 " + Work(work4000 + factorial::EstimatedCpuSeconds(3000)));

  h.runner.Compute("t/2000");
  REQUIRE(h.Updates().back().state == TaskState::kFinished);
  h.loop.Advance(1min);
  CHECK(messages().size() == 2);  // the finished task's update says the rest
}
