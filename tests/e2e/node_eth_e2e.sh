#!/usr/bin/env bash
# End to end: `ipsx node --ledger ethereum` on a local anvil, as a user runs it: wallets from
# `ipsx wallet new`, funded from anvil's first development account with foundry's cast, the
# contracts deployed with `ipsx eth deploy`, the sale finalized and the requester's wallet funded
# on chain (cast, signed with the keystore files), then the node started as its own process on the
# deployment file and driven with curl: health, a signed offer and a matching signed request
# (`ipsx order ... --deployment`) matched into a deal that the node opens on the chain (checked
# with cast), the depth, the latest block (checked against the chain), a clean exit on SIGTERM,
# and the book and the deal surviving a restart. Then bad input, each a clear error and a
# non-zero exit: an RPC URL with no node behind it, a malformed URL, the wrong chain, a
# deployment file without the Centralizer's address or with a syntax error, no contract at an
# address, no deployment file, and a data directory whose journal belongs to another deployment.
# Last, the chain stopped under a running node: health and its ledger routes answer 503
# ledger_unavailable with the reason; a chain without the contracts at the same URL is named as
# such; the contracts deployed there again at the same addresses make it healthy again.
# usage: node_eth_e2e.sh IPSX [CONTRACTS_DIR]   (CONTRACTS_DIR: the build's contract JSON)
set -uo pipefail
IPSX=$1
CONTRACTS=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
use_foundry
for t in curl jq; do command -v $t >/dev/null || { echo "$t is required"; exit 1; }; done
contracts_opt=()
[[ -n $CONTRACTS ]] && contracts_opt=(--contracts "$CONTRACTS")

node_pid=
on_exit() { [[ -n $node_pid ]] && kill "$node_pid" 2>/dev/null; }

keep_traffic_local
start_anvil --chain-id 1337 || { finish; exit 1; }

# ---- wallets, funded with native coin for gas ------------------------------------------------
echo pw >"$work/pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
deployer=$(new) early=$(new) bounty=$(new) team=$(new) treasury=$(new)
provider=$(new) requester=$(new) market=$(new)
dev_key=$("$CAST" wallet private-key "test test test test test test test test test test test junk" 0)
for a in "$deployer" "$early" "$requester" "$market"; do
  "$CAST" send --rpc-url "$RPC" --private-key "$dev_key" "$a" --value 10ether >/dev/null 2>&1 ||
    bad "fund $a"
done
expect_eq "the market operator has native coin for gas" \
  "$("$CAST" balance --rpc-url "$RPC" "$market")" 10000000000000000000

# ---- deploy (the sale is over at once, so tokens may move) ------------------------------------
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 1 --challenge-seconds 600 2>/dev/null ||
  bad "genesis"
sleep 2
dep=$work/deployment.toml
deploy() {
  "$IPSX" eth deploy --rpc "$RPC" --keystore "$ks" --address "$deployer" --password-file "$work/pw" \
    --genesis "$work/g.toml" "${contracts_opt[@]}" --timeout 30 --out "$1" 2>&1
}
if out=$(deploy "$dep"); then ok "eth deploy"; else bad "eth deploy: $out"; finish; exit 1; fi
token=$(toml token "$dep")
cent=$(toml centralizer "$dep")

expect_out "finalize the sale (anyone may, once it is over)" "" as "$early" "$token" "finalizeSale()"
expect_out "early adopters send the requester 1000 IPSX" "" \
  as "$early" "$token" "transfer(address,uint256)" "$requester" 1000000000000000000000
expect_out "the requester deposits 100 IPSX into its Centralizer wallet" "" \
  as "$requester" "$cent" "deposit(uint256)" 100000000000000000000
expect_eq "the requester's wallet before" "$(call "$cent" "wallet(address)(uint256,uint256)" "$requester")" \
  "100000000000000000000 0"

# ---- orders signed for the deployment's EIP-712 domain (its chain, the Centralizer) -----------
order() { "$IPSX" order "$@" --keystore "$ks" --password-file "$work/pw" --market "$market" --deployment "$dep" 2>/dev/null; }
order offer --address "$provider" --ip 127.0.0.2 --country DE --price 0.001 --out "$work/o1.json"
order offer --address "$provider" --ip 127.0.0.3 --country DE --price 0.002 --out "$work/o2.json"
order offer --address "$provider" --ip 127.0.0.4 --country FR --price 0.002 --out "$work/o3.json"
order request --address "$requester" --countries DE --duration 60 --max-price 0.0015 --out "$work/r1.json"
# The same offer signed for an embedded ledger of the same genesis: the node must refuse it.
"$IPSX" order offer --address "$provider" --ip 127.0.0.4 --country DE --price 0.001 --keystore "$ks" \
  --password-file "$work/pw" --market "$market" --genesis "$work/g.toml" --out "$work/embedded.json" 2>/dev/null

# ---- the node ---------------------------------------------------------------------------------
data=$work/node
# Starts the node on a free port (port 0; it prints the one it got) and waits for it.
start_node() {
  "$IPSX" node --ledger ethereum --rpc "$RPC" --deployment "$dep" "${contracts_opt[@]}" \
    --data "$data" --keystore "$ks" --address "$market" --password-file "$work/pw" \
    --listen 127.0.0.1:0 --offer-checks none "$@" >"$work/node.out" 2>&1 &
  node_pid=$!
  for _ in $(seq 300); do
    url=$(grep -oE 'listening on http://127\.0\.0\.1:[0-9]+' "$work/node.out" | grep -oE 'http://.*')
    [[ -n $url ]] && return 0
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$work/node.out"
  return 1
}
stop_node() { # SIGTERM, then the node's exit status
  kill -TERM "$node_pid"
  wait "$node_pid"
  local rc=$?
  node_pid=
  return $rc
}
req() { # req METHOD PATH [curl args...]: prints "STATUS BODY"
  local method=$1 path=$2
  shift 2
  curl -s -X "$method" -o "$work/body" -w '%{http_code}' "$@" "$url$path"
  echo " $(cat "$work/body")"
}
post() { local f=$1; shift; req POST /v1/orders -H 'Content-Type: application/json' --data-binary "@$f" "$@"; }

if start_node; then ok "node starts on the Ethereum ledger: $(head -1 "$work/node.out")"; else bad "node starts"; fi
expect_out "it names the chain and the Centralizer" "on the Ethereum ledger \(chain 1337, centralizer $cent\)" \
  cat "$work/node.out"
expect_out "health" '^200 .*"status":"ok"' req GET /v1/health
expect_out "health names the market" "\"market\":\"$market\"" req GET /v1/health
expect_out "health names the Centralizer as the verifying contract" \
  "\"verifyingContract\":\"$cent\"" req GET /v1/health
expect_out "the cheap offer is accepted" '^201 .*"accepted":true.*"kind":"offer"' post "$work/o1.json"
expect_out "the dear offer is accepted" '^201 .*"deals":\[\]' post "$work/o2.json"
expect_out "an order signed for the embedded ledger's domain is refused" '^422 .*"code":"bad_signature"' \
  post "$work/embedded.json"
# The request fills while the chain mines nothing (automine off): its answer waits for the
# openDeal's block, and the node serves everyone else meanwhile (the market does not wait on
# the API's thread, #19). Then one block is mined and the answer comes.
"$CAST" rpc --rpc-url "$RPC" evm_setAutomine false >/dev/null
curl -s -o "$work/r1.body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary "@$work/r1.json" "$url/v1/orders" >"$work/r1.status" &
placing=$!
for _ in $(seq 100); do
  [ "$("$CAST" nonce --block pending --rpc-url "$RPC" "$market" 2>/dev/null)" = 1 ] && break
  sleep 0.1
done
expect_eq "the openDeal waits in the chain's pool" "$("$CAST" nonce --block pending --rpc-url "$RPC" "$market")" 1
# (Each within 10 s: a node that waited for the block would hold them until its receipt
# deadline, 30 s here, however generous the machine.)
expect_out "meanwhile health answers" '^200 .*"status":"ok"' req GET /v1/health --max-time 10
expect_out "meanwhile the depth answers, the offer's place held by the fill" '^200 .*"liveOffers":2' \
  req GET '/v1/market/depth?country=DE' --max-time 10
expect_out "meanwhile another order is placed" '^201 .*"deals":\[\]' post "$work/o3.json" --max-time 10
if kill -0 "$placing" 2>/dev/null; then ok "the request's answer still waits for the block"; else
  bad "the request was answered before its deal was mined: $(cat "$work/r1.status" "$work/r1.body")"
fi
"$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
"$CAST" rpc --rpc-url "$RPC" evm_setAutomine true >/dev/null
wait "$placing"
out="$(cat "$work/r1.status") $(cat "$work/r1.body")"
if grep -qE "^201 .*\"deals\":\[\{.*\"id\":\"0x[0-9a-f]{64}\".*\"pricePerSecond\":\"1000000000000000\".*\"provider\":\"$provider\".*\"requester\":\"$requester\"" <<<"$out"; then
  ok "the request matches the cheap offer into a deal"
else
  bad "the request matches the cheap offer into a deal: $out"
fi
deal=$(grep -oE '"id":"0x[0-9a-f]{64}"' <<<"$out" | head -1 | grep -oE '0x[0-9a-f]{64}')

# The deal is on the chain: the Centralizer reserved its cost (60 s x 0.001 IPSX) and logged it.
expect_eq "on chain: the requester's wallet reserves the deal's cost" \
  "$(call "$cent" "wallet(address)(uint256,uint256)" "$requester")" "99940000000000000000 60000000000000000"
logs=$("$CAST" logs --rpc-url "$RPC" --address "$cent" --from-block 0 --json 2>&1)
opened=$("$CAST" keccak "DealOpened(bytes32,address,address,address,uint256,uint64,uint256,uint64,bytes32,bytes32,uint64,uint16)")
expect_eq "on chain: one DealOpened log for deal $deal" \
  "$(jq --arg s "$opened" --arg d "$deal" '[.[] | select(.topics[0] == $s and .topics[1] == $d)] | length' <<<"$logs" 2>&1)" 1
expect_eq "on chain: the market operator sent the openDeal" "$("$CAST" nonce --rpc-url "$RPC" "$market")" 1

expect_out "the depth shows the dear offer left (and the FR one) and the open deal" \
  '^200 .*"liveOffers":3.*"openDeals":1' req GET '/v1/market/depth?country=DE'
expect_out "the depth's offer level" '"residential":\[.*\{"ips":1,"orders":1,"pricePerSecond":"2000000000000000"\}' \
  req GET '/v1/market/depth?country=DE'
latest=$(req GET /v1/ledger/blocks/latest)
chain_block=$("$CAST" block latest --rpc-url "$RPC" --json 2>/dev/null)
num=$(printf '%d' "$(jq -r .number <<<"$chain_block")")
hash=$(jq -r .hash <<<"$chain_block")
expect_out "blocks/latest is the chain's latest block (number $num)" "^200 .*\"number\":${num}[,}]" echo "$latest"
expect_out "blocks/latest has the chain's hash" "\"hash\":\"$hash\"" echo "$latest"
expect_out "blocks/latest lists the openDeal transaction" '"txs":\["0x[0-9a-f]{64}"\]' echo "$latest"
expect_out "an order placed twice is 409" '^409 .*"code":"duplicate_order"' post "$work/o1.json"
# The client commands sign under the domain the node states (its chain and Centralizer).
out=$("$IPSX" offer place --node "$url" --keystore "$ks" --address "$provider" \
  --password-file "$work/pw" --ip 127.0.0.9 --country FR --price 0.01 --json 2>&1)
expect_out "ipsx offer place signs under the Ethereum domain" '"accepted":true' echo "$out"
expect_out "ipsx orders cancel too" '"cancelled":true' "$IPSX" orders cancel --node "$url" \
  --keystore "$ks" --address "$provider" --password-file "$work/pw" \
  --order "$(jq -r .hash <<<"$out" 2>/dev/null)" --json
expect_out "health names the token contract" "\"tokenContract\":\"$token\"" req GET /v1/health
# A ledger transaction through the node: it builds the EIP-1559 transaction, and the wallet
# decodes and checks it (contract, call data, nonce, chain, fees) before signing it.
expect_out "ipsx token transfer through the node: checked, signed and mined" '"op":"transfer"' \
  "$IPSX" token transfer --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --to "$provider" --amount 0.5 --json
expect_eq "on chain: the provider holds the 0.5 IPSX" \
  "$(call "$token" "balanceOf(address)(uint256)" "$provider")" 500000000000000000

if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi
if grep -q "shutting down" "$work/node.out"; then ok "clean shutdown reported"; else bad "no shutdown line"; fi
expect_out "the journal is in the data directory" "" test -d "$data/market"
expect_out "no embedded ledger was created there" "" test ! -e "$data/ledger.db"
# (A receipt deadline of 3 s from here, for the replacement below.)
if start_node --rpc-timeout 3; then ok "node restarts"; else bad "node restarts"; fi
expect_out "the book and the deal survive the restart" '^200 .*"liveOffers":3.*"openDeals":1' \
  req GET '/v1/market/depth?country=DE'
expect_out "orders are still known after the restart" '^409 .*"duplicate_order"' post "$work/r1.json"
expect_eq "no deal was opened twice" "$("$CAST" nonce --rpc-url "$RPC" "$market")" 1
expect_eq "the deal's reservation is unchanged" \
  "$(call "$cent" "wallet(address)(uint256,uint256)" "$requester")" "99940000000000000000 60000000000000000"
# A user's transaction the chain does not mine by the node's deadline holds the wallet's nonce:
# the CLI replaces it at that nonce with higher fees, and once a block comes it is mined once.
"$CAST" rpc --rpc-url "$RPC" evm_setAutomine false >/dev/null
nonce_before=$("$CAST" nonce --rpc-url "$RPC" "$requester")
"$IPSX" token transfer --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --to "$provider" --amount 0.25 --json >"$work/replaced.out" 2>"$work/replaced.err" &
sending=$!
pooled() { "$CAST" rpc --rpc-url "$RPC" txpool_content 2>/dev/null |
  jq -r --arg a "$(tr 'A-F' 'a-f' <<<"$requester")" '.pending | to_entries[] |
    select((.key | ascii_downcase) == $a) | .value[] | .hash + " " + .maxFeePerGas' 2>/dev/null; }
first=
for _ in $(seq 300); do first=$(pooled); [ -n "$first" ] && break; sleep 0.1; done
replaced=
for _ in $(seq 300); do
  replaced=$(pooled)
  [ -n "$replaced" ] && [ "${replaced%% *}" != "${first%% *}" ] && break
  sleep 0.1
done
if [ -n "$first" ] && [ -n "$replaced" ] && [ "${replaced%% *}" != "${first%% *}" ]; then
  ok "not mined by the deadline: replaced in the pool (max fee $((${first##* })) -> $((${replaced##* })) wei)"
else
  bad "no replacement in the pool: first '$first', now '$replaced'"
fi
"$CAST" rpc --rpc-url "$RPC" evm_mine >/dev/null
"$CAST" rpc --rpc-url "$RPC" evm_setAutomine true >/dev/null
if wait "$sending"; then ok "the transfer is answered once mined"; else
  bad "the transfer failed: $(cat "$work/replaced.err")"
fi
expect_eq "one nonce spent" "$("$CAST" nonce --rpc-url "$RPC" "$requester")" "$((nonce_before + 1))"
expect_eq "on chain: the provider holds 0.75 IPSX, paid once" \
  "$(call "$token" "balanceOf(address)(uint256)" "$provider")" 750000000000000000
expect_out "the answer is the mined version's transaction" "\"chainTx\":\"${replaced%% *}\"" cat "$work/replaced.out"
if stop_node; then ok "SIGTERM again: exit 0"; else bad "second SIGTERM: exit $?"; fi

# ---- bad input: a clear error naming the problem, a non-zero exit -------------------------------
fails() { # fails NAME PATTERN ARGS...: `ipsx node` with ARGS exits non-zero, saying PATTERN
  local name=$1 pattern=$2
  shift 2
  expect_error "$name" "$pattern" timeout 60 "$IPSX" node --keystore "$ks" --address "$market" \
    --password-file "$work/pw" --listen 127.0.0.1:0 "${contracts_opt[@]}" "$@"
}
dead=$(free_port)
fails "an RPC URL with no node behind it" "--rpc http://127.0.0.1:$dead.*eth_chainId.*(refused|unavailable)" \
  --ledger ethereum --rpc "http://127.0.0.1:$dead" --deployment "$dep" --data "$work/n1" --rpc-timeout 5
fails "a malformed RPC URL" "RPC URL .*only http" \
  --ledger ethereum --rpc "not a url" --deployment "$dep" --data "$work/n1"
sed 's/^chain_id = .*/chain_id = 999/' "$dep" >"$work/wrongchain.toml"
fails "the wrong chain" "runs chain 1337, the deployment is on chain 999" \
  --ledger ethereum --deployment "$work/wrongchain.toml" --data "$work/n1"
grep -v '^centralizer' "$dep" >"$work/nocent.toml"
fails "a deployment without the Centralizer's address" "nocent.toml: centralizer is missing" \
  --ledger ethereum --deployment "$work/nocent.toml" --data "$work/n1"
{ cat "$dep"; echo "block = = 3"; } >"$work/syntax.toml"
fails "a deployment file with a syntax error" "syntax.toml: not valid TOML.*line" \
  --ledger ethereum --deployment "$work/syntax.toml" --data "$work/n1"
sed "s/^token = .*/token = \"$early\"/" "$dep" >"$work/nocode.toml"
fails "no contract at the token's address" "no contract at $early" \
  --ledger ethereum --deployment "$work/nocode.toml" --data "$work/n1"
fails "no deployment file" "needs --deployment FILE" --ledger ethereum --rpc "$RPC" --data "$work/n1"
fails "a deployment file that is not there" "$work/none.toml: cannot read" \
  --ledger ethereum --deployment "$work/none.toml" --data "$work/n1"
fails "an unknown ledger" "--ledger.*(embedded|not in)" --ledger bitcoin --data "$work/n1"
fails "--rpc with the embedded ledger" "--rpc and --deployment are for --ledger ethereum" \
  --rpc "$RPC" --data "$work/n1"
if out=$(deploy "$work/second.toml"); then ok "a second deployment"; else bad "a second deployment: $out"; fi
fails "a data directory whose journal belongs to another deployment" "journal belongs to the deployment on chain 1337 \(centralizer $cent\)" \
  --ledger ethereum --deployment "$work/second.toml" --data "$data"
if [[ -e $work/n1/market ]]; then bad "a failed start created a journal"; else ok "no journal left by a failed start"; fi

# ---- the chain goes away while the node runs: ledger routes say so, the rest still serves -------
# Then a chain without the contracts answers at the same URL (anvil restarted without its state),
# and last the contracts are back where they were (deployed again by the same account at the
# same nonces): health follows each within a few seconds, on its own.
if start_node; then ok "node starts a third time"; else bad "node starts a third time"; fi
expect_out "health shows the head and its age" '^200 .*"head":\{"ageMs":[0-9]+,"number":[0-9]+' \
  req GET /v1/health
anvil_port=${RPC##*:}
stop_anvil
expect_out "with anvil gone, the latest block is 503 ledger_unavailable naming the call" \
  '^503 .*"code":"ledger_unavailable".*eth_(blockNumber|chainId)' req GET /v1/ledger/blocks/latest
expect_out "the market still answers" '^200 .*"liveOffers":3' req GET '/v1/market/depth?country=DE'
health_says() { # health_says PATTERN: polls /v1/health for up to 10 s
  for _ in $(seq 50); do
    req GET /v1/health | grep -qiE "$1" && return 0
    sleep 0.2
  done
  return 1
}
if health_says '^503 .*ledger_unavailable'; then ok "health: 503 with the chain gone"; else bad "health with the chain gone: $(req GET /v1/health)"; fi
"$ANVIL" --host 127.0.0.1 --port "$anvil_port" --silent --chain-id 1337 >"$work/anvil2.log" 2>&1 &
anvil_pid=$!
for _ in $(seq 100); do "$CAST" chain-id --rpc-url "$RPC" >/dev/null 2>&1 && break; sleep 0.1; done
if health_says "^503 .*no contract at $token"; then ok "health: 503 naming the missing contract on a reset chain"; else bad "health on a reset chain: $(req GET /v1/health)"; fi
expect_out "an order on the reset chain: 503 ledger_unavailable" '^503 .*ledger_unavailable' \
  post "$work/o2.json"
"$CAST" send --rpc-url "$RPC" --private-key "$dev_key" "$deployer" --value 10ether >/dev/null 2>&1 ||
  bad "fund the deployer again"
if out=$(deploy "$work/again.toml"); then ok "the contracts deployed again"; else bad "deploy again: $out"; fi
expect_eq "at the same addresses" "$(toml token "$work/again.toml") $(toml centralizer "$work/again.toml")" "$token $cent"
if health_says '^200 .*"status":"ok"'; then ok "health: ok again once the contracts are back"; else bad "health after the redeploy: $(req GET /v1/health)"; fi
if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi

finish
