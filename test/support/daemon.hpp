#pragma once

// What the tests that run real daemons (Mesos masters and agents, ZooKeeper) share: a free
// loopback port, a daemon whose output goes to a log file and which dies with the test
// process, and a work directory that is kept, and named, when the test fails.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/files.hpp"
#include "support/temp_dir.hpp"

namespace factorial::testing {

// True iff an assertion of the running test case has failed so far. Defined by
// test/support/test_failed.cpp, a Catch2 listener linked into the test binaries that use it.
bool CurrentTestFailed();

// A port on 127.0.0.1 that was free a moment ago (the daemon binds it itself, so another
// process may take it in between: callers that can tell retry with a new one).
inline int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("cannot find a free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The last `lines` lines of `text`.
inline std::string Tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  while (lines-- > 0 && pos > 0) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos);
}

// A child process whose stdout and stderr go to `log`, in its own process group, stopped when
// this object goes away. If the test process dies first (a crash, a ctest timeout's SIGKILL),
// the daemon gets `on_parent_death` (an agent: SIGUSR1, so it shuts its executors down).
class Daemon {
 public:
  Daemon(const std::vector<std::string>& argv, const std::filesystem::path& log, int on_parent_death = SIGTERM,
         const std::vector<std::pair<std::string, std::string>>& env = {}) {
    std::vector<std::string> copy = argv;
    std::vector<char*> args;
    for (auto& a : copy) args.push_back(a.data());
    args.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, on_parent_death);
      if (::getppid() != parent) ::_exit(1);
      ::setpgid(0, 0);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      int in = ::open("/dev/null", O_RDONLY);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Daemon() { Stop(SIGKILL); }
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  pid_t pid() const { return pid_; }

  // False once the daemon has exited (it is then reaped).
  bool Running() {
    if (reaped_) return false;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
  }

  // Sends `sig`; SIGKILL if the daemon outlives `grace`. Idempotent.
  void Stop(int sig = SIGTERM, std::chrono::milliseconds grace = std::chrono::seconds(10)) {
    if (!Running()) return;
    ::kill(pid_, sig);
    auto deadline = std::chrono::steady_clock::now() + grace;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!Running()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval while it exits
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
    reaped_ = true;
  }

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

// SIGKILL to every process whose working directory is under `dir`: executors an agent left
// behind in its sandboxes there.
inline void KillProcessesUnder(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string root = fs::canonical(dir, ec).string() + "/";
  if (ec) return;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code link_ec;
    std::string cwd = fs::read_symlink(entry.path() / "cwd", link_ec).string();
    if (!link_ec && cwd.rfind(root, 0) == 0) ::kill(static_cast<pid_t>(std::stol(name)), SIGKILL);
  }
}

// A compute worker (`factorial-executor --compute-worker`) whose working directory is under
// `dir` (a sandbox of this test's agents, so other tests' workers are never touched), and the
// CPU seconds it has used.
struct ComputeWorker {
  pid_t pid = -1;
  double cpu_seconds = 0;
};

inline std::vector<ComputeWorker> ComputeWorkersUnder(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::string root = fs::canonical(dir, ec).string();
  std::vector<ComputeWorker> out;
  if (ec) return out;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code link_ec;
    std::string cwd = fs::read_symlink(entry.path() / "cwd", link_ec).string();
    if (link_ec || (cwd != root && cwd.rfind(root + "/", 0) != 0)) continue;
    std::ifstream cmdline(entry.path() / "cmdline", std::ios::binary);
    std::string args((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (args.find(std::string("\0--compute-worker", 17)) == std::string::npos) continue;
    // /proc/<pid>/stat: utime and stime are the 12th and 13th fields after the ")" that ends
    // the command name.
    std::ifstream stat_file(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 1));
    std::string field;
    double ticks = 0;
    for (int i = 1; i <= 13 && fields >> field; ++i) {
      if (i >= 12) ticks += std::strtod(field.c_str(), nullptr);
    }
    out.push_back({static_cast<pid_t>(std::stol(name)), ticks / static_cast<double>(::sysconf(_SC_CLK_TCK))});
  }
  return out;
}

// A TempDir for one test's daemons, their logs and anything else worth reading after a
// failure. It stays when the test has failed (an assertion, or an exception on its way out)
// or Keep() was called: its path is printed, and under CI (CI set) the last 200 lines of every
// log in it are printed too, since a CI machine's files are gone after the run. With
// KEEP_TEST_LOGS set it always stays.
class TestDirectory : public TempDir {
 public:
  explicit TestDirectory(const std::string& prefix) : TempDir(prefix) {}
  ~TestDirectory() {
    if (kept() || CurrentTestFailed() || std::uncaught_exceptions() > 0) {
      Report();
      Keep();
    } else if (std::getenv("KEEP_TEST_LOGS") != nullptr) {
      Keep();
    }
  }

  // Every `*.log` at the top of the directory, and executors' `stderr` in agent sandboxes.
  std::vector<std::filesystem::path> Logs() const {
    namespace fs = std::filesystem;
    std::vector<fs::path> logs;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(path(), ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (!it->is_regular_file()) continue;
      if ((p.extension() == ".log" && p.parent_path() == path()) ||
          (p.filename() == "stderr" && p.string().find("/runs/") != std::string::npos)) {
        logs.push_back(p);
      }
    }
    std::sort(logs.begin(), logs.end());
    return logs;
  }

  // The last `lines` lines of every log, each under its path.
  std::string LogTails(std::size_t lines) const {
    std::string out;
    for (const auto& log : Logs()) out += "--- " + log.string() + "\n" + Tail(ReadFile(log), lines) + "\n";
    return out;
  }

 private:
  void Report() const {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && *ci != '\0') std::fprintf(stderr, "%s", LogTails(200).c_str());
    std::fprintf(stderr, "test logs kept in %s\n", path().c_str());
  }
};

}  // namespace factorial::testing
