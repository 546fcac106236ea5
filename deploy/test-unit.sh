#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze verify` must report nothing for the service and the
# timer (templates and instances, man page reference included), and
# `systemd-analyze security --offline=yes` must rate the service at most MAX (default 1.1, today's
# rating: what remains is the network access a Mesos client needs, see deploy/README.md).
#   deploy/test-unit.sh SCHEDULER_BINARY [MAX]
set -euo pipefail
binary=$1
max=${2:-1.1}
here=$(cd "$(dirname "$0")" && pwd)
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze not installed (deploy/install-deps.sh --tests)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# An instance of the template, pointing at the binary under test (verify checks it exists).
unit="$work/factorial-scheduler@test.service"
sed -e "s|/usr/bin/factorial-scheduler|$binary|" -e "s|/usr/libexec/factorial-scheduler/job|$here/systemd/job|" \
  "$here/systemd/factorial-scheduler@.service" >"$unit"
cp "$here/systemd/factorial-scheduler@.timer" "$work/factorial-scheduler@test.timer"

cp "$work/factorial-scheduler@test.service" "$work/factorial-scheduler@.service"
cp "$here/systemd/factorial-scheduler@.timer" "$work/factorial-scheduler@.timer"

# Documentation=man:factorial-scheduler(1) is checked too: the page the package ships is made
# the same way (help2man from --help), into a private MANPATH.
command -v help2man >/dev/null || { echo "FAIL: help2man not installed (deploy/install-deps.sh --tests)" >&2; exit 1; }
mkdir -p "$work/man/man1"
help2man --no-info --no-discard-stderr --section=1 --name="factorial-mesos scheduler" \
  --output="$work/man/man1/factorial-scheduler.1" "$binary"
# The template and an instance of the service and of the timer.
verify=$(MANPATH=$work/man systemd-analyze verify "$work/factorial-scheduler@.service" "$work/factorial-scheduler@.timer" \
           "$unit" "$work/factorial-scheduler@test.timer" 2>&1 | grep -v -e "Failed to connect to bus" || true)
if [[ -n "$verify" ]]; then echo "FAIL: systemd-analyze verify:"; echo "$verify"; exit 1; fi
echo "systemd-analyze verify: template and instance of the service and the timer, man page found: no findings"

security=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
score=$(grep -o "Overall exposure level for [^:]*: [0-9.]*" <<<"$security" | awk '{print $NF}')
[[ -n "$score" ]] || { echo "$security"; echo "FAIL: no exposure level"; exit 1; }
echo "systemd-analyze security: exposure $score (limit $max)"
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || { grep -E "✗" <<<"$security" | head -30; echo "FAIL: exposure $score > $max"; exit 1; }
