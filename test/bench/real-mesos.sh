# shellcheck shell=bash
# shellcheck disable=SC2154  # $work and $resources come from the sourcing script
# Sourced by the benchmarks that run through a real Mesos (run-e2e-workloads.sh,
# run-state-dir-bench.sh, run-scale-bench.sh): one master and N agents on loopback from
# $MESOS_HOME (bin/mesos-master, bin/mesos-agent, libexec/mesos), with the flags
# test/support/real_mesos.hpp uses: POSIX isolation and launcher, no systemd, no user switching.
# The caller sets $work (the daemons' directories and logs go to $work/mesos unless
# start_real_mesos is given another directory) and $resources (each agent's), may set the array
# mesos_master_flags (added to the master's), and calls stop_real_mesos from its EXIT trap.
# start_real_mesos sets mesos_url, and mesos_pids (the master's, then each agent's).

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
