#pragma once

// The compute worker: `factorial-executor --compute-worker`, started by WorkerRunner with a
// socket on worker_protocol::kResultFd. It is a fresh process (exec'd, not merely forked), so
// GMP, threads and OpenSSL start from a clean state rather than from a copy of a
// multithreaded parent whose locks another thread may have held.

#include <string>

#include "compute_request.hpp"

namespace factorial::executor {

// Runs the worker: reads a request, caps its own memory for it, computes, answers, and waits
// for the next, until the executor closes the socket (status 0) or a number fails (an answer
// other than kInline or kFile, then a non-zero status). Returns the exit status for main().
int RunComputeWorker();

// The computation and its answer frame (kInline, kFile or kError), without any cap; the
// worker's core, exposed for tests and benchmarks.
std::string ComputeAnswer(const ComputeRequest& request);

}  // namespace factorial::executor
