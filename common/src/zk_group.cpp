#include "factorial/zk_group.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <limits>
#include <optional>
#include <type_traits>

#include "json_reader.hpp"

namespace factorial::zk {

namespace {

// The MasterInfo fields the detector uses (mesos.MasterInfo), each read leniently with a default.
struct AddressJson {
  std::string ip;
  std::string hostname;
  std::int64_t port = 0;
};
struct MasterInfoJson {
  std::string id;
  std::optional<AddressJson> address;
  std::string pid;
  std::int64_t ip = -1;  // IPv4 packed in network byte order
  std::int64_t port = 5050;
};

template <class V, class M>
  requires std::is_same_v<std::remove_const_t<M>, AddressJson>
void Fields(V& v, M& m) {
  v.Default("ip", m.ip);
  v.Default("hostname", m.hostname);
  v.Default("port", m.port);
}

template <class V, class M>
  requires std::is_same_v<std::remove_const_t<M>, MasterInfoJson>
void Fields(V& v, M& m) {
  v.Default("id", m.id);
  v.Optional("address", m.address);
  v.Default("pid", m.pid);
  v.Default("ip", m.ip);
  v.Default("port", m.port);
}

// Mesos' strings::tokenize: split on '_', dropping empty tokens.
std::vector<std::string_view> Tokenize(std::string_view s) {
  std::vector<std::string_view> tokens;
  std::size_t start = 0;
  while (start < s.size()) {
    auto end = s.find('_', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) tokens.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return tokens;
}

std::optional<std::int32_t> ParseSequence(std::string_view digits) {
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
  std::int32_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return value;
}

// inet_pton reads a C string: a NUL inside `s` would end it early and pass what follows.
bool IsIpv4(const std::string& s) {
  in_addr addr{};
  return s.find('\0') == std::string::npos && ::inet_pton(AF_INET, s.c_str(), &addr) == 1;
}

bool IsIpv6(const std::string& s) {
  in6_addr addr{};
  return s.find('\0') == std::string::npos && ::inet_pton(AF_INET6, s.c_str(), &addr) == 1;
}

// A DNS name: letters, digits, '-', '.' and '_', not starting with '-' or '.' (no spaces,
// slashes or '@' that would change the meaning of the URL built from it; as --master).
bool IsHostname(std::string_view s) {
  if (s.empty() || s.size() > 253 || s.front() == '-' || s.front() == '.') return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_';
    if (!ok) return false;
  }
  return true;
}

// An IP address or hostname as it goes into a URL; nullopt if it is neither.
std::optional<std::string> UrlHost(const std::string& host) {
  if (IsIpv4(host)) return host;
  if (IsIpv6(host)) return "[" + host + "]";
  if (IsHostname(host)) return host;
  return std::nullopt;
}

std::optional<std::uint16_t> ValidPort(std::int64_t port) {
  if (port <= 0 || port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

Result<MasterAddress> Corrupt(const std::string& what) {
  return MakeError(Errc::kCorruption, "leading master's MasterInfo: " + what);
}

}  // namespace

std::optional<GroupMember> ParseMember(std::string_view child) {
  auto tokens = Tokenize(child);
  if (tokens.empty()) return std::nullopt;
  auto sequence = ParseSequence(tokens.back());
  if (!sequence) return std::nullopt;
  GroupMember member;
  member.node = std::string(child);
  if (tokens.size() > 1) member.label = std::string(tokens.front());
  member.sequence = *sequence;
  return member;
}

std::optional<GroupMember> ElectLeader(const std::vector<std::string>& children) {
  std::optional<GroupMember> leader;
  for (const auto& child : children) {
    auto member = ParseMember(child);
    if (member && (!leader || member->sequence < leader->sequence)) leader = std::move(member);
  }
  return leader;
}

std::string MasterAddress::BaseUrl(std::string_view scheme) const {
  return std::string(scheme) + "://" + host + ":" + std::to_string(port);
}

Result<MasterAddress> ParseMasterPid(std::string_view data) {
  std::string_view pid = data;
  auto at = pid.find('@');
  if (at == std::string_view::npos) return Corrupt("PID '" + std::string(data.substr(0, 100)) + "' has no '@'");
  std::string_view hostport = pid.substr(at + 1);
  auto colon = hostport.rfind(':');
  if (colon == std::string_view::npos) return Corrupt("PID has no port");
  std::string host(hostport.substr(0, colon));
  std::string_view port_text = hostport.substr(colon + 1);
  std::int64_t port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size()) {
    return Corrupt("PID has no valid port");
  }
  auto url_host = UrlHost(host);
  auto valid_port = ValidPort(port);
  if (!url_host || !valid_port) return Corrupt("PID has no valid address");
  return MasterAddress{*url_host, *valid_port, {}};
}

Result<MasterAddress> ParseMasterInfoJson(std::string_view data) {
  MasterInfoJson info;
  if (auto failure = v1::detail::ReadJson(data, info)) {
    return Corrupt(failure->syntax ? "not JSON" : failure->message);
  }
  MasterAddress out;
  out.id = info.id;

  // 1. address {hostname, ip, port}
  if (info.address) {
    const AddressJson& a = *info.address;
    auto valid_port = ValidPort(a.port);
    if (!valid_port) return Corrupt("address.port " + std::to_string(a.port) + " is not a port");
    std::optional<std::string> host;
    if (!a.ip.empty()) host = UrlHost(a.ip);
    if (!host && !a.hostname.empty()) host = UrlHost(a.hostname);
    if (!host) return Corrupt("address has no usable ip or hostname");
    out.host = *host;
    out.port = *valid_port;
    return out;
  }
  // 2. pid "master@ip:port"
  if (!info.pid.empty()) {
    auto from_pid = ParseMasterPid(info.pid);
    if (!from_pid.ok()) return from_pid.error();
    from_pid->id = out.id;
    return from_pid;
  }
  // 3. ip (IPv4 packed in network byte order, as Mesos stores it) and port.
  if (info.ip <= 0 || info.ip > std::numeric_limits<std::uint32_t>::max()) {
    return Corrupt("no address, pid or ip");
  }
  auto valid_port = ValidPort(info.port);
  if (!valid_port) return Corrupt("port " + std::to_string(info.port) + " is not a port");
  auto ip = static_cast<std::uint32_t>(info.ip);
  out.host = std::to_string(ip & 0xff) + "." + std::to_string((ip >> 8) & 0xff) + "." +
             std::to_string((ip >> 16) & 0xff) + "." + std::to_string(ip >> 24);
  out.port = *valid_port;
  return out;
}

Result<MasterAddress> ParseLeaderData(const GroupMember& leader, std::string_view data) {
  if (!leader.label) return ParseMasterPid(data);
  if (*leader.label == kJsonInfoLabel) return ParseMasterInfoJson(data);
  if (*leader.label == kBinaryInfoLabel) {
    return MakeError(Errc::kInvalidArgument, "leading master " + leader.node +
                                                 " announces itself in the binary format of Mesos < 0.24, which "
                                                 "has no v1 HTTP API");
  }
  return MakeError(Errc::kInvalidArgument, "leading member " + leader.node + " has the unknown label '" +
                                               *leader.label + "'");
}

}  // namespace factorial::zk
