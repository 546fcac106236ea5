#pragma once

// What a Scheduler is told at construction: where the masters are, who the framework is, how
// tasks are shaped and when to give up. Plain values, built by config.cpp from the command line.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "factorial/duration.hpp"
#include "factorial/event_loop.hpp"
#include "factorial/master_url.hpp"
#include "factorial/messages.hpp"
#include "batch_shaper.hpp"

namespace factorial::scheduler {

class StateStore;

struct SchedulerConfig {
  std::vector<std::string> masters;  // base URLs, e.g. "http://10.0.0.1:5050"
  std::optional<ZooKeeperSpec> zookeeper;  // --master zk://: the leader is found there instead
  v1::FrameworkInfo framework;       // user, name, roles, principal, checkpoint, failover...
  std::optional<std::pair<std::string, std::string>> credential;  // HTTP Basic
  TlsOptions tls;
  BatchPolicy batch;  // cpus per task (--task-cpus), --batch-seconds, --batch-size
  v1::ExecutorInfo executor;  // fixed: identical for every task (§11.16)
  int max_retries = 3;
  Duration offer_wait = std::chrono::seconds(120);
  double refuse_seconds_busy = 1;     // decline filter while work is pending
  double refuse_seconds_idle = 3600;  // decline filter with nothing to do (then SUPPRESS)
  int heartbeat_factor = 5;
  Duration backoff_initial = std::chrono::milliseconds(100);
  Duration backoff_max = std::chrono::seconds(15);
  Duration kill_grace = std::chrono::seconds(10);  // SIGTERM: wait this long for kills
  std::uint64_t seed = 0;  // 0: random jitter
  // Calls to the master in flight at once (call_order.hpp says which may overtake which);
  // the event loop must allow that many connections per host, plus the stream.
  std::size_t calls_in_flight = 1;
  // Restart safety (--state-dir): results and framework ID survive a restart. Not owned.
  StateStore* store = nullptr;
  // On SIGTERM with unfinished work: tear down (true) or leave the framework for failover.
  bool teardown_on_stop = true;
  // After resubscribing from saved state: how long implicit reconciliation may take to name
  // tasks still running from before the restart, before offers are used again.
  Duration adopt_window = std::chrono::seconds(3);
  // No successful subscription within this long after start: exit 1 with a diagnosis of
  // the last answer (e.g. a 404 from an agent's port). Zero: keep trying forever.
  Duration connect_timeout{0};
  // Subscribed, but the master refuses every call with a 4xx (a proxy, a master that forgot
  // us: "Framework cannot be found"): after at least this many refusals in a row spanning
  // this long, nothing can progress, so the run ends with exit 1.
  int refused_calls_limit = 5;
  Duration refused_calls_window = std::chrono::seconds(10);
  // Bytes of result downloads held in memory at most (download_memory.hpp; the rest go to
  // temp files). A big result waiting for its turn in input order keeps its memory until
  // then, so the default is small; run.cpp gives the machine's budget to an output that
  // writes results as they arrive.
  std::size_t download_memory = std::size_t{64} << 20;
};

}  // namespace factorial::scheduler
