// TaskResults on its own: a finished task's inline results checked against its batch, exact
// outcomes per number, and late results of earlier attempts. Result files are fetched through
// FakeLoop (no sockets); their parsing is result_fetcher's and scheduler_test's.

#include "task_results.hpp"

#include <catch2/catch.hpp>

#include "factorial/result_codec.hpp"
#include "support/expected.hpp"
#include "support/fake_loop.hpp"

using factorial::ResultEntry;
using factorial::ResultFailure;
using factorial::ResultFile;
using factorial::ResultList;
using factorial::TimePoint;
using factorial::scheduler::Batch;
using factorial::scheduler::JobBook;
using factorial::scheduler::NumberId;
using factorial::scheduler::NumberState;
using factorial::scheduler::ResultFetcher;
using factorial::scheduler::TaskResults;
using factorial::scheduler::Workload;
using factorial::testing::FakeLoop;
namespace v1 = factorial::v1;

namespace {

std::uint64_t Cost(std::uint64_t n) { return n + 1; }

struct Harness {
  explicit Harness(std::vector<std::uint64_t> numbers)
      : workload(Workload::FromNumbers(numbers).value()),
        book(workload, &Cost),
        fetcher(loop, {}, std::nullopt),
        results(book, fetcher,
                {.done =
                     [this](NumberId id, std::string digits, std::optional<factorial::scheduler::DigitsSlice> slice,
                            const Batch& batch) {
                       book.Finish(id, true);
                       if (slice) digits = factorial::scheduler::ReadDigits(*slice).value();
                       done.push_back({book.number(id), digits, batch.task_id, batch.hostname});
                     },
                 .again =
                     [this](std::span<const NumberId> ids, bool retryable, const std::string& why, const Batch&) {
                       for (NumberId id : ids) again.push_back({book.number(id), why, retryable});
                       book.Requeue(ids, factorial::scheduler::Requeue::kStarted, retryable, 3);
                     },
                 .settle = [this](const std::string& task_id,
                                  const std::string& why) { settled.push_back(task_id + ": " + why); },
                 .fetched = [this] { ++fetched; }}) {}

  // Launches `numbers` as one task on agent S1.
  const Batch& Launch(const std::vector<std::uint64_t>& numbers) {
    std::vector<NumberId> ids;
    while (ids.size() < numbers.size()) {
      REQUIRE(book.PeekPending());
      ids.push_back(*book.PeekPending());
      book.TakePending();
    }
    book.EndPlanning();
    return book.Launch(ids, {.agent_id = "S1", .hostname = "h1", .cpus = 1, .mem = 64}, TimePoint{});
  }

  static v1::TaskStatus Finished(const std::string& task_id, const ResultList& results) {
    v1::TaskStatus status;
    status.task_id.value = task_id;
    status.state = v1::TaskState::kFinished;
    status.agent_id = v1::AgentID{"S1"};
    status.data = factorial::EncodeResultList(results);
    return status;
  }

  struct Done {
    std::uint64_t n;
    std::string digits, task_id, hostname;
    bool operator==(const Done&) const = default;
  };
  struct Again {
    std::uint64_t n;
    std::string why;
    bool retryable = true;
    bool operator==(const Again&) const = default;
  };

  FakeLoop loop;
  Workload workload;
  JobBook book;
  ResultFetcher fetcher;
  TaskResults results;
  std::vector<Done> done;
  std::vector<Again> again;
  std::vector<std::string> settled;
  int fetched = 0;
};

ResultEntry Digits(std::uint64_t n) { return {n, factorial::testing::IndependentFactorial(n)}; }

}  // namespace

TEST_CASE("inline results complete their numbers, the task then settles", "[task_results]") {
  Harness h({5, 7});
  const Batch& batch = h.Launch({5, 7});
  std::string task_id = batch.task_id;
  h.results.Finished(batch, Harness::Finished(task_id, {{Digits(5), Digits(7)}, {}}));
  CHECK(h.done == std::vector<Harness::Done>{{5, "120", task_id, "h1"}, {7, "5040", task_id, "h1"}});
  CHECK(h.again.empty());
  CHECK(h.settled == std::vector<std::string>{task_id + ": its result did not include it"});
}

TEST_CASE("a number that failed in its batch runs again alone, the others are done", "[task_results]") {
  Harness h({5, 7});
  const Batch& batch = h.Launch({5, 7});
  std::string task_id = batch.task_id;
  ResultEntry failed{7, ResultFailure{ResultFailure::Reason::kOom, "no memory"}};
  h.results.Finished(batch, Harness::Finished(task_id, {{Digits(5), failed}, {}}));
  CHECK(h.done == std::vector<Harness::Done>{{5, "120", task_id, "h1"}});
  CHECK(h.again == std::vector<Harness::Again>{{7, "oom in batch " + task_id + ": no memory", true}});
}

TEST_CASE("a lone number out of memory is final, as when its task fails for memory", "[task_results]") {
  Harness h({7});
  const Batch& batch = h.Launch({7});
  std::string task_id = batch.task_id;
  ResultEntry failed{7, ResultFailure{ResultFailure::Reason::kOom, "no memory"}};
  h.results.Finished(batch, Harness::Finished(task_id, {{failed}, {}}));
  CHECK(h.again == std::vector<Harness::Again>{{7, "oom in batch " + task_id + ": no memory", false}});
}

TEST_CASE("a broken result delivers nothing: the whole batch runs again and the task is forgotten",
          "[task_results]") {
  struct Case {
    ResultList results;
    std::string why;
  };
  ResultEntry short_digits{5, std::string("12")};
  std::vector<Case> cases = {
      {{{Digits(5), Digits(5)}, {}}, "result line 3: 5 appears twice"},  // the codec sees it first
      {{{Digits(5), Digits(9)}, {}}, "9 is not in the batch"},
      {{{short_digits, Digits(7)}, {}}, "a result of the wrong shape for 5! (2 digits, expected 3)"},
      {{{Digits(5)}, {ResultFile{"/sandbox/r.frf", 10, std::string(64, 'a')}}}, "no address known for agent S1"},
  };
  for (const auto& c : cases) {
    Harness h({5, 7});
    const Batch& batch = h.Launch({5, 7});
    std::string task_id = batch.task_id;
    h.results.Finished(batch, Harness::Finished(task_id, c.results));
    CHECK(h.done.empty());
    std::string why = "TASK_FINISHED with an unreadable result: " + c.why;
    INFO(why << " / got: " << (h.again.empty() ? std::string("nothing") : h.again[0].why));
    CHECK(h.again == std::vector<Harness::Again>{{5, why}, {7, why}});
    CHECK(h.book.FindTask(task_id) == nullptr);
    CHECK(h.settled.empty());
  }
}

TEST_CASE("a result file is fetched from the agent while the task is kept as fetching", "[task_results]") {
  Harness h({5, 7});
  v1::Offer offer;
  offer.agent_id.value = "S1";
  offer.hostname = "h1";
  offer.url.emplace().scheme = "http";
  offer.url->address.hostname = "h1";
  offer.url->address.ip = "127.0.0.9";
  offer.url->address.port = 5051;
  h.fetcher.LearnAgent(offer);
  const Batch& batch = h.Launch({5, 7});
  std::string task_id = batch.task_id;
  h.results.Finished(batch, Harness::Finished(task_id, {{Digits(5)}, {ResultFile{"/sandbox/r.frf", 10, std::string(64, 'a')}}}));
  CHECK(h.done == std::vector<Harness::Done>{{5, "120", task_id, "h1"}});
  REQUIRE(h.book.FindTask(task_id) != nullptr);
  CHECK(h.book.FindTask(task_id)->fetching);
  CHECK(h.settled.empty());
  // The download fails: the task settles (7 runs again there) and the caller hears of it.
  auto* download = h.loop.LastStream();
  REQUIRE(download != nullptr);
  h.loop.Fail(download->id, factorial::Error{factorial::Errc::kUnavailable, "connection refused"});
  CHECK(h.settled == std::vector<std::string>{task_id + ": its result files did not deliver it"});
  CHECK(h.fetched == 1);
}

TEST_CASE("a late result of an earlier single-number attempt counts if its number is not final", "[task_results]") {
  Harness h({5, 7});
  TimePoint now = TimePoint{} + std::chrono::seconds(9);
  auto status = Harness::Finished(JobBook::TaskId(5, 1), {{Digits(5)}, {}});
  CHECK(h.results.Late(status, "h3", now));
  CHECK(h.done == std::vector<Harness::Done>{{5, "120", JobBook::TaskId(5, 1), "h3"}});
  CHECK_FALSE(h.results.Late(status, "h3", now));  // 5 is final now
  auto wrong = Harness::Finished(JobBook::TaskId(7, 2), {{ResultEntry{7, std::string("50400")}}, {}});
  CHECK_FALSE(h.results.Late(wrong, "h3", now));  // 5 digits: not 7!'s
  auto named = Harness::Finished(JobBook::TaskId(7, 2), {{Digits(5)}, {}});
  CHECK_FALSE(h.results.Late(named, "h3", now));  // the digits of another number
  auto other = Harness::Finished("factorial-1a2b3c4d-b1", {{Digits(7)}, {}});
  CHECK_FALSE(h.results.Late(other, "h3", now));  // a batch: its numbers are not known by name
  CHECK(h.book.state(*h.workload.Find(7)) == NumberState::kPending);
}
