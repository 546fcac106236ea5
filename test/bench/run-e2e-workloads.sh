#!/usr/bin/env bash
# The benchmark workloads (W1, W2, W3: workload.c) end to end, side by side in one run: bare GMP, factorial-scheduler with
# its defaults through mesos-sim and through a real Mesos agent, and --batch-size 1 (one task
# per number) on the first $SUBSET numbers of W2, scaled linearly to all of W2.
#   test/bench/run-e2e-workloads.sh BUILD_DIR [W1 W2 W3]
# Environment: THREADS (2: bare GMP's threads and the agents' cpus), AGENT_MEM (8192 MB),
# SUBSET (2000; 0 skips the --batch-size 1 run), MESOS_HOME (without it the real-Mesos rows are
# skipped, and so is the subset, which runs through real Mesos), KEEP_DIR (keep outputs and
# scheduler logs there instead of deleting them).
# Every row: wall seconds, scheduler CPU seconds (user+sys of the scheduler process alone, from
# /usr/bin/time; for bare GMP its own), CPU µs per input number, peak RSS (MB), output MB/s,
# wall relative to bare GMP's on the same input, and the load average when the row ended. The
# run fails unless every output is byte-identical to bare GMP's.
set -euo pipefail

build=$(realpath "${1:?usage: run-e2e-workloads.sh BUILD_DIR [W1 W2 W3]}")
shift
workloads=("$@")
[[ ${#workloads[@]} -gt 0 ]] || workloads=(W1 W2 W3)
threads=${THREADS:-2}
agent_mem=${AGENT_MEM:-8192}
subset=${SUBSET:-2000}
resources="cpus:$threads;mem:$agent_mem;disk:16384"
bench="$build/test/bench"
scheduler="$build/scheduler/factorial-scheduler"
executor="$build/executor/factorial-executor"
sim="$build/test/mesos-sim"
# shellcheck source=real-mesos.sh
source "$(dirname "${BASH_SOURCE[0]}")/real-mesos.sh"
bench_work_dir
sim_pid=

cleanup() {
  if [[ -n $sim_pid ]]; then kill "$sim_pid" 2> /dev/null && wait "$sim_pid" 2> /dev/null || true; fi
  bench_cleanup
}
trap cleanup EXIT

# row WORKLOAD WHAT NUMBERS WALL CPU RSS_KB BYTES BASE_WALL [NOTE]
row() {
  awk -v w="$1" -v p="$2" -v n="$3" -v t="$4" -v c="$5" -v r="$6" -v b="$7" -v base="$8" -v note="${9:-}" \
    -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
      printf "%-3s %-17s %8d %9.2f %8.2f %9.2f %8.1f %9.1f %7.2f %5s %s\n", w, p, n, t, c, c * 1e6 / n, r / 1024,
        b / 1e6 / (t > 0 ? t : 0.01), t / base, load, note }'
}

start_sim() {
  "$sim" --agents 1 --resources "$resources" --port 0 > "$work/sim.out" 2> "$work/sim.log" &
  sim_pid=$!
  for _ in $(seq 100); do
    [[ -s $work/sim.out ]] && break
    kill -0 "$sim_pid" 2> /dev/null || { cat "$work/sim.log" >&2; exit 1; }
    sleep 0.1
  done
  sim_url=$(head -n 1 "$work/sim.out")
  [[ $sim_url == http://* ]] || { echo "mesos-sim printed no URL: $sim_url" >&2; exit 1; }
}

start_sim
have_mesos=
if [[ -n ${MESOS_HOME:-} ]]; then
  start_real_mesos
  have_mesos=1
fi

printf '# %s, %s, %s cores, bare GMP on %s threads, agents %s, load at start %s\n' \
  "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -m)" "$(nproc)" "$threads" "$resources" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-3s %-17s %8s %9s %8s %9s %8s %9s %7s %5s\n' wl run numbers wall_s cpu_s cpu_us/n rss_MB out_MB/s x_bare load
status=0
for w in "${workloads[@]}"; do
  numbers="$work/$w.numbers"
  "$bench/workload" "$w" > "$numbers"
  count=$(wc -l < "$numbers")
  read -r bwall bcpu brss bbytes bsha _ < <(measure "$numbers" "$work/$w.bare" "$bench/bare-gmp" "$threads")
  row "$w" bare-gmp "$count" "$bwall" "$bcpu" "$brss" "$bbytes" "$bwall"
  rm -f "$work/$w.bare"

  read -r wall cpu rss bytes sha _ < <(measure_scheduler "$sim_url" "$numbers" "$work/$w.sim")
  row "$w" mesos-sim "$count" "$wall" "$cpu" "$rss" "$bytes" "$bwall"
  check_output "$w mesos-sim" "$sha" "$bsha"
  rm -f "$work/$w.sim"

  if [[ -n $have_mesos ]]; then
    read -r wall cpu rss bytes sha _ < <(measure_scheduler "$mesos_url" "$numbers" "$work/$w.mesos")
    row "$w" real-mesos "$count" "$wall" "$cpu" "$rss" "$bytes" "$bwall" \
      "(scheduler RSS target $(awk -v n="$count" 'BEGIN { printf "%.1f", 64 + 24 * n / 1048576 }') MB)"
    check_output "$w real-mesos" "$sha" "$bsha"
    rm -f "$work/$w.mesos"
    w_mesos_wall=$wall
  fi

  if [[ $w == W2 && $subset -gt 0 && -n $have_mesos ]]; then
    head -n "$subset" "$numbers" > "$work/W2s.numbers"
    read -r swall scpu srss sbytes ssha _ < <(measure "$work/W2s.numbers" "$work/W2s.bare" "$bench/bare-gmp" "$threads")
    row W2s bare-gmp "$subset" "$swall" "$scpu" "$srss" "$sbytes" "$swall" "(first $subset of W2)"
    read -r wall cpu rss bytes sha _ < <(measure_scheduler "$mesos_url" "$work/W2s.numbers" "$work/W2s.mesos" \
      --batch-size 1)
    row W2s "real-mesos bs=1" "$subset" "$wall" "$cpu" "$rss" "$bytes" "$swall" \
      "$(awk -v t="$wall" -v s="$subset" -v n="$count" -v d="$w_mesos_wall" 'BEGIN {
        printf "(x %d/%d: %.0f s for W2 = %.0fx the default run)", n, s, t * n / s, t * n / s / d }')"
    check_output "W2 subset --batch-size 1" "$sha" "$ssha"
    rm -f "$work/W2s.bare" "$work/W2s.mesos"
  fi
done
exit $status
