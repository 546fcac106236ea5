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

namespace {
std::vector<std::string> OpenBodies(FakeLoop& loop) {
  std::vector<std::string> out;
  for (auto* r : loop.OpenCalls()) out.push_back(r->http.body);
  return out;
}
void ReplyTo(FakeLoop& loop, const std::string& body) {
  for (auto* r : loop.OpenCalls()) {
    if (r->http.body == body) {
      loop.Reply(r->id, 202);
      return;
    }
  }
  FAIL("no open call " << body);
}
using factorial::CallOrder;
}  // namespace

TEST_CASE("keyed calls with nothing in common go out together, up to the limit", "[call_queue]") {
  FakeLoop loop;
  CallQueue queue(loop, 3);
  std::vector<std::string> answered;
  for (std::string name : {"a", "b", "c", "d"}) {
    queue.Send(Named(name), [&answered, name](auto) { answered.push_back(name); }, CallOrder::Keyed({name}));
  }
  CHECK(OpenBodies(loop) == std::vector<std::string>{"a", "b", "c"});
  CHECK(queue.in_flight() == 3);
  CHECK(queue.pending() == 4);
  ReplyTo(loop, "b");  // answers may come in any order; the freed slot takes d
  CHECK(OpenBodies(loop) == std::vector<std::string>{"a", "c", "d"});
  CHECK(answered == std::vector<std::string>{"b"});
}

TEST_CASE("a call waits for every earlier call that shares a key with it, and only those", "[call_queue]") {
  FakeLoop loop;
  CallQueue queue(loop, 8);
  queue.Send(Named("ACCEPT t1"), {}, CallOrder::Keyed({"offer:1", "task:t1"}));
  queue.Send(Named("KILL t1"), {}, CallOrder::Keyed({"task:t1"}));
  queue.Send(Named("ACK t2 #1"), {}, CallOrder::Keyed({"task:t2"}));
  queue.Send(Named("ACK t2 #2"), {}, CallOrder::Keyed({"task:t2"}));
  queue.Send(Named("ACK t3"), {}, CallOrder::Keyed({"task:t3"}));
  // KILL t1 waits for its ACCEPT; a waiting call holds its keys too, so a later call keyed
  // t1 cannot pass the KILL.
  queue.Send(Named("ACK t1"), {}, CallOrder::Keyed({"task:t1"}));
  CHECK(OpenBodies(loop) == std::vector<std::string>{"ACCEPT t1", "ACK t2 #1", "ACK t3"});
  ReplyTo(loop, "ACK t2 #1");
  CHECK(OpenBodies(loop) == std::vector<std::string>{"ACCEPT t1", "ACK t3", "ACK t2 #2"});
  ReplyTo(loop, "ACCEPT t1");
  CHECK(OpenBodies(loop) == std::vector<std::string>{"ACK t3", "ACK t2 #2", "KILL t1"});
  ReplyTo(loop, "KILL t1");
  CHECK(OpenBodies(loop) == std::vector<std::string>{"ACK t3", "ACK t2 #2", "ACK t1"});
}

TEST_CASE("a barrier waits for everything before it, and everything after waits for it", "[call_queue]") {
  FakeLoop loop;
  CallQueue queue(loop, 8);
  queue.Send(Named("DECLINE o1"), {}, CallOrder::Keyed({"offer:o1"}));
  queue.Send(Named("DECLINE o2"), {}, CallOrder::Keyed({"offer:o2"}));
  queue.Send(Named("REVIVE"), {});  // the default order is a barrier
  queue.Send(Named("ACK t9"), {}, CallOrder::Keyed({"task:t9"}));
  CHECK(OpenBodies(loop) == std::vector<std::string>{"DECLINE o1", "DECLINE o2"});
  ReplyTo(loop, "DECLINE o2");
  CHECK(OpenBodies(loop) == std::vector<std::string>{"DECLINE o1"});
  ReplyTo(loop, "DECLINE o1");
  CHECK(OpenBodies(loop) == std::vector<std::string>{"REVIVE"});
  loop.Fail(loop.OpenCalls()[0]->id, factorial::Error{factorial::Errc::kUnavailable, "reset"});
  CHECK(OpenBodies(loop) == std::vector<std::string>{"ACK t9"});
}

TEST_CASE("withdrawing a waiting call lets what waited behind it go", "[call_queue]") {
  FakeLoop loop;
  CallQueue queue(loop, 4);
  queue.Send(Named("ACCEPT o1"), {}, CallOrder::Keyed({"offer:o1", "agent:a"}));
  CallQueue::Ticket second = queue.Send(Named("ACCEPT o2"), {}, CallOrder::Keyed({"offer:o2", "agent:a"}));
  queue.Send(Named("ACCEPT o3"), {}, CallOrder::Keyed({"offer:o3", "agent:a"}));
  CHECK(OpenBodies(loop) == std::vector<std::string>{"ACCEPT o1"});
  CHECK(queue.Withdraw(second));
  ReplyTo(loop, "ACCEPT o1");
  CHECK(OpenBodies(loop) == std::vector<std::string>{"ACCEPT o3"});
  queue.Clear();
  CHECK(OpenBodies(loop).empty());
  CHECK(queue.pending() == 0);
  queue.Send(Named("next"), {}, CallOrder::Keyed({"agent:a"}));  // Clear forgot the keys in flight
  CHECK(OpenBodies(loop) == std::vector<std::string>{"next"});
}
