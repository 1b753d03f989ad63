#!/usr/bin/env bash
# The attack: slowloris against `ipsx node`. One address opens 300 connections and sends the start
# of a request on each, never the end; ten more addresses open 200 each: 2,300 in all, where the
# node used to take 256 and close the rest, shutting everyone out. The node holds at most 256 from
# one address (the first address's last 44 are closed at once) and the others' 2,000 too, and a
# health check and the order book's depth from another address are still answered. (The read
# deadline is a minute here, so that the attackers hold their places for the whole test.)
# usage: slowloris_e2e.sh IPSX
set -uo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
ulimit -n "$(ulimit -Hn)"
on_exit() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
echo pw >"$work/pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new)
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" 2>/dev/null
"$IPSX" ledger init --data "$work/ledger" --genesis "$work/g.toml" >/dev/null
start node "$IPSX" node --data "$work/ledger" --keystore "$ks" --address "$market" \
  --password-file "$work/pw" --listen 127.0.0.1:0 --offer-checks none --read-timeout-ms 60000
url=$(wait_for "$work/node.out" 'http://127\.0\.0\.1:[0-9]+') && ok "the node listens at $url" ||
  { bad "the node starts: $(cat "$work/node.out")"; finish; exit 1; }
port=${url##*:}
sources=(127.0.0.2)
for i in $(seq 3 12); do sources+=("127.0.0.$i"); done
start attackers python3 "$here/slow_clients.py" 127.0.0.1 "$port" 200 "${sources[@]:1}"
start flood python3 "$here/slow_clients.py" 127.0.0.1 "$port" 300 127.0.0.2
held=$(wait_for "$work/attackers.out" '^held [0-9]+$' 60) || bad "the attackers connect: $(cat "$work/attackers.out")"
expect_eq "ten addresses hold 200 connections each" "$held" "held 2000"
wait_for "$work/flood.out" '^held [0-9]+$' 60 >/dev/null
expect_eq "one address holds 256 of its 300: the rest are closed at once" \
  "$(grep -E '^(closed|held)' "$work/flood.out" | tr '\n' ' ')" "closed 127.0.0.2 44 held 256 "
# Another address is still served (each within curl's 5 s bound: it would be closed unanswered
# if the node had no place for it).
for i in $(seq 10); do
  if ! curl -sf --max-time 5 --interface 127.0.0.20 "$url/v1/health" | grep -q '"status":"ok"'; then
    answered=no
    break
  fi
done
expect_eq "health checks from another address are answered under the attack" "${answered:-yes}" yes
expect_out "and so is the book" '"liveOffers"' \
  curl -sf --max-time 5 --interface 127.0.0.21 "$url/v1/market/depth?country=DE"
finish
