#!/usr/bin/env bash
# End to end: `ipsx ledger` driven as a user would: genesis, init, a crowd sale, transfers,
# wallets, queries, verification, and bad input (a clear error, a non-zero exit, nothing changed).
# usage: ledger_e2e.sh IPSX
set -uo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"

echo pw >"$work/pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) alice=$(new) bob=$(new)
data=$work/data
send() { "$IPSX" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@"; }

expect_out "genesis file" 'rate = "10000"' "$IPSX" ledger genesis --out - --early-adopters "$early" \
  --bounty "$bounty" --team "$team" --treasury "$treasury" --native "$alice=5" --sale-seconds 2
# The sale runs an hour, but its hard cap is 3 native coins: it ends when alice has bought the
# cap, an event the test makes, not a wall-clock window a slow machine (the sanitizer run) could
# miss. It starts at a whole second: a chain counts time in seconds.
sale_start_ms=$(($(date +%s) * 1000))
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" --team "$team" \
  --treasury "$treasury" --native "$alice=5" --sale-start-ms "$sale_start_ms" --hard-cap 3 \
  --sale-seconds 3600 2>/dev/null
expect_error "genesis over the pool" "900,000,000" "$IPSX" ledger genesis --early-adopters "$early" \
  --bounty "$bounty" --team "$team" --treasury "$treasury" --hard-cap 100000000
expect_error "a sale start that is not a whole second" "--sale-start-ms must be a whole second" \
  "$IPSX" ledger genesis --early-adopters "$early" --bounty "$bounty" --team "$team" \
  --treasury "$treasury" --sale-start-ms 1767225600001
expect_error "a sale of a billion years" "--sale-seconds must be 1 .. 315360000" "$IPSX" ledger genesis \
  --early-adopters "$early" --bounty "$bounty" --team "$team" --treasury "$treasury" \
  --sale-seconds 31536000000000000
expect_error "genesis with a bad address" "checksum|address" "$IPSX" ledger genesis \
  --early-adopters 0x123 --bounty "$bounty" --team "$team" --treasury "$treasury"
expect_out "init" "genesis block 0x" "$IPSX" ledger init --data "$data" --genesis "$work/g.toml"
expect_error "init twice with another genesis" "different genesis" bash -c \
  "sed 's/^chain_id = .*/chain_id = 7/' '$work/g.toml' >'$work/g2.toml' && '$IPSX' ledger init --data '$data' --genesis '$work/g2.toml'"

expect_out "buy in the sale" "purchase buyer=$alice value=1500000000000000000 tokens=15000000000000000000000" \
  send --address "$alice" buy --value 1.5
expect_error "transfer before finalize" "after the sale is finalized" send --address "$alice" transfer --to "$bob" --amount 1
expect_error "buy more native coin than held" "native balance is 3.5" send --address "$alice" buy --value 4
expect_error "finalize too early" "still open" send --address "$team" finalize-sale
expect_out "buy the rest of the cap" "purchase buyer=$alice value=1500000000000000000" \
  send --address "$alice" buy --value 1.5
expect_out "finalize once the hard cap is reached" "sale_finalized" send --address "$team" finalize-sale
expect_out "claim unsold" "unsold_claimed" send --address "$alice" claim-unsold
expect_error "claim unsold twice" "already claimed" send --address "$alice" claim-unsold
expect_out "deposit" "deposit account=$alice" send --address "$alice" deposit --amount 100
expect_out "transfer" "transfer from=$alice to=$bob amount=2500000000000000000" \
  send --address "$alice" transfer --to "$bob" --amount 2.5
expect_out "json operation" "withdrawal" send --address "$alice" json --json '{"op":"withdraw","amount":"1000000000000000000"}'
expect_error "unknown json operation" "unknown operation 'mint'" send --address "$alice" json --json '{"op":"mint"}'
expect_error "bad amount text" "decimal places" send --address "$alice" transfer --to "$bob" --amount 0.0000000000000000001
expect_error "wrong password" "wrong password" "$IPSX" ledger send --data "$data" --keystore "$ks" \
  --password-file <(echo nope) --address "$alice" deposit --amount 1
expect_out "show" "wallet 99 " "$IPSX" ledger show --data "$data"
expect_out "show conserved" "\\(conserved\\)" "$IPSX" ledger show --data "$data"
expect_out "events of an account" "#[0-9]+\\.0 transfer from=$alice" "$IPSX" ledger events --data "$data" --account "$alice"
expect_out "block" "parent 0x" "$IPSX" ledger block --data "$data" 1
expect_out "verify" "^ok: [0-9]+ blocks, 7 transactions, 7 signatures checked" "$IPSX" ledger verify --data "$data"

# Tampering with the store is found by verify (every block from genesis). A start loads the
# state snapshot the last clean close left (the ledger's own earlier, checked work) and replays
# only the blocks after it, so it finds an edit before the snapshot only once the snapshot is
# gone or damaged: then it replays from genesis.
sqlite3_bin=$(command -v sqlite3 || true)
if [[ -n $sqlite3_bin ]]; then
  cp -r "$data" "$work/tampered"
  "$sqlite3_bin" "$work/tampered/ledger.db" "UPDATE blocks SET state_digest = zeroblob(32) WHERE number = 3"
  expect_out "a start trusts its snapshot" "height 7 " "$IPSX" ledger show --data "$work/tampered"
  expect_error "tampered store fails verify" "corrupted at block 3" "$IPSX" ledger verify --data "$work/tampered"
  "$sqlite3_bin" "$work/tampered/ledger.db" "UPDATE snapshot SET body = x'00'"
  expect_error "with the snapshot damaged, a start replays and refuses" "corrupted at block 3" \
    "$IPSX" ledger show --data "$work/tampered"
fi

# R2's soft cap: a sale that ends below it fails. Its coin was held by the sale, finalize is
# refused, transfers never unlock, and each buyer takes its coin back once. The failure needs the
# window to end: the buy comes first, two commands after the genesis (the window is 10 s, a bound
# a loaded machine keeps), the other checks while the window runs out, then the test waits for
# its end.
soft_start_ms=$(($(date +%s) * 1000))
"$IPSX" ledger genesis --out "$work/soft.toml" --early-adopters "$early" --bounty "$bounty" --team "$team" \
  --treasury "$treasury" --native "$alice=5" --native "$bob=5" --sale-start-ms "$soft_start_ms" \
  --hard-cap 3 --soft-cap 2 --sale-seconds 10 2>/dev/null
data_soft=$work/data-soft
"$IPSX" ledger init --data "$data_soft" --genesis "$work/soft.toml" >/dev/null
ssend() { "$IPSX" ledger send --data "$data_soft" --keystore "$ks" --password-file "$work/pw" "$@"; }
expect_out "buy below the soft cap" "purchase buyer=$alice value=1000000000000000000" ssend --address "$alice" buy --value 1
expect_out "soft cap in the genesis" 'soft_cap = "2"' cat "$work/soft.toml"
expect_error "a soft cap above the hard cap" "sale.soft_cap .* is above sale.hard_cap" "$IPSX" ledger genesis \
  --early-adopters "$early" --bounty "$bounty" --team "$team" --treasury "$treasury" --hard-cap 3 --soft-cap 4
expect_error "refund while the sale is open" "the sale has not ended" ssend --address "$alice" refund
while (($(date +%s) * 1000 < soft_start_ms + 10000)); do sleep 0.2; done
expect_error "finalize below the soft cap" "ended below its soft cap" ssend --address "$team" finalize-sale
expect_error "transfer after a failed sale" "after the sale is finalized" ssend --address "$alice" transfer --to "$bob" --amount 1
expect_error "refund without buying" "nothing bought" ssend --address "$bob" refund
expect_out "refund" "refunded buyer=$alice value=1000000000000000000 tokens=10000000000000000000000" \
  ssend --address "$alice" refund
expect_error "refund twice" "already refunded" ssend --address "$alice" refund
expect_out "show a failed sale" "failed below its soft cap, 1 refunded" "$IPSX" ledger show --data "$data_soft"
expect_out "alice has her coin back" "$alice  tokens 0  native 5 " "$IPSX" ledger show --data "$data_soft"
expect_out "verify a failed sale" "^ok: " "$IPSX" ledger verify --data "$data_soft"
expect_error "no ledger" "no ledger" "$IPSX" ledger show --data "$work/nothing"

finish
