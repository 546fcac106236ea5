#pragma once

#include <atomic>
#include <functional>
#include <initializer_list>
#include <thread>

namespace factorial {

// Turns asynchronous signals into ordinary callbacks: blocks `signals` in the calling thread
// (construct it first in main, before any other thread, so every thread inherits the mask)
// and waits for them on a thread of its own. `on_signal` runs on that thread; it should only
// hand work to an event loop (EventLoop::Post).
class SignalWatcher {
 public:
  SignalWatcher(std::initializer_list<int> signals, std::function<void(int)> on_signal);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  std::function<void(int)> on_signal_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace factorial
