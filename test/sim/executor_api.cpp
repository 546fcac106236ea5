// The agent's HTTP side (§6): the executor API (SUBSCRIBE and its event stream, UPDATE,
// MESSAGE, HEARTBEAT) and the files API that serves sandbox files.

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include <unistd.h>

#include "factorial/uuid.hpp"
#include "impl.hpp"

namespace factorial::sim {
namespace {

namespace fs = std::filesystem;

// Answers 400 for a call that fails validation; returns nullopt.
std::optional<exec::Call> Invalid(httplib::Response& res, const std::string& why) {
  Text(res, 400, "Failed to validate Executor::Call: " + why);
  return std::nullopt;
}

}  // namespace

void MesosSim::Impl::InstallAgentRoutes(httplib::Server& server, Agent& agent) {
  Agent* a = &agent;
  for (const char* path : {"/api/v1/executor", R"(/slave\(1\)/api/v1/executor)"}) {
    PostRoute(server, path, [this, a](const httplib::Request& req, httplib::Response& res) { HandleExecutor(*a, req, res); });
    server.Get(path, NotAllowed);
    server.Put(path, NotAllowed);
    server.Delete(path, NotAllowed);
  }
  server.Get("/files/download",
             [this, a](const httplib::Request& req, httplib::Response& res) { HandleDownload(*a, req, res); });
  server.Get("/files/read", [this, a](const httplib::Request& req, httplib::Response& res) { HandleRead(*a, req, res); });
}

// ---- executor API (§6.2) -------------------------------------------------------------------

void MesosSim::Impl::HandleExecutor(Agent& agent, const httplib::Request& req, httplib::Response& res) {
  std::unique_lock lock(mu_);
  if (!agent.alive) return Text(res, 503, "Agent has not finished recovery");
  std::optional<exec::Call> parsed = ReadExecutorCall(req, res);
  if (!parsed) return;
  const exec::Call& call = *parsed;
  using T = exec::CallType;
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
  if (*call.type == T::kSubscribe) return ExecutorSubscribe(agent, it->second, call, res);
  Accepted(res);
  if (*call.type == T::kUpdate) {
    ExecutorUpdate(agent, run, call);
  } else if (*call.type == T::kMessage) {
    ExecutorMessage(agent, run, call);
  }
}

// Content type, JSON (§6.2) and the checks of §6.3; nullopt once the error is answered.
std::optional<exec::Call> MesosSim::Impl::ReadExecutorCall(const httplib::Request& req, httplib::Response& res) {
  std::optional<exec::Call> parsed = ReadJsonCall(req, res, &v1::ParseExecutorCall);
  if (!parsed) return std::nullopt;
  const exec::Call& call = *parsed;
  using T = exec::CallType;
  if (!call.type) return Invalid(res, "Expecting 'type' to be present");
  if (*call.type == T::kSubscribe && !call.subscribe) return Invalid(res, "Expecting 'subscribe' to be present");
  if (*call.type == T::kMessage && !call.message) return Invalid(res, "Expecting 'message' to be present");
  if (*call.type == T::kUpdate) {
    if (!call.update) return Invalid(res, "Expecting 'update' to be present");
    const auto& status = call.update->status;
    if (!status.uuid) return Invalid(res, "Expecting 'uuid' to be present");
    if (!IsValidUuidBytes(*status.uuid)) return Invalid(res, "Not a valid UUID");
    if (status.executor_id && status.executor_id->value != call.executor_id.value) {
      return Invalid(res, "ExecutorID in Call: " + call.executor_id.value +
                              " does not match ExecutorID in TaskStatus: " + status.executor_id->value);
    }
    if (status.source != v1::TaskSource::kExecutor) {
      return Invalid(res, "Received Call from executor " + call.executor_id.value + " of framework " +
                              call.framework_id.value + " with invalid source, expecting 'SOURCE_EXECUTOR'");
    }
    if (status.state == v1::TaskState::kStaging) {
      return Invalid(res, "Received TASK_STAGING from executor " + call.executor_id.value + " of framework " +
                              call.framework_id.value + " which is not allowed");
    }
  }
  return parsed;
}

// §6.4: a terminating executor, or one whose framework is gone, gets SHUTDOWN and EOF.
// Otherwise the agent takes the executor's unacknowledged updates, drops the tasks it
// launched that the executor does not know, answers SUBSCRIBED and sends the queued LAUNCHes.
void MesosSim::Impl::ExecutorSubscribe(Agent& agent, const std::shared_ptr<ExecutorRun>& owned,
                                       const exec::Call& call, httplib::Response& res) {
  ExecutorRun& run = *owned;
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
  std::weak_ptr<ExecutorRun> weak = owned;
  ServeStream(res, stream, [this, weak, stream] {
    std::lock_guard relock(mu_);
    if (auto r = weak.lock(); r && r->stream == stream) r->stream.reset();
  }, "");
}

// §6.4: the status update manager takes the update; ACKNOWLEDGED goes back to the executor
// as soon as the agent has it, independent of the scheduler.
void MesosSim::Impl::ExecutorUpdate(Agent& agent, ExecutorRun& run, const exec::Call& call) {
  const v1::TaskStatus& status = call.update->status;
  auto task = tasks_.find(run.framework_id + "/" + status.task_id.value);
  if (task == tasks_.end() || (status.agent_id && status.agent_id->value != agent.id)) return;  // dropped
  AgentUpdate(*task->second, status);
  exec::Event acknowledged;
  acknowledged.type = exec::EventType::kAcknowledged;
  acknowledged.acknowledged.emplace().task_id = status.task_id;
  acknowledged.acknowledged->uuid = *status.uuid;
  SendExecutorEvent(run, acknowledged);
}

// Relayed to the scheduler as a MESSAGE event, best effort.
void MesosSim::Impl::ExecutorMessage(Agent& agent, ExecutorRun& run, const exec::Call& call) {
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

// ---- files API ---------------------------------------------------------------------------

// The file `path` names as the agent resolves it, or nullopt if there is none: an absolute
// sandbox path (the agent attaches each executor run's directory), or the path it attaches for
// the latest run of every executor, `/frameworks/<framework>/executors/<executor>/runs/latest`
// (real-mesos/files-read-*).
std::optional<fs::path> MesosSim::Impl::AttachedPath(const Agent& agent, const std::string& path) const {
  std::string wanted = path;
  if (wanted.rfind("/frameworks/", 0) == 0) {
    std::vector<std::string> parts;
    for (std::size_t start = 1; start <= wanted.size();) {
      std::size_t slash = wanted.find('/', start);
      if (slash == std::string::npos) slash = wanted.size();
      parts.push_back(wanted.substr(start, slash - start));
      start = slash + 1;
    }
    if (parts.size() < 6 || parts[2] != "executors" || parts[4] != "runs" || parts[5] != "latest") return std::nullopt;
    wanted = work_dir_ + "/slaves/" + agent.id + wanted;
  }
  std::error_code ec;
  fs::path p = fs::weakly_canonical(wanted, ec);
  std::string root = fs::weakly_canonical(work_dir_, ec).string();
  if (ec || p.string().rfind(root + "/", 0) != 0 || !fs::exists(p, ec)) return std::nullopt;
  return p;
}

// The regular file `path=` names, or nullopt once 400 or 404 is answered.
std::optional<fs::path> MesosSim::Impl::SandboxFile(const Agent& agent, const httplib::Request& req,
                                                    httplib::Response& res) const {
  if (!req.has_param("path")) {
    Text(res, 400, "Expecting 'path=value' in query.\n");  // with the newline (real-mesos/files-download-no-path.*)
    return std::nullopt;
  }
  auto p = AttachedPath(agent, req.get_param_value("path"));
  if (!p || !fs::is_regular_file(*p)) {
    Text(res, 404, "404 Not Found.");  // real-mesos/files-download-missing.*
    return std::nullopt;
  }
  return p;
}

void MesosSim::Impl::HandleDownload(const Agent& agent, const httplib::Request& req, httplib::Response& res) {
  auto p = SandboxFile(agent, req, res);
  if (!p) return;
  // Fault: one byte in the middle of the file arrives altered (its size stays right).
  bool corrupt = corrupt_downloads_.fetch_sub(1) > 0;
  if (!corrupt) corrupt_downloads_.fetch_add(1);
  // Fault: a slow or distant agent; this request's thread waits, the rest of the sim does not.
  if (int delay = download_delay_ms_.load(); delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
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
}

namespace {

// A query parameter of /files/read as the agent parses it: absent is -1; not an integer, or
// below -1, is answered 400 (real-mesos/files-read-bad-offset.*, -negative-offset.*).
std::optional<long long> ReadParam(const httplib::Request& req, httplib::Response& res, const std::string& name) {
  if (!req.has_param(name)) return -1;
  std::string text = req.get_param_value(name);
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    Text(res, 400, "Failed to parse " + name + ": Failed to convert '" + text + "' to number.\n");
    return std::nullopt;
  }
  if (value < -1) {
    Text(res, 400, "Negative " + name + " provided: " + std::to_string(value) + ".\n");
    return std::nullopt;
  }
  return value;
}

}  // namespace

// GET /files/read?path=&offset=&length= (real-mesos/files-read-*): `offset` -1 or absent
// answers the file's size as the offset, with no data; `length` -1 or absent reads to the end;
// no answer carries more than 16 pages of data.
void MesosSim::Impl::HandleRead(const Agent& agent, const httplib::Request& req, httplib::Response& res) const {
  if (!req.has_param("path")) return Text(res, 400, "Expecting 'path=value' in query.\n");
  auto offset = ReadParam(req, res, "offset");
  if (!offset) return;
  auto length = ReadParam(req, res, "length");
  if (!length) return;
  auto p = AttachedPath(agent, req.get_param_value("path"));
  if (!p) return Text(res, 404, "");
  if (fs::is_directory(*p)) return Text(res, 400, "Cannot read a directory.\n");
  std::error_code ec;
  auto size = static_cast<long long>(fs::file_size(*p, ec));
  if (ec) return Text(res, 404, "");
  std::string data;
  if (*offset == -1) {
    offset = size;
  } else if (*offset < size) {
    long long most = 16LL * ::sysconf(_SC_PAGESIZE);
    long long want = std::min(*length == -1 ? size - *offset : *length, most);
    data.resize(static_cast<std::size_t>(want));
    std::ifstream in(*p, std::ios::binary);
    in.seekg(static_cast<std::streamoff>(*offset));
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    data.resize(static_cast<std::size_t>(in.gcount()));
  }
  res.status = 200;
  res.set_header("Date", HttpDate());
  res.set_content(json{{"data", data}, {"offset", *offset}}.dump(), kJson);
}

}  // namespace factorial::sim
