# Sourced by scripts/rabbitmq-test-node.sh and scripts/cluster.sh: the files that make a RabbitMQ node of our own (own
# name, ports and folders on loopback, never the system node's) runnable.
#
# write_node_scripts DIR NODE_NAME AMQP_PORT DIST_PORT EPMD_PORT
#   DIR/env.sh       the node's environment (. it before rabbitmq-server or rabbitmqctl); folders under DIR
#   DIR/rabbitmqctl  rabbitmqctl against that node, runnable by whoever started it
rmq_bin=${rmq_bin:-/usr/lib/rabbitmq/bin}

write_node_scripts() {
    local dir=$1 node_name=$2 amqp_port=$3 dist_port=$4 epmd_port=$5
    local dist="-kernel inet_dist_use_interface {127,0,0,1}"
    cat >"$dir/env.sh" <<ENV
export HOME='$dir/home'
export RABBITMQ_NODENAME='$node_name'
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT=$amqp_port
export RABBITMQ_DIST_PORT=$dist_port
export ERL_EPMD_PORT=$epmd_port
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_CONF_ENV_FILE='$dir/rabbitmq-env.conf'
export RABBITMQ_CONFIG_FILE='$dir/rabbitmq.conf'
export RABBITMQ_ADVANCED_CONFIG_FILE='$dir/advanced.config'
export RABBITMQ_ENABLED_PLUGINS_FILE='$dir/enabled_plugins'
export RABBITMQ_MNESIA_BASE='$dir/mnesia'
export RABBITMQ_LOG_BASE='$dir/log'
export RABBITMQ_PID_FILE='$dir/rabbit.pid'
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS='$dist'
export RABBITMQ_CTL_ERL_ARGS='$dist'
ENV
    # Root reads the owner-only cookie as well, whoever owns the node.
    cat >"$dir/rabbitmqctl" <<CTL
#!/bin/sh
# rabbitmqctl against the node $node_name
. '$dir/env.sh'
cd '$dir/home' || exit 1
exec $rmq_bin/rabbitmqctl -n '$node_name' "\$@"
CTL
    chmod 755 "$dir/rabbitmqctl"
}
