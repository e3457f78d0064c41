#!/usr/bin/env bash
# The benchmark driver behind `make bench`: runs the same scenarios against `pusher`, against the Node peer
# (../shared/bench/peer-contract, the server a user would pick instead) and, where it applies, against the bare
# broker path (a plain rabbitmq-c consumer: `pusher-load --receiver amqp-drain`), on one private RabbitMQ node.
# Writes BUILD/bench/results.json (+ .jsonl), plots (BUILD/bench/*.png) and the table section of docs/benchmarks.md.
#
# Usage: scripts/bench.sh [--smoke] [BUILD_DIR]
#   --smoke   every scenario tiny (seconds), results in BUILD/bench-smoke/, docs untouched; exits non-zero if a run
#             is not clean (failed connections, loss, misrouting). `make test` runs it through ctest (bench_smoke).
# Environment: PUSHER_PEER_DIR (peer sources; default ../shared/bench/peer-contract beside the repo),
#   PUSHER_TEST_AMQP_URL (use this broker instead of starting one), BENCH_ONLY="s1 s2 ..." (run a subset),
#   BENCH_TARGETS="pusher pusher-norecovery ..." (run only these targets; also: peer, drain, pusher-1write),
#   BENCH_REPEAT=N (runs per scenario point and target, interleaved pusher / peer / baseline; the report quotes
#   medians; default 3, smoke 1), BENCH_NICE=-10 (run everything, RabbitMQ included, at this nice level, so that
#   other work on a shared machine disturbs the figures less; needs root; default: unchanged).
# Every run is bounded (pusher-load --max-seconds) and targets loopback only. Each result line records the commands
# and the load average before and after the run.
set -euo pipefail
smoke=0
if [ "${1:-}" = "--smoke" ]; then
    smoke=1
    shift
fi
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$top" && realpath -m "${1:-build}")
load="$build/bin/pusher-load"
pusher="$build/bin/pusher"
if [ $smoke = 1 ]; then out="$build/bench-smoke"; else out="$build/bench"; fi
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say() { echo "bench: $*" >&2; }
if [ -n "${BENCH_NICE:-}" ]; then
    renice -n "$BENCH_NICE" -p $$ >/dev/null || say "cannot renice to $BENCH_NICE (not root?): running at the default priority"
fi
if [ $smoke = 1 ]; then repeat=${BENCH_REPEAT:-1}; else repeat=${BENCH_REPEAT:-3}; fi
die() {
    say "error: $*"
    exit 1
}
[ -x "$load" ] || die "$load is missing: build it first (make build, or cmake --build $build --target pusher-load)"
# The plots need gnuplot: install it (and what else `make bench` installs) when it is missing, as `make bench` does.
if [ $smoke = 0 ] && ! command -v gnuplot >/dev/null; then
    "$top/scripts/deps.sh" bench || say "could not install gnuplot: no plots"
fi

# ---------------------------------------------------------------- what we run against
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    if [ -n "${own_rabbit:-}" ]; then "$top/scripts/rabbitmq-test-node.sh" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

amqp_url=${PUSHER_TEST_AMQP_URL:-}
if [ -z "$amqp_url" ] && [ -x "$top/scripts/rabbitmq-test-node.sh" ]; then
    say "starting a private RabbitMQ node"
    if eval "$("$top/scripts/rabbitmq-test-node.sh" start)"; then
        own_rabbit=1
        amqp_url=${PUSHER_TEST_AMQP_URL:-}
    else
        say "no RabbitMQ node: the AMQP scenarios are skipped"
    fi
fi
broker_pid=0
if [ -n "${PUSHER_TEST_RABBITMQ_DIR:-}" ] && [ -f "$PUSHER_TEST_RABBITMQ_DIR/rabbit.pid" ]; then
    broker_pid=$(cat "$PUSHER_TEST_RABBITMQ_DIR/rabbit.pid")
    if [ -n "${BENCH_NICE:-}" ] && [ -n "${own_rabbit:-}" ]; then
        for t in /proc/"$broker_pid"/task/*; do renice -n "$BENCH_NICE" -p "${t##*/}" >/dev/null 2>&1 || true; done
    fi
fi

have_pusher=0
[ -x "$pusher" ] && have_pusher=1
[ $have_pusher = 1 ] || say "no $pusher yet: pusher runs are skipped"

peer_src=${PUSHER_PEER_DIR:-$(realpath -m "$top/../shared/bench/peer-contract")}
peer="$build/peer"
have_peer=0
if [ -f "$peer_src/server.js" ] && command -v node >/dev/null; then
    mkdir -p "$peer"
    cp "$peer_src/server.js" "$peer_src/package.json" "$peer_src/package-lock.json" "$peer/"
    if [ -d "$peer/node_modules" ] && [ ! "$peer/package-lock.json" -nt "$peer/node_modules/.stamp" ]; then
        have_peer=1
    elif (cd "$peer" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1 && touch node_modules/.stamp); then
        have_peer=1
    else
        say "npm ci of the peer failed: peer runs are skipped"
    fi
else
    say "no peer sources at $peer_src (set PUSHER_PEER_DIR): peer runs are skipped"
fi

# http_status PORT PATH: the status line of GET http://127.0.0.1:PORT/PATH (bash's /dev/tcp: no extra tool needed).
http_status() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
        timeout 5 head -1 <&3
    ) 2>/dev/null || true
}

# start_server KIND BROKER [extra flags...]: starts pusher, the peer, or pusher-1write (pusher writing one frame per
# socket write: the baseline that shows what batching buys) on a free port; sets srv_pid, srv_url and srv_cmd.
start_server() {
    local kind=$1 broker=$2
    shift 2
    local log="$out/$kind-$(date +%s%N).log" flags=(--listen 127.0.0.1:0 --broker "$broker" --threads 2 "$@")
    # The peer declares its per-user exchange without arguments, and RabbitMQ refuses (406) a declaration whose
    # alternate-exchange differs from the existing exchange's: the peer gets an exchange of its own (`pusher.peer`,
    # and pusher-load publishes there for it), pusher runs with its defaults.
    [ "$broker" = amqp ] && flags+=(--amqp-url "$amqp_url")
    [ "$broker" = amqp ] && [ "$kind" = peer ] && flags+=(--exchange "$peer_exchange")
    case $kind in
        pusher)
            srv_cmd="pusher ${flags[*]}"
            "$pusher" "${flags[@]}" >"$log" 2>&1 &
            ;;
        pusher-1write)
            srv_cmd="pusher ${flags[*]} --max-frames-per-write 1"
            "$pusher" "${flags[@]}" --max-frames-per-write 1 >"$log" 2>&1 &
            ;;
        pusher-norecovery)
            srv_cmd="pusher ${flags[*]} --recovery-ms 0"
            "$pusher" "${flags[@]}" --recovery-ms 0 >"$log" 2>&1 &
            ;;
        *)
            srv_cmd="node server.js ${flags[*]}"
            node "$peer/server.js" "${flags[@]}" >"$log" 2>&1 &
            ;;
    esac
    srv_pid=$!
    pids+=("$srv_pid")
    local port="" i
    for i in $(seq 1 150); do
        port=$(grep -oE 'listening on [0-9.]+:[0-9]+' "$log" 2>/dev/null | head -1 | sed 's/.*://') || true
        [ -n "$port" ] && break
        kill -0 "$srv_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        say "$kind did not start (log: $log):"
        tail -5 "$log" >&2 || true
        return 1
    fi
    srv_url="http://127.0.0.1:$port"
    # Ready means broker connected and bindings restored (GET /readyz = 200).
    for i in $(seq 1 100); do
        if http_status "$port" /readyz | grep -q ' 200'; then
            return 0
        fi
        sleep 0.1
    done
    say "$kind never became ready (log: $log)"
    return 1
}

stop_server() {
    kill "$srv_pid" 2>/dev/null || true
    wait "$srv_pid" 2>/dev/null || true
}

failures=0
json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# run_load SCENARIO LABEL pusher-load args...: one run, its JSON line (plus the commands, the load average before
# and after, and the repeat number) appended to the results.
run_load() {
    local scenario=$1 label=$2
    shift 2
    say "$scenario / $label (run $run of $repeat, load $(loadavg)): pusher-load $*"
    local line before after
    before=$(loadavg)
    if line=$("$load" --scenario "$scenario" --label "$label" --broker-pid "$broker_pid" "$@" 2>>"$out/pusher-load.log"); then
        :
    else
        failures=$((failures + 1))
        say "$scenario / $label: NOT clean (see $out/pusher-load.log)"
    fi
    after=$(loadavg)
    if [ -n "$line" ]; then
        local extra
        extra=",\"command\":$(json_str "pusher-load $*"),\"server_command\":$(json_str "${srv_cmd:-}")"
        extra+=",\"loadavg_before\":$(json_str "$before"),\"loadavg_after\":$(json_str "$after"),\"repeat\":$run}"
        echo "${line%\}}$extra" >>"$results"
    fi
    tail -1 "$out/pusher-load.log" >&2 || true
}

# on TARGET SCENARIO BROKER [server flags] -- [pusher-load args]: starts TARGET, runs the load, stops it. The results
# carry the label TARGET, or $label when set (`label=pusher-broadcast on pusher ...`).
on() {
    local target=$1 scenario=$2 broker=$3
    shift 3
    local sflags=() lflags=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        sflags+=("$1")
        shift
    done
    [ "${1:-}" = -- ] && shift
    lflags=("$@")
    if [ "$target" = peer ] && [ "$broker" = amqp ]; then lflags+=(--exchange "$peer_exchange"); fi
    case $target in
        pusher | pusher-1write | pusher-norecovery) [ $have_pusher = 1 ] || return 0 ;;
        peer) [ $have_peer = 1 ] || return 0 ;;
    esac
    if [ "$broker" = amqp ] && [ -z "$amqp_url" ]; then return 0; fi
    want_target "$target" || return 0
    if [ "$target" = drain ]; then
        srv_cmd=""
        run_load "$scenario" drain --receiver amqp-drain --amqp-url "$amqp_url" "${lflags[@]}"
        return 0
    fi
    if ! start_server "$target" "$broker" "${sflags[@]}"; then
        failures=$((failures + 1))
        return 0
    fi
    run_load "$scenario" "${label:-$target}" --url "$srv_url" --amqp-url "${amqp_url:-amqp://guest:guest@127.0.0.1:5672/}" \
        --server-pid "$srv_pid" "${lflags[@]}"
    stop_server
}

peer_exchange=pusher.peer
want() { [ -z "${BENCH_ONLY:-}" ] || [[ " $BENCH_ONLY " == *" $1 "* ]]; }
want_target() { [ -z "${BENCH_TARGETS:-}" ] || [[ " $BENCH_TARGETS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- scenarios (full size, smoke size)
if [ $smoke = 1 ]; then
    fan_points=("20 20"); fan_baseline_point=20; burst_point="20 40"; rate_users=50; rate_rate=500; rate_msgs=500; flat_users=10; flat_msgs=2000
    conn_users=50; idle_conns=50; idle_s=1; max_s=60; chan_users=20; chan_msgs=20
else
    fan_points=("100 5000" "1000 500" "5000 100"); fan_baseline_point=1000; burst_point="1000 1000"; rate_users=10000; rate_rate=10000; rate_msgs=100000
    flat_users=1000; flat_msgs=200000; conn_users=9000; idle_conns=19500; idle_s=20; max_s=300; chan_users=5000
    chan_msgs=100
fi
common=(--max-seconds "$max_s" --drain-timeout 15)
run=1
secret=bench-secret-$$

# (1) fan-out on the embedded broker: broadcast 100-byte events to C websocket clients, server on 2 threads. Closed
# loop (at most 10 broadcasts not yet delivered everywhere): measures the sustained rate, not how much a server buffers.
# At 1,000 connections also pusher-1write: pusher writing one frame per socket write (target 1's baseline).
# s1-burst: the same at 1,000 connections with 100 broadcasts in flight, i.e. the server's fan-out capacity rather than
# what 10 broadcasts in flight allow (with 10, the round trip of the closed loop bounds the rate; see the analysis).
if want s1; then
    for point in "${fan_points[@]}"; do
        read -r conns msgs <<<"$point"
        targets=(pusher peer)
        [ "$conns" = "$fan_baseline_point" ] && targets+=(pusher-1write)
        for run in $(seq 1 "$repeat"); do
            for t in "${targets[@]}"; do
                on "$t" s1-fanout memory --dev-auth -- --users "$conns" --publish http --broadcast --messages "$msgs" \
                    --size 100 --publishers 4 --window 10 --threads 2 "${common[@]}"
            done
        done
    done
    read -r conns msgs <<<"$burst_point"
    for run in $(seq 1 "$repeat"); do
        for t in pusher peer pusher-1write; do
            on "$t" s1-burst memory --dev-auth -- --users "$conns" --publish http --broadcast --messages "$msgs" \
                --size 100 --publishers 4 --window 100 --threads 2 "${common[@]}"
        done
    done
fi
# (2) the RabbitMQ path at a fixed rate: U users, R msgs/s, CPU per delivered message and p99.
if want s2; then
    for run in $(seq 1 "$repeat"); do
        for t in pusher pusher-norecovery peer drain; do
            on "$t" s2-amqp-rate amqp --dev-auth -- --users "$rate_users" --publish amqp --messages "$rate_msgs" \
                --rate "$rate_rate" --size 100 "${common[@]}"
        done
    done
fi
# (3) the RabbitMQ path flat out: delivered msgs/s against the bare consumer (at most 5,000 messages in flight, so
# that latency reflects processing rather than a queue growing for the whole run).
if want s3; then
    for run in $(seq 1 "$repeat"); do
        for t in pusher peer drain; do
            on "$t" s3-amqp-max amqp --dev-auth -- --users "$flat_users" --publish amqp --messages "$flat_msgs" \
                --rate 0 --window 5000 --size 100 "${common[@]}"
        done
    done
fi
# (4) connection set-up with token check and confirmed binding (wave 1: distinct users; wave 2: a second connection
# of each already-bound user), against the broker's own pipelined bind rate (the drain's wave).
if want s4; then
    for run in $(seq 1 "$repeat"); do
        for t in pusher peer; do
            on "$t" s4-connect amqp --jwt-secret "$secret" -- --users "$conn_users" --per-user 2 \
                --jwt-secret "$secret" --messages 0 "${common[@]}"
        done
        on drain s4-connect amqp -- --users "$conn_users" --messages 0 "${common[@]}"
    done
fi
# (5) idle websockets: RSS per connection and idle CPU.
if want s5; then
    for run in $(seq 1 "$repeat"); do
        for t in pusher pusher-norecovery peer; do
            on "$t" s5-idle memory --dev-auth -- --users "$idle_conns" --messages 0 --idle-seconds "$idle_s" \
                --threads 2 "${common[@]}"
        done
    done
fi
# (9) channel fan-out: C websockets that all subscribed to one channel (dev mode allows every channel), events published
# to it, against a broadcast to the same C connections (s1's path) on the same kind of server in the same run.
if want s9; then
    for run in $(seq 1 "$repeat"); do
        for mode in broadcast channel; do
            if [ $mode = broadcast ]; then how=(--broadcast); else how=(--channel bench:room); fi
            label=pusher-$mode on pusher s9-channel memory --dev-auth -- --users "$chan_users" --publish http \
                "${how[@]}" --messages "$chan_msgs" --size 100 --publishers 4 --window 10 --threads 2 "${common[@]}"
        done
    done
fi
# The Node benchmarks of bench/ (socket.io-client and amqplib from tests/e2e/node_modules, which make test installs):
# node_bench NAME SCRIPT [args...] runs bench/SCRIPT (its own summary on stderr, its JSON where --out says) and counts
# it as not clean when it exits non-zero.
e2e_modules() { [ -d "$top/tests/e2e/node_modules/socket.io-client" ]; }
node_bench() {
    local name=$1 script=$2
    shift 2
    say "$name: $*"
    if ! PUSHER_TEST_AMQP_URL="$amqp_url" PUSHER_BUILD_DIR="$build" node "$top/bench/$script" "$@" >&2; then
        say "$name: not clean"
        failures=$((failures + 1))
    fi
}
# (10) idle memory with TLS on the listener: RSS per idle wss:// connection against ws:// on the same binary, interleaved
# (bench/tls_idle.mjs: socket.io-client connections, a certificate made for the run).
if want s10 && want_target pusher && [ $have_pusher = 1 ]; then
    if ! e2e_modules || ! command -v openssl >/dev/null; then
        say "s10-tls-idle skipped (needs tests/e2e/node_modules, which make test installs, and the openssl CLI)"
    elif [ $smoke = 1 ]; then
        node_bench s10-tls-idle tls_idle.mjs --connections 50 --rounds 1 --idle-seconds 1 --out "$out/tls_idle.json"
    else
        node_bench s10-tls-idle tls_idle.mjs --connections 5000 --rounds "$repeat" --idle-seconds "$idle_s" \
            --out "$out/tls_idle.json"
    fi
fi
# (7) connection state recovery of a session that missed 100 events: on the node that holds it, against handed over
# from another node through RabbitMQ (bench/handover.mjs: two nodes, interleaved rounds).
if want s7 && want_target pusher; then
    if [ -z "$amqp_url" ] || ! e2e_modules; then
        say "s7-handover skipped (needs RabbitMQ and tests/e2e/node_modules: make test installs them)"
    else
        if [ $smoke = 1 ]; then rounds=2; else rounds=$((10 * repeat)); fi
        node_bench s7-handover handover.mjs --rounds "$rounds" --out "$out/handover.json"
    fi
fi
# (8) a presence query answered across two nodes through the control plane, against GET /healthz of the same node
# (bench/presence_query.mjs).
if want s8 && want_target pusher; then
    if [ -z "$amqp_url" ] || ! e2e_modules; then
        say "s8-presence skipped (needs RabbitMQ and tests/e2e/node_modules: make test installs them)"
    else
        if [ $smoke = 1 ]; then requests=20; else requests=$((100 * repeat)); fi
        node_bench s8-presence presence_query.mjs --requests "$requests" --out "$out/presence.json"
    fi
fi

# ---------------------------------------------------------------- report
runs=$(wc -l <"$results")
say "$runs runs, $failures not clean; results in $results"
if [ $smoke = 1 ]; then
    node "$top/bench/report.mjs" "$results" "$out" >/dev/null
    [ "$runs" -gt 0 ] || say "nothing to benchmark here (no pusher, no peer, no broker): smoke run skipped"
    [ $failures = 0 ] || exit 1
    exit 0
fi
node "$top/bench/report.mjs" "$results" "$out" "$top/docs/benchmarks.md"
# The committed snapshot that docs/benchmarks.md shows: bench/results/ (results.json and the plots).
mkdir -p "$top/bench/results"
cp "$out/results.json" "$top/bench/results/"
if command -v gnuplot >/dev/null; then
    if (cd "$out" && gnuplot plots.gp); then
        cp "$out"/*.png "$top/bench/results/" 2>/dev/null || true
    else
        say "gnuplot failed"
    fi
else
    say "gnuplot is missing (apt-get install gnuplot-nox): no plots"
fi
say "docs/benchmarks.md updated"
[ $failures = 0 ]
