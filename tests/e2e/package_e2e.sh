#!/usr/bin/env bash
# End to end: the Debian package, as an operator meets it. `cpack` builds the .deb from this build;
# `dpkg -i` installs it on this machine; the units pass `systemd-analyze verify`; the installed
# program runs from / and finds its own data (the contracts it deploys on anvil, the geo data its
# node checks offers against), its man page and completions are there, it tells a service
# manager when it is ready; then `dpkg --purge` removes it all, also when a check failed.
# Needs root and dpkg; leaves an `ipsx` package someone installed alone (the test is skipped).
# usage: package_e2e.sh BUILD_DIR
set -uo pipefail
BUILD=$1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
if [[ $(id -u) != 0 ]] || ! command -v dpkg >/dev/null; then
  echo "skipped: installing a package needs root and dpkg"
  exit 77
fi
if dpkg-query -W -f='${Status}' ipsx 2>/dev/null | grep -q installed; then
  echo "skipped: an ipsx package is installed on this machine; not touching it"
  exit 77
fi
use_foundry
keep_traffic_local

# ---- build and install ------------------------------------------------------------------------
if out=$(cd "$BUILD" && cpack -G DEB -D CPACK_DEBIAN_COMPRESSION_TYPE=gzip -B "$work/pkg" 2>&1); then
  ok "cpack builds the package"
else
  bad "cpack: $out"
  finish
  exit 1
fi
deb=$(ls "$work"/pkg/ipsx_*.deb)
# On any exit the package goes (lib.sh's exit stops anvil and removes the scratch directory).
on_exit() { dpkg-query -W ipsx >/dev/null 2>&1 && dpkg --purge ipsx >/dev/null 2>&1; }
expect_out "the package names its libraries" 'Depends: .*libsecp256k1.*libspdlog' dpkg-deb -I "$deb"
expect_out "dpkg -i installs it" 'Setting up ipsx' dpkg -i "$deb"
expect_out "the program runs" '^ipsx [0-9]+\.[0-9]+\.[0-9]+$' /usr/bin/ipsx --version
expect_out "it made the services' user" '^ipsx:.*:/var/lib/ipsx:' getent passwd ipsx
expect_eq "/etc/ipsx: the settings, kept as configuration files" \
  "$(dpkg-query -W -f='${Conffiles}' ipsx | grep -c '/etc/ipsx/')" 6

# ---- the units --------------------------------------------------------------------------------
units=(/usr/lib/systemd/system/ipsx-{node,provide,gateway,relay}.service)
if out=$(systemd-analyze verify "${units[@]}" 2>&1) && [[ -z $out ]]; then
  ok "systemd-analyze verify: the four units are clean"
else
  bad "systemd-analyze verify: $out"
fi
expect_out "the units wait for readiness and run hardened as ipsx" \
  'Type=notify.*User=ipsx.*NoNewPrivileges=yes.*ProtectSystem=strict.*CapabilityBoundingSet= ' \
  bash -c "tr '\n' ' ' <${units[0]}; echo"

# ---- the program finds its data from its own path, nothing from here or the build tree -------
cd /
expect_out "the default contracts are the installed ones" '/usr/share/ipsx/contracts' \
  /usr/bin/ipsx eth deploy --help
start_anvil --chain-id 1337 || { finish; exit 1; }
echo pw >"$work/pw"
ks=$work/ks
new() { /usr/bin/ipsx wallet new --keystore "$ks" --password-file "$work/pw" --light 2>/dev/null; }
deployer=$(new) early=$(new) bounty=$(new) team=$(new) treasury=$(new) market=$(new)
dev_key=$("$CAST" wallet private-key "test test test test test test test test test test test junk" 0)
"$CAST" send --rpc-url "$RPC" --private-key "$dev_key" "$deployer" --value 10ether >/dev/null 2>&1
/usr/bin/ipsx ledger genesis --out "$work/g.toml" --early-adopters "$early" --bounty "$bounty" \
  --team "$team" --treasury "$treasury" --sale-seconds 60 --challenge-seconds 60 2>/dev/null
expect_out "the installed program deploys its installed contracts on anvil" 'centralizer' \
  bash -c "/usr/bin/ipsx eth deploy --rpc '$RPC' --keystore '$ks' --address '$deployer' \
    --password-file '$work/pw' --genesis '$work/g.toml' --out '$work/dep.toml' && cat '$work/dep.toml'"
stop_anvil
/usr/bin/ipsx ledger init --data "$work/ledger" --genesis "$work/g.toml" >/dev/null
/usr/bin/ipsx node --data "$work/ledger" --keystore "$ks" --address "$market" \
  --password-file "$work/pw" --listen 127.0.0.1:0 --offer-checks location \
  >"$work/node.out" 2>&1 &
node_pid=$!
wait_for "$work/node.out" "locations checked against /usr/share/ipsx/ip-location-db/[^ ]+\.mmdb" >/dev/null &&
  ok "the installed node checks locations against the installed geo data" ||
  bad "geo data: $(cat "$work/node.out")"
kill "$node_pid" 2>/dev/null
wait "$node_pid" 2>/dev/null

# ---- readiness: the service manager's notification socket --------------------------------------
python3 - "$work/notify" >"$work/notify.out" 2>&1 <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(20)
for _ in range(2):
    print(s.recv(4096).decode(), flush=True)
PY
listener=$!
for _ in $(seq 50); do [[ -S $work/notify ]] && break; sleep 0.1; done
NOTIFY_SOCKET=$work/notify /usr/bin/ipsx relay --listen "127.0.0.1:$(free_port)" >"$work/relay.out" 2>&1 &
relay=$!
wait_for "$work/notify.out" 'READY=1' 20 >/dev/null && ok "ipsx relay says READY=1 once it listens" ||
  bad "readiness: $(cat "$work/notify.out" "$work/relay.out")"
kill -TERM "$relay"
wait "$relay"
wait "$listener"
expect_out "and STOPPING=1 on SIGTERM" 'STOPPING=1' cat "$work/notify.out"

# ---- man page and completions -------------------------------------------------------------------
expect_out "man ipsx finds the page" '/usr/share/man/man1/ipsx\.1' man -w ipsx
expect_out "the page names the gateway's options and their variables" \
  'ipsx gateway.*--proxy-password-file.*IPSX_PROXY_PASSWORD_FILE' \
  bash -c "MANWIDTH=200 man ipsx 2>/dev/null | tr '\n' ' '"
# (loaded inside a function, as bash-completion loads it on demand)
expect_out "bash completes 'ipsx gateway ex'" '^export$' bash -c \
  'load() { source /usr/share/bash-completion/completions/ipsx; }; load; COMP_WORDS=(ipsx gateway ex); COMP_CWORD=2; _ipsx; echo "${COMPREPLY[*]}"'
expect_out "bash completes an option of 'ipsx deal close'" '--node' bash -c \
  'load() { source /usr/share/bash-completion/completions/ipsx; }; load; COMP_WORDS=(ipsx deal close --no); COMP_CWORD=3; _ipsx; echo "${COMPREPLY[*]}"'
expect_out "after an option of ipsx itself that takes a value, bash offers no option" '^\[\]$' bash -c \
  'load() { source /usr/share/bash-completion/completions/ipsx; }; load; COMP_WORDS=(ipsx node --log-level --); COMP_CWORD=3; _ipsx; echo "[${COMPREPLY[*]}]"'
if command -v zsh >/dev/null; then
  expect_out "the zsh completion parses" '^ok$' bash -c 'zsh -n /usr/share/zsh/vendor-completions/_ipsx && echo ok'
else
  bad "zsh is not installed (scripts/install-deps.sh installs it)"
fi

# ---- purge ------------------------------------------------------------------------------------
expect_out "dpkg --purge removes it" 'Purging configuration files for ipsx' dpkg --purge ipsx
expect_eq "nothing of it is left" \
  "$(ls -d /usr/bin/ipsx /usr/share/ipsx /etc/ipsx /usr/lib/systemd/system/ipsx-node.service 2>/dev/null)" ""
finish
