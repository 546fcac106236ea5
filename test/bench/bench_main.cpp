// factorial-bench: measurements side by side in one run, printed as a table.
//   factorial-bench [executor|decimal|codec|scheduler|memory|batch|batch-w4|runs|all] [--quick]
// Not part of the test suite; see the README for the latest figures.

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmp.h>
#include <spdlog/spdlog.h>

#include "compute.hpp"
#include "executor.hpp"
#include "factorial/curl_loop.hpp"
#include "factorial/messages.hpp"
#include "factorial/recordio.hpp"
#include "factorial/uuid.hpp"
#include "run_plan.hpp"
#include "runner.hpp"

namespace {

namespace fs = std::filesystem;
namespace v1 = factorial::v1;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Best of `reps` runs: the least disturbed by the rest of the machine.
double Best(int reps, const std::function<void()>& fn) {
  double best = 1e100;
  for (int i = 0; i < reps; ++i) {
    auto t = Clock::now();
    fn();
    best = std::min(best, Since(t));
  }
  return best;
}

// ---- 1. executor vs bare GMP ---------------------------------------------------------------

// An EventLoop that is a CurlLoop for timers and posts, but plays the agent itself: the
// SUBSCRIBE stream is fed by the benchmark, UPDATE calls are answered 202 at once and the
// moment TASK_FINISHED is sent is recorded.
class AgentInTheLoop final : public factorial::EventLoop {
 public:
  factorial::CurlLoop inner;
  factorial::StreamCallbacks stream;
  std::function<void(const v1::TaskStatus&)> on_update;

  factorial::TimePoint Now() const override { return inner.Now(); }
  TimerId After(factorial::Duration d, std::function<void()> fn) override { return inner.After(d, std::move(fn)); }
  void CancelTimer(TimerId id) override { inner.CancelTimer(id); }
  RequestId Send(factorial::HttpRequest request, factorial::ResponseCallback done) override {
    auto call = v1::ParseExecutorCall(request.body);
    if (call.ok() && call->update && on_update) on_update(call->update->status);
    inner.Post([done = std::move(done)] {
      factorial::HttpResponse r;
      r.status = 202;
      done(r);
    });
    return ++next_;
  }
  RequestId OpenStream(factorial::HttpRequest, factorial::StreamCallbacks callbacks) override {
    stream = std::move(callbacks);
    return ++next_;
  }
  void Cancel(RequestId) override {}
  void Post(std::function<void()> fn) override { inner.Post(std::move(fn)); }
  void Deliver(const v1::executor::Event& e) {
    if (!head_sent_) {
      // The agent's 200 to SUBSCRIBE: without it the connection sends no call.
      head_sent_ = true;
      factorial::HttpResponse head;
      head.status = 200;
      stream.on_head(head);
    }
    stream.on_data(factorial::EncodeRecord(v1::Serialize(e)));
  }

 private:
  RequestId next_ = 0;
  bool head_sent_ = false;
};

// Runs one task with `data` on a fresh executor; seconds from LAUNCH received to the terminal
// update sent, and that update.
double ExecutorTaskSeconds(const std::string& data, double cpus, const std::string& sandbox,
                           v1::TaskStatus* terminal = nullptr, double mem_mb = 0) {
  AgentInTheLoop loop;
  factorial::executor::RoutingRunner runner(loop, FACTORIAL_EXECUTOR_BINARY);
  factorial::executor::ExecutorEnv env;
  env.agent_endpoint = "127.0.0.1:1";
  env.framework_id = "F";
  env.executor_id = "E";
  env.sandbox = sandbox;
  env.agent_sandbox = sandbox;
  env.shutdown_grace_period = std::chrono::seconds(1);
  factorial::executor::Executor executor(loop, runner, env, [&](int) { loop.inner.Stop(); });
  Clock::time_point launched;
  double seconds = 0;
  loop.on_update = [&](const v1::TaskStatus& s) {
    if (v1::IsTerminal(s.state)) {
      seconds = Since(launched);
      if (terminal != nullptr) *terminal = s;
      loop.inner.Stop();
    }
  };
  executor.Start();
  v1::executor::Event subscribed;
  subscribed.type = v1::executor::EventType::kSubscribed;
  subscribed.subscribed.emplace();
  loop.Deliver(subscribed);
  v1::executor::Event launch;
  launch.type = v1::executor::EventType::kLaunch;
  auto& t = launch.launch.emplace().task;
  t.name = "bench";
  t.task_id.value = "bench-" + std::to_string(data.size());
  t.agent_id.value = "S";
  v1::Resource c;
  c.name = "cpus";
  c.type = v1::ValueType::kScalar;
  c.scalar = cpus;
  t.resources = {c};
  if (mem_mb > 0) {
    v1::Resource m;
    m.name = "mem";
    m.type = v1::ValueType::kScalar;
    m.scalar = mem_mb;
    t.resources.push_back(m);
  }
  t.data = data;
  loop.inner.Post([&] {
    launched = Clock::now();
    loop.Deliver(launch);
  });
  loop.inner.Run();
  return seconds;
}

double ExecutorSeconds(std::uint64_t n, double cpus, const std::string& sandbox) {
  return ExecutorTaskSeconds(std::to_string(n), cpus, sandbox);
}

double BareGmpSeconds(std::uint64_t n) {
  return Best(1, [&] {
    mpz_t f;
    mpz_init(f);
    mpz_fac_ui(f, n);
    std::string s(mpz_sizeinbase(f, 10) + 2, '\0');
    mpz_get_str(s.data(), 10, f);
    mpz_clear(f);
  });
}

// The same work in a freshly forked child, timed from fork to exit: what any process-per-task
// design pays (page faults on fresh memory, fork, reaping) before any executor logic.
double BareGmpForkedSeconds(std::uint64_t n) {
  auto t = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    mpz_t f;
    mpz_init(f);
    mpz_fac_ui(f, n);
    std::string s(mpz_sizeinbase(f, 10) + 2, '\0');
    mpz_get_str(s.data(), 10, f);
    ::_exit(s[0] == '0' ? 1 : 0);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return Since(t);
}

void BenchExecutor(bool quick) {
  std::string sandbox = (fs::temp_directory_path() / "factorial-bench").string();
  fs::create_directories(sandbox);
  std::printf("\n1. Executor (LAUNCH received -> TASK_FINISHED sent) vs bare GMP (mpz_fac_ui + mpz_get_str)\n");
  std::printf("%10s %12s %14s %8s %12s %16s %16s\n", "n", "bare GMP s", "executor s", "ratio", "overhead ms",
              "executor 2cpu s", "GMP in child s");
  std::vector<std::uint64_t> ns = {10, 1000, 100000, 1000000};
  if (quick) ns.pop_back();
  for (std::uint64_t n : ns) {
    int reps = n <= 100000 ? 7 : 3;
    double bare = 1e100, exec = 1e100, exec2 = 1e100, child = 1e100;
    for (int i = 0; i < reps; ++i) {  // interleaved, best of each
      bare = std::min(bare, BareGmpSeconds(n));
      exec = std::min(exec, ExecutorSeconds(n, 1, sandbox));
      exec2 = std::min(exec2, ExecutorSeconds(n, 2, sandbox));
      child = std::min(child, BareGmpForkedSeconds(n));
    }
    std::printf("%10llu %12.6f %14.6f %8.3f %12.3f %16.6f %16.6f\n", static_cast<unsigned long long>(n), bare, exec,
                exec / bare, (exec - bare) * 1000, exec2, child);
  }
  fs::remove_all(sandbox);
}

// ---- 2. decimal conversion ------------------------------------------------------------------

void BenchDecimal(bool quick) {
  std::printf("\n2. Decimal output: divide-and-conquer ToDecimal vs single-threaded mpz_get_str (%u cores)\n",
              std::thread::hardware_concurrency());
  std::printf("%10s %10s %14s %14s %14s %9s %10s\n", "n", "fac s", "mpz_get_str s", "ToDecimal(2) s", "ToDecimal(4) s",
              "speed-up", "identical");
  std::vector<std::uint64_t> ns = {1000000, 10000000};
  if (quick) ns.pop_back();
  for (std::uint64_t n : ns) {
    auto t = Clock::now();
    auto f = factorial::executor::Factorial(n);
    double fac = Since(t);
    std::string a, b, c;
    double single = Best(n > 1000000 ? 1 : 3, [&] { a = f.ToString(); });
    double two = Best(n > 1000000 ? 1 : 3, [&] { b = factorial::executor::ToDecimal(f, 2); });
    double four = Best(n > 1000000 ? 1 : 3, [&] { c = factorial::executor::ToDecimal(f, 4); });
    std::printf("%10llu %10.3f %14.3f %14.3f %14.3f %8.2fx %10s\n", static_cast<unsigned long long>(n), fac, single,
                two, four, single / two, a == b && a == c ? "yes" : "NO");
  }
}

// ---- 4. codec ---------------------------------------------------------------------------------

void BenchCodec() {
  // A stream shaped like a busy subscription: OFFERS with 3 offers, UPDATEs with results.
  std::string stream;
  std::size_t events = 0;
  v1::scheduler::Event offers;
  offers.type = v1::scheduler::EventType::kOffers;
  for (int i = 0; i < 3; ++i) {
    v1::Offer o;
    o.id.value = "7f0c1e44-5a0b-4e55-a9a3-2c1d0e9b7a10-O" + std::to_string(1000 + i);
    o.framework_id.value = "7f0c1e44-5a0b-4e55-a9a3-2c1d0e9b7a10-0000";
    o.agent_id.value = "7f0c1e44-5a0b-4e55-a9a3-2c1d0e9b7a10-S" + std::to_string(i);
    o.hostname = "agent" + std::to_string(i) + ".example";
    o.url = v1::Url{"http", v1::Address{o.hostname, "10.0.0.2" + std::to_string(i), 5051}, "/slave(1)"};
    for (auto [name, v] : {std::pair{"cpus", 8.0}, std::pair{"mem", 31744.0}, std::pair{"disk", 100000.0}}) {
      v1::Resource r;
      r.name = name;
      r.type = v1::ValueType::kScalar;
      r.scalar = v;
      r.role = "*";
      r.allocation_role = "*";
      o.resources.push_back(r);
    }
    v1::Resource ports;
    ports.name = "ports";
    ports.type = v1::ValueType::kRanges;
    ports.ranges = std::vector<v1::Range>{{31000, 32000}};
    ports.role = "*";
    o.resources.push_back(ports);
    o.executor_ids.push_back(v1::ExecutorID{"factorial-executor"});
    o.allocation_role = "*";
    offers.offers.emplace().offers.push_back(o);
  }
  v1::scheduler::Event update;
  update.type = v1::scheduler::EventType::kUpdate;
  auto& s = update.update.emplace().status;
  s.task_id.value = "factorial-70-1";
  s.state = v1::TaskState::kFinished;
  s.message = "70! has 101 digits";
  s.source = v1::TaskSource::kExecutor;
  s.data = std::string(101, '7');
  s.agent_id = v1::AgentID{"7f0c1e44-5a0b-4e55-a9a3-2c1d0e9b7a10-S1"};
  s.executor_id = v1::ExecutorID{"factorial-executor"};
  s.timestamp = 1724430000.123456;
  s.uuid = factorial::RandomUuidBytes();
  std::string o = v1::Serialize(offers), u = v1::Serialize(update);
  while (stream.size() < (64u << 20)) {
    factorial::AppendRecord(events % 4 == 0 ? o : u, &stream);
    ++events;
  }
  std::size_t decoded = 0;
  auto decode_all = [&] {
    factorial::RecordIoDecoder decoder;
    std::vector<std::string_view> records;  // views into the chunk; no copy unless split
    decoded = 0;
    for (std::size_t off = 0; off < stream.size(); off += 65536) {
      records.clear();
      (void)decoder.Feed(std::string_view(stream).substr(off, 65536), &records);
      for (std::string_view r : records) decoded += v1::ParseSchedulerEvent(r).ok();
    }
  };
  // Wall time, and this thread's CPU time, which a busy shared machine distorts less.
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };
  double seconds = 1e100, cpu_seconds = 1e100;
  for (int rep = 0; rep < 3; ++rep) {
    double cpu_start = cpu_now();
    seconds = std::min(seconds, Best(1, decode_all));
    cpu_seconds = std::min(cpu_seconds, cpu_now() - cpu_start);
  }
  const double mb = static_cast<double>(stream.size()) / 1e6;
  std::printf("\n4. Codec: RecordIO + JSON event decoding, 64 KiB chunks (OFFERS of %zu B, UPDATE of %zu B, 1:3)\n",
              o.size(), u.size());
  std::printf("%12s %12s %10s %12s %14s\n", "MB", "events", "MB/s", "events/s", "MB/s of CPU");
  std::printf("%12.1f %12zu %10.1f %12.0f %14.1f\n", mb, decoded, mb / seconds,
              static_cast<double>(decoded) / seconds, mb / cpu_seconds);
}

// ---- 3 and 5: whole programs ----------------------------------------------------------------

struct Run {
  int status = 0;
  double cpu = 0;
  long max_rss_kb = 0;
  double wall = 0;
};

Run Spawn(std::vector<std::string> argv, const std::string& out_file, std::function<bool(pid_t)> while_running = {}) {
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  auto t = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (while_running) while_running(pid);
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  Run r;
  r.wall = Since(t);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
          static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  r.max_rss_kb = usage.ru_maxrss;
  return r;
}

void BenchScheduler(const std::string& bin, bool quick) {
  int tasks = quick ? 2000 : 10000;
  std::string dir = (fs::temp_directory_path() / "factorial-bench-sched").string();
  fs::create_directories(dir);
  {  // one task per distinct number: 0..tasks-1, all cheap
    std::ofstream in(dir + "/numbers.txt");
    for (int i = 0; i < tasks; ++i) in << i << "\n";
  }
  std::string sim_out = dir + "/sim.out";
  std::vector<std::string> sim = {bin + "/test/mesos-sim", "--agents", "4", "--resources",
                                  "cpus:64;mem:262144;disk:4096;ports:[31000-31100]", "--allocation-interval", "100ms",
                                  "--log-level", "warn"};
  Run sim_run;
  Run sched;
  std::atomic<pid_t> sim_pid{0};
  std::thread sim_thread([&] {
    sim_run = Spawn(sim, sim_out, [&](pid_t pid) {
      sim_pid = pid;
      return true;
    });
  });
  std::string master;
  for (int i = 0; i < 200 && master.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::ifstream in(sim_out);
    std::getline(in, master);
  }
  sched = Spawn({bin + "/scheduler/factorial-scheduler", "--master", master, "--input", dir + "/numbers.txt",
                 "--task-cpus", "0.05", "--log-level", "warn"},
                dir + "/results.txt");
  while (sim_pid == 0) std::this_thread::yield();
  ::kill(sim_pid, SIGTERM);
  sim_thread.join();
  std::printf("\n3. Scheduler: %d numbers through mesos-sim (4 agents), exit status %d\n", tasks, sched.status);
  std::printf("%18s %16s %14s %18s %16s\n", "scheduler cpu s", "us cpu / task", "tasks / s", "mesos-sim cpu s",
              "scheduler RSS MB");
  std::printf("%18.3f %16.1f %14.0f %18.3f %16.1f\n", sched.cpu, sched.cpu / tasks * 1e6, tasks / sched.wall,
              sim_run.cpu, static_cast<double>(sched.max_rss_kb) / 1024);
  fs::remove_all(dir);
}

void BenchMemory(const std::string& bin, bool quick) {
  std::size_t count = quick ? 100000 : 1000000;
  std::string dir = (fs::temp_directory_path() / "factorial-bench-mem").string();
  fs::create_directories(dir);
  {
    std::ofstream in(dir + "/numbers.txt");
    for (std::size_t i = 0; i < count; ++i) in << i << "\n";
  }
  // No master listens: the scheduler holds every number pending while it retries.
  Run r = Spawn({bin + "/scheduler/factorial-scheduler", "--master", "127.0.0.1:9", "--input", dir + "/numbers.txt",
                 "--log-level", "off"},
                "/dev/null", [](pid_t pid) {
                  std::this_thread::sleep_for(std::chrono::seconds(4));
                  ::kill(pid, SIGKILL);
                  return true;
                });
  std::printf("\n5. Scheduler memory with %zu pending numbers\n", count);
  std::printf("%16s %16s %18s\n", "peak RSS MB", "bytes / number", "target MB");
  double mb = static_cast<double>(r.max_rss_kb) / 1024;
  std::printf("%16.1f %16.0f %18.1f\n", mb, mb * 1048576 / static_cast<double>(count),
              64 + 100.0 * static_cast<double>(count) / 1048576);
  fs::remove_all(dir);
}

// ---- 6. a batch task vs bare GMP --------------------------------------------------------------

double SelfCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double ChildrenCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_CHILDREN, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// A workload (W2: every n in [0, 20000) once, shuffled; W4: 2,000 numbers in [20000, 60000],
// every one in a compute worker) as ONE batch task on 2 lanes with 2048 MB, against bare-gmp
// computing and printing the same list on 2 threads, interleaved in one run. W4's repeated
// numbers are dropped for both (a task's numbers are distinct). Both write their results to
// files in the same directory; the executor's are FRF1 files. The executor's CPU is this
// process's (the loop and lane threads) and its reaped children's (the compute workers).
void BenchBatch(const std::string& bin, const std::string& workload, bool quick) {
  std::string dir = (fs::temp_directory_path() / "factorial-bench-batch").string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  Run generated = Spawn({bin + "/test/bench/workload", workload}, dir + "/numbers.all");
  if (generated.status != 0) {
    std::printf("\n6. Batch: cannot run %s/test/bench/workload\n", bin.c_str());
    return;
  }
  std::string data;
  std::size_t count = 0;
  {
    std::ifstream in(dir + "/numbers.all");
    std::ofstream out(dir + "/numbers.txt");
    std::set<std::string> seen;
    std::string line;
    while (std::getline(in, line)) {
      if (!seen.insert(line).second) continue;
      data += (data.empty() ? "" : " ") + line;
      out << line << "\n";
      ++count;
    }
  }
  std::string sandbox = dir + "/sandbox";
  int reps = quick ? 1 : 3;
  double bare = 1e100, bare_cpu = 0, batch = 1e100, batch_cpu = 0;
  std::string outcome;
  for (int i = 0; i < reps; ++i) {  // interleaved, best of each
    std::string input = dir + "/numbers.txt";
    pid_t pid = ::fork();
    if (pid == 0) {
      int fd = ::open(input.c_str(), O_RDONLY);
      ::dup2(fd, 0);
      ::close(fd);
      int out = ::open((dir + "/bare.out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(out, 1);
      ::close(out);
      std::string program = bin + "/test/bench/bare-gmp";
      ::execl(program.c_str(), "bare-gmp", "2", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    auto t = Clock::now();
    int status = 0;
    rusage usage{};
    ::wait4(pid, &status, 0, &usage);
    double wall = Since(t);
    if (wall < bare) {
      bare = wall;
      bare_cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                 static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
    }
    fs::remove(dir + "/bare.out");
    fs::remove_all(sandbox);
    fs::create_directories(sandbox);
    v1::TaskStatus terminal;
    double cpu_before = SelfCpuSeconds() + ChildrenCpuSeconds();
    double seconds = ExecutorTaskSeconds(data, 2, sandbox, &terminal, 2048);
    if (seconds < batch) {
      batch = seconds;
      // The runner is gone: its workers have been reaped.
      batch_cpu = SelfCpuSeconds() + ChildrenCpuSeconds() - cpu_before;
    }
    outcome = std::string(v1::Name(terminal.state)) + ": " + terminal.message.value_or("");
  }
  std::uintmax_t bytes = 0;
  std::size_t files = 0;
  for (const auto& entry : fs::directory_iterator(sandbox)) {
    bytes += entry.file_size();
    ++files;
  }
  std::printf("\n6. Batch: %s (%zu distinct numbers) as one task on 2 lanes vs bare GMP on 2 threads, best of %d, "
              "load %.1f\n",
              workload.c_str(), count, reps, [] {
                double load[1] = {0};
                return ::getloadavg(load, 1) == 1 ? load[0] : -1.0;
              }());
  std::printf("%16s %16s %18s %18s %8s %10s %12s %10s\n", "bare GMP wall s", "bare GMP cpu s", "executor batch s",
              "executor cpu s", "ratio", "cpu ratio", "result MB", "files");
  std::printf("%16.2f %16.2f %18.2f %18.2f %8.2f %10.2f %12.1f %10zu\n", bare, bare_cpu, batch, batch_cpu, batch / bare,
              batch_cpu / bare_cpu, static_cast<double>(bytes) / 1e6, files);
  std::printf("   last batch: %s\n", outcome.c_str());
  fs::remove_all(dir);
}

// ---- 11. decimal runs: the executor's compute on the workloads vs bare GMP --------------------

// bare-gmp on `threads` threads, numbers from `input`, lines to `output`: wall and CPU seconds.
std::pair<double, double> BareGmpRun(const std::string& bin, const std::string& input, const std::string& output,
                                     int threads) {
  auto t = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(input.c_str(), O_RDONLY);
    ::dup2(fd, 0);
    int out = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, 1);
    std::string program = bin + "/test/bench/bare-gmp";
    std::string count = std::to_string(threads);
    ::execl(program.c_str(), "bare-gmp", count.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  rusage usage{};
  ::wait4(pid, &status, 0, &usage);
  double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
               static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  return {Since(t), cpu};
}

// The distinct numbers of a workload, in the order they first appear.
std::vector<std::uint64_t> WorkloadNumbers(const std::string& bin, const std::string& name, const std::string& dir) {
  std::vector<std::uint64_t> numbers;
  std::string file = dir + "/" + name + ".all";
  if (Spawn({bin + "/test/bench/workload", name}, file).status != 0) return numbers;
  std::ifstream in(file);
  std::set<std::uint64_t> seen;
  for (std::uint64_t n; in >> n;) {
    if (seen.insert(n).second) numbers.push_back(n);
  }
  return numbers;
}

// Each workload's distinct numbers as ONE task on 2 lanes (the executor's plan, lanes, workers
// and result files, in this process and its workers) against bare-gmp computing the same
// numbers on 2 threads, one after the other. CPU is user+sys of everything each side ran.
void BenchRuns(const std::string& bin, bool quick) {
  std::string dir = (fs::temp_directory_path() / "factorial-bench-runs").string();
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::vector<std::pair<std::string, std::vector<std::uint64_t>>> workloads;
  workloads.emplace_back("W1", WorkloadNumbers(bin, "W1", dir));
  workloads.emplace_back("W2", WorkloadNumbers(bin, "W2", dir));
  std::vector<std::uint64_t> gaps;
  for (std::uint64_t n = 0; n < 30000; n += 3) gaps.push_back(n * 7919 % 30000);  // the same, shuffled
  workloads.emplace_back("every 3rd < 30000", gaps);
  std::vector<std::uint64_t> w3 = WorkloadNumbers(bin, "W3", dir);
  std::size_t w3_count = quick ? 10 : 30;  // W3 whole is ~55 CPU s a side: a prefix
  if (w3.size() > w3_count) w3.resize(w3_count);
  workloads.emplace_back("W3 first " + std::to_string(w3.size()), w3);
  double load[1] = {0};
  ::getloadavg(load, 1);
  std::printf("\n11. Decimal runs: each workload's distinct numbers as one task on 2 lanes vs bare GMP on 2 threads, "
              "load %.1f\n", load[0]);
  std::printf("%-20s %8s %8s %8s %10s %10s %11s %11s %10s %10s\n", "workload", "numbers", "lanes", "workers",
              "bare wall", "bare cpu", "exec wall", "exec cpu", "cpu ratio", "result MB");
  for (const auto& [name, numbers] : workloads) {
    if (numbers.empty()) {
      std::printf("%-20s cannot run %s/test/bench/workload\n", name.c_str(), bin.c_str());
      continue;
    }
    std::string input = dir + "/input.txt";
    std::string data;
    {
      std::ofstream out(input);
      for (std::uint64_t n : numbers) {
        out << n << "\n";
        data += (data.empty() ? "" : " ") + std::to_string(n);
      }
    }
    auto [bare_wall, bare_cpu] = BareGmpRun(bin, input, dir + "/bare.out", 2);
    fs::remove(dir + "/bare.out");
    std::string sandbox = dir + "/sandbox";
    fs::remove_all(sandbox);
    fs::create_directories(sandbox);
    double cpu_before = SelfCpuSeconds() + ChildrenCpuSeconds();
    v1::TaskStatus terminal;
    double exec_wall = ExecutorTaskSeconds(data, 2, sandbox, &terminal);
    double exec_cpu = SelfCpuSeconds() + ChildrenCpuSeconds() - cpu_before;
    std::uintmax_t bytes = 0;
    for (const auto& entry : fs::directory_iterator(sandbox)) bytes += entry.file_size();
    auto plan = factorial::executor::PlanBatch(numbers, factorial::executor::RoutingRunner::kDefaultInProcessMaxN, 4);
    std::size_t lane_numbers = 0;
    for (const auto& piece : plan.pieces) lane_numbers += piece.size();
    std::printf("%-20s %8zu %8zu %8zu %10.2f %10.2f %11.2f %11.2f %10.3f %10.1f\n", name.c_str(), numbers.size(),
                lane_numbers, plan.workers.size(), bare_wall, bare_cpu, exec_wall, exec_cpu, exec_cpu / bare_cpu,
                static_cast<double>(bytes) / 1e6);
    if (terminal.state != v1::TaskState::kFinished) {
      std::printf("   the task ended %s: %s\n", std::string(v1::Name(terminal.state)).c_str(),
                  terminal.message.value_or("").c_str());
    }
    std::fflush(stdout);
  }
  fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::off);
  std::string what = argc > 1 ? argv[1] : "all";
  bool quick = argc > 2 && std::strcmp(argv[2], "--quick") == 0;
  // The build tree, for the programs benchmarked as whole processes.
  std::string bin = fs::canonical("/proc/self/exe").parent_path().parent_path().parent_path().string();
  factorial::CurlGlobal curl;
  std::printf("factorial-bench on %s, %u cores\n", [] {
    static char host[256];
    ::gethostname(host, sizeof host);
    return host;
  }(), std::thread::hardware_concurrency());
  if (what == "executor" || what == "all") BenchExecutor(quick);
  if (what == "decimal" || what == "all") BenchDecimal(quick);
  if (what == "scheduler" || what == "all") BenchScheduler(bin, quick);
  if (what == "codec" || what == "all") BenchCodec();
  if (what == "memory" || what == "all") BenchMemory(bin, quick);
  if (what == "batch" || what == "all") BenchBatch(bin, "W2", quick);
  if (what == "batch-w4" || what == "all") BenchBatch(bin, "W4", quick);
  if (what == "runs" || what == "all") BenchRuns(bin, quick);
  return 0;
}
