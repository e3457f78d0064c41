#!/usr/bin/env bash
# Installs what the build and the tests need, idempotently; fast when everything is present.
# Usage: scripts/deps.sh [build|test|bench]   (test and bench include build)
set -euo pipefail
what=${1:-build}
build_pkgs=(g++ cmake make pkg-config libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev librabbitmq-dev
  libssl-dev libspdlog-dev libfmt-dev libcli11-dev libtomlplusplus-dev libgtest-dev libgmock-dev libbenchmark-dev
  nodejs npm)
test_pkgs=(rabbitmq-server chromium libjwt-dev openssl clang)
bench_pkgs=(gnuplot-nox)
pkgs=("${build_pkgs[@]}")
case "$what" in
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
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
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$what" != build ]; then
  top=$(cd "$(dirname "$0")/.." && pwd)
  if [ ! -d "$top/tests/e2e/node_modules" ] || [ "$top/tests/e2e/package-lock.json" -nt "$top/tests/e2e/node_modules/.stamp" ]; then
    (cd "$top/tests/e2e" && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.stamp)
  fi
fi
