// JobBook: states, retries, adoption and the counts kept as states change.

#include "job_book.hpp"

#include <catch2/catch.hpp>

using factorial::TimePoint;
using factorial::scheduler::Job;
using factorial::scheduler::JobBook;
using factorial::scheduler::JobState;

namespace {

double Mem(std::uint64_t n) { return static_cast<double>(n) * 2; }

TimePoint At(int seconds) { return TimePoint{} + std::chrono::seconds(seconds); }

// The counts recomputed from scratch, to compare with the book's incremental ones.
void CheckCounts(JobBook& book, const std::vector<std::uint64_t>& numbers) {
  std::size_t pending = 0, running = 0, done = 0, failed = 0;
  for (std::uint64_t n : numbers) {
    switch (book.Find(n)->state) {
      case JobState::kPending: ++pending; break;
      case JobState::kLaunched: ++running; break;
      case JobState::kDone: ++done; break;
      case JobState::kFailed: ++failed; break;
    }
  }
  CHECK(book.progress().pending == pending);
  CHECK(book.progress().running == running);
  CHECK(book.progress().done == done);
  CHECK(book.progress().failed == failed);
  CHECK(book.pending().size() == pending);
  CHECK(book.Launched().size() == running);
  CHECK(book.all_final() == (done + failed == numbers.size()));
}

}  // namespace

TEST_CASE("duplicates are one job, pending in ascending order", "[job_book]") {
  JobBook book({9, 3, 9, 5}, &Mem, At(1));
  CHECK(book.size() == 3);
  CHECK(std::vector<std::uint64_t>(book.pending().begin(), book.pending().end()) == std::vector<std::uint64_t>{3, 5, 9});
  REQUIRE(book.Find(5) != nullptr);
  CHECK(book.Find(5)->mem == 10);
  CHECK(book.Find(5)->pending_since == At(1));
  CHECK(book.Find(4) == nullptr);
  CheckCounts(book, {3, 5, 9});
}

TEST_CASE("launch, retry and finish move a job through its states", "[job_book]") {
  JobBook book({7, 8}, &Mem, At(0));
  Job& job = *book.Find(7);
  CHECK(book.Launch(job, "S1", At(2)) == "factorial-7-1");
  CHECK(job.state == JobState::kLaunched);
  CHECK(job.agent_id == "S1");
  CHECK(job.launched_at == At(2));
  CHECK(book.FindTask("factorial-7-1") == &job);
  CheckCounts(book, {7, 8});

  // max_retries 1: one retry, then final.
  REQUIRE(book.Retry(job, /*retryable=*/true, 1, At(3)));
  CHECK(job.state == JobState::kPending);
  CHECK(job.pending_since == At(3));
  CheckCounts(book, {7, 8});
  CHECK(book.Launch(job, "S2", At(4)) == "factorial-7-2");
  CHECK(book.FindTask("factorial-7-1") == &job);  // an old attempt's updates still find it
  CHECK_FALSE(book.Retry(job, true, 1, At(5)));
  CHECK(job.state == JobState::kLaunched);  // the caller finishes it
  book.Finish(job, false);
  CHECK(job.state == JobState::kFailed);
  CheckCounts(book, {7, 8});

  Job& other = *book.Find(8);
  book.Launch(other, "S1", At(6));
  CHECK_FALSE(book.Retry(other, /*retryable=*/false, 5, At(7)));
  book.Finish(other, true);
  CheckCounts(book, {7, 8});
  CHECK(book.all_final());
}

TEST_CASE("a result fetched by reference keeps the job launched until it arrives", "[job_book]") {
  JobBook book({4}, &Mem, At(0));
  Job& job = *book.Find(4);
  book.Launch(job, "S1", At(0));
  book.StartFetch(job);
  CHECK(job.state == JobState::kLaunched);
  CHECK(job.fetching);
  CheckCounts(book, {4});
  REQUIRE(book.Retry(job, true, 3, At(1)));  // the download failed
  CHECK_FALSE(job.fetching);
  book.Launch(job, "S2", At(2));
  book.StartFetch(job);
  book.Finish(job, true);
  CHECK_FALSE(job.fetching);
  CheckCounts(book, {4});
}

TEST_CASE("tasks named like ours are adopted unless their number is final", "[job_book]") {
  JobBook book({12, 13, 14}, &Mem, At(0));
  Job* adopted = book.Adopt("factorial-12-3", std::string("S9"), At(5));
  REQUIRE(adopted == book.Find(12));
  CHECK(adopted->state == JobState::kLaunched);
  CHECK(adopted->task_id == "factorial-12-3");
  CHECK(adopted->attempts == 3);
  CHECK(adopted->agent_id == "S9");
  CHECK(adopted->launched_at == At(5));
  CHECK(book.FindTask("factorial-12-3") == adopted);
  // The next launch continues the attempt count.
  REQUIRE(book.Retry(*adopted, true, 5, At(6)));
  CHECK(book.Launch(*adopted, "S1", At(7)) == "factorial-12-4");

  // A second older attempt of a job that already has one is known but does not replace it.
  CHECK(book.Adopt("factorial-12-1", std::nullopt, At(8)) == adopted);
  CHECK(adopted->task_id == "factorial-12-4");

  book.Finish(*book.Find(13), true);
  CHECK(book.Adopt("factorial-13-1", std::nullopt, At(9)) == nullptr);  // final
  CHECK(book.Adopt("factorial-99-1", std::nullopt, At(9)) == nullptr);  // not ours to run
  for (const char* bad : {"other-14-1", "factorial-14", "factorial--1", "factorial-14-", "factorial-+14-1",
                          "factorial-14-x", "factorial- 14-1", "factorial-14-99999999999"}) {
    INFO(bad);
    CHECK(book.Adopt(bad, std::nullopt, At(9)) == nullptr);
  }
  CHECK(book.Find(14)->state == JobState::kPending);
  CheckCounts(book, {12, 13, 14});
}

TEST_CASE("task IDs round-trip", "[job_book]") {
  CHECK(JobBook::TaskId(2500000, 2) == "factorial-2500000-2");
  CHECK(JobBook::ParseTaskId("factorial-2500000-2") == std::pair<std::uint64_t, int>{2500000, 2});
  CHECK(JobBook::ParseTaskId("factorial-18446744073709551615-1") ==
        std::pair<std::uint64_t, int>{18446744073709551615ull, 1});
  CHECK_FALSE(JobBook::ParseTaskId("factorial-18446744073709551616-1"));
}

TEST_CASE("attempts that never started do not use up retries, but are bounded", "[job_book]") {
  JobBook book({7}, &Mem, At(0));
  Job& job = *book.Find(7);
  // Dropped before starting, many times: still retried with --max-retries 0.
  for (int i = 0; i < factorial::scheduler::kMaxUnstartedAttempts; ++i) {
    book.Launch(job, "S1", At(i));
    job.dropped = true;
    REQUIRE(book.Retry(job, true, 0, At(i)));
  }
  CHECK(job.unstarted_attempts == factorial::scheduler::kMaxUnstartedAttempts);
  // A started attempt counts: with --max-retries 0 it is final.
  book.Launch(job, "S1", At(100));
  CHECK_FALSE(book.Retry(job, true, 0, At(100)));
  CHECK(job.task_id == "factorial-7-" + std::to_string(factorial::scheduler::kMaxUnstartedAttempts + 1));

  JobBook broken({8}, &Mem, At(0));
  Job& never = *broken.Find(8);
  int launches = 0;
  for (;;) {
    broken.Launch(never, "S1", At(launches++));
    never.dropped = true;
    if (!broken.Retry(never, true, 3, At(launches))) break;
  }
  CHECK(launches == factorial::scheduler::kMaxUnstartedAttempts + 1);  // a broken cluster still ends
}
