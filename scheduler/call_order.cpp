#include "call_order.hpp"

namespace factorial::scheduler {

namespace ev = v1::scheduler;

CallOrder OrderOf(const ev::Call& call) {
  std::vector<std::string> keys;
  auto task = [&keys](const v1::TaskID& id) { keys.push_back("task:" + id.value); };
  auto offer = [&keys](const v1::OfferID& id) { keys.push_back("offer:" + id.value); };
  bool agent_keyed = false;
  switch (call.type.value_or(ev::CallType::kUnknown)) {
    case ev::CallType::kAccept:
      if (!call.accept) break;
      for (const auto& id : call.accept->offer_ids) offer(id);
      for (const auto& op : call.accept->operations) {
        if (op.launch) {
          for (const auto& t : *op.launch) {
            if (!agent_keyed) keys.push_back("agent:" + t.agent_id.value);
            agent_keyed = true;
            task(t.task_id);
          }
        }
        if (op.launch_group) {
          for (const auto& t : op.launch_group->tasks) task(t.task_id);
        }
      }
      return CallOrder::Keyed(std::move(keys));
    case ev::CallType::kDecline:
      if (!call.decline) break;
      for (const auto& id : call.decline->offer_ids) offer(id);
      return CallOrder::Keyed(std::move(keys));
    case ev::CallType::kKill:
      if (!call.kill) break;
      task(call.kill->task_id);
      return CallOrder::Keyed(std::move(keys));
    case ev::CallType::kAcknowledge:
      if (!call.acknowledge) break;
      task(call.acknowledge->task_id);
      return CallOrder::Keyed(std::move(keys));
    case ev::CallType::kMessage:
      // A notice to an executor (its files may go): ordered only with notices to its agent.
      if (!call.message) break;
      keys.push_back("message:" + call.message->agent_id.value);
      return CallOrder::Keyed(std::move(keys));
    case ev::CallType::kReconcile:
      // Asking about no task asks about all of them: it follows everything.
      if (!call.reconcile || call.reconcile->tasks.empty()) break;
      for (const auto& t : call.reconcile->tasks) task(t.task_id);
      return CallOrder::Keyed(std::move(keys));
    default:
      break;
  }
  return CallOrder::Barrier();
}

}  // namespace factorial::scheduler
