// The executor state machine driven through FakeLoop (no sockets, manual clock) and a fake
// runner the test completes by hand; results are real GMP digits.

#include "executor.hpp"

#include <map>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "compute.hpp"
#include "factorial/recordio.hpp"
#include "factorial/result_codec.hpp"
#include "factorial/sizing.hpp"
#include "factorial/uuid.hpp"
#include "support/executor_harness.hpp"

using namespace std::chrono_literals;
using namespace factorial::testing::executor;

TEST_CASE("executor subscribes on its own stream with the agent's IDs", "[executor]") {
  Harness h;
  auto* stream = h.loop.LastStream();
  REQUIRE(stream != nullptr);
  CHECK(stream->http.url == "http://127.0.0.1:5051/api/v1/executor");
  CHECK(stream->http.method == "POST");
  CHECK(stream->http.headers.Get("Content-Type") == "application/json");
  CHECK(stream->http.headers.Get("Accept") == "application/json");
  CHECK_FALSE(stream->http.headers.Get("Mesos-Stream-Id").has_value());
  CHECK_FALSE(stream->http.headers.Get("Authorization").has_value());
  CHECK(nlohmann::json::parse(stream->http.body) ==
        nlohmann::json::parse(R"({"executor_id":{"value":"EID"},"framework_id":{"value":"FID"},"type":"SUBSCRIBE","subscribe":{}})"));
}

TEST_CASE("the authentication token is sent as a bearer token", "[executor]") {
  auto env = TestEnv();
  env.auth_token = "jwt.token.here";
  Harness h(env);
  CHECK(h.loop.LastStream()->http.headers.Get("Authorization") == "Bearer jwt.token.here");
}

TEST_CASE("launch yields TASK_RUNNING then TASK_FINISHED with the exact digits", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("t20", "20")});
  // A batch of one: its number runs under the runner key `<task>/<n>`, capped at the task's
  // whole memory.
  REQUIRE(h.runner.started == std::vector<std::string>{"t20/20"});
  CHECK(h.runner.jobs.at("t20/20").request.n == 20);
  CHECK(h.runner.jobs.at("t20/20").request.memory_limit_bytes == 64ull << 20);
  h.runner.Compute("t20/20");
  h.loop.Pump();

  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  CHECK(updates[0].state == TaskState::kRunning);
  CHECK(updates[1].state == TaskState::kFinished);
  CHECK(updates[1].data == "2432902008176640000");
  for (const auto& u : updates) {
    CHECK(u.task_id.value == "t20");
    CHECK(u.source == v1::TaskSource::kExecutor);
    CHECK(u.executor_id->value == "EID");
    REQUIRE(u.uuid.has_value());
    CHECK(factorial::IsValidUuidBytes(*u.uuid));
    CHECK(u.timestamp.has_value());
  }
  CHECK(updates[0].uuid != updates[1].uuid);
  CHECK(h.executor.unacknowledged_updates() == 2);
}

TEST_CASE("acknowledgements retire updates and forget finished tasks", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("t5", "5")});
  h.runner.Compute("t5/5");
  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  CHECK(h.executor.unacknowledged_task_ids() == std::vector<std::string>{"t5"});

  h.Deliver({Acknowledged("t5", *updates[0].uuid)});
  CHECK(h.executor.unacknowledged_updates() == 1);
  CHECK(h.executor.unacknowledged_task_ids().empty());
  CHECK(h.executor.known_tasks() == 1);

  h.Deliver({Acknowledged("t5", "not-a-known-uuid")});  // ignored
  CHECK(h.executor.unacknowledged_updates() == 1);
  h.Deliver({Acknowledged("t5", *updates[1].uuid)});
  CHECK(h.executor.unacknowledged_updates() == 0);
  CHECK(h.executor.known_tasks() == 0);
}

TEST_CASE("resubscription carries unacknowledged updates and tasks", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("a", "3"), Launch("b", "4")});
  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  h.Deliver({Acknowledged("a", *updates[0].uuid)});  // a is acknowledged, b is not

  h.loop.EndStream(h.loop.LastStream()->id);  // the agent goes away
  CHECK_FALSE(h.executor.subscribed());
  std::size_t streams = h.loop.All().size();
  h.loop.Advance(2s);  // within [0, MESOS_SUBSCRIPTION_BACKOFF_MAX]
  REQUIRE(h.loop.All().size() > streams);
  auto call = h.LastSubscribe();
  REQUIRE(call.subscribe->unacknowledged_tasks.size() == 1);
  CHECK(call.subscribe->unacknowledged_tasks[0].task_id.value == "b");
  REQUIRE(call.subscribe->unacknowledged_updates.size() == 1);
  CHECK(call.subscribe->unacknowledged_updates[0].status.uuid == updates[1].uuid);
  CHECK(call.subscribe->unacknowledged_updates[0].status.state == TaskState::kRunning);
  CHECK_FALSE(h.exit_code.has_value());
}

TEST_CASE("updates made while disconnected are sent in the next SUBSCRIBE", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("c", "10")});
  h.loop.EndStream(h.loop.LastStream()->id);
  std::size_t calls_before = h.Updates().size();
  h.runner.Compute("c/10");  // finishes while the agent is away
  CHECK(h.Updates().size() == calls_before);  // nothing POSTed without a subscription
  h.loop.Advance(2s);
  auto call = h.LastSubscribe();
  REQUIRE(call.subscribe->unacknowledged_updates.size() == 2);
  CHECK(call.subscribe->unacknowledged_updates[1].status.state == TaskState::kFinished);
  CHECK(call.subscribe->unacknowledged_updates[1].status.data == "3628800");
}

TEST_CASE("a queued task is dropped on KILL and a running one is stopped", "[executor]") {
  Harness h;
  // Two tasks of half a cpu each: one worker slot, so the second waits.
  h.Deliver({Subscribed(), Launch("run", "7", 0.5), Launch("wait", "8", 0.5)});
  REQUIRE(h.runner.started == std::vector<std::string>{"run/7"});

  h.Deliver({Kill("wait")});
  auto updates = h.Updates();
  REQUIRE(updates.size() == 3);
  CHECK(updates[2].task_id.value == "wait");
  CHECK(updates[2].state == TaskState::kKilled);
  CHECK(h.runner.started == std::vector<std::string>{"run/7"});  // never started

  h.Deliver({Kill("run")});
  CHECK(h.runner.killed == std::vector<std::string>{"run/7"});
  updates = h.Updates();
  REQUIRE(updates.size() == 4);
  CHECK(updates[3].task_id.value == "run");
  CHECK(updates[3].state == TaskState::kKilled);

  h.Deliver({Kill("run")});  // already terminal: nothing more
  CHECK(h.Updates().size() == 4);
}

TEST_CASE("tasks whose cpus round to two run side by side", "[executor]") {
  Harness h;
  // The executor's 0.1 beside them leaves 1.9 of an agent's 2 cpus: 1 + 0.9.
  h.Deliver({Subscribed(), Launch("one", "7", 1), Launch("other", "8", 0.9), Launch("third", "9", 0.5)});
  CHECK(h.runner.started == std::vector<std::string>{"one/7", "other/8"});
}

TEST_CASE("bad task data fails the task with a reason", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("neg", "-5"), Launch("txt", "five"), Launch("empty", ""),
             Launch("space", " 5"), Launch("huge", "100000001")});
  auto updates = h.Updates();
  REQUIRE(updates.size() == 5);
  for (const auto& u : updates) {
    INFO(u.task_id.value);
    CHECK(u.state == TaskState::kFailed);
    CHECK(u.reason == v1::TaskReason::kTaskInvalid);
  }
  CHECK(*updates[0].message ==
        "task data must be non-negative decimal integers separated by single spaces; '-5' in '-5' is not one");
  CHECK(*updates[4].message == "100000001 is over this executor's limit of 100000000");
  CHECK(h.runner.started.empty());
}

TEST_CASE("a lone number over the task's memory is reported failed (oom) without running", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("nomem", "10000000", 1, 64)});
  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  CHECK(updates[0].state == TaskState::kRunning);
  CHECK(updates[1].state == TaskState::kFinished);
  // Its digits would not fit inline, so the run was set for files, of which there are none.
  CHECK(*updates[1].message == "batch of 1 number: 0 computed, 1 failed, 0 result files");
  auto decoded = factorial::DecodeResultList(*updates[1].data, 10000000);
  REQUIRE(decoded.ok());
  REQUIRE(decoded->entries.size() == 1);
  CHECK(decoded->entries[0].n == 10000000);
  const auto& failure = std::get<factorial::ResultFailure>(decoded->entries[0].value);
  CHECK(failure.reason == factorial::ResultFailure::Reason::kOom);
  CHECK(failure.message == "10000000! needs about " + std::to_string(factorial::FactorialMemoryBytes(10000000) >> 20) +
                               " MiB but the task has 64 MiB");
  CHECK(h.runner.started.empty());
}

TEST_CASE("a computation that runs out of memory fails only its number", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("big", "1000"), Launch("small", "3")});
  ComputeOutcome oom;
  oom.kind = ComputeOutcome::Kind::kFailed;
  oom.out_of_memory = true;
  oom.error = "computation terminated by signal Aborted (out of memory)";
  h.runner.Finish("big/1000", oom);
  h.runner.Compute("small/3");
  auto updates = h.Updates();
  REQUIRE(updates.size() == 4);
  CHECK(updates[2].task_id.value == "big");
  CHECK(updates[2].state == TaskState::kFinished);
  CHECK(*updates[2].data == "FR1\n1000 e oom computation terminated by signal Aborted (out of memory)\n");
  CHECK(updates[3].data == "6");
}

TEST_CASE("a result over the inline limit is an FRF2 file named on a file line", "[executor]") {
  Harness h;
  ev::Event launch = Launch("f", "100");
  launch.launch->task.labels.emplace().push_back(v1::Label{"inline_limit", std::string("157")});
  h.Deliver({Subscribed(), launch});
  // 100! has 158 digits: over the limit, so decided before it runs.
  auto& request = h.runner.jobs.at("f/100").request;
  CHECK(request.framed_file);
  CHECK(request.result_path == "/sandbox/f.100.frf");  // written in our view
  ComputeOutcome file;
  file.kind = ComputeOutcome::Kind::kFile;
  file.size = 244;
  file.digest = std::string(32, 'a');
  h.runner.Finish("f/100", file);
  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  CHECK(updates[1].state == TaskState::kFinished);
  CHECK(*updates[1].message == "batch of 1 number: 1 computed, 0 failed, 1 result file");
  // Named in the agent's view, which the scheduler fetches through.
  CHECK(*updates[1].data == "FR1\nfile 244 " + std::string(32, 'a') + " /agent/sandbox/f.100.frf\n");
  auto ref = factorial::DecodeResultList(*updates[1].data, 100);
  REQUIRE(ref.ok());
  CHECK(ref.value() == factorial::ResultList{{}, {{"/agent/sandbox/f.100.frf", 244, std::string(32, 'a')}}});
}

TEST_CASE("a result within the inline limit is not framed", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("i", "100")});
  CHECK_FALSE(h.runner.jobs.at("i/100").request.framed_file);
  h.runner.Compute("i/100");
  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  CHECK(*updates[1].data == factorial::executor::Factorial(100).ToString());
}

TEST_CASE("SHUTDOWN kills every task, then exits once the kills are acknowledged", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("x", "11"), Launch("y", "12")});
  h.Deliver({Simple(ev::EventType::kShutdown)});
  auto updates = h.Updates();
  REQUIRE(updates.size() == 4);
  CHECK(updates[2].state == TaskState::kKilled);
  CHECK(updates[3].state == TaskState::kKilled);
  CHECK(h.runner.killed.size() == 2);
  CHECK_FALSE(h.exit_code.has_value());  // waiting for acknowledgements
  for (const auto& u : updates) h.Deliver({Acknowledged(u.task_id.value, *u.uuid)});
  CHECK(h.exit_code == 0);
}

TEST_CASE("SHUTDOWN exits after the grace period when acknowledgements never come", "[executor]") {
  Harness h;
  h.Deliver({Subscribed(), Launch("x", "11")});
  h.Deliver({Simple(ev::EventType::kShutdown)});
  h.loop.Advance(4900ms);
  CHECK_FALSE(h.exit_code.has_value());
  h.loop.Advance(100ms);
  CHECK(h.exit_code == 0);
}

TEST_CASE("without checkpointing, losing the agent shuts the executor down", "[executor]") {
  Harness h(TestEnv(/*checkpoint=*/false));
  h.Deliver({Subscribed(), Launch("x", "11")});
  h.loop.EndStream(h.loop.LastStream()->id);
  CHECK(h.exit_code == 1);
  CHECK(h.runner.killed == std::vector<std::string>{"x/11"});
}

TEST_CASE("with checkpointing, the executor retries until the recovery timeout", "[executor]") {
  Harness h;
  h.Deliver({Subscribed()});
  h.loop.Fail(h.loop.LastStream()->id, factorial::Error{factorial::Errc::kUnavailable, "reset"});
  int attempts = 0;
  for (int i = 0; i < 60 && !h.exit_code; ++i) {
    h.loop.Advance(15s);
    auto* s = h.loop.LastStream();
    if (s->open) {
      ++attempts;
      h.loop.Reply(s->id, 503, "Agent has not finished recovery");
    }
  }
  CHECK(attempts >= 30);  // kept trying for 15 minutes
  CHECK(h.exit_code == 1);
}

TEST_CASE("resubscribing in time cancels the recovery timeout", "[executor]") {
  Harness h;
  h.Deliver({Subscribed()});
  h.loop.EndStream(h.loop.LastStream()->id);
  h.loop.Advance(2s);
  h.Deliver({Subscribed()});
  CHECK(h.executor.subscribed());
  h.loop.Advance(20min);
  CHECK_FALSE(h.exit_code.has_value());
}

TEST_CASE("a corrupt stream or malformed event drops the connection", "[executor]") {
  Harness h;
  h.Deliver({Subscribed()});
  CHECK_FALSE(h.loop.StreamBytes(h.loop.LastStream()->id, "garbage\n"));
  CHECK_FALSE(h.executor.subscribed());
  h.loop.Advance(2s);
  REQUIRE(h.loop.LastStream()->open);
  CHECK_FALSE(h.loop.StreamBytes(h.loop.LastStream()->id, factorial::EncodeRecord("{not json")));
  CHECK_FALSE(h.executor.subscribed());
  CHECK_FALSE(h.exit_code.has_value());
}

TEST_CASE("an UPDATE the agent does not accept is posted again", "[executor]") {
  Harness h;
  h.loop.AutoReply(std::nullopt);
  h.Deliver({Subscribed(), Launch("r", "1")});
  auto calls = h.loop.OpenCalls();
  REQUIRE(calls.size() == 1);
  h.loop.Reply(calls[0]->id, 503);
  CHECK(h.loop.OpenCalls().empty());
  h.loop.Advance(1s);
  auto again = h.loop.OpenCalls();
  REQUIRE(again.size() == 1);
  CHECK(again[0]->http.body == calls[0]->http.body);  // same update, same uuid
}

TEST_CASE("parallel decimal conversion matches mpz_get_str", "[executor][compute]") {
  for (std::uint64_t n : {0u, 1u, 5u, 20u, 1000u, 12345u, 30000u}) {
    auto f = factorial::executor::Factorial(n);
    std::string expected = f.ToString();
    for (int threads : {1, 2, 3, 4, 8}) {
      INFO("n=" << n << " threads=" << threads);
      CHECK(factorial::executor::ToDecimal(f, threads) == expected);
    }
  }
  CHECK(factorial::executor::Factorial(0).ToString() == "1");
  CHECK(factorial::executor::Factorial(25).ToString() == "15511210043330985984000000");
}
