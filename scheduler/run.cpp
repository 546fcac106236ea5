#include "run.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>

#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include "factorial/curl_loop.hpp"
#include "factorial/sd_notify.hpp"
#include "factorial/signals.hpp"
#include "call_order.hpp"
#include "job_monitor.hpp"
#include "progress_line.hpp"
#include "scheduler.hpp"
#include "state_store.hpp"

namespace factorial::scheduler {
namespace {

#ifndef FACTORIAL_VERSION
#define FACTORIAL_VERSION "0.0.0"
#endif

// Input lines with a result, of all, at the recent pace; the ETA and share from the work
// estimate (estimated CPU seconds, running tasks included).
std::string ProgressText(const ResultSink& sink, std::size_t total, RateMeter& meter,
                         const WorkEstimator::Estimate& work) {
  meter.Sample(RateMeter::Clock::now(), sink.lines_resolved());
  std::string text = FormatProgress(sink.lines_resolved(), total, meter.rate(), work.eta, sink.lines_failed());
  if (work.total > 0 && sink.lines_resolved() < total) {
    auto permille = static_cast<long>(std::min(1.0, work.done / work.total) * 1000);
    text += fmt::format(", work {}.{}%", permille / 10, permille % 10);
  }
  return text;
}

// What the status page lists as the job's settings.
std::vector<std::pair<std::string, std::string>> Settings(const RunConfig& run) {
  const SchedulerConfig& c = run.scheduler;
  std::string masters;
  for (const auto& m : c.masters) masters += (masters.empty() ? "" : ", ") + m;
  if (c.zookeeper) masters = "ZooKeeper";
  return {{"numbers", std::to_string(run.workload->size())},
          {"master", masters},
          {"user", c.framework.user},
          {"role", c.framework.roles.empty() ? "" : c.framework.roles[0]},
          {"task cpus", fmt::format("{:g}", c.batch.task_cpus)},
          {"batch seconds", fmt::format("{:g}", c.batch.batch_seconds)},
          {"batch size", c.batch.batch_size == 0 ? "as the cost model decides" : std::to_string(c.batch.batch_size)},
          {"max retries", std::to_string(c.max_retries)},
          {"output", run.output.empty() ? "standard output" : run.output},
          {"format", run.format == LineFormat::kJson ? "json" : "text"},
          {"order", run.order == OutputOrder::kCompletion ? "completion" : "input"},
          {"state dir", run.state_dir.empty() ? "none" : run.state_dir}};
}

// 1234567 -> "1.2 MB".
std::string HumanBytes(std::uint64_t bytes) {
  if (bytes < 1000) return std::to_string(bytes) + " B";
  const char* units[] = {"kB", "MB", "GB", "TB", "PB"};
  double value = static_cast<double>(bytes) / 1000;
  int unit = 0;
  while (value >= 1000 && unit < 4) {
    value /= 1000;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, units[unit]);
}

}  // namespace

int RunJob(RunConfig run) {
  if (!run.color) {
    for (auto& sink : spdlog::default_logger()->sinks()) {
      if (auto* colored = dynamic_cast<spdlog::sinks::stderr_color_sink_mt*>(sink.get())) {
        colored->set_color_mode(spdlog::color_mode::never);
      }
    }
  }
  for (const auto& warning : run.warnings) spdlog::warn("{}", warning);
  // A closed standard output is a write error the sink reports, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<StateStore> store;
  if (!run.state_dir.empty()) {
    auto opened = StateStore::Open(run.state_dir, run.workload->Fingerprint(), run.format);
    if (!opened.ok()) {
      std::fprintf(stderr, "factorial-scheduler: %s\n", opened.error().message.c_str());
      return opened.error().code == Errc::kInvalidArgument ? kExitUsage : kExitFailed;
    }
    store = std::move(opened).value();
    run.scheduler.store = store.get();
  }
  // A closed standard descriptor would be reused by the next socket or file, and results or
  // logs written "to stdout" would land there. Results need a real standard output.
  bool stdout_closed = ::fcntl(STDOUT_FILENO, F_GETFD) == -1;
  for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) {
    if (::fcntl(fd, F_GETFD) != -1) continue;
    int null = ::open("/dev/null", O_RDWR);  // takes the lowest free number: `fd` itself, or lower
    if (null >= 0 && null != fd) {
      ::dup2(null, fd);
      ::close(null);
    }
  }
  if (stdout_closed && run.output.empty()) {
    std::fprintf(stderr, "factorial-scheduler: standard output is closed; pass --output FILE\n");
    return kExitUsage;
  }
  SinkOptions sink_options;
  sink_options.order = run.order;
  sink_options.hold_bytes = run.hold_bytes;
  sink_options.spill_dir = run.spill_dir;
  sink_options.flush_each_add = false;  // flushed once per batch of results, below
  sink_options.warn = [](const std::string& message) { spdlog::warn("{}", message); };
  if (store) sink_options.store_fd = store->read_fd();
  std::unique_ptr<ResultSink> sink;
  if (run.output.empty()) {
    sink = std::make_unique<ResultSink>(run.workload, run.format, STDOUT_FILENO, "standard output", sink_options);
  } else {
    auto opened = ResultSink::OpenFile(run.workload, run.format, run.output, sink_options);
    if (!opened.ok()) {
      std::fprintf(stderr, "factorial-scheduler: %s\n", opened.error().message.c_str());
      return kExitUsage;
    }
    sink = std::move(opened).value();
  }
  if (store) {
    if (auto resumed = sink->Resume(store->replayed()); !resumed.ok()) {
      spdlog::error("{}", resumed.error().message);
      return kExitFailed;
    }
  }

  if (const auto& c = run.scheduler.executor.command) {
    spdlog::info("agents run the executor {}{}", c->value.value_or(""), c->uris.empty() ? "" : ", fetched from " + c->uris[0].value);
  }
  std::unique_ptr<StatusServer> status_server;
  if (run.http) {
    auto started = StatusServer::Start(*run.http);
    if (!started.ok()) {
      std::fprintf(stderr, "factorial-scheduler: %s\n", started.error().message.c_str());
      return kExitFailed;
    }
    status_server = std::move(started).value();
    const std::string& host = run.http_advertise_host;
    run.scheduler.framework.webui_url = fmt::format("http://{}:{}/", host.find(':') != std::string::npos ? "[" + host + "]" : host,
                                                    status_server->port());
    spdlog::info("status page at {} (listening on {}:{})", *run.scheduler.framework.webui_url, run.http->address,
                 status_server->port());
  }
  auto settings = Settings(run);
  CurlGlobal curl;
  CurlLoop loop(kConnectionsPerHost);
  int exit_code = kExitOk;
  bool output_failed = false;
  std::unique_ptr<Scheduler> scheduler;
  auto output_error = [&](const Status& status) {
    if (status.ok() || output_failed) return;
    output_failed = true;
    spdlog::error("{}; stopping", status.error().message);
    loop.Post([&] { scheduler->Interrupt(kExitFailed); });
  };
  // On a terminal, a progress line on stderr, kept out of the way of log lines and, when
  // standard output is a terminal too, of results.
  ProgressLine progress(stderr, run.progress && ::isatty(STDERR_FILENO) == 1);
  bool results_on_terminal = progress.enabled() && run.output.empty() && ::isatty(STDOUT_FILENO) == 1;
  auto around_progress = [&](auto write) {
    if (!results_on_terminal) return write();
    progress.Erase();
    auto status = write();
    progress.Redraw();
    return status;
  };
  // Results of one event (a batch) are buffered and written together once it is handled.
  // With --state-dir each result's line is appended to the journal at once, and the results
  // appended meanwhile are committed with one fdatasync at most every kCommitEvery; only then
  // do they reach the output and the progress: nothing counts as done before it is durable.
  constexpr auto kCommitEvery = std::chrono::milliseconds(100);
  struct Uncommitted {
    StoredResult stored;
    std::string line;
  };
  std::vector<Uncommitted> uncommitted;
  auto last_commit = loop.Now() - kCommitEvery;
  auto commit = [&]() -> Status {
    if (uncommitted.empty()) return OkStatus();
    if (auto synced = store->Commit(); !synced.ok()) return synced;
    last_commit = loop.Now();
    for (const auto& pending : uncommitted) {
      if (auto added = sink->AddStored(pending.stored, pending.line); !added.ok()) return added;
    }
    uncommitted.clear();
    return OkStatus();
  };
  bool flush_posted = false;
  auto flush = [&] {
    flush_posted = false;
    if (store) output_error(around_progress(commit));
    output_error(around_progress([&] { return sink->Flush(); }));
  };
  auto on_result = [&](const NumberResult& result) {
    if (store) {
      std::string line = EncodeLine(result, run.format);
      auto stored = store->Append(result.n, result.ok, line);
      if (!stored.ok()) return output_error(MakeError(Errc::kInternal, "--state-dir " + store->dir() + ": " +
                                                                         stored.error().message));
      uncommitted.push_back({*stored, std::move(line)});
    } else {
      output_error(around_progress([&] { return sink->Add(result); }));
    }
    if (flush_posted) return;
    flush_posted = true;
    auto since = loop.Now() - last_commit;
    if (!store || since >= kCommitEvery) return loop.Post(flush);
    loop.After(std::chrono::duration_cast<std::chrono::milliseconds>(kCommitEvery - since), flush);
  };
  auto on_exit = [&](int code) {
    exit_code = code;
    loop.Stop();
  };
  scheduler = std::make_unique<Scheduler>(loop, run.scheduler, *run.workload, on_result, on_exit);
  // The first signal stops in order (kills, TEARDOWN); a second stops waiting for that; a
  // third exits at once. Handlers run on the loop, which only runs once `scheduler` exists.
  std::atomic<int> interrupts{0};
  SignalWatcher signals({SIGINT, SIGTERM}, [&](int sig) {
    int code = sig == SIGINT ? 130 : 143;
    int count = interrupts.fetch_add(1) + 1;
    if (count >= 3) std::_Exit(code);
    loop.Post([&, sig, code, count] {
      if (count == 1) {
        spdlog::warn("{}: stopping; a second signal stops waiting for the master", sig == SIGINT ? "SIGINT" : "SIGTERM");
        return scheduler->Interrupt(code);
      }
      spdlog::warn("second signal: writing results and exiting without waiting for the master");
      exit_code = code;
      loop.Stop();
    });
  });
  // systemd: READY=1 once subscribed, STATUS= with progress, WATCHDOG=1 from this loop (so a
  // wedged loop gets the service restarted).
  scheduler->set_on_subscribed([](const std::string& id) { SdNotify("READY=1\nSTATUS=subscribed as framework " + id); });
  const std::size_t total = run.workload->size();
  RateMeter meter;
  meter.Sample(RateMeter::Clock::now(), sink->lines_resolved());
  // Snapshots of the job every half second, for the status server and the progress figures:
  // built here on the loop, read by the server's threads only once published.
  JobMonitor monitor(*scheduler, run.scheduler.framework.name, FACTORIAL_VERSION, settings);
  std::function<void()> snapshot = [&] {
    auto status = monitor.Snapshot(loop.Now());
    if (status_server) status_server->Publish(std::move(status));
    loop.After(std::chrono::milliseconds(500), snapshot);
  };
  snapshot();
  auto text = [&] { return ProgressText(*sink, total, meter, monitor.estimate()); };
  std::function<void()> keepalive;
  if (auto period = SdWatchdogPeriod()) {
    keepalive = [&, half = *period / 2] {
      SdNotify("WATCHDOG=1\nSTATUS=" + text());
      loop.After(half, keepalive);
    };
    loop.After(std::chrono::milliseconds(0), keepalive);
  }
  // systemd without the watchdog still shows STATUS= in `systemctl status`.
  std::function<void()> status_line = [&] {
    SdNotify("STATUS=" + text());
    loop.After(std::chrono::seconds(5), status_line);
  };
  if (const char* socket = std::getenv("NOTIFY_SOCKET"); socket != nullptr && *socket != '\0' && !SdWatchdogPeriod()) {
    loop.After(std::chrono::seconds(1), status_line);
  }
  progress.WrapLogger();
  std::function<void()> show = [&] {
    progress.Show("factorial-scheduler: " + text());
    loop.After(std::chrono::seconds(1), show);
  };
  if (progress.enabled()) loop.After(std::chrono::seconds(1), show);
  // Off a terminal (piped, a log file, the journal): a progress log line now and then.
  auto interval = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(run.progress_interval));
  std::function<void()> log_progress = [&] {
    if (sink->lines_resolved() < total) spdlog::info("progress: {}", text());
    loop.After(interval, log_progress);
  };
  if (run.progress && !progress.enabled()) loop.After(interval, log_progress);
  auto started = std::chrono::steady_clock::now();
  scheduler->Start();
  if (store) store->ReleaseReplayed();  // the sink and the scheduler have taken what they need
  loop.Run();
  progress.Close();
  SdNotify("STOPPING=1");
  if (store) {
    output_error(commit());
    spdlog::info("journal: {} bytes written, {} fdatasync(s) this run", store->size(), store->syncs());
  }
  if (auto finished = sink->Finish(); !finished.ok()) {
    if (!output_failed) spdlog::error("{}", finished.error().message);
    output_failed = true;
  }
  // A finished job's output in the state directory holds every result: the journal is
  // compacted to refer to it, so the directory keeps the digits once.
  if (store && !output_failed && sink->lines_resolved() == total && !run.output.empty()) {
    std::error_code ec;
    auto output = std::filesystem::weakly_canonical(run.output, ec);
    if (!ec && output.parent_path() == std::filesystem::weakly_canonical(run.state_dir, ec) && !ec) {
      auto compacted = store->Compact(output.filename().string());
      if (!compacted.ok()) {
        spdlog::warn("the journal stays as it is: {}", compacted.error().message);
      } else if (*compacted) {
        spdlog::debug("journal compacted: it refers to the lines of {}", run.output);
      }
    }
  }
  // In input lines, as the output counts them.
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::size_t resolved = sink->lines_resolved();
  std::size_t unfinished = total - resolved;
  const JobActivity& activity = scheduler->activity();
  spdlog::info("{} done, {} failed{} in {:.1f} s ({:.1f} numbers/s); {:.1f} cpu s held on the cluster, {} of results",
               resolved - sink->lines_failed(), sink->lines_failed(),
               unfinished > 0 ? ", " + std::to_string(unfinished) + " unfinished" : std::string(), seconds,
               seconds > 0 ? static_cast<double>(resolved) / seconds : 0.0, activity.cpu_seconds(),
               HumanBytes(activity.counters().result_bytes));
  return output_failed && exit_code == kExitOk ? kExitFailed : exit_code;
}

}  // namespace factorial::scheduler
