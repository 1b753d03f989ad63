#!/usr/bin/env bash
# The web app in a browser (label `ui`): a live exchange on loopback, as dataplane_e2e.sh runs it
# (`ipsx node` on the embedded ledger, providers in DE and US, a requester's gateway, a
# destination that answers with the caller's address), and Debian's chromium driven by
# puppeteer-core (ui_browser.mjs) through the market page: the map, a country's depth, a deal
# appearing live while curl uses the gateway, the ledger explorer, the crowd sale, and a request
# signed by a test EIP-1193 wallet in the page. Screenshots go to docs/screenshots/.
# usage: ui_e2e.sh IPSX
set -uo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
on_exit() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY
command -v chromium >/dev/null || { echo "FAIL chromium is missing: run 'make deps'"; exit 1; }
[[ -d $root/node_modules/puppeteer-core ]] || { echo "FAIL puppeteer-core is missing: run 'make deps'"; exit 1; }

echo pw >"$work/pw"
echo proxy-secret >"$work/proxy-pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new)
de=$(new) us=$(new) requester=$(new)
data=$work/ledger
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 1 2>/dev/null
"$IPSX" ledger init --data "$data" --genesis "$work/g.toml" >/dev/null
sleep 1
send() { "$IPSX" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@" >/dev/null; }
send --address "$team" finalize-sale
send --address "$early" transfer --to "$requester" --amount 1000
send --address "$requester" deposit --amount 100
cat >"$work/geo.txt" <<'TABLE'
127.0.0.2/32  DE  AS64501  residential  Loopback DE
127.0.0.3/32  US  AS64502  residential  Loopback US
127.0.0.4/32  DE  AS64501  residential  Loopback DE, the DE provider's second IP
TABLE
start node "$IPSX" node --data "$data" --keystore "$ks" --address "$market" \
  --password-file "$work/pw" --listen 127.0.0.1:0 --geo-static "$work/geo.txt"
url=$(wait_for "$work/node.out" 'http://127\.0\.0\.1:[0-9]+') && ok "the node listens at $url" ||
  bad "the node starts: $(cat "$work/node.out")"
start whoami python3 "$here/whoami_server.py"
dest_port=$(wait_for "$work/whoami.out" '^[0-9]+$') && ok "the destination listens" ||
  bad "the destination starts"
provider_config() {
  cat <<TOML
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]   # the destination is on loopback; an operator would not allow it
[[ip]]
address = "$1"
country = "$2"
type = "residential"
price = "$3"
protocols = "http,https-connect,socks5"
scopes = "crawling,general"
TOML
}
provider_config 127.0.0.2 DE 0.001 >"$work/de.toml"
provider_config 127.0.0.3 US 0.002 >"$work/us.toml"
# The DE provider has a second, dearer IP (what its console changes), and a console.
provider_config 127.0.0.4 DE 0.0015 | sed -n '/^\[\[ip\]\]/,$p' >>"$work/de.toml"
# ... on sale only within daily hours (UTC) that hold the next few hours: from an hour ago to three
# hours on.
now_h=$(date -u +%-H)
hours=$(printf '%02d:00-%02d:00' $(((now_h + 23) % 24)) $(((now_h + 3) % 24)))
echo "hours = \"$hours\"" >>"$work/de.toml"
sed 's/^hours = .*/hours = "25:00-01:00"/' "$work/de.toml" >"$work/bad-hours.toml"
expect_error "a config with bad hours is refused, naming the key" 'ip\[1\]\.hours: .25:00-01:00.: want HH:MM-HH:MM' \
  "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" --address "$de" \
  --config "$work/bad-hours.toml"
# Their exits also serve each deal as an ordinary proxy (ip:port:user:pass) from the leased IP.
sed -i '1i proxy_listen = "127.0.0.2:0"' "$work/de.toml"
sed -i '1i proxy_listen = "127.0.0.3:0"' "$work/us.toml"
echo provider-console-pw >"$work/ui-pw"
start de "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$de" --config "$work/de.toml" --ui 127.0.0.1:0 --ui-password-file "$work/ui-pw"
de_pid=$!
start us "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$us" --config "$work/us.toml"
provider_console=$(wait_for "$work/de.out" 'console on http://127\.0\.0\.1:[0-9]+' | grep -oE 'http://[0-9.:]+') &&
  ok "the DE provider's console listens at $provider_console" || bad "the provider's console: $(cat "$work/de.out")"
expect_error "ipsx provide --ui without its password file" 'needs --ui-password-file' \
  "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" --address "$de" \
  --config "$work/de.toml" --ui 127.0.0.1:0
wait_for "$work/de.out" 'offer .* for 127\.0\.0\.2 \(DE\) placed' >/dev/null &&
  ok "the DE provider places its offer" || bad "DE provider: $(cat "$work/de.out")"
wait_for "$work/us.out" 'offer .* for 127\.0\.0\.3 \(US\) placed' >/dev/null &&
  ok "the US provider places its offer" || bad "US provider: $(cat "$work/us.out")"
start gateway "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:0 \
  --max-price 0.0025 --duration 120 --budget 1 --ui 127.0.0.1:0
gw=$(wait_for "$work/gateway.out" 'proxy on 127\.0\.0\.1:[0-9]+' | grep -oE '[0-9.]+:[0-9]+$') &&
  ok "the gateway listens on $gw" || bad "the gateway starts: $(cat "$work/gateway.out")"
console=$(wait_for "$work/gateway.out" 'console on http://127\.0\.0\.1:[0-9]+' | grep -oE 'http://[0-9.:]+') &&
  ok "the requester's console listens at $console" || bad "the console starts: $(cat "$work/gateway.out")"

# The console's door: a password, and changes only from its own page.
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "the console without a password: 401" "$(status "$console/")" 401
expect_out "... with a challenge that makes a browser ask" 'WWW-Authenticate: Basic realm="IPSX requester console"' \
  curl -sI "$console/"
expect_eq "a wrong password: 401" "$(status -u me:nope "$console/v1/leases")" 401
expect_eq "a change sent as a form (what another site could post): 415" \
  "$(status -u me:proxy-secret -d 'username=country-us' "$console/v1/leases")" 415
expect_eq "a change from another site (Sec-Fetch-Site: cross-site): 403" \
  "$(status -u me:proxy-secret -H 'Content-Type: application/json' -H 'Sec-Fetch-Site: cross-site' \
    -d '{"username":"country-us"}' "$console/v1/leases")" 403
expect_eq "a change with another origin: 403" \
  "$(status -u me:proxy-secret -H 'Content-Type: application/json' -H 'Origin: http://evil.example' \
    -d '{"username":"country-us"}' "$console/v1/leases")" 403
# Its WebSocket too: a page on another site could open one (no same-origin policy there).
ws() { status -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
  -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$@" "$console/v1/events"; }
expect_eq "the console's WebSocket without the password: 401" "$(ws)" 401
expect_eq "... with it, from another origin: 403" "$(ws -u me:proxy-secret -H 'Origin: http://evil.example')" 403
expect_eq "... with it, from its own page: 101" \
  "$(ws -u me:proxy-secret -H "Origin: $console" --max-time 2)" 101
expect_out "bad filters: 400 with the parser's reason" '"field":"username".*unknown key' \
  curl -s -u me:proxy-secret -H 'Content-Type: application/json' -d '{"username":"colour-blue"}' "$console/v1/leases"

# The browser half asks for traffic through the gateway by writing a file in sync/ holding the
# proxy username to use; the answer (what the destination saw) goes to that file's .done.
mkdir -p "$work/sync" "$root/docs/screenshots"
(
  for _ in $(seq 3000); do
    for f in "$work"/sync/*; do
      [[ -e $f && $f != *.done && ! -e $f.done ]] || continue
      curl -sS --max-time 20 -x "http://$(cat "$f"):proxy-secret@$gw" \
        "http://127.0.0.1:$dest_port/" >"$f.out" 2>&1
      mv "$f.out" "$f.done"
    done
    sleep 0.1
  done
) &
pids+=($!)
# Another site, for the attack on the provider's console: a page that, opened in the browser
# where the console's password is remembered, posts a change to it as a form and as a fetch that
# needs no preflight, and opens its WebSocket to read what it says.
mkdir -p "$work/evil"
cat >"$work/evil/evil.html" <<'HTML'
<!doctype html><title>evil</title>
<iframe name="sink" style="display:none"></iframe>
<form id="f" method="POST" enctype="text/plain" target="sink"><input name='{"allow":["10.0.0.0/8"],"x":"' value='"}'></form>
<script>
const t = new URLSearchParams(location.search).get("target");
const f = document.getElementById("f");
f.action = t + "/v1/policy";
f.submit();
const post = (path, body) => fetch(t + path, { method: "POST", mode: "no-cors", credentials: "include",
  headers: { "Content-Type": "text/plain" }, body: JSON.stringify(body) }).catch(() => {});
post("/v1/policy", { allow: ["10.0.0.0/8"] });
post("/v1/ips/127.0.0.4", { paused: true });
let got = "nothing read";
const ws = new WebSocket(t.replace(/^http/, "ws") + "/v1/events");
ws.onmessage = (m) => { got = "read: " + String(m.data).slice(0, 60); };
ws.onerror = () => {};
setTimeout(() => { document.title = "done " + got; }, 4000);
</script>
HTML
evil_port=$(free_port)
start evil python3 -m http.server "$evil_port" --bind 127.0.0.5 --directory "$work/evil"
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.5:$evil_port/evil.html" && break; sleep 0.1; done

# browser PAGE URL [PASSWORD]: the browser half for one page; its ok/FAIL lines count here.
browser() {
  UI_SYNC=$work/sync UI_PASSWORD=${3:-proxy-secret} UI_NODE=$url UI_HOURS=$hours \
    UI_EVIL=http://127.0.0.5:$evil_port/evil.html node "$here/ui_browser.mjs" "$1" "$2" \
    "$root/docs/screenshots" >"$work/browser-$1.out" 2>&1
  local rc=$? n
  cat "$work/browser-$1.out"
  checks=$((checks + $(grep -c '^ok ' "$work/browser-$1.out")))
  n=$(grep -c '^FAIL ' "$work/browser-$1.out")
  checks=$((checks + n)) failures=$((failures + n))
  ((rc == 0 || n > 0)) || bad "the browser ran the $1 page (exit $rc)"
}
browser market "$url"
expect_eq "curl through the gateway left from the DE provider's IP" "$(cat "$work/sync/deal.done")" 127.0.0.2
browser requester "$console"
browser provider "$provider_console" provider-console-pw

# What the console changed outlives the agent: restarted, the DE provider offers 127.0.0.4 at the
# console's price, not the config's, and says why.
kill -TERM "$de_pid"
wait "$de_pid"
start de2 "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$de" --config "$work/de.toml"
wait_for "$work/de2.out" "127\.0\.0\.4: the console's changes from .*console\.json apply over the config" \
  30 >/dev/null && ok "a restarted provider takes up the console's changes" ||
  bad "restart: $(cat "$work/de2.out"; find "$work/state" -name console.json)"
wait_for "$work/de2.out" 'offer .* for 127\.0\.0\.4 \(DE\) placed' 20 >/dev/null &&
  expect_out "and offers the IP at the console's price" '"pricePerSecond":"2000000000000000"' \
    curl -s "$url/v1/market/depth?country=DE&type=residential" ||
  bad "the restarted provider's offer: $(cat "$work/de2.out")"
finish
