#!/usr/bin/env bash
# End to end: `ipsx order` and `ipsx market` driven as a user would, on a real ledger: signed
# orders matched into a deal opened on the ledger, the journal carried across invocations, and
# bad input (tampered, duplicated, foreign or malformed orders) refused with a reason.
# usage: market_e2e.sh IPSX
set -uo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

echo pw >"$work/pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) provider=$(new) requester=$(new) market=$(new)
data=$work/ledger
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" --team "$team" \
  --treasury "$treasury" --sale-seconds 1 2>/dev/null
"$IPSX" ledger init --data "$data" --genesis "$work/g.toml" >/dev/null
sleep 1
send() { "$IPSX" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@" >/dev/null; }
send --address "$team" finalize-sale
send --address "$early" transfer --to "$requester" --amount 1000
send --address "$requester" deposit --amount 1000

order() { "$IPSX" order "$@" --keystore "$ks" --password-file "$work/pw" --market "$market" --genesis "$work/g.toml" 2>/dev/null; }
mk() { "$IPSX" market "$1" --data "$data" --journal "$work/journal" --keystore "$ks" --address "$market" \
  --password-file "$work/pw" "${@:2}"; }
order offer --address "$provider" --ip 127.0.0.2 --country DE --price 0.001 --out "$work/o1.json"
order offer --address "$provider" --ip 127.0.0.3 --country FR --price 0.0001 --out "$work/o2.json"
order request --address "$requester" --countries DE --duration 60 --max-price 0.002 --out "$work/r1.json"
expect_out "offers placed" "o2.json: order 2 placed" mk place "$work/o1.json" "$work/o2.json"
expect_out "request matched into a deal at the offer's price" \
  "deal 0x[0-9a-f]{64} opened: provider $provider requester $requester price 1000000000000000 base units/s for 60 s, deposit 0.06 IPSX" \
  mk place "$work/r1.json"
expect_out "the deal is on the ledger" "deal_opened .* market=$market" \
  "$IPSX" ledger events --data "$data" --account "$requester"
expect_out "the requester's funds are reserved" "reserved 0.06" "$IPSX" ledger show --data "$data"
expect_out "the journal carries the book across runs" "2 offers live, 0 requests resting, 1 deals open" mk show
expect_error "an order placed twice" "placed before" mk place "$work/o1.json"
sed 's/"price_per_second\|"pricePerSecond": "[0-9]*"/"pricePerSecond": "1"/' "$work/o2.json" >"$work/tampered.json"
expect_error "a tampered order" "signed by 0x" mk place "$work/tampered.json"
"$IPSX" order offer --address "$provider" --ip 127.0.0.4 --price 0.001 --keystore "$ks" --password-file "$work/pw" \
  --market "$early" --genesis "$work/g.toml" --out "$work/foreign.json" 2>/dev/null
expect_error "an order for another market" "offer.market" mk place "$work/foreign.json"
expect_error "an order with a bad field" "--country" "$IPSX" order offer --address "$provider" --ip 127.0.0.5 \
  --country XX --price 1 --keystore "$ks" --password-file "$work/pw" --market "$market" --genesis "$work/g.toml"
expect_error "an unknown protocol" "unknown protocol 'gopher'" "$IPSX" order offer --address "$provider" \
  --ip 127.0.0.5 --protocols gopher --price 1 --keystore "$ks" --password-file "$work/pw" --market "$market" \
  --genesis "$work/g.toml"
expect_error "an order that names no ledger" "give the ledger to sign for: --genesis FILE" "$IPSX" order offer \
  --address "$provider" --ip 127.0.0.5 --price 1 --keystore "$ks" --password-file "$work/pw" --market "$market"
echo '{"nothing": 1}' >"$work/junk.json"
expect_error "not a signed order" "not a signed order" mk place "$work/junk.json"
expect_out "the ledger still verifies" "^ok: " "$IPSX" ledger verify --data "$data"

finish
