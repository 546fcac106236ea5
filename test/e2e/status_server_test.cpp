// The status server on 127.0.0.1: what it serves, and HTTP Basic when a credential is set.

#include <memory>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "status_server.hpp"

using namespace factorial::scheduler;

namespace {

std::shared_ptr<const JobStatus> Snapshot(std::size_t done) {
  auto s = std::make_shared<JobStatus>();
  s->name = "served";
  s->numbers_total = 10;
  s->numbers_done = done;
  s->counters.numbers_finished = done;
  return s;
}

}  // namespace

TEST_CASE("the status server serves the latest snapshot as page, JSON and metrics", "[status_server]") {
  auto started = StatusServer::Start({});
  REQUIRE(started.ok());
  auto server = std::move(started).value();
  REQUIRE(server->port() > 0);
  server->Publish(Snapshot(3));
  httplib::Client client("127.0.0.1", server->port());
  auto metrics = client.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(metrics->body == MetricsText(*Snapshot(3)));
  server->Publish(Snapshot(4));
  auto status = client.Get("/status");
  REQUIRE(status);
  CHECK(status->get_header_value("Content-Type") == "application/json");
  CHECK(status->body == StatusJson(*Snapshot(4)));
  auto page = client.Get("/");
  REQUIRE(page);
  CHECK(page->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(page->body == StatusPage(*Snapshot(4)));
  auto missing = client.Get("/nothing");
  REQUIRE(missing);
  CHECK(missing->status == 404);
}

TEST_CASE("with a credential the status server asks for HTTP Basic", "[status_server]") {
  StatusServerOptions options;
  options.credential = std::make_pair("ops", "s3cret");
  auto started = StatusServer::Start(options);
  REQUIRE(started.ok());
  auto server = std::move(started).value();
  httplib::Client client("127.0.0.1", server->port());
  auto anonymous = client.Get("/metrics");
  REQUIRE(anonymous);
  CHECK(anonymous->status == 401);
  CHECK(anonymous->get_header_value("WWW-Authenticate") == "Basic realm=\"factorial-scheduler\", charset=\"UTF-8\"");
  client.set_basic_auth("ops", "wrong");
  auto wrong = client.Get("/metrics");
  REQUIRE(wrong);
  CHECK(wrong->status == 401);
  client.set_basic_auth("ops", "s3cret");
  auto right = client.Get("/metrics");
  REQUIRE(right);
  CHECK(right->status == 200);
}

TEST_CASE("a port in use is a clear error", "[status_server]") {
  auto first = StatusServer::Start({});
  REQUIRE(first.ok());
  StatusServerOptions same;
  same.port = (*first)->port();
  auto second = StatusServer::Start(same);
  REQUIRE_FALSE(second.ok());
  CHECK(second.error().message == "cannot listen on 127.0.0.1:" + std::to_string(same.port) +
                                      " for --http-port (in use, or not an address of this host)");
}
