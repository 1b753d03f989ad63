#!/usr/bin/env bash
# End to end: `ipsx node --config FILE` (docs/node.md). The node runs from a TOML file alone
# (relative paths relative to the file), options on the command line override its keys, and
# `--print-config` prints the effective settings as a file that reads back to the same. Mistakes
# in the file (an unknown key, a wrong type, a value out of range, not TOML, a deployment file)
# end the command with a message naming the file, line and key.
# usage: node_config_e2e.sh IPSX
set -euo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
node_pid=
on_exit() { if [[ -n $node_pid ]]; then kill -KILL "$node_pid" 2>/dev/null || true; fi; }

echo pw >"$work/pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new)
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" 2>/dev/null
"$IPSX" ledger init --data "$work/ledger" --genesis "$work/g.toml" >/dev/null

# The defaults, printed with no file and no option.
expect_out "--print-config prints the defaults" '^listen = "127.0.0.1:8080"$' "$IPSX" node --print-config
expect_out "... numbers as TOML" '^rate_limit = 50.0$' "$IPSX" node --print-config
expect_out "... an unset setting commented out" '^# data = ""$' "$IPSX" node --print-config

cat >"$work/node.toml" <<EOF
# relative paths: relative to this file
data = "ledger"
keystore = "ks"
address = "$market"
password_file = "pw"
listen = "127.0.0.1:0"
fee_bps = 25
read_timeout_ms = 2000
rate_limit = 0
order_rate_burst = 3
EOF
# node [ARGS...]: starts the node from another directory, waits for its URL.
start_node() {
  (cd / && exec "$IPSX" node "$@" --offer-checks none) >"$work/node.out" 2>&1 &  # takes no offers
  node_pid=$!
  for _ in $(seq 600); do  # 30 s: a loaded machine unlocks the keystore slowly
    url=$(grep -oE 'https?://127\.0\.0\.1:[0-9]+' "$work/node.out" | head -1 || true)
    [[ -n $url ]] && return 0
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$work/node.out"
  return 1
}
stop_node() {
  kill -TERM "$node_pid"
  local rc=0
  wait "$node_pid" || rc=$?
  node_pid=
  return $rc
}
if start_node --config "$work/node.toml"; then ok "the node runs from the file alone"; else bad "node starts"; fi
expect_out "the file's fee" '"feeBps":25' curl -s "$url/v1/health"
expect_out "the file's market" "\"market\":\"$market\"" curl -s "$url/v1/health"
if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi
if start_node --config "$work/node.toml" --fee-bps 50; then ok "the node runs with an override"; else bad "node starts"; fi
expect_out "an option overrides the file" '"feeBps":50' curl -s "$url/v1/health"
if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi

# --print-config: the file, the options over it; paths absolute; reads back to the same text.
(cd / && "$IPSX" node --config "$work/node.toml" --listen 127.0.0.1:7 --print-config) >"$work/printed.toml"
expect_out "printed: the file's keys" '^fee_bps = 25$' cat "$work/printed.toml"
expect_out "printed: the option over the file" '^listen = "127.0.0.1:7"$' cat "$work/printed.toml"
expect_out "printed: paths made absolute" "^data = \"$work/ledger\"\$" cat "$work/printed.toml"
expect_out "printed: the defaults of the rest" '^max_body = 262144$' cat "$work/printed.toml"
"$IPSX" node --config "$work/printed.toml" --print-config >"$work/printed2.toml"
if cmp -s "$work/printed.toml" "$work/printed2.toml"; then
  ok "the printed file prints the same"
else
  bad "the printed file prints differently: $(diff "$work/printed.toml" "$work/printed2.toml")"
fi
sed -i 's/^listen = .*/listen = "127.0.0.1:0"/' "$work/printed.toml"
if start_node --config "$work/printed.toml"; then ok "the node runs from a printed file"; else bad "node starts"; fi
if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi

# https: the node's certificate (signed by a CA made here) and key in the file.
(
  cd "$work" &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
      -days 1 -subj "/CN=IPSX test CA" &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout node.key -out node.csr \
      -subj "/CN=node" &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.txt &&
    openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out node.pem -days 1 \
      -extfile san.txt
) >/dev/null 2>&1 || bad "openssl made the test CA"
cp "$work/node.toml" "$work/tls.toml"
printf 'tls_cert = "node.pem"\ntls_key = "node.key"\n' >>"$work/tls.toml"
if start_node --config "$work/tls.toml"; then ok "the node serves https"; else bad "https node starts"; fi
expect_eq "it says https" "${url%%:*}" https
expect_out "curl trusts it with the CA" '"status":"ok"' curl -sS --cacert "$work/ca.pem" "$url/v1/health"
expect_error "curl without the CA does not" 'certificate' curl -sS "$url/v1/health"
ws_upgrade='GET /v1/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n'
# shellcheck disable=SC2059 # the request's escapes are printf's
expect_out "the event stream's WebSocket upgrade over TLS" '^HTTP/1.1 101 Switching Protocols' \
  bash -c "(printf '$ws_upgrade'; sleep 1) | timeout 5 openssl s_client -quiet -verify_return_error \
    -CAfile '$work/ca.pem' -connect '${url#https://}' 2>/dev/null; true"
expect_out "the client commands reach it with --ca-file" '"nonce"' \
  "$IPSX" token balance "$market" --node "$url" --ca-file "$work/ca.pem" --json
expect_error "... and without it name the certificate" 'not trusted' \
  "$IPSX" token balance "$market" --node "$url" --json
if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi
cp "$work/node.toml" "$work/tls-bad.toml"
printf 'tls_cert = "node.pem"\ntls_key = "ca.key"\n' >>"$work/tls-bad.toml"
expect_error "a key that is not the certificate's" 'ca\.key: not a PEM private key of the certificate' \
  "$IPSX" node --config "$work/tls-bad.toml" --offer-checks none
expect_error "a certificate without its key" 'tls-cert and --tls-key go together' \
  "$IPSX" node --config "$work/node.toml" --tls-cert "$work/node.pem" --offer-checks none

expect_error "confirmations on the embedded ledger" 'confirmations is for --ledger ethereum' \
  "$IPSX" node --config "$work/node.toml" --confirmations 2 --offer-checks none

# CORS from the file: a listed origin's preflight is answered, another origin gets no header.
cp "$work/node.toml" "$work/cors.toml"
printf 'cors_origins = "https://app.example, http://localhost:3000"\n' >>"$work/cors.toml"
if start_node --config "$work/cors.toml"; then ok "the node starts with cors_origins"; else bad "cors node starts"; fi
expect_out "a listed origin's preflight is answered" 'HTTP/1.1 204.*Access-Control-Allow-Origin: http://localhost:3000' \
  bash -c "curl -si -X OPTIONS -H 'Origin: http://localhost:3000' -H 'Access-Control-Request-Method: POST' '$url/v1/orders' | tr -d '\r' | tr '\n' ' '"
expect_eq "an origin not listed gets no Access-Control-Allow-Origin" \
  "$(curl -si -H 'Origin: https://evil.example' "$url/v1/health" | grep -ci 'access-control-allow-origin')" 0
if stop_node; then ok "SIGTERM: exit 0"; else bad "SIGTERM: exit $?"; fi
expect_error "an origin with a path is refused at start" \
  "cors-origins: 'https://app.example/' is not an origin" \
  "$IPSX" node --config "$work/node.toml" --cors-origins https://app.example/ --offer-checks none

# Mistakes: each names the file, the line and the key.
# refused NAME PATTERN LINE...: a file of the lines after node.toml's, refused with PATTERN.
refused() {
  local name=$1 pattern=$2
  shift 2
  cp "$work/node.toml" "$work/bad.toml"
  printf '%s\n' "$@" >>"$work/bad.toml"
  expect_error "$name" "$pattern" "$IPSX" node --config "$work/bad.toml"
}
refused "an unknown key, with the key it looks like" \
  "bad\.toml:11: lisen: unknown key \(did you mean 'listen'\?\)" 'lisen = "127.0.0.1:0"'
refused "an unknown key, with the keys there are" "bad\.toml:11: colour: unknown key \(the keys are data, journal, " \
  'colour = "blue"'
refused "a table is no setting" "bad\.toml:11: limits: unknown key" '[limits]' 'rate = 5'
sed -i '/^read_timeout_ms/d' "$work/node.toml"
refused "a wrong type" 'bad\.toml:10: read_timeout_ms: want an integer, not a string' 'read_timeout_ms = "fast"'
refused "an integer out of range" 'bad\.toml:10: read_timeout_ms: 0 is out of range \(1 to 3600000\)' \
  'read_timeout_ms = 0'
sed -i '/^fee_bps/d' "$work/node.toml"
refused "a fee over 100 %" 'bad\.toml:9: fee_bps: 20000 is out of range \(0 to 10000\)' 'fee_bps = 20000'
refused "a negative rate" 'bad\.toml:9: order_rate_limit: -1 is out of range' 'order_rate_limit = -1'
refused "a number that is a string" 'bad\.toml:9: rate_burst: want a number, not a string' 'rate_burst = "5"'
refused "a ledger that is none" "bad\.toml:9: ledger: 'sqlite' is not one of embedded, ethereum" 'ledger = "sqlite"'
refused "a path that is a number" 'bad\.toml:9: journal: want a string, not an integer' 'journal = 5'
refused "not TOML" 'bad\.toml:9: ' 'listen 127.0.0.1'
refused "a key given twice" 'bad\.toml:9: ' 'data = "elsewhere"'
sed -i '/^listen/d' "$work/node.toml"
refused "a bad listen names the file's key" 'bad\.toml: listen: want HOST:PORT' 'listen = "nowhere"'
sed -i '/^password_file/d' "$work/node.toml"
refused "a missing password file names the file's key" 'bad\.toml: password_file: no file .*/nothing' \
  'password_file = "nothing"'
# shellcheck disable=SC2016 # the backquotes are the message's
refused "a required key missing" '--password-file is required \(or `password_file` in the --config file\)' \
  '# no password_file'
printf 'chain_id = 1337\ntoken = "0x%040d"\ncentralizer = "0x%040d"\n' 1 2 >"$work/deployment.toml"
expect_error "a deployment file given as --config" "deployment\.toml: this looks like a deployment file.*--deployment" \
  "$IPSX" node --config "$work/deployment.toml"
expect_error "--config names a file that exists" "config: File does not exist" \
  "$IPSX" node --config "$work/none.toml"
expect_error "without a file, --data is required" '--data is required' \
  "$IPSX" node --keystore "$ks" --password-file "$work/pw"
expect_error "an option out of range is refused as before" 'fee-bps' \
  "$IPSX" node --config "$work/node.toml" --fee-bps 20000

finish
