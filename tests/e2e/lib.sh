# shellcheck shell=bash
# Shared by the end-to-end scripts: a scratch directory removed on exit, and checks that count
# and report. Each script ends with `finish`, which prints "N passed, M failed" and fails if any
# check did.
work=$(mktemp -d)
# Agents keep their state (a provider's proofs and usage logs) under $XDG_STATE_HOME unless told:
# in the scratch directory here, never in the home of whoever runs the tests.
export XDG_STATE_HOME=$work/state
# The default keystore directory (XDG_DATA_HOME/ipsx/keystore) likewise.
export XDG_DATA_HOME=$work/data
# On exit: the script's own `on_exit` function if it defines one, then anvil if start_anvil
# started it, then the scratch directory. (A script may still set its own EXIT trap instead.)
lib_exit() {
  declare -F on_exit >/dev/null && on_exit
  stop_anvil
  rm -rf "$work"
}
trap lib_exit EXIT
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

# ---- processes in the background --------------------------------------------------------------
# start NAME CMD...: runs CMD in the background, output in $work/NAME.out, its pid added to `pids`.
pids=()
start() {
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
}
# wait_for FILE PATTERN [SECONDS]: prints the first match of PATTERN in FILE, waiting for it up to
# SECONDS (default 10); returns 1 if it never came.
wait_for() {
  for _ in $(seq $((${3:-10} * 10))); do
    grep -oE "$2" "$1" 2>/dev/null | head -1 | grep . && return 0
    sleep 0.1
  done
  return 1
}

# ---- the local Ethereum node (foundry's anvil, from npm ci) ------------------------------------
# use_foundry: CAST and ANVIL, the pinned tools `npm ci` installed; exits if they are missing.
use_foundry() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  CAST=$root/node_modules/.bin/cast
  ANVIL=$root/node_modules/.bin/anvil
  for t in "$CAST" "$ANVIL"; do
    [[ -x $t ]] || { echo "missing $t: run 'npm ci' in $root"; exit 1; }
  done
}
# toml KEY FILE: a top-level value of a TOML file such as `ipsx eth deploy --out`'s.
toml() { sed -nE "s/^$1 = \"?([^\"]*)\"?$/\1/p" "$2"; }
# The parties sign with cast from their own keystore files in $ks (ipsx's format is cast's),
# password in $work/pw. keyfile ADDRESS: the file.
keyfile() { ls "$ks"/*--"$(tr 'A-F' 'a-f' <<<"${1#0x}")"; }
# as ADDRESS CONTRACT SIG ARGS...: a transaction from ADDRESS that must succeed (cast's answer is
# printed if it does not).
as() {
  local from=$1 out
  shift
  if out=$("$CAST" send --json --rpc-url "$RPC" --keystore "$(keyfile "$from")" \
    --password-file "$work/pw" "$@" 2>"$work/as.err") && [[ $(jq -r .status <<<"$out" 2>/dev/null) == 0x1 ]]; then
    return 0
  fi
  echo "$out $(cat "$work/as.err")"
  return 1
}
# call CONTRACT SIG ARGS...: a view call's results on one line, separated by spaces.
call() { "$CAST" call --rpc-url "$RPC" "$@" 2>&1 | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//'; }
# keep_traffic_local: any HTTP a tool might try goes to a closed local port, except 127.0.0.1.
keep_traffic_local() {
  export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 all_proxy=http://127.0.0.1:9
  export HTTP_PROXY=$http_proxy HTTPS_PROXY=$https_proxy ALL_PROXY=$all_proxy
  export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
}
# free_port: a TCP port on 127.0.0.1 that was free a moment ago.
free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();})'; }
# start_anvil [ARGS...]: starts $ANVIL on a free 127.0.0.1 port with ARGS (e.g. --chain-id 1337)
# and waits until it answers $CAST chain-id (five ports, ten seconds each). Sets RPC (its URL)
# and anvil_pid; the log is $work/anvil.log. Reports ok or FAIL; returns 1 if it did not start.
anvil_pid=
RPC=
start_anvil() {
  local port
  RPC=
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    "$ANVIL" --host 127.0.0.1 --port "$port" --silent "$@" >"$work/anvil.log" 2>&1 &
    anvil_pid=$!
    for _ in $(seq 100); do
      if "$CAST" chain-id --rpc-url "http://127.0.0.1:$port" >/dev/null 2>&1; then
        RPC=http://127.0.0.1:$port
        ok "anvil $("$ANVIL" --version | head -1 | awk '{print $3}') on $RPC"
        return 0
      fi
      kill -0 "$anvil_pid" 2>/dev/null || break
      sleep 0.1
    done
    stop_anvil
  done
  bad "anvil did not start: $(cat "$work/anvil.log")"
  return 1
}
# stop_anvil: SIGTERM and wait (nothing if it is not running).
stop_anvil() {
  if [[ -n ${anvil_pid:-} ]]; then
    kill "$anvil_pid" 2>/dev/null
    wait "$anvil_pid" 2>/dev/null
    anvil_pid=
  fi
}

# ---- an embedded ledger with a funded requester -------------------------------------------------
# exchange_ledger IPSX CHALLENGE_SECONDS DEPOSIT: wallets in $ks (password in $work/pw) for the
# genesis accounts and the market (early, bounty, team, treasury, market) and a requester; a
# ledger in $data whose sale is over; the requester holding 1000 IPSX with DEPOSIT of them in its
# Centralizer wallet. Defines new (a fresh wallet's address) and send (a signed transaction on
# the ledger's files, before a node holds them).
exchange_ledger() {
  exchange_ipsx=$1
  local challenge=$2 deposit=$3
  echo pw >"$work/pw"
  ks=$work/ks
  data=$work/ledger
  new() { "$exchange_ipsx" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
  send() {
    "$exchange_ipsx" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@" >/dev/null
  }
  early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new) requester=$(new)
  "$exchange_ipsx" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
    --team "$team" --treasury "$treasury" --sale-seconds 1 --challenge-seconds "$challenge" 2>/dev/null
  "$exchange_ipsx" ledger init --data "$data" --genesis "$work/g.toml" >/dev/null
  sleep 1
  send --address "$team" finalize-sale
  send --address "$early" transfer --to "$requester" --amount 1000
  send --address "$requester" deposit --amount "$deposit"
}

# ---- the testbed (scripts/netbed.sh; the script sets `root` to the project's root) ------------
# netbed_claim LETTER: this run's testbed is named LETTER and the shell's pid; the testbeds of
# earlier runs with that letter whose process is gone (killed before their cleanup) go first.
netbed_claim() {
  local stale
  for stale in $(ip netns list | awk '{print $1}' | sed -nE "s/^ipsx-$1([0-9]+)-.*/\\1/p" | sort -u); do
    kill -0 "$stale" 2>/dev/null || NETBED=$1$stale "$root/scripts/netbed.sh" down >/dev/null 2>&1
  done
  export NETBED=$1$$
}
nb() { "$root/scripts/netbed.sh" "$@"; }
# on HOST NAME CMD...: CMD in the background on HOST, output in $work/NAME.out, pid in pid_of.
declare -A pid_of
on() {
  local h=$1 name=$2
  shift 2
  # The script itself (not the function nb), which execs CMD: `$!` is CMD's pid.
  "$root/scripts/netbed.sh" exec "$h" "$@" >"$work/$name.out" 2>&1 &
  pids+=($!)
  pid_of[$name]=$!
}
