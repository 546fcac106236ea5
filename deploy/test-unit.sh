#!/usr/bin/env bash
# Checks the systemd units: `systemd-analyze verify` must report nothing for the service and the
# timer, and `systemd-analyze security --offline=yes` must rate the service at most MAX (default 2.0).
#   deploy/test-unit.sh SCHEDULER_BINARY [MAX]
set -euo pipefail
binary=$1
max=${2:-2.0}
here=$(cd "$(dirname "$0")" && pwd)
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze not installed (deploy/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# An instance of the template, pointing at the binary under test (verify checks it exists).
unit="$work/factorial-scheduler@test.service"
sed -e "s|/usr/bin/factorial-scheduler|$binary|" -e "s|/usr/libexec/factorial-scheduler/job|$here/systemd/job|" \
  "$here/systemd/factorial-scheduler@.service" >"$unit"
cp "$here/systemd/factorial-scheduler@.timer" "$work/factorial-scheduler@test.timer"

verify=$(systemd-analyze verify --man=no "$unit" "$work/factorial-scheduler@test.timer" 2>&1 |
         grep -v -e "Failed to connect to bus" || true)
if [[ -n "$verify" ]]; then echo "FAIL: systemd-analyze verify:"; echo "$verify"; exit 1; fi

security=$(systemd-analyze security --offline=yes --no-pager "$unit" 2>&1)
score=$(grep -o "Overall exposure level for [^:]*: [0-9.]*" <<<"$security" | awk '{print $NF}')
[[ -n "$score" ]] || { echo "$security"; echo "FAIL: no exposure level"; exit 1; }
echo "systemd-analyze security: exposure $score (limit $max)"
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' || { grep -E "✗" <<<"$security" | head -30; echo "FAIL: exposure $score > $max"; exit 1; }
