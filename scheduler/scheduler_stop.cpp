// How a run ends: every number final (TEARDOWN), an interrupt (kill, fetch what finished, then
// TEARDOWN or leave the framework for the next start), or a failure (exit without a word to
// the master). Kept apart from the event handling in scheduler.cpp.

#include <algorithm>

#include <spdlog/spdlog.h>

#include "scheduler.hpp"

namespace factorial::scheduler {

void Scheduler::MaybeFinish() {
  if (stop_code_) return MaybeStop();
  if (link_.state() != State::kSubscribed) return;
  // Not before the last results are durable and acknowledged: a crash in between would leave
  // them nowhere.
  if (book_.all_final() && acks_.in_progress.empty()) Teardown(exit_code_, "all numbers are final");
}

// The results of tasks that finished are on the agents, computed: they are fetched before the
// run stops (tearing down ends the executors whose sandboxes serve them), within
// kStopFetchWait; a second signal stops at once (run.cpp). A task killed here may have
// finished before the KILL reached it, its TASK_FINISHED still on the way: the run waits for
// every killed task's last update (within kStopKillWait), so such a result is taken too.
void Scheduler::Interrupt(int code) {
  if (!link_.live() || stop_code_) return;
  stop_code_ = code;
  bool leave = config_.store != nullptr && !config_.teardown_on_stop;
  std::size_t killed = 0;
  if (!leave) {
    spdlog::warn("interrupted: killing running tasks and tearing down");
    if (link_.state() == State::kSubscribed) {
      for (const auto& [task_id, batch] : book_.batches()) {
        if (batch.fetching) continue;
        link_.Kill(task_id, batch.agent_id);
        ++killed;
      }
    }
  }
  if (killed == 0 && !Fetching()) {
    Stop();
    return;
  }
  std::size_t finished = 0;
  for (const auto& [task_id, batch] : book_.batches()) finished += batch.fetching ? 1 : 0;
  if (killed > 0) {
    killed_at_stop_ = true;
    spdlog::warn("waiting for the last update of {} killed task(s) (at most {} s): one that finished meanwhile "
                 "still delivers", killed, kStopKillWait.count());
    kill_timer_ = loop_.After(kStopKillWait, [this] {
      kill_timer_.reset();
      spdlog::warn("killed tasks still not over after {} s; stopping without their last word", kStopKillWait.count());
      kill_wait_over_ = true;
      MaybeStop();
    });
  }
  if (finished > 0) {
    spdlog::warn("fetching the results of {} finished task(s) first (at most {} s; a second signal stops at once)",
                 finished, kStopFetchWait.count());
  }
  stop_timer_ = loop_.After(kStopFetchWait, [this] {
    stop_timer_.reset();
    spdlog::warn("results of finished tasks still not fetched after {} s; stopping without them",
                 kStopFetchWait.count());
    Stop();
  });
}

bool Scheduler::Fetching() const {
  if (results_.part_fetches() > 0) return true;
  const auto& batches = book_.batches();
  return std::any_of(batches.begin(), batches.end(), [](const auto& entry) { return entry.second.fetching; });
}

// Every task killed at the interrupt is still live until its terminal update arrives.
bool Scheduler::AwaitingKills() const {
  if (!killed_at_stop_ || kill_wait_over_) return false;
  const auto& batches = book_.batches();
  return std::any_of(batches.begin(), batches.end(), [](const auto& entry) { return !entry.second.fetching; });
}

void Scheduler::MaybeStop() {
  // Results taken are acknowledged first (once durable), so an agent does not resend them.
  if (stop_code_ && !stopped_ && !Fetching() && !AwaitingKills() && acks_.in_progress.empty()) Stop();
}

// A task this run killed at the interrupt: not an attempt that failed, so its numbers are
// pending again at no cost and reported unfinished rather than retried or failed.
void Scheduler::KilledAtStop(const std::string& task_id) {
  Batch ended = book_.Forget(task_id);
  spdlog::debug("task {} killed at the interrupt; its {} number(s) stay unfinished", task_id, ended.ids.size());
  // A withdrawn attempt costs nothing, so no number runs out of retries here.
  (void)book_.Requeue(ended.ids, Requeue::kWithdrawn, true, config_.max_retries);
}

// The rest of an interrupt, once the results of finished tasks are in.
void Scheduler::Stop() {
  if (stop_timer_) loop_.CancelTimer(*stop_timer_);
  stop_timer_.reset();
  if (kill_timer_) loop_.CancelTimer(*kill_timer_);
  kill_timer_.reset();
  if (!link_.live() || stopped_) return;
  stopped_ = true;
  int code = stop_code_.value_or(exit_code_);
  if (config_.store != nullptr && !config_.teardown_on_stop) {
    spdlog::warn("stopping; framework {} and its running tasks are left for the next start (failover "
                 "timeout {} s)", link_.framework_id().value_or("(none yet)"), config_.framework.failover_timeout);
    Exit(code);
    return;
  }
  if (link_.state() != State::kSubscribed) {
    Exit(code);  // nobody to tell; the failover timeout cleans up
    return;
  }
  Teardown(code, "interrupted");
}

void Scheduler::Teardown(int code, const std::string& why) {
  exit_code_ = code;
  link_.Teardown(why, [this] { Exit(exit_code_); });
}

void Scheduler::Exit(int code) {
  if (link_.state() == State::kExited) return;
  link_.Stop();
  CancelTimers();
  hooks_.on_exit(code);
}

void Scheduler::CancelTimers() {
  if (check_timer_) loop_.CancelTimer(*check_timer_);
  check_timer_.reset();
  if (kill_timer_) loop_.CancelTimer(*kill_timer_);
  kill_timer_.reset();
  if (stop_timer_) loop_.CancelTimer(*stop_timer_);
  stop_timer_.reset();
}

}  // namespace factorial::scheduler
