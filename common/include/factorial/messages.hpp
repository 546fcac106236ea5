#pragma once

// Typed Mesos v1 messages (package mesos.v1, scheduler and executor APIs) and their JSON form.
// Field names follow the .proto files; members keep the proto names so the wire format reads
// off the struct. Only fields a factorial framework (and mesos-sim) use are modelled; others
// are dropped on parse. See mesos-v1-api.md §3 (JSON mapping) and §4-6 (messages).
//
// JSON rules implemented here (mesos-v1-api.md §3):
//  - enums by name; unknown names become kUnknown (never an error),
//  - `bytes` fields (data, uuid) hold raw bytes here and are base64 on the wire,
//  - unset optional fields are omitted; fields with a proto default are always emitted,
//  - numbers and bools are also accepted as strings, null means unset, unknown keys ignored.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "factorial/status.hpp"

namespace factorial::v1 {

// An X-macro list per enum keeps the wire names and the C++ values in one place.
#define FACTORIAL_TASK_STATES(X)                                                             \
  X(kStaging, "TASK_STAGING") X(kStarting, "TASK_STARTING") X(kRunning, "TASK_RUNNING")      \
  X(kKilling, "TASK_KILLING") X(kFinished, "TASK_FINISHED") X(kFailed, "TASK_FAILED")        \
  X(kKilled, "TASK_KILLED") X(kError, "TASK_ERROR") X(kLost, "TASK_LOST")                    \
  X(kDropped, "TASK_DROPPED") X(kUnreachable, "TASK_UNREACHABLE") X(kGone, "TASK_GONE")      \
  X(kGoneByOperator, "TASK_GONE_BY_OPERATOR") X(kUnknownState, "TASK_UNKNOWN")

#define FACTORIAL_TASK_SOURCES(X) \
  X(kMaster, "SOURCE_MASTER") X(kAgent, "SOURCE_AGENT") X(kExecutor, "SOURCE_EXECUTOR")

#define FACTORIAL_TASK_REASONS(X)                                                      \
  X(kCommandExecutorFailed, "REASON_COMMAND_EXECUTOR_FAILED")                          \
  X(kContainerLaunchFailed, "REASON_CONTAINER_LAUNCH_FAILED")                          \
  X(kContainerLimitation, "REASON_CONTAINER_LIMITATION")                               \
  X(kContainerLimitationDisk, "REASON_CONTAINER_LIMITATION_DISK")                      \
  X(kContainerLimitationMemory, "REASON_CONTAINER_LIMITATION_MEMORY")                  \
  X(kContainerPreempted, "REASON_CONTAINER_PREEMPTED")                                 \
  X(kContainerUpdateFailed, "REASON_CONTAINER_UPDATE_FAILED")                          \
  X(kMaxCompletionTimeReached, "REASON_MAX_COMPLETION_TIME_REACHED")                   \
  X(kExecutorRegistrationTimeout, "REASON_EXECUTOR_REGISTRATION_TIMEOUT")              \
  X(kExecutorReregistrationTimeout, "REASON_EXECUTOR_REREGISTRATION_TIMEOUT")          \
  X(kExecutorTerminated, "REASON_EXECUTOR_TERMINATED")                                 \
  X(kExecutorUnregistered, "REASON_EXECUTOR_UNREGISTERED")                             \
  X(kFrameworkRemoved, "REASON_FRAMEWORK_REMOVED")                                     \
  X(kGcError, "REASON_GC_ERROR")                                                       \
  X(kInvalidFrameworkId, "REASON_INVALID_FRAMEWORKID")                                 \
  X(kInvalidOffers, "REASON_INVALID_OFFERS")                                           \
  X(kIoSwitchboardExited, "REASON_IO_SWITCHBOARD_EXITED")                              \
  X(kMasterDisconnected, "REASON_MASTER_DISCONNECTED")                                 \
  X(kReconciliation, "REASON_RECONCILIATION")                                          \
  X(kResourcesUnknown, "REASON_RESOURCES_UNKNOWN")                                     \
  X(kAgentDisconnected, "REASON_AGENT_DISCONNECTED")                                   \
  X(kAgentDraining, "REASON_AGENT_DRAINING")                                           \
  X(kAgentRemoved, "REASON_AGENT_REMOVED")                                             \
  X(kAgentRemovedByOperator, "REASON_AGENT_REMOVED_BY_OPERATOR")                       \
  X(kAgentReregistered, "REASON_AGENT_REREGISTERED")                                   \
  X(kAgentRestarted, "REASON_AGENT_RESTARTED")                                         \
  X(kAgentUnknown, "REASON_AGENT_UNKNOWN")                                             \
  X(kTaskKilledDuringLaunch, "REASON_TASK_KILLED_DURING_LAUNCH")                       \
  X(kTaskCheckStatusUpdated, "REASON_TASK_CHECK_STATUS_UPDATED")                       \
  X(kTaskHealthCheckStatusUpdated, "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED")          \
  X(kTaskGroupInvalid, "REASON_TASK_GROUP_INVALID")                                    \
  X(kTaskGroupUnauthorized, "REASON_TASK_GROUP_UNAUTHORIZED")                          \
  X(kTaskInvalid, "REASON_TASK_INVALID")                                               \
  X(kTaskUnauthorized, "REASON_TASK_UNAUTHORIZED")                                     \
  X(kTaskUnknown, "REASON_TASK_UNKNOWN")

#define FACTORIAL_VALUE_TYPES(X) \
  X(kScalar, "SCALAR") X(kRanges, "RANGES") X(kSet, "SET") X(kText, "TEXT")

#define FACTORIAL_EXECUTOR_TYPES(X) X(kDefault, "DEFAULT") X(kCustom, "CUSTOM")

#define FACTORIAL_FRAMEWORK_CAPABILITIES(X)                                               \
  X(kRevocableResources, "REVOCABLE_RESOURCES") X(kTaskKillingState, "TASK_KILLING_STATE") \
  X(kGpuResources, "GPU_RESOURCES") X(kSharedResources, "SHARED_RESOURCES")               \
  X(kPartitionAware, "PARTITION_AWARE") X(kMultiRole, "MULTI_ROLE")                       \
  X(kReservationRefinement, "RESERVATION_REFINEMENT") X(kRegionAware, "REGION_AWARE")

#define FACTORIAL_OPERATION_TYPES(X)                                               \
  X(kLaunch, "LAUNCH") X(kLaunchGroup, "LAUNCH_GROUP") X(kReserve, "RESERVE")       \
  X(kUnreserve, "UNRESERVE") X(kCreate, "CREATE") X(kDestroy, "DESTROY")            \
  X(kGrowVolume, "GROW_VOLUME") X(kShrinkVolume, "SHRINK_VOLUME")                   \
  X(kCreateDisk, "CREATE_DISK") X(kDestroyDisk, "DESTROY_DISK")

#define FACTORIAL_ENUM_MEMBER(name, text) name,
#define FACTORIAL_DECLARE_ENUM(Type, LIST)                   \
  enum class Type { kUnknown, LIST(FACTORIAL_ENUM_MEMBER) }; \
  std::string_view Name(Type value);                         \
  Type Parse##Type(std::string_view name);

FACTORIAL_DECLARE_ENUM(TaskState, FACTORIAL_TASK_STATES)
FACTORIAL_DECLARE_ENUM(TaskSource, FACTORIAL_TASK_SOURCES)
FACTORIAL_DECLARE_ENUM(TaskReason, FACTORIAL_TASK_REASONS)
FACTORIAL_DECLARE_ENUM(ValueType, FACTORIAL_VALUE_TYPES)
FACTORIAL_DECLARE_ENUM(ExecutorType, FACTORIAL_EXECUTOR_TYPES)
FACTORIAL_DECLARE_ENUM(FrameworkCapability, FACTORIAL_FRAMEWORK_CAPABILITIES)
FACTORIAL_DECLARE_ENUM(OperationType, FACTORIAL_OPERATION_TYPES)

// True iff `state` is terminal per Mesos' protobuf::isTerminalState (mesos-v1-api.md §4.10).
bool IsTerminal(TaskState state);

// {"value": "..."}; one distinct type per kind of ID so they cannot be mixed up.
template <class Tag>
struct Id {
  std::string value;
  friend bool operator==(const Id&, const Id&) = default;
  friend auto operator<=>(const Id&, const Id&) = default;
};
using FrameworkID = Id<struct FrameworkIdTag>;
using OfferID = Id<struct OfferIdTag>;
using AgentID = Id<struct AgentIdTag>;
using TaskID = Id<struct TaskIdTag>;
using ExecutorID = Id<struct ExecutorIdTag>;
using ContainerID = Id<struct ContainerIdTag>;

struct Label {
  std::string key;
  std::optional<std::string> value;
  friend bool operator==(const Label&, const Label&) = default;
};
using Labels = std::vector<Label>;  // wire form: {"labels":[...]}

struct Range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  friend bool operator==(const Range&, const Range&) = default;
};

struct ReservationInfo {
  std::optional<std::string> type;  // STATIC / DYNAMIC (refinement format)
  std::optional<std::string> role;
  std::optional<std::string> principal;
  friend bool operator==(const ReservationInfo&, const ReservationInfo&) = default;
};

struct Resource {
  std::string name;
  ValueType type = ValueType::kUnknown;
  std::optional<double> scalar;
  std::optional<std::vector<Range>> ranges;
  std::optional<std::vector<std::string>> set;
  std::optional<std::string> role;             // deprecated pre-refinement format
  std::optional<std::string> allocation_role;  // allocation_info.role (MULTI_ROLE)
  std::optional<ReservationInfo> reservation;  // pre-refinement dynamic reservation
  std::vector<ReservationInfo> reservations;   // refinement format
  friend bool operator==(const Resource&, const Resource&) = default;
};

struct Filters {
  std::optional<double> refuse_seconds;  // proto default 5.0, emitted when unset
  friend bool operator==(const Filters&, const Filters&) = default;
};

struct KillPolicy {
  std::optional<std::int64_t> grace_period_nanoseconds;
  friend bool operator==(const KillPolicy&, const KillPolicy&) = default;
};

struct CommandUri {
  std::string value;
  std::optional<bool> executable;
  bool extract = true;
  std::optional<bool> cache;
  std::optional<std::string> output_file;
  friend bool operator==(const CommandUri&, const CommandUri&) = default;
};

struct EnvironmentVariable {
  std::string name;
  std::string type = "VALUE";
  std::optional<std::string> value;
  friend bool operator==(const EnvironmentVariable&, const EnvironmentVariable&) = default;
};

struct CommandInfo {
  std::vector<CommandUri> uris;
  std::optional<std::vector<EnvironmentVariable>> environment;
  bool shell = true;
  std::optional<std::string> value;
  std::vector<std::string> arguments;
  std::optional<std::string> user;
  friend bool operator==(const CommandInfo&, const CommandInfo&) = default;
};

struct ExecutorInfo {
  std::optional<ExecutorType> type;
  ExecutorID executor_id;
  std::optional<FrameworkID> framework_id;
  std::optional<CommandInfo> command;
  std::vector<Resource> resources;
  std::optional<std::string> name;
  std::optional<std::string> source;
  std::optional<std::string> data;  // raw bytes
  std::optional<std::int64_t> shutdown_grace_period_nanoseconds;
  std::optional<Labels> labels;
  friend bool operator==(const ExecutorInfo&, const ExecutorInfo&) = default;
};

struct TaskInfo {
  std::string name;
  TaskID task_id;
  AgentID agent_id;
  std::vector<Resource> resources;
  std::optional<ExecutorInfo> executor;
  std::optional<CommandInfo> command;
  std::optional<std::string> data;  // raw bytes
  std::optional<KillPolicy> kill_policy;
  std::optional<Labels> labels;
  friend bool operator==(const TaskInfo&, const TaskInfo&) = default;
};

struct TaskStatus {
  TaskID task_id;
  TaskState state = TaskState::kUnknown;
  std::optional<std::string> message;
  std::optional<TaskSource> source;
  std::optional<TaskReason> reason;
  std::optional<std::string> data;  // raw bytes
  std::optional<AgentID> agent_id;
  std::optional<ExecutorID> executor_id;
  std::optional<double> timestamp;
  std::optional<std::string> uuid;  // 16 raw bytes
  std::optional<bool> healthy;
  std::optional<Labels> labels;
  std::optional<std::int64_t> unreachable_time_nanoseconds;
  friend bool operator==(const TaskStatus&, const TaskStatus&) = default;
};

struct FrameworkInfo {
  std::string user;
  std::string name;
  std::optional<FrameworkID> id;
  double failover_timeout = 0.0;
  bool checkpoint = false;
  std::optional<std::string> role;
  std::vector<std::string> roles;
  std::optional<std::string> hostname;
  std::optional<std::string> principal;
  std::optional<std::string> webui_url;
  std::vector<FrameworkCapability> capabilities;
  std::optional<Labels> labels;
  friend bool operator==(const FrameworkInfo&, const FrameworkInfo&) = default;
};
bool HasCapability(const FrameworkInfo& info, FrameworkCapability capability);

struct Address {
  std::optional<std::string> hostname;
  std::optional<std::string> ip;
  std::int32_t port = 0;
  friend bool operator==(const Address&, const Address&) = default;
};

struct Url {
  std::string scheme;
  Address address;
  std::optional<std::string> path;
  friend bool operator==(const Url&, const Url&) = default;
};

struct MasterInfo {
  std::string id;
  std::uint32_t ip = 0;
  std::uint32_t port = 5050;
  std::optional<std::string> pid;
  std::optional<std::string> hostname;
  std::optional<std::string> version;
  std::optional<Address> address;
  std::vector<std::string> capabilities;  // {"type": NAME} entries
  friend bool operator==(const MasterInfo&, const MasterInfo&) = default;
};

struct AgentInfo {
  std::string hostname;
  std::int32_t port = 5051;
  std::vector<Resource> resources;
  std::optional<AgentID> id;
  friend bool operator==(const AgentInfo&, const AgentInfo&) = default;
};

struct Offer {
  OfferID id;
  FrameworkID framework_id;
  AgentID agent_id;
  std::string hostname;
  std::optional<Url> url;
  std::vector<Resource> resources;
  std::vector<ExecutorID> executor_ids;
  std::optional<std::string> allocation_role;  // allocation_info.role
  friend bool operator==(const Offer&, const Offer&) = default;
};

struct Operation {
  OperationType type = OperationType::kUnknown;
  std::optional<std::string> id;  // OperationID.value; must stay unset for LAUNCH
  std::optional<std::vector<TaskInfo>> launch;  // launch.task_infos
  struct LaunchGroup {
    ExecutorInfo executor;
    std::vector<TaskInfo> tasks;  // task_group.tasks
    friend bool operator==(const LaunchGroup&, const LaunchGroup&) = default;
  };
  std::optional<LaunchGroup> launch_group;
  friend bool operator==(const Operation&, const Operation&) = default;
};

namespace scheduler {

#define FACTORIAL_SCHEDULER_CALL_TYPES(X)                                                    \
  X(kSubscribe, "SUBSCRIBE") X(kTeardown, "TEARDOWN") X(kAccept, "ACCEPT")                   \
  X(kDecline, "DECLINE") X(kAcceptInverseOffers, "ACCEPT_INVERSE_OFFERS")                    \
  X(kDeclineInverseOffers, "DECLINE_INVERSE_OFFERS") X(kRevive, "REVIVE") X(kKill, "KILL")   \
  X(kShutdown, "SHUTDOWN") X(kAcknowledge, "ACKNOWLEDGE")                                    \
  X(kAcknowledgeOperationStatus, "ACKNOWLEDGE_OPERATION_STATUS") X(kReconcile, "RECONCILE")  \
  X(kReconcileOperations, "RECONCILE_OPERATIONS") X(kMessage, "MESSAGE")                     \
  X(kRequest, "REQUEST") X(kSuppress, "SUPPRESS") X(kUpdateFramework, "UPDATE_FRAMEWORK")

#define FACTORIAL_SCHEDULER_EVENT_TYPES(X)                                                  \
  X(kSubscribed, "SUBSCRIBED") X(kOffers, "OFFERS") X(kInverseOffers, "INVERSE_OFFERS")     \
  X(kRescind, "RESCIND") X(kRescindInverseOffer, "RESCIND_INVERSE_OFFER") X(kUpdate, "UPDATE") \
  X(kUpdateOperationStatus, "UPDATE_OPERATION_STATUS") X(kMessage, "MESSAGE")               \
  X(kFailure, "FAILURE") X(kError, "ERROR") X(kHeartbeat, "HEARTBEAT")

FACTORIAL_DECLARE_ENUM(CallType, FACTORIAL_SCHEDULER_CALL_TYPES)
FACTORIAL_DECLARE_ENUM(EventType, FACTORIAL_SCHEDULER_EVENT_TYPES)

struct Call {
  struct Subscribe {
    FrameworkInfo framework_info;
    std::vector<std::string> suppressed_roles;
    friend bool operator==(const Subscribe&, const Subscribe&) = default;
  };
  struct Accept {
    std::vector<OfferID> offer_ids;
    std::vector<Operation> operations;
    std::optional<Filters> filters;
    friend bool operator==(const Accept&, const Accept&) = default;
  };
  struct Decline {
    std::vector<OfferID> offer_ids;
    std::optional<Filters> filters;
    friend bool operator==(const Decline&, const Decline&) = default;
  };
  struct Roles {  // Revive and Suppress
    std::vector<std::string> roles;
    friend bool operator==(const Roles&, const Roles&) = default;
  };
  struct Kill {
    TaskID task_id;
    std::optional<AgentID> agent_id;
    std::optional<KillPolicy> kill_policy;
    friend bool operator==(const Kill&, const Kill&) = default;
  };
  struct Shutdown {
    ExecutorID executor_id;
    AgentID agent_id;
    friend bool operator==(const Shutdown&, const Shutdown&) = default;
  };
  struct Acknowledge {
    AgentID agent_id;
    TaskID task_id;
    std::string uuid;  // 16 raw bytes
    friend bool operator==(const Acknowledge&, const Acknowledge&) = default;
  };
  struct Reconcile {
    struct Task {
      TaskID task_id;
      std::optional<AgentID> agent_id;
      friend bool operator==(const Task&, const Task&) = default;
    };
    std::vector<Task> tasks;
    friend bool operator==(const Reconcile&, const Reconcile&) = default;
  };
  struct Message {
    AgentID agent_id;
    ExecutorID executor_id;
    std::string data;  // raw bytes
    friend bool operator==(const Message&, const Message&) = default;
  };
  struct UpdateFramework {
    FrameworkInfo framework_info;
    std::vector<std::string> suppressed_roles;
    friend bool operator==(const UpdateFramework&, const UpdateFramework&) = default;
  };

  std::optional<FrameworkID> framework_id;
  std::optional<CallType> type;
  std::optional<Subscribe> subscribe;
  std::optional<Accept> accept;
  std::optional<Decline> decline;
  std::optional<Roles> revive;
  std::optional<Kill> kill;
  std::optional<Shutdown> shutdown;
  std::optional<Acknowledge> acknowledge;
  std::optional<Reconcile> reconcile;
  std::optional<Message> message;
  std::optional<Roles> suppress;
  std::optional<UpdateFramework> update_framework;
  friend bool operator==(const Call&, const Call&) = default;
};

struct Event {
  struct Subscribed {
    FrameworkID framework_id;
    std::optional<double> heartbeat_interval_seconds;
    std::optional<MasterInfo> master_info;
    friend bool operator==(const Subscribed&, const Subscribed&) = default;
  };
  struct Offers {
    std::vector<Offer> offers;
    friend bool operator==(const Offers&, const Offers&) = default;
  };
  struct Rescind {
    OfferID offer_id;
    friend bool operator==(const Rescind&, const Rescind&) = default;
  };
  struct Update {
    TaskStatus status;
    friend bool operator==(const Update&, const Update&) = default;
  };
  struct Message {
    AgentID agent_id;
    ExecutorID executor_id;
    std::string data;  // raw bytes
    friend bool operator==(const Message&, const Message&) = default;
  };
  struct Failure {
    std::optional<AgentID> agent_id;
    std::optional<ExecutorID> executor_id;
    std::optional<std::int32_t> status;
    friend bool operator==(const Failure&, const Failure&) = default;
  };
  struct Error {
    std::string message;
    friend bool operator==(const Error&, const Error&) = default;
  };

  EventType type = EventType::kUnknown;
  std::optional<Subscribed> subscribed;
  std::optional<Offers> offers;
  std::optional<Rescind> rescind;
  std::optional<Update> update;
  std::optional<Message> message;
  std::optional<Failure> failure;
  std::optional<Error> error;
  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace scheduler

namespace executor {

#define FACTORIAL_EXECUTOR_CALL_TYPES(X) \
  X(kSubscribe, "SUBSCRIBE") X(kUpdate, "UPDATE") X(kMessage, "MESSAGE") X(kHeartbeat, "HEARTBEAT")

#define FACTORIAL_EXECUTOR_EVENT_TYPES(X)                                            \
  X(kSubscribed, "SUBSCRIBED") X(kLaunch, "LAUNCH") X(kLaunchGroup, "LAUNCH_GROUP")  \
  X(kKill, "KILL") X(kAcknowledged, "ACKNOWLEDGED") X(kMessage, "MESSAGE")           \
  X(kError, "ERROR") X(kShutdown, "SHUTDOWN") X(kHeartbeat, "HEARTBEAT")

FACTORIAL_DECLARE_ENUM(CallType, FACTORIAL_EXECUTOR_CALL_TYPES)
FACTORIAL_DECLARE_ENUM(EventType, FACTORIAL_EXECUTOR_EVENT_TYPES)

struct Call {
  struct Update {
    TaskStatus status;
    friend bool operator==(const Update&, const Update&) = default;
  };
  struct Subscribe {
    std::vector<TaskInfo> unacknowledged_tasks;
    std::vector<Update> unacknowledged_updates;
    friend bool operator==(const Subscribe&, const Subscribe&) = default;
  };
  struct Message {
    std::string data;  // raw bytes
    friend bool operator==(const Message&, const Message&) = default;
  };

  ExecutorID executor_id;
  FrameworkID framework_id;
  std::optional<CallType> type;
  std::optional<Subscribe> subscribe;
  std::optional<Update> update;
  std::optional<Message> message;
  friend bool operator==(const Call&, const Call&) = default;
};

struct Event {
  struct Subscribed {
    ExecutorInfo executor_info;
    FrameworkInfo framework_info;
    AgentInfo agent_info;
    std::optional<ContainerID> container_id;
    friend bool operator==(const Subscribed&, const Subscribed&) = default;
  };
  struct Launch {
    TaskInfo task;
    friend bool operator==(const Launch&, const Launch&) = default;
  };
  struct LaunchGroup {
    std::vector<TaskInfo> tasks;  // task_group.tasks
    friend bool operator==(const LaunchGroup&, const LaunchGroup&) = default;
  };
  struct Kill {
    TaskID task_id;
    std::optional<KillPolicy> kill_policy;
    friend bool operator==(const Kill&, const Kill&) = default;
  };
  struct Acknowledged {
    TaskID task_id;
    std::string uuid;  // 16 raw bytes
    friend bool operator==(const Acknowledged&, const Acknowledged&) = default;
  };
  struct Message {
    std::string data;
    friend bool operator==(const Message&, const Message&) = default;
  };
  struct Error {
    std::string message;
    friend bool operator==(const Error&, const Error&) = default;
  };

  EventType type = EventType::kUnknown;
  std::optional<Subscribed> subscribed;
  std::optional<Launch> launch;
  std::optional<LaunchGroup> launch_group;
  std::optional<Kill> kill;
  std::optional<Acknowledged> acknowledged;
  std::optional<Message> message;
  std::optional<Error> error;
  friend bool operator==(const Event&, const Event&) = default;
};

}  // namespace executor

// Parsing never throws. A malformed body is kCorruption with the reason; missing required
// proto fields are reported like protobuf does: "Missing required fields: a, b.c".
Result<scheduler::Event> ParseSchedulerEvent(std::string_view json);
Result<scheduler::Call> ParseSchedulerCall(std::string_view json);
Result<executor::Event> ParseExecutorEvent(std::string_view json);
Result<executor::Call> ParseExecutorCall(std::string_view json);
Result<TaskInfo> ParseTaskInfo(std::string_view json);

// Compact JSON in proto declaration order, as the master and agent render it.
std::string Serialize(const scheduler::Call& call);
std::string Serialize(const scheduler::Event& event);
std::string Serialize(const executor::Call& call);
std::string Serialize(const executor::Event& event);
std::string Serialize(const TaskInfo& task);
std::string Serialize(const TaskStatus& status);

}  // namespace factorial::v1
