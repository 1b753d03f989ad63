#!/usr/bin/env bash
# End to end: `ipsx eth deploy` against a local anvil, as a user would run it: a keystore made by
# `ipsx wallet new`, funded from anvil's first development account with foundry's cast, a genesis
# from `ipsx ledger genesis`, the deployment, and the TOML it writes checked with cast (both
# addresses hold code, the token's supply and allocations are the genesis'); then a node that is
# not there and a wrong password, each a clear error and a non-zero exit.
# usage: eth_e2e.sh IPSX [CONTRACTS_DIR]   (CONTRACTS_DIR: the build's contract JSON; default:
#                                           the one IPSX was built with)
set -uo pipefail
IPSX=$1
CONTRACTS=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
use_foundry
contracts_opt=()
[[ -n $CONTRACTS ]] && contracts_opt=(--contracts "$CONTRACTS")

# Nothing leaves the machine: anvil listens on 127.0.0.1 only; any other HTTP a tool might try
# goes to a closed local port.
keep_traffic_local
start_anvil --chain-id 1337 || { finish; exit 1; }

# ---- the deployer's keystore, funded from anvil's first development account -----------------
echo "correct horse" >"$work/pw"
echo "wrong horse" >"$work/badpw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
deployer=$(new)
if [[ $deployer =~ ^0x[0-9a-fA-F]{40}$ ]]; then ok "wallet new: $deployer"; else bad "wallet new: '$deployer'"; fi
early=$(new) bounty=$(new) team=$(new) treasury=$(new)

dev_key=$("$CAST" wallet private-key "test test test test test test test test test test test junk" 0)
if out=$("$CAST" send --rpc-url "$RPC" --private-key "$dev_key" "$deployer" --value 10ether 2>&1); then
  ok "fund the deployer"
else
  bad "fund the deployer: $out"
fi
expect_eq "deployer balance" "$("$CAST" balance --rpc-url "$RPC" "$deployer")" 10000000000000000000

"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 3600 --challenge-seconds 600 2>/dev/null ||
  bad "genesis"

# ---- deploy -----------------------------------------------------------------------------------
deploy() {
  "$IPSX" eth deploy --keystore "$ks" --address "$deployer" --genesis "$work/g.toml" \
    "${contracts_opt[@]}" "$@"
}
out=$work/deployment.toml
if msg=$(deploy --rpc "$RPC" --password-file "$work/pw" --out "$out" --timeout 30 2>&1); then
  ok "eth deploy"
else
  bad "eth deploy: $msg"
fi
toml() { sed -nE "s/^$1 = \"?([^\"]*)\"?$/\1/p" "$out" 2>/dev/null; }
token=$(toml token)
# shellcheck disable=SC2034  # read as ${!c} below
centralizer=$(toml centralizer)
expect_eq "deployment: rpc" "$(toml rpc)" "$RPC"
expect_eq "deployment: chain_id" "$(toml chain_id)" 1337
block=$(toml block)
if [[ $block =~ ^[0-9]+$ ]] && ((block >= 1)); then ok "deployment: block $block"; else bad "deployment: block '$block'"; fi
for c in token centralizer; do
  a=${!c}  # token or centralizer
  if [[ ! $a =~ ^0x[0-9a-fA-F]{40}$ ]]; then
    bad "deployment: $c address '$a'"
    continue
  fi
  code=$("$CAST" code --rpc-url "$RPC" "$a" 2>&1)
  if [[ $code =~ ^0x[0-9a-f]+$ && ${#code} -gt 100 ]]; then
    ok "deployment: $c $a has code (${#code} hex chars)"
  else
    bad "deployment: $c $a has no code: '$code'"
  fi
done
call() { "$CAST" call --rpc-url "$RPC" "$@" 2>&1 | awk '{print $1}'; }
if [[ -n $token ]]; then
  expect_eq "token: totalSupply" "$(call "$token" 'totalSupply()(uint256)')" 1800000000000000000000000000
  expect_eq "token: early adopters" "$(call "$token" 'balanceOf(address)(uint256)' "$early")" 495000000000000000000000000
  expect_eq "token: team" "$(call "$token" 'balanceOf(address)(uint256)' "$team")" 360000000000000000000000000
fi
expect_eq "deployer nonce" "$("$CAST" nonce --rpc-url "$RPC" "$deployer")" 2

# ---- failures: a clear error, a non-zero exit, nothing written --------------------------------
dead=$(free_port)
expect_error "deploy to a node that is not there" "eth_chainId.*(refused|unavailable)" \
  deploy --rpc "http://127.0.0.1:$dead" --password-file "$work/pw" --out "$work/dead.toml" --timeout 5
if [[ -e $work/dead.toml ]]; then bad "deploy to a dead node wrote a file"; else ok "nothing written for a dead node"; fi
expect_error "deploy with a malformed RPC URL" "RPC URL .*only http" \
  deploy --rpc "not a url" --password-file "$work/pw" --out "$work/bad.toml" --timeout 5
expect_error "deploy with a wrong password" "wrong password" \
  deploy --rpc "$RPC" --password-file "$work/badpw" --out "$work/badpw.toml" --timeout 5
if [[ -e $work/badpw.toml ]]; then bad "deploy with a wrong password wrote a file"; else ok "nothing written for a wrong password"; fi
expect_eq "a failed deploy sent nothing" "$("$CAST" nonce --rpc-url "$RPC" "$deployer")" 2

finish
