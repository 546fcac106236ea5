#include "factorial/messages.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
namespace v1 = factorial::v1;
using nlohmann::json;

namespace {

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<fs::path> Goldens(const std::string& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(FACTORIAL_TEST_DATA_DIR) / dir)) {
    if (entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 4);
  return files;
}

// Parse, serialize, and compare as JSON values (key order is not part of the contract).
template <class Parse>
void CheckRoundTrip(const std::string& dir, Parse parse) {
  for (const auto& file : Goldens(dir)) {
    INFO(file.string());
    std::string text = ReadFile(file);
    auto parsed = parse(text);
    REQUIRE(parsed.ok());
    std::string again = v1::Serialize(parsed.value());
    CHECK(json::parse(again) == json::parse(text));
    auto reparsed = parse(again);
    REQUIRE(reparsed.ok());
    CHECK(reparsed.value() == parsed.value());
  }
}

}  // namespace

TEST_CASE("every golden scheduler event round-trips", "[messages]") {
  CheckRoundTrip("scheduler/events", v1::ParseSchedulerEvent);
}
TEST_CASE("every golden scheduler call round-trips", "[messages]") {
  CheckRoundTrip("scheduler/calls", v1::ParseSchedulerCall);
}
TEST_CASE("every golden executor event round-trips", "[messages]") {
  CheckRoundTrip("executor/events", v1::ParseExecutorEvent);
}
TEST_CASE("every golden executor call round-trips", "[messages]") {
  CheckRoundTrip("executor/calls", v1::ParseExecutorCall);
}

TEST_CASE("UPDATE event exposes decoded data, uuid bytes and enums", "[messages]") {
  auto event = v1::ParseSchedulerEvent(
      ReadFile(fs::path(FACTORIAL_TEST_DATA_DIR) / "scheduler/events/update.json"));
  REQUIRE(event.ok());
  REQUIRE(event->type == v1::scheduler::EventType::kUpdate);
  const auto& status = event->update->status;
  CHECK(status.task_id.value == "fact-42");
  CHECK(status.state == v1::TaskState::kFinished);
  CHECK(status.source == v1::TaskSource::kExecutor);
  CHECK(status.data == "1405006117752879898543142606244511569936384000000000");  // 42!
  REQUIRE(status.uuid.has_value());
  CHECK(status.uuid->size() == 16);
  CHECK(status.agent_id->value == "MID-S3");
}

TEST_CASE("OFFERS are nested twice and carry allocation info", "[messages]") {
  auto event = v1::ParseSchedulerEvent(
      ReadFile(fs::path(FACTORIAL_TEST_DATA_DIR) / "scheduler/events/offers.json"));
  REQUIRE(event.ok());
  REQUIRE(event->offers->offers.size() == 1);
  const auto& offer = event->offers->offers[0];
  CHECK(offer.allocation_role == "*");
  REQUIRE(offer.resources.size() == 3);
  CHECK(offer.resources[0].scalar == 4.0);
  CHECK(offer.resources[2].ranges->at(0) == v1::Range{31000, 32000});
  CHECK(offer.executor_ids.at(0).value == "factorial-executor");
}

TEST_CASE("unknown event types and enum names are tolerated", "[messages]") {
  auto event = v1::ParseSchedulerEvent(R"({"type":"UPDATE_OPERATION_STATUS","x":{}})");
  REQUIRE(event.ok());
  CHECK(event->type == v1::scheduler::EventType::kUpdateOperationStatus);
  auto future = v1::ParseSchedulerEvent(R"({"type":"SOMETHING_NEW"})");
  REQUIRE(future.ok());
  CHECK(future->type == v1::scheduler::EventType::kUnknown);
  auto state = v1::ParseSchedulerEvent(
      R"({"type":"UPDATE","update":{"status":{"task_id":{"value":"t"},"state":"TASK_FROM_THE_FUTURE","reason":"REASON_NEW"}}})");
  REQUIRE(state.ok());
  CHECK(state->update->status.state == v1::TaskState::kUnknown);
  CHECK(state->update->status.reason == v1::TaskReason::kUnknown);
}

TEST_CASE("malformed JSON is a corruption error, never an exception", "[messages]") {
  for (const char* text : {"", "{", "{\"type\":\"SUBSCRIBE\", this is not json", "[]x", "nul"}) {
    INFO(text);
    auto event = v1::ParseSchedulerEvent(text);
    REQUIRE_FALSE(event.ok());
    CHECK(event.error().code == factorial::Errc::kCorruption);
  }
  auto not_object = v1::ParseSchedulerEvent("[1,2]");
  REQUIRE_FALSE(not_object.ok());
  CHECK(not_object.error().code == factorial::Errc::kInvalidArgument);
}

TEST_CASE("missing required fields are listed like protobuf does", "[messages]") {
  auto call = v1::ParseExecutorCall(R"({"type":"SUBSCRIBE","subscribe":{}})");
  REQUIRE_FALSE(call.ok());
  CHECK(call.error().message == "Missing required fields: executor_id, framework_id");
  auto nested = v1::ParseSchedulerCall(
      R"({"type":"SUBSCRIBE","subscribe":{"framework_info":{"name":"x"}}})");
  REQUIRE_FALSE(nested.ok());
  CHECK(nested.error().message == "Missing required fields: subscribe.framework_info.user");
  auto ack = v1::ParseSchedulerCall(R"({"type":"ACKNOWLEDGE","acknowledge":{"task_id":{"value":"t"}}})");
  REQUIRE_FALSE(ack.ok());
  CHECK(ack.error().message ==
        "Missing required fields: acknowledge.agent_id, acknowledge.uuid");
}

TEST_CASE("type mismatches and bad base64 are errors", "[messages]") {
  CHECK_FALSE(v1::ParseSchedulerCall(R"({"type":7})").ok());  // enum numbers are not accepted
  CHECK_FALSE(v1::ParseSchedulerCall(R"({"framework_id":{"value":5}})").ok());
  auto bad64 = v1::ParseSchedulerCall(
      R"({"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"!!!"}})");
  REQUIRE_FALSE(bad64.ok());
  CHECK_THAT(bad64.error().message, Catch::Contains("acknowledge.uuid"));
}

TEST_CASE("parser follows stout's leniencies", "[messages]") {
  // Numbers and bools as strings, null as unset, unknown keys ignored, scalar for a list.
  auto event = v1::ParseSchedulerEvent(
      R"({"type":"SUBSCRIBED","unknown":1,"subscribed":{"framework_id":{"value":"f"},)"
      R"("heartbeat_interval_seconds":"15","master_info":null}})");
  REQUIRE(event.ok());
  CHECK(event->subscribed->heartbeat_interval_seconds == 15.0);
  CHECK_FALSE(event->subscribed->master_info.has_value());
  auto call = v1::ParseSchedulerCall(
      R"({"type":"REVIVE","revive":{"roles":"factorial"},"subscribe":{"framework_info":)"
      R"({"user":"u","name":"n","checkpoint":"true"}}})");
  REQUIRE(call.ok());
  CHECK(call->revive->roles == std::vector<std::string>{"factorial"});
  CHECK(call->subscribe->framework_info.checkpoint);
  // An unknown call type reads as unset, so validation can say "Expecting 'type'".
  auto unknown = v1::ParseSchedulerCall(R"({"type":"NO_SUCH_CALL"})");
  REQUIRE(unknown.ok());
  CHECK_FALSE(unknown->type.has_value());
}

TEST_CASE("serializer emits proto defaults and omits unset fields", "[messages]") {
  v1::scheduler::Call call;
  call.type = v1::scheduler::CallType::kSubscribe;
  call.subscribe.emplace();
  call.subscribe->framework_info.user = "u";
  call.subscribe->framework_info.name = "n";
  json j = json::parse(v1::Serialize(call));
  CHECK(j == json::parse(R"({"type":"SUBSCRIBE","subscribe":{"framework_info":)"
                         R"({"user":"u","name":"n","failover_timeout":0.0,"checkpoint":false}}})"));

  v1::scheduler::Call decline;
  decline.framework_id = v1::FrameworkID{"f"};
  decline.type = v1::scheduler::CallType::kDecline;
  decline.decline.emplace().filters.emplace();
  CHECK(json::parse(v1::Serialize(decline))["decline"]["filters"]["refuse_seconds"] == 5.0);

  v1::TaskInfo task;
  task.name = "t";
  task.task_id.value = "t";
  task.agent_id.value = "a";
  task.executor.emplace().command.emplace();
  json tj = json::parse(v1::Serialize(task));
  CHECK(tj["executor"]["command"]["shell"] == true);
  CHECK_FALSE(tj.contains("resources"));
  CHECK_FALSE(tj.contains("data"));
}

TEST_CASE("doubles keep a decimal point as the master prints them", "[messages]") {
  v1::scheduler::Event event;
  event.type = v1::scheduler::EventType::kSubscribed;
  event.subscribed.emplace().framework_id.value = "f";
  event.subscribed->heartbeat_interval_seconds = 15.0;
  CHECK(v1::Serialize(event) ==
        R"({"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"f"},"heartbeat_interval_seconds":15.0}})");
}

TEST_CASE("terminal states match protobuf::isTerminalState", "[messages]") {
  using S = v1::TaskState;
  for (S s : {S::kFinished, S::kFailed, S::kKilled, S::kError, S::kLost, S::kDropped, S::kGone,
              S::kGoneByOperator}) {
    CHECK(v1::IsTerminal(s));
  }
  for (S s : {S::kStaging, S::kStarting, S::kRunning, S::kKilling, S::kUnreachable, S::kUnknownState}) {
    CHECK_FALSE(v1::IsTerminal(s));
  }
  CHECK(v1::Name(S::kGoneByOperator) == "TASK_GONE_BY_OPERATOR");
  CHECK(v1::ParseTaskState("TASK_UNREACHABLE") == S::kUnreachable);
}

TEST_CASE("the reader rejects as corrupt exactly what nlohmann rejects", "[messages]") {
  const std::string texts[] = {
      R"({"type":"HEARTBEAT"})", "\xEF\xBB\xBF{\"type\":\"HEARTBEAT\"}",  // BOM
      std::string("{\"type\":\"HEARTBEAT\"}\0trailing", 29),            // NUL ends the input
      R"({"type":"HEARTBEAT"} x)", R"({"type":"HEARTBEAT",})", R"({"type" "HEARTBEAT"})",
      R"({"x":[1,2,]})", R"({"x":01})", R"({"x":-})", R"({"x":1.})", R"({"x":1e})", R"({"x":1e400})",
      R"({"x":-1e-400})", R"({"x":1.5e+3})", R"({"x":18446744073709551616})", R"({"x":tru})",
      R"({"x":"\ud800"})", R"({"x":"\udc00"})", R"({"x":"\ud83d\ude00"})", R"({"x":"\q"})",
      "{\"x\":\"\xC3\xA9\"}", "{\"x\":\"\xC3\"}", "{\"x\":\"\xED\xA0\x80\"}", "{\"x\":\"\x01\"}",
      R"({"x":{"y":[{"z":null},true,false,"s"]}})", "[", "", " ", "\"a\"", "7"};
  for (const auto& text : texts) {
    INFO(text);
    auto event = v1::ParseSchedulerEvent(text);
    bool corrupt = !event.ok() && event.error().code == factorial::Errc::kCorruption;
    CHECK(corrupt == !json::accept(text));
  }
}

TEST_CASE("a repeated key: the last one wins and earlier ones leave no error", "[messages]") {
  auto event = v1::ParseSchedulerEvent(R"({"type":"UPDATE","type":"ERROR","error":5,"error":{"message":"m"}})");
  REQUIRE(event.ok());
  CHECK(event->type == v1::scheduler::EventType::kError);
  CHECK(event->error->message == "m");
  auto unset = v1::ParseSchedulerEvent(R"({"type":"ERROR","error":{"message":"m"},"error":null})");
  REQUIRE(unset.ok());
  CHECK_FALSE(unset->error.has_value());
}

TEST_CASE("errors are reported in field order whatever the key order", "[messages]") {
  auto missing = v1::ParseExecutorCall(R"({"framework_id":{},"type":"SUBSCRIBE","subscribe":{}})");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "Missing required fields: executor_id, framework_id.value");
  auto mismatch = v1::ParseSchedulerCall(R"({"type":7,"framework_id":{"value":5}})");
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().message == "Failed to parse 'framework_id.value': expected a string");
  auto element = v1::ParseSchedulerEvent(
      R"({"type":"OFFERS","offers":{"offers":[)"
      R"({"id":{"value":"a"},"framework_id":{"value":"f"},"agent_id":{"value":"s"},"hostname":"h"},)"
      R"({"id":{"value":"b"},"framework_id":{"value":"f"},"agent_id":{"value":"s"},"hostname":7}]}})");
  REQUIRE_FALSE(element.ok());
  CHECK(element.error().message == "Failed to parse 'offers.offers[1].hostname': expected a string");
  auto root = v1::ParseSchedulerCall("[1]");
  REQUIRE_FALSE(root.ok());
  CHECK(root.error().message == "Failed to parse '<root>': expected a JSON object");
}

TEST_CASE("escaped keys and strings decode before they are matched", "[messages]") {
  auto event = v1::ParseSchedulerEvent(
      R"({"t\u0079pe":"ERROR","error":{"message":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \n"}})");
  REQUIRE(event.ok());
  CHECK(event->type == v1::scheduler::EventType::kError);
  CHECK(event->error->message == "caf\xC3\xA9 \xF0\x9F\x98\x80 \"q\" \\ / \n");
}
