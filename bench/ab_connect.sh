#!/usr/bin/env bash
# A/B of connection set-up (s4 of scripts/bench.sh: 9,000 users with HS256 tokens, two connections each) for two
# pusher binaries, interleaved, plus the bare bind rate of the same broker: one JSON line per run on stdout.
# Usage: bench/ab_connect.sh BIN_A BIN_B [REPEAT]
#   with PUSHER_TEST_AMQP_URL and PUSHER_TEST_RABBITMQ_DIR of a running node (eval "$(scripts/rabbitmq-test-node.sh start)").
# For a change that touches the connection path: keep the old binary (cp build/bin/pusher /tmp/pusher-before), build,
# run this; the docs' snapshot (make bench) stays untouched.
set -euo pipefail
a=$1 b=$2 n=${3:-3}
load=$(cd "$(dirname "$0")/.." && pwd)/build/bin/pusher-load
secret=ab-secret
bpid=$(cat "$PUSHER_TEST_RABBITMQ_DIR/rabbit.pid")
ulimit -n "$(ulimit -Hn)"
for i in $(seq 1 "$n"); do
  for bin in "$a" "$b"; do
    log=$(mktemp)
    "$bin" --listen 127.0.0.1:0 --broker amqp --threads 2 --amqp-url "$PUSHER_TEST_AMQP_URL" --jwt-secret "$secret" >"$log" 2>&1 &
    pid=$!
    port=""
    for k in $(seq 1 100); do port=$(grep -oE 'listening on [0-9.]+:[0-9]+' "$log" | sed 's/.*://' | head -1 || true); [ -n "$port" ] && break; sleep 0.1; done
    for k in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    echo "{\"bin\":\"$bin\",\"run\":$i,\"r\":$("$load" --scenario s4-connect --label "$(basename "$bin")" --broker-pid "$bpid" --url "http://127.0.0.1:$port" --amqp-url "$PUSHER_TEST_AMQP_URL" --server-pid "$pid" --users 9000 --per-user 2 --jwt-secret "$secret" --messages 0 --max-seconds 300 --drain-timeout 15 2>/dev/null)}"
    kill $pid; wait $pid || true
    rm -f "$log"
  done
  echo "{\"bin\":\"drain\",\"run\":$i,\"r\":$("$load" --scenario s4-connect --label drain --broker-pid "$bpid" --receiver amqp-drain --amqp-url "$PUSHER_TEST_AMQP_URL" --users 9000 --messages 0 --max-seconds 300 --drain-timeout 15 2>/dev/null)}"
done
