#include "state_store.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace factorial::scheduler {
namespace {

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

Result<std::size_t> CompleteLines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::size_t{0};
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t lines = static_cast<std::size_t>(std::count(content.begin(), content.end(), '\n'));
  std::size_t keep = content.empty() ? 0 : content.rfind('\n') + 1;
  if (content.rfind('\n') == std::string::npos) keep = 0;
  if (keep != content.size()) {
    std::error_code ec;
    std::filesystem::resize_file(path, keep, ec);
    if (ec) return MakeError(Errc::kInternal, "cannot trim " + path + ": " + ec.message());
  }
  return lines;
}

Result<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return MakeError(Errc::kInvalidArgument, "cannot create --state-dir " + dir + ": " + ec.message());
  std::string path = dir + "/journal.jsonl";
  auto lines = CompleteLines(path);  // drops a torn last record
  if (!lines.ok()) return lines.error();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return MakeError(Errc::kInvalidArgument, Errno("cannot open " + path));
  std::unique_ptr<StateStore> store(new StateStore(dir, fd));
  std::ifstream in(path);
  std::string line;
  std::size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return MakeError(Errc::kCorruption, path + " line " + std::to_string(number) + " is not JSON");
    }
    if (j.contains("framework_id")) {
      store->framework_id_ = j["framework_id"].is_string() ? std::optional(j["framework_id"].get<std::string>())
                                                           : std::nullopt;
    } else if (j.contains("n") && j["n"].is_number_unsigned()) {
      NumberResult r;
      r.n = j["n"].get<std::uint64_t>();
      r.ok = j.value("ok", false);
      r.digits = j.value("factorial", "");
      r.error = j.value("error", "");
      r.task_id = j.value("task_id", "");
      r.agent_id = j.value("agent", "");
      r.seconds = j.value("seconds", 0.0);
      store->results_[r.n] = r;
    }
  }
  return store;
}

StateStore::~StateStore() {
  if (fd_ >= 0) ::close(fd_);
}

Status StateStore::Write(const std::string& line) {
  std::string record = line + "\n";
  const char* data = record.data();
  std::size_t left = record.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return MakeError(Errc::kInternal, Errno("journal write"));
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return MakeError(Errc::kInternal, Errno("journal fdatasync"));
  return OkStatus();
}

Status StateStore::SaveFrameworkId(const std::optional<std::string>& id) {
  if (id == framework_id_) return OkStatus();
  framework_id_ = id;
  return Write(nlohmann::json{{"framework_id", id ? nlohmann::json(*id) : nlohmann::json(nullptr)}}.dump());
}

Status StateStore::Append(const NumberResult& r) {
  results_[r.n] = r;
  nlohmann::json j = {{"n", r.n}, {"ok", r.ok}};
  if (r.ok) {
    j["factorial"] = r.digits;
  } else {
    j["error"] = r.error;
  }
  j["task_id"] = r.task_id;
  j["agent"] = r.agent_id;
  j["seconds"] = r.seconds;
  return Write(j.dump());
}

}  // namespace factorial::scheduler
