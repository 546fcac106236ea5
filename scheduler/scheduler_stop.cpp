// How a run ends: every number final (TEARDOWN), an interrupt (kill, fetch what finished, then
// TEARDOWN or leave the framework for the next start), or a failure (exit without a word to
// the master). Kept apart from the event handling in scheduler.cpp.

#include <algorithm>

#include <spdlog/spdlog.h>

#include "scheduler.hpp"

namespace factorial::scheduler {

void Scheduler::MaybeFinish() {
  if (link_.state() != State::kSubscribed || stop_code_) return;
  if (book_.all_final()) Teardown(exit_code_, "all numbers are final");
}

// The results of tasks that finished are on the agents, computed: they are fetched before the
// run stops (tearing down ends the executors whose sandboxes serve them), within
// kStopFetchWait; a second signal stops at once (run.cpp).
void Scheduler::Interrupt(int code) {
  if (!link_.live() || stop_code_) return;
  stop_code_ = code;
  bool leave = config_.store != nullptr && !config_.teardown_on_stop;
  if (!leave) {
    spdlog::warn("interrupted: killing running tasks and tearing down");
    if (link_.state() == State::kSubscribed) {
      for (const auto& [task_id, batch] : book_.batches()) {
        if (!batch.fetching) link_.Kill(task_id, batch.agent_id);
      }
    }
  }
  if (!Fetching()) {
    Stop();
    return;
  }
  std::size_t finished = 0;
  for (const auto& [task_id, batch] : book_.batches()) finished += batch.fetching ? 1 : 0;
  spdlog::warn("fetching the results of {} finished task(s) first (at most {} s; a second signal stops at once)",
               finished, kStopFetchWait.count());
  stop_timer_ = loop_.After(kStopFetchWait, [this] {
    stop_timer_.reset();
    spdlog::warn("results of finished tasks still not fetched after {} s; stopping without them",
                 kStopFetchWait.count());
    Stop();
  });
}

bool Scheduler::Fetching() const {
  const auto& batches = book_.batches();
  return std::any_of(batches.begin(), batches.end(), [](const auto& entry) { return entry.second.fetching; });
}

// The rest of an interrupt, once the results of finished tasks are in.
void Scheduler::Stop() {
  if (stop_timer_) loop_.CancelTimer(*stop_timer_);
  stop_timer_.reset();
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
  if (stop_timer_) loop_.CancelTimer(*stop_timer_);
  stop_timer_.reset();
}

}  // namespace factorial::scheduler
