#!/usr/bin/env bash
# What --state-dir costs the production job: W2 (every n in [0, 20000) once, shuffled; see
# workloads.txt) through a real Mesos agent, without and with --state-dir, alternated in one run.
#   test/bench/run-state-dir-bench.sh BUILD_DIR [ROUNDS]
# Environment: MESOS_HOME (required), THREADS (2: the agent's cpus), AGENT_MEM (8192 MB),
# WORKLOAD (W2), KEEP_DIR (keep outputs, state directories and logs there).
# Per row: wall seconds, the ratio to the plain run of the same round, the output's size, the
# state directory's size and its ratio to the output, the scheduler's fdatasync+fsync calls
# (strace -c, seccomp-filtered so the other calls run untraced) and numbers per sync, and the
# load average when the row ended. Targets: ratio <= 1.15, dir <= 1.1x output, <= 1 sync per 100
# numbers. The run fails unless every output is byte-identical to the first plain one.
set -euo pipefail

build=$(realpath "${1:?usage: run-state-dir-bench.sh BUILD_DIR [ROUNDS]}")
rounds=${2:-2}
: "${MESOS_HOME:?MESOS_HOME is needed: this benchmark runs through a real Mesos}"
threads=${THREADS:-2}
resources="cpus:$threads;mem:${AGENT_MEM:-8192};disk:16384"
workload=${WORKLOAD:-W2}
scheduler="$build/scheduler/factorial-scheduler"
executor="$build/executor/factorial-executor"
# shellcheck source=real-mesos.sh
source "$(dirname "${BASH_SOURCE[0]}")/real-mesos.sh"
bench_work_dir

trap bench_cleanup EXIT

# run NAME OUTPUT [FLAGS...]: the scheduler under strace (only the sync calls stop it);
# prints "wall_s syncs".
run() {
  local name=$1 output=$2
  shift 2
  local start end
  start=$(date +%s.%N)
  if ! strace -f --seccomp-bpf -c -e trace=fdatasync,fsync -o "$work/$name.strace" \
      "$scheduler" --master "$mesos_url" --executor "$executor" --input "$numbers" --output "$output" "$@" \
      2> "$work/$name.log"; then
    tail -n 20 "$work/$name.log" >&2
    echo "$name: the scheduler failed" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  local syncs
  syncs=$(awk '$NF == "fdatasync" || $NF == "fsync" { s += $4 } END { print s + 0 }' "$work/$name.strace")
  printf '%s %s\n' "$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')" "$syncs"
}

start_real_mesos
numbers=$work/$workload.numbers
"$build/test/bench/workload" "$workload" > "$numbers"
count=$(wc -l < "$numbers")
printf '# %s, %s cores, %s (%d numbers) through real Mesos (agent %s), load at start %s\n' \
  "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$workload" "$count" "$resources" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-10s %8s %7s %9s %9s %7s %6s %8s %5s\n' round run wall_s x_plain out_MB dir_MB x_out syncs n/sync load
expected=
status=0
for round in $(seq "$rounds"); do
  read -r pwall psyncs < <(run "plain-$round" "$work/plain-$round.out")
  pbytes=$(stat -c %s "$work/plain-$round.out")
  sha=$(sha256sum < "$work/plain-$round.out" | cut -d' ' -f1)
  [[ -n $expected ]] || expected=$sha
  [[ $sha == "$expected" ]] || { echo "plain round $round: output differs" >&2; status=1; }
  awk -v r="$round" -v t="$pwall" -v b="$pbytes" -v s="$psyncs" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    printf "%-5s %-10s %8.2f %7.2f %9.1f %9s %7s %6d %8s %5s\n", r, "plain", t, 1, b / 1e6, "-", "-", s, "-", load }'
  rm -f "$work/plain-$round.out"

  state=$work/state-$round
  read -r swall ssyncs < <(run "state-$round" "$state/results" --state-dir "$state")
  sbytes=$(stat -c %s "$state/results")
  dir_bytes=$(du -sb "$state" | cut -f1)
  sha=$(sha256sum < "$state/results" | cut -d' ' -f1)
  [[ $sha == "$expected" ]] || { echo "state-dir round $round: output differs" >&2; status=1; }
  awk -v r="$round" -v t="$swall" -v p="$pwall" -v b="$sbytes" -v d="$dir_bytes" -v s="$ssyncs" -v n="$count" \
    -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
    printf "%-5s %-10s %8.2f %7.2f %9.1f %9.1f %7.3f %6d %8.0f %5s\n", r, "state-dir", t, t / p, b / 1e6, d / 1e6,
      d / b, s, n / (s > 0 ? s : 1), load }'
  [[ -n ${KEEP_DIR:-} ]] || rm -rf "$state"
done
exit $status
