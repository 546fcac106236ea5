#!/bin/bash
# The bash completion script completes the options the scheduler's --help lists (and the
# values of the fixed-choice ones), with nothing but bash.
#   deploy/test-completion.sh SCHEDULER_BINARY
set -euo pipefail
scheduler=$1
here=$(cd "$(dirname "$0")" && pwd)
PATH=$(dirname "$scheduler"):$PATH
source "$here/bash-completion/factorial-scheduler"
complete_words() {  # words...: the completions of the last one, one per line
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _factorial_scheduler
  printf '%s\n' "${COMPREPLY[@]}"
}
fail=0
expect() {  # expected got what
  if [[ $1 != "$2" ]]; then
    echo "FAIL: $3: expected [$1], got [$2]"
    fail=1
  fi
}
expect $'--connect-timeout\n--connect_timeout' "$(complete_words factorial-scheduler --conn)" "option names"
expect $'--no-checkpoint' "$(complete_words factorial-scheduler 5 --no-)" "a negated flag"
expect $'json' "$(complete_words factorial-scheduler --format j)" "--format values"
expect $'completion' "$(complete_words factorial-scheduler --order c)" "--order values"
expect $'1weeks' "$(complete_words factorial-scheduler --failover_timeout 1w)" "durations"
# Every option --help names completes.
for option in $("$scheduler" --help | grep -oE -- '--[a-z][a-z_-]*' | sort -u); do
  got=$(complete_words factorial-scheduler "$option")
  if ! grep -qxF -- "$option" <<<"$got"; then
    echo "FAIL: $option does not complete"
    fail=1
  fi
done
[[ $fail == 0 ]] && echo "bash completion: ok"
exit $fail
