#pragma once

// Runs one validated job: opens the --state-dir journal and the result sink, drives the
// Scheduler on a CurlLoop, turns SIGINT/SIGTERM into an orderly stop, talks to systemd and
// draws the progress line. Returns the exit status.

#include "config.hpp"

namespace factorial::scheduler {

int RunJob(RunConfig run);

}  // namespace factorial::scheduler
