#!/usr/bin/env bash
# `make run`: the pusher on the embedded broker, in dev mode, on http://127.0.0.1:8080/.
# Usage: scripts/run.sh [BUILD_DIR [PUSHER_OPTIONS...]]   (PUSHER_LISTEN=HOST:PORT moves it)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
[ $# -gt 0 ] && shift   # the rest goes to pusher as is (`scripts/run.sh build --log-level debug`)
bin="$top/$build/bin/pusher"
listen=${PUSHER_LISTEN:-127.0.0.1:8080}
cat <<MSG

  Unite Pusher (embedded broker, dev mode) on http://$listen/
  Open the demo inbox as two users, in two windows:
      http://$listen/?user=alice
      http://$listen/?user=bob
  Publish to alice:
      curl -s -XPOST http://$listen/api/publish -H 'content-type: application/json' \\
           -d '{"user":"alice","event":"mail.new","data":{"subject":"Hello"}}'
      $build/bin/pusher send --server http://$listen --user alice --event mail.new --data '{"subject":"Hello"}'
  Stop with Ctrl-C.

MSG
exec "$bin" --broker memory --dev-auth --listen "$listen" "$@"
