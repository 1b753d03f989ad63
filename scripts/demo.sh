#!/usr/bin/env bash
# The demo: what exists today, end to end, with the real `ipsx` binary.
# This is an early demo: wallets and signatures, the embedded ledger (token, crowd sale,
# Centralizer wallets, blocks) and the market (signed orders matched into deals on the ledger).
# The data plane that carries traffic (gateway and exit) and the node's API are not built yet.
set -euo pipefail
IPSX=${1:-build/bin/ipsx}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

echo "IPSX early demo: wallets, signatures, the embedded ledger and the market (gateway and exit come later)."
printf 'demo-password\n' >"$work/password"
ks=$work/keystore

step "A provider and a requester each create a wallet (Ethereum keystore v3, scrypt)"
provider=$(run "$IPSX" wallet new --keystore "$ks" --password-file "$work/password")
echo "$provider"
requester=$(run "$IPSX" wallet new --keystore "$ks" --password-file "$work/password" --kdf pbkdf2)
echo "$requester"
run "$IPSX" wallet list --keystore "$ks"

step "The provider signs an offer as EIP-712 typed data (what MetaMask's eth_signTypedData_v4 signs)"
sed "s/PROVIDER/$provider/" "$here/demo/offer.json" >"$work/offer.json"
run "$IPSX" wallet hash-typed-data "$work/offer.json"
sig=$(run "$IPSX" wallet sign-typed-data --keystore "$ks" --address "$provider" \
  --password-file "$work/password" "$work/offer.json")
echo "$sig"

step "Anyone recovers the signer from the offer and its signature"
signer=$(run "$IPSX" wallet recover --typed-data "$work/offer.json" --signature "$sig")
echo "$signer"
[[ $signer == "$provider" ]] && echo "-> the offer was signed by the provider"

step "A tampered offer no longer recovers to the provider"
sed 's/"DE"/"US"/' "$work/offer.json" >"$work/tampered.json"
tampered=$(run "$IPSX" wallet recover --typed-data "$work/tampered.json" --signature "$sig")
echo "$tampered"
[[ $tampered != "$provider" ]] && echo "-> a different address: the change is detected"

step "The requester signs a plain message (EIP-191 personal_sign) and it is verified"
msig=$(run "$IPSX" wallet sign-message --keystore "$ks" --address "$requester" \
  --password-file "$work/password" "I accept offer 1")
echo "$msig"
run "$IPSX" wallet recover --message "I accept offer 1" --signature "$msig"

step "Bad input gets a clear error"
printf 'not-the-password\n' >"$work/wrong"
run "$IPSX" wallet sign-message --keystore "$ks" --address "$requester" \
  --password-file "$work/wrong" "hi" || true
run "$IPSX" wallet recover --message hi --signature 0x1234 || true

step "The exchange's ledger is created: 1.8 billion IPSX at genesis, half of it for the crowd sale"
for who in early bounty team treasury; do
  eval "$who=\$(\"$IPSX\" wallet new --keystore \"$ks\" --password-file \"$work/password\" --light 2>/dev/null)"
done
run "$IPSX" ledger genesis --out "$work/genesis.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --native "$provider=10" --native "$requester=10" \
  --sale-seconds 3 --hard-cap 1000 --challenge-seconds 60
run "$IPSX" ledger init --data "$work/ledger" --genesis "$work/genesis.toml"
send() { run "$IPSX" ledger send --data "$work/ledger" --keystore "$ks" --password-file "$work/password" "$@"; }

step "The requester and the provider buy IPSX in the crowd sale (transfers stay locked until it ends)"
send --address "$requester" buy --value 2
send --address "$provider" buy --value 1
send --address "$requester" transfer --to "$provider" --amount 1 || true
echo "-> waiting for the 3-second sale window to close"
sleep 3
send --address "$team" finalize-sale
send --address "$requester" claim-unsold

step "The requester deposits IPSX into its Centralizer wallet, ready to back requests"
send --address "$requester" deposit --amount 15000
send --address "$requester" transfer --to "$provider" --amount 1.5

step "The provider offers two IPs, signed; the requester asks for one in Germany, signed"
market=$("$IPSX" wallet new --keystore "$ks" --password-file "$work/password" --light 2>/dev/null)
order() { run "$IPSX" order "$@" --keystore "$ks" --password-file "$work/password" --market "$market"; }
order offer --address "$provider" --ip 127.0.0.2 --country DE --type residential --price 0.0001 \
  --out "$work/offer-de.json" 2>/dev/null
order offer --address "$provider" --ip 127.0.0.3 --country FR --type datacenter --price 0.00005 \
  --out "$work/offer-fr.json" 2>/dev/null
order request --address "$requester" --countries DE --duration 600 --max-price 0.0002 \
  --out "$work/request.json" 2>/dev/null
cat "$work/offer-de.json"

step "The market verifies and matches them: a deal opens on the ledger, funds reserved"
mk() { run "$IPSX" market "$1" --data "$work/ledger" --journal "$work/market" --keystore "$ks" \
  --address "$market" --password-file "$work/password" "${@:2}"; }
mk place "$work/offer-de.json" "$work/offer-fr.json"
mk place "$work/request.json"
mk show

step "Every transaction is in a hash-chained block; the whole ledger re-verifies from genesis"
run "$IPSX" ledger show --data "$work/ledger"
run "$IPSX" ledger events --data "$work/ledger" --account "$requester"
run "$IPSX" ledger verify --data "$work/ledger"

echo
echo "Demo complete."
