#!/usr/bin/env bash
# Runs every test: unit + integration (ctest, with a throw-away RabbitMQ node) and end-to-end (node --test) against
# BUILD_DIR, then the unit + integration tests again against SANITIZER_BUILD_DIR (ASan + UBSan) when given.
# Usage: scripts/test.sh [BUILD_DIR] [SANITIZER_BUILD_DIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$top" && realpath -m "${1:-build}")
sanitizer_build=${2:+$(cd "$top" && realpath -m "$2")}
cd "$top"

# A RabbitMQ node of our own (own name, ports and data dir); stopped when this script exits. A node that does not
# start stops the run here: `eval "$(... start)"` alone would eval nothing, succeed, and let every AMQP test skip.
trap 'scripts/rabbitmq-test-node.sh stop >/dev/null 2>&1 || true' EXIT
if ! node_env=$(scripts/rabbitmq-test-node.sh start) || [ -z "$node_env" ]; then
  echo "FAILED: the RabbitMQ test node did not start (scripts/rabbitmq-test-node.sh start; its log is above)" >&2
  exit 1
fi
eval "$node_env"   # exports PUSHER_TEST_AMQP_URL, PUSHER_TEST_RABBITMQ_CTL, PUSHER_TEST_AMQPS_URL, ...
# Every AMQP test must run: without a node (or its TLS listener) they fail instead of skipping.
export PUSHER_REQUIRE_AMQP=1
export PUSHER_BUILD_DIR="$build"

status=0
failed=()
step() {  # step NAME COMMAND...: runs one suite, remembers a failure, goes on with the next
  local name=$1
  shift
  echo "== $name"
  local t0=$SECONDS
  if "$@"; then
    echo "== $name: passed ($((SECONDS - t0)) s)"
  else
    echo "== $name: FAILED ($((SECONDS - t0)) s)"
    status=1
    failed+=("$name")
  fi
}

step "unit + integration (ctest, $build)" bash -c "cd '$build' && ctest --output-on-failure -j2 --timeout 300"

if [ -d tests/e2e ] && ls tests/e2e/*.test.mjs >/dev/null 2>&1; then
  step "end-to-end (node --test)" bash -c "cd tests/e2e && node --test --test-concurrency=1 ./*.test.mjs"
fi

# A 60-second soak (tests/soak, scripts/soak.sh): churn, publishes, a broker restart; RSS, fds and threads flat.
if [ "${SOAK:-1}" != 0 ] && [ -x scripts/soak.sh ]; then
  step "soak (60 s)" env SOAK_SECONDS=60 scripts/soak.sh "$build"
fi

if [ -n "$sanitizer_build" ]; then
  # ASan + UBSan: any report fails the test that triggered it (halt_on_error; UBSan built with no recovery).
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  step "unit + integration under ASan/UBSan (ctest, $sanitizer_build)" \
    bash -c "cd '$sanitizer_build' && ctest --output-on-failure -j2 --timeout 600"
fi

# --- fuzz targets (fuzz/, scripts/fuzz.sh): each one over its committed corpus, then a short burst so regressions
# show; builds build-fuzz with clang first. FUZZ=0 skips; FUZZ_TEST_SECONDS sets the burst (default 10 s each).
if [ "${FUZZ:-1}" != 0 ] && [ -x scripts/fuzz.sh ]; then
  step "fuzz targets (corpus + ${FUZZ_TEST_SECONDS:-10} s each)" scripts/fuzz.sh --seconds "${FUZZ_TEST_SECONDS:-10}"
fi
# --- end fuzz targets

if [ "$status" -ne 0 ]; then
  echo "FAILED: ${failed[*]}"
fi
exit $status
