#!/usr/bin/env bash
# Builds the two Debian packages with deploy/build-packages.sh (in PKG_BUILD_DIR, reused if it
# exists), checks their contents and metadata, runs lintian on them, then runs real jobs from
# them on mesos-sim with each package unpacked into its own root, as on real hosts:
#   - the gateway: the scheduler package's root; its factorial-scheduler runs through the
#     packaged job helper (as factorial-scheduler@.service runs it) and names the executor path
#     it was built with;
#   - the agent: mesos-sim in a private mount namespace whose /usr/bin is the executor package's
#     /usr/bin laid over the host's (overlayfs), so the path the scheduler names resolves to the
#     packaged executor and to nothing else.
#   deploy/test-packages.sh PKG_BUILD_DIR MESOS_SIM
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pkg_build=$1
sim=$2
work=$(mktemp -d)
sim_pid=
cleanup() {
  if [[ -n "$sim_pid" ]]; then kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# ---- Build ----------------------------------------------------------------------------------
started=$SECONDS
bash "$here/build-packages.sh" "$pkg_build" "$work/out" >"$work/build.log" 2>&1 || { tail -n 40 "$work/build.log"; fail "build-packages.sh"; }
echo "packages built in $((SECONDS - started)) s"
scheduler_deb=$(ls "$work"/out/factorial-scheduler_*.deb) || fail "no factorial-scheduler package"
executor_deb=$(ls "$work"/out/factorial-executor_*.deb) || fail "no factorial-executor package"

# ---- Contents and metadata ------------------------------------------------------------------
scheduler_files=$(dpkg-deb -c "$scheduler_deb")  # no pipe into grep -q: SIGPIPE + pipefail
executor_files=$(dpkg-deb -c "$executor_deb")
has() { grep -q " \\.$2\$" <<<"$1"; }
for f in /usr/bin/factorial-scheduler /usr/libexec/factorial-scheduler/job \
         /usr/lib/systemd/system/factorial-scheduler@.service /usr/lib/systemd/system/factorial-scheduler@.timer \
         /etc/factorial-scheduler/example.conf /etc/factorial-scheduler/example.numbers \
         /usr/share/man/man1/factorial-scheduler.1.gz /usr/share/doc/factorial-scheduler/README.md \
         /usr/share/bash-completion/completions/factorial-scheduler \
         /usr/share/doc/factorial-scheduler/copyright /usr/share/doc/factorial-scheduler/changelog.Debian.gz; do
  has "$scheduler_files" "$f" || fail "factorial-scheduler lacks $f"
done
for f in /usr/bin/factorial-executor /usr/share/man/man1/factorial-executor.1.gz \
         /usr/share/doc/factorial-executor/copyright /usr/share/doc/factorial-executor/changelog.Debian.gz; do
  has "$executor_files" "$f" || fail "factorial-executor lacks $f"
done
grep -q "factorial-executor\$" <<<"$scheduler_files" && fail "the executor binary is in the scheduler package"

[[ "$(dpkg-deb -I "$scheduler_deb" conffiles)" == "$(printf '%s\n' /etc/factorial-scheduler/example.conf /etc/factorial-scheduler/example.numbers)" ]] ||
  fail "factorial-scheduler conffiles: $(dpkg-deb -I "$scheduler_deb" conffiles)"
for script in postinst postrm; do
  grep -q "daemon-reload" <<<"$(dpkg-deb -I "$scheduler_deb" "$script")" || fail "factorial-scheduler $script does not reload systemd"
done
grep -q "deb-systemd-invoke stop" <<<"$(dpkg-deb -I "$scheduler_deb" prerm)" || fail "factorial-scheduler prerm does not stop the jobs"
for deb in "$scheduler_deb" "$executor_deb"; do
  [[ "$(dpkg-deb -f "$deb" Version)" =~ ^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$ ]] || fail "$(basename "$deb"): version without a Debian revision"
done
scheduler_synopsis=$(dpkg-deb -f "$scheduler_deb" Description)  # no pipe into head: SIGPIPE + pipefail
scheduler_synopsis=${scheduler_synopsis%%$'\n'*}
executor_synopsis=$(dpkg-deb -f "$executor_deb" Description)
executor_synopsis=${executor_synopsis%%$'\n'*}
[[ "$scheduler_synopsis" != "$executor_synopsis" ]] || fail "both packages have the synopsis '$scheduler_synopsis'"

depends=$(dpkg-deb -f "$scheduler_deb" Depends)
for lib in libcurl4 libspdlog libssl libxxhash0; do grep -q "$lib" <<<"$depends" || fail "scheduler Depends lacks $lib: $depends"; done
for lib in libgmp10 libxxhash0; do
  grep -q "$lib" <<<"$(dpkg-deb -f "$executor_deb" Depends)" || fail "executor Depends lacks $lib"
done

# ---- lintian: no error or warning (overrides ship in the package and say why) --------------
command -v lintian >/dev/null || fail "lintian is not installed (deploy/install-deps.sh --tests)"
lintian --fail-on error,warning --display-info "$scheduler_deb" "$executor_deb" >"$work/lintian.log" 2>&1 ||
  { cat "$work/lintian.log"; fail "lintian"; }
grep -E "^[EW]: " "$work/lintian.log" && fail "lintian reported the above"
echo "lintian: $(grep -c "^[IP]: " "$work/lintian.log" || true) informational tags, no error or warning"

# ---- Two hosts: gateway root and agent root -------------------------------------------------
gateway="$work/gateway"
agent="$work/agent"
dpkg-deb -x "$scheduler_deb" "$gateway"
dpkg-deb -x "$executor_deb" "$agent"
for root in "$gateway" "$agent"; do
  for f in "$root"/usr/bin/*; do
    [[ "$(file -b "$f")" == *", stripped"* ]] || fail "$f is not stripped: $(file -b "$f")"
  done
done
[[ ! -e "$gateway/usr/bin/factorial-executor" ]] || fail "the gateway root has an executor"
[[ "$("$gateway/usr/bin/factorial-scheduler" --version)" == "factorial-scheduler "[0-9]* ]] || fail "scheduler --version"
[[ "$("$agent/usr/bin/factorial-executor" --version)" == "factorial-executor "[0-9]* ]] || fail "executor --version"
man_page=$(zcat "$gateway/usr/share/man/man1/factorial-scheduler.1.gz")  # no pipe into grep -q (SIGPIPE)
grep -qF -- '\-\-master' <<<"$man_page" || fail "the scheduler man page lacks --master"

# The agent: mesos-sim in its own mount namespace, /usr/bin = the executor package's over the host's.
# As root a mount namespace is enough; otherwise an unprivileged user namespace maps us to root.
ns=(unshare --mount --propagation private)
[[ $(id -u) -eq 0 ]] || ns=(unshare --user --map-root-user --mount --propagation private)
# shellcheck disable=SC2016 # expanded by the inner sh
"${ns[@]}" sh -ec '
  mount -t overlay overlay -o "lowerdir=$1/usr/bin:/usr/bin" /usr/bin
  cmp "$1/usr/bin/factorial-executor" /usr/bin/factorial-executor
  exec "$2" --agents 2 --allocation-interval 100ms --log-level warn' agent-host "$agent" "$sim" >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 200); do
  [[ -s "$work/sim.out" ]] && break
  kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err"; fail "mesos-sim did not start in the agent's mount namespace"; }
  sleep 0.05
done
master=$(head -n 1 "$work/sim.out")
[[ "$master" == http://127.0.0.1:* ]] || { cat "$work/sim.err"; fail "mesos-sim printed no master URL"; }

# The gateway: one job configured as the guide says, run as the unit runs it (systemd's
# EnvironmentFile, STATE_DIRECTORY, CREDENTIALS_DIRECTORY and Environment=FACTORIAL_NAME=%i),
# in a mount namespace of its own whose /etc/hosts names the master as the example does
# (mesos-master-1): the master is another host here, not a loopback literal (with a master on
# 127.0.0.1 the scheduler rightly insists on finding the executor on its own host).
printf '127.0.0.1 localhost\n127.0.0.1 mesos-master-1\n' >"$work/hosts"
etc="$work/etc"
mkdir -p "$etc" "$work/state/nightly" "$work/credentials"
sed -e "s|^MESOS_MASTER=.*|MESOS_MASTER=http://mesos-master-1:${master##*:}|" -e "s|^FACTORIAL_USER=.*|FACTORIAL_USER=$(id -un)|" \
  "$gateway/etc/factorial-scheduler/example.conf" >"$etc/nightly.conf"
cp "$gateway/etc/factorial-scheduler/example.numbers" "$etc/nightly.numbers"
printf '\n' >"$work/credentials/secret"  # the unit's SetCredential= fallbacks: no secret file,
printf '\n' >"$work/credentials/http-password"  # no password file
job() {  # job MODE [VAR=value...]: the packaged helper in the environment the unit gives it
  local mode=$1
  shift
  local -a env=(FACTORIAL_NAME=nightly FACTORIAL_JOB_DIR="$etc" FACTORIAL_SCHEDULER="$gateway/usr/bin/factorial-scheduler"
                STATE_DIRECTORY="$work/state/nightly" CREDENTIALS_DIRECTORY="$work/credentials")
  while IFS= read -r line; do
    [[ "$line" =~ ^[A-Z_]+= ]] && env+=("$line")
  done <"$etc/nightly.conf"
  # shellcheck disable=SC2016 # expanded by the inner sh
  "${ns[@]}" sh -ec 'mount --bind "$1" /etc/hosts; shift; exec "$@"' gateway-host "$work/hosts" \
    env -i PATH="$PATH" "${env[@]}" "$@" timeout 120 "$gateway/usr/libexec/factorial-scheduler/job" "$mode" nightly
}
expected_first=$'5! = 120\n7! = 5040\n10! = 3628800\n70! = 11978571669969891796072783721689098736458938142546425857555362864628009582789845319680000000000000000\n30! = 265252859812191058636308480000000'

job unfinished || fail "a job that never ran is skipped"
job run >"$work/run1.out" 2>"$work/run1.err" || { cat "$work/run1.err"; fail "the packaged job failed"; }
executor_path=$(sed -n 's/.*agents run the executor \(.*\)$/\1/p' "$work/run1.err")
[[ "$executor_path" == /usr/bin/factorial-executor ]] || fail "the scheduler names the executor '$executor_path'"
has "$executor_files" "$executor_path" || fail "$executor_path is not in the executor package"
[[ "$(cat "$work/state/nightly/results")" == "$expected_first" ]] ||
  { cat "$work/run1.err"; fail "results: $(cat "$work/state/nightly/results")"; }
calls=$(curl -sf "$master/sim/calls")  # each call as a JSON string
grep -qF '\"name\":\"nightly\"' <<<"$calls" || fail "the framework is not named after the job: $calls"
grep -qF "\\\"user\\\":\\\"$(id -un)\\\"" <<<"$calls" || fail "the framework user is not FACTORIAL_USER: $calls"
echo "real job from separate roots: executor $executor_path from the agent's package, results exact"

# Finished: the next start (a boot, a timer) is skipped while numbers and options are unchanged.
job stopped EXIT_CODE=exited EXIT_STATUS=0
[[ -f "$work/state/nightly/finished" ]] || fail "a job that exited 0 is not recorded as finished"
if job unfinished 2>"$work/skip.err"; then fail "a finished job would run again"; fi
grep -q "not run again" "$work/skip.err" || fail "no message when skipping a finished job: $(cat "$work/skip.err")"
# New numbers: a new run; the previous run's files are kept.
echo 20 >>"$etc/nightly.numbers"
job unfinished || fail "a finished job with new numbers is skipped"
job run >/dev/null 2>"$work/run2.err" || { cat "$work/run2.err"; fail "the rerun with new numbers failed"; }
[[ "$(cat "$work/state/nightly/results")" == "$expected_first"$'\n20! = 2432902008176640000' ]] ||
  fail "rerun results: $(cat "$work/state/nightly/results")"
[[ "$(cat "$work/state/nightly/previous/results")" == "$expected_first" ]] || fail "the previous results were not kept"
echo "finished job skipped; changed numbers start a new run"

# Settings the operator gets wrong fail with exit 2 and name what they wrote.
expect_error() {  # expect_error MESSAGE VAR=value...
  local message=$1
  shift
  local status=0
  job run "$@" >/dev/null 2>"$work/error.err" || status=$?
  [[ $status -eq 2 ]] || fail "expected exit 2 for '$message', got $status: $(cat "$work/error.err")"
  grep -qF "$message" "$work/error.err" || fail "expected '$message', got: $(cat "$work/error.err")"
}
expect_error "FACTORIAL_USER is not set in $etc/nightly.conf" FACTORIAL_USER=
expect_error "FACTORIAL_OPTIONS has --secret-file: put the secret in $etc/nightly.secret" FACTORIAL_OPTIONS="--principal fw --secret-file /root/s"
expect_error "MESOS_MASTER is not set in $etc/nightly.conf" MESOS_MASTER=
expect_error "FACTORIAL_OPTIONS has --http-password-file: put the status page's password in $etc/nightly.http-password" FACTORIAL_OPTIONS="--http-user op --http-password-file /root/p"
expect_error "FACTORIAL_OPTIONS has --http-user op, but $etc/nightly.http-password is missing or empty" FACTORIAL_OPTIONS="--http-user op"
expect_error "FACTORIAL_OPTIONS has --output /var/tmp/x, but the service can write only under" FACTORIAL_OPTIONS="--output /var/tmp/x"
expect_error "FACTORIAL_OPTIONS has --user: set FACTORIAL_USER" FACTORIAL_OPTIONS="--role r --user=root"
rm "$etc/nightly.numbers"
expect_error "$etc/nightly.numbers does not exist" FACTORIAL_OPTIONS=
echo "packages OK: $(basename "$scheduler_deb") $(basename "$executor_deb")"
