#!/usr/bin/env bash
# The demo on Ethereum (`make demo LEDGER=ethereum`): the whole exchange with its ledger in the
# IPSX contracts on a local anvil that mines a block every second on its own clock and keeps its
# state in a file. The contracts deployed from a genesis file, a crowd sale bought with plain
# native-coin transfers to the token, finalized; a node, four providers in four countries and a
# requester's gateway, each its own process; curl through the gateway by country; the leases
# settled on chain with the best balance proofs, the market's commission, both sides' ratings.
# Each step names its Ethereum transaction hash (what `cast tx` takes), and at the end foundry's
# cast, an independent reader of the chain, checks the balances and the total supply, also
# after anvil is stopped and started again from its state file. Exits 0 only if every check held.
# usage: demo-eth.sh IPSX [CONTRACTS_DIR]
set -euo pipefail
IPSX=${1:-build/bin/ipsx}
CONTRACTS=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
CAST=$root/node_modules/.bin/cast
ANVIL=$root/node_modules/.bin/anvil
for t in "$CAST" "$ANVIL"; do
  [[ -x $t ]] || { echo "missing $t: run 'make deps' (npm ci installs foundry)"; exit 1; }
done
for t in curl jq python3; do command -v $t >/dev/null || { echo "$t is required"; exit 1; }; done
contracts_opt=()
[[ -n $CONTRACTS ]] && contracts_opt=(--contracts "$CONTRACTS")
work=$(mktemp -d)
export XDG_STATE_HOME=$work/state
# Nothing this demo sends may leave the machine: every address it uses is on loopback.
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY
pids=()
anvil_pid=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  [[ -n $anvil_pid ]] && kill "$anvil_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }
failures=0
check() { if "${@:2}"; then echo "   ok: $1"; else echo "   FAILED: $1"; failures=$((failures + 1)); fi; }
wait_for() { # wait_for FILE PATTERN [SECONDS]: prints the first match (default 10 s)
  for _ in $(seq $((${3:-10} * 10))); do
    grep -oE "$2" "$1" 2>/dev/null | head -1 | grep . && return 0
    sleep 0.1
  done
  return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# anvil on 127.0.0.1: a block every second whether or not anything happens (as a real chain),
# its state written to a file on exit and read back on the next start.
start_anvil() { # start_anvil PORT
  "$ANVIL" --host 127.0.0.1 --port "$1" --block-time 1 --state "$work/chain-state.json" \
    --silent >>"$work/anvil.log" 2>&1 &
  anvil_pid=$!
  for _ in $(seq 150); do
    "$CAST" chain-id --rpc-url "http://127.0.0.1:$1" >/dev/null 2>&1 && return 0
    kill -0 "$anvil_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "anvil did not start: $(cat "$work/anvil.log")"
  return 1
}

echo "IPSX demo on Ethereum: the exchange with its ledger in the IPSX contracts, on a local anvil."
step "A local Ethereum chain: anvil, a block every second, its state kept in a file"
port=$(free_port)
start_anvil "$port"
RPC=http://127.0.0.1:$port
echo "-> anvil $("$ANVIL" --version | head -1 | awk '{print $3}') at $RPC, chain id $("$CAST" chain-id --rpc-url "$RPC")"

printf 'demo-password\n' >"$work/pw"
ks=$work/keystore
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
keyfile() { ls "$ks"/*--"$(tr 'A-F' 'a-f' <<<"${1#0x}")"; }
# tx_hash JSON: the transaction hash of cast's --json receipt, checking it succeeded.
tx_hash() { jq -er 'select(.status == "0x1") | .transactionHash' <<<"$1"; }

step "Wallets: a deployer, the genesis accounts, the market operator, a requester, four providers"
deployer=$(new) early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new) requester=$(new)
echo "-> market $market, requester $requester"
step "Each party that sends transactions gets native coin for gas (from anvil's development account)"
dev_key=$("$CAST" wallet private-key "test test test test test test test test test test test junk" 0)
fund() { # fund ADDRESS ETHER
  local out
  out=$("$CAST" send --json --rpc-url "$RPC" --private-key "$dev_key" "$1" --value "$2ether")
  echo "   $1 <- $2 ETH: transaction $(tx_hash "$out")"
}
for a in "$deployer" "$team" "$market"; do fund "$a" 1; done
fund "$requester" 5

step "The contracts are deployed from a genesis file: 1.8 billion IPSX, half of it for a one-hour sale"
# A hard cap of 3 coins: the two purchases below reach it, and a sale that reached its cap may be
# finalized at once. A soft cap of 2 (R2: tokens unlock only once the funding has succeeded): the
# coin stays in the token until finalize pays the treasury; below it the buyers would get refunds.
run "$IPSX" ledger genesis --out "$work/genesis.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 3600 --hard-cap 3 --soft-cap 2 \
  --challenge-seconds 60 2>/dev/null
dep=$work/deployment.toml
run "$IPSX" eth deploy --rpc "$RPC" --keystore "$ks" --address "$deployer" --password-file "$work/pw" \
  --genesis "$work/genesis.toml" "${contracts_opt[@]}" --timeout 60 --out "$dep"
token=$(sed -nE 's/^token = "(.*)"$/\1/p' "$dep")
cent=$(sed -nE 's/^centralizer = "(.*)"$/\1/p' "$dep")
check "the token and the Centralizer have code on the chain" \
  test "$("$CAST" code --rpc-url "$RPC" "$token")" != 0x -a "$("$CAST" code --rpc-url "$RPC" "$cent")" != 0x

step "The market's node runs on the contracts; it never holds a user's key"
geo_data=()
[[ -d $root/node_modules/@ip-location-db ]] && geo_data=(--geo-data "$root/node_modules/@ip-location-db")
"$IPSX" node --ledger ethereum --rpc "$RPC" --deployment "$dep" "${contracts_opt[@]}" \
  --data "$work/node" --keystore "$ks" --address "$market" --password-file "$work/pw" \
  --listen 127.0.0.1:0 --fee-bps 250 --geo-static "$here/demo/geo-static.txt" "${geo_data[@]}" \
  >"$work/node.out" 2>&1 &
pids+=($!)
node=$(wait_for "$work/node.out" 'http://127\.0\.0\.1:[0-9]+' 30) || { cat "$work/node.out"; exit 1; }
export IPSX_NODE=$node
echo "-> node at $node, market $market, commission 2.5 %"
curl -s "$node/v1/health" | jq -c '{status, ledger, chainId, verifyingContract, tokenContract, head}'
run "$IPSX" sale show

step "The crowd sale: buyers send plain native coin to the token (no function call, as any wallet can)"
buy() { # buy ADDRESS ETHER
  local out
  printf '$ cast send %s --value %sether   (from %s)\n' "$token" "$2" "$1" >&2
  out=$("$CAST" send --json --rpc-url "$RPC" --keystore "$(keyfile "$1")" --password-file "$work/pw" \
    "$token" --value "$2ether")
  echo "   transaction $(tx_hash "$out")"
}
buy "$requester" 2
provider_de=$(new)
fund "$provider_de" 2
buy "$provider_de" 1
check "the requester bought 20,000 IPSX (rate 10,000 per coin)" \
  test "$("$CAST" call --rpc-url "$RPC" "$token" "balanceOf(address)(uint256)" "$requester" | awk '{print $1}')" \
  = 20000000000000000000000
balance() { "$CAST" balance --rpc-url "$RPC" "$1"; }
check "until finalize the token holds the 3 coins, the treasury nothing" \
  test "$(balance "$token") $(balance "$treasury")" = "3000000000000000000 0"
echo "-> the sale reached its hard cap of 3 coins, above its soft cap of 2: anyone may end it now"
wallet() { echo --keystore "$ks" --address "$1" --password-file "$work/pw"; }
# shellcheck disable=SC2046
run "$IPSX" sale finalize $(wallet "$team")
check "finalize paid the 3 coins to the treasury" \
  test "$(balance "$token") $(balance "$treasury")" = "0 3000000000000000000"
# shellcheck disable=SC2046
run "$IPSX" sale claim $(wallet "$requester")

step "The requester deposits IPSX into its Centralizer wallet, to back its leases"
# shellcheck disable=SC2046
run "$IPSX" token deposit --amount 15000 $(wallet "$requester")
deposit=15000000000000000000000

step "The exchange at work: four providers in four countries, a requester's gateway"
# Each part is its own process; all traffic stays on loopback, the providers' exits leaving
# from 127.0.0.2 .. 127.0.0.5 (the node's static geo table places them).
python3 "$root/tests/e2e/whoami_server.py" >"$work/whoami.out" 2>&1 &
pids+=($!)
dest=127.0.0.1:$(wait_for "$work/whoami.out" '^[0-9]+$')
echo "-> destination: http://$dest/ answers with the caller's address"
providers=()
i=2
for spec in DE:0.0010 US:0.0012 JP:0.0015 BR:0.0008; do
  country=${spec%%:*} price=${spec##*:} ip=127.0.0.$i
  if [[ $country == DE ]]; then who=$provider_de; else who=$(new); fund "$who" 1; fi
  cat >"$work/provide-$country.toml" <<TOML
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]   # the demo's destination is on loopback
[[ip]]
address = "$ip"
country = "$country"
type = "residential"
price = "$price"
TOML
  "$IPSX" provide --node "$node" --keystore "$ks" --address "$who" --password-file "$work/pw" \
    --config "$work/provide-$country.toml" --data "$work/provider-$country" \
    >"$work/provide-$country.out" 2>&1 &
  pids+=($!)
  providers+=("$country:$who")
  wait_for "$work/provide-$country.out" 'offer .* placed' 30 >/dev/null ||
    { cat "$work/provide-$country.out"; exit 1; }
  echo "-> provider $who proved it sends from $ip, offers it in $country at $price IPSX/s"
  i=$((i + 1))
done
printf 'proxy-secret\n' >"$work/proxy-pw"
"$IPSX" gateway --node "$node" --keystore "$ks" --address "$requester" --password-file "$work/pw" \
  --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:0 --max-price 0.002 --duration 20 \
  --budget 1 >"$work/gateway.out" 2>&1 &
pids+=($!)
gw=$(wait_for "$work/gateway.out" 'proxy on 127\.0\.0\.1:[0-9]+' 30 | grep -oE '[0-9.]+:[0-9]+$') ||
  { cat "$work/gateway.out"; exit 1; }
echo "-> the requester's gateway: SOCKS5 and HTTP on $gw (password-protected), 20-second leases"

step "A crawler asks the gateway for pages by country; each leaves from that country's IP"
i=2
for country in de us jp br; do
  echo "\$ curl -x http://country-$country:***@$gw http://$dest/"
  got=$(curl -sS --max-time 30 -x "http://country-$country:proxy-secret@$gw" "http://$dest/" || true)
  echo "$got"
  check "country-$country left from 127.0.0.$i" test "$got" = "127.0.0.$i"
  i=$((i + 1))
done

step "Each lease is a deal the market opened on the chain"
deals=$(curl -s "$node/v1/deals?party=$requester" | jq -r '.deals[].id')
for d in $deals; do
  opened=$(curl -s "$node/v1/ledger/deals/$d/events" | jq -r '.events[] | select(.kind == "deal_opened") | .chainTx')
  echo "   deal ${d:0:18}... opened in transaction $opened"
  check "the chain has that transaction, sent by the market" \
    test "$("$CAST" tx --rpc-url "$RPC" "$opened" from 2>/dev/null | tr 'A-F' 'a-f')" = "$(tr 'A-F' 'a-f' <<<"$market")"
done
check "four deals" test "$(wc -w <<<"$deals")" = 4

step "The leases end: each provider settles on chain with its best balance proof, both sides rate"
settled() { [[ $(cat "$work"/provide-*.out | grep -c 'rated the requester') -ge 4 &&
  $(grep -c 'rated the provider' "$work/gateway.out") -ge 4 ]]; }
for _ in $(seq 240); do settled && break; sleep 0.5; done
grep -h 'settled on the ledger\|rated the requester' "$work"/provide-*.out
grep -h 'rated the provider' "$work/gateway.out"
check "the four deals were settled on chain and rated by both sides" settled

step "cast, an independent reader of the chain, checks the money"
wallet_of() { "$CAST" call --rpc-url "$RPC" "$cent" "wallet(address)(uint256,uint256)" "$1" | awk 'NR == 1 {print $1}'; }
reserved_of() { "$CAST" call --rpc-url "$RPC" "$cent" "wallet(address)(uint256,uint256)" "$1" | awk 'NR == 2 {print $1}'; }
# base_units IPSX: "0.0185" -> 18500000000000000 (18 decimals)
base_units() { python3 -c 'import decimal, sys; print(int(decimal.Decimal(sys.argv[1]).scaleb(18)))' "$1"; }
paid=0
for entry in "${providers[@]}"; do
  country=${entry%%:*} who=${entry##*:}
  earned=$(wallet_of "$who")
  rating=$("$CAST" call --rpc-url "$RPC" "$cent" "rating(address)(uint64,uint64)" "$who" | awk '{print $1}' | tr '\n' ' ')
  echo "   provider in $country: earned $earned base units; ratings (count sum): $rating"
  says=$(curl -s "$node/v1/ledger/accounts/$who" | jq -r '.wallet.balance')
  check "the $country provider was paid, and the node says the same ($says IPSX)" test "$earned" != 0 -a \
    "$(base_units "$says")" = "$earned"
  paid=$(python3 -c "print($paid + $earned)")
done
commission=$(wallet_of "$market")
echo "   the market's commission: $commission base units"
check "the market earned its commission (2.5 % of what the providers were paid and it)" \
  python3 -c "import sys; c, p = $commission, $paid; sys.exit(not (c > 0 and abs(c * 10000 - (c + p) * 250) <= 10000))"
free=$(wallet_of "$requester")
check "the requester's wallet: nothing reserved any more" test "$(reserved_of "$requester")" = 0
check "the requester's deposit = what is left + what the providers and the market got" \
  python3 -c "import sys; sys.exit($free + $paid + $commission != $deposit)"
supply=$("$CAST" call --rpc-url "$RPC" "$token" "totalSupply()(uint256)" | awk '{print $1}')
echo "   total supply: $supply base units"
check "the total supply is 1.8 billion IPSX, as at genesis" test "$supply" = 1800000000000000000000000000
check "the node agrees, and counts every token (conserved)" \
  test "$(curl -s "$node/v1/ledger/supply" | jq -r .conserved)" = true
snapshot() {
  for a in "$requester" "$market" "${providers[@]##*:}"; do wallet_of "$a"; done
  "$CAST" call --rpc-url "$RPC" "$token" "totalSupply()(uint256)"
}
before=$(snapshot)

for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait "${pids[@]}" 2>/dev/null || true
pids=()
step "anvil is stopped (it writes its state) and started again: the chain is where it was"
height=$("$CAST" block-number --rpc-url "$RPC")
kill -TERM "$anvil_pid"
wait "$anvil_pid" 2>/dev/null || true
anvil_pid=
start_anvil "$port"
echo "-> anvil again at $RPC, block $("$CAST" block-number --rpc-url "$RPC") (was $height)"
check "every balance and the total supply read the same" test "$(snapshot)" = "$before"

echo
if [[ $failures == 0 ]]; then
  echo "Demo on Ethereum complete: every check held."
else
  echo "Demo on Ethereum finished with $failures failed check(s)."
  exit 1
fi
