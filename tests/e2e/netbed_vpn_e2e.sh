#!/usr/bin/env bash
# VPN deals across the testbed (docs/vpn.md): a datacenter provider on `dc1` serves `vpn` deals as
# WireGuard tunnels (wireguard-go: these machines' kernels have no WireGuard module); the
# requester on `req`, behind nat3, runs `ipsx vpn`, which leases the IP and brings up a local
# tunnel that carries everything. With no proxy settings, curl, a UDP exchange and a DNS query
# (dnsmasq on `dest`) leave from the provider's public address; the provider's own LAN (a
# namespace behind dc1 that this test adds) and the provider's host are refused through the
# tunnel; a wg-quick file exported by `ipsx vpn --export` brings up a tunnel with Debian's
# wg-quick on another host (`home3`); a requester that stops paying is cut and its peer removed;
# the provider's interface and rules go when it stops. Needs root (exit 77 without it).
# usage: netbed_vpn_e2e.sh IPSX
set -uo pipefail
IPSX=$1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $(id -u) == 0 ]] || { echo "skipped: the testbed needs root"; exit 77; }
for tool in wg wg-quick wireguard-go dnsmasq; do
  command -v $tool >/dev/null || { echo "FAIL $tool is not installed (scripts/install-deps.sh installs it)"; exit 1; }
done
unset http_proxy https_proxy all_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY no_proxy NO_PROXY

netbed_claim v
# WireGuard interfaces of this run: userspace ones keep a socket in /var/run/wireguard named
# after the interface, shared by every namespace, so the names are this run's own.
vp=vp$$ vr=vr$$ vq=vq$$ vh=vh$$ vj=vj$$ vc=vc$$ vw=vw$$ vx=vx$$
on_exit() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  nb down >/dev/null 2>&1 || true # the namespaces, their interfaces, rules and processes
  rm -f /var/run/wireguard/{$vp,$vr,$vq,$vh,$vj,$vc,$vw,$vx}.sock
}
nb up >/dev/null || { bad "the testbed comes up"; finish; exit 1; }

# The provider's LAN: a host behind dc1 on 10.9.0.0/24 (the testbed's prefix, so `down` removes it).
lan=ipsx-$NETBED-lan
ip netns add "$lan"
ip -n "$lan" link set lo up
ip link add lan netns "ipsx-$NETBED-dc1" type veth peer name wan netns "$lan"
ip -n "ipsx-$NETBED-dc1" addr add 10.9.0.1/24 dev lan && ip -n "ipsx-$NETBED-dc1" link set lan up
ip -n "$lan" addr add 10.9.0.2/24 dev wan && ip -n "$lan" link set wan up
ip -n "$lan" route add default via 10.9.0.1

echo pw >"$work/pw"
ks=$work/ks
new() { "$IPSX" wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new) de=$(new) jp=$(new)
requester=$(new)
"$IPSX" ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --hard-cap 1 --native "$early=2" --challenge-seconds 600 \
  2>/dev/null
data=$work/ledger
"$IPSX" ledger init --data "$data" --genesis "$work/g.toml" >/dev/null
send() { "$IPSX" ledger send --data "$data" --keystore "$ks" --password-file "$work/pw" "$@" >/dev/null; }
send --address "$early" buy --value 1
send --address "$team" finalize-sale
send --address "$early" transfer --to "$requester" --amount 1000
send --address "$requester" deposit --amount 100

printf '%s\n' '203.0.113.31/32  DE  AS64511  datacenter  dc1' \
  '203.0.113.41/32  JP  AS64513  residential  nat1, a home router' >"$work/geo.txt"
on node node "$IPSX" node --data "$data" --keystore "$ks" --address "$market" \
  --password-file "$work/pw" --listen 203.0.113.10:8080 --geo-static "$work/geo.txt"
url=http://203.0.113.10:8080
wait_for "$work/node.out" 'http://203\.0\.113\.10:8080' 30 >/dev/null && ok "the node listens" ||
  bad "the node starts: $(cat "$work/node.out")"

# The public segment's services: a page that answers with the caller's address, a UDP
# reflector, a DNS server that logs who asks.
on dest whoami python3 "$here/whoami_server.py" 203.0.113.20
dest_port=$(wait_for "$work/whoami.out" '^[0-9]+$') && ok "the destination listens" || bad "the destination starts"
on dest udp python3 "$here/udp_reflector.py" 203.0.113.20 3478
on dest dns dnsmasq --no-daemon --no-resolv --no-hosts --bind-interfaces --listen-address=203.0.113.20 \
  --port 53 --address=/vpn.test/203.0.113.20 --log-queries --pid-file=
ip netns exec "$lan" python3 "$here/whoami_server.py" 10.9.0.2 >"$work/lanweb.out" 2>&1 &
pids+=($!)
lan_port=$(wait_for "$work/lanweb.out" '^[0-9]+$') && ok "the provider's LAN host listens" || bad "the LAN host starts"
expect_eq "the LAN host answers the provider's host" \
  "$(nb exec dc1 curl -s --max-time 5 "http://10.9.0.2:$lan_port/")" 10.9.0.1

cat >"$work/de.toml" <<TOML
pair_listen = "203.0.113.31:7000"
allow = ["203.0.113.20/32"]   # the destinations, on the testbed's documentation range
[vpn]
interface = "$vp"
listen_port = 51820
dns = ["203.0.113.20"]
[[ip]]
address = "203.0.113.31"
country = "DE"
type = "datacenter"
price = "0.001"
protocols = "vpn,http,socks5"
scopes = "vpn,crawling"
capacity = 3
TOML
on dc1 de "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$de" --config "$work/de.toml"
wait_for "$work/de.out" "VPN: WireGuard \(wireguard-go\) on $vp, UDP port 51820" 20 >/dev/null &&
  ok "the provider brings up its WireGuard interface" || bad "provider VPN: $(cat "$work/de.out")"
wait_for "$work/de.out" 'offer .* for 203\.0\.113\.31 \(DE\) placed' 20 >/dev/null &&
  ok "the provider offers its IP for vpn" || bad "provider: $(cat "$work/de.out")"
expect_out "its rules are in a table of their own" "chain from_peer" nb exec dc1 nft list table ip "ipsx_vpn_$vp"
for _ in $(seq 50); do nb exec req curl -sf "$url/v1/exits/$de" >/dev/null && break; sleep 0.1; done

expect_eq "without the tunnel the requester leaves from its router's address" \
  "$(nb exec req curl -s --max-time 5 "http://203.0.113.20:$dest_port/")" 203.0.113.61
# With NETBED_BENCH_OUT=FILE (bench/netbed_bench.sh, `make bench`): the tunnel's figures against
# the same transfers from the same host without it (through its router's NAT), written to FILE.
# No figure here is a check.
if [[ -n ${NETBED_BENCH_OUT:-} ]]; then
  mkdir -p "$work/www" && head -c 16777216 /dev/zero >"$work/www/16m"
  on dest files python3 -m http.server 8090 --bind 203.0.113.20 --directory "$work/www"
  for _ in $(seq 50); do nb exec req curl -sf -o /dev/null http://203.0.113.20:8090/16m && break; sleep 0.1; done
  # one_rps: 1,000 requests over one kept-alive connection; one_mbps: the 16 MiB body, Mbit/s.
  one_rps() {
    local urls=() t
    for _ in $(seq 1000); do urls+=("http://203.0.113.20:$dest_port/"); done
    t=$(date +%s.%N)
    nb exec req curl -s "${urls[@]}" >/dev/null
    awk -v t0="$t" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.0f\n", 1000 / (t1 - t0) }'
  }
  one_mbps() {
    nb exec req curl -s -o /dev/null -w '%{speed_download}\n' http://203.0.113.20:8090/16m |
      awk '{printf "%.0f\n", $1 * 8 / 1e6}'
  }
  median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  rps_direct=$(for _ in 1 2 3; do one_rps; done | median)
  mbps_direct=$(for _ in 1 2 3; do one_mbps; done | sort -n | tail -1)
  # The library's own limit: the same transfers through a WireGuard tunnel between the same two
  # hosts made by hand with wireguard-go and wg alone (no agent, no rules but a masquerade), so
  # that the tunnel's cost is told apart from what wireguard-go itself can carry here.
  wg genkey >"$work/raw1.key" && wg genkey >"$work/raw2.key"
  nb exec dc1 wireguard-go "$vw" >/dev/null 2>&1
  nb exec dc1 wg set "$vw" listen-port 51821 private-key "$work/raw1.key" \
    peer "$(wg pubkey <"$work/raw2.key")" allowed-ips 10.88.0.2/32
  nb exec dc1 ip addr add 10.88.0.1/24 dev "$vw" && nb exec dc1 ip link set "$vw" mtu 1420 up
  nb exec dc1 nft add table ip ipsx_raw_wg
  nb exec dc1 nft add chain ip ipsx_raw_wg post '{ type nat hook postrouting priority srcnat; }'
  nb exec dc1 nft add rule ip ipsx_raw_wg post ip saddr 10.88.0.2 oifname != "$vw" masquerade
  nb exec req wireguard-go "$vx" >/dev/null 2>&1
  nb exec req wg set "$vx" private-key "$work/raw2.key" peer "$(wg pubkey <"$work/raw1.key")" \
    endpoint 203.0.113.31:51821 allowed-ips 203.0.113.20/32
  nb exec req ip addr add 10.88.0.2/24 dev "$vx" && nb exec req ip link set "$vx" mtu 1420 up
  nb exec req ip route add 203.0.113.20/32 dev "$vx"
  if [[ $(nb exec req curl -s --max-time 5 "http://203.0.113.20:$dest_port/") == 203.0.113.31 ]]; then
    rps_raw=$(for _ in 1 2 3; do one_rps; done | median)
    mbps_raw=$(for _ in 1 2 3; do one_mbps; done | sort -n | tail -1)
  else
    bad "the hand-made wireguard-go tunnel carries nothing"
  fi
  nb exec req ip link del "$vx"
  nb exec dc1 ip link del "$vw"
  nb exec dc1 nft delete table ip ipsx_raw_wg
fi
vpn_args=(--node "$url" --keystore "$ks" --address "$requester" --password-file "$work/pw"
  --country de --type datacenter --max-price 0.002 --duration 600)
on req vpn "$IPSX" vpn "${vpn_args[@]}" --interface "$vr" --control 127.0.0.1:8899
wait_for "$work/vpn.out" 'VPN up: deal 0x[0-9a-f]+, leaving from 203\.0\.113\.31' 30 >/dev/null &&
  ok "ipsx vpn leases the DE IP and brings its tunnel up" || bad "ipsx vpn: $(cat "$work/vpn.out")"

# Through the tunnel, with no proxy settings at all.
expect_eq "curl leaves from the provider's public address" \
  "$(nb exec req curl -s --max-time 10 "http://203.0.113.20:$dest_port/")" 203.0.113.31
expect_out "a UDP exchange too" '^203\.0\.113\.31:[0-9]+$' \
  nb exec req python3 "$here/udp_probe.py" 0 203.0.113.20:3478
expect_eq "a DNS query is answered through it" \
  "$(nb exec req python3 "$here/dns_query.py" 203.0.113.20 vpn.test 2>&1)" 203.0.113.20
expect_out "and the resolver saw it come from the provider's address" \
  'query\[A\] vpn\.test from 203\.0\.113\.31' cat "$work/dns.out"
# The exit logs each flow once it ends; the requester signs the log for the flows its own host
# opened through the tunnel (its connection tracking saw them begin), with no --sign-usage. The
# flows are ended here at the exit by hand (their tracking entries deleted), rather than waiting
# for the kernel's timeouts (30 s for UDP, minutes for TCP).
nb exec dc1 conntrack -D -s 10.77.0.0/16 >/dev/null 2>&1
vpn_deal=$(sed -nE 's/.*VPN up: deal (0x[0-9a-f]+).*/\1/p' "$work/vpn.out")
pdata=$(ls -d "$work"/state/ipsx/provider-* | grep -i "${de#0x}")
signed=0
for _ in $(seq 100); do
  signed=$("$IPSX" deal usage "$vpn_deal" --data "$pdata" --json 2>/dev/null | jq -r '.receipted // 0')
  ((signed > 0)) && break
  sleep 0.2
done
expect_out "ipsx deal show --control adds the VPN lease's bytes and payments from the agent" \
  'traffic \(the requester.s agent\): [1-9][0-9]* bytes up, [1-9][0-9]* down; paid [0-9.]+ IPSX, tunnel address 10\.77\.' \
  nb exec req "$IPSX" deal show "$vpn_deal" --node "$url" --control http://127.0.0.1:8899
((signed > 0)) && ok "the requester signed the exit's records of its flows ($signed)" ||
  bad "no receipt for the tunnel's flows: $("$IPSX" deal usage "$vpn_deal" --data "$pdata" 2>&1; grep -i usage "$work/vpn.out")"
# Refused at the exit: the rule's counter moves (the provider's host reaches the LAN, above).
refused() { nb exec dc1 nft list chain ip "ipsx_vpn_$vp" "$1" | grep -oE 'counter packets [0-9]+' | awk '{s += $3} END {print s + 0}'; }
lan_try=$(nb exec req curl -sS --max-time 5 "http://10.9.0.2:$lan_port/" 2>&1)
expect_out "the provider's LAN is refused through the tunnel" 'curl: \(7\)' echo "$lan_try"
(($(refused from_peer) > 0)) && ok "by the exit's rule for ranges that are not public" ||
  bad "the exit's LAN rule saw nothing: $(nb exec dc1 nft list chain ip "ipsx_vpn_$vp" from_peer)"
host_try=$(nb exec req curl -sS --max-time 5 "http://10.9.0.1:$lan_port/" 2>&1)
expect_out "so is the provider's host itself" 'curl: \(7\)' echo "$host_try"
(($(refused input) > 0)) && ok "by the exit's rule for its own host" ||
  bad "the exit's host rule saw nothing: $(nb exec dc1 nft list chain ip "ipsx_vpn_$vp" input)"
expect_out "IPv6 cannot leave outside the tunnel meanwhile" 'unreachable ::/1' nb exec req ip -6 route
expect_out "the node is still reached outside the tunnel" '"status"' nb exec req curl -s --max-time 5 "$url/v1/health"
expect_eq "the provider holds one peer" "$(nb exec dc1 wg show "$vp" peers | wc -l)" 1
expect_out "the agent's control endpoint lists the lease with its tunnel" \
  '"vpn":\{"address":"10\.77\.[0-9.]+","endpoint":"203\.0\.113\.31:51820"\}' \
  nb exec req curl -sf http://127.0.0.1:8899/v1/leases
ready_ms=$(sed -nE 's/.*tunnel ready ([0-9]+) ms after the deal opened.*/\1/p' "$work/vpn.out")
[[ -n $ready_ms ]] && ok "ipsx vpn says how soon the tunnel was ready ($ready_ms ms)" ||
  bad "no readiness line: $(cat "$work/vpn.out")"
if [[ -n ${NETBED_BENCH_OUT:-} ]]; then
  rps_vpn=$(for _ in 1 2 3; do one_rps; done | median)
  mbps_vpn=$(for _ in 1 2 3; do one_mbps; done | sort -n | tail -1)
  jq -n --argjson rd "$rps_direct" --argjson rv "$rps_vpn" --argjson md "$mbps_direct" \
    --argjson mv "$mbps_vpn" --argjson ready "$ready_ms" --argjson rr "${rps_raw:-null}" \
    --argjson mr "${mbps_raw:-null}" \
    '{"vpn.rps_direct": $rd, "vpn.rps": $rv, "vpn.rps_vs_direct": ($rv / $rd * 1000 | round / 1000),
      "vpn.mbps_direct": $md, "vpn.mbps": $mv, "vpn.mbps_vs_direct": ($mv / $md * 1000 | round / 1000),
      "vpn.rps_raw_wireguard_go": $rr, "vpn.rps_vs_raw_wireguard_go": ($rv / $rr * 1000 | round / 1000),
      "vpn.mbps_raw_wireguard_go": $mr, "vpn.mbps_vs_raw_wireguard_go": ($mv / $mr * 1000 | round / 1000),
      "vpn.ready_ms": $ready}' >"$NETBED_BENCH_OUT" &&
    ok "figures written to $NETBED_BENCH_OUT" || bad "figures: $rps_direct $rps_vpn $mbps_direct $mbps_vpn $ready_ms ${rps_raw:-} ${mbps_raw:-}"
  cat "$NETBED_BENCH_OUT"
fi

# A wg-quick file for another device: the agent on `req` pays, the tunnel runs on `home3`.
on req export "$IPSX" vpn "${vpn_args[@]}" --export "$work/$vq.conf" --qr
wait_for "$work/export.out" 'VPN up: deal 0x[0-9a-f]+' 30 >/dev/null &&
  ok "ipsx vpn --export leases a second tunnel" || bad "ipsx vpn --export: $(cat "$work/export.out")"
expect_eq "the file is the owner's alone (it holds the private key)" "$(stat -c %a "$work/$vq.conf")" 600
expect_out "it is a wg-quick file for the exit" 'Endpoint = 203\.0\.113\.31:51820' cat "$work/$vq.conf"
expect_out "with the provider's resolver" 'DNS = 203\.0\.113\.20' cat "$work/$vq.conf"
expect_out "and IPv6 sent into the tunnel too (no leak beside it)" 'AllowedIPs = 0\.0\.0\.0/0, ::/0' cat "$work/$vq.conf"
expect_out "and printed as a QR code" '█' cat "$work/export.out"
# wg-quick hands a DNS line to resolvconf, which this machine lacks: the copy used leaves it out.
mkdir -p "$work/wgq"
grep -v '^DNS' "$work/$vq.conf" >"$work/wgq/$vq.conf"
chmod 600 "$work/wgq/$vq.conf"
nb exec home3 wg-quick up "$work/wgq/$vq.conf" >"$work/wgquick.out" 2>&1 &&
  ok "Debian's wg-quick brings the exported tunnel up on another host" || bad "wg-quick: $(cat "$work/wgquick.out")"
expect_eq "and that host leaves from the provider's address" \
  "$(nb exec home3 curl -s --max-time 10 "http://203.0.113.20:$dest_port/")" 203.0.113.31
# An attack on the other customer: two requesters hold tunnels at the same exit; one tries to
# reach the other through it (its tunnel address, where a service listens). The exit forwards
# between its peers nothing: refused, by the rule for ranges that are not public.
other=$(sed -nE 's|^Address = ([0-9.]+)/32$|\1|p' "$work/wgq/$vq.conf")
mkdir -p "$work/victim"
nb exec home3 python3 -m http.server 8091 --bind "$other" --directory "$work/victim" >"$work/victim.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do nb exec home3 curl -sf -o /dev/null "http://$other:8091/" && break; sleep 0.1; done
expect_eq "the other customer's service answers on its tunnel address" "$(grep -c '"GET / ' "$work/victim.out")" 1
before=$(refused from_peer)
expect_error "a requester cannot reach another requester's tunnel through the exit" 'curl: \(7\)' \
  nb exec req curl -sS --max-time 5 "http://$other:8091/"
(($(refused from_peer) > before)) && ok "the exit refused it" ||
  bad "the exit's rule saw nothing: $(nb exec dc1 nft list chain ip "ipsx_vpn_$vp" from_peer)"
expect_eq "and the other customer's service saw no request from it" "$(grep -c '"GET / ' "$work/victim.out")" 1
nb exec home3 wg-quick down "$work/wgq/$vq.conf" >/dev/null 2>&1
expect_eq "the provider holds two peers" "$(nb exec dc1 wg show "$vp" peers | wc -l)" 2

# The provider restarts: its interface goes and comes back with the key it keeps, the agents
# reconnect and ask again, each deal gets its tunnel back, and traffic flows as before with no
# change on the requester's side.
addr_before=$(nb exec dc1 wg show "$vp" allowed-ips | sort | tr '\n' ' ')
kill -TERM "${pid_of[de]}"
wait "${pid_of[de]}"
echo console-pw >"$work/ui-pw"
on dc1 de2 "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$de" --config "$work/de.toml" --ui 127.0.0.1:7100 --ui-password-file "$work/ui-pw"
peers=0
for _ in $(seq 150); do
  peers=$(nb exec dc1 wg show "$vp" peers 2>/dev/null | wc -l)
  [[ $peers == 2 ]] && break
  sleep 0.2
done
expect_eq "after a restart of the provider both tunnels are back" "$peers" 2
expect_eq "with the same keys and addresses" "$(nb exec dc1 wg show "$vp" allowed-ips | sort | tr '\n' ' ')" "$addr_before"
# (The exit lost its WireGuard sessions: `ipsx vpn` handshakes again once its agent has the
# tunnel confirmed, at its next look at the channel, within seconds.)
got=""
for _ in $(seq 30); do
  got=$(nb exec req curl -s --max-time 2 "http://203.0.113.20:$dest_port/")
  [[ $got == 203.0.113.31 ]] && break
  sleep 0.5
done
expect_eq "and the requester's tunnel carries traffic again, the same interface" "$got" 203.0.113.31
pid_of[de]=${pid_of[de2]}
# The provider's console changes the exit's allow list: the tunnels' rules follow at once.
policy() {
  nb exec dc1 curl -s -u me:console-pw -H 'Content-Type: application/json' -d "$1" \
    http://127.0.0.1:7100/v1/policy
}
expect_out "the provider's console empties the exit's allow list" '"done":"the exit allows 0' policy '{"allow":[]}'
expect_error "the destination (a documentation range, not public) is refused in the tunnel at once" \
  'curl: \(7\)' nb exec req curl -sS --max-time 5 "http://203.0.113.20:$dest_port/"
expect_out "allowed again from the console" '"done":"the exit allows 1' policy '{"allow":["203.0.113.20/32"]}'
expect_eq "and the tunnel reaches it again" \
  "$(nb exec req curl -s --max-time 10 "http://203.0.113.20:$dest_port/")" 203.0.113.31

# A home provider behind nat1 sells its router's public address as a VPN: its router forwards a
# TCP port to its exit's pair channel and a UDP port to its WireGuard interface, named as the
# endpoint. Its peers' traffic leaves through the NAT as 203.0.113.41; the router's own addresses
# (its LAN side, and its public one, which would hairpin back to the provider) are refused.
nb forward nat1 7000 >/dev/null
nb forward nat1 51821 udp >/dev/null
cat >"$work/jp.toml" <<TOML
pair_listen = "10.1.0.2:7000"
pair_announce = "203.0.113.41:7000"
allow = ["203.0.113.20/32"]
[vpn]
interface = "$vh"
listen_port = 51821
endpoint = "203.0.113.41:51821"   # the router's UDP port forward
subnet = "10.78.0.0/24"
[[ip]]
address = "203.0.113.41"
local_address = "10.1.0.2"
country = "JP"
type = "residential"
price = "0.0015"
protocols = "vpn"
scopes = "vpn"
capacity = 2
TOML
on home1 jp "$IPSX" provide --node "$url" --keystore "$ks" --password-file "$work/pw" \
  --address "$jp" --config "$work/jp.toml"
wait_for "$work/jp.out" 'offer .* for 203\.0\.113\.41 \(JP\) placed' 30 >/dev/null &&
  ok "a home provider behind a NAT offers its router's address for vpn" || bad "JP provider: $(cat "$work/jp.out")"
# (From `relay`, a public host: `req`'s own tunnel carries everything, and DE's exit refuses the
# documentation range JP's exit is in.)
on relay exportjp "$IPSX" vpn --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --country jp --type residential --max-price 0.002 --duration 600 \
  --export "$work/wgq/$vj.conf"
wait_for "$work/exportjp.out" 'VPN up: deal 0x[0-9a-f]+, leaving from 203\.0\.113\.41' 30 >/dev/null &&
  ok "ipsx vpn leases it" || bad "ipsx vpn --country jp: $(cat "$work/exportjp.out")"
sed -i '/^DNS/d' "$work/wgq/$vj.conf"
nb exec home3 wg-quick up "$work/wgq/$vj.conf" >"$work/wgquick-jp.out" 2>&1 ||
  bad "wg-quick for the JP tunnel: $(cat "$work/wgquick-jp.out")"
expect_eq "through the home provider's tunnel, traffic leaves from its router's public address" \
  "$(nb exec home3 curl -s --max-time 10 "http://203.0.113.20:$dest_port/")" 203.0.113.41
expect_error "the router's LAN address is refused through it" "curl: \(7\)" \
  nb exec home3 curl -sS --max-time 5 http://10.1.0.1:9/
expect_error "so is the router's public address (no hairpin back into the home)" "curl: \(7\)" \
  nb exec home3 curl -sS --max-time 5 http://203.0.113.41:7000/
expect_out "by the rule for the router's address" '@denied counter packets [1-9]' \
  nb exec home1 nft list chain ip "ipsx_vpn_$vh" from_peer
nb exec home3 wg-quick down "$work/wgq/$vj.conf" >/dev/null 2>&1
# The requester's console (`ipsx gateway --ui`) makes a VPN configuration for another device,
# as its page does for the QR code: the same wg-quick file, from the console's JSON API.
echo proxy-secret >"$work/proxy-pw"
on relay console "$IPSX" gateway --node "$url" --keystore "$ks" --address "$requester" \
  --password-file "$work/pw" --proxy-password-file "$work/proxy-pw" --listen 127.0.0.1:0 \
  --max-price 0.002 --duration 600 --ui 127.0.0.1:0
cui=$(wait_for "$work/console.out" 'console on http://127\.0\.0\.1:[0-9]+' 30 | grep -oE 'http://[0-9.:]+') &&
  ok "the requester's console listens" || bad "the console: $(cat "$work/console.out")"
nb exec relay curl -s --max-time 40 -u me:proxy-secret -H 'Content-Type: application/json' \
  -d '{"country":"JP"}' "$cui/v1/vpn" >"$work/console-vpn.json"
expect_out "the console leases a JP tunnel and answers its wg-quick file" \
  '"endpoint":"203\.0\.113\.41:51821".*"ip":"203\.0\.113\.41"' cat "$work/console-vpn.json"
jq -r .config "$work/console-vpn.json" | sed '/^DNS/d' >"$work/wgq/$vc.conf"
chmod 600 "$work/wgq/$vc.conf"
nb exec home3 wg-quick up "$work/wgq/$vc.conf" >"$work/wgquick-c.out" 2>&1 &&
  ok "the console's file brings a tunnel up with wg-quick on another host" ||
  bad "wg-quick for the console's tunnel: $(cat "$work/wgquick-c.out")"
expect_eq "through it, traffic leaves from the home provider's router" \
  "$(nb exec home3 curl -s --max-time 10 "http://203.0.113.20:$dest_port/")" 203.0.113.41
expect_out "the console lists the VPN lease with its tunnel" '"vpn":\{"address":"10\.78\.' \
  nb exec relay curl -s -u me:proxy-secret "$cui/v1/leases"
nb exec home3 wg-quick down "$work/wgq/$vc.conf" >/dev/null 2>&1
kill -TERM "${pid_of[exportjp]}" "${pid_of[jp]}" "${pid_of[console]}"
wait "${pid_of[exportjp]}" "${pid_of[jp]}" "${pid_of[console]}"
expect_error "the home provider's interface goes when it stops" "does not exist" nb exec home1 ip link show "$vh"

# A requester that stops paying: its credit (30 s of its price) runs out, the deal is cut and its
# peer removed; the tunnel carries nothing more.
kill -STOP "${pid_of[vpn]}"
cut=0
for _ in $(seq 90); do
  [[ $(nb exec dc1 wg show "$vp" peers | wc -l) == 1 ]] && { cut=1; break; }
  sleep 1
done
((cut)) && ok "an unpaid deal's peer is removed" || bad "the unpaid peer stays: $(nb exec dc1 wg show "$vp")"
wait_for "$work/de2.out" 'unpaid' 10 >/dev/null && ok "the provider says why" ||
  bad "the provider's log lacks the cut: $(cat "$work/de2.out")"
# The tunnel's flows are in the deal's usage log at the provider: each ended flow (these were
# ended by the cut, which flushes the peer's connection tracking) with its destination and bytes.
flows=""
for _ in $(seq 50); do
  flows=$("$IPSX" deal usage "$vpn_deal" --data "$pdata" --json 2>&1)
  jq -e --arg p "$dest_port" '[.records[] | select(.host == "203.0.113.20" and (.port | tostring) == $p and .bytesDown > 0)] | length > 0' <<<"$flows" >/dev/null 2>&1 && break
  sleep 0.2
done
jq -e --arg p "$dest_port" '[.records[] | select(.host == "203.0.113.20" and (.port | tostring) == $p and .bytesDown > 0)] | length > 0' <<<"$flows" >/dev/null 2>&1 &&
  ok "the tunnel's flows are in the deal's usage log (destination, port, bytes)" || bad "usage log: $flows"
expect_out "the UDP and DNS flows too" '"port": 53' echo "$flows"
expect_error "nothing goes through the cut tunnel" "timed out" \
  nb exec req curl -sS --max-time 3 "http://203.0.113.20:$dest_port/"
kill -CONT "${pid_of[vpn]}"
for _ in $(seq 100); do kill -0 "${pid_of[vpn]}" 2>/dev/null || break; sleep 0.1; done
wait "${pid_of[vpn]}"
expect_eq "ipsx vpn ends with an error once it learns of the cut" "$?" 1
expect_out "naming it" 'the deal was cut: unpaid' cat "$work/vpn.out"
expect_error "and its interface is gone" "does not exist" nb exec req ip link show "$vr"
expect_eq "with the routes it added" "$(nb exec req ip route | grep -c -e '203\.0\.113' -e '/1 ')" 0
expect_eq "and its IPv6 blackhole" "$(nb exec req ip -6 route | grep -c unreachable)" 0
expect_eq "the requester leaves from its router's address again" \
  "$(nb exec req curl -s --max-time 5 "http://203.0.113.20:$dest_port/")" 203.0.113.61

kill -TERM "${pid_of[export]}"
wait "${pid_of[export]}"
expect_eq "the exporting agent stops cleanly on SIGTERM" "$?" 0
kill -TERM "${pid_of[de]}"
wait "${pid_of[de]}"
expect_error "the provider's interface goes when it stops" "does not exist" nb exec dc1 ip link show "$vp"
expect_error "and its rules" "no such file" nb exec dc1 nft list table ip "ipsx_vpn_$vp"
finish
