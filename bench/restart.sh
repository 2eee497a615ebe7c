#!/usr/bin/env bash
# Restart time and memory vs retained data (issue 19 target 1): writes N records of SIZE B
# (batches of BATCH over HTTP, 4 at a time) to a fresh `--data-dir`, then measures the
# server's RSS idle, the time from exec to the first answer of a /fetch after a graceful stop
# (SIGTERM), and the same after `kill -9`. One line per binary given, so old and new can run
# side by side on the same machine:
#   bench/restart.sh [path/to/upkafka ...]          (default: target/release/upkafka)
#   N=50000000 bench/restart.sh old/upkafka new/upkafka
# Needs curl. The data directory (N x ~130 B on disk) is removed at the end; check `df` first.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- "${CARGO_TARGET_DIR:-target}/release/upkafka"
N=${N:-5000000}; SIZE=${SIZE:-100}; BATCH=${BATCH:-5000}; PORT=${PORT:-18083}
WORK=$(mktemp -d -p "${TMPDIR:-/var/tmp}")
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
URL="http://127.0.0.1:$PORT"
VALUE=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
{
  printf '['
  for i in $(seq 1 "$BATCH"); do [ "$i" -gt 1 ] && printf ','; printf '{"value":"%s"}' "$VALUE"; done
  printf ']'
} >"$WORK/batch.json"
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE

now() { date +%s.%N; }
rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$PID/status"; }

# Starts the server on $DATA (its pid in PID) and sets ELAPSED to the seconds until a /fetch
# of offset 0 is answered. Not run in a subshell, so that PID stays set.
start_timed() {
  local t0 t1
  t0=$(now)
  "$BIN" serve --no-auth --bind "127.0.0.1:$PORT" --auto-create-topics --data-dir "$DATA" \
    >"$WORK/server.log" 2>&1 &
  PID=$!
  until curl -fs -o /dev/null "$URL/fetch" -d '{"topic":"restart","partition":0,"offset":0}'; do
    kill -0 "$PID" 2>/dev/null || { echo "restart.sh: the server exited:" >&2; cat "$WORK/server.log" >&2; exit 1; }
    sleep 0.005
  done
  t1=$(now)
  ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
}

for BIN in "$@"; do
  DATA="$WORK/data"
  # From nothing: the topic is created by the first produce.
  rm -rf "$DATA"
  "$BIN" serve --no-auth --bind "127.0.0.1:$PORT" --auto-create-topics --data-dir "$DATA" \
    >"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 200); do curl -fs -o /dev/null "$URL/topics" && break; sleep 0.05; done
  kill -0 "$PID" 2>/dev/null || { echo "restart.sh: the server exited:" >&2; cat "$WORK/server.log" >&2; exit 1; }
  W0=$(now)
  seq 1 $((N / BATCH)) | xargs -P4 -n 100 sh -c \
    'for _ in "$@"; do curl -fsS -o /dev/null -H "Content-Type: application/json" --data-binary @'"$WORK/batch.json"' '"$URL/produce/restart"' || exit 255; done' _
  W1=$(now)
  sleep 2
  kill -0 "$PID" 2>/dev/null || { echo "restart.sh: the server died while written to:" >&2; tail -20 "$WORK/server.log" >&2; exit 1; }
  RSS_WRITTEN=$(rss_mb)
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true
  DISK=$(du -sm "$DATA" | cut -f1)
  # The active (last) segment: the part a restart scans, so its size sets the restart time.
  ACTIVE=$(find "$DATA" -name '*.log' -printf '%f %s\n' | sort | tail -1 | awk '{ printf "%.0f", $2 / 1048576 }')
  start_timed; CLEAN=$ELAPSED
  sleep 2
  RSS_CLEAN=$(rss_mb)
  kill -9 "$PID"; wait "$PID" 2>/dev/null || true
  start_timed; KILLED=$ELAPSED
  sleep 2
  RSS_KILLED=$(rss_mb)
  kill -TERM "$PID"; wait "$PID" 2>/dev/null || true; PID=
  awk -v bin="$BIN" -v n="$N" -v d="$DISK" -v w="$(awk -v a="$W0" -v b="$W1" 'BEGIN { print b - a }')" \
    -v a="$ACTIVE" -v rw="$RSS_WRITTEN" -v c="$CLEAN" -v rc="$RSS_CLEAN" -v k="$KILLED" -v rk="$RSS_KILLED" 'BEGIN {
    printf "%s: %d records (%d MB on disk, active segment %d MiB, written in %.1f s): RSS %d MB after writing; clean restart: first answer %.3f s, RSS idle %d MB; after kill -9: first answer %.3f s, RSS idle %d MB\n",
      bin, n, d, a, w, rw, c, rc, k, rk }'
  rm -rf "$DATA"
done
