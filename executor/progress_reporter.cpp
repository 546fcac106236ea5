#include "progress_reporter.hpp"

#include <unordered_set>

namespace factorial::executor {

ProgressReporter::ProgressReporter(EventLoop& loop, Poll poll, Send send, Duration interval)
    : loop_(loop), poll_(std::move(poll)), send_(std::move(send)), interval_(interval) {}

ProgressReporter::~ProgressReporter() { Stop(); }

void ProgressReporter::Watch() {
  if (timer_) return;
  timer_ = loop_.After(interval_, [this] {
    timer_.reset();
    Tick();
  });
}

void ProgressReporter::Stop() {
  if (timer_) loop_.CancelTimer(*timer_);
  timer_.reset();
}

void ProgressReporter::Tick() {
  std::vector<TaskProgressReport> reports = poll_();
  std::unordered_set<std::string> running;
  for (const auto& report : reports) {
    running.insert(report.task_id);
    if (report.numbers == 0) continue;  // nothing to say yet
    auto sent = sent_.find(report.task_id);
    if (sent != sent_.end() && sent->second == report.numbers) continue;
    if (send_(FormatProgressReport(report))) sent_[report.task_id] = report.numbers;
  }
  std::erase_if(sent_, [&](const auto& entry) { return !running.contains(entry.first); });
  if (!reports.empty()) Watch();
}

}  // namespace factorial::executor
