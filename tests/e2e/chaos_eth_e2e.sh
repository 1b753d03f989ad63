#!/usr/bin/env bash
# Chaos on Ethereum: the chain takes back blocks under a running exchange, and the node recovers
# on its own. anvil makes a block every second; a node, a provider and a requester's gateway
# trade on it (20-second leases, settled and rated on chain, the node waiting one confirmation).
# Then, three times:
#  1. a reorganisation: evm_snapshot, transfers the CLI reports included (each with its Ethereum
#     transaction hash), evm_revert: the blocks holding them are gone;
#  2. anvil SIGKILLed and started again from a state dumped before more acknowledged transfers:
#     the chain comes back several blocks behind;
#  3. the node stopped after acknowledging transfers, the chain reverted while it is down, the
#     node started again (it keeps what it acknowledged in its data directory).
# Each time, within a minute and with nobody's help: every acknowledged transaction is on chain
# again, exactly once (the receiving balance is exactly the sum sent), health is ok, and nothing
# is wedged: the sender's next transfer goes through, the gateway leases again through the
# provider, and every deal of the run ends settled and rated.
# usage: chaos_eth_e2e.sh IPSX [CONTRACTS_DIR]
set -uo pipefail
IPSX=$1
CONTRACTS=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
use_foundry
for t in curl jq python3; do command -v $t >/dev/null || { echo "$t is required"; exit 1; }; done
contracts_opt=()
[[ -n $CONTRACTS ]] && contracts_opt=(--contracts "$CONTRACTS")
on_exit() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done; wait "${pids[@]}" 2>/dev/null; }

keep_traffic_local
start_anvil --block-time 1 || { finish; exit 1; }
port=${RPC##*:}

# ---- the exchange: contracts, a node, a provider, a gateway ------------------------------------
echo pw >"$work/pw"
echo proxy-secret >"$work/proxy-pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
deployer=$(new) early=$(new) bounty=$(new) team=$(new) treasury=$(new)
market=$(new) provider=$(new) requester=$(new) sink1=$(new) sink2=$(new) sink3=$(new)
dev_key=$("$CAST" wallet private-key "test test test test test test test test test test test junk" 0)
for a in "$deployer" "$early" "$market" "$provider" "$requester"; do
  "$CAST" send --rpc-url "$RPC" --private-key "$dev_key" "$a" --value 10ether >/dev/null 2>&1 ||
    bad "fund $a"
done
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 1 --challenge-seconds 600 2>/dev/null ||
  bad "genesis"
sleep 1
dep=$work/deployment.toml
"$IPSX" eth deploy --rpc "$RPC" --keystore "$ks" --address "$deployer" --password-file "$work/pw" \
  --genesis "$work/g.toml" "${contracts_opt[@]}" --timeout 30 --out "$dep" >/dev/null 2>&1 ||
  { bad "eth deploy"; finish; exit 1; }
token=$(toml token "$dep")
cent=$(toml centralizer "$dep")
# The sale ends a second after the genesis (whole seconds on the chain): the block that
# finalizes it must come after that second, however fast the deploy was.
sale_end_ms=$(sed -n 's/^end = \([0-9]*\)$/\1/p' "$work/g.toml")
while (($(date +%s%3N) < sale_end_ms + 2000)); do sleep 0.2; done
as "$early" "$token" "finalizeSale()" >/dev/null || bad "finalize"
as "$early" "$token" "transfer(address,uint256)" "$requester" 1000000000000000000000 >/dev/null ||
  bad "the requester's IPSX"
as "$requester" "$cent" "deposit(uint256)" 100000000000000000000 >/dev/null || bad "deposit"

printf '127.0.0.2/32  DE  AS64501  residential  Loopback DE\n' >"$work/geo.txt"
node_port=$(free_port)  # fixed: the node is restarted below, the agents keep its URL
# start_node NAME: the node, its output in $work/NAME.out; its pid is node_pid.
start_node() {
  start "$1" "$IPSX" node --ledger ethereum --rpc "$RPC" --deployment "$dep" "${contracts_opt[@]}" \
    --data "$work/node" --keystore "$ks" --address "$market" --password-file "$work/pw" \
    --listen "127.0.0.1:$node_port" --fee-bps 250 --geo-static "$work/geo.txt" --confirmations 1
  node_pid=${pids[-1]}
  wait_for "$work/$1.out" 'http://127\.0\.0\.1:[0-9]+' 30
}
start_node node >"$work/url" || { bad "node: $(cat "$work/node.out")"; finish; exit 1; }
url=$(cat "$work/url")
export IPSX_NODE=$url
start whoami python3 "$here/whoami_server.py"
dest_port=$(wait_for "$work/whoami.out" '^[0-9]+$')
cat >"$work/de.toml" <<TOML
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]
[[ip]]
address = "127.0.0.2"
country = "DE"
type = "residential"
price = "0.001"
TOML
start provider "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$provider" --config "$work/de.toml"
wait_for "$work/provider.out" 'offer .* placed' 30 >/dev/null || bad "provider: $(cat "$work/provider.out")"
start gateway "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:0 \
  --max-price 0.002 --duration 20 --budget 1
gw=$(wait_for "$work/gateway.out" 'proxy on 127\.0\.0\.1:[0-9]+' 30 | grep -oE '[0-9.]+:[0-9]+$') ||
  bad "gateway: $(cat "$work/gateway.out")"
# fetch NAME: a page through the gateway from the DE provider's IP (retried for up to a minute:
# the gateway may be between leases, or the chain just back).
fetch() {
  local got=
  for _ in $(seq 30); do
    got=$(env -u no_proxy -u NO_PROXY curl -sS --max-time 10 -x "http://country-de:proxy-secret@$gw" \
      "http://127.0.0.1:$dest_port/" 2>/dev/null) && [[ $got == 127.0.0.2 ]] && break
    sleep 2
  done
  expect_eq "$1" "$got" 127.0.0.2
}
fetch "a lease through the provider before the chaos"

# ---- acknowledged transfers, then the chain takes them back -------------------------------------
base=1000000000000000  # 0.001 IPSX in base units
declare -a hashes=()
# transfer_all SINK N: N transfers of i x 0.001 IPSX from the requester to SINK, each reported
# included by the CLI; their Ethereum transaction hashes go to `hashes`.
transfer_all() {
  local sink=$1 n=$2 i out h
  for i in $(seq "$n"); do
    out=$("$IPSX" token transfer --to "$sink" --amount "0.00$i" --keystore "$ks" --address "$requester" \
      --password-file "$work/pw" 2>&1)
    h=$(grep -oE 'included in block [0-9]+, transaction 0x[0-9a-f]{64}' <<<"$out" | grep -oE '0x[0-9a-f]{64}')
    if [[ -n $h ]]; then hashes+=("$h"); else bad "transfer $i to $sink acknowledged: $out"; fi
  done
}
# status HASH: 0x1 for a transaction mined and successful, 0x0 reverted, empty if not on chain.
status() { "$CAST" receipt --async --json --rpc-url "$RPC" "$1" 2>/dev/null | jq -r '.status // empty' 2>/dev/null; }
sum() { python3 -c "import sys; n = int(sys.argv[1]); print(sum(range(1, n + 1)) * $base)" "$1"; }
balance() { "$CAST" call --rpc-url "$RPC" "$token" "balanceOf(address)(uint256)" "$1" 2>/dev/null | awk '{print $1}'; }
# recovered NAME SINK N: within a minute every acknowledged hash has a successful receipt again,
# the sink holds exactly the sum, the node is healthy.
recovered() {
  local name=$1 sink=$2 n=$3 t0=$SECONDS missing
  while :; do
    missing=0
    for h in "${hashes[@]}"; do
      [[ $(status "$h") == 0x1 ]] || missing=$((missing + 1))
    done
    ((missing == 0)) && [[ $(balance "$sink") == "$(sum "$n")" ]] &&
      [[ $(curl -s "$url/v1/health" | jq -r .status) == ok ]] && break
    if ((SECONDS - t0 > 60)); then
      bad "$name: after a minute $missing of ${#hashes[@]} acknowledged transactions are not on chain, sink $(balance "$sink"), want $(sum "$n")"
      return 1
    fi
    sleep 1
  done
  ok "$name: all ${#hashes[@]} acknowledged transactions on chain again within $((SECONDS - t0)) s, the sink holds exactly their sum"
}

n=4
snapshot=$("$CAST" rpc --rpc-url "$RPC" evm_snapshot | tr -d '"')
transfer_all "$sink1" "$n"
expect_eq "the CLI reported $n transfers included" "${#hashes[@]}" "$n"
# The node is frozen while the chain takes the transfers back and the test looks: it would send
# them again within a block, before the last one is looked at.
kill -STOP "$node_pid"
"$CAST" rpc --rpc-url "$RPC" evm_revert "$snapshot" >/dev/null
gone=$(for h in "${hashes[@]}"; do [[ -n $(status "$h") ]] || echo gone; done | grep -c gone)
kill -CONT "$node_pid"
expect_eq "a reorganisation took the $n transfers back" "$gone" "$n"
recovered "reorganisation" "$sink1" "$n"
wait_for "$work/node.out" 'is no longer on chain .*: sent again' 5 >/dev/null &&
  ok "the node says what it did" || bad "the node's log: $(grep 'ledger:' "$work/node.out" | head -5)"

# ---- anvil killed and started again from an older state ----------------------------------------
hashes=()
"$CAST" rpc --rpc-url "$RPC" anvil_dumpState | tr -d '"' |
  python3 -c 'import binascii, gzip, sys; sys.stdout.buffer.write(gzip.decompress(binascii.unhexlify(sys.stdin.read().strip()[2:])))' \
    >"$work/older-state.json" || bad "anvil_dumpState"
transfer_all "$sink2" "$n"
behind=$("$CAST" block-number --rpc-url "$RPC")
kill -KILL "$anvil_pid"
wait "$anvil_pid" 2>/dev/null
anvil_pid=
sleep 2  # the node sees the chain gone
"$ANVIL" --host 127.0.0.1 --port "$port" --silent --block-time 1 --load-state "$work/older-state.json" \
  >>"$work/anvil.log" 2>&1 &
anvil_pid=$!
for _ in $(seq 100); do "$CAST" chain-id --rpc-url "$RPC" >/dev/null 2>&1 && break; sleep 0.1; done
now=$("$CAST" block-number --rpc-url "$RPC")
((now < behind)) && ok "anvil is back $((behind - now)) blocks behind (block $now, was $behind)" ||
  bad "anvil is not behind: block $now, was $behind"
recovered "anvil restarted behind" "$sink2" "$n"

# ---- the node stopped, and the chain takes back what it acknowledged while it is down ----------
hashes=()
snapshot=$("$CAST" rpc --rpc-url "$RPC" evm_snapshot | tr -d '"')
transfer_all "$sink3" 2
kill -TERM "$node_pid"
wait "$node_pid" 2>/dev/null
"$CAST" rpc --rpc-url "$RPC" evm_revert "$snapshot" >/dev/null
gone=$(for h in "${hashes[@]}"; do [[ -n $(status "$h") ]] || echo gone; done | grep -c gone)
expect_eq "with the node down, the chain took its 2 transfers back" "$gone" 2
start_node node2 >/dev/null || bad "the node restarts: $(cat "$work/node2.out")"
expect_out "the restarted node knows what it acknowledged" 'watching [0-9]+ transaction\(s\) acknowledged before the restart' \
  cat "$work/node2.out"
recovered "node restarted after a rollback" "$sink3" 2

# ---- nothing wedged ------------------------------------------------------------------------------
expect_out "the requester's next transfer goes through" 'included in block [0-9]+, transaction 0x' \
  "$IPSX" token transfer --to "$sink1" --amount 1 --keystore "$ks" --address "$requester" --password-file "$work/pw"
# settled N: at least N deals, each closed on chain and rated by both sides.
settled() {
  local deals opened closed
  deals=$(curl -s "$url/v1/deals?party=$requester")
  opened=$(jq '.deals | length' <<<"$deals")
  closed=$(jq '[.deals[] | select(.ledger.state == "closed" and .ledger.ratedByProvider and .ledger.ratedByRequester)] | length' <<<"$deals")
  [[ $opened -ge $1 && $opened == "$closed" ]]
}
# The lease from before the chaos ends (its close and ratings may have been taken back and sent
# again too); then a new lease: the market opens a deal on the chain that came back.
for _ in $(seq 60); do settled 1 && break; sleep 1; done
fetch "a new lease through the provider after the chaos"
for _ in $(seq 90); do settled 2 && break; sleep 1; done
settled 2 && ok "every deal of the run ended closed on chain and rated by both sides" ||
  bad "deals: $(curl -s "$url/v1/deals?party=$requester" | jq -c '[.deals[] | {id: .id[0:10], ledger: .ledger.state, p: .ledger.ratedByProvider, r: .ledger.ratedByRequester}]')"
expect_eq "the requester's wallet reserves nothing any more (read with cast)" \
  "$(call "$cent" "wallet(address)(uint256,uint256)" "$requester" | awk '{print $2}')" 0
expect_eq "the node counts every token" "$(curl -s "$url/v1/ledger/supply" | jq -r .conserved)" true
metric() { curl -s "$url/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
resent=$(metric ipsx_eth_resent_total)
((${resent:-0} >= 2)) && ok "the restarted node's metrics count $resent transactions sent again" ||
  bad "ipsx_eth_resent_total: '$resent', want at least 2"
expect_eq "... and none lost" "$(metric ipsx_eth_lost_total)" 0
grep -h 'ipsx node: ledger:' "$work/node.out" "$work/node2.out" | head -30
finish
