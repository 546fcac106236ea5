#include "run.hpp"

#include <atomic>
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
#include "progress_line.hpp"
#include "scheduler.hpp"
#include "state_store.hpp"

namespace factorial::scheduler {
namespace {

// Input lines with a result, of all, at the recent pace.
std::string ProgressText(const ResultSink& sink, std::size_t total, RateMeter& meter) {
  meter.Sample(RateMeter::Clock::now(), sink.lines_resolved());
  return FormatProgress(sink.lines_resolved(), total, meter.rate(), meter.SecondsLeft(total), sink.lines_failed());
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
    if (store) output_error(commit());
    output_error(sink->Flush());
  };
  auto on_result = [&](const NumberResult& result) {
    if (store) {
      std::string line = EncodeLine(result, run.format);
      auto stored = store->Append(result.n, result.ok, line);
      if (!stored.ok()) return output_error(MakeError(Errc::kInternal, "--state-dir " + store->dir() + ": " +
                                                                         stored.error().message));
      uncommitted.push_back({*stored, std::move(line)});
    } else {
      output_error(sink->Add(result));
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
  std::function<void()> keepalive;
  if (auto period = SdWatchdogPeriod()) {
    keepalive = [&, half = *period / 2] {
      SdNotify("WATCHDOG=1\nSTATUS=" + ProgressText(*sink, total, meter));
      loop.After(half, keepalive);
    };
    loop.After(std::chrono::milliseconds(0), keepalive);
  }
  // On a terminal, a progress line on stderr, kept out of the way of log lines.
  ProgressLine progress(stderr, run.progress && ::isatty(STDERR_FILENO) == 1);
  progress.WrapLogger();
  std::function<void()> show = [&] {
    progress.Show("factorial-scheduler: " + ProgressText(*sink, total, meter));
    loop.After(std::chrono::seconds(1), show);
  };
  if (progress.enabled()) loop.After(std::chrono::seconds(1), show);
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
  spdlog::info("{} done, {} failed{} in {:.1f} s ({:.1f} numbers/s)", resolved - sink->lines_failed(),
               sink->lines_failed(), unfinished > 0 ? ", " + std::to_string(unfinished) + " unfinished" : std::string(),
               seconds, seconds > 0 ? static_cast<double>(resolved) / seconds : 0.0);
  return output_failed && exit_code == kExitOk ? kExitFailed : exit_code;
}

}  // namespace factorial::scheduler
