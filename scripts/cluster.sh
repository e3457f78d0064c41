#!/usr/bin/env bash
# `make cluster`: a whole cluster on this machine, in the foreground until Ctrl-C (or SIGTERM), which stops everything
# it started and frees the ports:
#   - a RabbitMQ cluster of 2 nodes (AMQP on 127.0.0.1:5701 and :5702, joined with `rabbitmqctl join_cluster`),
#   - 3 pusher nodes n1..n3 (127.0.0.1:8081-8083, --broker amqp with both AMQP URLs, dev mode),
#   - nginx on http://127.0.0.1:8080/ in front of them, with deploy/nginx.conf.template (docs/deployment.md).
# Everything lives in one folder (default BUILD_DIR/cluster: data, logs, configurations), wiped at each start.
#
# Usage: scripts/cluster.sh [BUILD_DIR]
# Environment:
#   CLUSTER_DIR=DIR         the folder (default BUILD_DIR/cluster)
#   CLUSTER_FREE_PORTS=1    any free ports instead of the fixed ones (tests run beside a `make cluster`)
#   CLUSTER_PUSHER_ARGS=... more options for every pusher node (word-split)
# Once everything answers it prints the demo and publish lines and writes DIR/cluster.json (ports, pids, the
# rabbitmqctl of each RabbitMQ node) for tests; the last line on stdout is `cluster ready: DIR/cluster.json`.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$top" && realpath -m "${1:-build}")
bin="$build/bin/pusher"
dir=$(realpath -m "${CLUSTER_DIR:-$build/cluster}")
rmq_bin=/usr/lib/rabbitmq/bin
# shellcheck source=lib/rabbitmq-node.sh
. "$top/scripts/lib/rabbitmq-node.sh"
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

say() { echo "cluster: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}
[ -x "$bin" ] || die "$bin is missing (make build)"
[ -x "$rmq_bin/rabbitmq-server" ] || die "rabbitmq-server is not installed (scripts/deps.sh cluster)"
[ -x "$nginx_bin" ] || die "nginx is not installed (scripts/deps.sh cluster)"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports: http, node 1-3, AMQP a/b, Erlang distribution a/b, epmd (one for both nodes: they find each other there).
if [ "${CLUSTER_FREE_PORTS:-0}" = 1 ]; then
  # Ten consecutive free ports below the ephemeral range (an outgoing connection could take one from there).
  lo=20000
  hi=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
  base=
  for _ in $(seq 50); do
    p=$((lo + (RANDOM % ((hi - lo - 10) / 10)) * 10))
    ok=1
    for q in $(seq "$p" $((p + 9))); do port_free "$q" || ok=; done
    if [ -n "$ok" ]; then
      base=$p
      break
    fi
  done
  [ -n "$base" ] || die "no ten consecutive free ports"
  http_port=$base node_ports=($((base + 1)) $((base + 2)) $((base + 3)))
  amqp_ports=($((base + 4)) $((base + 5))) dist_ports=($((base + 6)) $((base + 7))) epmd_port=$((base + 8))
else
  http_port=8080 node_ports=(8081 8082 8083) amqp_ports=(5701 5702) dist_ports=(25701 25702) epmd_port=5700
  for q in "$http_port" "${node_ports[@]}" "${amqp_ports[@]}" "${dist_ports[@]}" "$epmd_port"; do
    port_free "$q" || die "port $q is taken (another make cluster or make run still running?)"
  done
fi
rabbit_names=(a b)
node_ids=(n1 n2 n3)

started_pushers=()
nginx_pid=
cleanup() {
  trap - EXIT
  trap "" INT TERM  # a second Ctrl-C must not cut the cleanup short
  say "stopping"
  [ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null || true
  local p
  for p in "${started_pushers[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${started_pushers[@]}"; do
    # --drain-ms (10 s by default) and a margin: a node waits for its held sessions to be handed over
    timeout 15 tail --pid="$p" -f /dev/null 2>/dev/null || kill -KILL "$p" 2>/dev/null || true
  done
  local n
  for n in "${rabbit_names[@]}"; do
    [ -x "$dir/rabbit-$n/rabbitmqctl" ] && timeout 30 "$dir/rabbit-$n/rabbitmqctl" -q stop "$dir/rabbit-$n/rabbit.pid" \
      >/dev/null 2>&1 &
  done
  wait 2>/dev/null || true
  # Whatever did not stop (a node killed by a test leaves nothing; a hung one is killed): the VMs run with -home DIR.
  for p in /proc/[0-9]*; do
    grep -qs -- "$dir/rabbit-" "$p/cmdline" && kill -KILL "${p#/proc/}" 2>/dev/null || true
  done
  [ -n "$nginx_pid" ] && timeout 5 tail --pid="$nginx_pid" -f /dev/null 2>/dev/null || true
  ERL_EPMD_PORT=$epmd_port epmd -kill >/dev/null 2>&1 || true
  say "stopped"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$dir"
mkdir -p "$dir"
cookie=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

# --- RabbitMQ: two nodes with one cookie and one epmd, the second joined to the first.
rabbit_node() {  # index
  local i=$1 n=${rabbit_names[$1]} d="$dir/rabbit-${rabbit_names[$1]}"
  mkdir -p "$d/home" "$d/mnesia" "$d/log"
  printf '%s' "$cookie" >"$d/home/.erlang.cookie"
  chmod 400 "$d/home/.erlang.cookie"
  : >"$d/rabbitmq-env.conf"
  echo '[].' >"$d/enabled_plugins"
  # autoheal: with two nodes no side of a partition has a majority (pause_minority would pause both); see
  # docs/deployment.md for three nodes and pause_minority in production.
  printf '%s\n' "loopback_users.guest = true" "log.console = false" "log.file.level = info" \
    "cluster_partition_handling = autoheal" >"$d/rabbitmq.conf"
  write_node_scripts "$d" "pusher-cluster-$n@localhost" "${amqp_ports[$i]}" "${dist_ports[$i]}" "$epmd_port"
  say "starting RabbitMQ node pusher-cluster-$n@localhost (AMQP 127.0.0.1:${amqp_ports[$i]})"
  (
    . "$d/env.sh"
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    cd "$d/home"
    exec "$rmq_bin/rabbitmq-server" -detached >"$d/log/startup.log" 2>&1
  )
}
rabbit_ready() {  # index
  local d="$dir/rabbit-${rabbit_names[$1]}"
  timeout 130 "$d/rabbitmqctl" -q wait --timeout 120 "$d/rabbit.pid" >"$d/log/wait.log" 2>&1 &&
    "$d/rabbitmqctl" -q await_startup >/dev/null 2>&1 ||
    {
      tail -n 30 "$d/log/startup.log" "$d/log/wait.log" "$d"/log/*.log >&2 2>/dev/null || true
      die "RabbitMQ node ${rabbit_names[$1]} did not start (its logs are above)"
    }
}
rabbit_node 0
rabbit_node 1
rabbit_ready 0
rabbit_ready 1
ctl_b="$dir/rabbit-b/rabbitmqctl"
{ "$ctl_b" -q stop_app && "$ctl_b" -q join_cluster pusher-cluster-a@localhost && "$ctl_b" -q start_app; } \
  >"$dir/rabbit-b/log/join.log" 2>&1 || {
  cat "$dir/rabbit-b/log/join.log" >&2
  die "rabbitmqctl join_cluster failed"
}
say "RabbitMQ cluster: pusher-cluster-a@localhost + pusher-cluster-b@localhost"

# --- pusher nodes: both AMQP URLs, in an order that alternates, so that the nodes' queues (which live on the RabbitMQ
# node they are connected to) spread over both RabbitMQ nodes; each fails over to the other URL.
url_a="amqp://guest:guest@127.0.0.1:${amqp_ports[0]}/"
url_b="amqp://guest:guest@127.0.0.1:${amqp_ports[1]}/"
for i in 0 1 2; do
  id=${node_ids[$i]}
  if [ $((i % 2)) = 0 ]; then urls="$url_a,$url_b"; else urls="$url_b,$url_a"; fi
  # shellcheck disable=SC2086
  "$bin" --node-id "$id" --listen "127.0.0.1:${node_ports[$i]}" --broker amqp --amqp-url "$urls" --dev-auth \
    --trusted-proxies 127.0.0.1 \
    ${CLUSTER_PUSHER_ARGS:-} >"$dir/pusher-$id.log" 2>&1 &
  started_pushers+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:${node_ports[$i]}/readyz" 2>/dev/null && break
    kill -0 "${started_pushers[$i]}" 2>/dev/null || {
      cat "$dir/pusher-${node_ids[$i]}.log" >&2
      die "pusher node ${node_ids[$i]} exited"
    }
    sleep 0.1
  done
  curl -fsS -o /dev/null "http://127.0.0.1:${node_ports[$i]}/readyz" || die "pusher node ${node_ids[$i]} not ready"
done

# --- nginx, with its own prefix and configuration (no system service).
mkdir -p "$dir/nginx"
upstreams= routes= servers=
for i in 0 1 2; do
  id=${node_ids[$i]} addr="127.0.0.1:${node_ports[$i]}"
  upstreams+="    upstream pusher_node_$id { server $addr; keepalive 16; }"$'\n'
  routes+="        ~^$id\\. pusher_node_$id;"$'\n'
  servers+="        server $addr;"$'\n'
done
UPSTREAMS=$upstreams ROUTES=$routes SERVERS=$servers PREFIX="$dir/nginx" LISTEN="127.0.0.1:$http_port" \
  awk '{
    if ($0 == "@NODE_UPSTREAMS@") { printf "%s", ENVIRON["UPSTREAMS"]; next }
    if ($0 == "@NODE_ROUTES@") { printf "%s", ENVIRON["ROUTES"]; next }
    if ($0 == "@ANY_NODE_SERVERS@") { printf "%s", ENVIRON["SERVERS"]; next }
    gsub("@PREFIX@", ENVIRON["PREFIX"]); gsub("@LISTEN@", ENVIRON["LISTEN"]); print
  }' "$top/deploy/nginx.conf.template" >"$dir/nginx/nginx.conf"
# As root nginx's workers run as `nobody`: they must reach the temp folders it creates under the prefix.
chmod 755 "$dir" "$dir/nginx"
"$nginx_bin" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -t -q || die "nginx refused $dir/nginx/nginx.conf"
"$nginx_bin" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -g 'daemon off;' 2>>"$dir/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$http_port/healthz" 2>/dev/null && break
  kill -0 "$nginx_pid" 2>/dev/null || die "nginx exited: $(tail -n 5 "$dir/nginx/error.log")"
  sleep 0.1
done

cat >"$dir/cluster.json" <<EOF
{
  "url": "http://127.0.0.1:$http_port",
  "nodes": [
    {"id": "${node_ids[0]}", "url": "http://127.0.0.1:${node_ports[0]}", "pid": ${started_pushers[0]}, "log": "$dir/pusher-${node_ids[0]}.log", "amqp": ["$url_a", "$url_b"]},
    {"id": "${node_ids[1]}", "url": "http://127.0.0.1:${node_ports[1]}", "pid": ${started_pushers[1]}, "log": "$dir/pusher-${node_ids[1]}.log", "amqp": ["$url_b", "$url_a"]},
    {"id": "${node_ids[2]}", "url": "http://127.0.0.1:${node_ports[2]}", "pid": ${started_pushers[2]}, "log": "$dir/pusher-${node_ids[2]}.log", "amqp": ["$url_a", "$url_b"]}
  ],
  "rabbitmq": [
    {"name": "pusher-cluster-a@localhost", "url": "$url_a", "pid_file": "$dir/rabbit-a/rabbit.pid", "ctl": "$dir/rabbit-a/rabbitmqctl"},
    {"name": "pusher-cluster-b@localhost", "url": "$url_b", "pid_file": "$dir/rabbit-b/rabbit.pid", "ctl": "$dir/rabbit-b/rabbitmqctl"}
  ],
  "nginx": {"pid": $nginx_pid, "conf": "$dir/nginx/nginx.conf"}
}
EOF

rel=${build#"$top"/}
cat <<MSG

  Unite Pusher cluster (3 nodes, RabbitMQ cluster of 2, nginx) on http://127.0.0.1:$http_port/
      pusher nodes:  ${node_ids[0]} 127.0.0.1:${node_ports[0]}, ${node_ids[1]} 127.0.0.1:${node_ports[1]}, ${node_ids[2]} 127.0.0.1:${node_ports[2]} (logs in $dir)
      RabbitMQ:      127.0.0.1:${amqp_ports[0]} and 127.0.0.1:${amqp_ports[1]} (rabbitmqctl: $dir/rabbit-a/rabbitmqctl)
  Open the demo inbox as two users, in two windows:
      http://127.0.0.1:$http_port/?user=alice
      http://127.0.0.1:$http_port/?user=bob
  Publish to alice (through any node, or straight into either RabbitMQ node):
      curl -s -XPOST http://127.0.0.1:$http_port/api/publish -H 'content-type: application/json' \\
           -d '{"user":"alice","event":"mail.new","data":{"subject":"Hello"}}'
      $rel/bin/pusher send --amqp-url $url_b --user alice --event mail.new --data '{"subject":"Hello"}'
  Who is online, across the cluster:
      curl -s http://127.0.0.1:$http_port/api/presence
  Stop with Ctrl-C.

cluster ready: $dir/cluster.json
MSG
# In the foreground until a signal (then the EXIT trap stops everything); a node that dies, or that a test kills,
# leaves the others running.
wait || true
