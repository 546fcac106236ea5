#include "options.hpp"

#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

namespace factorial::scheduler {

Result<std::vector<std::uint64_t>> ParseNumbers(const std::vector<NumberToken>& tokens, std::uint64_t max_n) {
  WorkloadBuilder builder(max_n);
  for (const auto& token : tokens) builder.AddToken(token.text, token.source);
  auto workload = builder.Finish();
  if (!workload.ok()) return workload.error();
  std::vector<std::uint64_t> numbers;
  numbers.reserve(workload->size());
  for (std::size_t i = 0; i < workload->size(); ++i) numbers.push_back(workload->at(i));
  return numbers;
}

Result<Workload> ReadWorkload(const std::vector<std::string>& arguments, const std::string& input,
                              std::uint64_t max_n, int stdin_fd) {
  WorkloadBuilder builder(max_n);
  for (const auto& argument : arguments) builder.AddToken(argument, "argument");
  if (!input.empty()) {
    std::error_code ec;
    if (input != "-" && std::filesystem::is_directory(input, ec)) {
      return MakeError(Errc::kInvalidArgument, "--input " + input + " is a directory, not a file of numbers");
    }
    int fd = input == "-" ? stdin_fd : ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return MakeError(Errc::kInvalidArgument, "cannot read --input " + input);
    auto read = builder.ReadLines(fd);
    if (input != "-") ::close(fd);
    if (!read.ok()) return MakeError(Errc::kInvalidArgument, "cannot read --input " + input + ": " + read.error().message);
  }
  if (builder.count() == 0 && builder.bad_count() == 0) {
    return MakeError(Errc::kInvalidArgument, input.empty() ? "no numbers given (arguments or --input)"
                                                           : "no numbers given: --input " + input + " holds none");
  }
  return builder.Finish();
}

}  // namespace factorial::scheduler
