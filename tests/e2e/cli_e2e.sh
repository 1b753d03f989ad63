#!/usr/bin/env bash
# End to end: the `ipsx` client commands (docs/cli.md) against a running `ipsx node`, as a user
# would drive them: the crowd sale (show, buy, finalize, claim), balances, transfer, approve,
# deposit and withdraw; an offer and a matching request placed into a deal, the orders listed and
# one cancelled; the deal listed, shown, driven by both parties' status reports, closed by the
# provider and rated by both; the market's depth and trades. `--json` answers are read with jq;
# bad input (a malformed address, a bad amount, a wrong password, an unknown wallet, a refusal
# by the ledger, no node at the URL) ends with a clear message, a non-zero status and nothing on
# stdout.
# usage: cli_e2e.sh IPSX
set -uo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
node_pid=
on_exit() { [[ -n $node_pid ]] && kill "$node_pid" 2>/dev/null; }

echo pw >"$work/pw"
echo wrong >"$work/wrong-pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) buyer=$(new)
provider=$(new) requester=$(new) market=$(new)
# The sale runs an hour but its hard cap is 2 native coins: it ends when the buyer has bought the
# cap, an event the test makes, not a wall-clock window (which a slow machine would miss).
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --native "$buyer=10" --hard-cap 2 --sale-seconds 3600 2>/dev/null
"$IPSX" ledger init --data "$work/ledger" --genesis "$work/g.toml" >/dev/null

# The node checks offers' IPs: a static table places the loopback addresses, and the provider
# proves it sends from each (ipsx probe) before offering it. No exit serves these hand-made
# orders, so the node does not check exits here (its default would keep the offers from filling).
printf '127.0.0.2/32 DE AS64501 residential\n127.0.0.3/32 DE AS64502 residential\n' >"$work/geo.txt"
"$IPSX" node --data "$work/ledger" --keystore "$ks" --address "$market" --password-file "$work/pw" \
  --listen 127.0.0.1:0 --geo-static "$work/geo.txt" --offer-checks location,ownership >"$work/node.out" 2>&1 &
node_pid=$!
for _ in $(seq 100); do
  url=$(grep -oE 'http://127\.0\.0\.1:[0-9]+' "$work/node.out" | head -1)
  [[ -n $url ]] && break
  sleep 0.1
done
if [[ -n $url ]]; then ok "node listens on $url"; else bad "node starts: $(cat "$work/node.out")"; fi
export IPSX_NODE=$url # every command below finds the node here unless given --node

# as WALLET ARGS...: an ipsx command signed by WALLET.
as() {
  local who=$1
  shift
  "$IPSX" "$@" --keystore "$ks" --address "$who" --password-file "$work/pw"
}
# json_of NAME FILTER WANT CMD...: the command succeeds, its stdout is one JSON document, and jq
# FILTER on it prints WANT.
json_of() {
  local name=$1 filter=$2 want=$3 out got
  shift 3
  if ! out=$("$@" --json 2>"$work/stderr"); then
    bad "$name: failed: $(cat "$work/stderr")"
  elif [[ $(jq -s length <<<"$out" 2>/dev/null) != 1 ]]; then
    bad "$name: not one JSON document: $out"
  elif ! got=$(jq -r "$filter" <<<"$out" 2>&1); then
    bad "$name: $got"
  else
    expect_eq "$name" "$got" "$want"
  fi
  last=$out
}
# fails NAME PATTERN CMD...: the command fails, says PATTERN on stderr and nothing on stdout.
fails() {
  local name=$1 pattern=$2 out
  shift 2
  if out=$("$@" 2>"$work/stderr"); then
    bad "$name: succeeded: $out"
  elif [[ -n $out ]]; then
    bad "$name: printed on stdout: $out"
  elif grep -qiE -- "$pattern" "$work/stderr"; then
    ok "$name"
  else
    bad "$name: '$(cat "$work/stderr")' lacks '$pattern'"
  fi
}

# ---- The crowd sale ----
json_of "sale show: open, nothing raised" '"\(.state) \(.finalized) \(.raised) \(.rate) \(.softCap)"' \
  "open false 0 10000 0" "$IPSX" sale show
expect_out "sale show for people" "^sale: open; 0 raised of a 2 cap" "$IPSX" sale show
json_of "sale buy: 1 native coin buys 10000 IPSX (in base units)" \
  '[.op, (.events[] | select(.kind == "purchase") | .fields[] | select(.[0] == "tokens") | .[1])] | join(" ")' \
  "buy 10000000000000000000000" as "$buyer" sale buy --value 1
expect_eq "the wait is told on stderr" "$(grep -cE '^sending buy \.\.\. included in block [0-9]+$' "$work/stderr")" 1
fails "finalize before the end is refused by the ledger" "sale_not_finalizable|rejected" \
  as "$team" sale finalize
fails "a transfer before the sale ends is refused" "transfer|locked|rejected" \
  as "$early" token transfer --to "$requester" --amount 1
expect_out "the buyer buys the rest of the cap" "^buy 0x[0-9a-f]{64} in block [0-9]+" \
  as "$buyer" sale buy --value 1
expect_out "sale finalize once the hard cap is reached" "^finalizeSale 0x[0-9a-f]{64} in block [0-9]+" \
  as "$team" sale finalize
json_of "the buyer claims its share of the unsold" '.events[0].kind' "unsold_claimed" \
  as "$buyer" sale claim
json_of "sale show: finalized, 2 raised, 20000 sold" '"\(.state) \(.finalized) \(.raised) \(.sold)"' \
  "finalized true 2 20000" "$IPSX" sale show
fails "sale refund without a soft cap is refused, with the reason" "no soft cap" as "$buyer" sale refund

# ---- Tokens ----
json_of "transfer 1000 IPSX" '.op' "transfer" as "$early" token transfer --to "$requester" --amount 1000
json_of "deposit 100 into the wallet" '.op' "deposit" as "$requester" token deposit --amount 100
json_of "withdraw 1 from the wallet" '.op' "withdraw" as "$requester" token withdraw --amount 1
json_of "approve a spender" '.events[0].kind' "approval" \
  as "$requester" token approve --spender "$provider" --amount 5
json_of "the balance shows it all" '"\(.balance) \(.wallet.balance) \(.wallet.reserved) \(.nonce)"' \
  "901 99 0 3" "$IPSX" token balance "$requester"
expect_out "balance for people" "^$requester: 901 IPSX; wallet 99 IPSX \(0 reserved\)" \
  "$IPSX" token balance "$requester"
expect_out "--node overrides IPSX_NODE" "^$requester: 901 IPSX" \
  env IPSX_NODE=http://127.0.0.1:1 "$IPSX" token balance "$requester" --node "$url"

# ---- The environment: IPSX_NODE (exported above), IPSX_KEYSTORE, IPSX_PASSWORD_FILE ----
expect_out "the keystore and password file from the environment" "included" \
  env IPSX_KEYSTORE="$ks" IPSX_PASSWORD_FILE="$work/pw" \
  "$IPSX" token transfer --to 0x00000000000000000000000000000000000000fe --amount 1 --address "$early"
fails "the command line over the environment" "password|decrypt|mac" \
  env IPSX_KEYSTORE="$ks" IPSX_PASSWORD_FILE="$work/pw" \
  "$IPSX" token transfer --to 0x00000000000000000000000000000000000000fe --amount 1 --address "$early" \
  --password-file "$work/wrong-pw"
fails "neither a keystore nor IPSX_KEYSTORE: the default directory, not there yet" \
  "--keystore: .*/data/ipsx/keystore is neither a keystore file nor a directory \(.ipsx wallet new. makes one\)" \
  env -u IPSX_KEYSTORE "$IPSX" token transfer --to 0x00000000000000000000000000000000000000fe --amount 1 \
  --address "$early" --password-file "$work/pw"
expect_out "every node option names its variable" "Env:IPSX_NODE" "$IPSX" gateway --help
expect_out "foundry's ETH_RPC_URL and --rpc-url for the chain" "--rpc,--rpc-url.*Env:ETH_RPC_URL" \
  "$IPSX" eth deploy --help

# ---- Bad input ----
fails "a malformed address" "ADDRESS" "$IPSX" token balance 0xnope
json_of "an address the ledger never saw holds nothing" '"\(.balance) \(.nonce)"' "0 0" \
  "$IPSX" token balance 0x00000000000000000000000000000000000000ff
fails "a bad amount" "--amount" as "$early" token transfer --to "$requester" --amount 1.2.3
fails "a bad recipient" "--to" as "$early" token transfer --to bob --amount 1
fails "a wrong password" "password|decrypt|mac" \
  "$IPSX" token transfer --to "$requester" --amount 1 --keystore "$ks" --address "$early" \
  --password-file "$work/wrong-pw"
fails "a wallet not in the keystore" "0x00000000000000000000000000000000000000ff|no key|not found" \
  as 0x00000000000000000000000000000000000000ff token transfer --to "$requester" --amount 1
fails "more than the balance is refused by the ledger" "insufficient_funds" \
  as "$provider" token transfer --to "$requester" --amount 1
fails "no node at the URL" "127.0.0.1:1|refused|unavailable|connect" \
  "$IPSX" token balance "$requester" --node http://127.0.0.1:1
fails "no node at IPSX_NODE" "127.0.0.1:1|refused|unavailable|connect" \
  env IPSX_NODE=http://127.0.0.1:1 "$IPSX" sale show
fails "a score out of range" "score" as "$requester" deal rate --deal "0x$(printf '%064d' 1)" --score 7
fails "an unknown deal" "unknown_deal|no deal" "$IPSX" deal show "0x$(printf '%064d' 1)"

# ---- Orders ----
for ip in 127.0.0.2 127.0.0.3; do
  expect_out "the provider proves it sends from $ip" "proved: .* from $ip" \
    "$IPSX" probe --node "$url" --provider "$provider" --ip "$ip"
done
json_of "an offer is placed" '"\(.kind) \(.id) \(.deals | length)"' "offer 1 0" \
  as "$provider" offer place --ip 127.0.0.2 --country DE --price 0.001
json_of "a dearer offer is placed" '.id' "2" \
  as "$provider" offer place --ip 127.0.0.3 --country DE --price 0.002
dear=$(jq -r .hash <<<"$last")
json_of "a matching request opens a deal with the cheap offer" \
  '"\(.deals | length) \(.deals[0].provider) \(.deals[0].pricePerSecond)"' \
  "1 $provider 1000000000000000" \
  as "$requester" request place --countries DE --duration 600 --max-price 0.0015
deal=$(jq -r '.deals[0].id' <<<"$last")
expect_out "placing for people names the order" "^request 4 placed: 0x[0-9a-f]{64}$" \
  as "$requester" request place --countries DE --duration 600 --max-price 0.0001 --nonce 7
json_of "orders list filters by owner and side" '[.orders[].id] | join(",")' "1,2" \
  "$IPSX" orders list --owner "$provider" --side offer
fails "a cancel by another wallet is refused" "not_owner" as "$requester" orders cancel --order "$dear"
json_of "the owner cancels the dear offer" '"\(.cancelled) \(.state)"' "true closed" \
  as "$provider" orders cancel --order "$dear"
json_of "orders list by state" '[.orders[] | .kind] | join(",")' "offer" \
  "$IPSX" orders list --state busy

# ---- The deal ----
json_of "deal list by party" '"\(.deals | length) \(.deals[0].id) \(.deals[0].status.phase)"' \
  "1 $deal pending" "$IPSX" deal list --party "$requester"
expect_out "deal show for people" "provider reported none \(seq 0\)" "$IPSX" deal show "$deal"
json_of "the provider reports ready (seq 1)" '.status.phase' "ready" \
  as "$provider" deal report --deal "$deal" --party provider --status ready
json_of "the requester reports connected (seq 1)" '.status.phase' "active" \
  as "$requester" deal report --deal "$deal" --party requester --status connected
json_of "the provider reports again (seq 2 from the node)" '.deal.parties.provider.seq' "2" \
  as "$provider" deal report --deal "$deal" --party provider --status ready
fails "a report for the other party is refused" "bad_signature|wrong_party" \
  as "$provider" deal report --deal "$deal" --party requester --status closed
json_of "the requester reports closed" '.deal.parties.requester.state' "closed" \
  as "$requester" deal report --deal "$deal" --party requester --status closed
fails "a requester cannot close on the ledger" "not_a_party|provider|rejected" \
  as "$requester" deal close --deal "$deal"
json_of "the provider closes the deal on the ledger" \
  '[.events[] | select(.kind == "deal_closed")] | length' "1" \
  as "$provider" deal close --deal "$deal" --reason requester_closed
json_of "the requester rates the provider" '.op' "rate" \
  as "$requester" deal rate --deal "$deal" --score 5
json_of "the provider rates the requester" '.op' "rate" \
  as "$provider" deal rate --deal "$deal" --score 4
fails "rating twice is refused" "already_rated" as "$provider" deal rate --deal "$deal" --score 4
json_of "deal show: closed on the ledger, rated by both" \
  '"\(.ledger.state) \(.ledger.ratedByProvider) \(.ledger.ratedByRequester)"' "closed true true" \
  "$IPSX" deal show "$deal"
json_of "the deposit came back to the wallet" '"\(.wallet.balance) \(.wallet.reserved)"' "99 0" \
  "$IPSX" token balance "$requester"

# ---- Market data ----
json_of "depth in DE" '.country' "DE" "$IPSX" market depth --country DE --type residential
expect_out "depth for people" "^DE: [0-9]+ live offers" "$IPSX" market depth --country DE
json_of "trades show the deal" '"\(.summary.count) \(.trades[0].deal)"' "1 $deal" \
  "$IPSX" market trades --country DE
expect_out "trades for people" "1 trade\(s\)" "$IPSX" market trades
fails "a bad country" "country" "$IPSX" market depth --country Germany

expect_out "the local market commands still need --data" "data" "$IPSX" market show --help
if kill -TERM "$node_pid" && wait "$node_pid"; then ok "node exits cleanly"; else bad "node exit"; fi
node_pid=
finish
