#!/usr/bin/env bash
# Builds the two Debian packages from a configured build tree, inspects them, installs them
# into a scratch root and runs both programs from there.   deploy/test-packages.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
scheduler_deb=$(ls "$work"/out/factorial-scheduler_*.deb) || fail "no factorial-scheduler package"
executor_deb=$(ls "$work"/out/factorial-executor_*.deb) || fail "no factorial-executor package"

contents=$(dpkg-deb -c "$scheduler_deb")
for f in ./usr/bin/factorial-scheduler ./usr/lib/systemd/system/factorial-scheduler@.service \
         ./usr/share/doc/factorial-scheduler/README.md ./usr/share/doc/factorial-scheduler/copyright \
         ./usr/share/doc/factorial-scheduler/examples/example.conf; do
  grep -q " $f\$" <<<"$contents" || fail "factorial-scheduler lacks $f"
done
grep -q "factorial-executor" <<<"$contents" && fail "the executor binary is in the scheduler package"
executor_contents=$(dpkg-deb -c "$executor_deb")  # no pipe into grep -q: SIGPIPE + pipefail
grep -q " ./usr/bin/factorial-executor\$" <<<"$executor_contents" || fail "factorial-executor lacks its binary"

depends=$(dpkg-deb -f "$scheduler_deb" Depends)
for lib in libcurl4 libspdlog libssl; do grep -q "$lib" <<<"$depends" || fail "scheduler Depends lacks $lib: $depends"; done
grep -q libgmp10 <<<"$(dpkg-deb -f "$executor_deb" Depends)" || fail "executor Depends lacks libgmp10"

root="$work/root"
dpkg-deb -x "$scheduler_deb" "$root"
dpkg-deb -x "$executor_deb" "$root"
"$root/usr/bin/factorial-scheduler" --version | grep -q "^factorial-scheduler [0-9]" || fail "scheduler --version"
"$root/usr/bin/factorial-executor" --version | grep -q "^factorial-executor [0-9]" || fail "executor --version"
echo "packages OK: $(basename "$scheduler_deb") $(basename "$executor_deb")"
