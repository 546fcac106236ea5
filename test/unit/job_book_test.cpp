// JobBook: pending order, batches, requeues and splits, retries, adoption, and the counts kept
// as states change.

#include "job_book.hpp"

#include <catch2/catch.hpp>

using factorial::TimePoint;
using factorial::scheduler::Batch;
using factorial::scheduler::JobBook;
using factorial::scheduler::NumberId;
using factorial::scheduler::NumberState;
using factorial::scheduler::Requeue;
using factorial::scheduler::Workload;

namespace {

std::uint64_t Cost(std::uint64_t n) { return n + 1; }

TimePoint At(int seconds) { return TimePoint{} + std::chrono::seconds(seconds); }

// The counts recomputed from scratch, to compare with the book's incremental ones.
void CheckCounts(const JobBook& book) {
  std::size_t pending = 0, running = 0, done = 0, failed = 0;
  std::uint64_t work = 0;
  for (NumberId id = 0; id < book.size(); ++id) {
    switch (book.state(id)) {
      case NumberState::kPending: ++pending, work += Cost(book.number(id)); break;
      case NumberState::kLaunched: ++running; break;
      case NumberState::kDone: ++done; break;
      case NumberState::kFailed: ++failed; break;
    }
  }
  CHECK(book.progress().pending == pending);
  CHECK(book.progress().running == running);
  CHECK(book.progress().done == done);
  CHECK(book.progress().failed == failed);
  CHECK(book.pending_work() == Approx(static_cast<double>(work) * 1e-9));
}

// Takes up to `most` pending numbers as one batch (staying within a group), as the shaper does.
std::vector<std::uint64_t> TakeBatch(JobBook& book, std::size_t most) {
  std::vector<NumberId> ids;
  while (ids.size() < most) {
    auto next = book.PeekPending();
    if (!next || (!ids.empty() && !book.SameGroupAsTaken())) break;
    book.TakePending();
    ids.push_back(*next);
  }
  std::vector<std::uint64_t> numbers;
  for (NumberId id : ids) numbers.push_back(book.number(id));
  return numbers;
}

std::vector<NumberId> Ids(const JobBook& book, const std::vector<std::uint64_t>& numbers) {
  std::vector<NumberId> ids;
  for (auto n : numbers) ids.push_back(*book.workload().Find(n));
  return ids;
}

const Batch& LaunchBatch(JobBook& book, const std::vector<std::uint64_t>& numbers, int at = 0) {
  return book.Launch(Ids(book, numbers), {.agent_id = "S1", .hostname = "h1", .cpus = 1, .mem = 64}, At(at));
}

std::vector<std::uint64_t> AllPending(const JobBook& book) {
  std::vector<std::uint64_t> out;
  book.ForEachPending([&](NumberId id) {
    out.push_back(book.number(id));
    return true;
  });
  return out;
}

}  // namespace

TEST_CASE("pending numbers are read in input order, each distinct number once", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{30, 10, 30, 20, 10, 40}).value();
  JobBook book(workload, &Cost);
  CHECK(book.size() == 4);
  CHECK(book.progress().pending == 4);
  CHECK(AllPending(book) == std::vector<std::uint64_t>{30, 10, 20, 40});
  CHECK(TakeBatch(book, 2) == std::vector<std::uint64_t>{30, 10});
  CHECK(TakeBatch(book, 5) == std::vector<std::uint64_t>{20, 40});
  CHECK_FALSE(book.PeekPending().has_value());
  book.EndPlanning();  // nothing launched: everything is pending again, in the same order
  CHECK(TakeBatch(book, 9) == std::vector<std::uint64_t>{30, 10, 20, 40});
  CheckCounts(book);
}

TEST_CASE("numbers set aside stay pending where they were, launched ones are not read again", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{1, 2, 3, 4, 5}).value();
  JobBook book(workload, &Cost);
  CHECK(TakeBatch(book, 1) == std::vector<std::uint64_t>{1});
  book.SetAside();  // 2 fits no offer this round
  CHECK(TakeBatch(book, 2) == std::vector<std::uint64_t>{3, 4});
  LaunchBatch(book, {1});
  LaunchBatch(book, {3, 4});
  book.EndPlanning();
  CHECK(AllPending(book) == std::vector<std::uint64_t>{2, 5});
  CHECK(TakeBatch(book, 9) == std::vector<std::uint64_t>{2, 5});
  CheckCounts(book);
}

TEST_CASE("a failed batch comes back first, as two halves that are never mixed", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7}).value();
  JobBook book(workload, &Cost);
  TakeBatch(book, 5);
  const Batch& batch = LaunchBatch(book, {1, 2, 3, 4, 5});
  CHECK(batch.task_id.rfind("factorial-", 0) == 0);
  CHECK_FALSE(JobBook::ParseTaskId(batch.task_id).has_value());  // not adoptable by name
  book.EndPlanning();
  CheckCounts(book);
  auto ids = batch.ids;
  book.Forget(batch.task_id);
  CHECK(book.Requeue(ids, Requeue::kSplit, true, 3).empty());
  for (NumberId id : ids) CHECK(book.attempts(id) == 0);  // splitting is free
  CHECK(TakeBatch(book, 9) == std::vector<std::uint64_t>{1, 2});
  CHECK(TakeBatch(book, 9) == std::vector<std::uint64_t>{3, 4, 5});
  CHECK(TakeBatch(book, 9) == std::vector<std::uint64_t>{6, 7});
  CheckCounts(book);
}

TEST_CASE("a lost batch comes back whole, started attempts count, retries run out", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{8, 9}).value();
  JobBook book(workload, &Cost);
  for (int attempt = 1; attempt <= 3; ++attempt) {
    CHECK(TakeBatch(book, 9) == std::vector<std::uint64_t>{8, 9});
    auto ids = LaunchBatch(book, {8, 9}, attempt).ids;
    book.EndPlanning();
    CHECK(book.Requeue(ids, Requeue::kStarted, true, 2).size() == (attempt <= 2 ? 0u : 2u));
    CheckCounts(book);
  }
  // Out of retries: still launched until the caller finishes them.
  CHECK(book.state(*workload.Find(8)) == NumberState::kLaunched);
  book.Finish(*workload.Find(8), false);
  book.Finish(*workload.Find(9), false);
  CHECK(book.all_final());
  CheckCounts(book);
}

TEST_CASE("not retryable means failed at once, final numbers are skipped", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{1, 2}).value();
  JobBook book(workload, &Cost);
  TakeBatch(book, 9);
  auto ids = LaunchBatch(book, {1, 2}).ids;
  book.EndPlanning();
  book.Finish(ids[0], true);
  CHECK(book.Requeue(ids, Requeue::kStarted, false, 3) == std::vector<NumberId>{ids[1]});
  CHECK(book.state(ids[0]) == NumberState::kDone);
}

TEST_CASE("attempts that never started do not use up retries, but are bounded", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{5}).value();
  JobBook book(workload, &Cost);
  int launches = 0;
  for (;;) {
    REQUIRE(TakeBatch(book, 1) == std::vector<std::uint64_t>{5});
    auto& batch = LaunchBatch(book, {5});
    ++launches;
    CHECK(batch.task_id == JobBook::TaskId(5, std::min(launches, 255)));
    auto ids = batch.ids;
    book.Forget(batch.task_id);
    book.EndPlanning();
    if (!book.Requeue(ids, Requeue::kUnstarted, true, 0).empty()) break;
  }
  CHECK(launches == factorial::scheduler::kMaxUnstartedAttempts + 1);
  CHECK(book.attempts(*workload.Find(5)) == 0);
}

TEST_CASE("attempts that never started are not capped while the caller says the cluster is not stuck",
          "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{5}).value();
  JobBook book(workload, &Cost);
  for (int i = 0; i < 2 * factorial::scheduler::kMaxUnstartedAttempts; ++i) {
    REQUIRE(TakeBatch(book, 1) == std::vector<std::uint64_t>{5});
    auto& batch = LaunchBatch(book, {5});
    auto ids = batch.ids;
    book.Forget(batch.task_id);
    book.EndPlanning();
    REQUIRE(book.Requeue(ids, Requeue::kUnstarted, true, 0, /*cap_unstarted=*/false).empty());
  }
  // Stuck now: the drops so far count.
  REQUIRE(TakeBatch(book, 1) == std::vector<std::uint64_t>{5});
  auto ids = LaunchBatch(book, {5}).ids;
  book.EndPlanning();
  CHECK(book.Requeue(ids, Requeue::kUnstarted, true, 0, /*cap_unstarted=*/true) == ids);
  CHECK(book.attempts(*workload.Find(5)) == 0);
}

TEST_CASE("single-number tasks of an earlier run are adopted while their number is pending", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{5, 6, 7}).value();
  JobBook book(workload, &Cost);
  const Batch* adopted = book.Adopt("factorial-6-4", std::string("S2"), At(1), "h2");
  REQUIRE(adopted != nullptr);
  CHECK(adopted->ids == Ids(book, {6}));
  CHECK(adopted->agent_id == "S2");
  CHECK(adopted->hostname == "h2");
  CHECK(book.stats().tasks_adopted == 1);
  CHECK(book.state(*workload.Find(6)) == NumberState::kLaunched);
  CHECK(AllPending(book) == std::vector<std::uint64_t>{5, 7});  // not read again
  CHECK(book.Adopt("factorial-6-3", std::nullopt, At(1)) == nullptr);  // 6 is running already
  CHECK(book.Adopt("factorial-99-1", std::nullopt, At(1)) == nullptr);  // not in the input
  CHECK(book.Adopt("factorial-1a2b3c4d-b1", std::nullopt, At(1)) == nullptr);  // an old batch
  CHECK(book.Adopt("other-5-1", std::nullopt, At(1)) == nullptr);
  book.Finish(*workload.Find(5), true);
  CHECK(book.Adopt("factorial-5-1", std::nullopt, At(1)) == nullptr);  // final
  // The next launch of 6 continues after the adopted attempt's number.
  auto ids = adopted->ids;
  book.Forget("factorial-6-4");
  book.Requeue(ids, Requeue::kStarted, true, 3);
  REQUIRE(TakeBatch(book, 1) == std::vector<std::uint64_t>{6});
  CHECK(LaunchBatch(book, {6}).task_id == "factorial-6-5");
  CheckCounts(book);
}

TEST_CASE("a launch records where it went, Forget hands the task back", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{1, 2, 3}).value();
  JobBook book(workload, &Cost);
  TakeBatch(book, 2);
  const Batch& batch = book.Launch(Ids(book, {1, 2}), {.agent_id = "S7", .hostname = "h7", .cpus = 1.5, .mem = 96},
                                   At(4));
  CHECK(batch.agent_id == "S7");
  CHECK(batch.hostname == "h7");
  CHECK(batch.cpus == 1.5);
  CHECK(batch.mem == 96);
  CHECK(batch.launched_at == At(4));
  CHECK_FALSE(batch.unconfirmed);
  CHECK(book.stats().tasks_launched == 1);
  CHECK(book.stats().tasks_per_agent.at("S7") == 1);
  std::string task_id = batch.task_id;
  book.MarkUnconfirmed(task_id);
  Batch ended = book.Forget(task_id);
  CHECK(ended.task_id == task_id);
  CHECK(ended.ids == Ids(book, {1, 2}));
  CHECK(ended.unconfirmed);
  CHECK(book.FindTask(task_id) == nullptr);
  CHECK(book.Forget(task_id).ids.empty());  // unknown: nothing
  book.MarkUnconfirmed(task_id);            // ignored
}

TEST_CASE("a number released from its task is retried once, and the task's end leaves its retry alone",
          "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{1, 2, 3}).value();
  JobBook book(workload, &Cost);
  TakeBatch(book, 3);
  std::string task_id = LaunchBatch(book, {1, 2, 3}).task_id;
  book.MarkFetching(task_id);
  NumberId two = Ids(book, {2})[0];
  // 2 failed inside the batch, whose files are still fetched: it runs again alone.
  book.Release(task_id, two);
  CHECK(book.FindTask(task_id)->ids == Ids(book, {1, 3}));
  CHECK(book.Requeue(std::span(&two, 1), Requeue::kStarted, true, 1).empty());
  book.EndPlanning();
  TakeBatch(book, 1);
  std::string retry = LaunchBatch(book, {2}).task_id;
  CHECK(retry == JobBook::TaskId(2, 1));
  // The batch ends: only what it still holds is its to settle.
  Batch ended = book.Forget(task_id);
  CHECK(ended.ids == Ids(book, {1, 3}));
  CHECK(book.attempts(two) == 1);
  CHECK(book.state(two) == NumberState::kLaunched);
  CHECK(book.FindTask(retry)->ids == Ids(book, {2}));
  book.Release("factorial-unknown", two);  // ignored
  CheckCounts(book);
}

TEST_CASE("a task unconfirmed and awaiting an answer is asked about until it answers", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{1, 2}).value();
  JobBook book(workload, &Cost);
  TakeBatch(book, 1);
  std::string a = LaunchBatch(book, {1}).task_id;
  TakeBatch(book, 1);
  std::string b = LaunchBatch(book, {2}).task_id;
  auto again = std::chrono::seconds(5);
  CHECK(book.Questions(At(0), again).empty());  // nobody asked yet
  book.MarkUnconfirmed(a);
  book.AwaitAnswer(a);
  CHECK(book.FindTask(a)->unconfirmed);
  auto asked = book.Questions(At(1), again);
  REQUIRE(asked.size() == 1);
  CHECK(asked[0].task_id == a);
  CHECK(asked[0].agent_id == "S1");
  CHECK(book.Questions(At(5), again).empty());  // asked 4 s ago
  CHECK(book.Questions(At(6), again).size() == 1);
  // An update from the agent: the master has it, wherever the agent says.
  book.Confirm(a, std::string("S9"));
  CHECK_FALSE(book.FindTask(a)->unconfirmed);
  CHECK(book.FindTask(a)->agent_id == "S9");
  book.Answered(a);
  CHECK(book.Questions(At(20), again).empty());
  // After resubscribing every live task is asked about at once, whenever it was last asked.
  book.AwaitAnswers();
  auto all = book.Questions(At(21), again);
  CHECK(all.size() == 2);
  CHECK(book.FindTask(b)->awaiting_answer);
  book.Answered(b);
  CHECK_FALSE(book.FindTask(b)->awaiting_answer);
}

TEST_CASE("a task whose results are being fetched is over: neither unconfirmed nor asked about", "[job_book]") {
  auto workload = Workload::FromNumbers(std::vector<std::uint64_t>{1, 2}).value();
  JobBook book(workload, &Cost);
  TakeBatch(book, 2);
  std::string task_id = LaunchBatch(book, {1, 2}).task_id;
  book.MarkFetching(task_id);
  book.MarkFetching(task_id);
  CHECK(book.FindTask(task_id)->fetching);
  CHECK(book.FindTask(task_id)->fetches == 2);
  book.MarkUnconfirmed(task_id);
  book.AwaitAnswer(task_id);
  book.AwaitAnswers();
  CHECK_FALSE(book.FindTask(task_id)->unconfirmed);
  CHECK_FALSE(book.FindTask(task_id)->awaiting_answer);
  CHECK(book.Questions(At(1), std::chrono::seconds(5)).empty());
  CHECK_FALSE(book.FetchDone(task_id));  // one still out
  CHECK(book.FetchDone(task_id));        // the last
  CHECK_FALSE(book.FetchDone("factorial-unknown-1"));
}

TEST_CASE("task IDs round-trip", "[job_book]") {
  CHECK(JobBook::TaskId(120, 3) == "factorial-120-3");
  CHECK(JobBook::ParseTaskId("factorial-120-3") == std::pair<std::uint64_t, int>{120, 3});
  CHECK_FALSE(JobBook::ParseTaskId("factorial--3").has_value());
  CHECK_FALSE(JobBook::ParseTaskId("factorial-12x-3").has_value());
  CHECK_FALSE(JobBook::ParseTaskId("factorial-12-").has_value());
  CHECK_FALSE(JobBook::ParseTaskId("factorial-99999999999999999999999-1").has_value());
}

TEST_CASE("a million pending numbers cost a few bytes each beside the workload", "[job_book]") {
  std::vector<std::uint64_t> input(1000000);
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = (i * 7919) % 1000003;
  auto workload = Workload::FromNumbers(input).value();
  JobBook book(workload, &Cost);
  // The book's per-number state: sizeof(slot) bytes each, asserted so it cannot silently grow.
  CHECK(book.size() == workload.distinct());
  CHECK(JobBook::kBytesPerNumber <= 8);
  // Reading a batch from the middle of the run costs no scan of what is done.
  CHECK(TakeBatch(book, 3) == std::vector<std::uint64_t>{input[0], input[1], input[2]});
}
