#!/usr/bin/env bash
# Runs a job through the installed factorial-scheduler@.service and its helper under a real
# systemd (252 on Debian 12) started as PID 1 of its own PID, mount and cgroup namespaces, against
# a mesos-sim started by that systemd too:
#   deploy/test-systemd.sh BUILD_DIR
# Checks: the start waits for READY=1, systemctl status shows the STATUS= progress line, the
# watchdog is fed, the status page asks for the password the unit loads as a credential, the job
# exits 0 with exact results in the state directory, a second start of the finished job is
# skipped by ExecCondition, and a job restarted (`systemctl restart`) and then stopped and
# started mid-job resumes its running task each time: nothing killed, nothing launched again,
# every result once. Exit 77 (skipped) with the reason when this
# machine cannot run such a systemd (not root, no unshare, no cgroup2, systemd not installed).
#
# Safety: the throw-away systemd sees only the units written here (SYSTEMD_UNIT_PATH), so none
# of the distribution's boot units run (systemd-tmpfiles --remove would empty the shared /tmp,
# systemd-sysctl would change kernel settings). /dev, /etc, /usr and /var are overlays whose
# changes stay in the work directory; /run, /tmp and /var/tmp are private tmpfs; the journal is
# volatile. systemd is killed at the end, not shut down (a shutdown would unmount the overlays
# first and write through to the host).
set -euo pipefail

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Where the work and build directories appear inside the namespaces.
inner=/run/factorial-test

# ---- Inside the namespaces: private mounts, the package installed, then exec systemd as PID 1.
if [[ ${1:-} == --boot ]]; then
  work=$2 build=$3
  step() { "$@" 2>>"$work/boot.err" || { echo "cannot: $*" >>"$work/boot.err"; exit 77; }; }
  step mount --make-rprivate /
  # /dev too: journald's /dev/log link and the mount points systemd creates stay out of the host's.
  for dir in dev etc usr var; do
    mkdir -p "$work/overlay/$dir/upper" "$work/overlay/$dir/work"
    step mount -t overlay overlay \
      -o "lowerdir=/$dir,upperdir=$work/overlay/$dir/upper,workdir=$work/overlay/$dir/work" "/$dir"
  done
  # The packages' files at the paths the packages use (prefix /usr), while the build's own
  # paths (which its install script names) are still visible.
  for component in scheduler executor; do
    step cmake --install "$build" --prefix /usr --component "$component" >>"$work/install.log"
  done
  step mount -t tmpfs -o mode=0755 tmpfs /run
  # The work and build directories may lie under /tmp or /var/tmp (a clone in /tmp), which the
  # private tmpfs below would hide: bind them at fixed paths under the new /run first and use
  # only those from here on (the units written outside name the same paths).
  for dir in work build; do
    mkdir -p "$inner/$dir"
    step mount --bind "${!dir}" "$inner/$dir"
  done
  work=$inner/work build=$inner/build
  step mount -t tmpfs -o mode=1777 tmpfs /tmp
  step mount -t tmpfs -o mode=1777 tmpfs /var/tmp
  step mount -t cgroup2 cgroup2 /sys/fs/cgroup
  # A volatile journal that does not import the host's kernel log.
  mkdir -p /etc/systemd/journald.conf.d
  printf '[Journal]\nStorage=volatile\nReadKMsg=no\n' >/etc/systemd/journald.conf.d/factorial-test.conf
  # Shared again, now that nothing links these mounts to the host's: systemd sets up a service's
  # credentials in a child's mount namespace and relies on propagation to bring them back (as
  # PID 1 of a container it does not make / shared itself).
  step mount --make-rshared /
  export container=factorial-test SYSTEMD_UNIT_PATH=$work/units
  exec /lib/systemd/systemd --system --unit=factorial-test.target --log-target=console --log-level=info \
    >"$work/systemd.log" 2>&1
fi

build=$(cd "${1:?usage: deploy/test-systemd.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
[[ $(id -u) == 0 ]] || skip "needs root to start systemd in its own namespaces"
[[ -x /lib/systemd/systemd ]] || skip "systemd is not installed (/lib/systemd/systemd)"
command -v unshare >/dev/null && command -v nsenter >/dev/null || skip "unshare/nsenter (util-linux) not installed"
cgroot=$(findmnt -n -t cgroup2 -o TARGET | head -n 1)
[[ -n $cgroot ]] || skip "no cgroup2 hierarchy mounted (systemd needs one)"
unshare --pid --fork --mount --cgroup true 2>/dev/null || skip "cannot create PID, mount and cgroup namespaces here"
for f in "$build/test/mesos-sim" "$build/scheduler/factorial-scheduler" "$build/executor/factorial-executor"; do
  [[ -x $f ]] || fail "$f is not built"
done

work=$(mktemp -d "$build/systemd-test.XXXXXX")
cgroup=$cgroot/factorial-systemd-test.$$
pid1=
unshare_pid=
cleanup() {
  local status=$?
  if [[ $status != 0 && $status != 77 && -n $pid1 ]]; then
    echo "--- the throw-away systemd's units and journal:"
    in_ns systemctl list-units --all --no-pager || true
    in_ns journalctl --no-pager -n 300 || true
  fi
  if [[ -n $pid1 ]]; then kill -KILL "$pid1" 2>/dev/null || true; fi
  if [[ -n $unshare_pid ]]; then wait "$unshare_pid" 2>/dev/null || true; fi
  if [[ -d $cgroup ]]; then find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null || true; fi
  if [[ $status != 0 && $status != 77 ]]; then
    echo "--- work directory kept: $work"
    [[ -f $work/boot.err ]] && cat "$work/boot.err"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# The only units this systemd knows: empty stand-ins for the targets the service orders itself
# against, journald (so systemctl status shows the log), mesos-sim, and the installed units.
units=$work/units
mkdir -p "$units"
for target in factorial-test sysinit basic sockets paths timers slices shutdown network network-online \
              multi-user local-fs; do
  printf '[Unit]\nDescription=%s (stand-in)\n' "$target" >"$units/$target.target"
done
printf '[Unit]\nDescription=System Slice\nDefaultDependencies=no\n' >"$units/system.slice"
for unit in systemd-journald.service systemd-journald.socket; do
  grep -v -e '^Sockets=' -e '^After=' "/lib/systemd/system/$unit" >"$units/$unit" || fail "no /lib/systemd/system/$unit"
done
cat >"$units/mesos-sim.service" <<EOF
[Service]
ExecStart=$inner/build/test/mesos-sim --agents 1 --port 0
StandardOutput=file:/run/mesos-sim.url
EOF
ln -s /usr/lib/systemd/system/factorial-scheduler@.service /usr/lib/systemd/system/factorial-scheduler@.timer "$units/"
# The watchdog fed every second (WatchdogSec/2) instead of every 30 s, to be seen within the run.
mkdir -p "$units/factorial-scheduler@test.service.d"
printf '[Service]\nWatchdogSec=2s\n' >"$units/factorial-scheduler@test.service.d/watchdog.conf"

mkdir -p "$cgroup" || skip "cannot create a cgroup under $cgroot"
(echo "$BASHPID" >"$cgroup/cgroup.procs" && exec unshare --pid --fork --mount --cgroup --mount-proc \
  bash "$here/test-systemd.sh" --boot "$work" "$build") &
unshare_pid=$!

in_ns() { timeout 30 nsenter -t "$pid1" -m -p "$@"; }
unit=factorial-scheduler@test.service
prop() { in_ns systemctl show -P "$1" "$unit"; }
# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2
  shift 2
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after waiting for $what"
    if ! kill -0 "$unshare_pid" 2>/dev/null; then
      wait "$unshare_pid" && status=0 || status=$?
      [[ $status == 77 ]] && skip "systemd cannot be started here: $(tail -n 3 "$work/boot.err" | tr '\n' ' ')"
      fail "the namespace ended (status $status) while waiting for $what: $(cat "$work/boot.err" "$work/systemd.log" 2>/dev/null)"
    fi
    sleep 0.1
  done
}
systemd_pid() { pid1=$(pgrep -P "$unshare_pid" -x systemd || true); [[ -n $pid1 ]]; }
wait_for 30 "systemd to start" systemd_pid
running() { [[ $(in_ns systemctl is-system-running 2>/dev/null) =~ ^(running|degraded)$ ]]; }
wait_for 60 "systemd to finish starting" running
in_ns systemctl start systemd-journald.service
# The manager's own log (notification messages at debug level) goes to the journal.
in_ns systemctl log-target journal
in_ns systemctl log-level debug

in_ns systemctl start mesos-sim.service
sim_url() { master=$(in_ns grep -m 1 "^http://" /run/mesos-sim.url 2>/dev/null); [[ -n $master ]]; }
wait_for 30 "mesos-sim's URL" sim_url
sim() { curl -sf -X POST "$master/sim/$1" >/dev/null || fail "POST $master/sim/$1"; }

# A job as deploy/README.md describes it.
in_ns mkdir -p /etc/factorial-scheduler
printf 'MESOS_MASTER=%s\nFACTORIAL_USER=nobody\nFACTORIAL_OPTIONS=--refuse-seconds 0.2 --http-user operator\n' "$master" |
  in_ns tee /etc/factorial-scheduler/test.conf >/dev/null
printf '5\n20\n0\n25\n20\n' | in_ns tee /etc/factorial-scheduler/test.numbers >/dev/null
in_ns chmod 0644 /etc/factorial-scheduler/test.conf /etc/factorial-scheduler/test.numbers
# The status page's password, readable by root only: the unit hands it over as a credential.
http_password='pass word:1'
printf '%s\n' "$http_password" | in_ns tee /etc/factorial-scheduler/test.http-password >/dev/null
in_ns chmod 0600 /etc/factorial-scheduler/test.http-password

# 1. No leading master: the scheduler keeps trying, so the start stays "activating" (no READY=1
#    yet) while its STATUS= and watchdog pings arrive.
sim "leader?index=-1"
in_ns systemctl start --no-block "$unit"
status_seen() { [[ $(prop ActiveState) == activating && -n $(prop StatusText) ]]; }
wait_for 30 "STATUS= while the master is away" status_seen
pings=0 last=$(prop WatchdogTimestampMonotonic)
fed() {
  local now
  now=$(prop WatchdogTimestampMonotonic)
  [[ $now != "$last" ]] && { pings=$((pings + 1)); last=$now; }
  ((pings >= 3))
}
wait_for 30 "three watchdog pings" fed
shown=$(in_ns systemctl status --no-pager --lines 0 "$unit" || true)
grep -q "Active: activating (start)" <<<"$shown" || fail "systemctl status: not activating: $shown"
grep -qE '^ +Status: "0 of 5 numbers \(0\.0%\)' <<<"$shown" || fail "systemctl status shows no STATUS= progress line: $shown"
[[ $(prop NRestarts) == 0 ]] || fail "the service restarted while waiting (watchdog?)"
echo "activating, $shown" | grep -E "Active:|Status:"

# The status page (on while the master is away) asks for the credential's password.
page_url() { url=$(in_ns journalctl --no-pager -o cat -u "$unit" | grep -o -m 1 'status page at http://[^ ]*' | cut -d' ' -f4); [[ -n $url ]]; }
wait_for 30 "the status page's URL in the journal" page_url
code() { curl -s -o /dev/null -w '%{http_code}' "$@" "${url}status"; }
[[ $(code) == 401 ]] || fail "the status page answers $(code) without credentials"
[[ $(code -u "operator:wrong") == 401 ]] || fail "the status page answers $(code -u operator:wrong) to a wrong password"
[[ $(code -u "operator:$http_password") == 200 ]] ||
  fail "the status page answers $(code -u "operator:$http_password") to the credential's password"
echo "status page at $url: 401 without or with a wrong password, 200 with the credential's"

# 2. The master is back: subscribed (READY=1), every number computed, exit 0.
sim "leader?index=0"
ended() { [[ $(prop ActiveState) =~ ^(inactive|failed)$ ]]; }
wait_for 60 "the job to end" ended
journal=$(in_ns journalctl --no-pager -o cat -u "$unit")
[[ $(prop Result) == success && $(prop ExecMainStatus) == 0 ]] &&
  grep -q "Main process exited, code=exited, status=0/SUCCESS" <<<"$journal" ||
  fail "job result $(prop Result), exit status $(prop ExecMainStatus): $journal"
[[ $(prop NRestarts) == 0 ]] || fail "the service was restarted"
grep -q "Got notification message from PID [0-9]* (READY=1, STATUS=subscribed as framework " <<<"$journal" ||
  fail "no READY=1 with the framework in the manager's log: $journal"
grep -q "Got notification message from PID [0-9]* (WATCHDOG=1, STATUS=" <<<"$journal" || fail "no WATCHDOG=1: $journal"
grep -q "Got notification message from PID [0-9]* (STOPPING=1)" <<<"$journal" || fail "no STOPPING=1: $journal"
expected=$'5! = 120\n20! = 2432902008176640000\n0! = 1\n25! = 15511210043330985984000000\n20! = 2432902008176640000'
results=$(in_ns cat /var/lib/factorial-scheduler/test/results)
[[ $results == "$expected" ]] || fail "results file: $results"
in_ns test -f /var/lib/factorial-scheduler/test/finished || fail "the finished job was not recorded"
echo "finished: exit 0, results exact, READY=1/WATCHDOG=1/STOPPING=1 seen by systemd"

# 3. Started again with the same numbers and options: skipped by ExecCondition, not run.
in_ns systemctl start "$unit"
[[ $(prop ConditionResult) == no ]] || fail "a finished job ran again"
journal=$(in_ns journalctl --no-pager -o cat -u "$unit")
grep -q "not run again" <<<"$journal" || fail "no 'not run again' in the journal: $journal"
echo "restart of the finished job skipped by ExecCondition"

# 4. A job restarted, then stopped and started, while its tasks run: the running task is left
#    running each time and adopted by the next process, so no number is launched twice. Its
#    executor is frozen (SIGSTOP) while the scheduler comes and goes, so the task is running
#    throughout whatever the machine's speed.
job=resume
unit=factorial-scheduler@$job.service
# One task per number (--batch-size 1), so the tasks launched name their numbers; 2500000 is
# seconds of work.
printf 'MESOS_MASTER=%s\nFACTORIAL_USER=nobody\nFACTORIAL_OPTIONS=--refuse-seconds 0.2 --batch-size 1\n' "$master" |
  in_ns tee /etc/factorial-scheduler/$job.conf >/dev/null
printf '5\n20\n2500000\n25\n' | in_ns tee /etc/factorial-scheduler/$job.numbers >/dev/null
in_ns chmod 0644 /etc/factorial-scheduler/$job.conf /etc/factorial-scheduler/$job.numbers
# Tasks launched per number since this job started, as "N:count" words.
launches() {
  curl -sf "$master/sim/launches" | python3 -c 'import collections,json,sys
counts = collections.Counter(l["task_id"].rsplit("-", 1)[0] for l in json.load(sys.stdin)[int(sys.argv[1]):])
print(" ".join(k[len("factorial-"):] + ":" + str(v) for k, v in sorted(counts.items())))' "$earlier"
}
earlier=$(curl -sf "$master/sim/launches" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
in_ns systemctl start --no-block "$unit"
big_launched() { [[ $(launches) == *2500000:1* ]]; }
wait_for 60 "the task of 2500000 to be launched" big_launched
executor_pid() {
  curl -sf "$master/sim/state" | python3 -c 'import json,sys
for a in json.load(sys.stdin)["agents"]:
    for e in a["executors"]:
        if e["state"] == "ACTIVE" and e["framework_id"] == sys.argv[1]: print(e["pid"])' "$1"
}
framework=$(curl -sf "$master/sim/state" | python3 -c 'import json,sys; print([f["id"] for f in json.load(sys.stdin)["frameworks"]][-1])')
pid=$(executor_pid "$framework")
[[ -n $pid ]] || fail "no executor of framework $framework"
in_ns kill -STOP -- "-$pid"
active() { [[ $(prop ActiveState) == active ]]; }
adopted() { in_ns journalctl --no-pager -o cat -u "$unit" | grep -c "[1-9][0-9]* task(s) launched before and not over" || true; }
wait_for 60 "the job to be subscribed" active
in_ns systemctl restart "$unit"
wait_for 60 "the restarted job to be subscribed" active
[[ $(adopted) == 1 ]] || fail "the restarted job adopted nothing: $(in_ns journalctl --no-pager -o cat -u "$unit")"
in_ns systemctl stop "$unit"
[[ $(curl -sf "$master/sim/state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["frameworks"]))') == 1 ]] ||
  fail "systemctl stop removed the framework"
in_ns systemctl start "$unit"
[[ $(adopted) == 2 ]] || fail "the started job adopted nothing: $(in_ns journalctl --no-pager -o cat -u "$unit")"
in_ns kill -CONT -- "-$pid"
wait_for 180 "the resumed job to end" ended
journal=$(in_ns journalctl --no-pager -o cat -u "$unit")
[[ $(prop Result) == success && $(prop ExecMainStatus) == 0 ]] || fail "job result $(prop Result): $journal"
[[ $(launches) == "20:1 25:1 2500000:1 5:1" ]] || fail "tasks launched per number: $(launches)"
kills=$(curl -sf "$master/sim/calls" | python3 -c 'import json,sys; print(sum(json.loads(c).get("type") == "KILL" for c in json.load(sys.stdin)))')
[[ $kills == 0 ]] || fail "$kills KILL call(s) sent"
# The digits of 2500000! (14,909,118) are counted from its logarithm and checked against its line.
in_ns cat /var/lib/factorial-scheduler/$job/results | python3 -c '
import math, sys
lines = sys.stdin.read().split("\n")
assert lines[-1] == "", "no final newline"
lines = lines[:-1]
assert lines[0] == "5! = 120" and lines[1] == "20! = 2432902008176640000", lines[:2]
assert lines[3] == "25! = 15511210043330985984000000", lines[3]
digits = math.floor(math.lgamma(2500001) / math.log(10)) + 1
assert lines[2].startswith("2500000! = ") and len(lines[2]) == len("2500000! = ") + digits, len(lines[2])
assert len(lines) == 4, len(lines)' || fail "results of the resumed job are not exact"
echo "restart and stop/start mid-job: the running task adopted twice, none killed, none launched again"
echo "PASS"
