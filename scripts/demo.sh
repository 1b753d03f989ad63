#!/usr/bin/env bash
# The demo: what exists today, end to end, with the real `ipsx` binary.
# Wallets and signatures, the embedded ledger (token, crowd sale, Centralizer wallets, blocks),
# the market (signed orders matched into deals on the ledger), then the exchange at work: a
# node, four providers in four countries and a requester's gateway, each its own process, with
# curl through the gateway by country. Exits 0 only if every check held.
set -euo pipefail
IPSX=${1:-build/bin/ipsx}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

echo "IPSX demo: wallets, signatures, the embedded ledger, the market, and the exchange at work on loopback."
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
# The sale runs an hour, with a hard cap of 3 native coins: the two purchases below reach it, and a
# sale that reached its cap can be finalized at once (no wall-clock window to wait for or miss).
run "$IPSX" ledger genesis --out "$work/genesis.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --native "$provider=10" --native "$requester=10" \
  --sale-seconds 3600 --hard-cap 3 --challenge-seconds 60
run "$IPSX" ledger init --data "$work/ledger" --genesis "$work/genesis.toml"
send() { run "$IPSX" ledger send --data "$work/ledger" --keystore "$ks" --password-file "$work/password" "$@"; }

step "The requester and the provider buy IPSX in the crowd sale (transfers stay locked until it ends)"
send --address "$requester" buy --value 2
send --address "$requester" transfer --to "$provider" --amount 1 || true
send --address "$provider" buy --value 1
echo "-> the sale reached its hard cap of 3: it can end now"
send --address "$team" finalize-sale
send --address "$requester" claim-unsold

step "The requester deposits IPSX into its Centralizer wallet, ready to back requests"
send --address "$requester" deposit --amount 15000
send --address "$requester" transfer --to "$provider" --amount 1.5

step "The provider offers two IPs, signed; the requester asks for one in Germany, signed"
market=$("$IPSX" wallet new --keystore "$ks" --password-file "$work/password" --light 2>/dev/null)
order() { run "$IPSX" order "$@" --keystore "$ks" --password-file "$work/password" --market "$market" --genesis "$work/genesis.toml"; }
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

step "The exchange at work: a node, four providers in four countries, a requester's gateway"
# Each part is its own process, as on separate machines; all traffic stays on loopback, the
# providers' exits leaving from 127.0.0.2 .. 127.0.0.5.
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"' EXIT
failures=0
check() { if "${@:2}"; then echo "   ok: $1"; else echo "   FAILED: $1"; failures=$((failures + 1)); fi; }
wait_for() { # wait_for FILE PATTERN: prints the first match within 10 s
  for _ in $(seq 100); do
    grep -oE "$2" "$1" 2>/dev/null | head -1 | grep . && return 0
    sleep 0.1
  done
  return 1
}
# The node checks each offer's IP: its claimed location against the geo data (this static table
# for the loopback addresses, ip-location-db for the internet) and a probe that must arrive from
# the IP itself.
geo_data=()
[[ -d $here/../node_modules/@ip-location-db ]] && geo_data=(--geo-data "$here/../node_modules/@ip-location-db")
"$IPSX" node --data "$work/ledger" --journal "$work/node-market" --keystore "$ks" \
  --address "$market" --password-file "$work/password" --listen 127.0.0.1:0 --fee-bps 250 \
  --geo-static "$here/demo/geo-static.txt" "${geo_data[@]}" >"$work/node.out" 2>&1 &
pids+=($!)
node=$(wait_for "$work/node.out" 'http://127\.0\.0\.1:[0-9]+')
echo "-> node: market $market at $node, commission 2.5 %"
grep -h 'checked\|probes' "$work/node.out"
python3 "$here/../tests/e2e/whoami_server.py" >"$work/whoami.out" 2>&1 &
pids+=($!)
dest=127.0.0.1:$(wait_for "$work/whoami.out" '^[0-9]+$')
echo "-> destination: http://$dest/ answers with the caller's address"

providers=()
i=2
for spec in DE:0.0010 US:0.0012 JP:0.0015 BR:0.0008; do
  country=${spec%%:*} price=${spec##*:} ip=127.0.0.$i
  who=$("$IPSX" wallet new --keystore "$ks" --password-file "$work/password" --light 2>/dev/null)
  cat >"$work/provide-$country.toml" <<TOML
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]   # the demo's destination is on loopback
[[ip]]
address = "$ip"
country = "$country"
type = "residential"
price = "$price"
TOML
  "$IPSX" provide --node "$node" --keystore "$ks" --address "$who" --password-file "$work/password" \
    --config "$work/provide-$country.toml" --data "$work/provider-$country" \
    >"$work/provide-$country.out" 2>&1 &
  pids+=($!)
  providers+=("$country:$who")
  wait_for "$work/provide-$country.out" 'offer .* placed' >/dev/null
  echo "-> provider $who proved it sends from $ip, offers it in $country at $price IPSX/s"
  i=$((i + 1))
done
reserved_before=$(curl -s "$node/v1/ledger/accounts/$requester" | jq -r '.wallet.reserved')
printf 'proxy-secret\n' >"$work/proxy-password"
"$IPSX" gateway --node "$node" --keystore "$ks" --address "$requester" --password-file "$work/password" \
  --proxy-password-file "$work/proxy-password" --listen 127.0.0.1:0 --max-price 0.002 --duration 20 \
  --budget 1 >"$work/gateway.out" 2>&1 &
pids+=($!)
gw=$(wait_for "$work/gateway.out" 'proxy on 127\.0\.0\.1:[0-9]+' | grep -oE '[0-9.]+:[0-9]+$')
echo "-> the requester's gateway: SOCKS5 and HTTP on $gw (password-protected), 20-second leases"

step "A crawler asks the gateway for pages by country; each leaves from that country's IP"
i=2
for country in de us jp br; do
  echo "\$ curl -x http://country-$country:***@$gw http://$dest/"
  got=$(curl -sS --max-time 20 -x "http://country-$country:proxy-secret@$gw" "http://$dest/")
  echo "$got"
  check "country-$country left from 127.0.0.$i" test "$got" = "127.0.0.$i"
  i=$((i + 1))
done
echo "\$ curl -x socks5h://country-de-session-s1:***@$gw http://$dest/   (SOCKS5, a sticky session)"
got=$(curl -sS --max-time 20 -x "socks5h://country-de-session-s1:proxy-secret@$gw" "http://$dest/")
echo "$got"
check "the SOCKS5 client in a DE session left from 127.0.0.2" test "$got" = "127.0.0.2"
echo "\$ curl -x http://country-fr:***@$gw http://$dest/   (nobody offers France)"
curl -sS --max-time 20 -o /dev/null -w '%{http_code} %header{x-ipsx-reason}\n' \
  -x "http://country-fr:proxy-secret@$gw" "http://$dest/" | tee "$work/fr.out"
check "France: 503 with the reason" grep -q '^503' "$work/fr.out"

step "Behind it: four deals at the node, the providers ready, the gateway connected and paying"
sleep 3  # a few invoices and balance proofs go by
for _ in $(seq 50); do
  [[ $(curl -s "$node/v1/deals?party=$requester&status=active" | jq '.deals | length') == 4 ]] && break
  sleep 0.2
done
curl -s "$node/v1/deals?party=$requester" |
  jq -r '.deals[] | "deal \(.id[0:18])...  \(.status.phase)  provider \(.provider[0:10])...  \(.pricePerSecond) base units/s"'
check "four deals are active" test "$(curl -s "$node/v1/deals?party=$requester&status=active" | jq '.deals | length')" = 4
grep -h 'ready\|paid' "$work"/provide-*.out | head -8
check "the providers hold balance proofs" grep -q 'paid' "$work/provide-DE.out"
grep -h 'connected' "$work/gateway.out" | head -4

step "Market data and the ledger, from the node's API"
curl -s "$node/v1/market/trades?limit=4" | jq -c '.summary // .'
echo "-> the requester's account: IPSX held, and its Centralizer wallet (free and reserved for deals)"
curl -s "$node/v1/ledger/accounts/$requester" | jq -c '{address, balance, wallet}'
echo "-> the latest block, with the deals the market opened"
curl -s "$node/v1/ledger/blocks/latest" | jq -c '{number, hash, transactions: (.txs | length)}'

step "The leases end: each provider settles on the ledger with its best balance proof, both sides rate"
echo "-> waiting for the 20-second deals to end and their closes to become final"
settled() { [[ $(cat "$work"/provide-*.out | grep -c 'settled on the ledger') -ge 4 &&
  $(grep -c 'rated the provider' "$work/gateway.out") -ge 4 ]]; }
for _ in $(seq 120); do settled && break; sleep 0.5; done
grep -h 'settled on the ledger\|rated the requester' "$work"/provide-*.out
grep -h 'rated the provider' "$work/gateway.out"
check "the four deals settled on the ledger and were rated by both sides" settled
for entry in "${providers[@]}"; do
  country=${entry%%:*} who=${entry##*:}
  curl -s "$node/v1/ledger/accounts/$who" |
    jq -r --arg c "$country" '"provider in \($c): earned \(.wallet.balance) IPSX; rating \(.rating.sum / .rating.count)/5 from \(.rating.count) vote(s)"'
done
de=${providers[0]##*:}
check "the DE provider was paid" test "$(curl -s "$node/v1/ledger/accounts/$de" | jq -r '.wallet.balance')" != 0
step "The DE provider proves which wallet used its IP, and for what"
echo "-> the exit logged each connection; the requester's gateway signed the log's root (a Merkle tree)"
de_deal=$(grep -oE 'deal 0x[0-9a-f]{64} for 127\.0\.0\.2' "$work/provide-DE.out" | head -1 | awk '{print $2}')
echo "\$ ipsx deal usage ${de_deal:0:18}... --data provider-DE"
"$IPSX" deal usage "$de_deal" --data "$work/provider-DE"
echo "\$ ipsx deal prove-usage ${de_deal:0:18}... 0 --data provider-DE > proof.json   (one record, its path, the signed root)"
"$IPSX" deal prove-usage "$de_deal" 0 --data "$work/provider-DE" >"$work/proof.json"
jq -c '{record, path: (.path | length | tostring + " hash(es)"), receipt: {count: .receipt.count}}' "$work/proof.json"
echo "\$ ipsx deal verify-usage proof.json --node ...   (anyone can check it; the log stays with the provider)"
"$IPSX" deal verify-usage "$work/proof.json" --node "$node" | tee "$work/verified.out"
check "the usage proof verifies: the requester's wallet opened that connection" \
  grep -q "^verified: $requester signed .*it is the deal's requester" "$work/verified.out"
jq '.record.port = 443' "$work/proof.json" >"$work/forged.json"
check "a proof with a changed record does not" \
  bash -c "! '$IPSX' deal verify-usage '$work/forged.json' 2>/dev/null"
echo "-> the market's commission (2.5 % of every payment), in its Centralizer wallet:"
curl -s "$node/v1/ledger/accounts/$market" | jq -c '{address, commission: .wallet.balance}'
check "the market earned its commission" test "$(curl -s "$node/v1/ledger/accounts/$market" | jq -r '.wallet.balance')" != 0
echo "-> the requester's final balances: the gateway's deposits are no longer reserved, the unspent part came back"
echo "   (the $reserved_before IPSX still reserved backs the 10-minute deal of the first market, above)"
curl -s "$node/v1/ledger/accounts/$requester" | jq -c '{balance, wallet, rated: .rating}'
check "the gateway's deals hold nothing reserved any more" test "$(curl -s "$node/v1/ledger/accounts/$requester" | jq -r '.wallet.reserved')" = "$reserved_before"
echo "-> the provider's profile at the market: rating and history"
curl -s "$node/v1/profiles/$de" | jq -c '{rating, history}'
echo "-> every token is accounted for:"
curl -s "$node/v1/ledger/supply" | jq -c .
check "the supply is conserved" test "$(curl -s "$node/v1/ledger/supply" | jq -r .conserved)" = true
curl -s "$node/v1/ledger/blocks/latest" | jq -c '{latest_block: .number, hash, transactions: (.txs | length)}'

for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait 2>/dev/null
pids=()
step "The node is stopped; the ledger it kept re-verifies from genesis (hash chain, every signature)"
run "$IPSX" ledger verify --data "$work/ledger"
echo
if [[ $failures == 0 ]]; then
  echo "Demo complete: every check held."
else
  echo "Demo finished with $failures failed check(s)."
  exit 1
fi
