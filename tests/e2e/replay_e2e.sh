#!/usr/bin/env bash
# Attacks with signatures taken out of their context (docs/threat-model.md), with the real
# binaries on two embedded ledgers that share a chain id (the default) and differ only in their
# genesis:
# - the operator's count-N fill: a market operator opens two deals for one request of count 2
#   from one offer of capacity 2, sending the ledger transactions itself. The second is refused:
#   one request's count is filled by distinct offers.
# - the cross-ledger replay: a requester's signed request, read from ledger A's node, is placed at
#   ledger B's node, where the requester also holds funds and an offer would match it. B refuses
#   it: every signature is bound to its ledger's genesis.
# - the cancel replay: a provider's signed cancel of its offer (an off-chain word to the market)
#   is sent to the ledger as the provider's cancelOrder transaction at nonce 0. The ledger
#   refuses it and the provider's nonce stays unused.
#
# usage: replay_e2e.sh IPSX
set -uo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
on_exit() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY

# Ledger A ($data, $work/g.toml) with a funded requester; a provider wallet that never sent a
# transaction there.
exchange_ledger "$IPSX" 60 100
de=$(new)
# Ledger B: the same holders and chain id, its genesis a second later.
dataB=$work/ledgerB
sleep 1
"$IPSX" ledger genesis --out "$work/gB.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 1 --challenge-seconds 60 2>/dev/null
"$IPSX" ledger init --data "$dataB" --genesis "$work/gB.toml" >/dev/null
sleep 1
sendB() { "$IPSX" ledger send --data "$dataB" --keystore "$ks" --password-file "$work/pw" "$@"; }
sendB --address "$team" finalize-sale >/dev/null
sendB --address "$early" transfer --to "$requester" --amount 1000 >/dev/null
sendB --address "$requester" deposit --amount 100 >/dev/null
chain() { sed -nE 's/^chain_id = ([0-9]+)$/\1/p' "$1"; }
expect_eq "both ledgers run the same chain id" "$(chain "$work/gB.toml")" "$(chain "$work/g.toml")"
domain() { "$IPSX" ledger show --data "$1" | grep -oE 'verifying address 0x[0-9a-fA-F]{40}'; }
domA=$(domain "$data") domB=$(domain "$dataB")
[[ -n $domA && -n $domB && $domA != "$domB" ]] &&
  ok "each signs under its own genesis-bound domain ($domA; $domB)" || bad "domains '$domA' and '$domB'"

# ---- the operator's count-N fill, on ledger B's files ------------------------------------------
sign() { # LEDGER-GENESIS ARGS...: an order signed for that ledger
  local g=$1
  shift
  "$IPSX" order "$@" --keystore "$ks" --password-file "$work/pw" --market "$market" --genesis "$g" 2>/dev/null
}
sign "$work/gB.toml" offer --address "$de" --ip 127.0.0.9 --country DE --price 0.001 --capacity 2 \
  >"$work/offer2.json"
sign "$work/gB.toml" request --address "$requester" --countries DE --count 2 --duration 60 \
  --max-price 0.002 >"$work/request2.json"
open_deal() {
  jq -nc --slurpfile o "$work/offer2.json" --slurpfile r "$work/request2.json" \
    '{op: "openDeal", offer: $o[0].offer, offerSignature: $o[0].signature,
      request: $r[0].request, requestSignature: $r[0].signature, pricePerSecond: "1000000000000000"}'
}
expect_out "the operator opens one deal for the request" 'DealOpened|deal' \
  sendB --address "$market" json --json "$(open_deal)"
expect_error "and a second from the same offer for the same request is refused" \
  'distinct offers|already filled|filled by' sendB --address "$market" json --json "$(open_deal)"
reservedB() { "$IPSX" ledger show --data "$dataB" | grep -i "^  $1 " | grep -oE 'reserved [0-9.]+' | awk '{print $2}'; }
expect_eq "the requester has one deal's deposit reserved on B (60 s at 0.001)" "$(reservedB "$requester")" 0.06

# ---- the nodes -----------------------------------------------------------------------------
# (Started here, not inside $(...): a subshell's `start` would not record the pid, and the node
# would outlive the test.)
for n in A B; do
  dir=$data
  [[ $n == B ]] && dir=$dataB
  start "node$n" "$IPSX" node --data "$dir" --keystore "$ks" --address "$market" \
    --password-file "$work/pw" --listen 127.0.0.1:0 --offer-checks none
done
urlA=$(wait_for "$work/nodeA.out" 'http://127\.0\.0\.1:[0-9]+') ||
  { bad "node A starts: $(cat "$work/nodeA.out")"; finish; exit 1; }
urlB=$(wait_for "$work/nodeB.out" 'http://127\.0\.0\.1:[0-9]+') ||
  { bad "node B starts: $(cat "$work/nodeB.out")"; finish; exit 1; }
health() { curl -s "$1/v1/health" | jq -r "$2"; }
expect_eq "node A's health names its genesis-bound verifying address" \
  "verifying address $(health "$urlA" .verifyingContract)" "$domA"
post() { # URL PATH FILE: the status, then the answer, on one line
  curl -s -o "$work/answer" -w '%{http_code} ' -X POST --data-binary @"$3" "$1$2"
  cat "$work/answer"
}

# ---- the cross-ledger replay -----------------------------------------------------------------
# B has an offer that a German request would take.
sign "$work/gB.toml" offer --address "$de" --ip 127.0.0.3 --country DE --price 0.001 >"$work/offerB.json"
expect_out "the provider's offer rests at B" '^201 ' post "$urlB" /v1/orders "$work/offerB.json"
# The requester places a request at A, where nothing matches it: it rests on A's public book.
sign "$work/g.toml" request --address "$requester" --countries DE --duration 60 --max-price 0.002 \
  >"$work/requestA.json"
hash=$(post "$urlA" /v1/orders "$work/requestA.json" | sed 's/^[0-9]* //' | jq -r .hash)
[[ $hash == 0x* ]] && ok "the request rests at A ($hash)" || bad "no request at A: $(cat "$work/answer")"
# Anyone reads it, signature included, from A's book and places it at B.
curl -s "$urlA/v1/orders/$hash" | jq '{request, signature}' >"$work/replayed.json"
expect_out "B refuses the request replayed from A (its signature is not for B)" '^422 .*bad_signature' \
  post "$urlB" /v1/orders "$work/replayed.json"
reserved=$(curl -s "$urlB/v1/ledger/accounts/$requester" | jq -r .wallet.reserved)
expect_eq "and opens no deal with the requester's funds on B" "$reserved" 0.06
expect_out "while the same request signed for B is accepted" '^201 .*"deals":\[\{' \
  post "$urlB" /v1/orders <(sign "$work/gB.toml" request --address "$requester" --countries DE \
    --duration 60 --max-price 0.002)

# ---- the cancel replay -------------------------------------------------------------------------
# (in France: the German request resting at A does not take it)
sign "$work/g.toml" offer --address "$de" --ip 127.0.0.2 --country FR --price 0.001 >"$work/offerA.json"
offer_hash=$(post "$urlA" /v1/orders "$work/offerA.json" | sed 's/^[0-9]* //' | jq -r .hash)
"$IPSX" order cancel --keystore "$ks" --password-file "$work/pw" --address "$de" \
  --genesis "$work/g.toml" --order-hash "$offer_hash" >"$work/cancel.json" 2>/dev/null
nonce() { curl -s "$urlA/v1/ledger/accounts/$de" | jq -r .nonce; }
expect_eq "the provider has sent no transaction on A" "$(nonce)" 0
jq -c --arg from "$de" '{from: $from, nonce: 0, op: {op: "cancelOrder", orderHash: .cancel.orderHash},
  signature}' "$work/cancel.json" >"$work/cancel-tx.json"
expect_out "the signed cancel, sent as a cancelOrder transaction at nonce 0, is refused" \
  '^4[0-9][0-9] ' post "$urlA" /v1/ledger/transactions "$work/cancel-tx.json"
expect_eq "the provider's nonce stays unused" "$(nonce)" 0
expect_out "the cancel itself still takes the offer off A's book" '^200 .*"cancelled":true' \
  post "$urlA" "/v1/orders/$offer_hash/cancel" "$work/cancel.json"

for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait 2>/dev/null
pids=()
expect_out "ledger A verifies from genesis" '^ok: ' "$IPSX" ledger verify --data "$data"
expect_out "ledger B verifies from genesis" '^ok: ' "$IPSX" ledger verify --data "$dataB"
finish
