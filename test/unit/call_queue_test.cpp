#include "factorial/call_queue.hpp"

#include <catch2/catch.hpp>

#include "support/fake_loop.hpp"

using factorial::CallQueue;
using factorial::HttpRequest;
using factorial::testing::FakeLoop;

namespace {
HttpRequest Named(const std::string& body) {
  HttpRequest r;
  r.body = body;
  return r;
}
}  // namespace

TEST_CASE("calls go out one at a time, in order, each after the previous answer", "[call_queue]") {
  FakeLoop loop;
  CallQueue queue(loop);
  std::vector<std::string> answered;
  for (std::string name : {"RUNNING", "FINISHED", "ACK"}) {
    queue.Send(Named(name), [&answered, name](factorial::Result<factorial::HttpResponse> r) {
      answered.push_back(r.ok() ? name : "failed " + name);
    });
  }
  REQUIRE(loop.OpenCalls().size() == 1);
  CHECK(loop.OpenCalls()[0]->http.body == "RUNNING");
  CHECK(queue.pending() == 3);
  loop.Reply(loop.OpenCalls()[0]->id, 202);
  REQUIRE(loop.OpenCalls().size() == 1);
  CHECK(loop.OpenCalls()[0]->http.body == "FINISHED");
  loop.Fail(loop.OpenCalls()[0]->id, factorial::Error{factorial::Errc::kUnavailable, "reset"});
  REQUIRE(loop.OpenCalls().size() == 1);  // a failure does not stop the queue
  CHECK(loop.OpenCalls()[0]->http.body == "ACK");
  CHECK(answered == std::vector<std::string>{"RUNNING", "failed FINISHED"});
  loop.Reply(loop.OpenCalls()[0]->id, 202);
  CHECK(answered == std::vector<std::string>{"RUNNING", "failed FINISHED", "ACK"});
  CHECK(queue.pending() == 0);
}

TEST_CASE("Clear cancels the call in flight and drops the rest silently", "[call_queue]") {
  FakeLoop loop;
  CallQueue queue(loop);
  int callbacks = 0;
  queue.Send(Named("a"), [&](auto) { ++callbacks; });
  queue.Send(Named("b"), [&](auto) { ++callbacks; });
  queue.Clear();
  CHECK(loop.OpenCalls().empty());
  CHECK(queue.pending() == 0);
  queue.Send(Named("c"), [&](auto) { ++callbacks; });
  REQUIRE(loop.OpenCalls().size() == 1);
  CHECK(loop.OpenCalls()[0]->http.body == "c");
  loop.Reply(loop.OpenCalls()[0]->id, 202);
  CHECK(callbacks == 1);
}

TEST_CASE("a queued call can be withdrawn until it is sent", "[call_queue]") {
  FakeLoop loop;
  CallQueue queue(loop);
  std::vector<std::string> answered;
  auto record = [&answered](std::string name) {
    return [&answered, name](factorial::Result<factorial::HttpResponse>) { answered.push_back(name); };
  };
  CallQueue::Ticket first = queue.Send(Named("a"), record("a"));
  CallQueue::Ticket second = queue.Send(Named("b"), record("b"));
  queue.Send(Named("c"), record("c"));
  CHECK_FALSE(queue.Withdraw(first));  // in flight: the peer may have it
  CHECK(queue.Withdraw(second));
  CHECK_FALSE(queue.Withdraw(second));
  CHECK(queue.pending() == 2);
  loop.Reply(loop.OpenCalls()[0]->id, 202);
  REQUIRE(loop.OpenCalls().size() == 1);
  CHECK(loop.OpenCalls()[0]->http.body == "c");
  loop.Reply(loop.OpenCalls()[0]->id, 202);
  CHECK(answered == std::vector<std::string>{"a", "c"});
}
