#!/usr/bin/env bash
# Attacks on the exchange, each by a party that cheats, with the real binaries on loopback
# (docs/threat-model.md). One scenario a run:
#
# - close-at-zero: the requester's gateway leases an IP and pays balance proofs; then the
#   requester starts an uncooperative close admitting 0 and keeps browsing through its gateway.
#   The provider's watchtower must claim its best proof within the challenge period, the exit must
#   cut the deal (the requester's next requests no longer leave from the leased IP on it), and
#   after the challenge period the provider is paid what the proofs say. The provider then proves,
#   from its usage log and the requester's signed receipt, that the requester's wallet opened the
#   connection (ipsx deal usage | prove-usage | verify-usage).
#   Once the deal is settled, its IP (an exclusive offer of capacity 1) is sold again, and never
#   to two requesters at once (the double lease: a second requester's gateway and the first's).
# - provider-restart: the provider is killed (SIGKILL) mid-deal, after it was paid proofs; while
#   it is down the requester starts an uncooperative close admitting 0. The provider comes back
#   (same --data) within the challenge period, reloads the proofs it kept on disk and claims them.
# - provider-moves: the provider is killed (SIGKILL) mid-deal and restarted at once; its exit
#   listens on a new port. The requester's gateway finds it there (the node's announcement) and the
#   deal goes on, paid. When the requester then closes at zero, the restarted provider claims its
#   best proof, and its IP, which its new offer sold only from the deal's planned end, is for sale
#   again at once.
# - node-restart: the market node is killed (SIGKILL) mid-deal and restarted on its data. The
#   provider's exit announcement survives (a gateway can reach the exit at once, not only after
#   the provider's next announcement a minute later), the running deal keeps being served and
#   paid, and it still settles with the provider paid.
# - vanished-requester: the requester's gateway is killed (SIGKILL) mid-deal and never comes
#   back. The exit stops serving the unpaid deal, and the provider closes it on the ledger with
#   the last proof it holds: paid what the requester signed, the rest refunded, nothing reserved.
#   Then a second requester fails its new deal at once, while the provider's agent is frozen
#   (SIGSTOP), so the deal closes at the market (provider_failed) before the provider ever sees
#   it pending: thawed, the provider still finds it, closes it on the ledger and sells the IP
#   again within seconds, not after the requester's uncooperative close and its challenge period.
#
# usage: adversary_e2e.sh IPSX SCENARIO
set -uo pipefail
IPSX=$1
SCENARIO=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
on_exit() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY
# The challenge period: the ledger's shortest (60 s); each scenario waits it out once.
CHALLENGE=60

echo proxy-secret >"$work/proxy-pw"
exchange_ledger "$IPSX" $CHALLENGE 100
de=$(new) requester2=$(new)
send --address "$early" transfer --to "$requester2" --amount 1000
send --address "$requester2" deposit --amount 100

printf '127.0.0.2/32  DE  AS64501  residential  Loopback DE\n' >"$work/geo.txt"
start node "$IPSX" node --data "$data" --keystore "$ks" --address "$market" \
  --password-file "$work/pw" --listen 127.0.0.1:0 --geo-static "$work/geo.txt"
url=$(wait_for "$work/node.out" 'http://127\.0\.0\.1:[0-9]+') || { bad "the node starts: $(cat "$work/node.out")"; finish; exit 1; }
start whoami python3 "$here/whoami_server.py"
dest_port=$(wait_for "$work/whoami.out" '^[0-9]+$') || { bad "the destination starts"; finish; exit 1; }

cat >"$work/de.toml" <<TOML
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]   # the destination is on loopback; an operator would not allow it
[[ip]]
address = "127.0.0.2"
country = "DE"
type = "residential"
price = "0.001"
capacity = 1
TOML
provider_out=de
start_provider() {
  provider_out=$1
  start "$1" "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
    --address "$de" --config "$work/de.toml" --data "$work/provider-state"
  provider_pid=${pids[-1]}
}
start_provider de
wait_for "$work/de.out" 'offer .* for 127\.0\.0\.2 \(DE\) placed' >/dev/null ||
  bad "the provider places its offer: $(cat "$work/de.out")"
for _ in $(seq 50); do curl -sf "$url/v1/exits/$de" >/dev/null && break; sleep 0.1; done

start gateway "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:0 \
  --max-price 0.002 --duration 3600 --budget 50
gateway_pid=${pids[-1]}
gw=$(wait_for "$work/gateway.out" 'proxy on 127\.0\.0\.1:[0-9]+' | grep -oE '[0-9.]+:[0-9]+$') ||
  bad "the gateway starts: $(cat "$work/gateway.out")"
through() { # [GATEWAY]: one request through a gateway (the first requester's by default)
  curl -sS --max-time 10 -w '%{http_code}' -x "http://country-de-session-s1:proxy-secret@${1:-$gw}" \
    "http://127.0.0.1:$dest_port/" 2>&1 | tr '\n' ' '
}
expect_eq "the requester browses from the leased IP" "$(through)" "127.0.0.2 200"
deal=$(wait_for "$work/gateway.out" 'deal 0x[0-9a-f]{64} connected' | grep -oE '0x[0-9a-f]{64}') ||
  bad "the gateway reports its deal: $(cat "$work/gateway.out")"
# The exit invoices every second and the gateway pays: wait for a few proofs to be kept.
for _ in $(seq 100); do
  (($(grep -c "deal $deal paid" "$work/$provider_out.out") >= 3)) && break
  sleep 0.1
done
proof=$(grep -oE "deal $deal paid [0-9.]+ IPSX" "$work/$provider_out.out" | tail -1 | awk '{print $4}')
[[ -n $proof ]] && ok "the provider holds balance proofs (last: $proof IPSX)" ||
  bad "no proof reached the provider: $(cat "$work/$provider_out.out")"

ledger_of() { curl -s "$url/v1/deals/$deal" | jq -r ".ledger.$1"; }
# for_sale_now: how many of the provider's offers rest in the book, their window open now.
for_sale_now() {
  curl -s "$url/v1/orders?owner=$de&side=offer" | jq --argjson now "$(date +%s)" \
    '[.orders[] | select(.state == "resting" and (.offer.availableFrom | tonumber) <= $now)] | length'
}
# expect_claimed_covers_proof WHAT: the ledger shows at least the last proof the provider was
# seen to hold claimed (and more than nothing); WHAT names the check.
expect_claimed_covers_proof() {
  local claimed
  claimed=$(ledger_of claimed)
  awk -v c="$claimed" -v p="$proof" 'BEGIN { exit !(c + 0 >= p + 0 && c + 0 > 0) }' &&
    ok "$1: $claimed IPSX claimed on the ledger, the last proof seen $proof" ||
    bad "$1: claimed $claimed, proof $proof"
}
close_at_zero() {
  expect_out "the requester starts an uncooperative close admitting 0" 'included|block' \
    "$IPSX" deal uncooperative-close --node "$url" --keystore "$ks" --address "$requester" \
    --password-file "$work/pw" --deal "$deal" --amount 0
  expect_eq "the ledger marks the deal closing" "$(ledger_of state)" closing
}

case $SCENARIO in
close-at-zero)
  close_at_zero
  wait_for "$work/de.out" "deal $deal: the requester closed it on the ledger; cut at the exit" 5 >/dev/null &&
    ok "the provider cuts the deal at its exit" || bad "no cut: $(cat "$work/de.out")"
  wait_for "$work/de.out" 'claimed our balance proof of [0-9.]+ IPSX within the challenge period' 5 >/dev/null &&
    ok "the watchtower claims its best proof within the challenge period" ||
    bad "no claim: $(cat "$work/de.out")"
  expect_claimed_covers_proof "the provider is paid its best proof"
  # The requester keeps browsing through its gateway: the closed deal carries nothing more.
  sleep 1
  got=$(through)
  [[ $got != "127.0.0.2 200" ]] && ok "the requester's next request is not served on the closed deal ($got)" ||
    bad "the closed deal still carries traffic"
  served=$(grep -c . "$work/whoami.out")
  sleep 2
  through >/dev/null
  expect_eq "the destination sees nothing more from the leased IP" "$(grep -c . "$work/whoami.out")" "$served"
  # The provider proves which wallet used its IP for what: the connection log stays with it, the
  # requester signed its root, and anyone can check one record against that signature.
  usage() { "$IPSX" deal usage "$deal" --data "$work/provider-state"; }
  expect_out "the provider's log holds the requester's connection" \
    "^#0 .* 127\.0\.0\.1:$dest_port [0-9]+ up, [0-9]+ down" usage
  expect_out "and the requester's receipt for it" "the requester $requester signed for the first [1-9]" usage
  "$IPSX" deal prove-usage "$deal" 0 --data "$work/provider-state" >"$work/proof.json" 2>&1 ||
    bad "prove-usage: $(cat "$work/proof.json")"
  expect_out "anyone verifies that the requester's wallet opened it" \
    "^  #0 .* 127\.0\.0\.1:$dest_port " \
    "$IPSX" deal verify-usage "$work/proof.json" --node "$url"
  expect_out "the node confirms the signer is the deal's requester" \
    "^verified: $requester signed the usage log of deal $deal .*it is the deal's requester" \
    "$IPSX" deal verify-usage "$work/proof.json" --node "$url"
  jq '.record.host = "bank.example"' "$work/proof.json" >"$work/forged.json"
  expect_error "a proof whose record was changed does not verify" 'not in the log' \
    "$IPSX" deal verify-usage "$work/forged.json"
  jq ".requester = \"$de\"" "$work/proof.json" >"$work/forged2.json"
  expect_error "nor one that names another wallet" 'not by the requester' \
    "$IPSX" deal verify-usage "$work/forged2.json"
  ;;
provider-restart)
  kill -9 "$provider_pid"
  wait "$provider_pid" 2>/dev/null
  ok "the provider is killed (SIGKILL) mid-deal"
  close_at_zero
  sleep 3
  start_provider de2
  wait_for "$work/de2.out" 'following [0-9]+ earlier deal\(s\) \(1 with stored proofs\)' 10 >/dev/null &&
    ok "the restarted provider reloads its stored proof" || bad "no reload: $(cat "$work/de2.out")"
  wait_for "$work/de2.out" 'claimed our balance proof of [0-9.]+ IPSX within the challenge period' 10 >/dev/null &&
    ok "the restarted provider claims it within the challenge period" || bad "no claim: $(cat "$work/de2.out")"
  expect_claimed_covers_proof "the restarted provider is paid the proof it held before the kill"
  expect_eq "the IP is for sale again (the deal holding it is closing)" "$(for_sale_now)" 1
  ;;
provider-moves)
  kill -9 "$provider_pid"
  wait "$provider_pid" 2>/dev/null
  ok "the provider is killed (SIGKILL) mid-deal"
  start_provider de2
  wait_for "$work/de2.out" 'following [0-9]+ earlier deal\(s\) \(1 with stored proofs\)' 10 >/dev/null &&
    ok "it restarts at once, its exit on a new port, and reloads its stored proof" ||
    bad "no reload: $(cat "$work/de2.out")"
  expect_eq "the requester's gateway finds the exit where it moved and browses on, same deal" \
    "$(through)" "127.0.0.2 200"
  grep -q "deal $deal connected" "$work/gateway.out" && ! grep -q "deal $deal failed" "$work/gateway.out" &&
    ok "the deal was not failed" || bad "the gateway: $(cat "$work/gateway.out")"
  wait_for "$work/de2.out" "deal $deal paid" 10 >/dev/null && ok "and the restarted provider is paid on" ||
    bad "no payment after the restart: $(cat "$work/de2.out")"
  proof=$(grep -oE "deal $deal paid [0-9.]+" "$work/de2.out" | tail -1 | awk '{print $4}')
  expect_eq "the IP waits for the running deal's end (for sale now: none)" "$(for_sale_now)" 0
  close_at_zero
  wait_for "$work/de2.out" 'claimed our balance proof of [0-9.]+ IPSX within the challenge period' 10 >/dev/null &&
    ok "the restarted provider claims its best proof within the challenge period" ||
    bad "no claim: $(cat "$work/de2.out")"
  expect_claimed_covers_proof "it is paid what the requester signed, before and after the restart"
  # Its new offer waited for the deal's planned end (an hour away); the deal closing on the
  # ledger, the IP is for sale again at once.
  wait_for "$work/de2.out" 'placed, for sale at once: the earlier deals holding it are closed' 10 >/dev/null &&
    ok "the restarted provider offers the IP again as soon as the deal holding it is closing" ||
    bad "no new offer: $(cat "$work/de2.out")"
  expect_eq "one offer of the IP rests, for sale now" "$(for_sale_now)" 1
  ;;
node-restart)
  node_pid=${pids[0]}
  kill -9 "$node_pid"
  wait "$node_pid" 2>/dev/null
  start node2 "$IPSX" node --data "$data" --keystore "$ks" --address "$market" \
    --password-file "$work/pw" --listen "${url#http://}" --geo-static "$work/geo.txt"
  for _ in $(seq 50); do curl -sf "$url/v1/health" >/dev/null && break; sleep 0.1; done
  expect_out "the restarted node still knows the provider's exit" '"endpoint":"127\.0\.0\.1:[0-9]+"' \
    curl -sf "$url/v1/exits/$de"
  expect_eq "the running deal is still served" "$(through)" "127.0.0.2 200"
  before=$(grep -c "deal $deal paid" "$work/de.out")
  sleep 3
  after=$(grep -c "deal $deal paid" "$work/de.out")
  ((after > before)) && ok "and still paid ($before -> $after proofs)" || bad "no proof after the restart"
  close_at_zero
  wait_for "$work/de.out" 'claimed our balance proof of [0-9.]+ IPSX within the challenge period' 10 >/dev/null &&
    ok "the watchtower claims through the restarted node" || bad "no claim: $(cat "$work/de.out")"
  ;;
vanished-requester)
  kill -9 "$gateway_pid"
  wait "$gateway_pid" 2>/dev/null
  ok "the requester's gateway is killed (SIGKILL) mid-deal, for good"
  wait_for "$work/de.out" "deal $deal cut at the exit \(unpaid: .*reported unpaid to the market" 60 >/dev/null &&
    ok "the exit cuts the unpaid deal and the provider reports it to the market" ||
    bad "no unpaid cut: $(cat "$work/de.out")"
  wait_for "$work/de.out" "deal ${deal:0:18}\.\.\. settled on the ledger \(unpaid\)" 30 >/dev/null &&
    ok "the provider closes the unpaid deal on the ledger" || bad "no close: $(cat "$work/de.out")"
  expect_claimed_covers_proof "the provider is paid the last proof the vanished requester signed"
  ;;
*)
  bad "unknown scenario $SCENARIO"
  ;;
esac

# After the challenge period the deal is settled (by whichever party's agent comes first):
# nothing stays reserved, and the provider's wallet holds what was claimed.
for _ in $(seq $((CHALLENGE + 15))); do [[ $(ledger_of state) == closed ]] && break; sleep 1; done
expect_eq "the deal is settled on the ledger after the challenge period" "$(ledger_of state)" closed
reserved=$(curl -s "$url/v1/ledger/accounts/$requester" | jq -r '.wallet.reserved')
expect_eq "nothing of the requester's stays reserved" "$reserved" 0
paid=$(curl -s "$url/v1/ledger/accounts/$de" | jq -r '.wallet.balance')
awk -v c="$paid" 'BEGIN { exit !(c + 0 > 0) }' && ok "the provider's wallet holds $paid IPSX" ||
  bad "the provider was paid $paid"

# A deal that closes before the provider sees it: its place comes back at once.
if [[ $SCENARIO == vanished-requester ]]; then
  for _ in $(seq 100); do (($(for_sale_now) == 1)) && break; sleep 0.1; done
  expect_eq "the settled deal's IP is for sale again" "$(for_sale_now)" 1
  kill -STOP "$provider_pid"
  "$IPSX" request place --node "$url" --keystore "$ks" --address "$requester2" \
    --password-file "$work/pw" --countries DE --duration 3600 --max-price 0.002 --json \
    >"$work/req2.json" 2>&1
  deal2=$(jq -r '.deals[0].id // empty' "$work/req2.json")
  if [[ -z $deal2 ]]; then
    bad "the second requester's request opens a deal: $(cat "$work/req2.json")"
  else
    expect_out "the second requester reports the new deal failed at once" 'requester reported failed.*the deal is closed' \
      "$IPSX" deal report --node "$url" --keystore "$ks" --address "$requester2" \
      --password-file "$work/pw" --party requester --status failed --deal "$deal2"
    # The close becomes final (clock_skew after it) while the provider is frozen.
    for _ in $(seq 300); do
      [[ $(curl -s "$url/v1/deals/$deal2" | jq -r '.status.final') == true ]] && break
      sleep 0.1
    done
    expect_eq "the market's close is final before the provider sees the deal" \
      "$(curl -s "$url/v1/deals/$deal2" | jq -r '.status.final')" true
    kill -CONT "$provider_pid"
    wait_for "$work/de.out" "deal $deal2 .*already closed at the market before this provider saw it" 15 >/dev/null &&
      ok "the thawed provider finds the deal it never saw pending" || bad "not found: $(cat "$work/de.out")"
    wait_for "$work/de.out" "deal ${deal2:0:18}\.\.\. settled on the ledger \(provider_failed\)" 20 >/dev/null &&
      ok "and closes it on the ledger" || bad "no close: $(cat "$work/de.out")"
    for _ in $(seq 100); do (($(for_sale_now) == 1)) && break; sleep 0.1; done
    expect_eq "its IP is for sale again, without a challenge period" "$(for_sale_now)" 1
  fi
fi

# The double lease: the settled deal's place is free again, and the exclusive IP goes to one
# requester at a time, the first requester's gateway (which may lease it anew) or a second's.
if [[ $SCENARIO == close-at-zero ]]; then
  # The close put the root of the usage log the requester signed on the ledger (public); the
  # provider's proof checks against it.
  usage_count=$(ledger_of usageCount)
  ((usage_count > 0)) && ok "the close put the usage log's root on the ledger ($usage_count records)" ||
    bad "no usage root on the ledger: $(curl -s "$url/v1/deals/$deal")"
  expect_out "the provider's usage proof agrees with the ledger's root" \
    "the ledger holds (this root|the root of its first)" \
    "$IPSX" deal verify-usage "$work/proof.json" --node "$url"
  start gateway2 "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester2" \
    --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:0 \
    --max-price 0.002 --duration 3600 --budget 50
  gw2=$(wait_for "$work/gateway2.out" 'proxy on 127\.0\.0\.1:[0-9]+' | grep -oE '[0-9.]+:[0-9]+$') ||
    bad "the second gateway starts: $(cat "$work/gateway2.out")"
  sold=0 both=0
  for round in 1 2 3 4 5 6; do
    a=$(through) b=$(through "$gw2")
    echo "round $round: first requester '$a', second '$b'"
    [[ $a == "127.0.0.2 200" || $b == "127.0.0.2 200" ]] && sold=$((sold + 1))
    [[ $a == "127.0.0.2 200" && $b == "127.0.0.2 200" ]] && both=$((both + 1))
    sleep 1
  done
  ((sold > 0)) && ok "the IP is sold again once its deal is settled ($sold of 6 rounds)" ||
    bad "the IP was never sold again"
  expect_eq "never to both requesters in one round" "$both" 0
  live=0
  for phase in pending ready active; do
    live=$((live + $(curl -s "$url/v1/deals?party=$de&status=$phase" | jq '.deals | length')))
  done
  ((live <= 1)) && ok "the market holds at most one deal not closed on the IP ($live)" ||
    bad "$live deals not closed on one exclusive IP: $(curl -s "$url/v1/deals?party=$de")"
fi

# Stopped, the ledger's files verify from genesis: every block, signature and invariant.
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait 2>/dev/null
pids=()
expect_out "the ledger verifies from genesis" 'ok|verified' "$IPSX" ledger verify --data "$data"
finish
