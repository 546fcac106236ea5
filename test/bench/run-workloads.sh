#!/usr/bin/env bash
# The benchmark workloads (W1, W2, W3: workload.c) against bare GMP, and optionally against any other command side by side.
#   test/bench/run-workloads.sh BUILD_DIR [W1 W2 W3]
# For each workload: generates its numbers (build/test/bench/workload), runs bare-gmp on
# $THREADS threads (default 2) and prints wall and CPU seconds and output MB. With
# FACTORIAL_CMD set (a shell command reading the numbers on stdin and printing "n! = digits"
# lines, e.g. the scheduler against mesos-sim), runs it on the same input, prints the same
# figures and fails unless its output is byte-identical to bare GMP's.
set -euo pipefail

build=${1:?usage: run-workloads.sh BUILD_DIR [W1 W2 W3]}
shift
workloads=("$@")
[[ ${#workloads[@]} -gt 0 ]] || workloads=(W1 W2 W3)
threads=${THREADS:-2}
bench="$build/test/bench"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs "$@" with stdin from file $1; prints "wall_s cpu_s bytes sha256" of its stdout.
measure() {
  local input=$1
  shift
  local start end user sys bytes sha
  start=$(date +%s.%N)
  sha=$(/usr/bin/time -f '%U %S' -o "$work/times" "$@" < "$input" | dd bs=1M 2> "$work/dd" | sha256sum | cut -d' ' -f1)
  end=$(date +%s.%N)
  read -r user sys < "$work/times"
  bytes=$(awk '/bytes/ { print $1 }' "$work/dd")
  awk -v s="$start" -v e="$end" -v u="$user" -v y="$sys" -v b="$bytes" -v h="$sha" \
    'BEGIN { printf "%.2f %.2f %d %s\n", e - s, u + y, b, h }'
}

row() { awk -v w="$1" -v p="$2" -v t="$3" -v c="$4" -v b="$5" 'BEGIN { printf "%-4s %-10s %9.2f %9.2f %10.1f\n", w, p, t, c, b / 1e6 }'; }

printf '# %s, %s threads, load %s on %s cores\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$threads" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"
printf '%-4s %-10s %9s %9s %10s\n' workload program wall_s cpu_s output_MB
status=0
for w in "${workloads[@]}"; do
  "$bench/workload" "$w" > "$work/$w.numbers"
  read -r wall cpu bytes sha < <(measure "$work/$w.numbers" "$bench/bare-gmp" "$threads")
  row "$w" bare-gmp "$wall" "$cpu" "$bytes"
  if [[ -n ${FACTORIAL_CMD:-} ]]; then
    read -r cwall ccpu cbytes csha < <(measure "$work/$w.numbers" bash -c "$FACTORIAL_CMD")
    row "$w" command "$cwall" "$ccpu" "$cbytes"
    if [[ $csha != "$sha" ]]; then
      echo "$w: output differs from bare GMP's (sha256 $csha, expected $sha)" >&2
      status=1
    fi
  fi
done
exit $status
