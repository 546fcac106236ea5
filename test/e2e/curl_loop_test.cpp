// CurlLoop against real HTTP and HTTPS servers on 127.0.0.1 (cpp-httplib). Each test runs the
// loop on the test thread; callbacks stop it, and a guard timer bounds every test.

#include "factorial/curl_loop.hpp"
#include "support/curl_global.hpp"
#include "support/temp_dir.hpp"
#include "support/timeouts.hpp"

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <httplib.h>

using namespace std::chrono_literals;
using factorial::CurlLoop;
using factorial::Errc;
using factorial::HttpRequest;
using factorial::HttpResponse;
using factorial::Result;
using factorial::testing::kSlowPeer;
using factorial::testing::kStreamEvent;

namespace {

// A server on an ephemeral loopback port, stopped and joined on destruction.
template <class Server>
class Running {
 public:
  template <class... Args>
  explicit Running(Args&&... args) : server(std::forward<Args>(args)...) {}
  void Start() {
    port = server.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server.listen_after_bind(); });
    // stop() is a no-op until the accept loop runs, so wait for it (a state, not a delay).
    auto limit = std::chrono::steady_clock::now() + kStreamEvent;
    while (!server.is_running() && std::chrono::steady_clock::now() < limit) {
      std::this_thread::yield();
    }
    REQUIRE(server.is_running());
  }
  ~Running() {
    server.stop();
    if (thread.joinable()) thread.join();
  }
  std::string Url(const std::string& scheme, const std::string& path) const {
    return scheme + "://127.0.0.1:" + std::to_string(port) + path;
  }
  Server server;
  int port = 0;
  std::thread thread;
};

// Runs the loop until a callback calls Stop(); fails the test if that takes over 20 s.
void RunBounded(CurlLoop& loop) {
  bool timed_out = false;
  auto guard = loop.After(20s, [&] {
    timed_out = true;
    loop.Stop();
  });
  loop.Run();
  loop.CancelTimer(guard);
  REQUIRE_FALSE(timed_out);
}

HttpRequest Post(std::string url, std::string body) {
  HttpRequest r;
  r.url = std::move(url);
  r.body = std::move(body);
  r.headers.Add("Content-Type", "application/json");
  return r;
}

// A one-shot latch usable across threads without sleeping.
class Latch {
 public:
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

}  // namespace

TEST_CASE("POST sends body and headers, returns status, headers and body", "[http]") {
  Running<httplib::Server> srv;
  std::string seen_type, seen_body, seen_stream_id;
  srv.server.Post("/api/v1/scheduler", [&](const httplib::Request& req, httplib::Response& res) {
    seen_type = req.get_header_value("Content-Type");
    seen_stream_id = req.get_header_value("Mesos-Stream-Id");
    seen_body = req.body;
    res.status = 202;
    res.set_header("X-Answer", "42");
  });
  srv.Start();

  CurlLoop loop;
  auto request = Post(srv.Url("http", "/api/v1/scheduler"), R"({"type":"REVIVE"})");
  request.headers.Add("Mesos-Stream-Id", "abc");
  std::optional<Result<HttpResponse>> got;
  loop.Send(request, [&](Result<HttpResponse> r) {
    got = std::move(r);
    loop.Stop();
  });
  RunBounded(loop);
  REQUIRE(got.has_value());
  REQUIRE(got->ok());
  CHECK(got->value().status == 202);
  CHECK(got->value().headers.Get("x-answer") == "42");  // names are case-insensitive
  CHECK(seen_type == "application/json");
  CHECK(seen_stream_id == "abc");
  CHECK(seen_body == R"({"type":"REVIVE"})");
}

TEST_CASE("sequential calls reuse one keep-alive connection", "[http]") {
  Running<httplib::Server> srv;
  std::vector<int> client_ports;
  srv.server.Post("/c", [&](const httplib::Request& req, httplib::Response& res) {
    client_ports.push_back(req.remote_port);
    res.status = 202;
  });
  srv.Start();
  CurlLoop loop;
  int remaining = 3;
  std::function<void()> next = [&] {
    loop.Send(Post(srv.Url("http", "/c"), "{}"), [&](Result<HttpResponse> r) {
      REQUIRE(r.ok());
      if (--remaining == 0) return loop.Stop();
      next();
    });
  };
  next();
  RunBounded(loop);
  REQUIRE(client_ports.size() == 3);
  CHECK(client_ports[0] == client_ports[1]);
  CHECK(client_ports[1] == client_ports[2]);
}

TEST_CASE("stream chunks reach the caller before the response ends", "[http]") {
  Running<httplib::Server> srv;
  Latch first_chunk_seen;
  srv.server.Post("/stream", [&](const httplib::Request&, httplib::Response& res) {
    res.set_header("Mesos-Stream-Id", "s-1");
    auto step = std::make_shared<int>(0);
    res.set_chunked_content_provider("application/json", [&, step](size_t, httplib::DataSink& sink) {
      if (*step == 0) {
        sink.write("first", 5);
      } else if (*step == 1) {
        // The response is still open: the client must already have seen "first".
        if (!first_chunk_seen.Wait(kSlowPeer)) return false;
        sink.write("second", 6);
      } else {
        sink.done();
      }
      ++*step;
      return true;
    });
  });
  srv.Start();

  CurlLoop loop;
  std::string received;
  std::optional<std::string> stream_id;
  bool done = false;
  factorial::StreamCallbacks cb;
  cb.inline_data = GENERATE(false, true);  // handed over from the loop, or from libcurl's callback
  INFO("inline_data " << cb.inline_data);
  cb.on_head = [&](const HttpResponse& head) {
    stream_id = head.headers.Get("Mesos-Stream-Id");
    return head.status == 200;
  };
  cb.on_data = [&](std::string_view bytes) {
    received += bytes;
    if (received == "first") first_chunk_seen.Open();
    return true;
  };
  cb.on_done = [&](Result<HttpResponse> r) {
    REQUIRE(r.ok());
    CHECK(r.value().status == 200);
    CHECK(r.value().body.empty());  // streamed, not buffered
    done = true;
    loop.Stop();
  };
  loop.OpenStream(Post(srv.Url("http", "/stream"), "{}"), cb);
  RunBounded(loop);
  CHECK(done);
  CHECK(stream_id == "s-1");
  CHECK(received == "firstsecond");
}

TEST_CASE("a stream refused with an error status buffers the body for the caller", "[http]") {
  Running<httplib::Server> srv;
  srv.server.Post("/s", [](const httplib::Request&, httplib::Response& res) {
    res.status = 400;
    res.set_content("Subscribe calls should not include the 'Mesos-Stream-Id' header",
                    "text/plain; charset=utf-8");
  });
  srv.Start();
  CurlLoop loop;
  bool data_called = false;
  std::optional<Result<HttpResponse>> got;
  factorial::StreamCallbacks cb;
  cb.inline_data = GENERATE(false, true);
  INFO("inline_data " << cb.inline_data);
  cb.on_head = [](const HttpResponse& head) { return head.status == 200; };
  cb.on_data = [&](std::string_view) { return data_called = true; };
  cb.on_done = [&](Result<HttpResponse> r) {
    got = std::move(r);
    loop.Stop();
  };
  loop.OpenStream(Post(srv.Url("http", "/s"), "{}"), cb);
  RunBounded(loop);
  REQUIRE(got->ok());
  CHECK(got->value().status == 400);
  CHECK(got->value().body == "Subscribe calls should not include the 'Mesos-Stream-Id' header");
  CHECK_FALSE(data_called);
}

TEST_CASE("a receiver that refuses stream bytes ends the transfer with an error", "[http]") {
  Running<httplib::Server> srv;
  srv.server.Get("/file", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(1 << 20, '7'), "application/octet-stream");
  });
  srv.Start();
  CurlLoop loop;
  int data_calls = 0;
  std::optional<Result<HttpResponse>> got;
  factorial::StreamCallbacks cb;
  cb.inline_data = GENERATE(false, true);
  INFO("inline_data " << cb.inline_data);
  cb.on_head = [](const HttpResponse& head) { return head.status == 200; };
  cb.on_data = [&](std::string_view) {
    ++data_calls;
    return false;
  };
  cb.on_done = [&](Result<HttpResponse> r) {
    got = std::move(r);
    loop.Stop();
  };
  HttpRequest request;
  request.method = "GET";
  request.url = srv.Url("http", "/file");
  loop.OpenStream(request, cb);
  RunBounded(loop);
  CHECK(data_calls == 1);
  REQUIRE(got.has_value());
  REQUIRE_FALSE(got->ok());
  CHECK(got->error().message == "transfer aborted by the receiver");
}

TEST_CASE("307 is surfaced with Location, not followed", "[http]") {
  Running<httplib::Server> srv;
  int followed = 0;
  srv.server.Post("/api/v1/scheduler", [](const httplib::Request&, httplib::Response& res) {
    res.status = 307;
    res.set_header("Location", "//127.0.0.2:5050/api/v1/scheduler");
  });
  srv.server.Post("/elsewhere", [&](const httplib::Request&, httplib::Response&) { ++followed; });
  srv.Start();
  CurlLoop loop;
  std::optional<Result<HttpResponse>> got;
  loop.Send(Post(srv.Url("http", "/api/v1/scheduler"), "{}"), [&](Result<HttpResponse> r) {
    got = std::move(r);
    loop.Stop();
  });
  RunBounded(loop);
  REQUIRE(got->ok());
  CHECK(got->value().status == 307);
  CHECK(got->value().headers.Get("Location") == "//127.0.0.2:5050/api/v1/scheduler");
  CHECK(followed == 0);
}

TEST_CASE("a call that outlives its timeout fails with deadline exceeded", "[http]") {
  Running<httplib::Server> srv;
  Latch release;
  srv.server.Post("/slow", [&](const httplib::Request&, httplib::Response& res) {
    release.Wait(kSlowPeer);
    res.status = 202;
  });
  srv.Start();
  CurlLoop loop;
  auto request = Post(srv.Url("http", "/slow"), "{}");
  request.timeout = 200ms;
  std::optional<Result<HttpResponse>> got;
  loop.Send(request, [&](Result<HttpResponse> r) {
    got = std::move(r);
    loop.Stop();
  });
  RunBounded(loop);
  release.Open();
  REQUIRE_FALSE(got->ok());
  CHECK(got->error().code == Errc::kDeadlineExceeded);
}

TEST_CASE("an idle stream is dropped after its idle timeout", "[http]") {
  Running<httplib::Server> srv;
  Latch release;
  srv.server.Post("/idle", [&](const httplib::Request&, httplib::Response& res) {
    auto sent = std::make_shared<bool>(false);
    res.set_chunked_content_provider("application/json", [&, sent](size_t, httplib::DataSink& sink) {
      if (!*sent) {
        *sent = true;
        sink.write("x", 1);
        return true;
      }
      release.Wait(kSlowPeer);  // stall: no byte for longer than the client's idle limit
      return false;
    });
  });
  srv.Start();
  CurlLoop loop;
  auto request = Post(srv.Url("http", "/idle"), "{}");
  request.timeout = factorial::Duration::zero();
  request.idle_timeout = 1s;
  std::optional<Result<HttpResponse>> got;
  factorial::StreamCallbacks cb;
  cb.on_head = [](const HttpResponse&) { return true; };
  cb.on_data = [](std::string_view) { return true; };
  cb.on_done = [&](Result<HttpResponse> r) {
    got = std::move(r);
    loop.Stop();
  };
  loop.OpenStream(request, cb);
  RunBounded(loop);
  release.Open();
  REQUIRE_FALSE(got->ok());
  CHECK(got->error().code == Errc::kDeadlineExceeded);
}

TEST_CASE("a refused connection is unavailable, not a crash", "[http]") {
  // Bind a socket without listening: connecting to its port is refused.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  int port = ntohs(addr.sin_port);
  CurlLoop loop;
  std::optional<Result<HttpResponse>> got;
  loop.Send(Post("http://127.0.0.1:" + std::to_string(port) + "/", "{}"), [&](Result<HttpResponse> r) {
    got = std::move(r);
    loop.Stop();
  });
  RunBounded(loop);
  ::close(fd);
  REQUIRE_FALSE(got->ok());
  CHECK(got->error().code == Errc::kUnavailable);
}

TEST_CASE("basic auth credentials are sent as an Authorization header", "[http]") {
  Running<httplib::Server> srv;
  std::string authorization;
  srv.server.Post("/a", [&](const httplib::Request& req, httplib::Response& res) {
    authorization = req.get_header_value("Authorization");
    res.status = 202;
  });
  srv.Start();
  CurlLoop loop;
  auto request = Post(srv.Url("http", "/a"), "{}");
  request.basic_auth = std::make_pair(std::string("principal"), std::string("s3cret"));
  loop.Send(request, [&](Result<HttpResponse> r) {
    REQUIRE(r.ok());
    loop.Stop();
  });
  RunBounded(loop);
  CHECK(authorization == "Basic cHJpbmNpcGFsOnMzY3JldA==");
}

TEST_CASE("cancelled transfers never call back, timers and posts run on the loop", "[http]") {
  Running<httplib::Server> srv;
  Latch release;
  srv.server.Post("/hang", [&](const httplib::Request&, httplib::Response& res) {
    release.Wait(kSlowPeer);
    res.status = 202;
  });
  srv.Start();
  CurlLoop loop;
  bool called = false;
  auto id = loop.Send(Post(srv.Url("http", "/hang"), "{}"), [&](Result<HttpResponse>) { called = true; });
  std::vector<int> order;
  loop.After(30ms, [&] { order.push_back(2); });
  loop.After(10ms, [&] { order.push_back(1); });
  auto cancelled_timer = loop.After(20ms, [&] { order.push_back(99); });
  loop.CancelTimer(cancelled_timer);
  loop.After(50ms, [&] {
    loop.Cancel(id);
    std::thread([&] { loop.Post([&] { order.push_back(3); loop.Stop(); }); }).detach();
  });
  RunBounded(loop);
  release.Open();
  CHECK_FALSE(called);
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("TLS verification fails on a self-signed certificate unless its CA is given", "[http][tls]") {
  namespace fs = std::filesystem;
  factorial::testing::TempDir tmp("factorial-tls");
  const fs::path& dir = tmp.path();
  std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                    "-addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert +
                    " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);

  Running<httplib::SSLServer> srv(cert.c_str(), key.c_str());
  srv.server.Post("/tls", [](const httplib::Request&, httplib::Response& res) { res.status = 202; });
  srv.Start();

  auto call = [&](factorial::TlsOptions tls) {
    CurlLoop loop;
    auto request = Post(srv.Url("https", "/tls"), "{}");
    request.tls = tls;
    std::optional<Result<HttpResponse>> got;
    loop.Send(request, [&](Result<HttpResponse> r) {
      got = std::move(r);
      loop.Stop();
    });
    RunBounded(loop);
    return std::move(*got);
  };

  auto untrusted = call({});
  REQUIRE_FALSE(untrusted.ok());
  CHECK(untrusted.error().code == Errc::kUnavailable);
  CHECK_THAT(untrusted.error().message, Catch::Contains("certificate", Catch::CaseSensitive::No));

  auto trusted = call({.verify_peer = true, .ca_file = cert});
  REQUIRE(trusted.ok());
  CHECK(trusted.value().status == 202);
}
