# Shared by the end-to-end scripts: a scratch directory removed on exit, and checks that count
# and report. Each script ends with `finish`, which prints "N passed, M failed" and fails if any
# check did.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
checks=0

ok() { checks=$((checks + 1)); echo "ok   $1"; }
bad() { checks=$((checks + 1)); failures=$((failures + 1)); echo "FAIL $1"; }
# expect_eq NAME GOT WANT
expect_eq() { if [[ "$2" == "$3" ]]; then ok "$1"; else bad "$1: expected '$3', got '$2'"; fi; }
# expect_out NAME PATTERN CMD...: the command succeeds and prints PATTERN (stdout or stderr).
expect_out() {
  local name=$1 pattern=$2 out
  shift 2
  if out=$("$@" 2>&1) && grep -qE -- "$pattern" <<<"$out"; then ok "$name"; else bad "$name: $out"; fi
}
# expect_error NAME PATTERN CMD...: the command fails and prints PATTERN (case-insensitive).
expect_error() {
  local name=$1 pattern=$2 out
  shift 2
  if out=$("$@" 2>&1); then
    bad "$name: succeeded: $out"
  elif grep -qiE -- "$pattern" <<<"$out"; then
    ok "$name"
  else
    bad "$name: '$out' lacks '$pattern'"
  fi
}
finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [[ $failures == 0 ]]
}
