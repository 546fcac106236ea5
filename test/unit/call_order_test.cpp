#include "call_order.hpp"

#include <catch2/catch.hpp>

#include "support/fake_loop.hpp"

using factorial::CallOrder;
using factorial::CallQueue;
using factorial::scheduler::OrderOf;
using factorial::testing::FakeLoop;
namespace v1 = factorial::v1;
namespace ev = factorial::v1::scheduler;

namespace {

ev::Call Accept(const std::string& offer, const std::string& agent, std::vector<std::string> tasks) {
  ev::Call call;
  call.type = ev::CallType::kAccept;
  auto& accept = call.accept.emplace();
  accept.offer_ids.push_back(v1::OfferID{offer});
  v1::Operation op;
  op.type = v1::OperationType::kLaunch;
  auto& infos = op.launch.emplace();
  for (const auto& id : tasks) {
    v1::TaskInfo t;
    t.task_id.value = id;
    t.agent_id.value = agent;
    infos.push_back(t);
  }
  accept.operations.push_back(op);
  return call;
}
ev::Call Kill(const std::string& task) {
  ev::Call call;
  call.type = ev::CallType::kKill;
  call.kill.emplace().task_id.value = task;
  return call;
}
ev::Call Ack(const std::string& task, const std::string& uuid) {
  ev::Call call;
  call.type = ev::CallType::kAcknowledge;
  auto& ack = call.acknowledge.emplace();
  ack.task_id.value = task;
  ack.uuid = uuid;
  return call;
}
ev::Call Decline(const std::string& offer) {
  ev::Call call;
  call.type = ev::CallType::kDecline;
  call.decline.emplace().offer_ids.push_back(v1::OfferID{offer});
  return call;
}
ev::Call Bare(ev::CallType type) {
  ev::Call call;
  call.type = type;
  return call;
}

}  // namespace

TEST_CASE("scheduler calls are keyed by the tasks, offers and agent they touch", "[call_order]") {
  CallOrder accept = OrderOf(Accept("o1", "a1", {"t1", "t2"}));
  CHECK_FALSE(accept.barrier);
  CHECK(accept.keys == std::vector<std::string>{"offer:o1", "agent:a1", "task:t1", "task:t2"});
  CHECK(OrderOf(Kill("t1")).keys == std::vector<std::string>{"task:t1"});
  CHECK(OrderOf(Ack("t1", "u")).keys == std::vector<std::string>{"task:t1"});
  CHECK(OrderOf(Decline("o1")).keys == std::vector<std::string>{"offer:o1"});
  ev::Call message = Bare(ev::CallType::kMessage);
  message.message.emplace().agent_id.value = "a1";
  CHECK(OrderOf(message).keys == std::vector<std::string>{"message:a1"});
  for (auto type : {ev::CallType::kRevive, ev::CallType::kSuppress, ev::CallType::kTeardown, ev::CallType::kMessage}) {
    CHECK(OrderOf(Bare(type)).barrier);
  }
  ev::Call reconcile_all = Bare(ev::CallType::kReconcile);
  reconcile_all.reconcile.emplace();
  CHECK(OrderOf(reconcile_all).barrier);  // implicit reconciliation asks about every task
}

TEST_CASE("through the call queue: an ACCEPT before the KILL of its task, a task's acknowledgements in order",
          "[call_order]") {
  FakeLoop loop;
  CallQueue queue(loop, factorial::scheduler::kCallsInFlight);
  std::vector<ev::Call> calls = {Accept("o1", "a1", {"t1"}), Ack("t0", "u1"), Kill("t1"), Ack("t0", "u2"),
                                 Accept("o2", "a2", {"t2"}), Decline("o3"), Accept("o4", "a1", {"t3"})};
  for (std::size_t i = 0; i < calls.size(); ++i) {
    factorial::HttpRequest request;
    request.body = std::to_string(i);
    queue.Send(std::move(request), {}, OrderOf(calls[i]));
  }
  auto open = [&] {
    std::vector<std::string> out;
    for (auto* r : loop.OpenCalls()) out.push_back(r->http.body);
    return out;
  };
  // In flight: ACCEPT t1, the first ACK of t0, ACCEPT on a2, the DECLINE. Waiting: the KILL
  // of t1 (its ACCEPT), t0's second ACK (its first), the second ACCEPT on a1 (the first).
  CHECK(open() == std::vector<std::string>{"0", "1", "4", "5"});
  loop.Reply(loop.OpenCalls()[1]->id, 202);  // t0's first acknowledgement answered
  CHECK(open() == std::vector<std::string>{"0", "4", "5", "3"});
  loop.Reply(loop.OpenCalls()[0]->id, 202);  // ACCEPT t1 answered: its KILL and a1's next ACCEPT go
  CHECK(open() == std::vector<std::string>{"4", "5", "3", "2", "6"});
}
