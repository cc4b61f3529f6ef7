#!/usr/bin/env bash
# Runs the built Worker under `wrangler dev` with its own state directory, for the e2e tests.
#   wrangler-dev.sh start PORT STATE_DIR LOG [http|https] [extra wrangler dev args...]
#       applies the D1 migrations to STATE_DIR (the same --persist-to wrangler dev then
#       reads), starts wrangler in a new session, waits until the port answers HTTP, and
#       writes the session's process group id (= its leader's PID) to STATE_DIR/wrangler.pgid
#   wrangler-dev.sh stop STATE_DIR
#       SIGINT to the whole group (wrangler, its node child, workerd, esbuild), then SIGKILL
#       after 5 s; a signal to the leader alone would leave workerd holding the port.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
wrangler=node_modules/.bin/wrangler

# Any HTTP answer (even 401/404) means the server is up; curl fails only without one.
answers() { curl -sk --max-time 2 -o /dev/null "$1://127.0.0.1:$2/v2/"; }

case "${1:-}" in
start)
  [ $# -ge 4 ] || { echo "usage: $0 start PORT STATE_DIR LOG [http|https] [args...]" >&2; exit 2; }
  port=$2 state=$3 log=$4 proto=${5:-https}
  shift $(( $# < 5 ? $# : 5 ))
  # Otherwise the readiness check below would be satisfied by someone else's server.
  if answers http "$port" || answers https "$port"; then
    echo "port $port is already in use" >&2; exit 1
  fi
  mkdir -p "$state"
  rm -f "$state/wrangler.pgid"
  # The inspector would otherwise take the first free port from 9229 up, and instances
  # starting at once (other checkouts' test runs) race for it.
  inspector=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$wrangler" d1 migrations apply DB --local --persist-to "$state" >>"$log" 2>&1
  # The child records its own PID after setsid: it is the group id whether or not setsid
  # had to fork (it forks when the caller runs with job control).
  setsid bash -c 'echo $$ > "$0/wrangler.pgid"; exec "$@"' "$state" \
    "$wrangler" dev --ip 127.0.0.1 --port "$port" --local-protocol "$proto" \
    --persist-to "$state" --inspector-port "$inspector" --show-interactive-dev-session=false "$@" \
    >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 600); do
    if answers "$proto" "$port"; then exit 0; fi
    if [ -s "$state/wrangler.pgid" ] && ! kill -0 -- "-$(cat "$state/wrangler.pgid")" 2>/dev/null; then
      echo "wrangler dev exited; the end of $log:" >&2; tail -n 20 "$log" >&2; exit 1
    fi
    sleep 0.1
  done
  echo "wrangler dev did not answer on port $port within 60 s; see $log" >&2
  "$0" stop "$state"
  exit 1
  ;;
stop)
  [ $# -ge 2 ] || { echo "usage: $0 stop STATE_DIR" >&2; exit 2; }
  state=$2
  [ -s "$state/wrangler.pgid" ] || exit 0
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
