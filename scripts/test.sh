#!/usr/bin/env bash
# Runs every test: unit + integration (ctest, with a throw-away RabbitMQ node) and end-to-end (node --test).
# Usage: scripts/test.sh [BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$top" && realpath -m "${1:-build}")
cd "$top"

# A RabbitMQ node of our own (own name, ports and data dir); stopped when this script exits.
if [ -x scripts/rabbitmq-test-node.sh ]; then
  eval "$(scripts/rabbitmq-test-node.sh start)"   # exports PUSHER_TEST_AMQP_URL, PUSHER_TEST_RABBITMQ_CTL, ...
  trap 'scripts/rabbitmq-test-node.sh stop >/dev/null 2>&1 || true' EXIT
fi
export PUSHER_BUILD_DIR="$build"

status=0
echo "== unit + integration (ctest)"
(cd "$build" && ctest --output-on-failure -j2 --timeout 300) || status=1

if [ -d tests/e2e ] && ls tests/e2e/*.test.mjs >/dev/null 2>&1; then
  echo "== end-to-end (node --test)"
  (cd tests/e2e && node --test --test-concurrency=1 ./*.test.mjs) || status=1
fi
exit $status
