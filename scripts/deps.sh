#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently; fast when everything is present.
# Usage: scripts/deps.sh [build|test|bench|cluster]   (each includes build; test includes cluster)
set -euo pipefail
what=${1:-build}
build_pkgs=(g++ cmake make pkg-config libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev librabbitmq-dev
  libssl-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm)
cluster_pkgs=(rabbitmq-server nginx curl)  # `make cluster` (scripts/cluster.sh) and its test
test_pkgs=("${cluster_pkgs[@]}" chromium libjwt-dev openssl clang libclang-rt-dev)  # libclang-rt-dev: libFuzzer + sanitizer runtimes for clang (only "recommended" by clang)
bench_pkgs=(gnuplot-nox)
pkgs=("${build_pkgs[@]}")
case "$what" in
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  cluster) pkgs+=("${cluster_pkgs[@]}") ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from elsewhere than Debian (a newer node on the PATH is fine)
if command -v node >/dev/null && command -v npm >/dev/null; then
  m2=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || m2+=("$p"); done; missing=("${m2[@]}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Packages with a service (rabbitmq-server, nginx) would start it on its default port (5672, 80) where no
  # policy-rc.d says no: we start our own instances, on our own ports, and want no system ones.
  no_services=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    no_services=1
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
  fi
  status=0
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ -z "$no_services" ] || $SUDO rm -f /usr/sbin/policy-rc.d
  [ "$status" = 0 ] || exit "$status"
fi
top=$(cd "$(dirname "$0")/.." && pwd)
# npm packages, from committed lockfiles: the browser client bundle (embedded at build time) and the test tooling.
npm_ci() {  # dir: reinstall only when the lockfile changed since the last install
  local dir=$1
  [ -f "$dir/package-lock.json" ] || return 0
  if [ ! -f "$dir/node_modules/.stamp" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.stamp" ]; then
    echo "deps: npm ci in ${dir#$top/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  fi
}
npm_ci "$top/web"
if [ "$what" != build ]; then
  npm_ci "$top/tests/e2e"
fi
