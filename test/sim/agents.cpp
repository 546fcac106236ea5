// What mesos-sim's agents do (§6.6-§6.9): create sandboxes, fetch, start executors as real
// processes, deliver tasks, keep each task's status updates until the scheduler acknowledges
// them (§5.9), notice executors that exit, shut them down, and die (/sim/agents/N/kill).

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "factorial/duration.hpp"
#include "factorial/uuid.hpp"
#include "impl.hpp"

namespace factorial::sim {
namespace {

namespace fs = std::filesystem;

// The fetcher: local paths and file:// URIs, copied into the sandbox.
Status Fetch(const std::vector<v1::CommandUri>& uris, const fs::path& sandbox) {
  for (const auto& uri : uris) {
    std::string source = uri.value;
    if (source.rfind("file://", 0) == 0) source = source.substr(7);
    if (source.empty() || source[0] != '/') {
      return MakeError(Errc::kInvalidArgument,
                       "Failed to fetch '" + uri.value + "': mesos-sim fetches local paths and file:// URIs only");
    }
    fs::path target = sandbox / (uri.output_file ? fs::path(*uri.output_file) : fs::path(source).filename());
    std::error_code ec;
    fs::copy_file(source, target, fs::copy_options::overwrite_existing, ec);
    if (ec) return MakeError(Errc::kNotFound, "Failed to fetch '" + uri.value + "': " + ec.message());
    if (uri.executable.value_or(false)) {
      fs::permissions(target, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                      fs::perm_options::add, ec);
    }
  }
  return std::monostate{};
}

struct Argv {
  std::string program;
  std::vector<std::string> args;
};

// What to exec: `sh -c value` for a shell command; otherwise the program found in the sandbox
// or on `path`, or taken relative to the sandbox.
Argv ExecutorArgv(const v1::CommandInfo& command, const fs::path& sandbox, const std::string& path) {
  if (command.shell) return {"/bin/sh", {"sh", "-c", command.value.value_or("")}};
  Argv argv{command.value.value_or(""), command.arguments};
  std::string& program = argv.program;
  if (program.find('/') == std::string::npos) {
    if (fs::exists(sandbox / program)) {
      program = (sandbox / program).string();
    } else {
      std::stringstream dirs(path);
      std::string dir;
      while (std::getline(dirs, dir, ':')) {
        if (::access((fs::path(dir) / program).c_str(), X_OK) == 0) {
          program = (fs::path(dir) / program).string();
          break;
        }
      }
    }
  } else if (program[0] != '/') {
    program = (sandbox / program).string();
  }
  return argv;
}

// What the real agent's launcher (mesos-containerizer) leaves when it cannot exec the
// executor: this line in the sandbox's stderr, its own exit, and a FAILURE whose status is
// 256256 (recorded in test/data/real-mesos/executor-missing.*).
constexpr int kExecFailedStatus = 256256;

struct Spawned {
  int pid = -1;
  int exec_errno = 0;  // execve failed with this (the child has exited)
};

// Forks and execs `argv` in `sandbox`, leading its own process group, with stdout and stderr
// in the sandbox and stdin from /dev/null. Waits until the exec either happened or failed (a
// close-on-exec pipe says which), and writes the launcher's line to stderr when it failed.
Result<Spawned> Spawn(Argv argv, const std::map<std::string, std::string>& env, const std::string& sandbox) {
  // Build everything before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> args, envp;
  for (auto& a : argv.args) args.push_back(a.data());
  args.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string out_path = sandbox + "/stdout", err_path = sandbox + "/stderr";
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) return MakeError(Errc::kInternal, std::string("pipe: ") + std::strerror(errno));

  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    if (::chdir(sandbox.c_str()) != 0) ::_exit(127);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null_in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || null_in < 0) ::_exit(127);
    ::dup2(null_in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (int fd = 3; fd < 4096; ++fd) {
      if (fd != exec_pipe[1]) ::close(fd);
    }
    ::execve(argv.program.c_str(), args.data(), envp.data());
    int failed = errno;
    (void)!::write(exec_pipe[1], &failed, sizeof failed);
    ::_exit(1);
  }
  ::close(exec_pipe[1]);
  if (pid < 0) {
    ::close(exec_pipe[0]);
    return MakeError(Errc::kInternal, std::string("fork: ") + std::strerror(errno));
  }
  // Also in the parent: a kill(-pid) right after fork must find the group (classic race).
  ::setpgid(pid, pid);
  Spawned spawned{pid, 0};
  ssize_t n;
  while ((n = ::read(exec_pipe[0], &spawned.exec_errno, sizeof spawned.exec_errno)) < 0 && errno == EINTR) {
  }
  ::close(exec_pipe[0]);
  if (n != static_cast<ssize_t>(sizeof spawned.exec_errno)) spawned.exec_errno = 0;  // EOF: the exec happened
  if (spawned.exec_errno != 0) {
    std::string line = "Failed to execute '" + argv.program + "': " + std::strerror(spawned.exec_errno) + "\n";
    int err = ::open(err_path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (err >= 0) {
      (void)!::write(err, line.data(), line.size());
      ::close(err);
    }
  }
  return spawned;
}

}  // namespace

// ---- executors -----------------------------------------------------------------------------

// §6.6: sandbox, fetch, environment, argv, stdout/stderr files, own process group.
Result<std::shared_ptr<ExecutorRun>> MesosSim::Impl::LaunchExecutor(Agent& agent, Framework& fw,
                                                                    const v1::ExecutorInfo& info) {
  auto run = std::make_shared<ExecutorRun>();
  run->framework_id = fw.id;
  run->executor_id = info.executor_id.value;
  run->agent_id = agent.id;
  run->info = info;
  run->container_id = RandomIdText();
  run->resources = Res::From(info.resources);
  run->registration_deadline = SteadyClock::now() + options_.executor_registration_timeout;
  fs::path runs = fs::path(work_dir_) / "slaves" / agent.id / "frameworks" / fw.id / "executors" /
                  info.executor_id.value / "runs";
  fs::path sandbox = runs / run->container_id;
  std::error_code ec;
  fs::create_directories(sandbox, ec);
  if (ec) return MakeError(Errc::kInternal, "cannot create sandbox: " + ec.message());
  fs::remove(runs / "latest", ec);
  fs::create_directory_symlink(run->container_id, runs / "latest", ec);
  run->sandbox = sandbox.string();
  const v1::CommandInfo& command = *info.command;
  if (Status fetched = Fetch(command.uris, sandbox); !fetched.ok()) return fetched.error();
  auto env = ExecutorEnvironment(agent, fw, info, run->sandbox);
  Result<Spawned> spawned = Spawn(ExecutorArgv(command, sandbox, env["PATH"]), env, run->sandbox);
  if (!spawned.ok()) return spawned.error();
  run->pid = spawned->pid;
  run->exec_failed = spawned->exec_errno != 0;
  agent.executors[{fw.id, info.executor_id.value}] = run;
  WaitForExit(agent.id, fw.id, info.executor_id.value, run->pid);
  spdlog::info("mesos-sim: agent {} launched executor {} of {} as pid {} in {}{}", agent.index, info.executor_id.value,
               fw.id, run->pid, run->sandbox, run->exec_failed ? " (its exec failed)" : "");
  return run;
}

// §6.7 environment, exactly as the agent renders values.
std::map<std::string, std::string> MesosSim::Impl::ExecutorEnvironment(const Agent& agent, const Framework& fw,
                                                                        const v1::ExecutorInfo& info,
                                                                        const std::string& sandbox) const {
  std::string endpoint = options_.ip + ":" + std::to_string(agent.port);
  std::map<std::string, std::string> env = {
      {"MESOS_FRAMEWORK_ID", fw.id},
      {"MESOS_EXECUTOR_ID", info.executor_id.value},
      {"MESOS_DIRECTORY", sandbox},
      {"MESOS_SANDBOX", sandbox},
      {"MESOS_AGENT_ENDPOINT", endpoint},
      {"MESOS_SLAVE_PID", "slave(1)@" + endpoint},
      {"MESOS_SLAVE_ID", agent.id},
      {"MESOS_CHECKPOINT", fw.info.checkpoint ? "1" : "0"},
      {"MESOS_HTTP_COMMAND_EXECUTOR", "0"},
      {"MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD",
       FormatMesosDuration(info.shutdown_grace_period_nanoseconds
                               ? Duration(*info.shutdown_grace_period_nanoseconds)
                               : Duration(options_.executor_shutdown_grace_period))},
      {"LIBPROCESS_PORT", "0"},
      {"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
  };
  if (fw.info.checkpoint) {
    env["MESOS_RECOVERY_TIMEOUT"] = FormatMesosDuration(options_.recovery_timeout);
    env["MESOS_SUBSCRIPTION_BACKOFF_MAX"] = FormatMesosDuration(options_.executor_reregistration_timeout);
  }
  // Sanitizer runtimes read these; pass them through so sanitized executors behave in tests.
  for (const char* passthrough : {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "SPDLOG_LEVEL"}) {
    if (const char* v = std::getenv(passthrough)) env[passthrough] = v;
  }
  if (info.command->environment) {
    for (const auto& var : *info.command->environment) {
      if (var.type == "VALUE") env[var.name] = var.value.value_or("");
    }
  }
  return env;
}

// A thread that reaps the executor and reports its exit.
void MesosSim::Impl::WaitForExit(const std::string& agent_id, const std::string& framework_id,
                                 const std::string& executor_id, int pid) {
  waiters_.emplace_back([this, agent_id, framework_id, executor_id, pid] {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ExecutorExited(agent_id, framework_id, executor_id, pid, status);
  });
}

void MesosSim::Impl::SendExecutorEvent(ExecutorRun& run, const exec::Event& event) {
  if (run.stream) run.stream->PushRecord(v1::Serialize(event));
}

// LAUNCH to a subscribed executor; otherwise queued until it subscribes.
void MesosSim::Impl::DeliverTask(Task& task, ExecutorRun& run) {
  if (run.state == ExecutorRun::State::kRunning && run.stream) {
    exec::Event launch;
    launch.type = exec::EventType::kLaunch;
    launch.launch.emplace().task = task.info;
    SendExecutorEvent(run, launch);
    task.delivered = true;
  } else {
    run.queued.push_back(task.info.task_id.value);
  }
}

// The agent's status update manager: record, checkpoint (memory), forward the head (§5.9).
void MesosSim::Impl::AgentUpdate(Task& task, v1::TaskStatus status) {
  if (!status.uuid) status.uuid = RandomUuidBytes();
  if (task.updates.seen_uuids.contains(*status.uuid)) return;  // duplicates are harmless
  task.updates.seen_uuids.insert(*status.uuid);
  if (!status.agent_id) status.agent_id = v1::AgentID{task.agent_id};
  if (!status.timestamp) status.timestamp = WallNow();
  if (!status.executor_id && status.source != v1::TaskSource::kMaster) status.executor_id = v1::ExecutorID{task.executor_id};
  task.state = status.state;
  if (v1::IsTerminal(status.state)) task.resources_released = true;
  task.updates.pending.push_back(std::move(status));
  if (task.updates.pending.size() == 1) {
    task.updates.interval = options_.update_retry_interval;
    ForwardHead(task, SteadyClock::now());
  }
}

void MesosSim::Impl::ForwardHead(Task& task, Time now) {
  task.updates.next_retry = now + task.updates.interval;
  auto fw = frameworks_.find(task.framework_id);
  if (fw == frameworks_.end() || task.updates.pending.empty()) return;
  sched::Event event;
  event.type = sched::EventType::kUpdate;
  event.update.emplace().status = task.updates.pending.front();
  SendEvent(*fw->second, event);
}

// §6.6 step 8 and §5.7 FAILURE.
void MesosSim::Impl::ExecutorExited(const std::string& agent_id, const std::string& framework_id,
                                    const std::string& executor_id, int pid, int wait_status) {
  std::lock_guard lock(mu_);
  if (stopping_) return;
  Agent* agent = FindAgent(agent_id);
  if (agent == nullptr) return;
  auto it = agent->executors.find({framework_id, executor_id});
  if (it == agent->executors.end() || it->second->pid != pid) return;
  ExecutorRun& run = *it->second;
  run.state = ExecutorRun::State::kTerminated;
  if (run.stream) run.stream->Close();
  run.stream.reset();
  spdlog::info("mesos-sim: executor {} of {} exited (wait status {})", executor_id, framework_id, wait_status);
  if (!agent->alive) return;
  // The master hears of the exit before the tasks' updates (recorded in
  // test/data/real-mesos/executor-missing.events.json).
  auto fw = frameworks_.find(framework_id);
  if (fw != frameworks_.end()) {
    sched::Event failure;
    failure.type = sched::EventType::kFailure;
    auto& f = failure.failure.emplace();
    f.agent_id = v1::AgentID{agent_id};
    f.executor_id = v1::ExecutorID{executor_id};
    f.status = run.exec_failed ? kExecFailedStatus : wait_status;
    SendEvent(*fw->second, failure);
  }
  v1::TaskReason reason = run.termination_reason.value_or(v1::TaskReason::kExecutorTerminated);
  for (auto& [key, task] : tasks_) {
    if (task->framework_id != framework_id || task->executor_id != executor_id || task->agent_id != agent_id) continue;
    if (v1::IsTerminal(task->state)) continue;
    v1::TaskStatus s;
    s.task_id = task->info.task_id;
    s.state = v1::TaskState::kFailed;
    s.source = v1::TaskSource::kAgent;
    s.reason = reason;
    s.message = reason == v1::TaskReason::kExecutorRegistrationTimeout
                    ? "Executor did not register within " + FormatMesosDuration(options_.executor_registration_timeout)
                    : "Executor terminated";
    s.executor_id = v1::ExecutorID{executor_id};
    AgentUpdate(*task, s);
  }
}

// §6.9: SHUTDOWN event, then SIGKILL after the grace period.
void MesosSim::Impl::ShutdownExecutor(ExecutorRun& run, Time now) {
  if (run.state == ExecutorRun::State::kTerminated || run.state == ExecutorRun::State::kTerminating) return;
  bool subscribed = run.state == ExecutorRun::State::kRunning && run.stream;
  run.state = ExecutorRun::State::kTerminating;
  if (subscribed) {
    exec::Event shutdown;
    shutdown.type = exec::EventType::kShutdown;
    SendExecutorEvent(run, shutdown);
    Duration grace = run.info.shutdown_grace_period_nanoseconds ? Duration(*run.info.shutdown_grace_period_nanoseconds)
                                                                : Duration(options_.executor_shutdown_grace_period);
    run.kill_at = now + std::chrono::duration_cast<SteadyClock::duration>(grace);
  } else {
    run.kill_at = now;
  }
}

// The agent dies: its executors are killed, its offers rescinded, its tasks lost (or
// unreachable for partition-aware frameworks), and every framework hears FAILURE.
void MesosSim::Impl::KillAgent(Agent& agent) {
  if (!agent.alive) return;
  agent.alive = false;
  spdlog::warn("mesos-sim: killing agent {}", agent.id);
  for (auto& [key, run] : agent.executors) {
    if (run->pid > 0 && run->state != ExecutorRun::State::kTerminated) ::kill(-run->pid, SIGKILL);
    if (run->stream) run->stream->Close();
  }
  for (auto& [id, fw] : frameworks_) {
    RescindOffers(*fw, true, [&](const OfferRecord& offer) { return offer.offer.agent_id.value == agent.id; });
  }
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    Task& task = *it->second;
    auto fw = frameworks_.find(task.framework_id);
    if (task.agent_id != agent.id || fw == frameworks_.end()) {
      ++it;
      continue;
    }
    if (!v1::IsTerminal(task.state)) {
      v1::TaskStatus s;
      s.task_id = task.info.task_id;
      s.state = LostState(*fw->second, v1::TaskState::kUnreachable);
      s.agent_id = v1::AgentID{agent.id};
      s.reason = v1::TaskReason::kAgentRemoved;
      s.message = "Agent " + options_.hostname + " is unreachable";
      if (s.state == v1::TaskState::kUnreachable) {
        s.unreachable_time_nanoseconds = static_cast<std::int64_t>(WallNow() * 1e9);
      }
      SendMasterUpdate(*fw->second, s);
    }
    fw->second->task_ids.erase(task.info.task_id.value);
    it = tasks_.erase(it);
  }
  for (auto& [id, fw] : frameworks_) {
    sched::Event failure;
    failure.type = sched::EventType::kFailure;
    failure.failure.emplace().agent_id = v1::AgentID{agent.id};
    SendEvent(*fw, failure);
  }
}

}  // namespace factorial::sim
