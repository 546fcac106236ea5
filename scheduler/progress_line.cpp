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

}  // namespace

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
