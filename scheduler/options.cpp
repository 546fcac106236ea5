#include "options.hpp"

#include <charconv>
#include <fstream>
#include <iostream>

namespace factorial::scheduler {

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

}  // namespace factorial::scheduler
