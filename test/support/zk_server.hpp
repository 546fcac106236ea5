#pragma once

// A real ZooKeeper server for tests: Debian's `zookeeper` package run standalone on a free
// 127.0.0.1 port with a temporary data directory and a generated zoo.cfg, stopped (and its
// directory removed) when the object goes away. Ready once it has opened a first client
// session: "ruok" answers long before a cold JVM on a loaded machine serves sessions.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "support/daemon.hpp"
#include "support/e2e.hpp"

namespace factorial::testing {

class ZooKeeperServer {
 public:
  static constexpr const char* kJava = "/usr/bin/java";
  static constexpr const char* kJar = "/usr/share/java/zookeeper.jar";

  // Why a ZooKeeper server cannot run here, or nullopt if it can.
  static std::optional<std::string> Unavailable() {
    if (::access(kJava, X_OK) != 0) return std::string("no Java runtime at ") + kJava + " (deploy/install-deps.sh --tests)";
    if (::access(kJar, R_OK) != 0) return std::string("no ZooKeeper at ") + kJar + " (deploy/install-deps.sh --tests)";
    return std::nullopt;
  }

  ZooKeeperServer() {
    std::filesystem::create_directories(dir_ / "data");
    Start();
  }
  ~ZooKeeperServer() {
    Stop();
  }
  ZooKeeperServer(const ZooKeeperServer&) = delete;
  ZooKeeperServer& operator=(const ZooKeeperServer&) = delete;

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // From start to the first "imok".
  std::chrono::milliseconds startup_time() const { return startup_time_; }

  // Stops the server (clients lose their sessions' connection, not the sessions).
  void Stop() {
    if (!process_) return;
    process_->Stop(SIGTERM);
    process_.reset();
  }
  // Starts it again on the same port and data: sessions that have not expired resume.
  void Start() {
    for (int attempt = 0; attempt < 3 && !process_; ++attempt) {
      if (port_ == 0 || attempt > 0) port_ = FreeLoopbackPort();
      std::ofstream cfg(dir_ / "zoo.cfg");
      cfg << "tickTime=500\n"
          << "dataDir=" << (dir_ / "data").string() << "\n"
          << "clientPort=" << port_ << "\n"
          << "clientPortAddress=127.0.0.1\n"
          << "maxClientCnxns=0\n"
          << "admin.enableServer=false\n"
          << "4lw.commands.whitelist=ruok\n"
          // Throw-away data: no fsync per transaction, which on a busy disk delays the
          // first session by seconds.
          << "forceSync=no\n";
      cfg.close();
      auto started = std::chrono::steady_clock::now();
      auto process = std::make_unique<Daemon>(
          std::vector<std::string>{kJava, "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp",
                                   std::string("/etc/zookeeper/conf:") + kJar,
                                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", (dir_ / "zoo.cfg").string()},
          dir_ / "zookeeper.log");
      if (Eventually([&] { return Ruok(); }, std::chrono::seconds(60)) && ServesASession(std::chrono::seconds(60))) {
        startup_time_ =
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
        process_ = std::move(process);
      } else {
        process.reset();  // killed: the port was taken meanwhile, or the JVM is failing: try another port
      }
    }
    if (!process_) throw std::runtime_error("ZooKeeper did not start (3 attempts)");
  }

 private:
  // Opens and closes one client session.
  bool ServesASession(std::chrono::seconds limit) const {
    static std::atomic<bool> connected;
    connected = false;
    zhandle_t* zh = zookeeper_init2(
        address().c_str(),
        [](zhandle_t*, int type, int state, const char*, void*) {
          if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) connected = true;
        },
        30000, nullptr, nullptr, 0, [](const char*) {});  // the client's retries are expected here
    if (zh == nullptr) return false;
    bool ok = Eventually([] { return connected.load(); }, limit);
    zookeeper_close(zh);
    return ok;
  }

  // ZooKeeper's four-letter health check.
  bool Ruok() const {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port_));
    bool ok = false;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::write(fd, "ruok", 4) == 4) {
      timeval tv{2, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      char reply[4] = {};
      ok = ::recv(fd, reply, sizeof reply, MSG_WAITALL) == 4 && std::string(reply, 4) == "imok";
    }
    ::close(fd);
    return ok;
  }

  TempDir dir_{"factorial-zk"};
  int port_ = 0;
  std::unique_ptr<Daemon> process_;
  std::chrono::milliseconds startup_time_{0};
};

}  // namespace factorial::testing
