#pragma once

// Tells the scheduler how far each running task is (progress_report.hpp), every few seconds,
// as executor MESSAGE calls: unreliable by design, neither checkpointed nor acknowledged,
// which suits a figure the next one supersedes. A task's figure is sent when it has changed
// since the last one sent, so a batch stuck on one large number costs nothing; a lost
// message is made good by the next change, or by the task's terminal update.
//
// It ticks only while tasks run: Watch() when one starts; a tick that finds none stops.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "factorial/event_loop.hpp"
#include "factorial/progress_report.hpp"

namespace factorial::executor {

class ProgressReporter {
 public:
  static constexpr Duration kInterval = std::chrono::seconds(3);

  // The figures of the tasks running now.
  using Poll = std::function<std::vector<TaskProgressReport>()>;
  // Sends one MESSAGE's data; false: not sent (no subscription now), offered again next tick.
  using Send = std::function<bool(std::string data)>;

  ProgressReporter(EventLoop& loop, Poll poll, Send send, Duration interval = kInterval);
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  // A task started running: tick every interval from now (if not ticking already).
  void Watch();
  // No more ticks (the executor is exiting).
  void Stop();

 private:
  void Tick();

  EventLoop& loop_;
  Poll poll_;
  Send send_;
  Duration interval_;
  std::optional<EventLoop::TimerId> timer_;
  std::unordered_map<std::string, std::uint64_t> sent_;  // task ID -> numbers last sent
};

}  // namespace factorial::executor
