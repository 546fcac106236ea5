#include "options.hpp"

#include <charconv>
#include <fstream>
#include <iostream>

namespace factorial::scheduler {
namespace {

// A DNS name or IPv4 address (letters, digits, '-', '.', and '_' as container names use it), or
// an IPv6 address in brackets.
bool ValidHost(const std::string& host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    return host.find_first_not_of("0123456789abcdefABCDEF:.", 1) == host.size() - 1;
  }
  if (host.empty() || host.size() > 253 || host.front() == '-' || host.front() == '.') return false;
  return host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") == std::string::npos;
}

}  // namespace

Result<std::vector<std::uint64_t>> ParseNumbers(const std::vector<NumberToken>& tokens, std::uint64_t max_n) {
  std::vector<std::uint64_t> numbers;
  std::vector<std::string> problems;
  for (const auto& token : tokens) {
    const std::string& t = token.text;
    std::uint64_t n = 0;
    bool digits = !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
    if (!digits) {
      problems.push_back(token.source + " '" + t + "' is not a non-negative decimal integer");
    } else if (ec != std::errc() || ptr != t.data() + t.size() || n > max_n) {
      problems.push_back(token.source + " '" + t + "' is larger than --max-n " + std::to_string(max_n));
    } else {
      numbers.push_back(n);
    }
  }
  if (!problems.empty()) {
    std::string message = problems.size() == 1 ? "bad number: " : std::to_string(problems.size()) + " bad numbers: ";
    for (std::size_t i = 0; i < problems.size() && i < 20; ++i) message += (i ? "; " : "") + problems[i];
    if (problems.size() > 20) message += "; ...";
    return MakeError(Errc::kInvalidArgument, message);
  }
  return numbers;
}

Result<std::vector<NumberToken>> ReadNumberFile(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path);
    if (!file) return MakeError(Errc::kInvalidArgument, "cannot read --input " + path);
    in = &file;
  }
  std::vector<NumberToken> tokens;
  std::string line;
  int number = 0;
  while (std::getline(*in, line)) {
    ++number;
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos) continue;
    auto last = line.find_last_not_of(" \t\r");
    tokens.push_back({line.substr(first, last - first + 1), "input line " + std::to_string(number)});
  }
  if (in->bad()) return MakeError(Errc::kInvalidArgument, "cannot read --input " + path);
  return tokens;
}

Result<std::vector<std::string>> ParseMasters(const std::string& spec) {
  std::vector<std::string> masters;
  std::size_t start = 0;
  while (start <= spec.size()) {
    std::size_t comma = spec.find(',', start);
    std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    if (item.empty()) continue;
    if (item.rfind("zk://", 0) == 0) {
      return MakeError(Errc::kInvalidArgument,
                       "--master: ZooKeeper detection (zk://) is not supported; list the masters instead");
    }
    std::string scheme = "http";
    if (auto p = item.find("://"); p != std::string::npos) {
      scheme = item.substr(0, p);
      item = item.substr(p + 3);
      if (scheme != "http" && scheme != "https") {
        return MakeError(Errc::kInvalidArgument, "--master: unsupported scheme '" + scheme + "'");
      }
    }
    if (item.rfind("master@", 0) == 0) item = item.substr(7);
    item = item.substr(0, item.find('/'));
    auto colon = item.rfind(':');
    std::uint64_t port = 0;
    if (colon == std::string::npos || colon == 0) {
      return MakeError(Errc::kInvalidArgument, "--master: '" + item + "' is not host:port");
    }
    std::string host = item.substr(0, colon);
    if (!ValidHost(host)) return MakeError(Errc::kInvalidArgument, "--master: '" + host + "' is not a host name or address");
    std::string port_text = item.substr(colon + 1);
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return MakeError(Errc::kInvalidArgument, "--master: '" + item + "' has no valid port");
    }
    masters.push_back(scheme + "://" + item);
  }
  if (masters.empty()) return MakeError(Errc::kInvalidArgument, "--master: no master given");
  return masters;
}

}  // namespace factorial::scheduler
