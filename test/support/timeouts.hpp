#pragma once

// How long a test waits for something before it calls it a failure. These are deadlines, not
// delays: every wait returns the moment the awaited state is seen, so a generous deadline costs
// nothing when things work and only bounds how long a failure takes to report. They are sized
// for a shared 2-core CI machine running several builds and test suites at once (load average
// 15 to 20), where starting a process or a JVM takes ten to fifty times as long as when idle.

#include <chrono>

namespace factorial::testing {

using namespace std::chrono_literals;

// Long enough to see that something does NOT happen (a leader that must stay, an event that
// must not come), short enough to run in every build: a negative check proves only this window.
inline constexpr std::chrono::milliseconds kQuietWindow = 2s;
// One HTTP exchange with a server on 127.0.0.1: milliseconds when idle.
inline constexpr std::chrono::milliseconds kHttpAnswer = 5s;
// A stream's response head, or an event the server sends on its own within the heartbeat and
// allocation intervals the test configured (at most a second or two).
inline constexpr std::chrono::milliseconds kStreamEvent = 10s;
// A peer that is slow by nature on a loaded machine: a ZooKeeper watch firing after a change
// (the Java server answers in seconds), or a test server holding an answer until the test
// releases it.
inline constexpr std::chrono::milliseconds kSlowPeer = 15s;
// A state reached through a few calls and possibly an executor process starting.
inline constexpr std::chrono::milliseconds kSettled = 20s;
// An event from a real Mesos master or agent (they start executors through their containerizer).
inline constexpr std::chrono::milliseconds kRealMesosEvent = 30s;
// A scheduler run of a few small numbers end to end (subscribe, offers, executors, results),
// or a state that needs such a run to have started.
inline constexpr std::chrono::milliseconds kSmallRun = 60s;
// Real Mesos masters electing a leader through ZooKeeper and an agent registering.
inline constexpr std::chrono::milliseconds kClusterReady = 90s;
// A scheduler run that includes a number in the millions (seconds of GMP when idle).
inline constexpr std::chrono::milliseconds kLargeRun = 150s;
// Hundreds of numbers, some large, through real Mesos.
inline constexpr std::chrono::milliseconds kManyNumbersRun = 240s;
// 10^7! end to end: about 20 s on an idle 2-core machine, minutes when it is shared.
inline constexpr std::chrono::milliseconds kHugeRun = 540s;

}  // namespace factorial::testing
