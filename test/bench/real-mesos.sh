# shellcheck shell=bash
# shellcheck disable=SC2154  # $work and $resources come from the sourcing script
# Sourced by the benchmarks that run through a real Mesos (run-e2e-workloads.sh,
# run-state-dir-bench.sh, run-scale-bench.sh, run-crash-loop.sh): one master and N agents on loopback from
# $MESOS_HOME (bin/mesos-master, bin/mesos-agent, libexec/mesos), with the flags
# test/support/real_mesos.hpp uses: POSIX isolation and launcher, no systemd, no user switching.
# The caller sets $work (bench_work_dir does; the daemons' directories and logs go to
# $work/mesos unless start_real_mesos is given another directory) and $resources (each agent's),
# may set the array mesos_master_flags (added to the master's), and calls bench_cleanup (or
# stop_real_mesos) from its EXIT trap. start_real_mesos sets mesos_url, and mesos_pids (the
# master's, then each agent's). Also here, for those scripts: measure, measure_scheduler (needs
# $scheduler and $executor) and check_output.

mesos_pids=()
mesos_master_flags=()

# stop_daemon SIGNAL PID: the signal, 5 s to exit, then SIGKILL.
stop_daemon() {
  kill -"$1" "$2" 2> /dev/null || return 0
  for _ in $(seq 50); do kill -0 "$2" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$2" 2> /dev/null || true
  wait "$2" 2> /dev/null || true
}

# The agents first (SIGUSR1: each shuts its executors down and leaves), then the master.
stop_real_mesos() {
  local i
  for ((i = 1; i < ${#mesos_pids[@]}; i++)); do kill -USR1 "${mesos_pids[i]}" 2> /dev/null || true; done
  for ((i = 1; i < ${#mesos_pids[@]}; i++)); do stop_daemon USR1 "${mesos_pids[i]}"; done
  if [[ ${#mesos_pids[@]} -gt 0 ]]; then stop_daemon TERM "${mesos_pids[0]}"; fi
  mesos_pids=()
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_real_mesos [AGENTS [RUN_DIR]]: returns once every agent (1 by default) has registered;
# exits the script if a daemon dies or 60 s pass.
start_real_mesos() {
  local count=${1:-1} run=${2:-$work/mesos} master_port i
  master_port=$(free_port)
  mkdir -p "$run/master"
  "$MESOS_HOME/bin/mesos-master" --ip=127.0.0.1 --port="$master_port" --hostname=127.0.0.1 \
    --work_dir="$run/master" --registry=in_memory "${mesos_master_flags[@]}" < /dev/null > "$run/master.log" 2>&1 &
  mesos_pids=($!)
  for ((i = 0; i < count; i++)); do
    local agent=$run/agent$i
    mkdir -p "$agent/work" "$agent/runtime" "$agent/fetch"
    "$MESOS_HOME/bin/mesos-agent" --master=127.0.0.1:"$master_port" --ip=127.0.0.1 --port="$(free_port)" \
      --hostname=127.0.0.1 --work_dir="$agent/work" --runtime_dir="$agent/runtime" \
      --fetcher_cache_dir="$agent/fetch" --launcher_dir="$MESOS_HOME/libexec/mesos" \
      --resources="$resources" --containerizers=mesos --isolation=posix/cpu,posix/mem --launcher=posix \
      --no-systemd_enable_support --no-switch_user < /dev/null > "$run/agent$i.log" 2>&1 &
    mesos_pids+=($!)
  done
  mesos_url="http://127.0.0.1:$master_port"
  local deadline=$((SECONDS + 60)) agents=0
  until [[ $agents == "$count" ]]; do
    for p in "${mesos_pids[@]}"; do
      kill -0 "$p" 2> /dev/null || { tail -n 20 "$run"/*.log >&2; echo "a Mesos daemon exited" >&2; exit 1; }
    done
    ((SECONDS < deadline)) || { tail -n 20 "$run"/*.log >&2; echo "$agents of $count agents registered in 60 s" >&2; exit 1; }
    sleep 0.5
    agents=$(curl -sf --max-time 5 "$mesos_url/master/state" |
      python3 -c 'import json, sys; print(len(json.load(sys.stdin)["slaves"]))' 2> /dev/null || echo 0)
  done
}

# bench_work_dir: $work is $KEEP_DIR (created if missing, kept at exit) or else a new temporary
# directory that bench_cleanup removes.
bench_work_dir() {
  if [[ -n ${KEEP_DIR:-} ]]; then
    work=$KEEP_DIR
    mkdir -p "$work"
  else
    work=$(mktemp -d)
  fi
}

# bench_cleanup: for the EXIT trap, after any step of the script's own: stops the cluster and
# removes $work unless KEEP_DIR keeps it.
bench_cleanup() {
  stop_real_mesos
  [[ -n ${KEEP_DIR:-} ]] || rm -rf "$work"
}

# measure INPUT OUTPUT COMMAND...: runs COMMAND with stdin from INPUT and stdout to OUTPUT under
# /usr/bin/time; prints "wall_s cpu_s max_rss_kb bytes sha256 end_epoch" (the checksum is taken
# after the clock stopped). If COMMAND fails: OUTPUT.log's tail (if there is one), and exit 1.
measure() {
  local input=$1 output=$2
  shift 2
  if ! /usr/bin/time -f '%e %U %S %M' -o "$output.time" "$@" < "$input" > "$output"; then
    echo "failed: $*" >&2
    if [[ -f $output.log ]]; then tail -n 20 "$output.log" >&2; fi
    exit 1
  fi
  local end wall user sys rss
  end=$(date +%s.%N)
  read -r wall user sys rss < <(tail -n 1 "$output.time")
  printf '%s %s %s %s %s %s\n' "$wall" "$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.2f", u + s }')" "$rss" \
    "$(stat -c %s "$output")" "$(sha256sum < "$output" | cut -d' ' -f1)" "$end"
}

# measure_scheduler MASTER_URL INPUT OUTPUT EXTRA_FLAGS...: measure of the scheduler alone
# (reading INPUT on stdin), its log in OUTPUT.log.
measure_scheduler() {
  local master=$1 input=$2 output=$3
  shift 3
  # shellcheck disable=SC2016  # $0 and $@ are the inner shell's
  measure "$input" "$output" bash -c 'exec "$@" 2> "$0"' "$output.log" \
    "$scheduler" --master "$master" --executor "$executor" --input - "$@"
}

# check_output WHAT SHA EXPECTED_SHA: an output that differs from bare GMP's is reported and
# sets status=1.
check_output() {
  if [[ $2 != "$3" ]]; then
    echo "$1: output differs from bare GMP's (sha256 $2, expected $3)" >&2
    # shellcheck disable=SC2034  # the sourcing script's exit status
    status=1
  fi
}
