#include "factorial/messages.hpp"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "factorial/base64.hpp"
#include "json_reader.hpp"

namespace factorial::v1 {

using ojson = nlohmann::ordered_json;
namespace sched = scheduler;
namespace exec = executor;

// ---- Enums -------------------------------------------------------------------------------

#define FACTORIAL_ENUM_NAME_CASE(name, text) \
  case E::name:                              \
    return text;
#define FACTORIAL_ENUM_PARSE_PAIR(name, text) {text, E::name},
#define FACTORIAL_DEFINE_ENUM(Type, LIST)                                                     \
  std::string_view Name(Type value) {                                                         \
    using E = Type;                                                                           \
    switch (value) {                                                                          \
      case E::kUnknown:                                                                       \
        return "UNKNOWN";                                                                     \
        LIST(FACTORIAL_ENUM_NAME_CASE)                                                        \
    }                                                                                         \
    return "UNKNOWN";                                                                         \
  }                                                                                           \
  Type Parse##Type(std::string_view name) {                                                   \
    using E = Type;                                                                           \
    static constexpr std::pair<std::string_view, E> kPairs[] = {LIST(FACTORIAL_ENUM_PARSE_PAIR)}; \
    for (const auto& [text, value] : kPairs) {                                                \
      if (text == name) return value;                                                         \
    }                                                                                         \
    return E::kUnknown;                                                                       \
  }                                                                                           \
  /* Found by the JSON reader through ADL; unknown names read as kUnknown. */               \
  [[maybe_unused]] static Type ParseEnumName(std::string_view name, Type) {                   \
    return Parse##Type(name);                                                                 \
  }

FACTORIAL_DEFINE_ENUM(TaskState, FACTORIAL_TASK_STATES)
FACTORIAL_DEFINE_ENUM(TaskSource, FACTORIAL_TASK_SOURCES)
FACTORIAL_DEFINE_ENUM(TaskReason, FACTORIAL_TASK_REASONS)
FACTORIAL_DEFINE_ENUM(ValueType, FACTORIAL_VALUE_TYPES)
FACTORIAL_DEFINE_ENUM(ExecutorType, FACTORIAL_EXECUTOR_TYPES)
FACTORIAL_DEFINE_ENUM(FrameworkCapability, FACTORIAL_FRAMEWORK_CAPABILITIES)
FACTORIAL_DEFINE_ENUM(OperationType, FACTORIAL_OPERATION_TYPES)
namespace scheduler {
FACTORIAL_DEFINE_ENUM(CallType, FACTORIAL_SCHEDULER_CALL_TYPES)
FACTORIAL_DEFINE_ENUM(EventType, FACTORIAL_SCHEDULER_EVENT_TYPES)
}  // namespace scheduler
namespace executor {
FACTORIAL_DEFINE_ENUM(CallType, FACTORIAL_EXECUTOR_CALL_TYPES)
FACTORIAL_DEFINE_ENUM(EventType, FACTORIAL_EXECUTOR_EVENT_TYPES)
}  // namespace executor

bool IsTerminal(TaskState state) {
  switch (state) {
    case TaskState::kFinished:
    case TaskState::kFailed:
    case TaskState::kKilled:
    case TaskState::kError:
    case TaskState::kLost:
    case TaskState::kDropped:
    case TaskState::kGone:
    case TaskState::kGoneByOperator:
      return true;
    default:
      return false;
  }
}

bool HasCapability(const FrameworkInfo& info, FrameworkCapability capability) {
  return std::find(info.capabilities.begin(), info.capabilities.end(), capability) !=
         info.capabilities.end();
}

// ---- Field lists -------------------------------------------------------------------------
// One list per message, in the order the master renders fields, feeds both the reader
// (detail::FieldMatcher / MissingReporter, with M = T) and the writer (JsonWriter, M = const T).
// The visitor's method says how the field maps to JSON; see detail::FieldMatcher for each kind.

template <class M, class T>
concept MessageOf = std::is_same_v<std::remove_const_t<M>, T>;

template <class T>
struct IsId : std::false_type {};
template <class Tag>
struct IsId<Id<Tag>> : std::true_type {};

template <class V, class M>
  requires IsId<std::remove_const_t<M>>::value
static void Fields(V& v, M& m) {
  v.Required("value", m.value);
}

template <class V, MessageOf<Label> M>
static void Fields(V& v, M& m) {
  v.Required("key", m.key);
  v.Optional("value", m.value);
}

template <class V, MessageOf<Range> M>
static void Fields(V& v, M& m) {
  v.Required("begin", m.begin);
  v.Required("end", m.end);
}

template <class V, MessageOf<ReservationInfo> M>
static void Fields(V& v, M& m) {
  v.Optional("type", m.type);
  v.Optional("role", m.role);
  v.Optional("principal", m.principal);
}

template <class V, MessageOf<Resource> M>
static void Fields(V& v, M& m) {
  v.Required("name", m.name);
  v.Required("type", m.type);
  v.Boxed("scalar", "value", m.scalar);
  v.BoxedList("ranges", "range", m.ranges);
  v.BoxedList("set", "item", m.set);
  v.Optional("role", m.role);
  v.Optional("reservation", m.reservation);
  v.Repeated("reservations", m.reservations);
  v.BoxedOptional("allocation_info", "role", m.allocation_role);
}

template <class V, MessageOf<Filters> M>
static void Fields(V& v, M& m) {
  v.OptionalOr("refuse_seconds", m.refuse_seconds, 5.0);
}

// Durations (DurationInfo {nanoseconds}) are boxed int64s.
template <class V, MessageOf<KillPolicy> M>
static void Fields(V& v, M& m) {
  v.Boxed("grace_period", "nanoseconds", m.grace_period_nanoseconds);
}

template <class V, MessageOf<CommandUri> M>
static void Fields(V& v, M& m) {
  v.Required("value", m.value);
  v.Optional("executable", m.executable);
  v.Default("extract", m.extract);
  v.Optional("cache", m.cache);
  v.Optional("output_file", m.output_file);
}

template <class V, MessageOf<EnvironmentVariable> M>
static void Fields(V& v, M& m) {
  v.Required("name", m.name);
  v.Default("type", m.type);
  v.Optional("value", m.value);
}

template <class V, MessageOf<CommandInfo> M>
static void Fields(V& v, M& m) {
  v.Repeated("uris", m.uris);
  v.BoxedList("environment", "variables", m.environment);
  v.Default("shell", m.shell);
  v.Optional("value", m.value);
  v.Repeated("arguments", m.arguments);
  v.Optional("user", m.user);
}

template <class V, MessageOf<ExecutorInfo> M>
static void Fields(V& v, M& m) {
  v.Optional("type", m.type);
  v.Required("executor_id", m.executor_id);
  v.Optional("framework_id", m.framework_id);
  v.Optional("command", m.command);
  v.Repeated("resources", m.resources);
  v.Optional("name", m.name);
  v.Optional("source", m.source);
  v.OptionalBytes("data", m.data);
  v.BoxedList("labels", "labels", m.labels);
  v.Boxed("shutdown_grace_period", "nanoseconds", m.shutdown_grace_period_nanoseconds);
}

template <class V, MessageOf<TaskInfo> M>
static void Fields(V& v, M& m) {
  v.Required("name", m.name);
  v.Required("task_id", m.task_id);
  v.Required("agent_id", m.agent_id);
  v.Repeated("resources", m.resources);
  v.Optional("executor", m.executor);
  v.Optional("command", m.command);
  v.OptionalBytes("data", m.data);
  v.BoxedList("labels", "labels", m.labels);
  v.Optional("kill_policy", m.kill_policy);
}

template <class V, MessageOf<TaskStatus> M>
static void Fields(V& v, M& m) {
  v.Required("task_id", m.task_id);
  v.Required("state", m.state);
  v.Optional("message", m.message);
  v.Optional("source", m.source);
  v.Optional("reason", m.reason);
  v.OptionalBytes("data", m.data);
  v.Optional("agent_id", m.agent_id);
  v.Optional("executor_id", m.executor_id);
  v.Optional("timestamp", m.timestamp);
  v.OptionalBytes("uuid", m.uuid);
  v.Optional("healthy", m.healthy);
  v.BoxedList("labels", "labels", m.labels);
  v.Boxed("unreachable_time", "nanoseconds", m.unreachable_time_nanoseconds);
}

template <class V, MessageOf<FrameworkInfo> M>
static void Fields(V& v, M& m) {
  v.Required("user", m.user);
  v.Required("name", m.name);
  v.Optional("id", m.id);
  v.Default("failover_timeout", m.failover_timeout);
  v.Default("checkpoint", m.checkpoint);
  v.Optional("role", m.role);
  v.Optional("hostname", m.hostname);
  v.Optional("principal", m.principal);
  v.Optional("webui_url", m.webui_url);
  v.TypeList("capabilities", m.capabilities);
  v.BoxedList("labels", "labels", m.labels);
  v.Repeated("roles", m.roles);
}

template <class V, MessageOf<Address> M>
static void Fields(V& v, M& m) {
  v.Optional("hostname", m.hostname);
  v.Optional("ip", m.ip);
  v.Required("port", m.port);
}

template <class V, MessageOf<Url> M>
static void Fields(V& v, M& m) {
  v.Required("scheme", m.scheme);
  v.Required("address", m.address);
  v.Optional("path", m.path);
}

template <class V, MessageOf<MasterInfo> M>
static void Fields(V& v, M& m) {
  v.Required("id", m.id);
  v.Required("ip", m.ip);
  v.Required("port", m.port);
  v.Optional("pid", m.pid);
  v.Optional("hostname", m.hostname);
  v.Optional("version", m.version);
  v.Optional("address", m.address);
  v.LenientTypeList("capabilities", m.capabilities);
}

template <class V, MessageOf<AgentInfo> M>
static void Fields(V& v, M& m) {
  v.Required("hostname", m.hostname);
  v.Default("port", m.port);
  v.Repeated("resources", m.resources);
  v.Optional("id", m.id);
}

template <class V, MessageOf<Offer> M>
static void Fields(V& v, M& m) {
  v.Required("id", m.id);
  v.Required("framework_id", m.framework_id);
  v.Required("agent_id", m.agent_id);
  v.Required("hostname", m.hostname);
  v.Optional("url", m.url);
  v.Repeated("resources", m.resources);
  v.Repeated("executor_ids", m.executor_ids);
  v.BoxedOptional("allocation_info", "role", m.allocation_role);
}

template <class V, MessageOf<Operation::LaunchGroup> M>
static void Fields(V& v, M& m) {
  v.Required("executor", m.executor);
  v.RequiredBoxedList("task_group", "tasks", m.tasks);
}

template <class V, MessageOf<Operation> M>
static void Fields(V& v, M& m) {
  v.Default("type", m.type);
  v.Boxed("id", "value", m.id);
  v.BoxedList("launch", "task_infos", m.launch);
  v.Optional("launch_group", m.launch_group);
}

namespace scheduler {

template <class V, MessageOf<Call::Subscribe> M>
static void Fields(V& v, M& m) {
  v.Required("framework_info", m.framework_info);
  v.Repeated("suppressed_roles", m.suppressed_roles);
}

template <class V, MessageOf<Call::Accept> M>
static void Fields(V& v, M& m) {
  v.Repeated("offer_ids", m.offer_ids);
  v.Repeated("operations", m.operations);
  v.Optional("filters", m.filters);
}

template <class V, MessageOf<Call::Decline> M>
static void Fields(V& v, M& m) {
  v.Repeated("offer_ids", m.offer_ids);
  v.Optional("filters", m.filters);
}

template <class V, MessageOf<Call::Roles> M>
static void Fields(V& v, M& m) {
  v.Repeated("roles", m.roles);
}

template <class V, MessageOf<Call::Kill> M>
static void Fields(V& v, M& m) {
  v.Required("task_id", m.task_id);
  v.Optional("agent_id", m.agent_id);
  v.Optional("kill_policy", m.kill_policy);
}

template <class V, MessageOf<Call::Shutdown> M>
static void Fields(V& v, M& m) {
  v.Required("executor_id", m.executor_id);
  v.Required("agent_id", m.agent_id);
}

template <class V, MessageOf<Call::Acknowledge> M>
static void Fields(V& v, M& m) {
  v.Required("agent_id", m.agent_id);
  v.Required("task_id", m.task_id);
  v.RequiredBytes("uuid", m.uuid);
}

template <class V, MessageOf<Call::Reconcile::Task> M>
static void Fields(V& v, M& m) {
  v.Required("task_id", m.task_id);
  v.Optional("agent_id", m.agent_id);
}

template <class V, MessageOf<Call::Reconcile> M>
static void Fields(V& v, M& m) {
  v.Repeated("tasks", m.tasks);
}

template <class V, MessageOf<Call::Message> M>
static void Fields(V& v, M& m) {
  v.Required("agent_id", m.agent_id);
  v.Required("executor_id", m.executor_id);
  v.RequiredBytes("data", m.data);
}

template <class V, MessageOf<Call::UpdateFramework> M>
static void Fields(V& v, M& m) {
  v.Required("framework_info", m.framework_info);
  v.Repeated("suppressed_roles", m.suppressed_roles);
}

template <class V, MessageOf<Call> M>
static void Fields(V& v, M& m) {
  v.Optional("framework_id", m.framework_id);
  v.OptionalKnown("type", m.type);  // unknown = unset, so validation says "Expecting 'type'"
  v.Optional("subscribe", m.subscribe);
  v.Optional("accept", m.accept);
  v.Optional("decline", m.decline);
  v.Optional("revive", m.revive);
  v.Optional("kill", m.kill);
  v.Optional("shutdown", m.shutdown);
  v.Optional("acknowledge", m.acknowledge);
  v.Optional("reconcile", m.reconcile);
  v.Optional("message", m.message);
  v.Optional("suppress", m.suppress);
  v.Optional("update_framework", m.update_framework);
}

template <class V, MessageOf<Event::Subscribed> M>
static void Fields(V& v, M& m) {
  v.Required("framework_id", m.framework_id);
  v.Optional("heartbeat_interval_seconds", m.heartbeat_interval_seconds);
  v.Optional("master_info", m.master_info);
}

template <class V, MessageOf<Event::Offers> M>
static void Fields(V& v, M& m) {
  v.Repeated("offers", m.offers);
}

template <class V, MessageOf<Event::Rescind> M>
static void Fields(V& v, M& m) {
  v.Required("offer_id", m.offer_id);
}

template <class V, MessageOf<Event::Update> M>
static void Fields(V& v, M& m) {
  v.Required("status", m.status);
}

template <class V, MessageOf<Event::Message> M>
static void Fields(V& v, M& m) {
  v.Required("agent_id", m.agent_id);
  v.Required("executor_id", m.executor_id);
  v.RequiredBytes("data", m.data);
}

template <class V, MessageOf<Event::Failure> M>
static void Fields(V& v, M& m) {
  v.Optional("agent_id", m.agent_id);
  v.Optional("executor_id", m.executor_id);
  v.Optional("status", m.status);
}

template <class V, MessageOf<Event::Error> M>
static void Fields(V& v, M& m) {
  v.Required("message", m.message);
}

template <class V, MessageOf<Event> M>
static void Fields(V& v, M& m) {
  v.Default("type", m.type);
  v.Optional("subscribed", m.subscribed);
  v.Optional("offers", m.offers);
  v.Optional("rescind", m.rescind);
  v.Optional("update", m.update);
  v.Optional("message", m.message);
  v.Optional("failure", m.failure);
  v.Optional("error", m.error);
}

}  // namespace scheduler

namespace executor {

template <class V, MessageOf<Call::Update> M>
static void Fields(V& v, M& m) {
  v.Required("status", m.status);
}

template <class V, MessageOf<Call::Subscribe> M>
static void Fields(V& v, M& m) {
  v.Repeated("unacknowledged_tasks", m.unacknowledged_tasks);
  v.Repeated("unacknowledged_updates", m.unacknowledged_updates);
}

template <class V, MessageOf<Call::Message> M>
static void Fields(V& v, M& m) {
  v.RequiredBytes("data", m.data);
}

template <class V, MessageOf<Call> M>
static void Fields(V& v, M& m) {
  v.Required("executor_id", m.executor_id);
  v.Required("framework_id", m.framework_id);
  v.OptionalKnown("type", m.type);
  v.Optional("subscribe", m.subscribe);
  v.Optional("update", m.update);
  v.Optional("message", m.message);
}

template <class V, MessageOf<Event::Subscribed> M>
static void Fields(V& v, M& m) {
  v.Required("executor_info", m.executor_info);
  v.Required("framework_info", m.framework_info);
  v.Required("agent_info", m.agent_info);
  v.Optional("container_id", m.container_id);
}

template <class V, MessageOf<Event::Launch> M>
static void Fields(V& v, M& m) {
  v.Required("task", m.task);
}

template <class V, MessageOf<Event::LaunchGroup> M>
static void Fields(V& v, M& m) {
  v.RequiredBoxedList("task_group", "tasks", m.tasks);
}

template <class V, MessageOf<Event::Kill> M>
static void Fields(V& v, M& m) {
  v.Required("task_id", m.task_id);
  v.Optional("kill_policy", m.kill_policy);
}

template <class V, MessageOf<Event::Acknowledged> M>
static void Fields(V& v, M& m) {
  v.Required("task_id", m.task_id);
  v.RequiredBytes("uuid", m.uuid);
}

template <class V, MessageOf<Event::Message> M>
static void Fields(V& v, M& m) {
  v.RequiredBytes("data", m.data);
}

template <class V, MessageOf<Event::Error> M>
static void Fields(V& v, M& m) {
  v.Required("message", m.message);
}

template <class V, MessageOf<Event> M>
static void Fields(V& v, M& m) {
  v.Default("type", m.type);
  v.Optional("subscribed", m.subscribed);
  v.Optional("acknowledged", m.acknowledged);
  v.Optional("launch", m.launch);
  v.Optional("launch_group", m.launch_group);
  v.Optional("kill", m.kill);
  v.Optional("message", m.message);
  v.Optional("error", m.error);
}

}  // namespace executor

// ---- Writer ------------------------------------------------------------------------------

namespace {

// JSON has no infinities: write them as the strings stout's parser accepts, so a value read
// from "Infinity" survives a round trip instead of turning into null.
ojson Num(double d) {
  if (std::isfinite(d)) return d;
  if (std::isnan(d)) return "NaN";
  return d > 0 ? "Infinity" : "-Infinity";
}

ojson Value(const std::string& s) { return s; }
ojson Value(bool b) { return b; }
ojson Value(double d) { return Num(d); }
ojson Value(std::int64_t i) { return i; }
ojson Value(std::uint64_t u) { return u; }
ojson Value(std::int32_t i) { return i; }
ojson Value(std::uint32_t u) { return u; }
template <class E>
  requires std::is_enum_v<E>
ojson Value(E e) {
  return Name(e);
}
template <class M>
  requires std::is_class_v<M>
ojson Value(const M& m);

template <class T>
ojson List(const std::vector<T>& items) {
  ojson a = ojson::array();
  for (const auto& item : items) a.push_back(Value(item));
  return a;
}

ojson Box(std::string_view inner, ojson value) {
  ojson box = ojson::object();
  box[std::string(inner)] = std::move(value);
  return box;
}

// Writes a message's fields into a JSON object, in list order: unset optional fields and empty
// lists are omitted, fields with a proto default always written.
class JsonWriter {
 public:
  explicit JsonWriter(ojson& out) : j_(out) {}

  template <class T>
  void Required(std::string_view name, const T& value) {
    Set(name, Value(value));
  }
  template <class T>
  void Optional(std::string_view name, const std::optional<T>& value) {
    if (value) Set(name, Value(*value));
  }
  template <class E>
  void OptionalKnown(std::string_view name, const std::optional<E>& value) {
    Optional(name, value);
  }
  template <class T>
  void Default(std::string_view name, const T& value) {
    Set(name, Value(value));
  }
  template <class T>
  void Repeated(std::string_view name, const std::vector<T>& values) {
    if (!values.empty()) Set(name, List(values));
  }
  void RequiredBytes(std::string_view name, const std::string& bytes) {
    Set(name, Base64Encode(bytes));
  }
  void OptionalBytes(std::string_view name, const std::optional<std::string>& bytes) {
    if (bytes) Set(name, Base64Encode(*bytes));
  }
  void OptionalOr(std::string_view name, const std::optional<double>& value, double fallback) {
    Set(name, Num(value.value_or(fallback)));
  }
  template <class T>
  void Boxed(std::string_view name, std::string_view inner, const std::optional<T>& value) {
    if (value) Set(name, Box(inner, Value(*value)));
  }
  void BoxedOptional(std::string_view name, std::string_view inner,
                     const std::optional<std::string>& value) {
    if (value) Set(name, Box(inner, Value(*value)));
  }
  template <class T>
  void BoxedList(std::string_view name, std::string_view inner,
                 const std::optional<std::vector<T>>& values) {
    if (values) Set(name, BoxList(inner, *values));
  }
  template <class T>
  void RequiredBoxedList(std::string_view name, std::string_view inner,
                         const std::vector<T>& values) {
    Set(name, BoxList(inner, values));
  }
  template <class T>
  void TypeList(std::string_view name, const std::vector<T>& types) {
    if (types.empty()) return;
    ojson a = ojson::array();
    for (const auto& type : types) a.push_back(Box("type", Value(type)));
    Set(name, std::move(a));
  }
  void LenientTypeList(std::string_view name, const std::vector<std::string>& types) {
    TypeList(name, types);
  }

 private:
  void Set(std::string_view name, ojson value) { j_[std::string(name)] = std::move(value); }
  template <class T>
  static ojson BoxList(std::string_view inner, const std::vector<T>& values) {
    ojson box = ojson::object();
    if (!values.empty()) box[std::string(inner)] = List(values);
    return box;
  }

  ojson& j_;
};

template <class M>
  requires std::is_class_v<M>
ojson Value(const M& m) {
  ojson j = ojson::object();
  JsonWriter writer(j);
  Fields(writer, m);
  return j;
}

// Parses `text` into T. Syntax errors are kCorruption, worded by nlohmann ("Failed to parse
// body into JSON: ..." in the master's words); shape errors are kInvalidArgument, with
// protobuf's wording for missing required fields.
template <class T>
Result<T> ParseJson(std::string_view text) {
  T out{};
  if (auto failure = detail::ReadJson(text, out)) {
    return MakeError(failure->syntax ? Errc::kCorruption : Errc::kInvalidArgument,
                     std::move(failure->message));
  }
  return out;
}

// dump() with error_handler::replace: invalid UTF-8 in a string never throws.
template <class M>
std::string Dump(const M& message) {
  return Value(message).dump(-1, ' ', false, ojson::error_handler_t::replace);
}

}  // namespace

Result<scheduler::Event> ParseSchedulerEvent(std::string_view json) {
  return ParseJson<scheduler::Event>(json);
}
Result<scheduler::Call> ParseSchedulerCall(std::string_view json) {
  return ParseJson<scheduler::Call>(json);
}
Result<executor::Event> ParseExecutorEvent(std::string_view json) {
  return ParseJson<executor::Event>(json);
}
Result<executor::Call> ParseExecutorCall(std::string_view json) {
  return ParseJson<executor::Call>(json);
}
Result<TaskInfo> ParseTaskInfo(std::string_view json) { return ParseJson<TaskInfo>(json); }

std::string Serialize(const scheduler::Call& call) { return Dump(call); }
std::string Serialize(const scheduler::Event& event) { return Dump(event); }
std::string Serialize(const executor::Call& call) { return Dump(call); }
std::string Serialize(const executor::Event& event) { return Dump(event); }
std::string Serialize(const TaskInfo& task) { return Dump(task); }
std::string Serialize(const TaskStatus& status) { return Dump(status); }

}  // namespace factorial::v1
