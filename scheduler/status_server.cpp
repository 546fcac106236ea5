#include "status_server.hpp"

#include <chrono>
#include <csignal>

#include <pthread.h>

#include <httplib.h>

#include "factorial/base64.hpp"

namespace factorial::scheduler {
namespace {

// Equal strings, in time that does not depend on where they differ.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

StatusServer::StatusServer(const StatusServerOptions& options)
    : options_(options), server_(std::make_unique<httplib::Server>()), latest_(std::make_shared<JobStatus>()) {}

StatusServer::~StatusServer() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

Result<std::unique_ptr<StatusServer>> StatusServer::Start(const StatusServerOptions& options) {
  std::unique_ptr<StatusServer> s(new StatusServer(options));
  httplib::Server& http = *s->server_;
  // An operator's browser and a scraper or two: a small pool, short timeouts.
  http.new_task_queue = [] { return new httplib::ThreadPool(2); };
  http.set_read_timeout(5, 0);
  http.set_write_timeout(5, 0);
  http.set_keep_alive_timeout(5);
  // SO_REUSEADDR only: the library's default SO_REUSEPORT would let a second job bind the
  // same port and answer half of the requests meant for the first.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  StatusServer* self = s.get();
  auto serve = [self](const char* type, std::string (*render)(const JobStatus&)) {
    return [self, type, render](const httplib::Request& request, httplib::Response& response) {
      if (!self->Authorized(request.get_header_value("Authorization"))) {
        response.status = 401;
        response.set_header("WWW-Authenticate", "Basic realm=\"factorial-scheduler\", charset=\"UTF-8\"");
        response.set_content("authentication required\n", "text/plain; charset=utf-8");
        return;
      }
      response.set_header("Cache-Control", "no-store");
      response.set_content(render(*self->Latest()), type);
    };
  };
  http.Get("/", serve("text/html; charset=utf-8", &StatusPage));
  http.Get("/status", serve("application/json", &StatusJson));
  http.Get("/metrics", serve("text/plain; version=0.0.4; charset=utf-8", &MetricsText));
  int port = options.port == 0 ? http.bind_to_any_port(options.address) : (http.bind_to_port(options.address, options.port) ? options.port : -1);
  if (port <= 0) {
    return MakeError(Errc::kUnavailable, "cannot listen on " + options.address + ":" + std::to_string(options.port) +
                                             " for --http-port (in use, or not an address of this host)");
  }
  s->port_ = port;
  // The server's threads (this one and its pool's) take no signals: SIGINT and SIGTERM are
  // the loop's (SignalWatcher), and one delivered here would end the process unhandled.
  sigset_t all, before;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &before);
  s->thread_ = std::thread([self] { self->server_->listen_after_bind(); });
  ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
  // stop() does nothing to a server not yet listening, so the destructor could not end it:
  // return once it listens.
  for (int i = 0; i < 5000 && !http.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return s;
}

void StatusServer::Publish(std::shared_ptr<const JobStatus> status) {
  std::lock_guard lock(mu_);
  latest_ = std::move(status);
}

std::shared_ptr<const JobStatus> StatusServer::Latest() {
  std::lock_guard lock(mu_);
  return latest_;
}

bool StatusServer::Authorized(const std::string& header) const {
  if (!options_.credential) return true;
  constexpr std::string_view kBasic = "Basic ";
  if (header.size() <= kBasic.size() || header.compare(0, kBasic.size(), kBasic) != 0) return false;
  auto decoded = Base64Decode(std::string_view(header).substr(kBasic.size()));
  if (!decoded.ok()) return false;
  return SameSecret(*decoded, options_.credential->first + ":" + options_.credential->second);
}

}  // namespace factorial::scheduler
