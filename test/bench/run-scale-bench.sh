#!/usr/bin/env bash
# Does adding agents make a job faster? W2 and W4 (workload.c) through a real Mesos master with
# 1, 4 and 16 agents advertising cpus:4 each, and W2 through one cpus:2 agent, each scheduler
# run right after bare GMP on the same input (2 threads), alternated in one run.
#   test/bench/run-scale-bench.sh BUILD_DIR
# Environment: MESOS_HOME (required), WORKLOADS ("W2 W4"), AGENTS ("1 4 16": the cluster sizes
# with cpus:4 agents), SMALL_AGENT (W2 on one cpus:2 agent as well: 1, or 0 to skip), REPEATS
# (1: rounds per cluster), THREADS (2: bare GMP's), AGENT_MEM (8192 MB per agent), OUTPUT
# (stdout: results on standard output in input order, redirected to a file; file: --output
# FILE, as an operator or the systemd job writes them, placed and synced), KEEP_DIR (keep
# outputs, scheduler logs and the daemons' logs there). A smoke run:
#   MESOS_HOME=... WORKLOADS=W2 AGENTS="1 4" SMALL_AGENT=0 test/bench/run-scale-bench.sh build-rel
# Per row: wall seconds and their ratio to the bare GMP run just before; the tasks the job
# launched and the agents that ran at least one (from the master's state); the scheduler's CPU
# (user+sys from /usr/bin/time) and the executors' (the agents' reaped children, before and
# after) with its ratio to bare GMP's CPU; ingest, the result bytes the scheduler received
# (its closing summary) per second of its CPU; the tail, from the last TASK_FINISHED the
# scheduler logged (--log-level debug) to its exit, and the part of it until every result was
# in hand ("all numbers are final"); and the load average when the row ended.
# The run fails unless every output is byte-identical to bare GMP's.
set -euo pipefail

build=$(realpath "${1:?usage: run-scale-bench.sh BUILD_DIR}")
: "${MESOS_HOME:?MESOS_HOME is needed: this benchmark runs through a real Mesos}"
read -r -a workloads <<< "${WORKLOADS:-W2 W4}"
read -r -a agent_counts <<< "${AGENTS:-1 4 16}"
small_agent=${SMALL_AGENT:-1}
repeats=${REPEATS:-1}
threads=${THREADS:-2}
agent_mem=${AGENT_MEM:-8192}
output_mode=${OUTPUT:-stdout}
[[ $output_mode == stdout || $output_mode == file ]] || { echo "OUTPUT is stdout or file, not $output_mode" >&2; exit 2; }
bench="$build/test/bench"
scheduler="$build/scheduler/factorial-scheduler"
executor="$build/executor/factorial-executor"
clock_ticks=$(getconf CLK_TCK)
# shellcheck source=real-mesos.sh
source "$(dirname "${BASH_SOURCE[0]}")/real-mesos.sh"
bench_work_dir
# The task counts come from the master's state, which by default keeps 1,000 finished tasks
# per framework.
mesos_master_flags=(--max_completed_tasks_per_framework=1000000)

trap bench_cleanup EXIT

# CPU seconds of the agents' reaped children (the executors, their workers and the agents'
# helpers), once no agent has a child left: the executors end after the framework's teardown.
executor_cpu() {
  local deadline=$((SECONDS + 30)) pid children
  while ((SECONDS < deadline)); do
    children=
    for pid in "${mesos_pids[@]:1}"; do children+=$(cat /proc/"$pid"/task/*/children 2> /dev/null); done
    [[ -n ${children// /} ]] || break
    sleep 0.2
  done
  for pid in "${mesos_pids[@]:1}"; do cut -d' ' -f16,17 /proc/"$pid"/stat; done |
    awk -v hz="$clock_ticks" '{ t += $1 + $2 } END { printf "%.2f\n", t / hz }'
}

# job_facts LOG END_EPOCH: "tasks agents result_bytes tail_s final_s" from the master's state
# (the framework the log names) and the scheduler's log.
job_facts() {
  curl -sf --max-time 10 "$mesos_url/master/state" > "$work/state.json"
  python3 - "$1" "$2" "$work/state.json" << 'EOF'
import datetime, json, re, sys
log, end, state = sys.argv[1], float(sys.argv[2]), json.load(open(sys.argv[3]))
framework, last_finished, all_final, result_bytes = None, None, None, 0.0
stamp = lambda line: datetime.datetime.strptime(line.split(" ", 1)[0], "%Y-%m-%dT%H:%M:%S.%f").timestamp()
units = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}
for line in open(log, errors="replace"):
    m = re.search(r"subscribed as framework (\S+)", line)
    if m: framework = m.group(1)
    if re.search(r" task \S+: TASK_FINISHED", line):
        last_finished = stamp(line)
    if "all numbers are final" in line: all_final = stamp(line)
    m = re.search(r", ([0-9.]+) (B|kB|MB|GB|TB) of results", line)
    if m: result_bytes = float(m.group(1)) * units[m.group(2)]
tasks = [t for f in state["frameworks"] + state.get("completed_frameworks", []) if f["id"] == framework
         for t in f.get("tasks", []) + f.get("completed_tasks", [])]
tail = end - last_finished if last_finished is not None else float("nan")
final = all_final - last_finished if None not in (all_final, last_finished) else float("nan")
print(len(tasks), len({t["slave_id"] for t in tasks}), int(result_bytes), f"{tail:.2f}", f"{max(final, 0):.2f}")
EOF
}

# run_round WORKLOAD CLUSTER ROUND: bare GMP, then the scheduler through the running cluster.
run_round() {
  local w=$1 cluster=$2 round=$3 numbers=$work/$1.numbers
  local bwall bcpu bsha wall cpu sha end before after tasks agents result_bytes tail final
  read -r bwall bcpu _ _ bsha _ < <(measure "$numbers" "$work/$w.bare" "$bench/bare-gmp" "$threads")
  row "$w" bare-gmp "$round" "$bwall" "$bwall" - - - "$bcpu" "$bcpu" - - -
  rm -f "$work/$w.bare"
  local output=$work/$w.$cluster.$round
  before=$(executor_cpu)
  local flags=(--log-level debug)
  if [[ $output_mode == file ]]; then flags+=(--output "$output.out"); fi
  read -r wall cpu _ _ sha end < <(measure_scheduler "$mesos_url" "$numbers" "$output" "${flags[@]}")
  if [[ $output_mode == file ]]; then
    sha=$(sha256sum < "$output.out" | cut -d' ' -f1)
    rm -f "$output.out"
  fi
  after=$(executor_cpu)
  read -r tasks agents result_bytes tail final < <(job_facts "$output.log" "$end")
  row "$w" "$cluster" "$round" "$wall" "$bwall" "$tasks" "$agents" "$cpu" \
    "$(awk -v a="$after" -v b="$before" 'BEGIN { printf "%.2f", a - b }')" "$bcpu" "$result_bytes" "$tail" "$final"
  check_output "$w on $cluster, round $round" "$sha" "$bsha"
  rm -f "$output"
}

# row WORKLOAD RUN ROUND WALL BARE_WALL TASKS AGENTS CPU EXEC_CPU BARE_CPU RESULT_BYTES TAIL FINAL
row() {
  awk -v w="$1" -v run="$2" -v r="$3" -v t="$4" -v base="$5" -v tasks="$6" -v agents="$7" -v c="$8" -v e="$9" \
    -v bc="${10}" -v rb="${11}" -v tail="${12}" -v final="${13}" -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
      ingest = rb == "-" ? "-" : sprintf("%.2f", rb / 1e9 / (c > 0 ? c : 0.01))
      printf "%-3s %-9s %5s %8.2f %7.2f %6s %6s %8s %8.2f %7.2f %9s %7s %7s %5s\n", w, run, r, t, t / base, tasks,
        agents, c, e, e / bc, ingest, tail, final, load }'
}

# cluster NAME AGENTS RESOURCES WORKLOADS...
cluster() {
  local name=$1 count=$2 w round
  resources=$3
  shift 3
  start_real_mesos "$count" "$work/mesos-$name"
  for round in $(seq "$repeats"); do
    for w in "$@"; do run_round "$w" "$name" "$round"; done
  done
  stop_real_mesos
}

for w in "${workloads[@]}"; do "$bench/workload" "$w" > "$work/$w.numbers"; done
printf '# %s, %s, %s cores, bare GMP on %s threads, agents cpus:4 (or cpus:2) and mem:%s, output to %s, load at start %s\n' \
  "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(uname -m)" "$(nproc)" "$threads" "$agent_mem" "$output_mode" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-3s %-9s %5s %8s %7s %6s %6s %8s %8s %7s %9s %7s %7s %5s\n' \
  wl run round wall_s x_bare tasks agents sched_s exec_s x_bare ingest tail_s final_s load
status=0
for count in "${agent_counts[@]}"; do
  cluster "${count}x4" "$count" "cpus:4;mem:$agent_mem;disk:16384" "${workloads[@]}"
done
if [[ $small_agent == 1 ]]; then cluster 1x2 1 "cpus:2;mem:$agent_mem;disk:16384" W2; fi
echo "# x_bare: wall ÷ bare GMP's wall just before; exec_s x_bare: executors' CPU ÷ bare GMP's CPU;"
echo "# ingest: GB of results per scheduler CPU second; tail_s: last TASK_FINISHED to the scheduler's exit;"
echo "# final_s: last TASK_FINISHED to every result in hand (the rest of tail_s is the teardown and the output's sync)"
exit $status
