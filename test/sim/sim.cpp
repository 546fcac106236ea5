// mesos-sim's lifecycle: the work directory, the master and agent servers, the clock thread
// that drives time (heartbeats, allocation, update retries, timeouts), and the public wrapper.

#include "sim.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <thread>

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include "impl.hpp"

namespace factorial::sim {

namespace fs = std::filesystem;

namespace {

// Runs `server`'s accept loop on a thread of its own and returns once the loop has begun.
// cpp-httplib 0.11's stop() closes the listening socket only while is_running(), a flag the
// loop sets when it starts (and clears when it ends), and does nothing before: a Stop that came
// before the thread got going would leave the loop accepting forever, and ~MesosSim hanging
// in its join. Once the flag is set a stop always ends the loop, even before its first accept
// (it checks the socket first). Polled: the library has no notice of it.
std::thread Listen(httplib::Server& server) {
  auto ended = std::make_shared<std::atomic<bool>>(false);  // a loop that ended at once
  std::thread thread([&server, ended] {
    server.listen_after_bind();
    *ended = true;
  });
  while (!server.is_running() && !*ended) std::this_thread::sleep_for(std::chrono::microseconds(100));
  return thread;
}

}  // namespace

MesosSim::Impl::Impl(SimOptions options) : options_(std::move(options)) {
  std::uint64_t seed = options_.seed != 0 ? options_.seed : std::random_device{}();
  rng_.seed(seed);
  master_id_ = RandomIdText();
}

std::string MesosSim::Impl::master_url(int i) const {
  return "http://" + options_.ip + ":" + std::to_string(master_ports_.at(static_cast<std::size_t>(i)));
}

std::string MesosSim::Impl::agent_url(int i) const {
  return "http://" + options_.ip + ":" + std::to_string(agents_.at(static_cast<std::size_t>(i))->port);
}

std::string MesosSim::Impl::RandomIdText() {
  std::uniform_int_distribution<int> hex(0, 15);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) s.push_back('-');
    s.push_back(kHex[hex(rng_)]);
  }
  s[14] = '4';
  return s;
}

// ---- lifecycle -------------------------------------------------------------------------

void MesosSim::Impl::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  MakeWorkDir();
  for (int i = 0; i < std::max(1, options_.masters); ++i) {
    auto server = MakeServer();
    InstallMasterRoutes(*server, i);
    int port = Bind(*server, i == 0 ? options_.port : 0);
    if (port <= 0) throw std::runtime_error("cannot bind a master port on " + options_.ip);
    master_ports_.push_back(port);
    master_servers_.push_back(std::move(server));
  }
  for (int i = 0; i < options_.agents; ++i) AddAgent(i);
  for (auto& server : master_servers_) master_threads_.push_back(Listen(*server));
  for (auto& agent : agents_) agent->thread = Listen(*agent->server);
  fail_calls_remaining_ = options_.fail_calls;
  fail_calls_status_ = options_.fail_status;
  fail_calls_type_ = options_.fail_call_type;
  response_delay_ = options_.response_delay;
  if (options_.stall_heartbeats) heartbeats_stalled_until_ = SteadyClock::time_point::max();
  next_allocation_ = SteadyClock::now() + options_.allocation_interval;
  next_executor_heartbeat_ = SteadyClock::now() + options_.executor_heartbeat_interval;
  ticker_ = std::thread([this] { TickLoop(); });
  spdlog::info("mesos-sim: master {} at {} with {} agent(s), work dir {}", master_id_, master_url(0),
               agents_.size(), work_dir_);
}

void MesosSim::Impl::MakeWorkDir() {
  if (options_.work_dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "mesos-sim-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    work_dir_ = buf.data();
    owns_work_dir_ = true;
  } else {
    work_dir_ = fs::absolute(options_.work_dir).string();
    fs::create_directories(work_dir_);
  }
}

std::unique_ptr<httplib::Server> MesosSim::Impl::MakeServer() const {
  auto server = std::make_unique<httplib::Server>();
  // Each open stream holds a worker thread: size the pool for >= 200 subscribers.
  server->new_task_queue = [] { return new httplib::ThreadPool(320); };
  server->set_keep_alive_max_count(100000);
  server->set_keep_alive_timeout(75);
  server->set_read_timeout(75, 0);
  server->set_payload_max_length(64u << 20);
  return server;
}

// Returns the bound port, or <= 0. Debian's cpp-httplib listens with a backlog of 5 (compiled
// into the library): 200 simultaneous connects would overflow it and wait out SYN retries for
// seconds. Listening again on the socket raises the backlog (Linux); the socket-options hook
// gives us the fd.
int MesosSim::Impl::Bind(httplib::Server& server, int port) const {
  auto fd = std::make_shared<int>(-1);
  server.set_socket_options([fd](socket_t sock) {
    httplib::default_socket_options(sock);
    *fd = sock;
  });
  int bound = port != 0 ? (server.bind_to_port(options_.ip, port) ? port : -1) : server.bind_to_any_port(options_.ip);
  if (bound > 0 && *fd >= 0) ::listen(*fd, SOMAXCONN);
  return bound;
}

void MesosSim::Impl::AddAgent(int index) {
  auto agent = std::make_unique<Agent>();
  agent->index = index;
  agent->id = master_id_ + "-S" + std::to_string(index);
  const AgentResources& resources = static_cast<std::size_t>(index) < options_.agent_resources.size()
                                        ? options_.agent_resources[static_cast<std::size_t>(index)]
                                        : options_.resources;
  agent->total.cpus = resources.cpus;
  agent->total.mem = resources.mem;
  agent->total.disk = resources.disk;
  if (resources.ports_end >= resources.ports_begin && resources.ports_end > 0) {
    agent->total.ports = {{resources.ports_begin, resources.ports_end}};
  }
  agent->server = MakeServer();
  InstallAgentRoutes(*agent->server, *agent);
  agent->port = Bind(*agent->server, 0);
  if (agent->port <= 0) throw std::runtime_error("cannot bind an agent port");
  agents_.push_back(std::move(agent));
}

void MesosSim::Impl::Stop() {
  std::vector<int> pids;
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
    for (auto& agent : agents_) {
      for (auto& [key, run] : agent->executors) {
        if (run->pid > 0 && run->state != ExecutorRun::State::kTerminated) pids.push_back(run->pid);
        if (run->stream) run->stream->Close();
      }
    }
    for (auto& [id, fw] : frameworks_) {
      if (fw->stream) fw->stream->Close();
    }
    tick_cv_.notify_all();
  }
  for (int pid : pids) ::kill(-pid, SIGKILL);  // each executor leads its own process group
  if (ticker_.joinable()) ticker_.join();
  for (auto& server : master_servers_) server->stop();
  for (auto& agent : agents_) agent->server->stop();
  for (auto& t : master_threads_) {
    if (t.joinable()) t.join();
  }
  for (auto& agent : agents_) {
    if (agent->thread.joinable()) agent->thread.join();
  }
  for (auto& t : waiters_) {
    if (t.joinable()) t.join();
  }
  if (owns_work_dir_) {
    std::error_code ec;
    fs::remove_all(work_dir_, ec);
  }
}

Agent* MesosSim::Impl::FindAgent(const std::string& id) {
  for (auto& agent : agents_) {
    if (agent->id == id) return agent.get();
  }
  return nullptr;
}

// ---- clock -----------------------------------------------------------------------------

void MesosSim::Impl::TickLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Tick();
    tick_cv_.wait_for(lock, Millis(20));  // 20 ms resolution; sleeps, never spins
  }
}

void MesosSim::Impl::Tick() {
  Time now = SteadyClock::now();
  SendHeartbeats(now);
  if (now >= next_allocation_) {
    Allocate(now);
    next_allocation_ = now + options_.allocation_interval;
  } else if (allocate_soon_) {
    Allocate(now);  // keeps the periodic phase, as the allocator's batch timer does
  }
  allocate_soon_ = false;
  ExpireOffers(now);
  RetryUpdates(now);
  ExpireFrameworks(now);
  EnforceExecutorDeadlines(now);
}

// Master to scheduler every --heartbeat_interval (§5.8); agent to executor every 30 min (§6.4).
void MesosSim::Impl::SendHeartbeats(Time now) {
  bool stalled = heartbeats_stalled_until_ && now < *heartbeats_stalled_until_;
  for (auto& [id, fw] : frameworks_) {
    if (!fw->connected || now < fw->next_heartbeat) continue;
    if (!stalled) {
      sched::Event heartbeat;
      heartbeat.type = sched::EventType::kHeartbeat;
      SendEvent(*fw, heartbeat);
    }
    fw->next_heartbeat = now + options_.heartbeat_interval;
  }
  if (now >= next_executor_heartbeat_) {
    exec::Event heartbeat;
    heartbeat.type = exec::EventType::kHeartbeat;
    for (auto& agent : agents_) {
      for (auto& [key, run] : agent->executors) SendExecutorEvent(*run, heartbeat);
    }
    next_executor_heartbeat_ = now + options_.executor_heartbeat_interval;
  }
}

// Status update retries, the interval doubling to the cap (§5.9).
void MesosSim::Impl::RetryUpdates(Time now) {
  for (auto& [key, task] : tasks_) {
    auto& q = task->updates;
    if (q.pending.empty() || now < q.next_retry) continue;
    auto fw = frameworks_.find(task->framework_id);
    if (fw == frameworks_.end() || !fw->second->connected) continue;
    q.interval = std::min(Millis(q.interval.count() * 2), options_.update_retry_max);
    ForwardHead(*task, now);
  }
}

// A framework disconnected for longer than its failover_timeout is removed (§5.8).
void MesosSim::Impl::ExpireFrameworks(Time now) {
  std::vector<Framework*> expired;
  for (auto& [id, fw] : frameworks_) {
    if (!fw->connected && fw->failover_deadline && now >= *fw->failover_deadline) expired.push_back(fw.get());
  }
  for (Framework* fw : expired) {
    spdlog::info("mesos-sim: framework {} failover timeout expired; removing it", fw->id);
    RemoveFramework(*fw);
  }
}

// An executor that did not subscribe in --executor_registration_timeout, or outlived its
// shutdown grace period, is killed (§6.6, §6.9).
void MesosSim::Impl::EnforceExecutorDeadlines(Time now) {
  for (auto& agent : agents_) {
    for (auto& [key, run] : agent->executors) {
      if (run->state == ExecutorRun::State::kLaunching && now >= run->registration_deadline) {
        run->termination_reason = v1::TaskReason::kExecutorRegistrationTimeout;
        run->state = ExecutorRun::State::kTerminating;
        run->kill_at = now;
      }
      if (run->kill_at && now >= *run->kill_at && run->pid > 0 && run->state != ExecutorRun::State::kTerminated) {
        ::kill(-run->pid, SIGKILL);
        run->kill_at.reset();
      }
    }
  }
}

// ---- public wrapper ----------------------------------------------------------------------

MesosSim::MesosSim(SimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
MesosSim::~MesosSim() = default;
void MesosSim::Start() { impl_->Start(); }
void MesosSim::Stop() { impl_->Stop(); }
std::string MesosSim::master_url(int index) const { return impl_->master_url(index); }
std::string MesosSim::agent_url(int index) const { return impl_->agent_url(index); }
std::string MesosSim::work_dir() const { return impl_->work_dir(); }

}  // namespace factorial::sim
