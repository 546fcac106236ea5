#pragma once

// The progress line at the bottom of a terminal: redrawn in place, erased before any log line
// is written and drawn again after it, so log lines stay whole and the progress shows once.
// Thread-safe (the logger may be called from any thread).

#include <mutex>
#include <string>

namespace factorial::scheduler {

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
