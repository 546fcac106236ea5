#pragma once

// MesosSim::Impl: the one object behind mesos-sim's master and agent servers. Its members are
// defined by concern, one file each:
//   sim.cpp           lifecycle (servers, work dir), the clock thread, the public wrapper
//   master_api.cpp    the scheduler API (§5): routes, call validation, SUBSCRIBE and streams,
//                     KILL, ACKNOWLEDGE, RECONCILE, SHUTDOWN, MESSAGE, framework removal
//   allocation.cpp    offers (§5.11): allocation cycles, ACCEPT, DECLINE, filters, REVIVE,
//                     SUPPRESS, rescinds
//   executor_api.cpp  the agent's HTTP side (§6): executor API and the files API
//   agents.cpp        what agents do: sandboxes, fetching, executor processes, the status
//                     update manager, executor exits, agent death
//   faults.cpp        /sim/... fault and inspection controls (not part of the Mesos API)
//
// Thread-safety: every member below mu_ is guarded by mu_. HTTP handlers take it on the
// servers' thread pools; the clock thread takes it once per tick. Methods without "Handle" in
// their name expect the caller to hold it.

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <httplib.h>

#include "factorial/messages.hpp"
#include "factorial/status.hpp"
#include "http.hpp"
#include "resources.hpp"
#include "sim.hpp"
#include "state.hpp"

namespace factorial::sim {

namespace sched = v1::scheduler;
namespace exec = v1::executor;

class MesosSim::Impl {
 public:
  explicit Impl(SimOptions options);
  ~Impl() { Stop(); }

  void Start();
  void Stop();
  std::string master_url(int i) const;
  std::string agent_url(int i) const;
  std::string work_dir() const { return work_dir_; }

 private:
  // --- sim.cpp: lifecycle, clock
  std::string RandomIdText();  // a random UUID in text form, as Mesos makes its ids
  void MakeWorkDir();
  std::unique_ptr<httplib::Server> MakeServer() const;
  int Bind(httplib::Server& server, int port) const;
  void AddAgent(int index);
  Agent* FindAgent(const std::string& id);
  void Tick();
  void TickLoop();
  void SendHeartbeats(Time now);
  void RetryUpdates(Time now);
  void ExpireFrameworks(Time now);
  void EnforceExecutorDeadlines(Time now);

  // --- master_api.cpp
  void InstallMasterRoutes(httplib::Server& server, int index);
  void HandleScheduler(int master_index, const httplib::Request& req, httplib::Response& res);
  bool RedirectToLeader(int master_index, const httplib::Request& req, httplib::Response& res);
  void FailCall(httplib::Response& res);
  bool TakeFailingCall(std::string_view type);
  std::optional<sched::Call> ReadSchedulerCall(const httplib::Request& req, httplib::Response& res);
  Framework* CallersFramework(const sched::Call& call, const httplib::Request& req, httplib::Response& res);
  void UpdateFramework(Framework& fw, const sched::Call& call, httplib::Response& res);
  void Dispatch(Framework& fw, const sched::Call& call);
  void Subscribe(const sched::Call& call, httplib::Response& res);
  Result<Framework*> AdoptFramework(v1::FrameworkInfo info);
  void SendSubscribed(Framework& fw, Stream& stream);
  void DisconnectFramework(Framework& fw);
  void Teardown(Framework& fw);
  void RemoveFramework(Framework& fw);
  void Kill(Framework& fw, const sched::Call::Kill& kill);
  void Acknowledge(Framework& fw, const sched::Call::Acknowledge& ack);
  void Reconcile(Framework& fw, const sched::Call::Reconcile& reconcile);
  void ShutdownExecutorCall(Framework& fw, const sched::Call::Shutdown& shutdown);
  void MessageToExecutor(Framework& fw, const sched::Call::Message& message);
  void SendEvent(Framework& fw, const sched::Event& event);
  void SendMasterUpdate(Framework& fw, v1::TaskStatus status);
  v1::TaskState LostState(const Framework& fw, v1::TaskState partition_aware_state) const {
    return fw.partition_aware() ? partition_aware_state : v1::TaskState::kLost;
  }

  // --- allocation.cpp
  struct TakenOffers;  // what ACCEPT took from the framework's outstanding offers
  Res Available(const Agent& agent) const;
  void Allocate(Time now);
  std::string OfferableRole(Framework& fw, const std::string& agent_id, const Res& available, Time now);
  v1::Offer MakeOffer(Framework& fw, const Agent& agent, const Res& available, const std::string& role, Time now);
  void Accept(Framework& fw, const sched::Call::Accept& accept);
  TakenOffers TakeOffers(Framework& fw, const std::vector<v1::OfferID>& ids);
  std::optional<std::string> InvalidTask(const Framework& fw, const v1::TaskInfo& task, const v1::Operation& op,
                                         bool in_group, const std::string& agent_id) const;
  void LaunchTask(Framework& fw, v1::TaskInfo task, bool in_group, Agent* agent, TakenOffers& taken);
  void RejectTask(Framework& fw, const v1::TaskInfo& task, bool in_group, const std::string& message);
  void Decline(Framework& fw, const std::vector<v1::OfferID>& ids, const std::optional<v1::Filters>& filters);
  void Refuse(Framework& fw, const std::string& agent_id, const std::string& role, Res refused,
              const std::optional<v1::Filters>& filters);
  void ReviveOrSuppress(Framework& fw, sched::CallType type, std::vector<std::string> roles);
  void RescindOffer(Framework& fw, const std::string& offer_id, bool send_event);
  void RescindOffers(Framework& fw, bool send_event, const std::function<bool(const OfferRecord&)>& which = {});
  void ExpireOffers(Time now);

  // --- executor_api.cpp
  void InstallAgentRoutes(httplib::Server& server, Agent& agent);
  void HandleExecutor(Agent& agent, const httplib::Request& req, httplib::Response& res);
  std::optional<exec::Call> ReadExecutorCall(const httplib::Request& req, httplib::Response& res);
  void ExecutorSubscribe(Agent& agent, const std::shared_ptr<ExecutorRun>& run, const exec::Call& call,
                         httplib::Response& res);
  void ExecutorUpdate(Agent& agent, ExecutorRun& run, const exec::Call& call);
  void ExecutorMessage(Agent& agent, ExecutorRun& run, const exec::Call& call);
  std::optional<std::filesystem::path> AttachedPath(const Agent& agent, const std::string& path) const;
  std::optional<std::filesystem::path> SandboxFile(const Agent& agent, const httplib::Request& req,
                                                   httplib::Response& res) const;
  void HandleDownload(const Agent& agent, const httplib::Request& req, httplib::Response& res);
  void HandleRead(const Agent& agent, const httplib::Request& req, httplib::Response& res) const;

  // --- agents.cpp
  Result<std::shared_ptr<ExecutorRun>> LaunchExecutor(Agent& agent, Framework& fw, const v1::ExecutorInfo& info);
  std::map<std::string, std::string> ExecutorEnvironment(const Agent& agent, const Framework& fw,
                                                         const v1::ExecutorInfo& info,
                                                         const std::string& sandbox) const;
  void WaitForExit(const std::string& agent_id, const std::string& framework_id, const std::string& executor_id,
                   int pid);
  void DeliverTask(Task& task, ExecutorRun& run);
  void AgentUpdate(Task& task, v1::TaskStatus status);
  void ForwardHead(Task& task, Time now);
  void ExecutorExited(const std::string& agent_id, const std::string& framework_id,
                      const std::string& executor_id, int pid, int wait_status);
  void ShutdownExecutor(ExecutorRun& run, Time now);
  void KillAgent(Agent& agent);
  void SendExecutorEvent(ExecutorRun& run, const exec::Event& event);

  // --- faults.cpp
  void HandleControl(const httplib::Request& req, httplib::Response& res);
  std::optional<json> Inspect(const std::string& what) const;
  bool Fault(const std::string& what, const httplib::Request& req, httplib::Response& res);
  json StateJson() const;
  Agent* AgentAt(const std::string& index_or_id);
  int KillExecutors(const httplib::Request& req);
  void MoveLeader(int next);

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
  std::size_t allocation_cursor_ = 0;
  Time next_allocation_{};
  // Mesos' allocator also allocates at once (between its periodic cycles) when a framework
  // subscribes or revives; a finished task's resources wait for the next periodic cycle.
  bool allocate_soon_ = false;
  Time next_executor_heartbeat_{};

  // Faults.
  int fail_calls_remaining_ = 0;
  std::atomic<int> corrupt_downloads_{0};  // fault: flip a byte in the next N file downloads
  std::atomic<int> download_delay_ms_{0};  // fault: every file download waits this long first
  int fail_calls_status_ = 500;
  std::string fail_calls_type_;  // empty: any call, checked before the request is read
  Millis response_delay_{0};
  std::optional<Time> heartbeats_stalled_until_;

  std::vector<LaunchRecord> launches_;
  std::vector<std::string> calls_log_;  // every scheduler call body accepted (202/200)
  std::vector<std::thread> waiters_;
};

}  // namespace factorial::sim
