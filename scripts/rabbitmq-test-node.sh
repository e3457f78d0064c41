#!/usr/bin/env bash
# A private, throw-away RabbitMQ node for the integration tests (see docs/dependencies.md §10).
#
#   eval "$(scripts/rabbitmq-test-node.sh start)"   # prints `export ...` lines on stdout, everything else on stderr
#   scripts/rabbitmq-test-node.sh stop              # stops the node named by $PUSHER_TEST_RABBITMQ_DIR, removes it
#
# The node has its own name, AMQP port, distribution port, epmd port, Erlang cookie, config and data/log directories
# (in one temp dir), listens on loopback only, and therefore never clashes with another broker on the machine (a
# system node on 5672/25672, or a node started by a parallel test run). As root it runs as user `rabbitmq`; otherwise
# as the calling user. `start` also stops nodes left behind by killed runs (their owner process is gone).
#
# Exports: PUSHER_TEST_AMQP_URL, PUSHER_TEST_RABBITMQCTL (a command that runs rabbitmqctl against this node; also as
# PUSHER_TEST_RABBITMQ_CTL), PUSHER_TEST_RABBITMQ_NODE, PUSHER_TEST_RABBITMQ_DIR, and when openssl is available a TLS
# listener: PUSHER_TEST_AMQPS_URL (amqps://...@localhost:PORT/) with PUSHER_TEST_TLS_CA_FILE (the CA that signed it).
set -euo pipefail

# As root the node runs as `rabbitmq`, which must reach the directory: /tmp, whatever TMPDIR says.
if [ "$(id -u)" = 0 ]; then
    base_glob=/tmp/pusher-rabbitmq.
else
    base_glob=${TMPDIR:-/tmp}/pusher-rabbitmq.
fi
rmq_bin=/usr/lib/rabbitmq/bin
# shellcheck source=lib/rabbitmq-node.sh
. "$(dirname "$0")/lib/rabbitmq-node.sh"
start_timeout=${PUSHER_TEST_RABBITMQ_TIMEOUT:-120}

say() { echo "rabbitmq-test-node: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# A process's identity: pid plus its start time, so a recycled pid is not mistaken for the owner.
proc_id() {
    local pid=$1 stat
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }               # fields after the command name (which may contain spaces)
    set -- $stat
    echo "$pid ${20}"               # field 22 of /proc/PID/stat = starttime
}

parent_of() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    set -- $stat
    echo "$2"
}

# The process whose life the node shares: our parent, or, when that is a forked subshell (e.g. the command
# substitution of `eval "$(... start)"`, which has the same command line as the shell that forked it), the shell
# above it. Erring upwards only makes a node live longer, never die under a running test.
owner_pid() {
    local p=$PPID up
    while up=$(parent_of "$p") && [ "$up" -gt 1 ] &&
        cmp -s "/proc/$p/cmdline" "/proc/$up/cmdline" 2>/dev/null; do
        p=$up
    done
    echo "$p"
}

owner_alive() {  # dir
    local want have
    want=$(cat "$1/owner" 2>/dev/null) || return 1
    have=$(proc_id "${want%% *}") || return 1
    [ "$want" = "$have" ]
}

# True when nothing listens on 127.0.0.1:PORT (bash's /dev/tcp: no extra tool needed).
port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

node_running() {  # dir
    [ -x "$1/rabbitmqctl" ] && "$1/rabbitmqctl" -q status >/dev/null 2>&1
}

print_exports() {  # dir
    local dir=$1
    # shellcheck disable=SC1091
    . "$dir/node.env"
    echo "export PUSHER_TEST_AMQP_URL='amqp://guest:guest@127.0.0.1:${node_port}/'"
    echo "export PUSHER_TEST_RABBITMQCTL='$dir/rabbitmqctl'"
    echo "export PUSHER_TEST_RABBITMQ_CTL='$dir/rabbitmqctl'"
    if [ -n "${tls_port:-}" ]; then
        echo "export PUSHER_TEST_AMQPS_URL='amqps://guest:guest@localhost:${tls_port}/'"
        echo "export PUSHER_TEST_TLS_CA_FILE='$dir/tls/ca.pem'"
    fi
    echo "export PUSHER_TEST_RABBITMQ_NODE='$node_name'"
    echo "export PUSHER_TEST_RABBITMQ_DIR='$dir'"
}

# Whatever survived a stop (a node that never finished booting or wrote no pid file, a hung VM): kill the processes
# whose command line names this directory (the VM runs with `-home DIR/home`).
kill_leftovers() {  # dir
    local p
    for p in /proc/[0-9]*; do
        if grep -qs -- "$1/home" "$p/cmdline"; then
            kill -KILL "${p#/proc/}" 2>/dev/null || true
        fi
    done
}

stop_node() {  # dir
    local dir=$1
    [ -d "$dir" ] || return 0
    [ -f "$dir/node.env" ] || {
        rm -rf "$dir"
        return 0
    }
    # shellcheck disable=SC1091
    . "$dir/node.env"
    say "stopping $node_name ($dir)"
    if [ -x "$dir/rabbitmqctl" ]; then
        # `stop PIDFILE` waits for the Erlang VM to exit.
        timeout 60 "$dir/rabbitmqctl" -q stop "$dir/rabbit.pid" >/dev/null 2>&1 || true
    fi
    kill_leftovers "$dir"
    # Our own epmd (own port): nothing else registers there.
    ERL_EPMD_PORT=$epmd_port epmd -kill >/dev/null 2>&1 || true
    rm -rf "$dir"
}

# A CA and a server certificate (localhost, 127.0.0.1) signed by it, EC P-256, valid two days.
make_tls() {  # dir
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "/CN=pusher test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$d/ca.key" -out "$d/ca.pem" &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
            -keyout "$d/server.key" -out "$d/server.csr" &&
        printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
            "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$d/server.ext" &&
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
            -extfile "$d/server.ext" -out "$d/server.pem"
}

reap_stale() {
    local d
    for d in "$base_glob"*; do
        [ -d "$d" ] || continue
        owner_alive "$d" && continue
        # A dir without an owner yet is being created by a parallel start: leave it unless it is old.
        [ -f "$d/owner" ] || [ -n "$(find "$d" -maxdepth 0 -mmin +10 2>/dev/null)" ] || continue
        say "removing a node left by a run that is gone: $d"
        stop_node "$d"
    done
}

# Four consecutive free ports (AMQP, distribution, epmd, AMQPS), below the kernel's ephemeral range (an outgoing
# connection could take a port from there while the node starts) and clear of RabbitMQ's defaults.
pick_ports() {
    local lo=20000 hi p q taken
    hi=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$hi" -gt $((lo + 1000)) ] || hi=$((lo + 10000))
    for ((p = lo + (RANDOM % ((hi - lo) / 8)) * 4; p + 3 < hi; p += 4)); do
        taken=
        for q in $p $((p + 1)) $((p + 2)) $((p + 3)); do
            case $q in 4369 | 5671 | 5672 | 15672 | 25672) taken=1 ;; esac
            [ -n "$taken" ] || port_free "$q" || taken=1
        done
        if [ -z "$taken" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

cmd_start() {
    # Idempotent: the node this shell already started is reused.
    if [ -n "${PUSHER_TEST_RABBITMQ_DIR:-}" ] && node_running "$PUSHER_TEST_RABBITMQ_DIR"; then
        say "already running: $PUSHER_TEST_RABBITMQ_DIR"
        print_exports "$PUSHER_TEST_RABBITMQ_DIR"
        return 0
    fi
    [ -x "$rmq_bin/rabbitmq-server" ] || die "rabbitmq-server is not installed (apt-get install rabbitmq-server)"
    reap_stale

    local run_user node_user owner_pid dir
    run_user=$(id -un)
    node_user=$run_user
    if [ "$(id -u)" = 0 ]; then
        id rabbitmq >/dev/null 2>&1 || die "user rabbitmq is missing (is rabbitmq-server installed?)"
        node_user=rabbitmq
    fi
    # When the owner dies without calling stop (a killed run), the next start or stop reaps the node.
    owner_pid=${PUSHER_TEST_RABBITMQ_OWNER_PID:-$(owner_pid)}
    dir=$(mktemp -d "${base_glob}XXXXXX")
    proc_id "$owner_pid" >"$dir/owner" || echo "$$ 0" >"$dir/owner"
    # Interrupted while starting: leave nothing behind.
    trap 'stop_node "$dir"; exit 130' INT TERM HUP
    mkdir -p "$dir/home" "$dir/mnesia" "$dir/log"
    chmod 755 "$dir"
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/home/.erlang.cookie"
    chmod 400 "$dir/home/.erlang.cookie"
    : >"$dir/rabbitmq-env.conf"
    echo '[].' >"$dir/enabled_plugins"
    cat >"$dir/rabbitmq.conf" <<'EOF'
loopback_users.guest = true
log.console = false
log.file.level = info
EOF
    # A TLS listener too (for amqps:// tests), with a throw-away CA and a server certificate for localhost.
    local tls=
    if command -v openssl >/dev/null 2>&1 && make_tls "$dir/tls" 2>"$dir/log/tls.log"; then
        tls=1
    else
        say "openssl missing or failed: no TLS listener (amqps tests will skip)"
    fi

    local attempt port node_name
    for attempt in 1 2 3; do
        port=$(pick_ports) || die "no four consecutive free ports below the ephemeral range"
        node_name="pusher-test-$port@localhost"
        sed -i '/^listeners.ssl\|^ssl_options/d' "$dir/rabbitmq.conf"
        if [ -n "$tls" ]; then
            cat >>"$dir/rabbitmq.conf" <<EOF
listeners.ssl.default = 127.0.0.1:$((port + 3))
ssl_options.cacertfile = $dir/tls/ca.pem
ssl_options.certfile = $dir/tls/server.pem
ssl_options.keyfile = $dir/tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
EOF
        fi
        cat >"$dir/node.env" <<EOF
node_name='$node_name'
node_port=$port
dist_port=$((port + 1))
epmd_port=$((port + 2))
tls_port=${tls:+$((port + 3))}
EOF
        write_node_scripts "$dir" "$node_name" "$port" $((port + 1)) $((port + 2))
        chown -R "$node_user" "$dir" 2>/dev/null || true

        say "starting $node_name on 127.0.0.1:$port (dir $dir)"
        # su's PAM session resets the soft fd limit to 1024: raise it inside.
        local launch=". '$dir/env.sh'; ulimit -n \"\$(ulimit -Hn)\" 2>/dev/null; cd '$dir/home';
            exec $rmq_bin/rabbitmq-server -detached >'$dir/log/startup.log' 2>&1"
        if [ "$node_user" != "$run_user" ]; then
            su "$node_user" -s /bin/sh -c "$launch" || true
        else
            sh -c "$launch" || true
        fi
        if timeout $((start_timeout + 10)) "$dir/rabbitmqctl" -q wait --timeout "$start_timeout" "$dir/rabbit.pid" \
            >"$dir/log/wait.log" 2>&1 &&
            "$dir/rabbitmqctl" -q await_startup >/dev/null 2>&1 &&
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null &&
            { [ -z "$tls" ] || (exec 3<>"/dev/tcp/127.0.0.1/$((port + 3))") 2>/dev/null; }; then
            trap - INT TERM HUP
            say "ready: $node_name, AMQP on 127.0.0.1:$port"
            print_exports "$dir"
            return 0
        fi
        say "node did not start (attempt $attempt); its log:"
        tail -n 20 "$dir/log/startup.log" "$dir/log/wait.log" "$dir"/log/*.log >&2 2>/dev/null || true
        timeout 30 "$dir/rabbitmqctl" -q stop >/dev/null 2>&1 || true
        kill_leftovers "$dir"
        ERL_EPMD_PORT=$((port + 2)) epmd -kill >/dev/null 2>&1 || true
        rm -rf "$dir/mnesia"/* "$dir/log"/* "$dir/rabbit.pid"
    done
    trap - INT TERM HUP
    stop_node "$dir"
    die "could not start a RabbitMQ test node"
}

cmd_stop() {
    if [ -n "${PUSHER_TEST_RABBITMQ_DIR:-}" ]; then
        stop_node "$PUSHER_TEST_RABBITMQ_DIR"
    else
        # No node named: stop the ones this shell started, and any whose owner is gone.
        local d me
        me=$(proc_id "$(owner_pid)" || true)
        for d in "$base_glob"*; do
            [ -d "$d" ] || continue
            if [ "$(cat "$d/owner" 2>/dev/null)" = "$me" ]; then
                stop_node "$d"
            fi
        done
    fi
    reap_stale
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
