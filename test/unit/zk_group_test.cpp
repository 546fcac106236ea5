#include "factorial/zk_group.hpp"

#include <catch2/catch.hpp>

using factorial::Errc;
using factorial::zk::ElectLeader;
using factorial::zk::GroupMember;
using factorial::zk::MasterAddress;
using factorial::zk::ParseLeaderData;
using factorial::zk::ParseMasterInfoJson;
using factorial::zk::ParseMasterPid;
using factorial::zk::ParseMember;

TEST_CASE("group members are children ending in an int32 sequence", "[zk]") {
  CHECK(ParseMember("json.info_0000000007") == GroupMember{"json.info_0000000007", "json.info", 7});
  CHECK(ParseMember("info_0000000012") == GroupMember{"info_0000000012", "info", 12});
  CHECK(ParseMember("0000000003") == GroupMember{"0000000003", std::nullopt, 3});
  // Mesos tokenizes on '_' dropping empty tokens: the label is the first token.
  CHECK(ParseMember("_0000000004") == GroupMember{"_0000000004", std::nullopt, 4});
  CHECK(ParseMember("a_b_0000000005") == GroupMember{"a_b_0000000005", "a", 5});
  CHECK(ParseMember("json.info_2147483647")->sequence == 2147483647);

  CHECK_FALSE(ParseMember("log_replicas"));     // the replicated log's node beside the masters
  CHECK_FALSE(ParseMember(""));
  CHECK_FALSE(ParseMember("___"));
  CHECK_FALSE(ParseMember("json.info_"));
  CHECK_FALSE(ParseMember("json.info_12x"));
  CHECK_FALSE(ParseMember("json.info_-0000000001"));
  CHECK_FALSE(ParseMember("json.info_+1"));
  CHECK_FALSE(ParseMember("json.info_2147483648"));  // not an int32
  CHECK_FALSE(ParseMember("json.info_ 1"));
}

TEST_CASE("the leader is the smallest sequence, whatever the label", "[zk]") {
  CHECK_FALSE(ElectLeader({}));
  CHECK_FALSE(ElectLeader({"log_replicas", "garbage", "json.info_"}));
  CHECK(ElectLeader({"json.info_0000000009", "json.info_0000000002", "json.info_0000000005"})->node ==
        "json.info_0000000002");
  CHECK(ElectLeader({"log_replicas", "json.info_0000000011", "zzz", "json.info_0000000010"})->node ==
        "json.info_0000000010");
  // Mesos elects across labels: a legacy member older than every json.info one leads...
  CHECK(ElectLeader({"json.info_0000000004", "info_0000000003"})->node == "info_0000000003");
  CHECK(ElectLeader({"json.info_0000000004", "0000000001"})->node == "0000000001");
  // ...and a younger one does not.
  CHECK(ElectLeader({"info_0000000008", "json.info_0000000004", "0000000009"})->node == "json.info_0000000004");
}

TEST_CASE("a JSON MasterInfo gives the leader's address", "[zk]") {
  // As a Mesos 1.12 master writes it.
  auto real = ParseMasterInfoJson(
      R"({"address":{"hostname":"localhost","ip":"127.0.0.1","port":45123},"hostname":"localhost",)"
      R"("id":"8b3e0e0c-1a1f-4f7e-9a4b-1d2c3e4f5a6b","ip":16777343,"pid":"master@127.0.0.1:45123",)"
      R"("port":45123,"version":"1.12.0","capabilities":[{"type":"AGENT_UPDATE"}]})");
  REQUIRE(real.ok());
  CHECK(*real == MasterAddress{"127.0.0.1", 45123, "8b3e0e0c-1a1f-4f7e-9a4b-1d2c3e4f5a6b"});
  CHECK(real->BaseUrl() == "http://127.0.0.1:45123");
  CHECK(real->BaseUrl("https") == "https://127.0.0.1:45123");

  // address.hostname when address.ip is absent; IPv6 is bracketed; ports may be strings.
  CHECK(ParseMasterInfoJson(R"({"address":{"hostname":"m1.example","port":5050}})")->BaseUrl() ==
        "http://m1.example:5050");
  CHECK(ParseMasterInfoJson(R"({"address":{"ip":"::1","port":"5050"}})")->BaseUrl() == "http://[::1]:5050");
  // Without address: the PID, then the packed ip (network byte order) and port.
  CHECK(ParseMasterInfoJson(R"({"id":"x","pid":"master@10.1.2.3:5051","ip":1,"port":1})")->BaseUrl() ==
        "http://10.1.2.3:5051");
  CHECK(ParseMasterInfoJson(R"({"id":"x","ip":50462986,"port":5052})")->BaseUrl() == "http://10.1.2.3:5052");
  CHECK(ParseMasterInfoJson(R"({"id":"x","ip":16777343})")->BaseUrl() == "http://127.0.0.1:5050");
}

TEST_CASE("a malformed MasterInfo is an error, never a guess", "[zk]") {
  auto error = [](std::string_view data) {
    auto r = ParseMasterInfoJson(data);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::kCorruption);
    return r.error().message;
  };
  CHECK(error("") == "leading master's MasterInfo: not JSON");
  CHECK(error("{\"address\":") == "leading master's MasterInfo: not JSON");
  CHECK(error("[1,2]") == "leading master's MasterInfo: Failed to parse '<root>': expected a JSON object");
  CHECK(error("{}") == "leading master's MasterInfo: no address, pid or ip");
  CHECK(error(R"({"address":{"ip":"127.0.0.1"}})") == "leading master's MasterInfo: address.port 0 is not a port");
  CHECK(error(R"({"address":{"ip":"127.0.0.1","port":70000}})") ==
        "leading master's MasterInfo: address.port 70000 is not a port");
  CHECK(error(R"({"address":{"ip":"127.0.0.1","port":"x"}})") ==
        "leading master's MasterInfo: Failed to parse 'address.port': expected an integer");
  CHECK(error(R"({"address":{"ip":"1.2.3.4/evil","port":5050}})") ==
        "leading master's MasterInfo: address has no usable ip or hostname");
  CHECK(error(R"({"address":{"hostname":"a b@c","port":5050}})") ==
        "leading master's MasterInfo: address has no usable ip or hostname");
  CHECK(error(R"({"address":"127.0.0.1:5050"})") ==
        "leading master's MasterInfo: Failed to parse 'address': expected a JSON object");
  CHECK(error(R"({"pid":"127.0.0.1:5050"})") == "leading master's MasterInfo: PID '127.0.0.1:5050' has no '@'");
  CHECK(error(R"({"pid":"master@127.0.0.1:"})") == "leading master's MasterInfo: PID has no valid port");
  CHECK(error(R"({"ip":0,"port":5050})") == "leading master's MasterInfo: no address, pid or ip");
  CHECK(error(R"({"ip":4294967296,"port":5050})") == "leading master's MasterInfo: no address, pid or ip");
  CHECK(error(R"({"ip":16777343,"port":0})") == "leading master's MasterInfo: port 0 is not a port");
  // A NUL after an address would end it for inet_pton and smuggle the rest into the URL
  // (found by zk_fuzz).
  using namespace std::string_literals;
  auto pid = ParseMasterPid("master@127.0.0.1\0\0evil:5050"s);
  REQUIRE_FALSE(pid.ok());
  CHECK(pid.error().message == "leading master's MasterInfo: PID has no valid address");
  CHECK(error("{\"address\":{\"ip\":\"::1\\u0000x\",\"port\":5050}}") ==
        "leading master's MasterInfo: address has no usable ip or hostname");
}

TEST_CASE("the leader's data is read by its label", "[zk]") {
  auto json_leader = ParseMember("json.info_0000000001").value();
  CHECK(ParseLeaderData(json_leader, R"({"address":{"ip":"10.0.0.1","port":5050}})")->BaseUrl() ==
        "http://10.0.0.1:5050");
  auto pid_leader = ParseMember("0000000001").value();
  CHECK(ParseLeaderData(pid_leader, "master@10.0.0.2:5050")->BaseUrl() == "http://10.0.0.2:5050");

  auto binary = ParseLeaderData(ParseMember("info_0000000001").value(), "\x0a\x03" "abc");
  REQUIRE_FALSE(binary.ok());
  CHECK(binary.error().message ==
        "leading master info_0000000001 announces itself in the binary format of Mesos < 0.24, which has no v1 "
        "HTTP API");
  auto unknown = ParseLeaderData(ParseMember("other_0000000001").value(), "{}");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message == "leading member other_0000000001 has the unknown label 'other'");
}
