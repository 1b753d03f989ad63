#!/usr/bin/env bash
# End to end: the README's quick start, as a newcomer follows it. The lines between the README's
# quickstart markers run as they are, in one shell from the project's root (so `make
# quickstart` builds nothing new and starts the exchange in quickstart/); then their output is
# checked: each curl left from its country's IP, the deals, the depth, the balance, the accounts,
# the gateway's log, and nothing left running after quickstart/stop.
# usage: quickstart_e2e.sh   (from anywhere: it finds the project's root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
sed -n '/<!-- quickstart:/,/<!-- end of quickstart -->/p' "$root/README.md" | grep '^    ' |
  sed 's/^    //' >"$work/steps.sh"
expect_out "the README's quick start has its commands" '^make quickstart$' head -1 "$work/steps.sh"
on_exit() { [[ -x $root/quickstart/stop ]] && "$root/quickstart/stop" >/dev/null 2>&1; }
# The commands, each echoed before its output (bash -v), as a person would see them. (`make
# quickstart` uses the build as it is: installing or building under the other tests would pull
# the ground from under them.)
(cd "$root" && env -u IPSX_NODE -u IPSX_KEYSTORE -u IPSX_PASSWORD_FILE QUICKSTART_PREBUILT=1 \
  bash -ve "$work/steps.sh") \
  >"$work/out" 2>&1
status=$?
cat "$work/out" | sed 's/^/  | /' | head -80
expect_eq "every step succeeds (bash -e: the first failure stops them)" "$status" 0
after() { awk -v c="$1" 'found { print; exit } index($0, c) == 1 { found = 1 }' "$work/out"; }  # the line after
expect_eq "curl through the gateway as DE leaves from 127.0.0.2" "$(after 'curl -s -x http://country-de')" 127.0.0.2
expect_eq "curl through SOCKS5 as US leaves from 127.0.0.3" "$(after 'curl -s -x socks5h://country-us')" 127.0.0.3
leases=$(after 'curl -s -u me:quickstart')
expect_out "the requester's console lists the DE lease" '"ip":"127\.0\.0\.2"' echo "$leases"
expect_out "and the US lease" '"ip":"127\.0\.0\.3"' echo "$leases"
expect_out "the DE provider's console is up" "provider DE's console: http://127\.0\.0\.1:8082/" cat "$work/out"
expect_out "deal list shows the two deals" '0x[0-9a-f]{64}.*0x[0-9a-f]{64}' \
  bash -c "sed -n '/^ipsx deal list/,/^ipsx market depth/p' '$work/out' | tr '\n' ' '"
expect_out "market depth for DE" 'DE: [0-9]+ live offers' cat "$work/out"
expect_out "the requester's balance" '^0x[0-9a-fA-F]{40}: [0-9.]+ IPSX; wallet [0-9.]+ IPSX' cat "$work/out"
expect_out "the accounts by name" '0x[0-9a-fA-F]{40}  requester  ' cat "$work/out"
expect_out "the gateway's log" 'info ipsx gateway: ' cat "$work/out"
expect_out "quickstart/stop stops the programs" 'stopped gateway' cat "$work/out"
expect_eq "nothing of it runs afterwards" \
  "$(while read -r pid _; do  # (a zombie, gone but not yet reaped, does not run)
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) =~ ^[RSDT]$ ]] && echo "$pid"
  done <"$root/quickstart/pids")" ""
expect_error "a second quick start while one runs is refused" "already running" \
  bash -c "cd '$root' && scripts/quickstart.sh build/bin/ipsx quickstart >/dev/null && scripts/quickstart.sh build/bin/ipsx quickstart"
finish
