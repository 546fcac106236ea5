// Result files published while a batch runs (parts): a lane's PartWriter closing files by size
// and by age (a fake clock), a BatchRun handing parts over before it finishes with every digit
// exactly once, and the executor announcing parts in TASK_RUNNING updates, one unacknowledged
// at a time, removing each update's files when the agent reports it ACKNOWLEDGED.

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include <catch2/catch.hpp>

#include "batch.hpp"
#include "factorial/result_codec.hpp"
#include "factorial/result_file.hpp"
#include "factorial/digest.hpp"
#include "frf_file.hpp"
#include "runner.hpp"
#include "support/executor_harness.hpp"
#include "support/expected.hpp"
#include "support/temp_dir.hpp"

using namespace factorial::testing::executor;
using factorial::DecodeResultList;
using factorial::ResultFile;
using factorial::executor::BatchOutcome;
using factorial::executor::BatchRun;
using factorial::executor::BatchSpec;
using factorial::executor::PartWriter;
using factorial::executor::RoutingRunner;
using factorial::testing::FakeLoop;
using factorial::testing::IndependentFactorial;
using factorial::testing::TempDir;
namespace fs = std::filesystem;

namespace {

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The entries of a result file, checked against its announced size and XXH3-128.
std::map<std::uint64_t, std::string> Entries(const fs::path& path, const ResultFile* announced = nullptr) {
  std::string bytes = ReadAll(path);
  if (announced != nullptr) {
    CHECK(bytes.size() == announced->size);
    CHECK(factorial::Xxh3Hex(bytes) == announced->digest);
  }
  std::map<std::uint64_t, std::string> out;
  std::uint64_t current = 0;
  factorial::ResultFileParser parser({.on_entry =
                                          [&](std::uint64_t n, std::uint64_t) {
                                            current = n;
                                            REQUIRE(!out.contains(n));
                                            return factorial::OkStatus();
                                          },
                                      .on_digits =
                                          [&](std::string_view piece) {
                                            out[current].append(piece);
                                            return factorial::OkStatus();
                                          },
                                      .on_entry_end = [] { return factorial::OkStatus(); }});
  REQUIRE(parser.Feed(bytes).ok());
  REQUIRE(parser.Finish().ok());
  return out;
}

// The scheduler's MESSAGE: it has the files of these updates safely.
ev::Event Notice(const std::vector<std::string>& uuids) {
  ev::Event e;
  e.type = ev::EventType::kMessage;
  e.message.emplace().data = factorial::EncodeFetchedNotice(uuids);
  return e;
}

// An executor whose results all go to files in SANDBOX, which the agent sees as /agent/view.
ExecutorEnv FileResultsEnv(const TempDir& sandbox) {
  ExecutorEnv env = TestEnv();
  env.sandbox = sandbox.path().string();
  env.agent_sandbox = "/agent/view";
  env.inline_limit = 16;
  return env;
}

// Task TASK's worker for N finishes with a whole result file (made here: the fake runner writes
// none), 10 + N bytes with an XXH3-128 of 32 a's by its report.
void FinishWorker(Harness& h, const TempDir& sandbox, const std::string& task, std::uint64_t n) {
  std::string name = task + "." + std::to_string(n) + ".frf";
  std::ofstream(sandbox.path() / name) << "file of " << n;
  ComputeOutcome done;
  done.kind = ComputeOutcome::Kind::kFile;
  done.size = 10 + n;
  done.digest = std::string(32, 'a');
  h.runner.Finish(task + "/" + std::to_string(n), done);
}

}  // namespace

TEST_CASE("a lane's file closes as a part once it holds the part's bytes of digits", "[executor][parts]") {
  TempDir dir;
  PartWriter writer({.base = (dir.path() / "t.lane0").string(), .part_bytes = 100});
  std::vector<PartWriter::Part> parts;
  for (std::uint64_t n = 60; n < 69; ++n) {  // 82 to 97 digits each
    auto appended = writer.Append(n, IndependentFactorial(n));
    REQUIRE(appended.ok());
    if (*appended) parts.push_back(**appended);
  }
  auto last = writer.Close();
  REQUIRE(last.ok());
  REQUIRE(last->has_value());  // 68! alone: under 100 digits
  CHECK((*last)->numbers == 1);
  CHECK(Entries((*last)->path) == std::map<std::uint64_t, std::string>{{68, IndependentFactorial(68)}});
  // Two numbers per part: the second takes each file over 100 digits.
  REQUIRE(parts.size() == 4);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    INFO(i);
    CHECK(parts[i].path == (dir.path() / ("t.lane0." + std::to_string(i + 1) + ".frf")).string());
    CHECK(parts[i].numbers == 2);
    auto entries = Entries(parts[i].path);
    CHECK(entries == std::map<std::uint64_t, std::string>{{60 + 2 * i, IndependentFactorial(60 + 2 * i)},
                                                          {61 + 2 * i, IndependentFactorial(61 + 2 * i)}});
    CHECK(parts[i].written.size == fs::file_size(parts[i].path));
  }
  CHECK(writer.Close()->has_value() == false);  // nothing open any more
  CHECK(dir.Files().size() == 5);                 // no temporary left
}

TEST_CASE("a lane's file closes as a part once its first number is the part's age old", "[executor][parts]") {
  TempDir dir;
  auto now = PartWriter::Clock::time_point{};
  PartWriter writer({.base = (dir.path() / "t.lane1").string(),
                     .part_bytes = 0,
                     .part_age = std::chrono::seconds(2),
                     .now = [&now] { return now; }});
  std::vector<std::uint64_t> closed_after;
  for (std::uint64_t n = 1; n <= 7; ++n) {
    auto appended = writer.Append(n, IndependentFactorial(n));
    REQUIRE(appended.ok());
    if (*appended) closed_after.push_back(n);
    now += std::chrono::milliseconds(900);  // the next number comes 0.9 s later
  }
  // 1! opens the file at t = 0; 4! is appended at 2.7 s, the first append 2 s or more after
  // it opened: the file closes with 1-4. 5! opens the next at 3.6 s; 7! at 5.4 s is 1.8 s on.
  CHECK(closed_after == std::vector<std::uint64_t>{4});
  CHECK(Entries(dir.path() / "t.lane1.1.frf").size() == 4);
  auto last = writer.Close();
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  CHECK((*last)->numbers == 3);
  CHECK(Entries(dir.path() / "t.lane1.2.frf") == std::map<std::uint64_t, std::string>{
                                                     {5, "120"}, {6, "720"}, {7, "5040"}});
}

TEST_CASE("a batch hands over parts while it runs, with the final files they hold every number once",
          "[executor][parts]") {
  TempDir sandbox;
  FakeLoop loop;
  RoutingRunner runner(loop, std::string(FACTORIAL_EXECUTOR_BINARY), /*in_process_max_n=*/1000);
  BatchSpec spec;
  spec.task_id = "p";
  for (std::uint64_t n = 0; n < 300; ++n) spec.numbers.push_back(n);
  spec.lanes = 2;
  spec.inline_limit = 0;  // files
  spec.sandbox = sandbox.path().string();
  spec.agent_sandbox = "/agent/view";
  spec.part_bytes = 20000;  // a few numbers of ~600 digits per part
  std::vector<ResultFile> parts;
  std::uint64_t last_computed = 0;
  std::optional<BatchOutcome> outcome;
  BatchRun run(loop, runner, spec, [&](BatchOutcome o) { outcome = std::move(o); });
  run.set_on_parts([&](std::vector<ResultFile> files, std::uint64_t computed) {
    CHECK_FALSE(outcome.has_value());  // only while the batch runs
    CHECK(computed >= last_computed);
    last_computed = computed;
    for (auto& f : files) parts.push_back(std::move(f));
  });
  run.Start();
  REQUIRE(loop.PumpUntil([&] { return outcome.has_value(); }));
  REQUIRE(outcome->kind == BatchOutcome::Kind::kFinished);
  auto final_list = DecodeResultList(outcome->data, 0);
  REQUIRE(final_list.ok());
  CHECK(final_list->entries.empty());
  CHECK(parts.size() >= 2);
  std::map<std::uint64_t, std::string> all;
  std::vector<ResultFile> files = parts;
  for (const auto& f : final_list->files) files.push_back(f);
  for (const auto& f : files) {
    INFO(f.path);
    REQUIRE(f.path.starts_with("/agent/view/p.lane"));
    for (auto& [n, digits] : Entries(sandbox.path() / f.path.substr(12), &f)) {
      REQUIRE(!all.contains(n));
      all[n] = std::move(digits);
    }
  }
  REQUIRE(all.size() == 300);
  for (std::uint64_t n = 0; n < 300; ++n) {
    INFO(n);
    CHECK(all.at(n) == IndependentFactorial(n));
  }
  CHECK(sandbox.Files().size() == files.size());  // each file whole, no temporary
}

TEST_CASE("the executor announces parts one update at a time and removes each update's files once acknowledged",
          "[executor][parts]") {
  TempDir sandbox;
  Harness h(FileResultsEnv(sandbox));
  h.Deliver({Subscribed(), Launch("p", "2000 3000 4000", 1, 1024)});
  auto named = [](std::uint64_t n) {
    return "file " + std::to_string(10 + n) + " " + std::string(32, 'a') + " /agent/view/p." + std::to_string(n) +
           ".frf\n";
  };
  REQUIRE(h.runner.jobs.contains("p/4000"));  // one lane: largest first
  FinishWorker(h, sandbox, "p", 4000);
  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  CHECK(updates[0].state == TaskState::kRunning);
  CHECK(*updates[0].message == "0 of 3 numbers");
  CHECK_FALSE(updates[0].data.has_value());
  CHECK(updates[1].state == TaskState::kRunning);
  CHECK(*updates[1].message == "1 of 3 numbers");
  CHECK(*updates[1].data == "FR1\n" + named(4000));

  FinishWorker(h, sandbox, "p", 3000);  // while the first announcement waits for the scheduler: it waits too
  CHECK(h.Updates().size() == 2);
  // The agent has stored both updates: that says nothing of the scheduler.
  h.Deliver({Acknowledged("p", *updates[0].uuid), Acknowledged("p", *updates[1].uuid)});
  CHECK(h.Updates().size() == 2);
  CHECK(sandbox.Files() == std::vector<std::string>{"p.3000.frf", "p.4000.frf"});
  h.Deliver({Notice({*updates[1].uuid})});  // the scheduler has 4000! safely
  updates = h.Updates();
  REQUIRE(updates.size() == 3);
  CHECK(sandbox.Files() == std::vector<std::string>{"p.3000.frf"});
  CHECK(updates[2].state == TaskState::kRunning);
  CHECK(*updates[2].message == "2 of 3 numbers");
  CHECK(*updates[2].data == "FR1\n" + named(3000));

  FinishWorker(h, sandbox, "p", 2000);  // the last: it goes with TASK_FINISHED, which names only it
  updates = h.Updates();
  REQUIRE(updates.size() == 4);
  CHECK(updates[3].state == TaskState::kFinished);
  CHECK(*updates[3].data == "FR1\n" + named(2000));
  CHECK(*updates[3].message == "batch of 3 numbers: 3 computed, 0 failed, 1 result file");
  h.Deliver({Acknowledged("p", *updates[2].uuid), Acknowledged("p", *updates[3].uuid)});
  CHECK(sandbox.Files() == std::vector<std::string>{"p.2000.frf", "p.3000.frf"});
  h.Deliver({Notice({*updates[2].uuid, *updates[3].uuid})});
  CHECK(sandbox.Files().empty());
  CHECK(h.executor.unacknowledged_updates() == 0);
}

TEST_CASE("without the scheduler's notice the next parts are announced after a while, and an exit removes "
          "what is left",
          "[executor][parts]") {
  TempDir sandbox;
  Harness h(FileResultsEnv(sandbox));
  h.Deliver({Subscribed(), Launch("w", "2000 3000 4000", 1, 1024)});
  for (std::uint64_t n : {4000u, 3000u}) FinishWorker(h, sandbox, "w", n);
  CHECK(h.Updates().size() == 2);
  h.loop.Advance(Executor::kNoticeWait);  // the notice was lost
  auto updates = h.Updates();
  REQUIRE(updates.size() == 3);
  CHECK_THAT(*updates[2].data, Catch::Contains("w.3000.frf"));
  h.executor.Shutdown("test");  // kills 2000!'s worker; its updates stay unacknowledged
  h.loop.Advance(std::chrono::minutes(1));  // the grace period ends
  REQUIRE(h.exit_code.has_value());
  CHECK(sandbox.Files().empty());
}

TEST_CASE("a killed batch removes the files it never announced, announced ones go when acknowledged",
          "[executor][parts]") {
  TempDir sandbox;
  Harness h(FileResultsEnv(sandbox));
  h.Deliver({Subscribed(), Launch("k", "2000 3000 4000", 2, 1024)});
  for (std::uint64_t n : {4000u, 3000u}) FinishWorker(h, sandbox, "k", n);
  // 4000 announced; 3000 waits for that announcement's acknowledgement.
  auto updates = h.Updates();
  REQUIRE(updates.size() == 2);
  REQUIRE(updates[1].data.has_value());
  CHECK_THAT(*updates[1].data, Catch::Contains("k.4000.frf") && !Catch::Contains("k.3000.frf"));
  h.Deliver({Kill("k")});
  auto killed = h.Terminal("k");
  CHECK(killed.state == TaskState::kKilled);
  CHECK(sandbox.Files() == std::vector<std::string>{"k.4000.frf"});  // the scheduler may be fetching it
  h.Deliver({Acknowledged("k", *updates[1].uuid)});
  CHECK(sandbox.Files() == std::vector<std::string>{"k.4000.frf"});
  h.Deliver({Notice({*updates[1].uuid})});
  CHECK(sandbox.Files().empty());
}
