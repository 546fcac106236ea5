#pragma once

// Which earlier calls a scheduler call must not overtake (CallQueue's CallOrder), from the
// protocol's rules:
// - a task's calls keep their order: the ACCEPT that launches it before a KILL of it, its
//   ACKNOWLEDGEs in the order of its updates (an agent forwards a task's next update only
//   once the previous one is acknowledged), a RECONCILE of it after both;
// - an offer is used once: its ACCEPT or DECLINE keyed by it;
// - MESSAGEs to executors (notices that result files were fetched) in order per agent;
// - one agent's ACCEPTs in order (the first one on an agent may start our executor);
// - the calls that change the offer filters (REVIVE, SUPPRESS), TEARDOWN and every other
//   kind are barriers: a DECLINE's long filter must not land after a later REVIVE, and
//   nothing should follow a TEARDOWN.
// Everything else may go out concurrently: ACCEPTs on different agents, acknowledgements of
// different tasks.

#include "factorial/call_queue.hpp"
#include "factorial/messages.hpp"

namespace factorial::scheduler {

// Calls in flight at once to the master, and the connections per host that needs (the event
// stream, the calls, and one spare).
inline constexpr std::size_t kCallsInFlight = 6;
inline constexpr long kConnectionsPerHost = kCallsInFlight + 2;

CallOrder OrderOf(const v1::scheduler::Call& call);

}  // namespace factorial::scheduler
