#!/usr/bin/env bash
# The exchange across the testbed (docs/network.md): every part on a host of its own with a real
# address, the requester behind its router's NAT. The market node on `node`, two datacenter
# providers on `dc1` (DE) and `dc2` (US) selling their public addresses, the requester's gateway
# on `req` (10.3.0.2, behind nat3), destinations on `dest`. curl on the requester's host through
# its gateway by country: the destination sees the provider's public address, never the
# requester's. The gateway reaches each exit directly (the exits are public); what the node and
# the destination see of the requester is nat3's address. A home provider on `home1`, behind
# nat1 with a port forward, sells nat1's public address (JP) the same way; one on `home2`, behind
# a symmetric NAT behind the carrier's, where nothing can be forwarded, sells the carrier NAT's
# address (BR) through `ipsx relay` on `relay`; one on `home3`, behind an endpoint-independent
# NAT with nothing forwarded, sells nat4's address (FR) starting through the relay, and its deal
# moves to a hole punched through nat4 and nat3 (the BR deal stays relayed: a symmetric NAT
# cannot be punched). With CONTRACTS, the
# ledger is the IPSX contracts on an anvil that runs on `node` (203.0.113.10:8545) and makes a
# block every second, deployed with `ipsx eth deploy` over the testbed. Needs root (exit 77
# without it).
# usage: netbed_exchange_e2e.sh IPSX [CONTRACTS_DIR]
set -uo pipefail
IPSX=$1
CONTRACTS=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $(id -u) == 0 ]] || { echo "skipped: the testbed needs root"; exit 77; }
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY

netbed_claim x
on_exit() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  nb down >/dev/null 2>&1 || true
}
nb up >/dev/null || { bad "the testbed comes up"; finish; exit 1; }

# The wallets: files, made on the machine itself.
echo pw >"$work/pw"
echo proxy-secret >"$work/proxy-pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new)
de=$(new) us=$(new) jp=$(new) br=$(new) fr=$(new) requester=$(new) requester2=$(new)
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --hard-cap 1 --native "$early=2" --challenge-seconds 600 \
  2>/dev/null

# The ledger: an embedded one in a data directory, or the contracts on an anvil on `node`.
if [[ -z $CONTRACTS ]]; then
  data=$work/ledger
  "$IPSX" ledger init --data "$data" --genesis "$work/g.toml" >/dev/null
  send() { "$IPSX" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@" >/dev/null; }
  send --address "$early" buy --value 1 # the hard cap: the sale may end now
  send --address "$team" finalize-sale
  send --address "$early" transfer --to "$requester" --amount 1000
  send --address "$requester" deposit --amount 100
  send --address "$early" transfer --to "$requester2" --amount 100 # a second requester's gateway
  send --address "$requester2" deposit --amount 50
  ledger_args=(--data "$data")
else
  use_foundry
  on node anvil "$ANVIL" --host 203.0.113.10 --port 8545 --block-time 1 --chain-id 1337
  RPC=http://203.0.113.10:8545
  for _ in $(seq 100); do nb exec node "$CAST" chain-id --rpc-url "$RPC" >/dev/null 2>&1 && break; sleep 0.1; done
  expect_eq "anvil answers on the node's host" "$(nb exec node "$CAST" chain-id --rpc-url "$RPC" 2>&1)" 1337
  # cast on the node's host: the chain is reached over the testbed, as any client would.
  ncast() { nb exec node "$CAST" "$@"; }
  dev_key=$(ncast wallet private-key "test test test test test test test test test test test junk" 0)
  deployer=$(new)
  for a in "$deployer" "$early" "$team" "$market" "$de" "$us" "$jp" "$br" "$fr" "$requester" "$requester2"; do
    ncast send --rpc-url "$RPC" --private-key "$dev_key" "$a" --value 5ether >/dev/null 2>&1 || bad "fund $a"
  done
  dep=$work/deployment.toml
  out=$(nb exec node "$IPSX" eth deploy --rpc "$RPC" --keystore "$ks" --address "$deployer" \
    --password-file "$work/pw" --genesis "$work/g.toml" --contracts "$CONTRACTS" --timeout 30 --out "$dep" 2>&1) &&
    ok "eth deploy over the testbed" || bad "eth deploy: $out"
  token=$(toml token "$dep") cent=$(toml centralizer "$dep")
  nas() { # nas ADDRESS CONTRACT SIG ARGS...: a transaction from ADDRESS, sent from the node's host
    local from=$1
    shift
    ncast send --json --rpc-url "$RPC" --keystore "$(keyfile "$from")" --password-file "$work/pw" "$@" |
      jq -e '.status == "0x1"' >/dev/null
  }
  nas "$early" "$token" --value 1ether >/dev/null || bad "buy the hard cap"
  nas "$team" "$token" "finalizeSale()" || bad "finalize"
  nas "$early" "$token" "transfer(address,uint256)" "$requester" 1000000000000000000000 || bad "transfer"
  nas "$requester" "$cent" "deposit(uint256)" 100000000000000000000 || bad "deposit"
  nas "$early" "$token" "transfer(address,uint256)" "$requester2" 100000000000000000000 || bad "transfer 2"
  nas "$requester2" "$cent" "deposit(uint256)" 50000000000000000000 || bad "deposit 2"
  ledger_args=(--ledger ethereum --rpc "$RPC" --deployment "$dep" --contracts "$CONTRACTS"
    --data "$work/node-data")
fi

# The node on its public host; it places the testbed's public addresses by a static table.
cat >"$work/geo.txt" <<'TABLE'
203.0.113.31/32  DE  AS64511  datacenter  dc1
203.0.113.32/32  US  AS64512  datacenter  dc2
203.0.113.41/32  JP  AS64513  residential  nat1, a home router
203.0.113.51/32  BR  AS64514  mobile       cgnat, a carrier's NAT
203.0.113.71/32  FR  AS64515  residential  nat4, a home router
TABLE
on node node "$IPSX" node "${ledger_args[@]}" --keystore "$ks" --address "$market" \
  --password-file "$work/pw" --listen 203.0.113.10:8080 --geo-static "$work/geo.txt"
url=http://203.0.113.10:8080
wait_for "$work/node.out" 'http://203\.0\.113\.10:8080' 30 >/dev/null && ok "the node listens at $url" ||
  bad "the node starts: $(cat "$work/node.out")"

on dest whoami python3 "$here/whoami_server.py" 203.0.113.20
dest_port=$(wait_for "$work/whoami.out" '^[0-9]+$') && ok "the destination listens" || bad "the destination starts"

# provider_config IP COUNTRY PRICE: one public IP; its exit listens on it.
provider_config() {
  cat <<TOML
pair_listen = "$1:7000"
allow = ["203.0.113.20/32"]   # the destination is on the testbed's public segment
[[ip]]
address = "$1"
country = "$2"
type = "datacenter"
price = "$3"
protocols = "http,https-connect,socks5"
scopes = "crawling,general"
TOML
}
provider_config 203.0.113.31 DE 0.001 >"$work/de.toml"
provider_config 203.0.113.32 US 0.002 >"$work/us.toml"
on dc1 de "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$de" --config "$work/de.toml"
on dc2 us "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$us" --config "$work/us.toml"
wait_for "$work/de.out" 'proved to the node that it sends from 203\.0\.113\.31' 20 >/dev/null &&
  ok "the DE provider proves its public address to the node" || bad "DE probe: $(cat "$work/de.out")"
wait_for "$work/de.out" 'offer .* for 203\.0\.113\.31 \(DE\) placed' 20 >/dev/null &&
  ok "the DE provider places its offer" || bad "DE provider: $(cat "$work/de.out")"
wait_for "$work/us.out" 'offer .* for 203\.0\.113\.32 \(US\) placed' 20 >/dev/null &&
  ok "the US provider places its offer" || bad "US provider: $(cat "$work/us.out")"

# The home provider: its machine has 10.1.0.2; the world sees nat1's 203.0.113.41, which it
# offers. Its router forwards TCP port 7000 to it, so its exit is announced there.
nb forward nat1 7000 >/dev/null
cat >"$work/jp.toml" <<'TOML'
pair_listen = "10.1.0.2:7000"
pair_announce = "203.0.113.41:7000"   # the router's port forward
allow = ["203.0.113.20/32"]
[[ip]]
address = "203.0.113.41"              # what the world sees: the router's public address
local_address = "10.1.0.2"            # this machine's, whose traffic leaves as it
country = "JP"
type = "residential"
price = "0.0015"
TOML
on home1 jp "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$jp" --config "$work/jp.toml"
wait_for "$work/jp.out" 'proved to the node that it sends from 203\.0\.113\.41' 20 >/dev/null &&
  ok "the home provider proves its router's public address" || bad "JP probe: $(cat "$work/jp.out")"
wait_for "$work/jp.out" 'announced as 203\.0\.113\.41:7000' 20 >/dev/null &&
  ok "the home provider announces its exit at the port forward" || bad "JP exit: $(cat "$work/jp.out")"
wait_for "$work/jp.out" 'offer .* for 203\.0\.113\.41 \(JP\) placed' 20 >/dev/null &&
  ok "the home provider places its offer" || bad "JP provider: $(cat "$work/jp.out")"

# The provider behind the carrier's NAT: nothing reaches it, so it serves through the relay.
on relay relay "$IPSX" relay --listen 203.0.113.11:7100 --report-seconds 1
wait_for "$work/relay.out" 'listening on 203\.0\.113\.11:7100' 10 >/dev/null && ok "the relay listens" ||
  bad "the relay starts: $(cat "$work/relay.out")"
cat >"$work/br.toml" <<'TOML'
pair_listen = "10.2.0.2:0"
relay = "203.0.113.11:7100"           # gateways reach the exit through it
allow = ["203.0.113.20/32"]
[[ip]]
address = "203.0.113.51"              # what the world sees: the carrier NAT's address
local_address = "10.2.0.2"
country = "BR"
type = "mobile"
price = "0.0012"
TOML
on home2 br "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$br" --config "$work/br.toml"
wait_for "$work/br.out" 'serving through the relay 203\.0\.113\.11:7100' 20 >/dev/null &&
  ok "the provider behind the carrier's NAT serves through the relay" || bad "BR relay: $(cat "$work/br.out")"
wait_for "$work/br.out" 'offer .* for 203\.0\.113\.51 \(BR\) placed' 20 >/dev/null &&
  ok "it proves and offers the carrier NAT's address" || bad "BR provider: $(cat "$work/br.out")"
expect_out "the node serves its exit at the relay" '"endpoint":"relay:203\.0\.113\.11:7100"' \
  nb exec req curl -sf "$url/v1/exits/$br"
# The provider behind an endpoint-independent NAT that forwards nothing: it serves through the
# relay too, and gateways punch a hole to it through the relay.
sed -e 's/10\.2\.0\.2/10.4.0.2/g' -e 's/203\.0\.113\.51/203.0.113.71/' -e 's/"BR"/"FR"/' \
  -e 's/"mobile"/"residential"/' -e "s/the carrier NAT's address/nat4's address/" \
  "$work/br.toml" >"$work/fr.toml"
# FR is leased by up to three gateways at once: the requester's, a second requester's under
# latency (below) and, for the figures, one that does not punch.
echo 'capacity = 3' >>"$work/fr.toml"
on home3 fr "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$fr" --config "$work/fr.toml"
wait_for "$work/fr.out" 'offer .* for 203\.0\.113\.71 \(FR\) placed' 20 >/dev/null &&
  ok "the provider behind nat4 proves and offers nat4's address" || bad "FR provider: $(cat "$work/fr.out")"
for _ in $(seq 50); do nb exec req curl -sf "$url/v1/exits/$fr" | grep -q relay: && break; sleep 0.1; done
for _ in $(seq 50); do nb exec req curl -sf "$url/v1/exits/$de" >/dev/null && break; sleep 0.1; done
expect_out "the node serves the DE exit's public endpoint" '"endpoint":"203\.0\.113\.31:7000"' \
  nb exec req curl -sf "$url/v1/exits/$de"

# The requester's gateway, on its host behind nat3. On Ethereum the deals are shorter, so that
# the test sees them settle on chain after the checks below.
duration=120
[[ -n $CONTRACTS ]] && duration=90
on req gateway "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:8888 \
  --max-price 0.0025 --duration "$duration" --budget 3 \
  --pac 127.0.0.1:8887 --open-to 127.0.0.1/32 --open-filters country-de
wait_for "$work/gateway.out" 'proxy on 127\.0\.0\.1:8888' 20 >/dev/null && ok "the gateway listens" ||
  bad "the gateway starts: $(cat "$work/gateway.out")"
through() { # through USER [SCHEME]: curl on the requester's host via its gateway
  nb exec req curl -sS --max-time 30 -w '%{http_code}' -x "${2:-http}://$1:proxy-secret@127.0.0.1:8888" \
    "http://203.0.113.20:$dest_port/" 2>&1 | tr '\n' ' '
}
expect_eq "the requester's own address, seen from outside, is its router's" \
  "$(nb exec req curl -s --max-time 5 "http://203.0.113.20:$dest_port/")" 203.0.113.61
expect_eq "country-de leaves from the DE datacenter's public IP" "$(through country-de)" "203.0.113.31 200"
expect_eq "country-us leaves from the US one's (SOCKS5)" "$(through country-us socks5h)" "203.0.113.32 200"
expect_eq "country-jp leaves from the home router's public IP" "$(through country-jp)" "203.0.113.41 200"
expect_eq "country-br leaves from the carrier NAT's address, through the relay" "$(through country-br)" \
  "203.0.113.51 200"
wait_for "$work/relay.out" "provider $br: [1-9][0-9]* connection" 10 >/dev/null &&
  ok "the relay reports what it carries as it goes" || bad "relay report: $(cat "$work/relay.out")"
expect_eq "country-fr leaves from nat4's address" "$(through country-fr)" "203.0.113.71 200"
for spec in "de 203.0.113.31" "jp 203.0.113.41" "br 203.0.113.51" "fr 203.0.113.71"; do
  read -r c ip <<<"$spec"
  expect_eq "country-$c over SOCKS5 too" "$(through "country-$c" socks5h)" "$ip 200"
done
# A browser, which cannot give proxy credentials on its command line: Chromium on the requester's
# host configured with nothing but the gateway's PAC file (a destination on loopback would not
# do: Chromium never sends loopback through a proxy), let in by source address as country-de.
# Background services off: nothing but the page is asked for.
if command -v chromium >/dev/null; then
  page=$(nb exec req timeout 60 chromium --headless --no-sandbox --disable-gpu \
    --user-data-dir="$work/chromium" --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-default-apps \
    --proxy-pac-url=http://127.0.0.1:8887/proxy.pac --dump-dom "http://203.0.113.20:$dest_port/" 2>"$work/chromium.err")
  expect_out "Chromium through the gateway's PAC file leaves from the DE IP" '>203\.0\.113\.31' \
    echo "$page $(tail -3 "$work/chromium.err")"
else
  bad "chromium is not installed (scripts/install-deps.sh installs it)"
fi
expect_out "nothing in Italy: 503 with the reason" 'no offer on the market fits.* 503$' through country-it
# The path each deal took, as the gateway's log tells it.
for spec in "direct to 203.0.113.31:7000" "direct to 203.0.113.32:7000" \
  "direct to 203.0.113.41:7000" "relayed through 203.0.113.11:7100"; do
  expect_out "a deal connected $spec" "deal 0x[0-9a-f]+ connected: ${spec//./\\.}" cat "$work/gateway.out"
done
# The relayed deals try to move to a punched path: nat4 (endpoint-independent) and nat3 let it
# through; behind the symmetric nat2 the deal stays relayed, and says why.
wait_for "$work/gateway.out" 'path: punched to 203\.0\.113\.71:[0-9]+ \(was relayed through 203\.0\.113\.11:7100\)' 10 >/dev/null &&
  ok "the FR deal moves to a hole punched through nat4 and nat3" || bad "no punch to FR: $(cat "$work/gateway.out")"
wait_for "$work/gateway.out" 'path: stays relayed through 203\.0\.113\.11:7100 \(no punched path' 15 >/dev/null &&
  ok "the BR deal, behind the symmetric NAT, stays relayed" || bad "BR's punch: $(cat "$work/gateway.out")"
fr_bytes() { grep -oE "provider $fr: .* ([0-9]+) byte" "$work/relay.out" | tail -1 | grep -oE '[0-9]+ byte' | grep -oE '[0-9]+'; }
before=$(fr_bytes)
for _ in 1 2 3; do expect_eq "country-fr leaves from nat4's address, punched" "$(through country-fr)" "203.0.113.71 200"; done
sleep 1.5 # the relay's next report
expect_eq "what goes over the punched path does not cross the relay" "$(fr_bytes)" "$before"
grep -oE 'deal 0x[0-9a-f]+ (connected|path): .*' "$work/gateway.out" | sed -E 's/(0x[0-9a-f]{8})[0-9a-f]*/\1.../'
# `ipsx deal show` at the node says each deal's path, as the requester's gateway reported it.
deal_of() { nb exec req curl -s "$url/v1/deals?party=$1" | jq -r '.deals[0].id'; }
for spec in "$de direct" "$fr punched" "$br relayed"; do
  read -r who want <<<"$spec"
  got=""
  for _ in $(seq 50); do
    got=$(nb exec req "$IPSX" deal show "$(deal_of "$who")" --node "$url" 2>&1 | grep -oE 'path: [a-z]+')
    [[ $got == "path: $want" ]] && break
    sleep 0.1
  done
  expect_eq "ipsx deal show: the deal with ${who:0:10}... takes the $want path" "$got" "path: $want"
done
phases() { nb exec req curl -s "$url/v1/deals?party=$requester" | grep -oE '"phase":"[a-z]+"' | sort | uniq -c | tr -s ' '; }
for _ in $(seq 50); do phases | grep -q ' 5 "phase":"active"' && break; sleep 0.2; done
expect_out "the five deals are active at the node" ' 5 "phase":"active"' phases

# Loss on the public segment: 3% of the packets crossing it dropped at random (scripts/netbed.sh
# loss). TCP recovers underneath: every path serves every request, under the same deals.
deal_count() { nb exec req curl -s "$url/v1/deals?party=$requester" | jq '.deals | length'; }
deals_then=$(deal_count)
nb loss 3 >/dev/null || bad "netbed.sh loss 3"
served=0
for user in country-de country-fr country-br; do
  for _ in 1 2 3 4 5; do [[ $(through "$user") == *" 200" ]] && served=$((served + 1)); done
done
dropped=$(nb exec inet nft list table bridge ipsx_loss 2>/dev/null | grep -oE 'packets [0-9]+' | grep -oE '[0-9]+')
nb loss 0 >/dev/null || bad "netbed.sh loss 0"
((${dropped:-0} > 0)) && ok "the public segment dropped $dropped packets meanwhile" || bad "no packet dropped"
expect_eq "with 3% loss, the direct, punched and relayed paths served all 15 requests" "$served" 15
expect_eq "under the same deals" "$(deal_count)" "$deals_then"

# Latency (scripts/netbed.sh delay; the kernel has no netem): what the requester's host sends
# waits 40 ms, what FR's host sends 30 ms. Every path serves under its deal, and a second
# requester's new deal with FR, relayed at first, punches through both NATs across the delay.
nb delay req 40 >/dev/null && nb delay home3 30 >/dev/null || bad "netbed.sh delay"
for spec in "de 203.0.113.31" "fr 203.0.113.71" "br 203.0.113.51"; do
  read -r c ip <<<"$spec"
  expect_eq "with 40 + 30 ms of delay, country-$c is served" "$(through "country-$c")" "$ip 200"
done
on req gateway3 "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester2" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:8890 \
  --max-price 0.0025 --duration 60 --budget 1
wait_for "$work/gateway3.out" 'proxy on 127\.0\.0\.1:8890' 20 >/dev/null || bad "gateway3: $(cat "$work/gateway3.out")"
through3() { nb exec req curl -sS --max-time 30 -w '%{http_code}' -x "http://country-fr:proxy-secret@127.0.0.1:8890" "http://203.0.113.20:$dest_port/" 2>&1 | tr '\n' ' '; }
expect_eq "a new FR deal across the delay is served, relayed at first" "$(through3)" "203.0.113.71 200"
wait_for "$work/gateway3.out" 'path: punched to 203\.0\.113\.71:[0-9]+ \(was relayed' 15 >/dev/null &&
  ok "it moves to a hole punched through nat4 and nat3 across the delay" ||
  bad "no punch across the delay: $(cat "$work/gateway3.out")"
expect_eq "and is served through it" "$(through3)" "203.0.113.71 200"
grep -oE 'deal 0x[0-9a-f]+ (connected|path): .*' "$work/gateway3.out" | sed -E 's/(0x[0-9a-f]{8})[0-9a-f]*/\1.../'
kill -TERM "${pid_of[gateway3]}"
wait "${pid_of[gateway3]}" && ok "the second requester's gateway stops cleanly" || bad "gateway3's exit"
nb delay req 0 >/dev/null && nb delay home3 0 >/dev/null || bad "netbed.sh delay 0"

# A home router "reboots": its NAT mappings flushed (conntrack) while the deal is live. The
# port-forwarded deal is served again at once, under the same deal (the gateway reconnects its
# pair channel through the forward).
deals_before=$(nb exec req curl -s "$url/v1/deals?party=$requester" | jq '.deals | length')
nb exec nat1 conntrack -F >/dev/null 2>&1 || bad "conntrack -F on nat1"
expect_eq "country-jp is served again after its router's mappings were flushed" "$(through country-jp)" \
  "203.0.113.41 200"
expect_eq "under the same deal" "$(nb exec req curl -s "$url/v1/deals?party=$requester" | jq '.deals | length')" \
  "$deals_before"

# The carrier's NAT and the symmetric home router behind it reboot under the relayed BR deal:
# every mapping gone, the provider's connections to the relay lead nowhere. The provider's
# control connection is reset at its next ALIVE and made again; the gateway finds its channel
# through the relay silent, closes it and reconnects through the relay, which the provider
# dials back: the same deal is served again.
t0=$(date +%s)
nb exec nat2 conntrack -F >/dev/null 2>&1 && nb exec cgnat conntrack -F >/dev/null 2>&1 ||
  bad "conntrack -F on nat2 and cgnat"
got=""
while (($(date +%s) - t0 < 60)); do
  got=$(through country-br)
  [[ $got == "203.0.113.51 200" ]] && break
  sleep 1
done
expect_eq "country-br is served again after the carrier's mappings were flushed" "$got" "203.0.113.51 200"
echo "(recovered in $(($(date +%s) - t0)) s)"
expect_eq "under the same deal, none failed" \
  "$(nb exec req curl -s "$url/v1/deals?party=$requester" | jq '.deals | length') $(grep -c ' failed: ' "$work/gateway.out")" \
  "$deals_before 0"

if [[ -n $CONTRACTS ]]; then
  # cast, as an independent reader on the node's host: each deal the node lists is on chain,
  # open (its commitment set, status 0), and its DealOpened event names the requester and a
  # provider of the testbed (the terms are in the event; the contract keeps their hash).
  on_chain=0
  for id in $(nb exec req curl -s "$url/v1/deals?party=$requester" | jq -r '.deals[].id'); do
    d=$(ncast logs --rpc-url "$RPC" --from-block 0 --address "$cent" \
      "DealOpened(bytes32,address,address,address,uint256,uint64,uint256,uint64,bytes32,bytes32,uint64,uint16)" "$id")
    data=$(ncast logs --rpc-url "$RPC" --from-block 0 --address "$cent" --json \
      "DealOpened(bytes32,address,address,address,uint256,uint64,uint256,uint64,bytes32,bytes32,uint64,uint16)" "$id" |
      jq -r '.[0].data')
    mapfile -t f < <(ncast abi-decode "f()(address,uint256,uint64,uint256,uint64,bytes32,bytes32,uint64,uint16)" "$data" | awk '{print $1}')
    s=$(ncast call --rpc-url "$RPC" "$cent" "deal(bytes32,uint256)(bytes32,uint256,uint256,uint64,uint8,uint8,bool,bool)" \
      "${f[6]}" "${f[7]}" | sed -n '1p;5p' | awk '{print $1}' | tr '\n' ' ')
    grep -qi "${requester#0x}" <<<"$d" && grep -qiE "${de#0x}|${us#0x}|${jp#0x}|${br#0x}|${fr#0x}" <<<"$d" &&
      [[ $s =~ ^0x[0-9a-f]{64}\ 0\ $ && $s != "0x$(printf '%064d' 0) 0 " ]] && on_chain=$((on_chain + 1))
  done
  expect_eq "cast finds the five deals on chain, requester and provider as the node says" "$on_chain" 5
fi

# With NETBED_BENCH_OUT=FILE (bench/netbed_bench.sh, `make bench`): the paths' figures, measured
# through the gateway as a crawler would use it, written to FILE as one flat JSON object. No
# figure here is a check: a slow machine passes.
if [[ -n ${NETBED_BENCH_OUT:-} ]]; then
  # A 16 MiB body on the destination host, served by python's http.server.
  mkdir -p "$work/www" && head -c 16777216 /dev/zero >"$work/www/16m"
  on dest files python3 -m http.server 8090 --bind 203.0.113.20 --directory "$work/www"
  for _ in $(seq 50); do nb exec dest curl -sf -o /dev/null http://203.0.113.20:8090/16m && break; sleep 0.1; done
  # proxy USER [PORT]: the gateway's proxy URL (the first gateway's port unless told).
  proxy() { echo "http://$1:proxy-secret@127.0.0.1:${2:-8888}"; }
  # first_byte USER [PORT]: the median time to the first byte of 21 requests, in ms (new connection each).
  first_byte() {
    for _ in $(seq 21); do
      nb exec req curl -s -o /dev/null -w '%{time_starttransfer}\n' -x "$(proxy "$1" "${2:-}")" "http://203.0.113.20:$dest_port/"
    done | sort -n | sed -n 11p | awk '{printf "%.2f", $1 * 1000}'
  }
  # one_rps USER [PORT]: requests per second of 1,000 over one kept-alive proxy connection, in
  # one curl. one_mbps USER [PORT]: the 16 MiB body's download speed, in megabits per second.
  one_rps() {
    local urls=() t
    for _ in $(seq 1000); do urls+=("http://203.0.113.20:$dest_port/"); done
    t=$(date +%s.%N)
    nb exec req curl -s -x "$(proxy "$1" "${2:-}")" "${urls[@]}" >/dev/null # (-o would cover the first only)
    awk -v t0="$t" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.0f\n", 1000 / (t1 - t0) }'
  }
  one_mbps() {
    nb exec req curl -s -o /dev/null -w '%{speed_download}\n' -x "$(proxy "$1" "${2:-}")" http://203.0.113.20:8090/16m |
      awk '{printf "%.0f\n", $1 * 8 / 1e6}'
  }
  median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  # rps USER: the median of 3 runs; mbps USER: the best of 3.
  rps() { for _ in 1 2 3; do one_rps "$1"; done | median; }
  mbps() { for _ in 1 2 3; do one_mbps "$1"; done | sort -n | tail -1; }
  # The relay's cost on the same exit: FR again, through a second gateway that never punches
  # (the first reaches FR through its punched hole: the same NATs, without the relay).
  [[ -z $CONTRACTS ]] || bad "the figures are measured on the embedded ledger only"
  on req gateway2 "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester2" \
    --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:8889 \
    --max-price 0.0025 --duration "$duration" --budget 1 --no-punch
  wait_for "$work/gateway2.out" 'proxy on 127\.0\.0\.1:8889' 20 >/dev/null || bad "gateway2: $(cat "$work/gateway2.out")"
  nb exec req curl -s -o /dev/null -x "http://country-fr:proxy-secret@127.0.0.1:8889" "http://203.0.113.20:$dest_port/"
  grep -qE "deal 0x[0-9a-f]+ connected: relayed through 203\.0\.113\.11:7100" "$work/gateway2.out" ||
    bad "gateway2's FR deal is relayed: $(cat "$work/gateway2.out")"
  # FR through its hole and FR through the relay, runs taken in turn (this machine's speed drifts
  # more between minutes than the relay costs): the median of 5 runs each, the best of 3.
  fb_punched=$(first_byte country-fr-session-b3) fb_relayed_fr=$(first_byte country-fr 8889)
  for _ in 1 2 3 4 5; do
    echo "p $(one_rps country-fr-session-b3)" && echo "r $(one_rps country-fr 8889)"
  done >"$work/fr-rps"
  for _ in 1 2 3; do
    echo "p $(one_mbps country-fr-session-b3)" && echo "r $(one_mbps country-fr 8889)"
  done >"$work/fr-mbps"
  rps_punched=$(awk '$1 == "p" { print $2 }' "$work/fr-rps" | median)
  rps_relayed_fr=$(awk '$1 == "r" { print $2 }' "$work/fr-rps" | median)
  mbps_punched=$(awk '$1 == "p" { print $2 }' "$work/fr-mbps" | sort -n | tail -1)
  mbps_relayed_fr=$(awk '$1 == "r" { print $2 }' "$work/fr-mbps" | sort -n | tail -1)
  fb_direct=$(first_byte country-de-session-b1) fb_relayed=$(first_byte country-br-session-b2)
  rps_direct=$(rps country-de-session-b1) rps_relayed=$(rps country-br-session-b2)
  mbps_direct=$(mbps country-de-session-b1) mbps_relayed=$(mbps country-br-session-b2)
  kill -TERM "${pid_of[gateway2]}"
  # Each relayed deal of this run tried one punch: behind nat4 (endpoint-independent) and behind
  # nat2 (symmetric, then the carrier's), to the requester behind nat3 (endpoint-independent).
  punched_to() { grep -cE "path: punched to $1:" "$work/gateway.out"; }
  tried_to() { grep -cE "path: (punched to $1:|stays relayed .*to $1:)" "$work/gateway.out"; }
  jq -n --argjson fbd "$fb_direct" --argjson fbr "$fb_relayed" --argjson fbp "$fb_punched" \
    --argjson rd "$rps_direct" --argjson rr "$rps_relayed" --argjson rp "$rps_punched" \
    --argjson md "$mbps_direct" --argjson mr "$mbps_relayed" --argjson mp "$mbps_punched" \
    --argjson fbrf "$fb_relayed_fr" --argjson rrf "$rps_relayed_fr" --argjson mrf "$mbps_relayed_fr" \
    --argjson pe "$(punched_to 203.0.113.71)" --argjson te "$(tried_to 203.0.113.71)" \
    --argjson ps "$(punched_to 203.0.113.51)" --argjson ts "$(tried_to 203.0.113.51)" \
    '{"netbed.first_byte_ms_direct": $fbd, "netbed.first_byte_ms_relayed": $fbr,
      "netbed.first_byte_ms_punched": $fbp,
      "netbed.rps_direct": $rd, "netbed.rps_relayed": $rr, "netbed.rps_punched": $rp,
      "netbed.first_byte_ms_relayed_fr": $fbrf, "netbed.rps_relayed_fr": $rrf,
      "netbed.mbps_relayed_fr": $mrf,
      "netbed.relayed_vs_direct_rps": (($rrf / $rp * 1000 | round) / 1000),
      "netbed.relayed_vs_direct_mbps": (($mrf / $mp * 1000 | round) / 1000),
      "netbed.relayed_br_vs_direct_de_rps": (($rr / $rd * 1000 | round) / 1000),
      "netbed.punched_vs_direct_rps": (($rp / $rd * 1000 | round) / 1000),
      "netbed.mbps_direct": $md, "netbed.mbps_relayed": $mr, "netbed.mbps_punched": $mp,
      "netbed.relayed_br_vs_direct_de_mbps": (($mr / $md * 1000 | round) / 1000),
      "netbed.punch_success_eim": (if $te > 0 then $pe / $te else null end),
      "netbed.punch_success_symmetric": (if $ts > 0 then $ps / $ts else null end),
      "netbed.punch_attempts": ($te + $ts)}' >"$NETBED_BENCH_OUT" &&
    ok "figures written to $NETBED_BENCH_OUT" || bad "figures: $fb_direct $fb_relayed $fb_punched $rps_direct $rps_relayed $rps_punched $mbps_direct $mbps_relayed $mbps_punched"
  cat "$NETBED_BENCH_OUT"
fi

# The relay killed mid-deal: while it is gone the gateway says why (and keeps the deal for its
# reconnect grace, 30 s); the provider keeps trying, and once a relay is back at that address the
# same deal is served through it again.
kill -KILL "${pid_of[relay]}" 2>/dev/null
wait "${pid_of[relay]}" 2>/dev/null
expect_out "with the relay gone, the gateway answers with the reason" 'relay.* 50[234]$' through country-br
on relay relay2 "$IPSX" relay --listen 203.0.113.11:7100
for _ in $(seq 100); do
  [[ $(grep -c 'serving through the relay' "$work/br.out") -ge 2 ]] && break
  sleep 0.1
done
expect_eq "the provider serves through the new relay" "$(grep -c 'serving through the relay' "$work/br.out")" 2
got=""
for _ in $(seq 20); do
  got=$(through country-br)
  [[ $got == "203.0.113.51 200" ]] && break
  sleep 1
done
expect_eq "country-br leaves from the carrier NAT's address again" "$got" "203.0.113.51 200"
expect_eq "under the same deal, none failed" \
  "$(nb exec req curl -s "$url/v1/deals?party=$requester" | jq '.deals | length') $(grep -c ' failed: ' "$work/gateway.out")" \
  "$deals_before 0"
grep -E 'deal 0x[0-9a-f]+ (failed|cut|connected: relayed)' "$work/gateway.out" | sed -E 's/(0x[0-9a-f]{8})[0-9a-f]*/\1.../'

if [[ -n $CONTRACTS ]]; then
  # Everything settles on the chain: each deal, its time up, is closed on the ledger by its
  # provider with the requester's last balance proof; cast then reads each provider's wallet at
  # the Centralizer (what the claims paid it, less the market's commission).
  ids=$(nb exec req curl -s "$url/v1/deals?party=$requester" | jq -r '.deals[].id')
  for _ in $(seq 150); do
    open_left=0
    for id in $ids; do
      [[ $(nb exec req curl -s "$url/v1/deals/$id" | jq -r '.ledger.state') == closed ]] || open_left=$((open_left + 1))
    done
    ((open_left == 0)) && break
    sleep 1
  done
  expect_eq "every deal is closed on chain once its time is up" "$open_left" 0
  for who in "$de" "$us" "$jp" "$br" "$fr"; do
    bal=$(ncast call --rpc-url "$RPC" "$cent" "wallet(address)(uint256,uint256)" "$who" | head -1 | awk '{print $1}')
    [[ $bal =~ ^[1-9][0-9]*$ ]] &&
      ok "cast: provider ${who:0:10}...'s wallet holds $bal base units of IPSX" || bad "provider $who's wallet holds '$bal'"
  done
fi

# Clean shutdown of the agents.
agents=("${pid_of[de]}" "${pid_of[us]}" "${pid_of[jp]}" "${pid_of[br]}" "${pid_of[fr]}" "${pid_of[gateway]}" "${pid_of[relay2]}")
for p in "${agents[@]}"; do kill -TERM "$p" 2>/dev/null; done
rc=0
for p in "${agents[@]}"; do wait "$p" || rc=$?; done
expect_eq "the providers, the gateway and the relay stop cleanly on SIGTERM" "$rc" 0
expect_out "the new relay counted what it carried for the provider" \
  "provider $br( \\(not serving\\))?: [1-9][0-9]* connection\\(s\\) relayed \\([0-9]+ open\\), [1-9][0-9]* byte" \
  cat "$work/relay2.out" # (the provider may have stopped first)
finish
