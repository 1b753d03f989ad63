#!/usr/bin/env bash
# Chaos: the whole exchange on loopback (a node, two providers, a requester's gateway, a crawler
# fetching through it) while the node, each provider and the gateway are killed with SIGKILL at
# random moments and restarted on their data, at least KILLS times each. Then, once every deal
# has had its end, its challenge period and two minutes more:
#   - every deal is closed on the ledger and nothing of the requester's stays reserved;
#   - each provider was paid at least 95 % of the best balance proof it ever received for a deal
#     (the service it delivered and the requester acknowledged); the rest went back;
#   - every offer is sellable again (no place held by a dead deal);
#   - the ledger re-verifies from genesis.
# usage: chaos_e2e.sh IPSX [SECONDS] [KILLS] [SEED]
set -uo pipefail
IPSX=$1
SECONDS_OF_CHAOS=${2:-90}
KILLS=${3:-5}
seed=${4:-$$}
RANDOM=$seed
echo "seed $seed (pass it as the 4th argument to replay this run's choices)"
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
declare -A pid
on_exit() { for p in "${pid[@]}" "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; }
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY
CHALLENGE=60
DURATION=20

echo proxy-secret >"$work/proxy-pw"
exchange_ledger "$IPSX" $CHALLENGE 500
de=$(new) us=$(new)
printf '127.0.0.2/32  DE  AS64501  residential  Loopback DE\n127.0.0.3/32  US  AS64502  residential  Loopback US\n' >"$work/geo.txt"
for c in de us; do
  cat >"$work/$c.toml" <<TOML
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]
[[ip]]
address = "127.0.0.$([[ $c == de ]] && echo 2 || echo 3)"
country = "$(tr a-z A-Z <<<"$c")"
type = "residential"
price = "0.001"
capacity = 1
TOML
done

port=$(free_port)
url=http://127.0.0.1:$port
gw_port=$(free_port)
gw=127.0.0.1:$gw_port
n=0
# launch ROLE: starts (or restarts) a role; its output goes to $work/ROLE.N.out.
launch() {
  n=$((n + 1))
  local out=$work/$1.$n.out
  case $1 in
  node) "$IPSX" node --data "$data" --keystore "$ks" --address "$market" --password-file "$work/pw" \
    --listen "127.0.0.1:$port" --geo-static "$work/geo.txt" >"$out" 2>&1 & ;;
  de | us) "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
    --address "${!1}" --config "$work/$1.toml" --data "$work/$1-state" >"$out" 2>&1 & ;;
  gateway) "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
    --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen "$gw" \
    --max-price 0.002 --duration $DURATION >"$out" 2>&1 & ;;
  esac
  pid[$1]=$!
}
up() { curl -sf "$url/v1/health" >/dev/null; }
launch node
for _ in $(seq 100); do up && break; sleep 0.1; done
up && ok "the node is up at $url" || { bad "the node starts: $(cat "$work"/node.*.out)"; finish; exit 1; }
start whoami python3 "$here/whoami_server.py"
dest_port=$(wait_for "$work/whoami.out" '^[0-9]+$') || { bad "the destination starts"; finish; exit 1; }
launch de
launch us
launch gateway
for _ in $(seq 100); do
  (($(curl -s "$url/v1/orders?side=offer&state=resting" | jq '.orders | length') >= 2)) && break
  sleep 0.1
done

# The crawler: a request every 0.3 s through the gateway, by country, new sessions now and then.
crawl() {
  local i=0 ok=0
  while [[ ! -e $work/stop-crawling ]]; do
    i=$((i + 1))
    c=$([[ $((i % 2)) == 0 ]] && echo de || echo us)
    if curl -s -o /dev/null --max-time 5 -w '%{http_code}' \
      -x "http://country-$c-session-s$((i / 40)):proxy-secret@$gw" "http://127.0.0.1:$dest_port/" |
      grep -q 200; then ok=$((ok + 1)); fi
    sleep 0.3
  done
  echo "$i $ok" >"$work/crawled"
}
crawl &
pids+=($!)

roles=(node de us gateway)
declare -A kills=([node]=0 [de]=0 [us]=0 [gateway]=0)
start_s=$(date +%s)
gap=$((SECONDS_OF_CHAOS * 1000 / (KILLS * 4 + 1)))  # ms between kills
while :; do
  sleep "$(awk -v g="$gap" -v r=$RANDOM 'BEGIN { printf "%.2f", g * (0.5 + r / 32768) / 1000 }')"
  left=()
  for r in "${roles[@]}"; do ((kills[$r] < KILLS)) && left+=("$r"); done
  ((${#left[@]} == 0)) && (($(date +%s) - start_s >= SECONDS_OF_CHAOS)) && break
  ((${#left[@]} == 0)) && continue
  victim=${left[$((RANDOM % ${#left[@]}))]}
  kill -9 "${pid[$victim]}" 2>/dev/null
  wait "${pid[$victim]}" 2>/dev/null
  kills[$victim]=$((kills[$victim] + 1))
  echo "$(($(date +%s) - start_s)) s: killed the $victim (kill ${kills[$victim]})"
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.2 + 2 * r / 32768 }')"
  launch "$victim"
  [[ $victim == node ]] && for _ in $(seq 100); do up && break; sleep 0.1; done
done
touch "$work/stop-crawling"
chaos_end=$(date +%s)
ok "each of the node, the two providers and the gateway was killed $KILLS times in $((chaos_end - start_s)) s"
# The crawler finishes its last request (at most 5 s) and writes its counts.
for _ in $(seq 300); do [[ -s $work/crawled ]] && break; sleep 0.1; done
read -r tried served <"$work/crawled" 2>/dev/null || { tried=0 served=0; }
((served > 0)) && ok "the crawler was served $served of its $tried requests through the chaos" ||
  bad "the crawler was never served"

# Every deal: its end plus the challenge period plus two minutes is the deadline for it to be
# closed on the ledger with nothing reserved. The agents keep running meanwhile.
deals=$(curl -s "$url/v1/deals?party=$requester&limit=200" | jq -r '.deals[].id')
ndeals=$(wc -w <<<"$deals")
((ndeals > 0)) && ok "$ndeals deals were opened" || bad "no deal was opened"
last_end=$(curl -s "$url/v1/deals?party=$requester&limit=200" | jq '[.deals[].times.endMs] | max / 1000 | ceil')
deadline=$((last_end + CHALLENGE + 120))
open_deals() {
  local left=0
  for d in $deals; do
    [[ $(curl -s "$url/v1/deals/$d" | jq -r '.ledger.state') == closed ]] || left=$((left + 1))
  done
  echo $left
}
while (($(date +%s) < deadline)); do
  [[ $(open_deals) == 0 && $(curl -s "$url/v1/ledger/accounts/$requester" | jq -r .wallet.reserved) == 0 ]] && break
  sleep 5
done
echo "all settled $(($(date +%s) - chaos_end)) s after the chaos (deadline $((deadline - chaos_end)) s)"
expect_eq "every deal is closed on the ledger by its deadline" "$(open_deals)" 0
expect_eq "nothing of the requester's stays reserved" \
  "$(curl -s "$url/v1/ledger/accounts/$requester" | jq -r .wallet.reserved)" 0

# Each provider: paid at least 95 % of the best proof it received for each deal.
short=0
for d in $deals; do
  best=$(cat "$work"/de.*.out "$work"/us.*.out | grep -oE "deal $d paid [0-9.]+ IPSX" |
    awk '{print $4}' | sort -g | tail -1)
  [[ -z $best ]] && continue
  claimed=$(curl -s "$url/v1/deals/$d" | jq -r '.ledger.claimed')
  if ! awk -v c="$claimed" -v b="$best" 'BEGIN { exit !(c + 0 >= 0.95 * b) }'; then
    short=$((short + 1))
    echo "deal $d: claimed $claimed, best proof $best"
  fi
done
expect_eq "each provider was paid at least 95 % of every proof it received" "$short" 0

# No place held by a dead deal: each IP has a resting offer again.
resting=$(curl -s "$url/v1/orders?side=offer&state=resting&limit=50" | jq '[.orders[].offer.ip] | unique | length')
expect_eq "both IPs are on offer again" "$resting" 2

for p in "${pid[@]}" "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
wait 2>/dev/null
pid=()
pids=()
expect_out "the ledger verifies from genesis" 'ok|verified' "$IPSX" ledger verify --data "$data"
if ((failures > 0)); then  # keep every process's output for a look
  logs=${TMPDIR:-/tmp}/ipsx-chaos-$seed
  mkdir -p "$logs" && cp "$work"/*.out "$logs"/ && echo "the processes' output: $logs"
fi
finish
