#!/usr/bin/env bash
# `make quickstart`: an exchange left running on this machine for a person to try by hand, in
# DIR (default ./quickstart): a ledger, a node on 127.0.0.1:8080 (where the client commands look
# by default), two providers (DE leaving from 127.0.0.2, US from 127.0.0.3), a requester's
# gateway on 127.0.0.1:1080 (proxy password "quickstart") and a destination on 127.0.0.1:8090
# that answers with the caller's address; in a browser, the market at http://127.0.0.1:8080/, the
# requester's console at http://127.0.0.1:8081/ and the DE provider's at http://127.0.0.1:8082/
# (any user name, password "quickstart"). Named accounts in DIR/keys (password in
# DIR/password), logs in DIR/logs; `source DIR/env` for the commands, `DIR/stop` to stop it all.
# The README's "Quick start" goes on from here.
# usage: quickstart.sh IPSX [DIR]
set -euo pipefail
IPSX=$(realpath "$1")
DIR=$(realpath -m "${2:-quickstart}")
here=$(cd "$(dirname "$0")" && pwd)
NODE=127.0.0.1:8080 GATEWAY=127.0.0.1:1080 DEST=127.0.0.1:8090
REQUESTER_UI=127.0.0.1:8081 PROVIDER_UI=127.0.0.1:8082

if [[ -x $DIR/stop ]] && "$DIR/stop" --running; then
  echo "quickstart: already running in $DIR (stop it with $DIR/stop)" >&2
  exit 1
fi
for port in 8080 1080 8090 8081 8082; do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "quickstart: 127.0.0.1:$port is taken by another program; the quick start needs it" >&2
    exit 1
  fi
done
# Only a directory an earlier quick start made (its marker file) is cleared, or an empty or new one:
# QUICKSTART_DIR=. must not delete the tree.
if [[ -e $DIR && ! -e $DIR/.ipsx-quickstart && -n $(ls -A "$DIR" 2>/dev/null) ]]; then
  echo "quickstart: $DIR exists and is not a quick start's directory; name another" >&2
  exit 1
fi
rm -rf "$DIR"
mkdir -p "$DIR/logs"
touch "$DIR/.ipsx-quickstart"
cd "$DIR"
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY
export IPSX_KEYSTORE=$DIR/keys IPSX_PASSWORD_FILE=$DIR/password
printf 'quickstart\n' >password
printf 'quickstart\n' >proxy-password

say() { echo "quickstart: $*"; }
new() { "$IPSX" wallet new --name "$1" --light 2>/dev/null; }
for who in early bounty team treasury market requester provider-de provider-us; do new "$who" >/dev/null; done
addr() { "$IPSX" wallet list | awk -v n="$1" '$2 == n {print $1}'; }
requester=$(addr requester)
say "accounts in $DIR/keys: $("$IPSX" wallet list | awk '{print $2}' | tr '\n' ' ')"
"$IPSX" ledger genesis --out genesis.toml --early-adopters "$(addr early)" --bounty "$(addr bounty)" \
  --team "$(addr team)" --treasury "$(addr treasury)" --native "$requester=10" \
  --sale-seconds 3600 --hard-cap 3 --challenge-seconds 60 2>/dev/null
"$IPSX" ledger init --data ledger --genesis genesis.toml >/dev/null
send() { "$IPSX" ledger send --data ledger "$@" >/dev/null; }
send --account requester buy --value 3
send --account team finalize-sale
send --account requester claim-unsold
send --account requester deposit --amount 1000
say "ledger in $DIR/ledger: the sale is over; the requester holds IPSX, 1000 of them deposited"

# Each program in its own session, so that it outlives `make`; its pid kept for DIR/stop.
run() {
  local name=$1
  shift
  setsid "$@" >"logs/$name.log" 2>&1 </dev/null &
  echo "$! $name" >>pids
}
wait_log() {
  for _ in $(seq 150); do
    grep -qE "$2" "logs/$1.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "quickstart: $1 did not start; its log:" >&2
  cat "logs/$1.log" >&2
  "$DIR/stop" >/dev/null 2>&1 || true
  exit 1
}
cat >stop <<EOF
#!/usr/bin/env bash
# Stops the quick start's programs (--running: only says whether any runs).
cd "$DIR" || exit 1
running=0
while read -r pid name; do
  # (only a process of the quick start's: a pid a reboot gave to another is left alone)
  if kill -0 "\$pid" 2>/dev/null && grep -qaE 'ipsx|whoami_server' "/proc/\$pid/cmdline"; then
    running=1
    [[ \${1:-} == --running ]] || { kill -TERM "\$pid" && echo "stopped \$name (\$pid)"; }
  fi
done <pids 2>/dev/null
[[ \${1:-} == --running ]] && exit \$((1 - running))
for _ in \$(seq 100); do
  alive=0
  while read -r pid _; do
    kill -0 "\$pid" 2>/dev/null && grep -qaE 'ipsx|whoami_server' "/proc/\$pid/cmdline" && alive=1
  done <pids
  ((alive)) || exit 0
  sleep 0.1
done
echo "some did not stop in 10 s" >&2
exit 1
EOF
chmod +x stop

run destination python3 "$here/../tests/e2e/whoami_server.py" 127.0.0.1 8090
cat >geo-static.txt <<'EOF'
# The quick start's providers leave from loopback addresses; this table places them (docs/geo.md).
127.0.0.2/32    DE       AS64501  residential  Quick start provider DE
127.0.0.3/32    US       AS64502  residential  Quick start provider US
EOF
run node "$IPSX" node --data ledger --journal market --keystore keys --address market \
  --password-file password --listen "$NODE" \
  --fee-bps 250 --geo-static geo-static.txt
wait_log node "listening on http://$NODE"
say "node: http://$NODE (logs/node.log); the market in a browser: http://$NODE/"
i=2
for country in de us; do
  cat >"provide-$country.toml" <<EOF
pair_listen = "127.0.0.1:0"
allow = ["127.0.0.0/8"]   # the destination is on loopback
[[ip]]
address = "127.0.0.$i"
country = "${country^^}"
type = "residential"
price = "0.001"
EOF
  console=()  # the DE provider's console, behind the quick start's password
  [[ $country == de ]] && console=(--ui "$PROVIDER_UI" --ui-password-file password)
  run "provide-$country" "$IPSX" provide --node "http://$NODE" --account "provider-$country" \
    --config "provide-$country.toml" --data "provider-$country" "${console[@]}"
  wait_log "provide-$country" "offer .* placed"
  say "provider ${country^^}: offers 127.0.0.$i at 0.001 IPSX/s (logs/provide-$country.log)"
  [[ $country == de ]] && say "provider DE's console: http://$PROVIDER_UI/ (password 'quickstart')"
  i=$((i + 1))
done
run gateway "$IPSX" gateway --node "http://$NODE" --account requester \
  --proxy-password-file proxy-password --listen "$GATEWAY" --max-price 0.002 --duration 600 \
  --budget 10 --ui "$REQUESTER_UI"
wait_log gateway "proxy on $GATEWAY"
say "gateway: SOCKS5 and HTTP proxy on $GATEWAY, password 'quickstart' (logs/gateway.log)"
say "requester's console: http://$REQUESTER_UI/ (password 'quickstart')"
say "destination: http://$DEST/ answers with the caller's address"

bin=$(dirname "$IPSX")
cat >env <<EOF
# source $DIR/env: the quick start's settings for the ipsx commands.
export PATH="$bin:\$PATH"
export IPSX_NODE=http://$NODE
export IPSX_KEYSTORE=$DIR/keys
export IPSX_PASSWORD_FILE=$DIR/password
export REQUESTER=$requester
EOF
say "running. Next: source $DIR/env, then the README's quick start; $DIR/stop stops it all."
