#include "factorial/master_url.hpp"

#include <charconv>
#include <cstdint>
#include <fstream>
#include <iterator>

namespace factorial {

namespace {

constexpr std::string_view kZkScheme = "zk://";
constexpr std::string_view kFileScheme = "file://";
constexpr std::string_view kMesosScheme = "mesos://";

std::string_view Trim(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  auto first = s.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  auto last = s.find_last_not_of(kSpace);
  return s.substr(first, last - first + 1);
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::vector<std::string_view> SplitCommas(std::string_view s) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto comma = s.find(',', start);
    parts.push_back(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return parts;
    start = comma + 1;
  }
}

// A DNS name or IPv4 address (letters, digits, '-', '.', and '_' as container names use it;
// not starting with '-' or '.'), or an IPv6 address in brackets.
bool ValidHost(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.find_first_not_of("0123456789abcdefABCDEF:.", 1) == host.size() - 1;
  }
  if (host.empty() || host.size() > 253 || host.front() == '-' || host.front() == '.') return false;
  return host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") ==
         std::string_view::npos;
}

// "host:port" with a valid host and a port in 1..65535 ("[v6]:port" works too).
Status CheckHostPort(std::string_view item, std::string_view what) {
  auto colon = item.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return MakeError(Errc::kInvalidArgument, std::string(what) + " '" + std::string(item) + "' is not host:port");
  }
  if (!ValidHost(item.substr(0, colon))) {
    return MakeError(Errc::kInvalidArgument, std::string(what) + " '" + std::string(item.substr(0, colon)) +
                                                 "' is not a host name or address");
  }
  std::string_view port_text = item.substr(colon + 1);
  std::uint64_t port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return MakeError(Errc::kInvalidArgument, std::string(what) + " '" + std::string(item) + "' has no valid port");
  }
  return OkStatus();
}

Result<std::vector<std::string>> ParseStaticMasters(std::string_view spec) {
  std::vector<std::string> urls;
  for (std::string_view item : SplitCommas(spec)) {
    item = Trim(item);
    if (item.empty()) continue;
    if (StartsWith(item, kZkScheme) || StartsWith(item, kFileScheme)) {
      return MakeError(Errc::kInvalidArgument, "--master: '" + std::string(item) +
                                                   "' cannot be part of a list; give it as the whole --master");
    }
    std::string scheme = "http";
    if (auto p = item.find("://"); p != std::string_view::npos) {
      scheme = std::string(item.substr(0, p));
      item = item.substr(p + 3);
      if (scheme != "http" && scheme != "https") {
        return MakeError(Errc::kInvalidArgument, "--master: unsupported scheme '" + scheme + "'");
      }
    }
    if (StartsWith(item, "master@")) item = item.substr(7);
    item = item.substr(0, item.find('/'));
    if (auto s = CheckHostPort(item, "--master:"); !s.ok()) return s.error();
    urls.push_back(scheme + "://" + std::string(item));
  }
  if (urls.empty()) return MakeError(Errc::kInvalidArgument, "--master: no master given");
  return urls;
}

// ZooKeeper znode paths: absolute, no empty, "." or ".." segment, no trailing slash.
Status CheckZnodePath(std::string_view path) {
  if (path.empty() || path == "/") {
    return MakeError(Errc::kInvalidArgument,
                     "--master: a zk:// URL needs the masters' group path, e.g. zk://host:2181/mesos");
  }
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    std::string_view segment =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (segment.empty() || segment == "." || segment == "..") {
      return MakeError(Errc::kInvalidArgument, "--master: '" + std::string(path) + "' is not a valid ZooKeeper path");
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return MakeError(Errc::kInvalidArgument, "--master: the ZooKeeper path contains a control character");
    }
  }
  return OkStatus();
}

}  // namespace

std::string ZooKeeperSpec::ServerList() const {
  std::string list;
  for (const auto& s : servers) list += (list.empty() ? "" : ",") + s;
  return list;
}

std::string ZooKeeperSpec::ToString() const {
  return std::string(kZkScheme) + (digest ? digest->first + ":***@" : "") + ServerList() + path;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(Errc::kInvalidArgument, "cannot read '" + path + "'");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return MakeError(Errc::kInvalidArgument, "cannot read '" + path + "'");
  return text;
}

Result<ZooKeeperSpec> ParseZooKeeperUrl(std::string_view text) {
  text = Trim(text);
  if (!StartsWith(text, kZkScheme)) return MakeError(Errc::kInvalidArgument, "--master: expected zk://");
  std::string_view rest = text.substr(kZkScheme.size());
  // As Mesos reads it: the path starts at the first '/', credentials end at the last '@'
  // before it.
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  ZooKeeperSpec spec;
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view credentials = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = credentials.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return MakeError(Errc::kInvalidArgument, "--master: zk:// credentials must be user:password@");
    }
    spec.digest.emplace(std::string(credentials.substr(0, colon)), std::string(credentials.substr(colon + 1)));
  }
  if (authority.empty()) return MakeError(Errc::kInvalidArgument, "--master: zk:// URL names no ZooKeeper server");
  for (std::string_view server : SplitCommas(authority)) {
    if (server.empty()) return MakeError(Errc::kInvalidArgument, "--master: empty ZooKeeper server in the zk:// URL");
    if (auto s = CheckHostPort(server, "--master: ZooKeeper server"); !s.ok()) return s.error();
    spec.servers.emplace_back(server);
  }
  if (auto s = CheckZnodePath(path); !s.ok()) return s.error();
  spec.path = std::string(path);
  return spec;
}

Result<MasterSpec> ParseMasterSpec(std::string_view text, const FileReader& read_file) {
  text = Trim(text);
  // Spark's spelling: mesos://host:port and mesos://zk://... name the same masters.
  if (StartsWith(text, kMesosScheme)) {
    text = text.substr(kMesosScheme.size());
    if (StartsWith(text, kMesosScheme) || StartsWith(text, kFileScheme)) {
      return MakeError(Errc::kInvalidArgument, "--master: mesos:// is followed by host:port or zk://, not '" +
                                                   std::string(text.substr(0, text.find("://") + 3)) + "'");
    }
  }
  MasterSpec spec;
  if (StartsWith(text, kFileScheme)) {
    std::string path(text.substr(kFileScheme.size()));
    if (path.empty()) return MakeError(Errc::kInvalidArgument, "--master: file:// names no file");
    auto content = read_file(path);
    if (!content.ok()) return MakeError(Errc::kInvalidArgument, "--master: " + content.error().message);
    std::string_view inner = Trim(content.value());
    if (inner.empty()) return MakeError(Errc::kInvalidArgument, "--master: '" + path + "' is empty");
    if (StartsWith(inner, kFileScheme)) {
      return MakeError(Errc::kInvalidArgument, "--master: '" + path + "' holds another file:// URL");
    }
    auto parsed = ParseMasterSpec(inner, read_file);
    if (!parsed.ok()) return MakeError(Errc::kInvalidArgument, parsed.error().message + " (read from '" + path + "')");
    return parsed;
  }
  if (StartsWith(text, kZkScheme)) {
    auto zk = ParseZooKeeperUrl(text);
    if (!zk.ok()) return zk.error();
    spec.zookeeper = std::move(zk).value();
    return spec;
  }
  auto urls = ParseStaticMasters(text);
  if (!urls.ok()) return urls.error();
  spec.urls = std::move(urls).value();
  return spec;
}

}  // namespace factorial
