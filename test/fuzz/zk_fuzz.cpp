// Fuzzes what the ZooKeeper master detector reads from ZooKeeper: the leader's data (a JSON
// MasterInfo, or a PID) and the names of the group's children. Properties:
//  1. Nothing crashes or throws on any bytes.
//  2. An accepted address has a port and a host, and the URL built from it reads back, as a
//     --master, as exactly that URL (no byte of the data can smuggle in a path or user info).
//  3. The elected leader is a member and no member has a smaller sequence.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "factorial/master_url.hpp"
#include "factorial/zk_group.hpp"
#include "fuzz_check.hpp"

using factorial::fuzz::Check;

namespace {

void CheckAddress(const factorial::Result<factorial::zk::MasterAddress>& address) {
  if (!address.ok()) return;
  Check(address->port > 0);
  Check(!address->host.empty());
  std::string url = address->BaseUrl();
  auto reread = factorial::ParseMasterSpec(url);
  Check(reread.ok());
  Check(reread->urls == std::vector<std::string>{url});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckAddress(factorial::zk::ParseMasterInfoJson(input));
  CheckAddress(factorial::zk::ParseMasterPid(input));

  std::vector<std::string> children;
  std::size_t start = 0;
  while (start <= input.size()) {
    auto end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    children.emplace_back(input.substr(start, end - start));
    start = end + 1;
  }
  auto leader = factorial::zk::ElectLeader(children);
  bool any_member = false;
  for (const auto& child : children) {
    auto member = factorial::zk::ParseMember(child);
    if (!member) continue;
    any_member = true;
    Check(leader && leader->sequence <= member->sequence);
  }
  Check(any_member == leader.has_value());
  if (leader) {
    CheckAddress(factorial::zk::ParseLeaderData(*leader, input));
  }
  return 0;
}
