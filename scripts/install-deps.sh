#!/usr/bin/env bash
# Installs what the build and the tests need on a fresh Debian 12 machine, and nothing that is
# already there. Debian packages through apt-get; the pinned npm tools through `npm ci`.
# With --bench, also the peer proxies the benchmarks compare against (dante, microsocks,
# tinyproxy, OpenSSH for `ssh -D`), without starting their system services.
set -euo pipefail
cd "$(dirname "$0")/.."
bench=0
[[ ${1:-} == --bench ]] && bench=1

apt_packages=(
  g++ cmake ninja-build pkg-config make git ca-certificates
  libboost-dev libssl-dev libsecp256k1-dev libcrypto++-dev libsodium-dev libsqlite3-dev libmaxminddb-dev
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libfmt-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm curl sqlite3 jq clang-format ccache openssl python3 iproute2 nftables conntrack
  dpkg-dev fakeroot systemd man-db zsh chromium
  wireguard-tools wireguard-go qrencode dnsmasq-base
)

bench_packages=(dante-server microsocks tinyproxy openssh-server openssh-client)
((bench)) && apt_packages+=("${bench_packages[@]}")

missing=()
for p in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# A machine may carry its own node/npm outside dpkg: accept those.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]}")
fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  # The peer proxies come with system services; the benchmark starts its own instances, so keep
  # the package scripts from starting them (policy-rc.d answers "not now").
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee $policy >/dev/null && $sudo chmod +x $policy
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  ((own_policy)) && $sudo rm -f $policy
fi

# npm tools, pinned by package-lock.json; reinstalled only when the lock file changed.
stamp=node_modules/.ipsx-lock-stamp
if [[ ! -f $stamp ]] || ! cmp -s package-lock.json "$stamp"; then
  echo "install-deps: npm ci (pinned tools)"
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi
