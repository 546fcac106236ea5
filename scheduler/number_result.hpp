#pragma once

// One number's final outcome, as the scheduler reports it, the journal keeps it and the sink
// prints it. A plain value of its own so the journal and the sink need nothing of the
// scheduler's connection stack.

#include <cstdint>
#include <string>

namespace factorial::scheduler {

struct NumberResult {
  std::uint64_t n = 0;
  bool ok = false;
  std::string digits;  // ok
  std::string error;   // !ok
  std::string task_id;
  std::string agent_id;
  std::string agent_hostname;  // the agent's host (its offers' hostname); empty if not known
  double seconds = 0;
};

}  // namespace factorial::scheduler
