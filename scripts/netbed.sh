#!/usr/bin/env bash
# A small internet on one machine, for testing the exchange across machines and NATs: Linux
# network namespaces joined only to each other by veth pairs (docs/network.md).
#
#   scripts/netbed.sh up        build it (needs root: CAP_NET_ADMIN and CAP_SYS_ADMIN)
#   scripts/netbed.sh down      remove every namespace, interface and rule it made
#   scripts/netbed.sh exec HOST CMD...   run CMD on HOST (e.g. `exec home1 curl ...`)
#   scripts/netbed.sh hosts     the hosts and their addresses
#   scripts/netbed.sh check     is it up, whole and sealed from the machine's own network
#   scripts/netbed.sh forward ROUTER PORT [tcp|udp]   a port forward (TCP unless told) on a home
#                                    router to its host
#   scripts/netbed.sh loss PERCENT   drop PERCENT (0-50, decimals allowed) of the packets crossing
#                                    the public segment, at random; 0 ends it
#   scripts/netbed.sh delay HOST MS   every packet HOST sends waits MS milliseconds (1-10000) before
#                                    it leaves (its round trips grow by MS); 0 ends it
#
# NETBED names one testbed (default "nb"; lowercase letters and digits, at most 12): namespaces are
# ipsx-$NETBED-HOST, so testbeds with different names can be up side by side.
#
# The "public" internet is a bridge in the namespace `inet` holding 203.0.113.0/24 (RFC 5737):
#
#   node     203.0.113.10   the market node (and a chain)
#   relay    203.0.113.11   a relay
#   dest     203.0.113.20   destinations that answer with the caller's address
#   dc1      203.0.113.31   a datacenter provider with a public address
#   dc2      203.0.113.32   another one
#   nat1     203.0.113.41   a home router, endpoint-independent NAT; behind it:
#     home1  10.1.0.2
#   cgnat    203.0.113.51   a carrier-grade NAT (endpoint-independent), 100.64.0.0/10 inside; behind it:
#     nat2   100.64.0.2     a home router, symmetric NAT (a new port per destination); behind it:
#       home2 10.2.0.2
#   nat3     203.0.113.61   the requester's router, endpoint-independent NAT; behind it:
#     req    10.3.0.2       the requester
#   nat4     203.0.113.71   a home router, endpoint-independent NAT (nothing forwarded); behind it:
#     home3  10.4.0.2
#
# Nothing routes anywhere else: the public hosts know only 203.0.113.0/24, the hosts behind a
# NAT only their router. The machine's own namespace takes no address and no interface: every
# veth pair is created with both ends already in testbed namespaces.
set -Eeuo pipefail

NETBED=${NETBED:-nb}
[[ $NETBED =~ ^[a-z0-9]{1,12}$ ]] || { echo "netbed: NETBED must be 1-12 lowercase letters or digits" >&2; exit 2; }
P=ipsx-$NETBED-

PUBLIC_HOSTS=(node relay dest dc1 dc2)
declare -A ADDR=(
  [node]=203.0.113.10 [relay]=203.0.113.11 [dest]=203.0.113.20 [dc1]=203.0.113.31 [dc2]=203.0.113.32
  [nat1]=203.0.113.41 [home1]=10.1.0.2
  [cgnat]=203.0.113.51 [nat2]=100.64.0.2 [home2]=10.2.0.2
  [nat3]=203.0.113.61 [req]=10.3.0.2
  [nat4]=203.0.113.71 [home3]=10.4.0.2
)
# The host behind each home router (what `forward` forwards to).
declare -A INSIDE=([nat1]=home1 [nat2]=home2 [nat3]=req [nat4]=home3)
# Every host, in the order `hosts` lists them.
HOSTS=(inet node relay dest dc1 dc2 nat1 home1 cgnat nat2 home2 nat3 req nat4 home3)

die() { echo "netbed: $*" >&2; exit 1; }
ns() { echo "$P$1"; }
in_ns() { local h=$1; shift; ip netns exec "$(ns "$h")" "$@"; }
# link A IFA B IFB: a veth pair with one end in each host's namespace (never in the root one).
link() { ip link add "$2" netns "$(ns "$1")" type veth peer name "$4" netns "$(ns "$3")"; }
addr() { ip -n "$(ns "$1")" addr add "$2" dev "$3"; ip -n "$(ns "$1")" link set "$3" up; }
# The veth ends in `inet` are named after the host: a prefix and the name fit 15 characters.
port() { echo "p-$1"; }

need_root() {
  [[ $(id -u) == 0 ]] || die "needs root (network namespaces, veth pairs and nftables need CAP_NET_ADMIN)"
  command -v ip >/dev/null || die "needs ip (iproute2)"
  command -v nft >/dev/null || die "needs nft (Debian's nftables: apt-get install nftables)"
}

# nat ROUTER WAN_IF KIND: source NAT of everything leaving by WAN_IF. `eim`: endpoint-independent
# mapping (Linux keeps the inside port when it is free, the same for every destination);
# `symmetric`: a random outside port for every new flow, so each destination sees another one.
# And the stateful firewall of a home router or a carrier's NAT: from outside, only replies to
# what went out (and port forwards) get in; anything else is dropped without an answer.
nat() {
  local flags=""
  [[ $3 == symmetric ]] && flags=" random"
  in_ns "$1" nft -f - <<NFT
table ip ipsx_netbed {
  chain post {
    type nat hook postrouting priority srcnat;
    oifname "$2" masquerade$flags
  }
  chain through {
    type filter hook forward priority filter;
    ct state established,related accept
    ct status dnat accept
    iifname "$2" drop
  }
  chain to_router {
    type filter hook input priority filter;
    ct state established,related accept
    iifname "$2" drop
  }
}
NFT
  in_ns "$1" sysctl -qw net.ipv4.ip_forward=1
}

# behind ROUTER HOST ROUTER_ADDR/LEN HOST_ADDR/LEN KIND: HOST on ROUTER's inside network, its
# default route through ROUTER, which NATs (KIND) what leaves by its outside interface.
behind() {
  link "$1" lan "$2" wan
  addr "$1" "$3" lan
  addr "$2" "$4" wan
  ip -n "$(ns "$2")" route add default via "${3%/*}"
  nat "$1" wan "$5"
}

up() {
  need_root
  if ip netns list | grep -q "^$P"; then die "testbed '$NETBED' is up already (scripts/netbed.sh down first)"; fi
  # Any failure below leaves nothing behind.
  trap 'down >/dev/null 2>&1 || true' ERR
  for h in "${HOSTS[@]}"; do
    ip netns add "$(ns "$h")"
    ip -n "$(ns "$h")" link set lo up
  done
  ip -n "$(ns inet)" link add br0 type bridge
  ip -n "$(ns inet)" link set br0 up
  # The public segment: each public host and each router's outside on the bridge.
  for h in "${PUBLIC_HOSTS[@]}" nat1 cgnat nat3 nat4; do
    link "$h" wan inet "$(port "$h")"
    ip -n "$(ns inet)" link set "$(port "$h")" master br0 up
    addr "$h" "${ADDR[$h]}/24" wan
  done
  behind nat1 home1 10.1.0.1/24 10.1.0.2/24 eim    # a home, endpoint-independent
  behind cgnat nat2 100.64.0.1/10 100.64.0.2/10 eim # the carrier's NAT, endpoint-independent
  behind nat2 home2 10.2.0.1/24 10.2.0.2/24 symmetric # a home behind it, symmetric
  behind nat3 req 10.3.0.1/24 10.3.0.2/24 eim       # the requester's router
  behind nat4 home3 10.4.0.1/24 10.4.0.2/24 eim     # a home, endpoint-independent, no forward
  trap - ERR
  echo "netbed '$NETBED' is up: $(hosts | wc -l) hosts (scripts/netbed.sh hosts)"
}

# Removes every namespace of this testbed; the veths and nftables tables in them go with them.
# Processes still running in a namespace are killed first (they would keep it alive).
down() {
  local left=0 n
  for n in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P" || true); do
    ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$n" 2>/dev/null || left=1
  done
  ((left == 0)) || die "could not remove every namespace of '$NETBED'"
  echo "netbed '$NETBED' is down"
}

# forward ROUTER PORT [PROTO]: TCP (or UDP) to the router's public address on PORT goes to the same port of the
# host behind it, as a home user's port forward (or UPnP) does.
forward() {
  local r=$1 port=$2 proto=${3:-tcp}
  [[ -n ${INSIDE[$r]:-} ]] || die "forward: no home router '$r' (nat1, nat2, nat3 or nat4)"
  [[ $port =~ ^[0-9]+$ && $port -ge 1 && $port -le 65535 ]] || die "forward: bad port '$port'"
  [[ $proto == tcp || $proto == udp ]] || die "forward: tcp or udp, not '$proto'"
  local to=${ADDR[${INSIDE[$r]}]}
  printf 'table ip ipsx_netbed {\n  chain pre {\n    type nat hook prerouting priority dstnat;\n    iifname "wan" %s dport %s dnat to %s:%s\n  }\n}\n' \
    "$proto" "$port" "$to" "$port" | in_ns "$r" nft -f -
  echo "netbed '$NETBED': $r forwards ${proto^^} port $port to ${INSIDE[$r]} ($to)"
}

# loss PERCENT: the public segment drops that share of the frames it forwards, at random (an
# nftables bridge rule in `inet`; the kernel's netem is not needed). 0 removes the rule.
loss() {
  local pct=$1
  [[ $pct =~ ^[0-9]+(\.[0-9]+)?$ ]] && awk -v p="$pct" 'BEGIN { exit !(p >= 0 && p <= 50) }' ||
    die "loss: a percentage from 0 to 50, not '$pct'"
  in_ns inet nft delete table bridge ipsx_loss 2>/dev/null || true
  local per_million
  per_million=$(awk -v p="$pct" 'BEGIN { printf "%d", p * 10000 }')
  if ((per_million > 0)); then
    in_ns inet nft -f - <<NFT
table bridge ipsx_loss {
  chain through {
    type filter hook forward priority filter;
    numgen random mod 1000000 < $per_million counter drop
  }
}
NFT
  fi
  echo "netbed '$NETBED': the public segment drops $pct% of its packets"
}

# delay HOST MS: what HOST sends (itself, not what it forwards) waits MS ms before it leaves,
# so every round trip it makes grows by MS. The kernel's netem is not needed: HOST's own packets
# are routed (policy rule 100: from the host itself, table 100) into a tun device, `dly0`, where
# scripts/netbed-delay.py holds each one and writes it back; from there the kernel forwards it
# by the host's usual routes. 0 removes the device, the rule and the process.
delay() {
  local h=$1 ms=$2 pid
  [[ -n ${ADDR[$h]:-} && -z ${INSIDE[$h]:-} && $h != cgnat ]] ||
    die "delay: '$h' is not an end host (node, relay, dest, dc1, dc2, home1, home2, home3, req)"
  [[ $ms =~ ^[0-9]+$ ]] && ((ms <= 10000)) || die "delay: milliseconds from 0 to 10000, not '$ms'"
  for pid in $(ip netns pids "$(ns "$h")" 2>/dev/null); do
    grep -qa netbed-delay "/proc/$pid/cmdline" 2>/dev/null && kill "$pid" 2>/dev/null || true
  done
  in_ns "$h" ip rule del pref 100 2>/dev/null || true
  in_ns "$h" ip route flush table 100 2>/dev/null || true
  in_ns "$h" ip link del dly0 2>/dev/null || true
  if ((ms > 0)); then
    in_ns "$h" ip tuntap add dev dly0 mode tun
    in_ns "$h" ip link set dly0 up
    # Packets written back come in on dly0 with the host's own address as their source.
    in_ns "$h" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
      net.ipv4.conf.dly0.rp_filter=0 net.ipv4.conf.dly0.accept_local=1
    setsid ip netns exec "$(ns "$h")" python3 "$(dirname "$0")/netbed-delay.py" dly0 "$ms" \
      </dev/null >/dev/null 2>&1 &
    for _ in $(seq 50); do in_ns "$h" ip link show dly0 | grep -q NO-CARRIER || break; sleep 0.1; done
    in_ns "$h" ip link show dly0 | grep -q NO-CARRIER && die "delay: netbed-delay.py did not start on $h"
    in_ns "$h" ip route add default dev dly0 src "${ADDR[$h]}" table 100
    in_ns "$h" ip rule add pref 100 iif lo lookup 100
  fi
  echo "netbed '$NETBED': what $h sends waits $ms ms"
}

hosts() {
  local h
  for h in "${HOSTS[@]}"; do
    [[ $h == inet ]] && continue
    printf '%-6s %s\n' "$h" "${ADDR[$h]}"
  done
}

# Up, whole, and sealed: every namespace exists; the root namespace holds no testbed address or
# interface; no testbed host has a route beyond the testbed.
check() {
  local h bad=0
  for h in "${HOSTS[@]}"; do
    ip netns list | awk '{print $1}' | grep -qx "$(ns "$h")" || { echo "netbed: $(ns "$h") is missing"; bad=1; }
  done
  if ip -4 addr show | grep -qE 'inet (203\.0\.113|100\.64|10\.[1234]\.0)\.'; then
    echo "netbed: the root namespace holds a testbed address"
    bad=1
  fi
  if ip link show | grep -qE ': (p-|wan|lan)[^:]*:'; then
    echo "netbed: the root namespace holds a testbed interface"
    bad=1
  fi
  for h in "${HOSTS[@]}"; do
    # A host may route to the testbed's own ranges only.
    if in_ns "$h" ip -4 route show | grep -vE '^(203\.0\.113\.0/24|100\.64\.0\.0/10|10\.[1234]\.0\.0/24) |^default via (10\.[1234]\.0\.1|100\.64\.0\.1) ' | grep -q .; then
      echo "netbed: $h has a route out of the testbed: $(in_ns "$h" ip -4 route show | tr '\n' ';')"
      bad=1
    fi
  done
  ((bad == 0)) && echo "netbed '$NETBED': up, $((${#HOSTS[@]} - 1)) hosts, sealed"
  return $bad
}

cmd=${1:-}
shift || true
case $cmd in
  up) up ;;
  down) down ;;
  hosts) hosts ;;
  check) check ;;
  forward)
    [[ $# -eq 2 || $# -eq 3 ]] || die "usage: scripts/netbed.sh forward ROUTER PORT [tcp|udp]"
    forward "$@"
    ;;
  loss)
    [[ $# -eq 1 ]] || die "usage: scripts/netbed.sh loss PERCENT"
    loss "$1"
    ;;
  delay)
    [[ $# -eq 2 ]] || die "usage: scripts/netbed.sh delay HOST MS"
    delay "$1" "$2"
    ;;
  exec)
    [[ $# -ge 2 ]] || die "usage: scripts/netbed.sh exec HOST CMD..."
    h=$1
    shift
    [[ -n ${ADDR[$h]:-} || $h == inet ]] || die "no host '$h' (scripts/netbed.sh hosts)"
    # exec: CMD takes this process's place, so that its pid is the caller's `$!` (signals reach it).
    exec ip netns exec "$(ns "$h")" "$@"
    ;;
  *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
