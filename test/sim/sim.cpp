#include "sim.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "factorial/base64.hpp"
#include "factorial/duration.hpp"
#include "factorial/messages.hpp"
#include "factorial/recordio.hpp"
#include "factorial/uuid.hpp"

namespace factorial::sim {
namespace {

namespace fs = std::filesystem;
namespace sched = v1::scheduler;
namespace exec = v1::executor;
using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using Time = SteadyClock::time_point;
using Millis = std::chrono::milliseconds;

constexpr const char* kJson = "application/json";
constexpr const char* kProtobuf = "application/x-protobuf";
constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kVersion = "1.12.0";

double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string HttpDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// Plain-text error answers, as libprocess renders them (§1.3).
void Text(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_header("Date", HttpDate());
  res.set_content(body, kText);
}

// §1.2: anything but POST is 405 with Allow: POST (real-mesos/err-get-method.*).
// A POST route whose body is read only when the request announces one. httplib otherwise
// reads a POST without Content-Length or chunked encoding until the peer closes (a `curl -X
// POST` without data hung for 75 s); HTTP/1.1, and Mesos, take it as an empty body.
void PostRoute(httplib::Server& server, const std::string& pattern,
               std::function<void(const httplib::Request&, httplib::Response&)> handler) {
  server.Post(pattern, [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res,
                                                      const httplib::ContentReader& read) {
    httplib::Request with_body = req;
    if (req.has_header("Content-Length") || req.has_header("Transfer-Encoding")) {
      read([&](const char* data, std::size_t size) {
        with_body.body.append(data, size);
        return true;
      });
    }
    handler(with_body, res);
  });
}

void NotAllowed(const httplib::Request& req, httplib::Response& res) {
  res.set_header("Allow", "POST");
  Text(res, 405, "405 Method Not Allowed. Expecting one of { 'POST' }, but received '" + req.method + "'.");
}

void Accepted(httplib::Response& res) {
  res.status = 202;
  res.set_header("Date", HttpDate());
  res.set_header("Content-Length", "0");
}

// libprocess Request::acceptsMediaType (§1.4): JSON is acceptable iff the most specific
// matching entry of `Accept` has q > 0; no header accepts everything.
bool AcceptsJson(const httplib::Request& req) {
  if (!req.has_header("Accept")) return true;
  std::string accept = req.get_header_value("Accept");
  int best_rank = -1;
  double best_q = 0;
  std::stringstream entries(accept);
  std::string entry;
  while (std::getline(entries, entry, ',')) {
    std::string type = entry.substr(0, entry.find(';'));
    type.erase(0, type.find_first_not_of(" \t"));
    type.erase(type.find_last_not_of(" \t") + 1);
    double q = 1;
    if (auto qpos = entry.find("q="); qpos != std::string::npos) q = std::atof(entry.c_str() + qpos + 2);
    int rank = type == kJson ? 2 : type == "application/*" ? 1 : type == "*/*" ? 0 : -1;
    if (rank > best_rank) {
      best_rank = rank;
      best_q = q;
    }
  }
  return best_rank >= 0 && best_q > 0;
}

// picojson-style syntax error text: "syntax error at line N near: <rest of input>" (§5.3 6b,
// recorded in real-mesos/err-bad-json.body).
std::string JsonSyntaxError(const std::string& body) {
  std::size_t position = body.size();
  try {
    json parsed = json::parse(body);
    static_cast<void>(parsed);
  } catch (const json::parse_error& e) {
    position = e.byte == 0 ? 0 : std::min(body.size(), static_cast<std::size_t>(e.byte - 1));
  } catch (const json::exception&) {
  }
  // picojson stops at the first character that cannot start or continue the current token.
  std::size_t token = position;
  while (token > 0 && std::isalpha(static_cast<unsigned char>(body[token - 1]))) --token;
  if (token < position) position = token + 1 < body.size() && body[token] == 'n' ? token + 1 : token;
  int line = 1 + static_cast<int>(std::count(body.begin(), body.begin() + static_cast<long>(position), '\n'));
  return "syntax error at line " + std::to_string(line) + " near: " + body.substr(position);
}

// ---- Resources -------------------------------------------------------------------------

struct Res {
  double cpus = 0, mem = 0, disk = 0;
  std::vector<v1::Range> ports;

  static Res From(const std::vector<v1::Resource>& resources) {
    Res r;
    for (const auto& x : resources) {
      if (x.name == "cpus" && x.scalar) r.cpus += *x.scalar;
      if (x.name == "mem" && x.scalar) r.mem += *x.scalar;
      if (x.name == "disk" && x.scalar) r.disk += *x.scalar;
      if (x.name == "ports" && x.ranges) {
        for (const auto& range : *x.ranges) r.ports.push_back(range);
      }
    }
    return r;
  }
  static std::uint64_t Count(const std::vector<v1::Range>& ranges) {
    std::uint64_t n = 0;
    for (const auto& r : ranges) n += r.end - r.begin + 1;
    return n;
  }
  static bool PortIn(const std::vector<v1::Range>& ranges, std::uint64_t p) {
    return std::any_of(ranges.begin(), ranges.end(), [p](const v1::Range& r) { return p >= r.begin && p <= r.end; });
  }
  // Mesos keeps three decimal digits of precision (§4.4).
  static bool Le(double a, double b) { return std::llround(a * 1000) <= std::llround(b * 1000); }
  bool Contains(const Res& o) const {
    if (!Le(o.cpus, cpus) || !Le(o.mem, mem) || !Le(o.disk, disk)) return false;
    for (const auto& r : o.ports) {
      for (std::uint64_t p = r.begin; p <= r.end; ++p) {
        if (!PortIn(ports, p)) return false;
      }
    }
    return true;
  }
  void Add(const Res& o) {
    cpus += o.cpus;
    mem += o.mem;
    disk += o.disk;
    ports.insert(ports.end(), o.ports.begin(), o.ports.end());
    Normalize();
  }
  void Subtract(const Res& o) {
    cpus = std::max(0.0, cpus - o.cpus);
    mem = std::max(0.0, mem - o.mem);
    disk = std::max(0.0, disk - o.disk);
    std::vector<v1::Range> out;
    for (const auto& r : ports) {
      std::uint64_t start = r.begin;
      for (std::uint64_t p = r.begin; p <= r.end + 1; ++p) {
        bool removed = p <= r.end && PortIn(o.ports, p);
        if (p == r.end + 1 || removed) {
          if (p > start) out.push_back({start, p - 1});
          start = p + 1;
        }
      }
    }
    ports = out;
    Normalize();
  }
  void Normalize() {
    std::sort(ports.begin(), ports.end(), [](auto& a, auto& b) { return a.begin < b.begin; });
    std::vector<v1::Range> merged;
    for (const auto& r : ports) {
      if (!merged.empty() && r.begin <= merged.back().end + 1) {
        merged.back().end = std::max(merged.back().end, r.end);
      } else {
        merged.push_back(r);
      }
    }
    ports = merged;
    cpus = std::round(cpus * 1000) / 1000;
    mem = std::round(mem * 1000) / 1000;
    disk = std::round(disk * 1000) / 1000;
  }
  // --min_allocatable_resources default "cpus:0.01|mem:32".
  bool Allocatable() const { return cpus >= 0.01 || mem >= 32; }
  bool Empty() const { return cpus <= 0 && mem <= 0 && disk <= 0 && ports.empty(); }

  // Offered form: pre-refinement "role" on each resource; allocation_info for MULTI_ROLE (§4.3).
  std::vector<v1::Resource> ToResources(const std::string& role, bool multi_role) const {
    std::vector<v1::Resource> out;
    auto scalar = [&](const char* name, double v) {
      if (v <= 0) return;
      v1::Resource r;
      r.name = name;
      r.type = v1::ValueType::kScalar;
      r.scalar = v;
      r.role = "*";
      if (multi_role) r.allocation_role = role;
      out.push_back(r);
    };
    scalar("cpus", cpus);
    scalar("mem", mem);
    scalar("disk", disk);
    if (!ports.empty()) {
      v1::Resource r;
      r.name = "ports";
      r.type = v1::ValueType::kRanges;
      r.ranges = ports;
      r.role = "*";
      if (multi_role) r.allocation_role = role;
      out.push_back(r);
    }
    return out;
  }
  std::string ToString() const {
    std::ostringstream s;
    s << "cpus:" << cpus << "; mem:" << mem << "; disk:" << disk;
    return s.str();
  }
};

// ---- Streams ---------------------------------------------------------------------------

// One open event stream. Producers append whole records under the sim lock; the HTTP thread
// that owns the response drains it. Never lock the sim mutex while holding `mu`.
struct Stream {
  std::mutex mu;
  std::condition_variable cv;
  std::string buffer;
  bool closed = false;     // the sim ended it (EOF after the buffer drains)
  bool client_gone = false;

  void PushRecord(const std::string& payload) {
    std::lock_guard lock(mu);
    if (closed) return;
    AppendRecord(payload, &buffer);
    cv.notify_all();
  }
  void PushRaw(const std::string& bytes) {
    std::lock_guard lock(mu);
    if (closed) return;
    buffer += bytes;
    cv.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu);
    closed = true;
    cv.notify_all();
  }
};

// ---- State -----------------------------------------------------------------------------

struct UpdateQueue {  // the agent's status update manager for one task (§5.9)
  std::deque<v1::TaskStatus> pending;  // front: forwarded, awaiting ACKNOWLEDGE
  std::set<std::string> seen_uuids;
  Time next_retry{};
  Millis interval{0};
};

struct Task {
  v1::TaskInfo info;
  std::string framework_id;
  std::string agent_id;
  std::string executor_id;
  v1::TaskState state = v1::TaskState::kStaging;  // latest state the master knows
  bool delivered = false;                         // LAUNCH sent to the executor
  bool resources_released = false;
  Res resources;
  UpdateQueue updates;
};

struct ExecutorRun {
  std::string framework_id;
  std::string executor_id;
  std::string agent_id;
  v1::ExecutorInfo info;
  std::string container_id;
  std::string sandbox;
  int pid = -1;
  enum class State { kLaunching, kRunning, kTerminating, kTerminated } state = State::kLaunching;
  bool ever_subscribed = false;
  std::shared_ptr<Stream> stream;
  std::vector<std::string> queued;  // task ids waiting for SUBSCRIBE
  Res resources;
  Time registration_deadline{};
  std::optional<v1::TaskReason> termination_reason;
  std::optional<Time> kill_at;  // SIGKILL after the shutdown grace period
};

struct OfferRecord {
  v1::Offer offer;
  Res resources;
  Time created{};
};

struct RefusedFilter {
  Res refused;
  Time until{};
};

struct Framework {
  std::string id;
  v1::FrameworkInfo info;
  std::shared_ptr<Stream> stream;
  std::string stream_id;
  bool connected = false;
  std::optional<Time> failover_deadline;
  std::set<std::string> suppressed_roles;
  // (agent, role) -> refused resources and until when. As in Mesos' allocator, a filter only
  // holds back an offer whose resources it contains; anything more (a task finished) is offered.
  std::map<std::pair<std::string, std::string>, std::vector<RefusedFilter>> filters;
  std::map<std::string, OfferRecord> offers;
  std::set<std::string> task_ids;
  Time next_heartbeat{};
  bool removed = false;

  bool partition_aware() const { return v1::HasCapability(info, v1::FrameworkCapability::kPartitionAware); }
  bool multi_role() const { return v1::HasCapability(info, v1::FrameworkCapability::kMultiRole); }
  std::vector<std::string> roles() const {
    if (multi_role()) return info.roles.empty() ? std::vector<std::string>{"*"} : info.roles;
    return {info.role.value_or("*")};
  }
};

struct Agent {
  std::string id;
  int index = 0;
  int port = 0;
  bool alive = true;
  Res total;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<ExecutorRun>> executors;
};

struct LaunchRecord {
  std::string offer_ids;
  std::string agent_id;
  std::string task_id;
  double cpus = 0, mem = 0;
  bool new_executor = false;
};

}  // namespace

class MesosSim::Impl {
 public:
  explicit Impl(SimOptions options) : options_(std::move(options)) {
    std::uint64_t seed = options_.seed != 0 ? options_.seed : std::random_device{}();
    rng_.seed(seed);
    master_id_ = RandomIdText();
  }

  ~Impl() { Stop(); }

  void Start();
  void Stop();
  std::string master_url(int i) const { return "http://" + options_.ip + ":" + std::to_string(master_ports_.at(static_cast<std::size_t>(i))); }
  std::string agent_url(int i) const { return "http://" + options_.ip + ":" + std::to_string(agents_.at(static_cast<std::size_t>(i))->port); }
  std::string work_dir() const { return work_dir_; }

 private:
  // --- ids
  std::string RandomIdText() {
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

  // --- HTTP plumbing
  void InstallMasterRoutes(httplib::Server& server, int index);
  void InstallAgentRoutes(httplib::Server& server, Agent& agent);
  void HandleScheduler(int master_index, const httplib::Request& req, httplib::Response& res);
  void FailCall(httplib::Response& res);
  void HandleExecutor(Agent& agent, const httplib::Request& req, httplib::Response& res);
  void HandleControl(const httplib::Request& req, httplib::Response& res);
  void ServeStream(httplib::Response& res, std::shared_ptr<Stream> stream, std::function<void()> on_close,
                   const std::string& stream_id);

  // --- master
  void Subscribe(const sched::Call& call, httplib::Response& res);
  void Teardown(Framework& fw);
  void Accept(Framework& fw, const sched::Call::Accept& accept);
  void Decline(Framework& fw, const std::vector<v1::OfferID>& ids, const std::optional<v1::Filters>& filters);
  void Kill(Framework& fw, const sched::Call::Kill& kill);
  void Acknowledge(Framework& fw, const sched::Call::Acknowledge& ack);
  void Reconcile(Framework& fw, const sched::Call::Reconcile& reconcile);
  void ShutdownExecutorCall(Framework& fw, const sched::Call::Shutdown& shutdown);
  void SendEvent(Framework& fw, const sched::Event& event);
  void SendMasterUpdate(Framework& fw, v1::TaskStatus status);
  void RemoveFramework(Framework& fw);
  void DisconnectFramework(Framework& fw);
  void RescindOffer(Framework& fw, const std::string& offer_id, bool send_event);
  void Allocate(Time now);
  Res Available(const Agent& agent) const;
  v1::TaskState LostState(const Framework& fw, v1::TaskState partition_aware_state) const {
    return fw.partition_aware() ? partition_aware_state : v1::TaskState::kLost;
  }

  // --- agent
  std::shared_ptr<ExecutorRun> LaunchExecutor(Agent& agent, Framework& fw, const v1::ExecutorInfo& info,
                                              std::string* error);
  void DeliverTask(Task& task, ExecutorRun& run);
  void AgentUpdate(Task& task, v1::TaskStatus status);
  void ForwardHead(Task& task, Time now);
  void ExecutorExited(const std::string& agent_id, const std::string& framework_id,
                      const std::string& executor_id, int pid, int wait_status);
  void ShutdownExecutor(ExecutorRun& run, Time now);
  void KillAgent(Agent& agent);
  void SendExecutorEvent(ExecutorRun& run, const exec::Event& event);
  Agent* FindAgent(const std::string& id);

  // --- clock
  void Tick();
  void TickLoop();

  SimOptions options_;
  std::mt19937_64 rng_;
  std::string master_id_;
  std::string work_dir_;
  bool owns_work_dir_ = false;

  mutable std::mutex mu_;
  std::condition_variable tick_cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::thread ticker_;

  std::vector<std::unique_ptr<httplib::Server>> master_servers_;
  std::vector<std::thread> master_threads_;
  std::vector<int> master_ports_;
  int leader_ = 0;  // -1: no leader elected
  std::vector<std::unique_ptr<Agent>> agents_;

  std::map<std::string, std::unique_ptr<Framework>> frameworks_;
  std::set<std::string> completed_frameworks_;
  std::map<std::string, std::unique_ptr<Task>> tasks_;  // key: framework id + '/' + task id
  int framework_counter_ = 0;
  int offer_counter_ = 0;
  int container_counter_ = 0;
  std::size_t allocation_cursor_ = 0;
  Time next_allocation_{};
  // Mesos' allocator also allocates at once (between its periodic cycles) when a framework
  // subscribes or revives; a finished task's resources wait for the next periodic cycle.
  bool allocate_soon_ = false;
  Time next_executor_heartbeat_{};

  // Faults.
  int fail_calls_remaining_ = 0;
  std::atomic<int> corrupt_downloads_{0};  // fault: flip a byte in the next N file downloads
  int fail_calls_status_ = 500;
  std::string fail_calls_type_;  // empty: any call, checked before the request is read
  Millis response_delay_{0};
  std::optional<Time> heartbeats_stalled_until_;

  std::vector<LaunchRecord> launches_;
  std::vector<std::string> calls_log_;  // every scheduler call body accepted (202/200)
  std::vector<std::thread> waiters_;
};

// ---- lifecycle -------------------------------------------------------------------------

void MesosSim::Impl::Start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
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
  auto make_server = [] {
    auto server = std::make_unique<httplib::Server>();
    // Each open stream holds a worker thread: size the pool for >= 200 subscribers.
    server->new_task_queue = [] { return new httplib::ThreadPool(320); };
    server->set_keep_alive_max_count(100000);
    server->set_keep_alive_timeout(75);
    server->set_read_timeout(75, 0);
    server->set_payload_max_length(64u << 20);
    return server;
  };
  // Debian's cpp-httplib listens with a backlog of 5 (compiled into the library): 200
  // simultaneous connects would overflow it and wait out SYN retries for seconds. Listening
  // again on the socket raises the backlog (Linux); the socket-options hook gives us the fd.
  auto bind = [this](httplib::Server& server, int port) {
    auto fd = std::make_shared<int>(-1);
    server.set_socket_options([fd](socket_t sock) {
      httplib::default_socket_options(sock);
      *fd = sock;
    });
    int bound = port != 0 ? (server.bind_to_port(options_.ip, port) ? port : -1) : server.bind_to_any_port(options_.ip);
    if (bound > 0 && *fd >= 0) ::listen(*fd, SOMAXCONN);
    return bound;
  };
  for (int i = 0; i < std::max(1, options_.masters); ++i) {
    auto server = make_server();
    InstallMasterRoutes(*server, i);
    int port = bind(*server, i == 0 ? options_.port : 0);
    if (port <= 0) throw std::runtime_error("cannot bind a master port on " + options_.ip);
    master_ports_.push_back(port);
    master_servers_.push_back(std::move(server));
  }
  for (int i = 0; i < options_.agents; ++i) {
    auto agent = std::make_unique<Agent>();
    agent->index = i;
    agent->id = master_id_ + "-S" + std::to_string(i);
    agent->total.cpus = options_.resources.cpus;
    agent->total.mem = options_.resources.mem;
    agent->total.disk = options_.resources.disk;
    if (options_.resources.ports_end >= options_.resources.ports_begin && options_.resources.ports_end > 0) {
      agent->total.ports = {{options_.resources.ports_begin, options_.resources.ports_end}};
    }
    agent->server = make_server();
    InstallAgentRoutes(*agent->server, *agent);
    agent->port = bind(*agent->server, 0);
    if (agent->port <= 0) throw std::runtime_error("cannot bind an agent port");
    agents_.push_back(std::move(agent));
  }
  for (std::size_t i = 0; i < master_servers_.size(); ++i) {
    master_threads_.emplace_back([server = master_servers_[i].get()] { server->listen_after_bind(); });
  }
  for (auto& agent : agents_) {
    agent->thread = std::thread([server = agent->server.get()] { server->listen_after_bind(); });
  }
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

// ---- HTTP plumbing ---------------------------------------------------------------------

void MesosSim::Impl::ServeStream(httplib::Response& res, std::shared_ptr<Stream> stream,
                                 std::function<void()> on_close, const std::string& stream_id) {
  res.status = 200;
  res.set_header("Date", HttpDate());
  if (!stream_id.empty()) res.set_header("Mesos-Stream-Id", stream_id);
  res.set_chunked_content_provider(
      kJson,
      [stream](std::size_t, httplib::DataSink& sink) {
        std::unique_lock lock(stream->mu);
        stream->cv.wait_for(lock, Millis(250), [&] { return !stream->buffer.empty() || stream->closed; });
        if (!stream->buffer.empty()) {
          std::string out;
          out.swap(stream->buffer);
          lock.unlock();
          if (!sink.write(out.data(), out.size())) {
            std::lock_guard again(stream->mu);
            stream->client_gone = true;
            return false;
          }
          return true;
        }
        if (stream->closed) {
          lock.unlock();
          sink.done();
          return true;
        }
        return sink.is_writable();
      },
      [stream, on_close = std::move(on_close)](bool) {
        {
          std::lock_guard lock(stream->mu);
          stream->client_gone = true;
          stream->closed = true;
        }
        on_close();
      });
}

void MesosSim::Impl::InstallMasterRoutes(httplib::Server& server, int index) {
  for (const char* path : {"/api/v1/scheduler", "/master/api/v1/scheduler"}) {
    PostRoute(server, path, [this, index](const httplib::Request& req, httplib::Response& res) {
      HandleScheduler(index, req, res);
    });
    server.Get(path, NotAllowed);
    server.Put(path, NotAllowed);
    server.Delete(path, NotAllowed);
    server.Patch(path, NotAllowed);
  }
  server.Get("/version", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Date", HttpDate());
    res.set_content(json{{"version", kVersion}, {"build_user", "mesos-sim"}}.dump(), kJson);
  });
  PostRoute(server, R"(/sim/(.*))", [this](const httplib::Request& req, httplib::Response& res) { HandleControl(req, res); });
  server.Get(R"(/sim/(.*))", [this](const httplib::Request& req, httplib::Response& res) { HandleControl(req, res); });
}

// ---- scheduler API (§5) -----------------------------------------------------------------

// The fail-calls fault's answer. 400 is what a master says to a call it refuses outright
// (one naming a framework it no longer knows answers "Framework cannot be found", §5.3).
void MesosSim::Impl::FailCall(httplib::Response& res) {
  switch (fail_calls_status_) {
    case 503: return Text(res, 503, "Service Unavailable");
    case 400: return Text(res, 400, "Framework cannot be found");
    default: return Text(res, fail_calls_status_, "Internal Server Error");
  }
}

void MesosSim::Impl::HandleScheduler(int master_index, const httplib::Request& req, httplib::Response& res) {
  Millis delay{0};
  {
    std::lock_guard lock(mu_);
    delay = response_delay_;
  }
  if (delay.count() > 0) std::this_thread::sleep_for(delay);  // fault: slow master

  std::unique_lock lock(mu_);
  // §5.3 step 2: a non-leading master redirects to the leader, or 503 without one.
  if (leader_ != master_index) {
    if (leader_ < 0) return Text(res, 503, "No leader elected");
    res.status = 307;
    res.set_header("Date", HttpDate());
    res.set_header("Location", "//" + options_.hostname + ":" +
                                   std::to_string(master_ports_.at(static_cast<std::size_t>(leader_))) + req.path);
    res.set_header("Content-Length", "0");
    return;
  }
  if (fail_calls_remaining_ > 0 && fail_calls_type_.empty()) {  // fault: the next N calls fail
    --fail_calls_remaining_;
    return FailCall(res);
  }
  // §5.3 steps 5-6d.
  if (!req.has_header("Content-Type")) return Text(res, 400, "Expecting 'Content-Type' to be present");
  std::string content_type = req.get_header_value("Content-Type");
  if (content_type != kJson) {
    // Protobuf bodies are a documented deviation: answered 415 like an unknown type.
    return Text(res, 415, "Expecting 'Content-Type' of application/json or application/x-protobuf");
  }
  auto parsed = v1::ParseSchedulerCall(req.body);
  if (!parsed.ok()) {
    if (parsed.error().code == Errc::kCorruption) {
      return Text(res, 400, "Failed to parse body into JSON: " + JsonSyntaxError(req.body));
    }
    return Text(res, 400, "Failed to convert JSON into Call protobuf: " + parsed.error().message);
  }
  const sched::Call& call = parsed.value();
  // §5.4 synchronous validation.
  auto invalid = [&](const std::string& why) { Text(res, 400, "Failed to validate scheduler::Call: " + why); };
  if (!call.type) return invalid("Expecting 'type' to be present");
  using T = sched::CallType;
  T type = *call.type;
  if (fail_calls_remaining_ > 0 && sched::Name(type) == fail_calls_type_) {  // fault: the next N of this type fail
    --fail_calls_remaining_;
    return FailCall(res);
  }
  if (type == T::kSubscribe) {
    if (!call.subscribe) return invalid("Expecting 'subscribe' to be present");
    const auto& info_id = call.subscribe->framework_info.id;
    if (call.framework_id.has_value() != info_id.has_value() ||
        (call.framework_id && info_id && call.framework_id->value != info_id->value)) {
      return invalid("'framework_id' differs from 'subscribe.framework_info.id'");
    }
  } else {
    if (!call.framework_id) return invalid("Expecting 'framework_id' to be present");
    auto need = [&](bool present, const char* name) {
      if (!present) invalid(std::string("Expecting '") + name + "' to be present");
      return present;
    };
    switch (type) {
      case T::kAccept: if (!need(call.accept.has_value(), "accept")) return; break;
      case T::kDecline: if (!need(call.decline.has_value(), "decline")) return; break;
      case T::kKill: if (!need(call.kill.has_value(), "kill")) return; break;
      case T::kShutdown: if (!need(call.shutdown.has_value(), "shutdown")) return; break;
      case T::kReconcile: if (!need(call.reconcile.has_value(), "reconcile")) return; break;
      case T::kMessage: if (!need(call.message.has_value(), "message")) return; break;
      case T::kUpdateFramework: if (!need(call.update_framework.has_value(), "update_framework")) return; break;
      case T::kAcknowledge:
        if (!need(call.acknowledge.has_value(), "acknowledge")) return;
        if (!IsValidUuidBytes(call.acknowledge->uuid)) return invalid("Not a valid UUID");
        break;
      default: break;
    }
  }
  if (type == T::kSubscribe) {
    if (!AcceptsJson(req)) {  // §5.3 step 8
      return Text(res, 406, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'");
    }
    if (req.has_header("Mesos-Stream-Id")) {  // step 9
      return Text(res, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
    }
    calls_log_.push_back(req.body);
    return Subscribe(call, res);
  }
  // Steps 11-16.
  auto it = frameworks_.find(call.framework_id->value);
  if (it == frameworks_.end() || it->second->removed) return Text(res, 400, "Framework cannot be found");
  Framework& fw = *it->second;
  if (!fw.connected) return Text(res, 403, "Framework is not subscribed");
  if (!req.has_header("Mesos-Stream-Id")) {
    return Text(res, 400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header");
  }
  std::string stream_id = req.get_header_value("Mesos-Stream-Id");
  if (stream_id != fw.stream_id) {
    return Text(res, 400, "The stream ID '" + stream_id +
                              "' included in this request didn't match the stream ID currently associated with framework ID " +
                              fw.id);
  }
  calls_log_.push_back(req.body);
  if (type == T::kUpdateFramework) {  // §5.6.15, the only call answered 200
    const auto& next = call.update_framework->framework_info;
    if (!next.id || next.id->value != fw.id) {
      return invalid("'framework_id' differs from 'update_framework.framework_info.id'");
    }
    if (next.principal != fw.info.principal || next.user != fw.info.user || next.checkpoint != fw.info.checkpoint) {
      return Text(res, 400, "FrameworkInfo update is not valid: principal, user and checkpoint cannot change");
    }
    fw.info = next;
    res.status = 200;
    res.set_header("Date", HttpDate());
    res.set_header("Content-Length", "0");
    return;
  }
  Accepted(res);  // step 19: 202, processing follows
  switch (type) {
    case T::kTeardown: Teardown(fw); break;
    case T::kAccept: Accept(fw, *call.accept); break;
    case T::kDecline: Decline(fw, call.decline->offer_ids, call.decline->filters); break;
    case T::kRevive:
    case T::kSuppress: {
      // §5.6.5/6: all-or-nothing role validation; empty = every role of the framework.
      std::vector<std::string> roles = type == T::kRevive ? (call.revive ? call.revive->roles : std::vector<std::string>{})
                                                          : (call.suppress ? call.suppress->roles : std::vector<std::string>{});
      auto mine = fw.roles();
      if (roles.empty()) roles = mine;
      bool valid = std::all_of(roles.begin(), roles.end(), [&](const std::string& r) {
        return std::find(mine.begin(), mine.end(), r) != mine.end();
      });
      if (!valid) break;
      for (const auto& role : roles) {
        if (type == T::kRevive) {
          allocate_soon_ = true;
          fw.suppressed_roles.erase(role);
          std::erase_if(fw.filters, [&](const auto& kv) { return kv.first.second == role; });
        } else {
          fw.suppressed_roles.insert(role);
        }
      }
      break;
    }
    case T::kKill: Kill(fw, *call.kill); break;
    case T::kShutdown: ShutdownExecutorCall(fw, *call.shutdown); break;
    case T::kAcknowledge: Acknowledge(fw, *call.acknowledge); break;
    case T::kReconcile: Reconcile(fw, *call.reconcile); break;
    case T::kMessage: {
      Agent* agent = FindAgent(call.message->agent_id.value);
      if (agent == nullptr || !agent->alive) break;
      auto run = agent->executors.find({fw.id, call.message->executor_id.value});
      if (run == agent->executors.end() || !run->second->stream) break;
      exec::Event event;
      event.type = exec::EventType::kMessage;
      event.message.emplace().data = call.message->data;
      SendExecutorEvent(*run->second, event);
      break;
    }
    default: break;  // REQUEST and inverse-offer calls: accepted and ignored, as upstream
  }
}

void MesosSim::Impl::SendEvent(Framework& fw, const sched::Event& event) {
  if (fw.connected && fw.stream) fw.stream->PushRecord(v1::Serialize(event));
}

void MesosSim::Impl::Subscribe(const sched::Call& call, httplib::Response& res) {
  v1::FrameworkInfo info = call.subscribe->framework_info;
  auto stream = std::make_shared<Stream>();
  std::string stream_id = RandomIdText();
  auto error_and_close = [&](const std::string& message) {
    // §5.5: FrameworkInfo problems are 200 + one ERROR event + end of stream.
    sched::Event error;
    error.type = sched::EventType::kError;
    error.error.emplace().message = message;
    stream->PushRecord(v1::Serialize(error));
    stream->Close();
    ServeStream(res, stream, [] {}, stream_id);
  };
  bool multi_role = v1::HasCapability(info, v1::FrameworkCapability::kMultiRole);
  if (!multi_role && !info.roles.empty()) {
    return error_and_close("'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable");
  }
  if (multi_role && info.role) {
    return error_and_close("'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable");
  }
  if (!std::isfinite(info.failover_timeout) || info.failover_timeout < 0 || info.failover_timeout > 9.2e9) {
    return error_and_close("Invalid 'FrameworkInfo.failover_timeout'");
  }
  Framework* fw = nullptr;
  if (info.id) {
    if (completed_frameworks_.contains(info.id->value)) return error_and_close("Framework has been removed");
    auto it = frameworks_.find(info.id->value);
    if (it != frameworks_.end()) {
      fw = it->second.get();
      if (info.principal != fw->info.principal) {
        return error_and_close("Changing framework's principal is not allowed.");
      }
      // §5.5 failover: the old stream gets ERROR then EOF; offers vanish without RESCIND.
      if (fw->stream) {
        sched::Event failed;
        failed.type = sched::EventType::kError;
        failed.error.emplace().message = "Framework failed over";
        fw->stream->PushRecord(v1::Serialize(failed));
        fw->stream->Close();
      }
      for (auto& [offer_id, offer] : std::map<std::string, OfferRecord>(fw->offers)) RescindOffer(*fw, offer_id, false);
      // user and checkpoint changes are silently ignored on resubscription.
      info.user = fw->info.user;
      info.checkpoint = fw->info.checkpoint;
      fw->info = info;
    }
  }
  if (fw == nullptr) {
    auto created = std::make_unique<Framework>();
    if (info.id) {
      created->id = info.id->value;  // unknown but valid: re-created (master failover case)
    } else {
      char suffix[8];
      std::snprintf(suffix, sizeof suffix, "%04d", framework_counter_++);
      created->id = master_id_ + "-" + suffix;
    }
    info.id = v1::FrameworkID{created->id};
    created->info = info;
    fw = created.get();
    frameworks_[fw->id] = std::move(created);
  }
  fw->info.id = v1::FrameworkID{fw->id};
  fw->stream = stream;
  fw->stream_id = stream_id;
  fw->connected = true;
  fw->failover_deadline.reset();
  fw->suppressed_roles.clear();
  for (const auto& role : call.subscribe->suppressed_roles) fw->suppressed_roles.insert(role);

  sched::Event subscribed;
  subscribed.type = sched::EventType::kSubscribed;
  auto& s = subscribed.subscribed.emplace();
  s.framework_id.value = fw->id;
  s.heartbeat_interval_seconds = static_cast<double>(options_.heartbeat_interval.count()) / 1000.0;
  auto& m = s.master_info.emplace();
  m.id = master_id_;
  m.ip = 16777343;  // 127.0.0.1 packed as the real master does (§4.13)
  m.port = static_cast<std::uint32_t>(master_ports_.at(static_cast<std::size_t>(leader_)));
  m.pid = "master@" + options_.ip + ":" + std::to_string(m.port);
  m.hostname = options_.hostname;
  m.version = kVersion;
  m.address = v1::Address{options_.hostname, options_.ip, static_cast<std::int32_t>(m.port)};
  m.capabilities = {"AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"};
  stream->PushRecord(v1::Serialize(subscribed));
  sched::Event heartbeat;
  heartbeat.type = sched::EventType::kHeartbeat;
  stream->PushRecord(v1::Serialize(heartbeat));  // the first heartbeat follows at once (§5.8)
  fw->next_heartbeat = SteadyClock::now() + options_.heartbeat_interval;
  allocate_soon_ = true;

  // Agents resend pending unacknowledged updates when the framework (re)subscribes (§5.5).
  for (auto& [key, task] : tasks_) {
    if (task->framework_id == fw->id && !task->updates.pending.empty()) ForwardHead(*task, SteadyClock::now());
  }
  std::string id = fw->id;
  ServeStream(res, stream, [this, id, stream] {
    std::lock_guard lock(mu_);
    auto it = frameworks_.find(id);
    if (it != frameworks_.end() && it->second->stream == stream) DisconnectFramework(*it->second);
  }, stream_id);
  spdlog::info("mesos-sim: framework {} ({}) subscribed", fw->id, fw->info.name);
}

// §5.8: a broken stream disconnects the framework; failover_timeout later it is removed.
void MesosSim::Impl::DisconnectFramework(Framework& fw) {
  if (!fw.connected) return;
  fw.connected = false;
  fw.stream.reset();
  fw.stream_id.clear();
  for (auto& [offer_id, offer] : std::map<std::string, OfferRecord>(fw.offers)) RescindOffer(fw, offer_id, false);
  fw.failover_deadline = SteadyClock::now() + std::chrono::duration_cast<SteadyClock::duration>(
                                                  std::chrono::duration<double>(fw.info.failover_timeout));
  spdlog::info("mesos-sim: framework {} disconnected; failover timeout {}s", fw.id, fw.info.failover_timeout);
}

// §5.6.1: executors shut down, framework completed (ID dead), stream ends with plain EOF.
void MesosSim::Impl::Teardown(Framework& fw) {
  spdlog::info("mesos-sim: tearing down framework {}", fw.id);
  if (fw.stream) fw.stream->Close();
  RemoveFramework(fw);
}

void MesosSim::Impl::RemoveFramework(Framework& fw) {
  fw.connected = false;
  fw.stream.reset();
  fw.removed = true;
  completed_frameworks_.insert(fw.id);
  for (auto& [offer_id, offer] : std::map<std::string, OfferRecord>(fw.offers)) RescindOffer(fw, offer_id, false);
  Time now = SteadyClock::now();
  for (auto& agent : agents_) {
    for (auto& [key, run] : agent->executors) {
      if (key.first == fw.id) ShutdownExecutor(*run, now);
    }
  }
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->second->framework_id == fw.id) {
      it = tasks_.erase(it);
    } else {
      ++it;
    }
  }
  std::string id = fw.id;
  frameworks_.erase(id);
}

void MesosSim::Impl::RescindOffer(Framework& fw, const std::string& offer_id, bool send_event) {
  auto it = fw.offers.find(offer_id);
  if (it == fw.offers.end()) return;
  fw.offers.erase(it);
  if (send_event) {
    sched::Event rescind;
    rescind.type = sched::EventType::kRescind;
    rescind.rescind.emplace().offer_id.value = offer_id;
    SendEvent(fw, rescind);
  }
}

// Master-generated updates carry no uuid and are never retried (§5.9).
void MesosSim::Impl::SendMasterUpdate(Framework& fw, v1::TaskStatus status) {
  status.source = v1::TaskSource::kMaster;
  status.timestamp = WallNow();
  status.uuid.reset();
  sched::Event event;
  event.type = sched::EventType::kUpdate;
  event.update.emplace().status = std::move(status);
  SendEvent(fw, event);
}

Agent* MesosSim::Impl::FindAgent(const std::string& id) {
  for (auto& agent : agents_) {
    if (agent->id == id) return agent.get();
  }
  return nullptr;
}

Res MesosSim::Impl::Available(const Agent& agent) const {
  Res available = agent.total;
  for (const auto& [key, run] : agent.executors) {
    if (run->state != ExecutorRun::State::kTerminated) available.Subtract(run->resources);
  }
  for (const auto& [key, task] : tasks_) {
    if (task->agent_id == agent.id && !task->resources_released) available.Subtract(task->resources);
  }
  for (const auto& [id, fw] : frameworks_) {
    for (const auto& [offer_id, offer] : fw->offers) {
      if (offer.offer.agent_id.value == agent.id) available.Subtract(offer.resources);
    }
  }
  return available;
}

// One offer per agent per cycle, handed round-robin to connected, unsuppressed frameworks
// whose decline filter for that agent has expired (§5.11).
void MesosSim::Impl::Allocate(Time now) {
  std::vector<Framework*> candidates;
  for (auto& [id, fw] : frameworks_) {
    if (fw->connected && !fw->removed) candidates.push_back(fw.get());
  }
  if (candidates.empty()) return;
  std::map<Framework*, std::vector<v1::Offer>> batches;
  for (auto& agent : agents_) {
    if (!agent->alive) continue;
    Res available = Available(*agent);
    if (!available.Allocatable()) continue;
    for (std::size_t k = 0; k < candidates.size(); ++k) {
      Framework* fw = candidates[(allocation_cursor_ + k) % candidates.size()];
      std::string role;
      for (const auto& r : fw->roles()) {
        if (fw->suppressed_roles.contains(r)) continue;
        auto filters = fw->filters.find({agent->id, r});
        if (filters != fw->filters.end()) {
          std::erase_if(filters->second, [&](const RefusedFilter& f) { return f.until <= now; });
          bool refused = std::any_of(filters->second.begin(), filters->second.end(),
                                     [&](const RefusedFilter& f) { return f.refused.Contains(available); });
          if (filters->second.empty()) fw->filters.erase(filters);
          if (refused) continue;
        }
        role = r;
        break;
      }
      if (role.empty()) continue;
      OfferRecord record;
      record.resources = available;
      record.created = now;
      v1::Offer& offer = record.offer;
      offer.id.value = master_id_ + "-O" + std::to_string(offer_counter_++);
      offer.framework_id.value = fw->id;
      offer.agent_id.value = agent->id;
      offer.hostname = options_.hostname;
      offer.url = v1::Url{"http", v1::Address{options_.hostname, options_.ip, agent->port}, std::string("/slave(1)")};
      offer.resources = available.ToResources(role, fw->multi_role());
      if (fw->multi_role()) offer.allocation_role = role;
      for (const auto& [key, run] : agent->executors) {
        if (key.first == fw->id && run->state != ExecutorRun::State::kTerminated) {
          offer.executor_ids.push_back(v1::ExecutorID{run->executor_id});
        }
      }
      batches[fw].push_back(offer);
      fw->offers[offer.id.value] = std::move(record);
      break;
    }
  }
  ++allocation_cursor_;
  for (auto& [fw, offers] : batches) {
    sched::Event event;
    event.type = sched::EventType::kOffers;
    event.offers.emplace().offers = std::move(offers);
    SendEvent(*fw, event);
  }
}

void MesosSim::Impl::Decline(Framework& fw, const std::vector<v1::OfferID>& ids,
                             const std::optional<v1::Filters>& filters) {
  // §5.11: default 5 s; negative => default; 0 => none; capped at 365 days.
  double refuse = filters && filters->refuse_seconds ? *filters->refuse_seconds : 5.0;
  if (refuse < 0 || !std::isfinite(refuse)) refuse = 5.0;
  refuse = std::min(refuse, 365.0 * 86400);
  for (const auto& id : ids) {
    auto it = fw.offers.find(id.value);
    if (it == fw.offers.end()) continue;  // unknown offers are ignored
    std::string agent = it->second.offer.agent_id.value;
    std::string role = it->second.offer.allocation_role.value_or(fw.roles().front());
    Res refused = it->second.resources;
    fw.offers.erase(it);
    if (refuse > 0) {
      // The filter expires after both the refusal time and one allocation interval.
      auto hold = std::max(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(refuse)),
                           std::chrono::duration_cast<SteadyClock::duration>(options_.allocation_interval));
      fw.filters[{agent, role}].push_back({std::move(refused), SteadyClock::now() + hold});
    }
  }
}

// §5.6.2: offers are validated together; invalid ones fail every LAUNCH with TASK_LOST (or
// TASK_DROPPED when partition-aware); each bad task gets TASK_ERROR; leftovers are filtered.
void MesosSim::Impl::Accept(Framework& fw, const sched::Call::Accept& accept) {
  std::optional<std::string> error;
  std::string agent_id;
  std::string role = fw.roles().front();
  Res remaining;
  std::string offer_list;
  for (const auto& id : accept.offer_ids) {
    offer_list += (offer_list.empty() ? "" : ",") + id.value;
    auto it = fw.offers.find(id.value);
    if (it == fw.offers.end()) {
      if (!error) error = "Offer " + id.value + " is no longer valid";
      continue;
    }
    if (!agent_id.empty() && agent_id != it->second.offer.agent_id.value && !error) {
      error = "Aggregated offers must belong to one single agent";
    }
    agent_id = it->second.offer.agent_id.value;
    role = it->second.offer.allocation_role.value_or(role);
    remaining.Add(it->second.resources);
    fw.offers.erase(it);
  }
  if (accept.offer_ids.empty() && !error) error = "No offers specified";
  auto for_each_task = [&](auto&& fn) {
    for (const auto& op : accept.operations) {
      if (op.type == v1::OperationType::kLaunch && op.launch) {
        for (const auto& t : *op.launch) fn(t, op, std::optional<v1::ExecutorInfo>());
      } else if (op.type == v1::OperationType::kLaunchGroup && op.launch_group) {
        for (const auto& t : op.launch_group->tasks) fn(t, op, std::optional(op.launch_group->executor));
      }
    }
  };
  if (error) {
    for_each_task([&](const v1::TaskInfo& t, const v1::Operation&, const auto&) {
      v1::TaskStatus s;
      s.task_id = t.task_id;
      s.state = LostState(fw, v1::TaskState::kDropped);
      s.agent_id = t.agent_id;
      s.reason = v1::TaskReason::kInvalidOffers;
      s.message = "Task launched with invalid offers: " + *error;
      SendMasterUpdate(fw, s);
    });
    return;
  }
  Agent* agent = FindAgent(agent_id);
  Time now = SteadyClock::now();
  for_each_task([&](const v1::TaskInfo& original, const v1::Operation& op, const std::optional<v1::ExecutorInfo>& group_executor) {
    v1::TaskInfo task = original;
    if (group_executor) task.executor = group_executor;
    auto task_error = [&](const std::string& message) {
      v1::TaskStatus s;
      s.task_id = task.task_id;
      s.state = v1::TaskState::kError;
      s.agent_id = task.agent_id;
      s.reason = group_executor ? v1::TaskReason::kTaskGroupInvalid : v1::TaskReason::kTaskInvalid;
      s.message = message;
      SendMasterUpdate(fw, s);
    };
    const std::string& tid = task.task_id.value;
    if (op.id) return task_error("Operation ID must not be set for LAUNCH or LAUNCH_GROUP operations");
    if (tid.empty() || tid.size() > 255 || tid == "." || tid == ".." ||
        tid.find_first_of("/\\") != std::string::npos ||
        std::any_of(tid.begin(), tid.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
      return task_error("'TaskInfo.task_id' is invalid: '" + tid + "'");
    }
    if (tasks_.contains(fw.id + "/" + tid)) return task_error("Task has duplicate ID: " + tid);
    if (task.agent_id.value != agent_id) return task_error("Task uses invalid agent: " + task.agent_id.value);
    if (task.executor.has_value() == task.command.has_value()) {
      return task_error("Task should have at least one (but not both) of CommandInfo or ExecutorInfo present");
    }
    if (!task.executor) return task_error("mesos-sim runs custom executors only (no command executor)");
    v1::ExecutorInfo& info = *task.executor;
    if (!group_executor && info.type && *info.type != v1::ExecutorType::kCustom) {
      return task_error("'ExecutorInfo.type' must be 'CUSTOM'");
    }
    if (!info.command) return task_error("'ExecutorInfo.command' must be set");
    if (info.framework_id && info.framework_id->value != fw.id) {
      return task_error("ExecutorInfo has an invalid FrameworkID (Actual: " + info.framework_id->value +
                        " vs Expected: " + fw.id + ")");
    }
    info.framework_id = v1::FrameworkID{fw.id};
    if (task.resources.empty()) return task_error("Task uses no resources");
    Res needed = Res::From(task.resources);
    std::shared_ptr<ExecutorRun> run;
    if (agent != nullptr) {
      auto it = agent->executors.find({fw.id, info.executor_id.value});
      if (it != agent->executors.end() && it->second->state != ExecutorRun::State::kTerminated) run = it->second;
    }
    if (run && !(run->info == info)) {
      return task_error("ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID");
    }
    if (!run) needed.Add(Res::From(info.resources));
    if (!remaining.Contains(needed)) {
      return task_error("Total resources " + needed.ToString() +
                        " required by task and its executor is more than available " + remaining.ToString());
    }
    remaining.Subtract(needed);
    auto owned = std::make_unique<Task>();
    Task& t = *owned;
    t.info = task;
    t.framework_id = fw.id;
    t.agent_id = agent_id;
    t.executor_id = info.executor_id.value;
    t.resources = Res::From(task.resources);
    t.updates.interval = options_.update_retry_interval;
    tasks_[fw.id + "/" + tid] = std::move(owned);
    fw.task_ids.insert(tid);
    LaunchRecord record{offer_list, agent_id, tid, t.resources.cpus, t.resources.mem, !run};
    launches_.push_back(record);
    if (agent == nullptr || !agent->alive) {
      v1::TaskStatus s;
      s.task_id = task.task_id;
      s.state = LostState(fw, v1::TaskState::kDropped);
      s.agent_id = task.agent_id;
      s.reason = v1::TaskReason::kAgentRemoved;
      s.message = "Agent is not available";
      tasks_.erase(fw.id + "/" + tid);
      SendMasterUpdate(fw, s);
      return;
    }
    if (!run) {
      std::string launch_error;
      run = LaunchExecutor(*agent, fw, info, &launch_error);
      if (!run) {
        v1::TaskStatus s;
        s.task_id = task.task_id;
        s.state = v1::TaskState::kFailed;
        s.source = v1::TaskSource::kAgent;
        s.reason = v1::TaskReason::kContainerLaunchFailed;
        s.message = "Failed to launch container: " + launch_error;
        AgentUpdate(t, s);
        return;
      }
    }
    DeliverTask(t, *run);
  });
  static_cast<void>(now);
  if (!remaining.Empty() && agent != nullptr) {
    std::optional<v1::Filters> filters = accept.filters;
    double refuse = filters && filters->refuse_seconds ? *filters->refuse_seconds : 5.0;
    if (refuse < 0 || !std::isfinite(refuse)) refuse = 5.0;
    if (refuse > 0) {
      auto hold = std::max(std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(std::min(refuse, 365.0 * 86400))),
                           std::chrono::duration_cast<SteadyClock::duration>(options_.allocation_interval));
      fw.filters[{agent_id, role}].push_back({remaining, SteadyClock::now() + hold});
    }
  }
}

// §5.6.7
void MesosSim::Impl::Kill(Framework& fw, const sched::Call::Kill& kill) {
  auto it = tasks_.find(fw.id + "/" + kill.task_id.value);
  if (it == tasks_.end()) {
    sched::Call::Reconcile r;
    r.tasks.push_back({kill.task_id, kill.agent_id});
    Reconcile(fw, r);  // unknown task: answered like an explicit reconciliation
    return;
  }
  Task& task = *it->second;
  if (kill.agent_id && kill.agent_id->value != task.agent_id) return;  // silently ignored
  Agent* agent = FindAgent(task.agent_id);
  if (agent == nullptr || !agent->alive) return;
  auto run = agent->executors.find({fw.id, task.executor_id});
  if (!task.delivered) {
    if (run != agent->executors.end()) std::erase(run->second->queued, task.info.task_id.value);
    v1::TaskStatus s;
    s.task_id = task.info.task_id;
    s.state = v1::TaskState::kKilled;
    s.source = v1::TaskSource::kAgent;
    s.reason = v1::TaskReason::kTaskKilledDuringLaunch;
    s.message = "Killed before delivery to the executor";
    s.executor_id = v1::ExecutorID{task.executor_id};
    AgentUpdate(task, s);
    return;
  }
  if (run == agent->executors.end() || !run->second->stream) return;  // retried by the scheduler
  exec::Event event;
  event.type = exec::EventType::kKill;
  event.kill.emplace().task_id = task.info.task_id;
  event.kill->kill_policy = kill.kill_policy;
  SendExecutorEvent(*run->second, event);
}

// §5.9: an ACK must match the head of the task's queue; the terminal ACK forgets the task.
void MesosSim::Impl::Acknowledge(Framework& fw, const sched::Call::Acknowledge& ack) {
  auto it = tasks_.find(fw.id + "/" + ack.task_id.value);
  if (it == tasks_.end()) return;
  Task& task = *it->second;
  if (ack.agent_id.value != task.agent_id) return;
  auto& q = task.updates;
  if (q.pending.empty() || q.pending.front().uuid != ack.uuid) {
    spdlog::debug("mesos-sim: ignoring ACKNOWLEDGE for {} that is not the head", ack.task_id.value);
    return;
  }
  bool terminal = v1::IsTerminal(q.pending.front().state);
  q.pending.pop_front();
  q.interval = options_.update_retry_interval;
  if (terminal && q.pending.empty()) {
    fw.task_ids.erase(ack.task_id.value);
    tasks_.erase(it);
    return;
  }
  if (!q.pending.empty()) ForwardHead(task, SteadyClock::now());
}

// §5.10, six cases; answers carry no uuid.
void MesosSim::Impl::Reconcile(Framework& fw, const sched::Call::Reconcile& reconcile) {
  auto latest = [&](const Task& task) {
    v1::TaskStatus s;
    s.task_id = task.info.task_id;
    s.state = task.state;
    s.agent_id = v1::AgentID{task.agent_id};
    s.executor_id = v1::ExecutorID{task.executor_id};
    s.reason = v1::TaskReason::kReconciliation;
    s.message = "Reconciliation: Latest task state";
    SendMasterUpdate(fw, s);
  };
  if (reconcile.tasks.empty()) {
    for (const auto& [key, task] : tasks_) {
      if (task->framework_id == fw.id) latest(*task);
    }
    return;
  }
  for (const auto& t : reconcile.tasks) {
    auto it = tasks_.find(fw.id + "/" + t.task_id.value);
    if (it != tasks_.end()) {
      latest(*it->second);
      continue;
    }
    v1::TaskStatus s;
    s.task_id = t.task_id;
    s.agent_id = t.agent_id;
    s.reason = v1::TaskReason::kReconciliation;
    Agent* agent = t.agent_id ? FindAgent(t.agent_id->value) : nullptr;
    if (agent != nullptr && agent->alive) {
      s.state = LostState(fw, v1::TaskState::kGone);
      s.message = "Reconciliation: Task is unknown to the agent";
    } else if (agent != nullptr) {
      s.state = LostState(fw, v1::TaskState::kUnreachable);
      s.message = "Reconciliation: Task is unreachable";
    } else {
      s.state = LostState(fw, v1::TaskState::kUnknownState);
      s.message = "Reconciliation: Task is unknown";
    }
    SendMasterUpdate(fw, s);
  }
}

// §5.6.8
void MesosSim::Impl::ShutdownExecutorCall(Framework& fw, const sched::Call::Shutdown& shutdown) {
  Agent* agent = FindAgent(shutdown.agent_id.value);
  if (agent == nullptr || !agent->alive) return;
  auto it = agent->executors.find({fw.id, shutdown.executor_id.value});
  if (it != agent->executors.end()) ShutdownExecutor(*it->second, SteadyClock::now());
}

// ---- agent side (§6) -------------------------------------------------------------------

void MesosSim::Impl::InstallAgentRoutes(httplib::Server& server, Agent& agent) {
  Agent* a = &agent;
  for (const char* path : {"/api/v1/executor", R"(/slave\(1\)/api/v1/executor)"}) {
    PostRoute(server, path, [this, a](const httplib::Request& req, httplib::Response& res) { HandleExecutor(*a, req, res); });
    server.Get(path, NotAllowed);
    server.Put(path, NotAllowed);
    server.Delete(path, NotAllowed);
  }
  // Sandbox files, as the agent serves the directories it attached (absolute sandbox paths).
  auto resolve = [this](const httplib::Request& req, httplib::Response& res) -> std::optional<fs::path> {
    if (!req.has_param("path")) {
      Text(res, 400, "Expecting 'path=value' in query.\n");  // with the newline (real-mesos/files-download-no-path.*)
      return std::nullopt;
    }
    std::error_code ec;
    fs::path p = fs::weakly_canonical(req.get_param_value("path"), ec);
    std::string root = fs::weakly_canonical(work_dir_, ec).string();
    if (ec || p.string().rfind(root + "/", 0) != 0 || !fs::is_regular_file(p)) {
      Text(res, 404, "404 Not Found.");  // real-mesos/files-download-missing.*
      return std::nullopt;
    }
    return p;
  };
  server.Get("/files/download", [this, resolve](const httplib::Request& req, httplib::Response& res) {
    auto p = resolve(req, res);
    if (!p) return;
    // Fault: one byte in the middle of the file arrives altered (its size stays right).
    bool corrupt = corrupt_downloads_.fetch_sub(1) > 0;
    if (!corrupt) corrupt_downloads_.fetch_add(1);
    // Streamed as it is read, as the real agent sends a file: the first bytes leave at once,
    // whatever the size (results of batch tasks are hundreds of MB).
    auto in = std::make_shared<std::ifstream>(*p, std::ios::binary);
    std::error_code ec;
    auto size = static_cast<std::size_t>(fs::file_size(*p, ec));
    res.status = 200;
    res.set_header("Date", HttpDate());
    res.set_header("Content-Disposition", "attachment; filename=" + p->filename().string());
    std::size_t altered = corrupt ? size / 2 : SIZE_MAX;
    res.set_content_provider(size, "application/octet-stream",
                             [in, altered](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               std::vector<char> buffer(std::min<std::size_t>(length, 1 << 20));
                               in->seekg(static_cast<std::streamoff>(offset));
                               in->read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
                               auto got = static_cast<std::size_t>(in->gcount());
                               if (altered >= offset && altered < offset + got) buffer[altered - offset] ^= 1;
                               return got > 0 && sink.write(buffer.data(), got);
                             });
  });
  server.Get("/files/read", [resolve](const httplib::Request& req, httplib::Response& res) {
    auto p = resolve(req, res);
    if (!p) return;
    std::ifstream in(*p, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    long long offset = req.has_param("offset") ? std::atoll(req.get_param_value("offset").c_str()) : 0;
    long long length = req.has_param("length") ? std::atoll(req.get_param_value("length").c_str()) : -1;
    if (offset < 0) offset = 0;
    std::string data = static_cast<std::size_t>(offset) < content.size()
                           ? content.substr(static_cast<std::size_t>(offset),
                                            length < 0 ? std::string::npos : static_cast<std::size_t>(length))
                           : std::string();
    res.status = 200;
    res.set_header("Date", HttpDate());
    res.set_content(json{{"data", data}, {"offset", offset}}.dump(), kJson);
  });
}

void MesosSim::Impl::HandleExecutor(Agent& agent, const httplib::Request& req, httplib::Response& res) {
  std::unique_lock lock(mu_);
  if (!agent.alive) return Text(res, 503, "Agent has not finished recovery");
  if (!req.has_header("Content-Type")) return Text(res, 400, "Expecting 'Content-Type' to be present");
  if (req.get_header_value("Content-Type") != kJson) {
    return Text(res, 415, "Expecting 'Content-Type' of application/json or application/x-protobuf");
  }
  auto parsed = v1::ParseExecutorCall(req.body);
  if (!parsed.ok()) {
    if (parsed.error().code == Errc::kCorruption) {
      return Text(res, 400, "Failed to parse body into JSON: " + JsonSyntaxError(req.body));
    }
    return Text(res, 400, "Failed to convert JSON into Call protobuf: " + parsed.error().message);
  }
  const exec::Call& call = parsed.value();
  auto invalid = [&](const std::string& why) { Text(res, 400, "Failed to validate Executor::Call: " + why); };
  using T = exec::CallType;
  // §6.3
  if (!call.type) return invalid("Expecting 'type' to be present");
  if (*call.type == T::kSubscribe && !call.subscribe) return invalid("Expecting 'subscribe' to be present");
  if (*call.type == T::kMessage && !call.message) return invalid("Expecting 'message' to be present");
  if (*call.type == T::kUpdate) {
    if (!call.update) return invalid("Expecting 'update' to be present");
    const auto& status = call.update->status;
    if (!status.uuid) return invalid("Expecting 'uuid' to be present");
    if (!IsValidUuidBytes(*status.uuid)) return invalid("Not a valid UUID");
    if (status.executor_id && status.executor_id->value != call.executor_id.value) {
      return invalid("ExecutorID in Call: " + call.executor_id.value +
                     " does not match ExecutorID in TaskStatus: " + status.executor_id->value);
    }
    if (status.source != v1::TaskSource::kExecutor) {
      return invalid("Received Call from executor " + call.executor_id.value +
                     " of framework " + call.framework_id.value + " with invalid source, expecting 'SOURCE_EXECUTOR'");
    }
    if (status.state == v1::TaskState::kStaging) {
      return invalid("Received TASK_STAGING from executor " + call.executor_id.value + " of framework " +
                     call.framework_id.value + " which is not allowed");
    }
  }
  if (*call.type == T::kSubscribe && !AcceptsJson(req)) {
    return Text(res, 406, "Expecting 'Accept' to allow 'application/x-protobuf' or 'application/json'");
  }
  if (*call.type == T::kHeartbeat) return Accepted(res);  // §6.2 step 6: no lookups
  bool framework_known = std::any_of(agent.executors.begin(), agent.executors.end(),
                                     [&](const auto& kv) { return kv.first.first == call.framework_id.value; });
  if (!framework_known) return Text(res, 400, "Framework cannot be found");
  auto it = agent.executors.find({call.framework_id.value, call.executor_id.value});
  if (it == agent.executors.end()) return Text(res, 400, "Executor cannot be found");
  ExecutorRun& run = *it->second;
  if (*call.type != T::kSubscribe && !run.ever_subscribed) return Text(res, 403, "Executor is not subscribed");

  if (*call.type == T::kSubscribe) {
    auto stream = std::make_shared<Stream>();
    auto fw_it = frameworks_.find(run.framework_id);
    if (run.state == ExecutorRun::State::kTerminating || run.state == ExecutorRun::State::kTerminated ||
        fw_it == frameworks_.end()) {
      exec::Event shutdown;
      shutdown.type = exec::EventType::kShutdown;
      stream->PushRecord(v1::Serialize(shutdown));
      stream->Close();
      return ServeStream(res, stream, [] {}, "");
    }
    if (run.stream) run.stream->Close();  // an older stream is closed without an ERROR
    run.stream = stream;
    run.state = ExecutorRun::State::kRunning;
    run.ever_subscribed = true;
    std::set<std::string> unacked_tasks;
    for (const auto& t : call.subscribe->unacknowledged_tasks) unacked_tasks.insert(t.task_id.value);
    for (const auto& update : call.subscribe->unacknowledged_updates) {
      auto task = tasks_.find(run.framework_id + "/" + update.status.task_id.value);
      if (task != tasks_.end()) AgentUpdate(*task->second, update.status);
    }
    for (auto& [key, task] : tasks_) {
      if (task->framework_id == run.framework_id && task->executor_id == run.executor_id &&
          task->agent_id == agent.id && task->delivered && task->state == v1::TaskState::kStaging &&
          !unacked_tasks.contains(task->info.task_id.value)) {
        v1::TaskStatus s;
        s.task_id = task->info.task_id;
        s.state = LostState(*fw_it->second, v1::TaskState::kDropped);
        s.source = v1::TaskSource::kAgent;
        s.reason = v1::TaskReason::kAgentRestarted;
        s.message = "Task launched during agent restart";
        AgentUpdate(*task, s);
      }
    }
    exec::Event subscribed;
    subscribed.type = exec::EventType::kSubscribed;
    auto& s = subscribed.subscribed.emplace();
    s.executor_info = run.info;
    s.framework_info = fw_it->second->info;
    s.agent_info.hostname = options_.hostname;
    s.agent_info.port = agent.port;
    s.agent_info.id = v1::AgentID{agent.id};
    s.container_id = v1::ContainerID{run.container_id};
    stream->PushRecord(v1::Serialize(subscribed));
    std::vector<std::string> queued = std::move(run.queued);
    run.queued.clear();
    for (const auto& tid : queued) {
      auto task = tasks_.find(run.framework_id + "/" + tid);
      if (task != tasks_.end()) DeliverTask(*task->second, run);
    }
    std::weak_ptr<ExecutorRun> weak = it->second;
    return ServeStream(res, stream, [this, weak, stream] {
      std::lock_guard relock(mu_);
      if (auto r = weak.lock(); r && r->stream == stream) r->stream.reset();
    }, "");
  }
  Accepted(res);
  if (*call.type == T::kUpdate) {
    const v1::TaskStatus& status = call.update->status;
    auto task = tasks_.find(run.framework_id + "/" + status.task_id.value);
    if (task == tasks_.end() || (status.agent_id && status.agent_id->value != agent.id)) return;  // dropped
    AgentUpdate(*task->second, status);
    // §6.4: ACKNOWLEDGED as soon as the agent has the update, independent of the scheduler.
    exec::Event acknowledged;
    acknowledged.type = exec::EventType::kAcknowledged;
    acknowledged.acknowledged.emplace().task_id = status.task_id;
    acknowledged.acknowledged->uuid = *status.uuid;
    SendExecutorEvent(run, acknowledged);
  } else if (*call.type == T::kMessage) {
    auto fw = frameworks_.find(run.framework_id);
    if (fw == frameworks_.end()) return;
    sched::Event event;
    event.type = sched::EventType::kMessage;
    auto& m = event.message.emplace();
    m.agent_id.value = agent.id;
    m.executor_id.value = run.executor_id;
    m.data = call.message->data;
    SendEvent(*fw->second, event);
  }
}

void MesosSim::Impl::SendExecutorEvent(ExecutorRun& run, const exec::Event& event) {
  if (run.stream) run.stream->PushRecord(v1::Serialize(event));
}

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

// §6.6: sandbox, fetch, environment, argv, stdout/stderr files, own process group.
std::shared_ptr<ExecutorRun> MesosSim::Impl::LaunchExecutor(Agent& agent, Framework& fw,
                                                             const v1::ExecutorInfo& info, std::string* error) {
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
  if (ec) {
    *error = "cannot create sandbox: " + ec.message();
    return nullptr;
  }
  fs::remove(runs / "latest", ec);
  fs::create_directory_symlink(run->container_id, runs / "latest", ec);
  run->sandbox = sandbox.string();
  const v1::CommandInfo& command = *info.command;

  for (const auto& uri : command.uris) {  // the fetcher: local paths and file:// URIs
    std::string source = uri.value;
    if (source.rfind("file://", 0) == 0) source = source.substr(7);
    if (source.empty() || source[0] != '/') {
      *error = "Failed to fetch '" + uri.value + "': mesos-sim fetches local paths and file:// URIs only";
      return nullptr;
    }
    fs::path target = sandbox / (uri.output_file ? fs::path(*uri.output_file) : fs::path(source).filename());
    fs::copy_file(source, target, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      *error = "Failed to fetch '" + uri.value + "': " + ec.message();
      return nullptr;
    }
    if (uri.executable.value_or(false)) {
      fs::permissions(target, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec,
                      fs::perm_options::add, ec);
    }
  }

  // §6.7 environment, exactly as the agent renders values.
  std::string endpoint = options_.ip + ":" + std::to_string(agent.port);
  std::map<std::string, std::string> env = {
      {"MESOS_FRAMEWORK_ID", fw.id},
      {"MESOS_EXECUTOR_ID", info.executor_id.value},
      {"MESOS_DIRECTORY", run->sandbox},
      {"MESOS_SANDBOX", run->sandbox},
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
  if (command.environment) {
    for (const auto& var : *command.environment) {
      if (var.type == "VALUE") env[var.name] = var.value.value_or("");
    }
  }

  // Build everything before fork: the child only calls async-signal-safe functions.
  std::string program;
  std::vector<std::string> args;
  if (command.shell) {
    program = "/bin/sh";
    args = {"sh", "-c", command.value.value_or("")};
  } else {
    program = command.value.value_or("");
    args = command.arguments;
    if (program.find('/') == std::string::npos) {
      if (fs::exists(sandbox / program)) {
        program = (sandbox / program).string();
      } else {
        std::stringstream path(env["PATH"]);
        std::string dir;
        while (std::getline(path, dir, ':')) {
          if (::access((fs::path(dir) / program).c_str(), X_OK) == 0) {
            program = (fs::path(dir) / program).string();
            break;
          }
        }
      }
    } else if (program[0] != '/') {
      program = (sandbox / program).string();
    }
  }
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string out_path = (sandbox / "stdout").string(), err_path = (sandbox / "stderr").string();
  const char* sandbox_c = run->sandbox.c_str();

  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    if (::chdir(sandbox_c) != 0) ::_exit(127);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int null_in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || null_in < 0) ::_exit(127);
    ::dup2(null_in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    for (int fd = 3; fd < 4096; ++fd) ::close(fd);
    ::execve(program.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  if (pid < 0) {
    *error = std::string("fork: ") + std::strerror(errno);
    return nullptr;
  }
  // Also in the parent: a kill(-pid) right after fork must find the group (classic race).
  ::setpgid(pid, pid);
  run->pid = pid;
  agent.executors[{fw.id, info.executor_id.value}] = run;
  std::string agent_id = agent.id, fid = fw.id, eid = info.executor_id.value;
  waiters_.emplace_back([this, agent_id, fid, eid, pid] {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ExecutorExited(agent_id, fid, eid, pid, status);
  });
  spdlog::info("mesos-sim: agent {} launched executor {} of {} as pid {} in {}", agent.index, eid, fid, pid,
               run->sandbox);
  return run;
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
  auto fw = frameworks_.find(framework_id);
  if (fw != frameworks_.end()) {
    sched::Event failure;
    failure.type = sched::EventType::kFailure;
    auto& f = failure.failure.emplace();
    f.agent_id = v1::AgentID{agent_id};
    f.executor_id = v1::ExecutorID{executor_id};
    f.status = wait_status;
    SendEvent(*fw->second, failure);
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

void MesosSim::Impl::KillAgent(Agent& agent) {
  if (!agent.alive) return;
  agent.alive = false;
  spdlog::warn("mesos-sim: killing agent {}", agent.id);
  for (auto& [key, run] : agent.executors) {
    if (run->pid > 0 && run->state != ExecutorRun::State::kTerminated) ::kill(-run->pid, SIGKILL);
    if (run->stream) run->stream->Close();
  }
  for (auto& [id, fw] : frameworks_) {
    for (auto& [offer_id, offer] : std::map<std::string, OfferRecord>(fw->offers)) {
      if (offer.offer.agent_id.value == agent.id) RescindOffer(*fw, offer_id, true);
    }
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

// ---- clock -----------------------------------------------------------------------------

void MesosSim::Impl::Tick() {
  Time now = SteadyClock::now();
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
  if (now >= next_executor_heartbeat_) {  // §6.4: agent heartbeats to executors, every 30 min
    exec::Event heartbeat;
    heartbeat.type = exec::EventType::kHeartbeat;
    for (auto& agent : agents_) {
      for (auto& [key, run] : agent->executors) SendExecutorEvent(*run, heartbeat);
    }
    next_executor_heartbeat_ = now + options_.executor_heartbeat_interval;
  }
  if (now >= next_allocation_) {
    Allocate(now);
    next_allocation_ = now + options_.allocation_interval;
  } else if (allocate_soon_) {
    Allocate(now);  // keeps the periodic phase, as the allocator's batch timer does
  }
  allocate_soon_ = false;
  if (options_.offer_timeout.count() > 0) {
    for (auto& [id, fw] : frameworks_) {
      for (auto& [offer_id, offer] : std::map<std::string, OfferRecord>(fw->offers)) {
        if (now - offer.created >= options_.offer_timeout) RescindOffer(*fw, offer_id, true);
      }
    }
  }
  for (auto& [key, task] : tasks_) {  // status update retries, doubling to the cap
    auto& q = task->updates;
    if (q.pending.empty() || now < q.next_retry) continue;
    auto fw = frameworks_.find(task->framework_id);
    if (fw == frameworks_.end() || !fw->second->connected) continue;
    q.interval = std::min(Millis(q.interval.count() * 2), options_.update_retry_max);
    ForwardHead(*task, now);
  }
  std::vector<Framework*> expired;
  for (auto& [id, fw] : frameworks_) {
    if (!fw->connected && fw->failover_deadline && now >= *fw->failover_deadline) expired.push_back(fw.get());
  }
  for (Framework* fw : expired) {
    spdlog::info("mesos-sim: framework {} failover timeout expired; removing it", fw->id);
    RemoveFramework(*fw);
  }
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

void MesosSim::Impl::TickLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    Tick();
    tick_cv_.wait_for(lock, Millis(20));  // 20 ms resolution; sleeps, never spins
  }
}

// ---- fault and inspection controls (/sim/...) -------------------------------------------

void MesosSim::Impl::HandleControl(const httplib::Request& req, httplib::Response& res) {
  std::lock_guard lock(mu_);
  std::string what = req.matches[1];
  auto param = [&](const char* name, long long fallback) {
    return req.has_param(name) ? std::atoll(req.get_param_value(name).c_str()) : fallback;
  };
  auto ok = [&](json body = json::object()) {
    res.status = 200;
    res.set_content(body.dump(), kJson);
  };
  auto agent_at = [&](const std::string& key) -> Agent* {
    for (auto& a : agents_) {
      if (a->id == key || std::to_string(a->index) == key) return a.get();
    }
    return nullptr;
  };
  if (req.method == "GET" && what == "launches") {
    json out = json::array();
    for (const auto& l : launches_) {
      out.push_back({{"offers", l.offer_ids}, {"agent_id", l.agent_id}, {"task_id", l.task_id},
                     {"cpus", l.cpus}, {"mem", l.mem}, {"new_executor", l.new_executor}});
    }
    return ok(out);
  }
  if (req.method == "GET" && what == "calls") return ok(json(calls_log_));
  if (req.method == "GET" && what == "state") {
    json out = {{"master_id", master_id_}, {"leader", leader_}, {"frameworks", json::array()},
                {"completed_frameworks", json(std::vector<std::string>(completed_frameworks_.begin(), completed_frameworks_.end()))},
                {"agents", json::array()}};
    for (const auto& [id, fw] : frameworks_) {
      out["frameworks"].push_back({{"id", id}, {"connected", fw->connected}, {"offers", fw->offers.size()},
                                   {"tasks", fw->task_ids.size()}, {"suppressed", fw->suppressed_roles.size()}});
    }
    for (const auto& a : agents_) {
      Res avail = Available(*a);
      json executors = json::array();
      for (const auto& [key, run] : a->executors) {
        executors.push_back({{"framework_id", key.first}, {"executor_id", key.second}, {"pid", run->pid},
                             {"sandbox", run->sandbox},
                             {"state", run->state == ExecutorRun::State::kTerminated ? "TERMINATED" : "ACTIVE"}});
      }
      out["agents"].push_back({{"id", a->id}, {"alive", a->alive}, {"url", agent_url(a->index)},
                               {"available", {{"cpus", avail.cpus}, {"mem", avail.mem}}}, {"executors", executors}});
    }
    return ok(out);
  }
  if (req.method != "POST") return Text(res, 404, "unknown control");
  if (what.rfind("agents/", 0) == 0 && what.size() > 12 && what.substr(what.size() - 5) == "/kill") {
    Agent* agent = agent_at(what.substr(7, what.size() - 12));
    if (agent == nullptr) return Text(res, 404, "no such agent");
    KillAgent(*agent);
    return ok();
  }
  if (what == "executors/kill") {  // crash: SIGKILL without SHUTDOWN
    int killed = 0;
    for (auto& a : agents_) {
      if (req.has_param("agent") && agent_at(req.get_param_value("agent")) != a.get()) continue;
      for (auto& [key, run] : a->executors) {
        if (req.has_param("executor") && key.second != req.get_param_value("executor")) continue;
        if (run->pid > 0 && run->state != ExecutorRun::State::kTerminated) {
          ::kill(-run->pid, SIGKILL);
          ++killed;
        }
      }
    }
    return ok({{"killed", killed}});
  }
  if (what == "drop-connections") {
    for (auto& [id, fw] : frameworks_) {
      if (fw->stream) fw->stream->Close();
    }
    for (auto& a : agents_) {
      for (auto& [key, run] : a->executors) {
        if (run->stream) run->stream->Close();
      }
    }
    return ok();
  }
  if (what == "stall-heartbeats") {
    heartbeats_stalled_until_ = SteadyClock::now() + Millis(param("ms", 3600000));
    return ok();
  }
  if (what == "leader") {
    int next = static_cast<int>(param("index", 0));
    if (next >= static_cast<int>(master_ports_.size())) return Text(res, 400, "no such master");
    leader_ = next;
    if (options_.on_leader_changed) options_.on_leader_changed(next);
    // Master failover: every scheduler connection breaks and offers are void (§5.8).
    for (auto& [id, fw] : frameworks_) {
      if (fw->stream) fw->stream->Close();
      DisconnectFramework(*fw);
      fw->failover_deadline.reset();  // the new leader does not know the old timers
    }
    if (options_.failover_forgets_frameworks) frameworks_.clear();
    return ok({{"leader", leader_}});
  }
  if (what == "rescind-offers") {
    for (auto& [id, fw] : frameworks_) {
      for (auto& [offer_id, offer] : std::map<std::string, OfferRecord>(fw->offers)) RescindOffer(*fw, offer_id, true);
    }
    return ok();
  }
  if (what == "corrupt-stream") {
    for (auto& [id, fw] : frameworks_) {
      if (fw->stream) fw->stream->PushRaw("not-a-length\n{}");
    }
    return ok();
  }
  if (what == "fail-calls") {
    int status = static_cast<int>(param("status", 500));
    if (status != 500 && status != 503 && status != 400) return Text(res, 400, "status must be 500, 503 or 400");
    fail_calls_remaining_ = static_cast<int>(param("count", 1));
    fail_calls_status_ = status;
    fail_calls_type_ = req.has_param("type") ? req.get_param_value("type") : "";
    return ok();
  }
  if (what == "allocate") {  // one allocation cycle now (tests with a long --allocation-interval)
    Allocate(SteadyClock::now());
    return ok();
  }
  if (what == "delay") {
    response_delay_ = Millis(param("ms", 0));
    return ok();
  }
  if (what == "corrupt-downloads") {
    corrupt_downloads_ = static_cast<int>(param("count", 1));
    return ok();
  }
  Text(res, 404, "unknown control");
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
