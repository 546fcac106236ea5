#!/usr/bin/env bash
# Crash safety of the production job: a W2-sized job (every n in [0, 20000) once, shuffled; see
# workloads.txt) with --state-dir through a real Mesos agent, its scheduler SIGKILLed KILLS times
# at chosen points and started again after each kill, then run to the end.
#   test/bench/run-crash-loop.sh BUILD_DIR [KILLS]
# Environment: MESOS_HOME (required), KILLS (20), SIZE (numbers of W2 taken, 20000 = all),
# THREADS (2: the agent's cpus), SEED (the random delays), KEEP_DIR (keep the work there),
# SCHEDULER_FLAGS (added to the faulted runs' options: W2 runs as two tasks of ~3 s on a
# cpus:2 agent and may finish before its 20 kills; "--batch-size 200" makes it 100 tasks, so
# every kill point comes round many times).
# The kill points cycle through: during a launch (just after "launched N task(s)"), mid-batch
# (1-4 s into the run), during a result fetch (just after a TASK_FINISHED is read, while its
# files download), and, last, during the final ordered write (after "all numbers are final",
# while the output is written). Each kill waits a random 0-300 ms after its trigger.
# Checks: the output is byte-identical to a run of the same numbers without faults and holds
# each number once. Prints, from the journal's launch records, how many numbers were launched
# more than once (computed twice: the target is 0 for tasks running or finished at a kill),
# and the kills that hit each point. Fails if the output differs.
set -euo pipefail

build=$(realpath "${1:?usage: run-crash-loop.sh BUILD_DIR [KILLS]}")
kills=${2:-${KILLS:-20}}
: "${MESOS_HOME:?MESOS_HOME is needed: this benchmark runs through a real Mesos}"
threads=${THREADS:-2}
resources="cpus:$threads;mem:8192;disk:16384"
size=${SIZE:-20000}
RANDOM=${SEED:-$$}
scheduler="$build/scheduler/factorial-scheduler"
executor="$build/executor/factorial-executor"
# shellcheck source=real-mesos.sh
source "$(dirname "${BASH_SOURCE[0]}")/real-mesos.sh"
bench_work_dir

pid=
cleanup() {
  if [[ -n $pid ]]; then kill -KILL "$pid" 2> /dev/null || true; fi
  bench_cleanup
}
trap cleanup EXIT

start_real_mesos
numbers=$work/numbers
"$build/test/bench/workload" W2 > "$work/W2"
head -n "$size" "$work/W2" > "$numbers"
count=$(wc -l < "$numbers")
printf '# %s, %s cores, W2 (%d numbers) through real Mesos (agent %s), %d kills, load at start %s\n' \
  "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "$count" "$resources" "$kills" "$(cut -d' ' -f1-3 /proc/loadavg)"

# The reference: the same numbers without --state-dir and without faults.
start=$SECONDS
"$scheduler" --master "$mesos_url" --executor "$executor" --input "$numbers" --output "$work/reference" \
  --quiet 2> "$work/reference.log" || { tail -n 20 "$work/reference.log" >&2; exit 1; }
echo "reference run: $((SECONDS - start)) s"

# The output lies outside the state directory, so the journal is never compacted and keeps
# every launch record of every run for the count below.
state=$work/state
output=$work/output
args=(--master "$mesos_url" --executor "$executor" --input "$numbers" --output "$output" --state-dir "$state"
      --log-level debug --progress-interval 3600)
read -r -a scheduler_flags <<< "${SCHEDULER_FLAGS:-}"
args+=("${scheduler_flags[@]}")

# trigger RUN POINT: the log line that arms the kill of POINT in run RUN's log.
trigger() {
  case $2 in
    launch) grep -q "launched [0-9]* task(s)" "$work/run-$1.log" ;;
    fetch) grep -q "TASK_FINISHED" "$work/run-$1.log" ;;
    final) grep -q "all numbers are final" "$work/run-$1.log" ;;
    mid) (($(date +%s%N) >= mid_at)) ;;
  esac
}

declare -A hits=()
points=(launch mid fetch)
done_early=
for k in $(seq "$kills"); do
  point=${points[$(((k - 1) % 3))]}
  ((k < kills)) || point=final
  mid_at=$(($(date +%s%N) + (1000 + RANDOM % 3000) * 1000000))
  "$scheduler" "${args[@]}" 2> "$work/run-$k.log" &
  pid=$!
  until trigger "$k" "$point"; do
    if ! kill -0 "$pid" 2> /dev/null; then break; fi
    sleep 0.01
  done
  if ! kill -0 "$pid" 2> /dev/null; then
    status=0
    wait "$pid" || status=$?
    pid=
    [[ $status == 0 ]] || { tail -n 20 "$work/run-$k.log" >&2; echo "run $k exited $status" >&2; exit 1; }
    done_early="the job finished in run $k, before its kill ($point)"
    break
  fi
  sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  kill -KILL "$pid" 2> /dev/null || true
  status=0
  wait "$pid" 2> /dev/null || status=$?
  pid=
  if [[ $status == 137 ]]; then
    hits[$point]=$((${hits[$point]:-0} + 1))
  elif [[ $status == 0 ]]; then
    done_early="the job finished in run $k, before its kill ($point)"
    break
  else
    tail -n 20 "$work/run-$k.log" >&2
    echo "run $k exited $status" >&2
    exit 1
  fi
done
if [[ -z $done_early ]]; then
  "$scheduler" "${args[@]}" 2> "$work/run-last.log" || { tail -n 20 "$work/run-last.log" >&2; exit 1; }
fi
[[ -z $done_early ]] || echo "$done_early"

status=0
if cmp -s "$work/reference" "$output"; then
  echo "output: byte-identical to the run without faults ($(stat -c %s "$output") bytes)"
else
  echo "output: DIFFERS from the run without faults" >&2
  status=1
fi
lines=$(wc -l < "$output")
distinct=$(cut -d'!' -f1 "$output" | sort -u | wc -l)
echo "output lines: $lines for $count numbers, $distinct distinct"
[[ $lines == "$count" && $distinct == "$count" ]] || status=1

# Every task the master saw (running or completed), so a number launched twice counts as computed
# twice only if both its tasks reached the master (a launch journaled but killed before its
# ACCEPT was sent, or never applied, computed nothing).
curl -sf "$mesos_url/master/tasks?limit=1000000" > "$work/master-tasks.json"

# Launch records ("L"): task ID, agent, hostname, agent URL (varint-prefixed), cpus, mem, time,
# count, then zigzag varint deltas of the numbers.
python3 - "$state/journal" "$work/master-tasks.json" <<'EOF'
import collections, json, struct, sys
data = open(sys.argv[1], "rb").read()
seen = {t["id"] for t in json.load(open(sys.argv[2]))["tasks"]}
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if c < 0x80: return v, i
launched = collections.Counter()
ran = collections.Counter()
tasks = 0
at = 0
while at + 32 <= len(data):
    kind = data[at + 3:at + 4]
    length, = struct.unpack_from("<Q", data, at + 8)
    p = data[at + 32:at + 32 + length]
    at += 32 + length
    if kind != b"L": continue
    tasks += 1
    task_id_length, i = varint(p, 0)
    task_id = p[i:i + task_id_length].decode()
    i += task_id_length
    for _ in range(3):
        n, i = varint(p, i); i += n
    for _ in range(3): _, i = varint(p, i)
    count, i = varint(p, i)
    n = 0
    for _ in range(count):
        z, i = varint(p, i)
        n = (n + ((z >> 1) ^ -(z & 1))) % (1 << 64)
        launched[n] += 1
        ran[n] += task_id in seen
twice = sum(1 for c in launched.values() if c > 1)
computed_twice = sum(1 for c in ran.values() if c > 1)
print(f"tasks launched: {tasks}; numbers launched: {len(launched)}; launched more than once: {twice}; "
      f"computed twice (both tasks reached the master): {computed_twice}")
EOF
printf 'kills: %s\n' "$(for p in launch mid fetch final; do printf '%s %d, ' "$p" "${hits[$p]:-0}"; done)"
exit $status
