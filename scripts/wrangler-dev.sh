#!/usr/bin/env bash
# Runs the built Worker under `wrangler dev` with its own state directory.
#   wrangler-dev.sh start PORT STATE_DIR LOG [http|https] [extra wrangler args...]
#       applies the D1 migrations to STATE_DIR, starts wrangler in its own process group,
#       waits until /v2/ answers, and records the group in STATE_DIR/wrangler.pgid
#   wrangler-dev.sh stop STATE_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
wrangler=node_modules/.bin/wrangler

case "${1:-}" in
start)
  port=$2 state=$3 log=$4 proto=${5:-https}
  shift $(( $# < 5 ? $# : 5 ))
  mkdir -p "$state"
  "$wrangler" d1 migrations apply DB --local --persist-to "$state" >>"$log" 2>&1
  # setsid: wrangler starts workerd children; a signal to the group reaches them all.
  setsid "$wrangler" dev --ip 127.0.0.1 --port "$port" --local-protocol "$proto" \
    --persist-to "$state" --show-interactive-dev-session=false "$@" >>"$log" 2>&1 < /dev/null &
  echo $! > "$state/wrangler.pgid"
  for _ in $(seq 1 300); do
    if curl -sk -o /dev/null "$proto://127.0.0.1:$port/v2/"; then exit 0; fi
    if ! kill -0 "$(cat "$state/wrangler.pgid")" 2>/dev/null; then
      echo "wrangler dev exited; see $log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "wrangler dev did not answer on port $port; see $log" >&2
  exit 1
  ;;
stop)
  state=$2
  [ -f "$state/wrangler.pgid" ] || exit 0
  pgid=$(cat "$state/wrangler.pgid")
  kill -INT -- "-$pgid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pgid" 2>/dev/null || true
  rm -f "$state/wrangler.pgid"
  ;;
*)
  echo "usage: $0 start PORT STATE_DIR LOG [http|https] [args...] | stop STATE_DIR" >&2
  exit 2
  ;;
esac
