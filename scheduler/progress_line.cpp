#include "progress_line.hpp"

#include <cstdio>
#include <memory>
#include <vector>

#include <spdlog/sinks/sink.h>
#include <spdlog/spdlog.h>

namespace factorial::scheduler {
namespace {

// Forwards to the logger's original sinks, with the progress line out of the way.
class AroundProgressSink final : public spdlog::sinks::sink {
 public:
  AroundProgressSink(std::vector<spdlog::sink_ptr> inner, ProgressLine* line) : inner_(std::move(inner)), line_(line) {}
  void log(const spdlog::details::log_msg& msg) override {
    line_->Erase();
    for (auto& target : inner_) {
      if (target->should_log(msg.level)) {
        target->log(msg);
        target->flush();
      }
    }
    line_->Redraw();
  }
  void flush() override {
    for (auto& target : inner_) target->flush();
  }
  void set_pattern(const std::string& pattern) override {
    for (auto& target : inner_) target->set_pattern(pattern);
  }
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override {
    for (auto& target : inner_) target->set_formatter(formatter->clone());
  }
  const std::vector<spdlog::sink_ptr>& inner() const { return inner_; }

 private:
  std::vector<spdlog::sink_ptr> inner_;
  ProgressLine* line_;
};

// 1234567 -> "1,234,567".
std::string Grouped(std::uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

void RateMeter::Sample(Clock::time_point now, std::size_t done) {
  samples_.emplace_back(now, done);
  // Keep one sample at or before the window's start, so the rate spans the whole window.
  while (samples_.size() > 2 && samples_[1].first <= now - window_) samples_.pop_front();
}

std::optional<double> RateMeter::rate() const {
  if (samples_.size() < 2) return std::nullopt;
  double seconds = std::chrono::duration<double>(samples_.back().first - samples_.front().first).count();
  if (seconds < 1) return std::nullopt;
  return static_cast<double>(samples_.back().second - samples_.front().second) / seconds;
}

std::optional<double> RateMeter::SecondsLeft(std::size_t total) const {
  auto per_second = rate();
  if (!per_second || *per_second <= 0 || samples_.empty()) return std::nullopt;
  std::size_t done = samples_.back().second;
  return done >= total ? 0.0 : static_cast<double>(total - done) / *per_second;
}

std::string FormatDuration(double seconds) {
  auto s = static_cast<std::uint64_t>(seconds + 0.5);
  auto two = [](std::uint64_t v) { return (v < 10 ? "0" : "") + std::to_string(v); };
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + two(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h" + two(s / 60 % 60) + "m";
  return std::to_string(s / 86400) + "d" + two(s / 3600 % 24) + "h";
}

std::string FormatProgress(std::size_t done, std::size_t total, std::optional<double> rate,
                           std::optional<double> seconds_left, std::size_t failed) {
  // Rounded down, so 100% means all done.
  std::uint64_t permille = total == 0 ? 1000 : static_cast<std::uint64_t>(done) * 1000 / total;
  std::string text = Grouped(done) + " of " + Grouped(total) + " numbers (" + std::to_string(permille / 10) + "." +
                     std::to_string(permille % 10) + "%)";
  if (rate) {
    if (*rate < 10) {
      auto tenths = static_cast<std::uint64_t>(*rate * 10 + 0.5);
      text += ", " + std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + "/s";
    } else {
      text += ", " + Grouped(static_cast<std::uint64_t>(*rate + 0.5)) + "/s";
    }
  }
  if (seconds_left && done < total) text += ", ETA " + FormatDuration(*seconds_left);
  if (failed > 0) text += ", " + Grouped(failed) + " failed";
  return text;
}

ProgressLine::~ProgressLine() {
  Close();
  if (!wrapped_) return;
  auto& sinks = spdlog::default_logger()->sinks();
  if (sinks.size() == 1) {
    if (auto* around = dynamic_cast<AroundProgressSink*>(sinks[0].get())) sinks = around->inner();
  }
}

void ProgressLine::WrapLogger() {
  if (!enabled_ || wrapped_) return;
  auto& sinks = spdlog::default_logger()->sinks();
  auto around = std::make_shared<AroundProgressSink>(sinks, this);
  sinks = {around};
  wrapped_ = true;
}

void ProgressLine::Show(std::string text) {
  if (!enabled_) return;
  std::lock_guard lock(mu_);
  text_ = std::move(text);
  EraseLocked();
  DrawLocked();
}

void ProgressLine::Close() {
  std::lock_guard lock(mu_);
  EraseLocked();
  text_.clear();
}

void ProgressLine::Erase() {
  mu_.lock();  // held until Redraw: nothing else draws between the two
  EraseLocked();
}

void ProgressLine::Redraw() {
  DrawLocked();
  mu_.unlock();
}

void ProgressLine::EraseLocked() {
  if (!drawn_) return;
  std::fputs("\r\033[K", out_);
  std::fflush(out_);
  drawn_ = false;
}

void ProgressLine::DrawLocked() {
  if (!enabled_ || text_.empty()) return;
  std::fputs(text_.c_str(), out_);
  std::fflush(out_);
  drawn_ = true;
}

}  // namespace factorial::scheduler
