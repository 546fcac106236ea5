#pragma once

// The progress line at the bottom of a terminal: redrawn in place, erased before any log line
// is written and drawn again after it, so log lines stay whole and the progress shows once.
// Thread-safe (the logger may be called from any thread).

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

namespace factorial::scheduler {

// Numbers per second over the last `window`, and the time left at that pace, from samples of
// (time, numbers done). The caller passes the time, so tests drive it with a fake clock.
class RateMeter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateMeter(Clock::duration window = std::chrono::seconds(20)) : window_(window) {}
  void Sample(Clock::time_point now, std::size_t done);
  // Numbers per second between the oldest sample still in the window (or the last one before
  // it) and the newest; nullopt until two samples are at least a second apart.
  std::optional<double> rate() const;
  // Seconds until `total` at rate(); nullopt while the rate is unknown or zero.
  std::optional<double> SecondsLeft(std::size_t total) const;

 private:
  Clock::duration window_;
  std::deque<std::pair<Clock::time_point, std::size_t>> samples_;
};

// "1,234 of 10,000 numbers (12.3%), 456/s, ETA 19s, 2 failed": input lines with a result
// (finished or failed) of all input lines. The rate, ETA and failures only when known / any.
std::string FormatProgress(std::size_t done, std::size_t total, std::optional<double> rate,
                           std::optional<double> seconds_left, std::size_t failed);
// "45s", "3m05s", "2h07m", "12d03h".
std::string FormatDuration(double seconds);

class ProgressLine {
 public:
  // Draws on `out` (a terminal) only when `enabled`.
  ProgressLine(std::FILE* out, bool enabled) : out_(out), enabled_(enabled) {}
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  bool enabled() const { return enabled_; }
  void Show(std::string text);
  // Erases the line for good (before the summary).
  void Close();
  // Routes the default spdlog logger through this line: it is erased before every log line
  // and redrawn after it. Undone by the destructor.
  void WrapLogger();

  // For the logger's sink.
  void Erase();
  void Redraw();

 private:
  void EraseLocked();
  void DrawLocked();

  std::FILE* out_;
  bool enabled_;
  std::recursive_mutex mu_;
  std::string text_;
  bool drawn_ = false;
  bool wrapped_ = false;
};

}  // namespace factorial::scheduler
