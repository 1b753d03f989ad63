#!/usr/bin/env bash
# End to end on the Ethereum backend: the data plane and settlement with the ledger in contracts
# on a local anvil, each part its own process. `ipsx eth deploy`, then `ipsx node --ledger
# ethereum`, a provider (`ipsx provide`, its exit leaving from 127.0.0.2 in DE) and a requester's
# `ipsx gateway` with 20-second leases. curl through the gateway sees the leased IP; when the
# lease ends the provider closes the deal on chain with the best balance proof and both sides
# rate, every transaction built by the node and checked by the wallet before it signs (contract,
# call data, nonce, chain, fees). The chain is checked with foundry's cast: the deal closed, the
# provider paid, the market's commission, both ratings.
# usage: dataplane_eth_e2e.sh IPSX [CONTRACTS_DIR]   (CONTRACTS_DIR: the build's contract JSON)
set -uo pipefail
IPSX=$1
CONTRACTS=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
use_foundry
for t in curl jq python3; do command -v $t >/dev/null || { echo "$t is required"; exit 1; }; done
contracts_opt=()
[[ -n $CONTRACTS ]] && contracts_opt=(--contracts "$CONTRACTS")
# (Waits for these processes only: anvil, stopped after this, is a child too.)
on_exit() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait "${pids[@]}" 2>/dev/null; }

keep_traffic_local
start_anvil --chain-id 1337 || { finish; exit 1; }

# ---- wallets with native coin for gas, the contracts, the sale over, the requester funded ------
echo pw >"$work/pw"
echo proxy-secret >"$work/proxy-pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
deployer=$(new) early=$(new) bounty=$(new) team=$(new) treasury=$(new)
market=$(new) provider=$(new) requester=$(new)
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
if out=$("$IPSX" eth deploy --rpc "$RPC" --keystore "$ks" --address "$deployer" \
  --password-file "$work/pw" --genesis "$work/g.toml" "${contracts_opt[@]}" --timeout 30 \
  --out "$dep" 2>&1); then
  ok "eth deploy"
else
  bad "eth deploy: $out"
  finish
  exit 1
fi
token=$(toml token "$dep")
cent=$(toml centralizer "$dep")
# The sale ends a second after the genesis (whole seconds on the chain): the block that
# finalizes it must come after that second, however fast the deploy was.
sale_end_ms=$(sed -n 's/^end = \([0-9]*\)$/\1/p' "$work/g.toml")
while (($(date +%s%3N) < sale_end_ms + 2000)); do sleep 0.2; done
expect_out "the sale is finalized" "" as "$early" "$token" "finalizeSale()"
expect_out "the requester gets 1000 IPSX" "" \
  as "$early" "$token" "transfer(address,uint256)" "$requester" 1000000000000000000000
expect_out "the requester deposits 100 IPSX into its Centralizer wallet" "" \
  as "$requester" "$cent" "deposit(uint256)" 100000000000000000000

# ---- the node, the destination, the provider, the gateway: each its own process ----------------
printf '127.0.0.2/32  DE  AS64501  residential  Loopback DE\n' >"$work/geo.txt"
geo_data=()
[[ -d $root/node_modules/@ip-location-db ]] && geo_data=(--geo-data "$root/node_modules/@ip-location-db")
start node "$IPSX" node --ledger ethereum --rpc "$RPC" --deployment "$dep" "${contracts_opt[@]}" \
  --data "$work/node" --keystore "$ks" --address "$market" --password-file "$work/pw" \
  --listen 127.0.0.1:0 --fee-bps 250 --geo-static "$work/geo.txt" "${geo_data[@]}"
url=$(wait_for "$work/node.out" 'http://127\.0\.0\.1:[0-9]+' 30) &&
  ok "the node listens at $url on the Ethereum ledger" || bad "the node starts: $(cat "$work/node.out")"
start whoami python3 "$here/whoami_server.py"
dest_port=$(wait_for "$work/whoami.out" '^[0-9]+$') || bad "the destination starts"

cat >"$work/de.toml" <<TOML
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]   # the destination is on loopback; an operator would not allow it
[[ip]]
address = "127.0.0.2"
country = "DE"
type = "residential"
price = "0.001"
TOML
start provider "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$provider" --config "$work/de.toml"
wait_for "$work/provider.out" 'offer .* for 127\.0\.0\.2 \(DE\) placed' 20 >/dev/null &&
  ok "the provider proves 127.0.0.2 and places its offer, signed for the chain's domain" ||
  bad "provider: $(cat "$work/provider.out")"
start gateway "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:0 \
  --max-price 0.002 --duration 20 --budget 1
gw=$(wait_for "$work/gateway.out" 'proxy on 127\.0\.0\.1:[0-9]+' 20 | grep -oE '[0-9.]+:[0-9]+$') &&
  ok "the gateway listens on $gw" || bad "the gateway starts: $(cat "$work/gateway.out")"

# curl must use the gateway for 127.0.0.1 too: keep_traffic_local's no_proxy would bypass it.
got=$(env -u no_proxy -u NO_PROXY curl -sS --max-time 30 -w ' %{http_code}' \
  -x "http://country-de:proxy-secret@$gw" "http://127.0.0.1:$dest_port/" 2>&1 | tr '\n' ' ')
expect_eq "country-de leaves from the provider's IP, the deal opened on chain" "$got" "127.0.0.2  200"
deal=$(curl -s "$url/v1/deals?party=$requester" | jq -r '.deals[0].id')
[[ $deal == 0x* ]] && ok "the node lists the deal $deal" || bad "no deal at the node"

# ---- the lease ends: settlement on chain, through the node, each transaction checked ----------
wait_for "$work/provider.out" 'settled on the ledger \([a-z_]+\): paid' 90 >/dev/null &&
  ok "the provider closes the deal on chain with the requester's best balance proof" ||
  bad "provider settlement: $(cat "$work/provider.out")"
wait_for "$work/provider.out" 'rated the requester [0-9]/5' 30 >/dev/null &&
  ok "the provider rates the requester" || bad "provider rating: $(cat "$work/provider.out")"
wait_for "$work/gateway.out" 'rated the provider [0-9]/5' 30 >/dev/null &&
  ok "the gateway rates the provider" || bad "gateway rating: $(cat "$work/gateway.out")"

# The deal's request and fill from its DealOpened event, then what the Centralizer keeps of it:
# the commitment, claimed, admitted, challengeEnds, status (2: closed), reason, rated by each.
opened=$("$CAST" logs --rpc-url "$RPC" --from-block 0 --address "$cent" --json \
  "DealOpened(bytes32,address,address,address,uint256,uint64,uint256,uint64,bytes32,bytes32,uint64,uint16)" "$deal" |
  jq -r '.[0].data')
mapfile -t f < <("$CAST" abi-decode "f()(address,uint256,uint64,uint256,uint64,bytes32,bytes32,uint64,uint16)" "$opened" | awk '{print $1}')
state=$("$CAST" call --rpc-url "$RPC" "$cent" "deal(bytes32,uint256)(bytes32,uint256,uint256,uint64,uint8,uint8,bool,bool)" \
  "${f[6]}" "${f[7]}" 2>&1 | awk '{print $1}' | tr '\n' ' ')
expect_out "on chain: the deal is closed (status 2), paid, rated by both ($state)" \
  '^0x[0-9a-f]{64} [1-9][0-9]* [0-9]+ [0-9]+ 2 [0-9] true true $' echo "$state"
earned=$(call "$cent" "wallet(address)(uint256,uint256)" "$provider")
expect_out "on chain: the provider was paid into its Centralizer wallet ($earned)" '^[1-9][0-9]* 0$' echo "$earned"
fee=$(call "$cent" "wallet(address)(uint256,uint256)" "$market")
expect_out "on chain: the market took its commission ($fee)" '^[1-9][0-9]* 0$' echo "$fee"
expect_eq "on chain: the requester's wallet reserves nothing any more" \
  "$(call "$cent" "wallet(address)(uint256,uint256)" "$requester" | awk '{print $2}')" 0
expect_out "on chain: the provider has one rating" '^1 [1-5]$' call "$cent" "rating(address)(uint64,uint64)" "$provider"
expect_out "on chain: the requester has one rating" '^1 [1-5]$' call "$cent" "rating(address)(uint64,uint64)" "$requester"
expect_out "the node reads the same from the chain" '"wallet":\{"balance":"0\.0*[1-9]' \
  curl -s "$url/v1/ledger/accounts/$provider"

for p in "${pids[@]:2}"; do kill -TERM "$p"; done
rc=0
for p in "${pids[@]:2}"; do wait "$p" || { rc=$?; echo "process $p: status $rc"; }; done
expect_eq "the provider and the gateway stop cleanly on SIGTERM" "$rc" 0
finish
