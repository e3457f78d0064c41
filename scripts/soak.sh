#!/usr/bin/env bash
# The soak test (tests/soak/soak.mjs): a pusher on a throw-away RabbitMQ node under mixed churn for SOAK_SECONDS
# (default 600), a broker restart in the middle, the server's RSS, fds and threads sampled every second; writes
# BUILD_DIR/artifacts/soak.{json,png} and exits non-zero unless the verdict passes (rules: tests/soak/soak.mjs).
# Usage: [SOAK_SECONDS=N] scripts/soak.sh [BUILD_DIR]
# Reuses the RabbitMQ node of the calling shell when PUSHER_TEST_AMQP_URL is set (scripts/test.sh), else starts one.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$top" && realpath -m "${1:-build}")
cd "$top"

[ -x "$build/bin/pusher" ] || { echo "soak: $build/bin/pusher is missing: build first (make build)" >&2; exit 2; }
[ -d tests/e2e/node_modules ] || { echo "soak: tests/e2e/node_modules is missing (scripts/deps.sh test)" >&2; exit 2; }
if [ -z "${PUSHER_TEST_AMQP_URL:-}" ]; then
  eval "$(scripts/rabbitmq-test-node.sh start)"
  trap 'scripts/rabbitmq-test-node.sh stop >/dev/null 2>&1 || true' EXIT
fi
export PUSHER_BUILD_DIR="$build"
mkdir -p "$build/artifacts"
node tests/soak/soak.mjs --seconds "${SOAK_SECONDS:-600}" --out "$build/artifacts"
