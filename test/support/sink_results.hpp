#pragma once

// What the result sink and the state store are fed in their unit tests: a number computed on a
// made-up agent, and a workload's order.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "number_result.hpp"
#include "workload.hpp"

namespace factorial::testing {

// n! as its first task (factorial-N-1) on agent A-S0 (node-7.example) computed it, in 0.5 s.
inline scheduler::NumberResult Done(std::uint64_t n, std::string digits) {
  scheduler::NumberResult r;
  r.n = n;
  r.ok = true;
  r.digits = std::move(digits);
  r.task_id = "factorial-" + std::to_string(n) + "-1";
  r.agent_id = "A-S0";
  r.agent_hostname = "node-7.example";
  r.seconds = 0.5;
  return r;
}

// The workload of `numbers`, in this order.
inline std::shared_ptr<const scheduler::Workload> Order(std::vector<std::uint64_t> numbers) {
  return std::make_shared<const scheduler::Workload>(scheduler::Workload::FromNumbers(numbers).value());
}

}  // namespace factorial::testing
