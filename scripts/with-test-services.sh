#!/usr/bin/env bash
# Run a command with a Redis for the tests: REDIS_URL if it answers, else the one on
# 127.0.0.1:6379, else a private redis-server on a spare port, stopped by its pid afterwards.
# PostgreSQL is started by the test session itself (tests/conftest.py).
set -euo pipefail
PY=${PY:-.venv/bin/python}

answers() {
  "$PY" - "$1" <<'PYEOF' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PYEOF
}

started_pid=""
cleanup() {
  if [ -n "$started_pid" ]; then kill "$started_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

if [ -n "${REDIS_URL:-}" ] && answers "$REDIS_URL"; then
  :
elif answers "redis://127.0.0.1:6379/0"; then
  export REDIS_URL="redis://127.0.0.1:6379/0"
else
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing redis-server (apt-get)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
    else
      echo "error: no Redis answers and redis-server is not installed" >&2
      exit 2
    fi
  fi
  port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p .data
  redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no --daemonize no \
    --logfile "$PWD/.data/test-redis.log" &
  started_pid=$!
  export REDIS_URL="redis://127.0.0.1:${port}/0"
  for _ in $(seq 50); do answers "$REDIS_URL" && break; sleep 0.1; done
  echo "started redis-server pid $started_pid on 127.0.0.1:$port for the tests"
fi

# The docs page and the web console are rendered in headless Chromium; install it once where we may.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the docs and console browser tests (apt-get)"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "chromium could not be installed; the browser tests will be skipped"
fi

"$@"
