#!/usr/bin/env bash
# The single-message ceiling of issue 6 in detail: `upkafka serve --no-auth` against
# `examples/bare_hyper.rs` under the same wrk load (compare.sh's `wrk -t1 -c16` POST of one
# 100 B message to /produce/one), interleaved over several rounds so that both see the same
# machine, and optionally the server's user-space instructions per request under callgrind
# (repeatable to ~0.1% even on a busy machine, unlike req/s).
#
#   bench/ceiling.sh                              # this checkout's release build vs bare hyper
#   bench/ceiling.sh OLD=/path/to/old/upkafka     # also an older binary, same rounds
#   CALLGRIND=1 bench/ceiling.sh                  # plus instructions/request (needs valgrind)
#
#   PIN=1 bench/ceiling.sh                        # server on the last CPU, wrk on the first
#
# Unpinned, wrk and the server share every core, and on a fast machine wrk's one thread is
# what saturates: every server, this one and bare hyper alike, reads about the same req/s
# (measured: 0.93 and 0.94 for two builds 9% apart in instructions). PIN=1 gives the server
# a core of its own (its worker threads share it) and wrk the other, so that the server's
# cost per request sets the rate.
#
# Knobs: ROUNDS (3), DURATION (5 s per wrk run), CONNS (16), SIZE (100), PATHS ("/produce/one"),
# GET_PATHS ("/topics": the same stack with a handler doing no work).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
SIZE=${SIZE:-100}
PORT=${PORT:-18180}
CALLGRIND=${CALLGRIND:-0}
PIN=${PIN:-0}
SERVER_CPU=() CLIENT_CPU=()
if [ "$PIN" = 1 ]; then
  command -v taskset >/dev/null || { echo "ceiling.sh: PIN=1 needs taskset" >&2; exit 1; }
  last=$(($(nproc) - 1))
  [ "$last" -ge 1 ] || { echo "ceiling.sh: PIN=1 needs two CPUs" >&2; exit 1; }
  SERVER_CPU=(taskset -c "$last") CLIENT_CPU=(taskset -c 0)
fi

die() { printf 'ceiling.sh: %s\n' "$*" >&2; exit 1; }
command -v wrk >/dev/null || die "needs wrk (apt-get install wrk)"
cargo build --release --quiet --bin upkafka --example bare_hyper >&2
TARGET=${CARGO_TARGET_DIR:-target}
BINS=("new=$TARGET/release/upkafka")
for arg in "$@"; do BINS+=("$arg"); done
BINS+=("bare=$TARGET/release/examples/bare_hyper")

WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE

VALUE=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = %s\n' \
  "'{\"value\":\"$VALUE\"}'" >"$WORK/one.lua"

start() { # LABEL BIN PORT [PREFIX...]
  local label=$1 bin=$2 port=$3; shift 3
  if [ "$label" = bare ]; then "$@" "$bin" "127.0.0.1:$port" >"$WORK/$label.log" 2>&1 &
  else "$@" "$bin" serve --no-auth --bind "127.0.0.1:$port" --auto-create-topics >"$WORK/$label.log" 2>&1 &
  fi
  PID=$!
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null -d '{"value":"x"}' "http://127.0.0.1:$port/produce/one" && return 0
    sleep 0.1
  done
  die "$label does not answer on port $port"
}
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; }
# `run URL [wrk args]`: requests/s and request count, refusing runs with errors.
run() {
  local url=$1; shift
  "${CLIENT_CPU[@]}" wrk -t1 -c"$CONNS" "$@" "$url" >"$WORK/wrk.out"
  if grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.out"; then die "errors: $(grep -E 'Non-2xx|Socket errors' "$WORK/wrk.out")"; fi
  printf '%s %s\n' "$(sed -n 's/^Requests\/sec:[[:space:]]*//p' "$WORK/wrk.out")" \
    "$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/wrk.out")"
}

echo "machine: $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
echo "wrk -t1 -c$CONNS -d${DURATION}s, POST /produce/one ($SIZE B value) unless GET$([ "$PIN" = 1 ] && echo "; server on CPU $last, wrk on CPU 0")"
declare -A SUM
for r in $(seq 1 "$ROUNDS"); do
  # The order rotates from round to round, and every server gets a 1 s warm-up run that is not
  # counted: measured on one machine, the first server of a fixed order lost up to a quarter
  # of its rate to the one after it (the same binary in two slots read 0.62 and 0.80).
  n=${#BINS[@]}
  for ((k = 0; k < n; k++)); do
    spec=${BINS[$(((k + r - 1) % n))]}
    label=${spec%%=*}; bin=${spec#*=}; PORT=$((PORT + 1))
    start "$label" "$bin" "$PORT" "${SERVER_CPU[@]}"
    run "http://127.0.0.1:$PORT/produce/one" -d1s -s "$WORK/one.lua" >/dev/null
    read -r rps _ < <(run "http://127.0.0.1:$PORT/produce/one" -d"${DURATION}s" -s "$WORK/one.lua")
    line="round $r  $label  POST /produce/one  $rps req/s"
    if [ "$label" != bare ]; then
      read -r grps _ < <(run "http://127.0.0.1:$PORT/topics" -d"${DURATION}s")
      line="$line   GET /topics  $grps req/s"
      SUM[$label.get]=$(awk -v a="${SUM[$label.get]:-0}" -v b="$grps" 'BEGIN{print a+b}')
    fi
    echo "$line"
    SUM[$label]=$(awk -v a="${SUM[$label]:-0}" -v b="$rps" 'BEGIN{print a+b}')
    stop
  done
done
for spec in "${BINS[@]}"; do
  label=${spec%%=*}
  [ "$label" = bare ] && continue
  awk -v l="$label" -v a="${SUM[$label]}" -v g="${SUM[$label.get]}" -v b="${SUM[bare]}" \
    'BEGIN { printf "%s / bare hyper over all rounds: POST /produce/one %.2f, GET /topics %.2f\n", l, a/b, g/b }'
done

[ "$CALLGRIND" = 1 ] || exit 0
command -v valgrind >/dev/null || die "CALLGRIND=1 needs valgrind"
echo "callgrind: server user-space instructions per request (wrk -d${DURATION}s after a 2 s warm-up)"
for spec in "${BINS[@]}"; do
  label=${spec%%=*}; bin=${spec#*=}
  for path in /produce/one /topics; do
    [ "$label" = bare ] && [ "$path" = /topics ] && continue
    args=(-s "$WORK/one.lua"); [ "$path" = /topics ] && args=()
    PORT=$((PORT + 1))
    start "$label" "$bin" "$PORT" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$label.%p"
    run "http://127.0.0.1:$PORT$path" -d2s "${args[@]}" >/dev/null
    callgrind_control -z "$PID" >/dev/null
    read -r _ n < <(run "http://127.0.0.1:$PORT$path" -d"${DURATION}s" "${args[@]}")
    callgrind_control -d "$PID" >/dev/null
    stop
    f=$(ls "$WORK"/cg."$label".*.1)
    total=$(callgrind_annotate "$f" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    awk -v l="$label" -v p="$path" -v t="$total" -v n="$n" \
      'BEGIN { printf "%-6s %-14s %8.0f instructions/request (%d requests)\n", l, p, t/n, n }'
    rm -f "$WORK"/cg."$label".*
  done
done
