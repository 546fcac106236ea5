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
if [[ -n ${KEEP_DIR:-} ]]; then
  work=$KEEP_DIR
  mkdir -p "$work"
else
  work=$(mktemp -d)
fi

mesos_pids=()
stop_daemon() {
  kill -"$1" "$2" 2> /dev/null || return 0
  for _ in $(seq 50); do kill -0 "$2" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$2" 2> /dev/null || true
  wait "$2" 2> /dev/null || true
}
cleanup() {
  if [[ ${#mesos_pids[@]} -gt 1 ]]; then stop_daemon USR1 "${mesos_pids[1]}"; fi
  if [[ ${#mesos_pids[@]} -gt 0 ]]; then stop_daemon TERM "${mesos_pids[0]}"; fi
  [[ -n ${KEEP_DIR:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The flags of test/support/real_mesos.hpp: POSIX isolation and launcher, no systemd, no user
# switching; one master and one agent on loopback.
start_real_mesos() {
  local master_port agent_port run=$work/mesos
  master_port=$(free_port)
  agent_port=$(free_port)
  mkdir -p "$run/master" "$run/agent/work" "$run/agent/runtime" "$run/agent/fetch"
  "$MESOS_HOME/bin/mesos-master" --ip=127.0.0.1 --port="$master_port" --hostname=127.0.0.1 \
    --work_dir="$run/master" --registry=in_memory < /dev/null > "$run/master.log" 2>&1 &
  mesos_pids=($!)
  "$MESOS_HOME/bin/mesos-agent" --master=127.0.0.1:"$master_port" --ip=127.0.0.1 --port="$agent_port" \
    --hostname=127.0.0.1 --work_dir="$run/agent/work" --runtime_dir="$run/agent/runtime" \
    --fetcher_cache_dir="$run/agent/fetch" --launcher_dir="$MESOS_HOME/libexec/mesos" \
    --resources="$resources" --containerizers=mesos --isolation=posix/cpu,posix/mem --launcher=posix \
    --no-systemd_enable_support --no-switch_user < /dev/null > "$run/agent.log" 2>&1 &
  mesos_pids+=($!)
  mesos_url="http://127.0.0.1:$master_port"
  local deadline=$((SECONDS + 60)) agents=0
  until [[ $agents == 1 ]]; do
    for p in "${mesos_pids[@]}"; do
      kill -0 "$p" 2> /dev/null || { tail -n 20 "$run"/*.log >&2; echo "a Mesos daemon exited" >&2; exit 1; }
    done
    ((SECONDS < deadline)) || { tail -n 20 "$run"/*.log >&2; echo "the agent did not register in 60 s" >&2; exit 1; }
    sleep 0.5
    agents=$(curl -sf --max-time 5 "$mesos_url/master/state" |
      python3 -c 'import json, sys; print(len(json.load(sys.stdin)["slaves"]))' 2> /dev/null || echo 0)
  done
}

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
