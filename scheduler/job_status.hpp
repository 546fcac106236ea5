#pragma once

// What an operator sees of a running job: one immutable snapshot (JobStatus), built on the
// scheduler's loop and rendered by the status server's thread as
//   - StatusJson:  GET /status, for scripts;
//   - MetricsText: GET /metrics, Prometheus text exposition format 0.0.4;
//   - StatusPage:  GET /, a self-contained HTML page (no external assets: a cluster's
//                  gateway often reaches nothing else).
// Pure functions of the snapshot: no I/O, no clock, no locks.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace factorial::scheduler {

// Monotonic counts since the scheduler started (Prometheus `_total` counters).
struct JobCounters {
  std::uint64_t numbers_finished = 0;  // computed, result received
  std::uint64_t numbers_failed = 0;    // failed for good
  std::uint64_t result_bytes = 0;      // result bytes received: inline in updates and fetched files
  std::uint64_t tasks_launched = 0;
  std::uint64_t tasks_finished = 0;
  std::uint64_t tasks_failed = 0;  // TASK_FAILED / TASK_ERROR
  std::uint64_t tasks_lost = 0;    // LOST, DROPPED, GONE, UNREACHABLE, KILLED not by us
  std::uint64_t offers_accepted = 0;
  std::uint64_t offers_declined = 0;
  std::uint64_t calls_failed = 0;  // calls to the master that were not answered 2xx
  std::uint64_t disk_errors = 0;   // tasks that failed for want of disk on their agent
};

struct AgentStatus {
  std::string id;
  std::string hostname;
  std::size_t tasks_running = 0;
  double cpus = 0;  // held by our running tasks there
  std::uint64_t numbers_done = 0;
  std::uint64_t numbers_failed = 0;
  std::uint64_t tasks_failed = 0;  // failed or lost there
  std::uint64_t disk_errors = 0;   // of them, for want of disk (full, over quota, failing)
};

// An agent whose executor does not start, set aside for now (agent_health.hpp).
struct SetAsideAgent {
  std::string id;
  std::string hostname;
  std::string cause;   // "the executor failed to start"
  std::string detail;  // what its sandbox said, as received: escaped by every renderer
  int failures = 0;    // in a row, with this cause
  double seconds_left = 0;
};

struct FailureNote {
  double at_seconds = 0;  // since the job started
  std::string what;       // "7!" or "task factorial-...-b3"
  std::string agent;      // hostname or id; may be empty
  std::string reason;     // as received: escaped by every renderer
};

struct JobStatus {
  std::string name;
  std::string version;
  std::string state;  // "connecting", "running", "finishing", "done"
  std::string framework_id;
  std::string master;
  double elapsed_seconds = 0;

  // Numbers (distinct).
  std::size_t numbers_total = 0, numbers_done = 0, numbers_failed = 0, numbers_pending = 0,
              numbers_running = 0;
  // Work, in estimated CPU seconds (the cost model), done including what running tasks have
  // reported or are credited with.
  double work_total = 0, work_done = 0;
  std::optional<double> work_rate;     // estimated CPU seconds of work per second
  std::optional<double> numbers_rate;  // numbers per second
  std::optional<double> eta_seconds;
  // What the executors of running tasks have reported done (progress messages): numbers and
  // their estimated work. Included in work_done.
  std::uint64_t reported_numbers = 0;
  double reported_work = 0;

  std::size_t tasks_running = 0;
  double cpus_held = 0;
  JobCounters counters;
  std::vector<AgentStatus> agents;
  std::vector<FailureNote> recent_failures;  // newest last
  std::vector<SetAsideAgent> set_aside;      // agents set aside now
  std::uint64_t launch_failures = 0;         // tasks whose executor did not start
  std::vector<std::pair<std::string, std::string>> settings;  // as shown to the operator
};

// GET /status: the snapshot as one JSON object.
std::string StatusJson(const JobStatus& status);
// GET /metrics: `factorial_*` metrics with HELP and TYPE lines.
std::string MetricsText(const JobStatus& status);
// GET /: the page. It reloads its own content every few seconds (inline script; without
// script it still shows the snapshot it was served with).
std::string StatusPage(const JobStatus& status);

// `text` with &, <, >, " and ' as HTML entities, and control characters (bar \t, \n) as U+FFFD.
std::string HtmlEscape(const std::string& text);
// A label value in the exposition format: \\, \" and \n escaped.
std::string MetricLabelValue(const std::string& text);

}  // namespace factorial::scheduler
