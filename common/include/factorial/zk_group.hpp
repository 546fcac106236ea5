#pragma once

// How Mesos masters announce themselves in ZooKeeper, as pure functions (no ZooKeeper client
// here, so they are unit-tested and fuzzed directly).
//
// Each master contending for leadership creates an ephemeral sequential child of the group
// path, "<label>_<10-digit sequence>". Mesos (src/zookeeper/group.cpp, detector.cpp) counts as
// a member every child whose last '_'-separated token is an int32, whatever its label
// (other children, such as the replicated log's "log_replicas", are skipped), and elects the
// member with the smallest sequence. Since Mesos 0.24 masters use the label "json.info" and
// store a JSON MasterInfo; older masters used "info" (a binary MasterInfo) or no label (a
// "master@ip:port" PID).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "factorial/status.hpp"

namespace factorial::zk {

inline constexpr std::string_view kJsonInfoLabel = "json.info";
inline constexpr std::string_view kBinaryInfoLabel = "info";

struct GroupMember {
  std::string node;                  // the child's name, e.g. "json.info_0000000003"
  std::optional<std::string> label;  // "json.info", "info", or none
  std::int32_t sequence = 0;
  friend bool operator==(const GroupMember&, const GroupMember&) = default;
};

// Returns the member for a child name, or nullopt if Mesos would not count it as one.
std::optional<GroupMember> ParseMember(std::string_view child);

// Mesos' election: the member with the smallest sequence, or nullopt if there is none.
std::optional<GroupMember> ElectLeader(const std::vector<std::string>& children);

// Where to reach the leader.
struct MasterAddress {
  std::string host;  // IPv4 dotted quad, bracketed IPv6, or a hostname
  std::uint16_t port = 0;
  std::string id;  // MasterInfo.id, when known

  std::string BaseUrl(std::string_view scheme = "http") const;
  friend bool operator==(const MasterAddress&, const MasterAddress&) = default;
};

// Parses a "json.info" node's data, a JSON MasterInfo. The address is address.ip (else
// address.hostname) and address.port; without `address`, the PID's ip:port; else the packed
// `ip` and `port`. Anything malformed is an error, never a crash.
Result<MasterAddress> ParseMasterInfoJson(std::string_view data);

// Parses an unlabeled node's data, a PID "master@ip:port".
Result<MasterAddress> ParseMasterPid(std::string_view data);

// Reads the leader's data according to its label; "info" (binary, Mesos < 0.24, which has no
// v1 HTTP API) and unknown labels are errors.
Result<MasterAddress> ParseLeaderData(const GroupMember& leader, std::string_view data);

}  // namespace factorial::zk
