#pragma once

// The job's status over HTTP (--http-port): GET / (the page), /status (JSON), /metrics
// (Prometheus). Served by cpp-httplib on threads of its own; the scheduler's loop never waits
// for it. The loop publishes an immutable JobStatus now and then (Publish); a request renders
// the latest one, so the HTTP threads read no live state of the scheduler.
//
// With a credential, every request must carry it as HTTP Basic (401 otherwise).

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "factorial/status.hpp"
#include "job_status.hpp"

namespace httplib {
class Server;
}

namespace factorial::scheduler {

struct StatusServerOptions {
  std::string address = "127.0.0.1";
  int port = 0;  // 0: any free port (tests)
  std::optional<std::pair<std::string, std::string>> credential;  // user, password
};

class StatusServer {
 public:
  // Binds and starts serving; an error names the address when it cannot bind.
  static Result<std::unique_ptr<StatusServer>> Start(const StatusServerOptions& options);
  ~StatusServer();  // stops serving and joins its threads
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  int port() const { return port_; }
  // Served from now on. Any thread.
  void Publish(std::shared_ptr<const JobStatus> status);

 private:
  explicit StatusServer(const StatusServerOptions& options);
  std::shared_ptr<const JobStatus> Latest();
  bool Authorized(const std::string& header) const;

  StatusServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::shared_ptr<const JobStatus> latest_;
};

}  // namespace factorial::scheduler
