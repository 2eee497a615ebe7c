#!/usr/bin/env bash
# Durable produce throughput over the producer window: wrk POSTs batches of BATCH x SIZE B to
# `upkafka serve --data-dir` with C connections for each C in CONNS. Prints msgs/s per C and,
# when `perf` can count the fdatasync tracepoint (root), fsyncs/s and batches per fsync: the
# group commit shares one fsync among the batches that queued while the previous one ran, so
# msgs/s = batches per fsync x fsyncs/s x BATCH.
#   bench/durable_sweep.sh [path/to/upkafka]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/upkafka}
BATCH=${BATCH:-500}; SIZE=${SIZE:-100}; DURATION=${DURATION:-5}; CONNS=${CONNS:-"1 2 4 8"}
PORT=${PORT:-18081}
command -v wrk >/dev/null || { echo "durable_sweep.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
WORK=$(mktemp -d -p "${TMPDIR:-/var/tmp}")
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
VALUE=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
{
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [=[['
  for i in $(seq 1 "$BATCH"); do [ "$i" -gt 1 ] && printf ','; printf '{"value":"%s"}' "$VALUE"; done
  printf ']]=]\n'
} >"$WORK/batch.lua"
PERF=
if command -v perf >/dev/null && perf stat -e syscalls:sys_enter_fdatasync true >/dev/null 2>&1; then PERF=1; fi
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE
for c in $CONNS; do
  rm -rf "$WORK/data"
  "$BIN" serve --no-auth --bind "127.0.0.1:$PORT" --auto-create-topics --data-dir "$WORK/data" >/dev/null 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/topics" && break; sleep 0.1; done
  wrk -t1 -c"$c" -d"${DURATION}s" -s "$WORK/batch.lua" "http://127.0.0.1:$PORT/produce/sweep" >"$WORK/wrk.out" &
  WRK=$!
  FSYNCS=0
  if [ -n "$PERF" ]; then
    sleep 0.5
    FSYNCS=$(perf stat -x, -e syscalls:sys_enter_fdatasync -p "$PID" -- sleep $((DURATION - 1)) 2>&1 \
      | awk -F, '/fdatasync/ { print $1 }')
  fi
  wait "$WRK"
  if grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
    echo "durable_sweep.sh: wrk saw errors: $(grep -E 'Non-2xx|Socket errors' "$WORK/wrk.out")" >&2; exit 1
  fi
  RPS=$(sed -n 's/^Requests\/sec:[[:space:]]*//p' "$WORK/wrk.out")
  awk -v c="$c" -v r="$RPS" -v b="$BATCH" -v f="$FSYNCS" -v s=$((DURATION - 1)) 'BEGIN {
    printf "connections %2d: %8.0f msgs/s  %5.0f batches/s", c, r * b, r
    if (f > 0) printf "  %5.0f fsyncs/s  %.2f batches/fsync  %.2f ms/fsync round", f / s, r / (f / s), s * 1000 / f
    printf "\n" }'
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
done
