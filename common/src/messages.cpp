#include "factorial/messages.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include <nlohmann/json.hpp>

#include "factorial/base64.hpp"
#include "json_reader.hpp"

namespace factorial::v1 {

using detail::ObjectReader;
using detail::ReadContext;
using ojson = nlohmann::ordered_json;
using detail::Read;
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
  /* Unknown names read as kUnknown, never as an error (forward compatibility). */            \
  [[maybe_unused]] static void Read(const detail::json& j, const std::string& path,           \
                                    ReadContext& ctx, Type& out) {                            \
    if (!j.is_string()) return ctx.Fail(path, "expected an enum name");                      \
    out = Parse##Type(j.get_ref<const std::string&>());                                       \
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

// ---- Readers -----------------------------------------------------------------------------
// One overload per message; `Read` is found by overload resolution from ObjectReader.

template <class Tag>
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Id<Tag>& out) {
  ObjectReader r(j, path, ctx);
  r.Required("value", out.value);
}

// Labels travel as {"labels":[{"key":..,"value":..}]}.
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Label& out) {
  ObjectReader r(j, path, ctx);
  r.Required("key", out.key);
  r.Optional("value", out.value);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Labels& out) {
  ObjectReader r(j, path, ctx);
  r.Repeated("labels", out);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Range& out) {
  ObjectReader r(j, path, ctx);
  r.Required("begin", out.begin);
  r.Required("end", out.end);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          ReservationInfo& out) {
  ObjectReader r(j, path, ctx);
  r.Optional("type", out.type);
  r.Optional("role", out.role);
  r.Optional("principal", out.principal);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Resource& out) {
  ObjectReader r(j, path, ctx);
  r.Required("name", out.name);
  r.Required("type", out.type);
  if (const auto* s = r.Find("scalar")) {
    ObjectReader sr(*s, r.PathOf("scalar"), ctx);
    double v = 0;
    sr.Required("value", v);
    out.scalar = v;
  }
  if (const auto* rs = r.Find("ranges")) {
    ObjectReader rr(*rs, r.PathOf("ranges"), ctx);
    out.ranges.emplace();
    rr.Repeated("range", *out.ranges);
  }
  if (const auto* s = r.Find("set")) {
    ObjectReader sr(*s, r.PathOf("set"), ctx);
    out.set.emplace();
    sr.Repeated("item", *out.set);
  }
  r.Optional("role", out.role);
  if (const auto* a = r.Find("allocation_info")) {
    ObjectReader ar(*a, r.PathOf("allocation_info"), ctx);
    ar.Optional("role", out.allocation_role);
  }
  r.Optional("reservation", out.reservation);
  r.Repeated("reservations", out.reservations);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Filters& out) {
  ObjectReader r(j, path, ctx);
  r.Optional("refuse_seconds", out.refuse_seconds);
}

// DurationInfo {nanoseconds}: read straight into an int64.
static void ReadDuration(ObjectReader& r, const char* key, std::optional<std::int64_t>& out) {
  if (const auto* d = r.Find(key)) {
    ObjectReader dr(*d, r.PathOf(key), r.ctx());
    std::int64_t ns = 0;
    dr.Required("nanoseconds", ns);
    out = ns;
  }
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, KillPolicy& out) {
  ObjectReader r(j, path, ctx);
  ReadDuration(r, "grace_period", out.grace_period_nanoseconds);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, CommandUri& out) {
  ObjectReader r(j, path, ctx);
  r.Required("value", out.value);
  r.Optional("executable", out.executable);
  r.Default("extract", out.extract);
  r.Optional("cache", out.cache);
  r.Optional("output_file", out.output_file);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          EnvironmentVariable& out) {
  ObjectReader r(j, path, ctx);
  r.Required("name", out.name);
  r.Default("type", out.type);
  r.Optional("value", out.value);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, CommandInfo& out) {
  ObjectReader r(j, path, ctx);
  r.Repeated("uris", out.uris);
  if (const auto* e = r.Find("environment")) {
    ObjectReader er(*e, r.PathOf("environment"), ctx);
    out.environment.emplace();
    er.Repeated("variables", *out.environment);
  }
  r.Default("shell", out.shell);
  r.Optional("value", out.value);
  r.Repeated("arguments", out.arguments);
  r.Optional("user", out.user);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, ExecutorInfo& out) {
  ObjectReader r(j, path, ctx);
  r.Optional("type", out.type);
  r.Required("executor_id", out.executor_id);
  r.Optional("framework_id", out.framework_id);
  r.Optional("command", out.command);
  r.Repeated("resources", out.resources);
  r.Optional("name", out.name);
  r.Optional("source", out.source);
  r.OptionalBytes("data", out.data);
  ReadDuration(r, "shutdown_grace_period", out.shutdown_grace_period_nanoseconds);
  r.Optional("labels", out.labels);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, TaskInfo& out) {
  ObjectReader r(j, path, ctx);
  r.Required("name", out.name);
  r.Required("task_id", out.task_id);
  r.Required("agent_id", out.agent_id);
  r.Repeated("resources", out.resources);
  r.Optional("executor", out.executor);
  r.Optional("command", out.command);
  r.OptionalBytes("data", out.data);
  r.Optional("kill_policy", out.kill_policy);
  r.Optional("labels", out.labels);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, TaskStatus& out) {
  ObjectReader r(j, path, ctx);
  r.Required("task_id", out.task_id);
  r.Required("state", out.state);
  r.Optional("message", out.message);
  r.Optional("source", out.source);
  r.Optional("reason", out.reason);
  r.OptionalBytes("data", out.data);
  r.Optional("agent_id", out.agent_id);
  r.Optional("executor_id", out.executor_id);
  r.Optional("timestamp", out.timestamp);
  r.OptionalBytes("uuid", out.uuid);
  r.Optional("healthy", out.healthy);
  r.Optional("labels", out.labels);
  ReadDuration(r, "unreachable_time", out.unreachable_time_nanoseconds);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          FrameworkInfo& out) {
  ObjectReader r(j, path, ctx);
  r.Required("user", out.user);
  r.Required("name", out.name);
  r.Optional("id", out.id);
  r.Default("failover_timeout", out.failover_timeout);
  r.Default("checkpoint", out.checkpoint);
  r.Optional("role", out.role);
  r.Repeated("roles", out.roles);
  r.Optional("hostname", out.hostname);
  r.Optional("principal", out.principal);
  r.Optional("webui_url", out.webui_url);
  if (const auto* caps = r.Find("capabilities")) {
    std::vector<detail::json> entries;
    if (caps->is_array()) {
      entries.assign(caps->begin(), caps->end());
    } else {
      entries.push_back(*caps);
    }
    for (std::size_t i = 0; i < entries.size(); ++i) {
      ObjectReader cr(entries[i], r.PathOf("capabilities") + "[" + std::to_string(i) + "]", ctx);
      FrameworkCapability c = FrameworkCapability::kUnknown;
      cr.Default("type", c);
      out.capabilities.push_back(c);
    }
  }
  r.Optional("labels", out.labels);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Address& out) {
  ObjectReader r(j, path, ctx);
  r.Optional("hostname", out.hostname);
  r.Optional("ip", out.ip);
  r.Required("port", out.port);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Url& out) {
  ObjectReader r(j, path, ctx);
  r.Required("scheme", out.scheme);
  r.Required("address", out.address);
  r.Optional("path", out.path);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, MasterInfo& out) {
  ObjectReader r(j, path, ctx);
  r.Required("id", out.id);
  r.Required("ip", out.ip);
  r.Required("port", out.port);
  r.Optional("pid", out.pid);
  r.Optional("hostname", out.hostname);
  r.Optional("version", out.version);
  r.Optional("address", out.address);
  if (const auto* caps = r.Find("capabilities"); caps && caps->is_array()) {
    for (const auto& c : *caps) {
      if (c.is_object() && c.contains("type") && c["type"].is_string()) {
        out.capabilities.push_back(c["type"].get<std::string>());
      }
    }
  }
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, AgentInfo& out) {
  ObjectReader r(j, path, ctx);
  r.Required("hostname", out.hostname);
  r.Default("port", out.port);
  r.Repeated("resources", out.resources);
  r.Optional("id", out.id);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Offer& out) {
  ObjectReader r(j, path, ctx);
  r.Required("id", out.id);
  r.Required("framework_id", out.framework_id);
  r.Required("agent_id", out.agent_id);
  r.Required("hostname", out.hostname);
  r.Optional("url", out.url);
  r.Repeated("resources", out.resources);
  r.Repeated("executor_ids", out.executor_ids);
  if (const auto* a = r.Find("allocation_info")) {
    ObjectReader ar(*a, r.PathOf("allocation_info"), ctx);
    ar.Optional("role", out.allocation_role);
  }
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, Operation& out) {
  ObjectReader r(j, path, ctx);
  r.Default("type", out.type);
  if (const auto* id = r.Find("id")) {
    ObjectReader ir(*id, r.PathOf("id"), ctx);
    out.id.emplace();
    ir.Required("value", *out.id);
  }
  if (const auto* l = r.Find("launch")) {
    ObjectReader lr(*l, r.PathOf("launch"), ctx);
    out.launch.emplace();
    lr.Repeated("task_infos", *out.launch);
  }
  if (const auto* g = r.Find("launch_group")) {
    ObjectReader gr(*g, r.PathOf("launch_group"), ctx);
    out.launch_group.emplace();
    gr.Required("executor", out.launch_group->executor);
    if (const auto* tg = gr.Find("task_group")) {
      ObjectReader tr(*tg, gr.PathOf("task_group"), ctx);
      tr.Repeated("tasks", out.launch_group->tasks);
    } else {
      ctx.missing.push_back(gr.PathOf("task_group"));
    }
  }
}

namespace scheduler {
using v1::Read;

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Subscribe& out) {
  ObjectReader r(j, path, ctx);
  r.Required("framework_info", out.framework_info);
  r.Repeated("suppressed_roles", out.suppressed_roles);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Accept& out) {
  ObjectReader r(j, path, ctx);
  r.Repeated("offer_ids", out.offer_ids);
  r.Repeated("operations", out.operations);
  r.Optional("filters", out.filters);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Decline& out) {
  ObjectReader r(j, path, ctx);
  r.Repeated("offer_ids", out.offer_ids);
  r.Optional("filters", out.filters);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Roles& out) {
  ObjectReader r(j, path, ctx);
  r.Repeated("roles", out.roles);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Kill& out) {
  ObjectReader r(j, path, ctx);
  r.Required("task_id", out.task_id);
  r.Optional("agent_id", out.agent_id);
  r.Optional("kill_policy", out.kill_policy);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Shutdown& out) {
  ObjectReader r(j, path, ctx);
  r.Required("executor_id", out.executor_id);
  r.Required("agent_id", out.agent_id);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Acknowledge& out) {
  ObjectReader r(j, path, ctx);
  r.Required("agent_id", out.agent_id);
  r.Required("task_id", out.task_id);
  r.RequiredBytes("uuid", out.uuid);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Reconcile::Task& out) {
  ObjectReader r(j, path, ctx);
  r.Required("task_id", out.task_id);
  r.Optional("agent_id", out.agent_id);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Reconcile& out) {
  ObjectReader r(j, path, ctx);
  r.Repeated("tasks", out.tasks);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::Message& out) {
  ObjectReader r(j, path, ctx);
  r.Required("agent_id", out.agent_id);
  r.Required("executor_id", out.executor_id);
  r.RequiredBytes("data", out.data);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          sched::Call::UpdateFramework& out) {
  ObjectReader r(j, path, ctx);
  r.Required("framework_info", out.framework_info);
  r.Repeated("suppressed_roles", out.suppressed_roles);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, sched::Call& out) {
  ObjectReader r(j, path, ctx);
  r.Optional("framework_id", out.framework_id);
  r.Optional("type", out.type);
  if (out.type == sched::CallType::kUnknown) out.type.reset();  // unknown name = unset
  r.Optional("subscribe", out.subscribe);
  r.Optional("accept", out.accept);
  r.Optional("decline", out.decline);
  r.Optional("revive", out.revive);
  r.Optional("kill", out.kill);
  r.Optional("shutdown", out.shutdown);
  r.Optional("acknowledge", out.acknowledge);
  r.Optional("reconcile", out.reconcile);
  r.Optional("message", out.message);
  r.Optional("suppress", out.suppress);
  r.Optional("update_framework", out.update_framework);
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, sched::Event& out) {
  ObjectReader r(j, path, ctx);
  r.Default("type", out.type);
  if (const auto* s = r.Find("subscribed")) {
    ObjectReader sr(*s, r.PathOf("subscribed"), ctx);
    auto& v = out.subscribed.emplace();
    sr.Required("framework_id", v.framework_id);
    sr.Optional("heartbeat_interval_seconds", v.heartbeat_interval_seconds);
    sr.Optional("master_info", v.master_info);
  }
  if (const auto* o = r.Find("offers")) {
    ObjectReader orr(*o, r.PathOf("offers"), ctx);
    orr.Repeated("offers", out.offers.emplace().offers);
  }
  if (const auto* o = r.Find("rescind")) {
    ObjectReader rr(*o, r.PathOf("rescind"), ctx);
    rr.Required("offer_id", out.rescind.emplace().offer_id);
  }
  if (const auto* u = r.Find("update")) {
    ObjectReader ur(*u, r.PathOf("update"), ctx);
    ur.Required("status", out.update.emplace().status);
  }
  if (const auto* m = r.Find("message")) {
    ObjectReader mr(*m, r.PathOf("message"), ctx);
    auto& v = out.message.emplace();
    mr.Required("agent_id", v.agent_id);
    mr.Required("executor_id", v.executor_id);
    mr.RequiredBytes("data", v.data);
  }
  if (const auto* f = r.Find("failure")) {
    ObjectReader fr(*f, r.PathOf("failure"), ctx);
    auto& v = out.failure.emplace();
    fr.Optional("agent_id", v.agent_id);
    fr.Optional("executor_id", v.executor_id);
    fr.Optional("status", v.status);
  }
  if (const auto* e = r.Find("error")) {
    ObjectReader er(*e, r.PathOf("error"), ctx);
    er.Required("message", out.error.emplace().message);
  }
}

}  // namespace scheduler

namespace executor {
using v1::Read;

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx,
          exec::Call::Update& out) {
  ObjectReader r(j, path, ctx);
  r.Required("status", out.status);
}
static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, exec::Call& out) {
  ObjectReader r(j, path, ctx);
  r.Required("executor_id", out.executor_id);
  r.Required("framework_id", out.framework_id);
  r.Optional("type", out.type);
  if (out.type == exec::CallType::kUnknown) out.type.reset();
  if (const auto* s = r.Find("subscribe")) {
    ObjectReader sr(*s, r.PathOf("subscribe"), ctx);
    auto& v = out.subscribe.emplace();
    sr.Repeated("unacknowledged_tasks", v.unacknowledged_tasks);
    sr.Repeated("unacknowledged_updates", v.unacknowledged_updates);
  }
  r.Optional("update", out.update);
  if (const auto* m = r.Find("message")) {
    ObjectReader mr(*m, r.PathOf("message"), ctx);
    mr.RequiredBytes("data", out.message.emplace().data);
  }
}

static void Read(const detail::json& j, const std::string& path, ReadContext& ctx, exec::Event& out) {
  ObjectReader r(j, path, ctx);
  r.Default("type", out.type);
  if (const auto* s = r.Find("subscribed")) {
    ObjectReader sr(*s, r.PathOf("subscribed"), ctx);
    auto& v = out.subscribed.emplace();
    sr.Required("executor_info", v.executor_info);
    sr.Required("framework_info", v.framework_info);
    sr.Required("agent_info", v.agent_info);
    sr.Optional("container_id", v.container_id);
  }
  if (const auto* l = r.Find("launch")) {
    ObjectReader lr(*l, r.PathOf("launch"), ctx);
    lr.Required("task", out.launch.emplace().task);
  }
  if (const auto* g = r.Find("launch_group")) {
    ObjectReader gr(*g, r.PathOf("launch_group"), ctx);
    auto& v = out.launch_group.emplace();
    if (const auto* tg = gr.Find("task_group")) {
      ObjectReader tr(*tg, gr.PathOf("task_group"), ctx);
      tr.Repeated("tasks", v.tasks);
    } else {
      ctx.missing.push_back(gr.PathOf("task_group"));
    }
  }
  if (const auto* k = r.Find("kill")) {
    ObjectReader kr(*k, r.PathOf("kill"), ctx);
    auto& v = out.kill.emplace();
    kr.Required("task_id", v.task_id);
    kr.Optional("kill_policy", v.kill_policy);
  }
  if (const auto* a = r.Find("acknowledged")) {
    ObjectReader ar(*a, r.PathOf("acknowledged"), ctx);
    auto& v = out.acknowledged.emplace();
    ar.Required("task_id", v.task_id);
    ar.RequiredBytes("uuid", v.uuid);
  }
  if (const auto* m = r.Find("message")) {
    ObjectReader mr(*m, r.PathOf("message"), ctx);
    mr.RequiredBytes("data", out.message.emplace().data);
  }
  if (const auto* e = r.Find("error")) {
    ObjectReader er(*e, r.PathOf("error"), ctx);
    er.Required("message", out.error.emplace().message);
  }
}

}  // namespace executor

// Parses `text` into T. Syntax errors are kCorruption ("Failed to parse body into JSON: ..."
// in the master's words); shape errors are kInvalidArgument, with protobuf's wording for
// missing required fields.
template <class T>
static Result<T> ParseJson(std::string_view text) {
  detail::json j = detail::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions for the diagnostic; the catch keeps it inside this module.
    try {
      detail::json again = detail::json::parse(text);
      static_cast<void>(again);
    } catch (const detail::json::exception& e) {
      return MakeError(Errc::kCorruption, e.what());
    }
    return MakeError(Errc::kCorruption, "syntax error");
  }
  ReadContext ctx;
  T out{};
  Read(j, "", ctx, out);
  if (ctx.error) return MakeError(Errc::kInvalidArgument, *ctx.error);
  if (!ctx.missing.empty()) {
    std::string message = "Missing required fields: ";
    for (std::size_t i = 0; i < ctx.missing.size(); ++i) {
      if (i > 0) message += ", ";
      message += ctx.missing[i];
    }
    return MakeError(Errc::kInvalidArgument, message);
  }
  return out;
}

// ---- Writers -----------------------------------------------------------------------------

// JSON has no infinities: write them as the strings stout's parser accepts, so a value read
// from "Infinity" survives a round trip instead of turning into null.
static ojson Num(double d) {
  if (std::isfinite(d)) return d;
  if (std::isnan(d)) return "NaN";
  return d > 0 ? "Infinity" : "-Infinity";
}

template <class Tag>
static ojson Write(const Id<Tag>& id) {
  ojson j = ojson::object();
  j["value"] = id.value;
  return j;
}

template <class T>
static ojson WriteList(const std::vector<T>& items) {
  ojson a = ojson::array();
  for (const auto& item : items) a.push_back(Write(item));
  return a;
}

static ojson Write(const Label& l) {
  ojson j = ojson::object();
  j["key"] = l.key;
  if (l.value) j["value"] = *l.value;
  return j;
}

static ojson Write(const Labels& labels) {
  ojson j = ojson::object();
  if (!labels.empty()) j["labels"] = WriteList(labels);
  return j;
}

static ojson Write(const Range& r) {
  ojson j = ojson::object();
  j["begin"] = r.begin;
  j["end"] = r.end;
  return j;
}

static ojson Write(const ReservationInfo& r) {
  ojson j = ojson::object();
  if (r.type) j["type"] = *r.type;
  if (r.role) j["role"] = *r.role;
  if (r.principal) j["principal"] = *r.principal;
  return j;
}

static ojson Write(const Resource& r) {
  ojson j = ojson::object();
  j["name"] = r.name;
  j["type"] = Name(r.type);
  if (r.scalar) j["scalar"] = ojson{{"value", Num(*r.scalar)}};
  if (r.ranges) {
    ojson ranges = ojson::object();
    if (!r.ranges->empty()) ranges["range"] = WriteList(*r.ranges);
    j["ranges"] = ranges;
  }
  if (r.set) {
    ojson set = ojson::object();
    if (!r.set->empty()) set["item"] = *r.set;
    j["set"] = set;
  }
  if (r.role) j["role"] = *r.role;
  if (r.reservation) j["reservation"] = Write(*r.reservation);
  if (!r.reservations.empty()) j["reservations"] = WriteList(r.reservations);
  if (r.allocation_role) j["allocation_info"] = ojson{{"role", *r.allocation_role}};
  return j;
}

static ojson Write(const Filters& f) {
  ojson j = ojson::object();
  j["refuse_seconds"] = Num(f.refuse_seconds.value_or(5.0));
  return j;
}

static ojson WriteDuration(std::int64_t ns) { return ojson{{"nanoseconds", ns}}; }

static ojson Write(const KillPolicy& k) {
  ojson j = ojson::object();
  if (k.grace_period_nanoseconds) j["grace_period"] = WriteDuration(*k.grace_period_nanoseconds);
  return j;
}

static ojson Write(const CommandUri& u) {
  ojson j = ojson::object();
  j["value"] = u.value;
  if (u.executable) j["executable"] = *u.executable;
  j["extract"] = u.extract;
  if (u.cache) j["cache"] = *u.cache;
  if (u.output_file) j["output_file"] = *u.output_file;
  return j;
}

static ojson Write(const EnvironmentVariable& v) {
  ojson j = ojson::object();
  j["name"] = v.name;
  j["type"] = v.type;
  if (v.value) j["value"] = *v.value;
  return j;
}

static ojson Write(const CommandInfo& c) {
  ojson j = ojson::object();
  if (!c.uris.empty()) j["uris"] = WriteList(c.uris);
  if (c.environment) {
    ojson env = ojson::object();
    if (!c.environment->empty()) env["variables"] = WriteList(*c.environment);
    j["environment"] = env;
  }
  j["shell"] = c.shell;
  if (c.value) j["value"] = *c.value;
  if (!c.arguments.empty()) j["arguments"] = c.arguments;
  if (c.user) j["user"] = *c.user;
  return j;
}

static ojson Write(const ExecutorInfo& e) {
  ojson j = ojson::object();
  if (e.type) j["type"] = Name(*e.type);
  j["executor_id"] = Write(e.executor_id);
  if (e.framework_id) j["framework_id"] = Write(*e.framework_id);
  if (e.command) j["command"] = Write(*e.command);
  if (!e.resources.empty()) j["resources"] = WriteList(e.resources);
  if (e.name) j["name"] = *e.name;
  if (e.source) j["source"] = *e.source;
  if (e.data) j["data"] = Base64Encode(*e.data);
  if (e.labels) j["labels"] = Write(*e.labels);
  if (e.shutdown_grace_period_nanoseconds) {
    j["shutdown_grace_period"] = WriteDuration(*e.shutdown_grace_period_nanoseconds);
  }
  return j;
}

static ojson Write(const TaskInfo& t) {
  ojson j = ojson::object();
  j["name"] = t.name;
  j["task_id"] = Write(t.task_id);
  j["agent_id"] = Write(t.agent_id);
  if (!t.resources.empty()) j["resources"] = WriteList(t.resources);
  if (t.executor) j["executor"] = Write(*t.executor);
  if (t.command) j["command"] = Write(*t.command);
  if (t.data) j["data"] = Base64Encode(*t.data);
  if (t.labels) j["labels"] = Write(*t.labels);
  if (t.kill_policy) j["kill_policy"] = Write(*t.kill_policy);
  return j;
}

static ojson Write(const TaskStatus& s) {
  ojson j = ojson::object();
  j["task_id"] = Write(s.task_id);
  j["state"] = Name(s.state);
  if (s.message) j["message"] = *s.message;
  if (s.source) j["source"] = Name(*s.source);
  if (s.reason) j["reason"] = Name(*s.reason);
  if (s.data) j["data"] = Base64Encode(*s.data);
  if (s.agent_id) j["agent_id"] = Write(*s.agent_id);
  if (s.executor_id) j["executor_id"] = Write(*s.executor_id);
  if (s.timestamp) j["timestamp"] = Num(*s.timestamp);
  if (s.uuid) j["uuid"] = Base64Encode(*s.uuid);
  if (s.healthy) j["healthy"] = *s.healthy;
  if (s.labels) j["labels"] = Write(*s.labels);
  if (s.unreachable_time_nanoseconds) {
    j["unreachable_time"] = WriteDuration(*s.unreachable_time_nanoseconds);
  }
  return j;
}

static ojson Write(const FrameworkInfo& f) {
  ojson j = ojson::object();
  j["user"] = f.user;
  j["name"] = f.name;
  if (f.id) j["id"] = Write(*f.id);
  j["failover_timeout"] = Num(f.failover_timeout);
  j["checkpoint"] = f.checkpoint;
  if (f.role) j["role"] = *f.role;
  if (f.hostname) j["hostname"] = *f.hostname;
  if (f.principal) j["principal"] = *f.principal;
  if (f.webui_url) j["webui_url"] = *f.webui_url;
  if (!f.capabilities.empty()) {
    ojson caps = ojson::array();
    for (auto c : f.capabilities) caps.push_back(ojson{{"type", Name(c)}});
    j["capabilities"] = caps;
  }
  if (f.labels) j["labels"] = Write(*f.labels);
  if (!f.roles.empty()) j["roles"] = f.roles;
  return j;
}

static ojson Write(const Address& a) {
  ojson j = ojson::object();
  if (a.hostname) j["hostname"] = *a.hostname;
  if (a.ip) j["ip"] = *a.ip;
  j["port"] = a.port;
  return j;
}

static ojson Write(const Url& u) {
  ojson j = ojson::object();
  j["scheme"] = u.scheme;
  j["address"] = Write(u.address);
  if (u.path) j["path"] = *u.path;
  return j;
}

static ojson Write(const MasterInfo& m) {
  ojson j = ojson::object();
  j["id"] = m.id;
  j["ip"] = m.ip;
  j["port"] = m.port;
  if (m.pid) j["pid"] = *m.pid;
  if (m.hostname) j["hostname"] = *m.hostname;
  if (m.version) j["version"] = *m.version;
  if (m.address) j["address"] = Write(*m.address);
  if (!m.capabilities.empty()) {
    ojson caps = ojson::array();
    for (const auto& c : m.capabilities) caps.push_back(ojson{{"type", c}});
    j["capabilities"] = caps;
  }
  return j;
}

static ojson Write(const AgentInfo& a) {
  ojson j = ojson::object();
  j["hostname"] = a.hostname;
  j["port"] = a.port;
  if (!a.resources.empty()) j["resources"] = WriteList(a.resources);
  if (a.id) j["id"] = Write(*a.id);
  return j;
}

static ojson Write(const Offer& o) {
  ojson j = ojson::object();
  j["id"] = Write(o.id);
  j["framework_id"] = Write(o.framework_id);
  j["agent_id"] = Write(o.agent_id);
  j["hostname"] = o.hostname;
  if (o.url) j["url"] = Write(*o.url);
  if (!o.resources.empty()) j["resources"] = WriteList(o.resources);
  if (!o.executor_ids.empty()) j["executor_ids"] = WriteList(o.executor_ids);
  if (o.allocation_role) j["allocation_info"] = ojson{{"role", *o.allocation_role}};
  return j;
}

static ojson Write(const Operation& op) {
  ojson j = ojson::object();
  j["type"] = Name(op.type);
  if (op.id) j["id"] = ojson{{"value", *op.id}};
  if (op.launch) {
    ojson launch = ojson::object();
    if (!op.launch->empty()) launch["task_infos"] = WriteList(*op.launch);
    j["launch"] = launch;
  }
  if (op.launch_group) {
    ojson group = ojson::object();
    group["executor"] = Write(op.launch_group->executor);
    ojson tasks = ojson::object();
    if (!op.launch_group->tasks.empty()) tasks["tasks"] = WriteList(op.launch_group->tasks);
    group["task_group"] = tasks;
    j["launch_group"] = group;
  }
  return j;
}

namespace scheduler {
using v1::Write;

static ojson WriteRoles(const sched::Call::Roles& r) {
  ojson j = ojson::object();
  if (!r.roles.empty()) j["roles"] = r.roles;
  return j;
}

static ojson Write(const sched::Call& c) {
  ojson j = ojson::object();
  if (c.framework_id) j["framework_id"] = Write(*c.framework_id);
  if (c.type) j["type"] = Name(*c.type);
  if (c.subscribe) {
    ojson s = ojson::object();
    s["framework_info"] = Write(c.subscribe->framework_info);
    if (!c.subscribe->suppressed_roles.empty()) s["suppressed_roles"] = c.subscribe->suppressed_roles;
    j["subscribe"] = s;
  }
  if (c.accept) {
    ojson a = ojson::object();
    if (!c.accept->offer_ids.empty()) a["offer_ids"] = WriteList(c.accept->offer_ids);
    if (!c.accept->operations.empty()) a["operations"] = WriteList(c.accept->operations);
    if (c.accept->filters) a["filters"] = Write(*c.accept->filters);
    j["accept"] = a;
  }
  if (c.decline) {
    ojson d = ojson::object();
    if (!c.decline->offer_ids.empty()) d["offer_ids"] = WriteList(c.decline->offer_ids);
    if (c.decline->filters) d["filters"] = Write(*c.decline->filters);
    j["decline"] = d;
  }
  if (c.revive) j["revive"] = WriteRoles(*c.revive);
  if (c.kill) {
    ojson k = ojson::object();
    k["task_id"] = Write(c.kill->task_id);
    if (c.kill->agent_id) k["agent_id"] = Write(*c.kill->agent_id);
    if (c.kill->kill_policy) k["kill_policy"] = Write(*c.kill->kill_policy);
    j["kill"] = k;
  }
  if (c.shutdown) {
    j["shutdown"] = ojson{{"executor_id", Write(c.shutdown->executor_id)},
                          {"agent_id", Write(c.shutdown->agent_id)}};
  }
  if (c.acknowledge) {
    j["acknowledge"] = ojson{{"agent_id", Write(c.acknowledge->agent_id)},
                             {"task_id", Write(c.acknowledge->task_id)},
                             {"uuid", Base64Encode(c.acknowledge->uuid)}};
  }
  if (c.reconcile) {
    ojson r = ojson::object();
    if (!c.reconcile->tasks.empty()) {
      ojson tasks = ojson::array();
      for (const auto& t : c.reconcile->tasks) {
        ojson tj = ojson::object();
        tj["task_id"] = Write(t.task_id);
        if (t.agent_id) tj["agent_id"] = Write(*t.agent_id);
        tasks.push_back(tj);
      }
      r["tasks"] = tasks;
    }
    j["reconcile"] = r;
  }
  if (c.message) {
    j["message"] = ojson{{"agent_id", Write(c.message->agent_id)},
                         {"executor_id", Write(c.message->executor_id)},
                         {"data", Base64Encode(c.message->data)}};
  }
  if (c.suppress) j["suppress"] = WriteRoles(*c.suppress);
  if (c.update_framework) {
    ojson u = ojson::object();
    u["framework_info"] = Write(c.update_framework->framework_info);
    if (!c.update_framework->suppressed_roles.empty()) {
      u["suppressed_roles"] = c.update_framework->suppressed_roles;
    }
    j["update_framework"] = u;
  }
  return j;
}

static ojson Write(const sched::Event& e) {
  ojson j = ojson::object();
  j["type"] = Name(e.type);
  if (e.subscribed) {
    ojson s = ojson::object();
    s["framework_id"] = Write(e.subscribed->framework_id);
    if (e.subscribed->heartbeat_interval_seconds) {
      s["heartbeat_interval_seconds"] = Num(*e.subscribed->heartbeat_interval_seconds);
    }
    if (e.subscribed->master_info) s["master_info"] = Write(*e.subscribed->master_info);
    j["subscribed"] = s;
  }
  if (e.offers) {
    ojson o = ojson::object();
    if (!e.offers->offers.empty()) o["offers"] = WriteList(e.offers->offers);
    j["offers"] = o;
  }
  if (e.rescind) j["rescind"] = ojson{{"offer_id", Write(e.rescind->offer_id)}};
  if (e.update) j["update"] = ojson{{"status", Write(e.update->status)}};
  if (e.message) {
    j["message"] = ojson{{"agent_id", Write(e.message->agent_id)},
                         {"executor_id", Write(e.message->executor_id)},
                         {"data", Base64Encode(e.message->data)}};
  }
  if (e.failure) {
    ojson f = ojson::object();
    if (e.failure->agent_id) f["agent_id"] = Write(*e.failure->agent_id);
    if (e.failure->executor_id) f["executor_id"] = Write(*e.failure->executor_id);
    if (e.failure->status) f["status"] = *e.failure->status;
    j["failure"] = f;
  }
  if (e.error) j["error"] = ojson{{"message", e.error->message}};
  return j;
}

}  // namespace scheduler

namespace executor {
using v1::Write;

static ojson Write(const exec::Call::Update& u) { return ojson{{"status", Write(u.status)}}; }

static ojson Write(const exec::Call& c) {
  ojson j = ojson::object();
  j["executor_id"] = Write(c.executor_id);
  j["framework_id"] = Write(c.framework_id);
  if (c.type) j["type"] = Name(*c.type);
  if (c.subscribe) {
    ojson s = ojson::object();
    if (!c.subscribe->unacknowledged_tasks.empty()) {
      s["unacknowledged_tasks"] = WriteList(c.subscribe->unacknowledged_tasks);
    }
    if (!c.subscribe->unacknowledged_updates.empty()) {
      s["unacknowledged_updates"] = WriteList(c.subscribe->unacknowledged_updates);
    }
    j["subscribe"] = s;
  }
  if (c.update) j["update"] = Write(*c.update);
  if (c.message) j["message"] = ojson{{"data", Base64Encode(c.message->data)}};
  return j;
}

static ojson Write(const exec::Event& e) {
  ojson j = ojson::object();
  j["type"] = Name(e.type);
  if (e.subscribed) {
    ojson s = ojson::object();
    s["executor_info"] = Write(e.subscribed->executor_info);
    s["framework_info"] = Write(e.subscribed->framework_info);
    s["agent_info"] = Write(e.subscribed->agent_info);
    if (e.subscribed->container_id) s["container_id"] = Write(*e.subscribed->container_id);
    j["subscribed"] = s;
  }
  if (e.acknowledged) {
    j["acknowledged"] = ojson{{"task_id", Write(e.acknowledged->task_id)},
                              {"uuid", Base64Encode(e.acknowledged->uuid)}};
  }
  if (e.launch) j["launch"] = ojson{{"task", Write(e.launch->task)}};
  if (e.launch_group) {
    ojson tasks = ojson::object();
    if (!e.launch_group->tasks.empty()) tasks["tasks"] = WriteList(e.launch_group->tasks);
    j["launch_group"] = ojson{{"task_group", tasks}};
  }
  if (e.kill) {
    ojson k = ojson::object();
    k["task_id"] = Write(e.kill->task_id);
    if (e.kill->kill_policy) k["kill_policy"] = Write(*e.kill->kill_policy);
    j["kill"] = k;
  }
  if (e.message) j["message"] = ojson{{"data", Base64Encode(e.message->data)}};
  if (e.error) j["error"] = ojson{{"message", e.error->message}};
  return j;
}

}  // namespace executor

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

// dump() with error_handler::replace: invalid UTF-8 in a string never throws.
#define FACTORIAL_DUMP(x) Write(x).dump(-1, ' ', false, ojson::error_handler_t::replace)
std::string Serialize(const scheduler::Call& call) { return FACTORIAL_DUMP(call); }
std::string Serialize(const scheduler::Event& event) { return FACTORIAL_DUMP(event); }
std::string Serialize(const executor::Call& call) { return FACTORIAL_DUMP(call); }
std::string Serialize(const executor::Event& event) { return FACTORIAL_DUMP(event); }
std::string Serialize(const TaskInfo& task) { return FACTORIAL_DUMP(task); }
std::string Serialize(const TaskStatus& status) { return FACTORIAL_DUMP(status); }
#undef FACTORIAL_DUMP

}  // namespace factorial::v1
