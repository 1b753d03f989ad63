#!/usr/bin/env bash
# The testbed itself (scripts/netbed.sh, docs/network.md): built, sealed from the machine's own
# network, every host reaching the public segment through what its NAT does, and removed whole,
# also when a check fails. Needs root (exit 77, "skipped", without it).
# usage: netbed_e2e.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
[[ $(id -u) == 0 ]] || { echo "skipped: the testbed needs root"; exit 77; }
command -v nft >/dev/null || { echo "nft is missing: run scripts/install-deps.sh (Debian's nftables)"; exit 1; }

# A name of its own, so that runs side by side do not meet: t and this script's pid. A run that
# was killed outright (SIGKILL: no trap runs) left its testbed behind: removed here once its
# process is gone.
netbed_claim t
on_exit() { nb down >/dev/null 2>&1 || true; }

# A failure half-way through `up` (here nftables refusing the first NAT) leaves nothing behind.
mkdir -p "$work/bin"
printf '#!/bin/sh\necho "nft: refused by the test" >&2\nexit 1\n' >"$work/bin/nft"
chmod +x "$work/bin/nft"
expect_error "up fails when a NAT cannot be made" "refused by the test" env PATH="$work/bin:$PATH" "$root/scripts/netbed.sh" up
expect_eq "and leaves no namespace" "$(ip netns list | grep -c "^ipsx-$NETBED-")" 0
expect_out "up" "is up" nb up
expect_error "up twice is refused" "is up already" nb up
expect_out "sealed from the machine's network" "sealed" nb check
expect_eq "the root namespace has no testbed address" \
  "$(ip -4 addr show | grep -cE 'inet (203\.0\.113|100\.64|10\.[1234]\.0)\.')" 0

# Destinations on the public segment answer with the caller's address.
nb exec dest python3 "$here/whoami_server.py" 203.0.113.20 >"$work/whoami.out" 2>&1 &
pids+=($!)
port=$(wait_for "$work/whoami.out" '^[0-9]+$') || { bad "whoami did not start: $(cat "$work/whoami.out")"; finish; exit 1; }
seen() { nb exec "$1" curl -s --max-time 5 "http://203.0.113.20:$port/"; }
expect_eq "a datacenter provider leaves from its own address" "$(seen dc1)" 203.0.113.31
expect_eq "the other one too" "$(seen dc2)" 203.0.113.32
expect_eq "home1 leaves from its router's public address" "$(seen home1)" 203.0.113.41
expect_eq "home2 leaves from the carrier NAT's public address (two NATs)" "$(seen home2)" 203.0.113.51
expect_eq "the requester leaves from its router's public address" "$(seen req)" 203.0.113.61
expect_eq "home3 leaves from its router's public address" "$(seen home3)" 203.0.113.71

# Inbound: a public host is reachable, a host behind a NAT is not (no route to its private
# address, and nothing forwarded to it).
nb exec dc1 python3 "$here/whoami_server.py" 203.0.113.31 >"$work/dc1.out" 2>&1 &
pids+=($!)
dc1_port=$(wait_for "$work/dc1.out" '^[0-9]+$') || bad "dc1's server did not start"
expect_eq "the public segment reaches a datacenter provider" \
  "$(nb exec dest curl -s --max-time 5 "http://203.0.113.31:$dc1_port/")" 203.0.113.20
expect_error "nothing reaches a home provider's private address" "unreachable|timed out|connect" \
  nb exec dest curl -sS --max-time 3 "http://10.1.0.2:80/"
expect_error "nothing reaches the home router's public address inbound" "refused|timed out|connect" \
  nb exec dest curl -sS --max-time 3 "http://203.0.113.41:$dc1_port/"
# An address outside the testbed (a documentation one: nothing is sent) has no route from the
# public segment or a router, and packets from behind the NATs for it die at the outermost one.
for h in dc1 nat1 cgnat nat3 nat4 node; do
  expect_error "$h has no route out of the testbed" "unreachable|no route" nb exec "$h" ip route get 192.0.2.1
done
expect_error "home2's packets out of the testbed die at the carrier NAT" "unreachable|no route" \
  nb exec cgnat ip route get 192.0.2.1 from 100.64.0.2 iif lan

# The NATs' mappings, as a STUN client sees them: one local port, two reflectors.
nb exec dest python3 "$here/udp_reflector.py" 203.0.113.20 3478 3479 >"$work/refl.out" 2>&1 &
pids+=($!)
wait_for "$work/refl.out" '^ready$' >/dev/null || bad "the reflector did not start"
mapped() { nb exec "$1" python3 "$here/udp_probe.py" 40000 203.0.113.20:3478 203.0.113.20:3479 | tr '\n' ' '; }
m1=$(mapped home1)
expect_eq "home1's NAT is endpoint-independent: one outside port for both destinations" \
  "$m1" "203.0.113.41:40000 203.0.113.41:40000 "
expect_eq "so is home3's" "$(mapped home3)" "203.0.113.71:40000 203.0.113.71:40000 "
m2=$(mapped home2)
read -r a b <<<"$m2"
if [[ ${a%%:*} == 203.0.113.51 && ${b%%:*} == 203.0.113.51 && ${a##*:} != "${b##*:}" ]]; then
  ok "home2's NATs are symmetric: another outside port per destination ($m2)"
else
  bad "home2's NATs are symmetric: got '$m2'"
fi
expect_eq "a datacenter provider needs no mapping" "$(mapped dc1)" "203.0.113.31:40000 203.0.113.31:40000 "

# Latency (scripts/netbed.sh delay): what the requester sends waits 40 ms, so its connection's
# handshake takes at least that; UDP waits too (the mapping is the same); 0 ends it.
connect_ms() { nb exec req curl -s -o /dev/null -w '%{time_connect}' --max-time 5 "http://203.0.113.20:$port/" | awk '{printf "%d", $1 * 1000}'; }
expect_out "delay req 40" "waits 40 ms" nb delay req 40
got=$(connect_ms)
((got >= 40)) && ok "the requester's TCP handshake takes the delay ($got ms)" || bad "handshake in $got ms with 40 ms of delay"
expect_eq "its address seen from outside is still its router's" "$(seen req)" 203.0.113.61
expect_eq "UDP goes through the delay too" "$(mapped req)" "203.0.113.61:40000 203.0.113.61:40000 "
expect_out "sealed with the delay" "sealed" nb check
expect_error "a router is not delayed (only end hosts)" "not an end host" nb delay nat3 10
expect_error "a delay past 10 s is refused" "milliseconds from 0 to 10000" nb delay req 20000
expect_out "delay req 0" "waits 0 ms" nb delay req 0
expect_eq "no delay rule or device left on req" "$(nb exec req ip rule | grep -c 'lookup 100') $(nb exec req ip link | grep -c dly0)" "0 0"
expect_eq "no delay process left" "$(ip netns pids "ipsx-$NETBED-req" | xargs -r -I{} cat /proc/{}/cmdline 2>/dev/null | grep -ac netbed-delay)" 0
nb delay home3 30 >/dev/null # left on: `down` removes it with its namespace

for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
expect_out "down" "is down" nb down
expect_eq "no namespace left" "$(ip netns list | grep -c "^ipsx-$NETBED-")" 0
expect_eq "no interface left in the root namespace" "$(ip link show | grep -cE ': (p-|wan|lan)[^:]*:')" 0
finish
