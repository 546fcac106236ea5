#pragma once

// What mesos-sim's master and agents know: frameworks with their offers and filters, tasks
// with their status update queues, agents with their executors. Plain records; every field
// is read and written under MesosSim::Impl's mutex.

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>

#include "factorial/messages.hpp"
#include "http.hpp"
#include "resources.hpp"

namespace factorial::sim {

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
  bool exec_failed = false;  // the executor's program could not be executed
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

// One task the master launched, as /sim/launches lists it.
struct LaunchRecord {
  std::string offer_ids;
  std::string agent_id;
  std::string task_id;
  double cpus = 0, mem = 0, disk = 0;
  bool new_executor = false;
};

}  // namespace factorial::sim
