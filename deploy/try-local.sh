#!/usr/bin/env bash
# Sets up a fresh machine and runs the main job on a local emulated cluster:
# installs dependencies, builds, starts mesos-sim (3 agents), computes the factorials of the
# given numbers (default: 5 7 10 70 30) with factorial-scheduler, and stops the cluster.
#   bash deploy/try-local.sh [N...] [-- scheduler options]
set -euo pipefail
cd "$(dirname "$0")/.."

numbers=()
scheduler_args=()
while [[ $# -gt 0 ]]; do
  if [[ "$1" == "--" ]]; then shift; scheduler_args=("$@"); break; fi
  numbers+=("$1"); shift
done
[[ ${#numbers[@]} -gt 0 ]] || numbers=(5 7 10 70 30)

bash deploy/install-deps.sh >&2
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >&2
cmake --build build --target factorial-scheduler factorial-executor mesos-sim >&2

sim_out=$(mktemp)
build/test/mesos-sim --agents 3 --allocation-interval 250ms --log-level warn >"$sim_out" &
sim_pid=$!
trap 'kill -TERM "$sim_pid" 2>/dev/null; wait "$sim_pid" 2>/dev/null; rm -f "$sim_out"' EXIT
for _ in $(seq 100); do [[ -s "$sim_out" ]] && break; sleep 0.1; done
master=$(head -n 1 "$sim_out")
[[ -n "$master" ]] || { echo "mesos-sim did not start" >&2; exit 1; }
echo "local cluster: master $master, 3 agents" >&2

build/scheduler/factorial-scheduler --master "$master" "${scheduler_args[@]}" "${numbers[@]}"
