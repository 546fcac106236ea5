#pragma once

// The factorial executor: the v1 HTTP Executor API state machine (mesos-v1-api.md §6, §9.2).
// Runs entirely on one EventLoop thread. Every task is a batch (batch.hpp), one number being a
// batch of one: it runs as a BatchRun, whose outcome is the task's terminal update.
//
// Reliability contract: every status update gets a fresh UUID and stays in the
// unacknowledged set until the agent's ACKNOWLEDGED names it; every task stays
// "unacknowledged" until one of its updates is acknowledged. Both sets are sent again in
// SUBSCRIBE after a disconnection (checkpointing frameworks only; without checkpointing a lost
// agent means shutdown, as the reference library does).
//
// Result files: a batch hands over the files it closes while it runs (parts); they are
// announced in a TASK_RUNNING whose data is a result list of `file` lines. The agent's
// ACKNOWLEDGED says only that the agent has stored an update; the scheduler says it has an
// update's files safely in a MESSAGE (result_codec.hpp's fetched notice), and then they are
// removed. A task has one announcement at a time waiting for that notice (or kNoticeWait):
// the agent forwards a task's next update only once the scheduler acknowledged the previous
// one, so more would only queue there; what closes meanwhile goes into the next announcement,
// or into the TASK_FINISHED. Files never announced are removed when their batch is killed or
// fails, and whatever is left when the executor exits.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "batch.hpp"
#include "executor_env.hpp"
#include "factorial/event_loop.hpp"
#include "factorial/mesos_connection.hpp"
#include "factorial/messages.hpp"
#include "factorial/task_input.hpp"
#include "progress_reporter.hpp"
#include "runner.hpp"

namespace factorial::executor {

class Executor {
 public:
  // How long an announcement of parts waits for the scheduler's notice before the next one is
  // sent anyway (a MESSAGE can be lost): the agent's first retransmission interval.
  static constexpr auto kNoticeWait = std::chrono::seconds(10);
  // `on_exit(code)` is called once when the executor is done (the caller stops the loop).
  Executor(EventLoop& loop, ComputeRunner& runner, ExecutorEnv env,
           std::function<void(int)> on_exit, std::uint64_t seed = std::random_device{}());

  void Start();
  // Local shutdown request (SIGTERM): behaves like the agent's SHUTDOWN event.
  void Shutdown(const std::string& why);

  // Introspection for tests.
  bool subscribed() const { return state_ == State::kSubscribed; }
  std::size_t unacknowledged_updates() const { return unacked_updates_.size(); }
  std::vector<std::string> unacknowledged_task_ids() const;
  std::size_t known_tasks() const { return tasks_.size(); }

 private:
  enum class State { kDisconnected, kSubscribed, kShuttingDown, kExited };
  enum class Phase { kQueued, kRunning, kFinished };

  struct Task {
    v1::TaskInfo info;
    Phase phase = Phase::kQueued;
    TaskInput input;  // its numbers are moved into the run when it starts
    std::unique_ptr<BatchRun> run;
    bool acknowledged = false;  // some update for it was ACKNOWLEDGED
    bool terminal_sent = false;
    std::string terminal_uuid;
    std::vector<ResultFile> parts;  // closed, not announced yet
    std::uint64_t computed = 0;     // as the run last reported
    std::uint64_t numbers = 0;
    std::optional<std::string> announcing;  // the uuid of its unacknowledged announcement
  };

  std::string SubscribeBody() const;
  void OnDisconnected(const std::string& reason);
  void HandleEvent(const v1::executor::Event& event);
  void OnLaunch(const v1::TaskInfo& task);
  void OnKill(const v1::TaskID& task_id);
  void OnAcknowledged(const v1::TaskID& task_id, const std::string& uuid);
  void OnTaskDone(const std::string& task_id, BatchOutcome outcome);
  void OnMessage(const std::string& data);
  void AnnouncementDone(Task& task);
  void OnParts(const std::string& task_id, std::vector<ResultFile> files, std::uint64_t computed);
  void AnnounceParts(Task& task);
  // The result list of a finished batch with the parts not announced yet added.
  std::string WithParts(Task& task, std::string data);
  // Files named by an update, removed once it is acknowledged (our view of the sandbox).
  void KeepFilesUntilAcknowledged(const std::string& uuid, const std::vector<ResultFile>& files);
  void RemoveFiles(const std::vector<ResultFile>& files) const;
  std::string LocalPath(const std::string& agent_path) const;
  void StartRun(const std::string& id, Task& task);
  void StartQueued();
  // Returns the update's uuid (raw bytes).
  std::string SendUpdate(Task& task, v1::TaskState state, std::optional<std::string> message,
                  std::optional<v1::TaskReason> reason, std::optional<std::string> data);
  void PostUpdate(const std::string& uuid);
  std::vector<TaskProgressReport> RunningProgress();
  bool SendMessage(std::string data);
  void MaybeFinishShutdown();
  void Exit(int code);
  std::size_t Slots() const;

  EventLoop& loop_;
  ComputeRunner& runner_;
  ExecutorEnv env_;
  std::function<void(int)> on_exit_;
  MesosConnection connection_;  // the stream, and UPDATE calls in the order made
  ProgressReporter progress_;   // MESSAGE calls: running tasks' progress

  State state_ = State::kDisconnected;
  // "agent <hostname> (<id>)" from SUBSCRIBED, else the agent's endpoint: a disk error names it.
  std::string agent_;
  std::optional<EventLoop::TimerId> recovery_timer_;
  std::optional<EventLoop::TimerId> grace_timer_;

  std::map<std::string, Task> tasks_;
  std::deque<std::string> queue_;
  std::size_t running_ = 0;
  // In the order sent; keyed by raw UUID bytes.
  std::vector<std::pair<std::string, v1::executor::Call::Update>> unacked_updates_;
  std::map<std::string, std::vector<ResultFile>> files_of_update_;  // by raw uuid
};

}  // namespace factorial::executor
