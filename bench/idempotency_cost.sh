#!/usr/bin/env bash
# What an `Idempotency-Key` costs a produce (issue 16: single-message produce with a key
# within 10% of produce without one, batch produce within 5%): the server's user-space
# instructions per request under callgrind (repeatable to ~0.5% on a busy machine, unlike
# req/s or CPU time), side by side in one run, each mode on a fresh server:
#
#   one         POST /produce/one, one 100 B value, no key
#   one_key     the same, each request with a fresh Idempotency-Key (as the upkafka client)
#   batch       POST /produce/batch, 500 x 100 B, in memory
#   batch_key   the same with a fresh key per request
#   disk        the batch with --data-dir (the key is stored in the first frame)
#   disk_key    the same with a fresh key per request
#
#   bench/idempotency_cost.sh            # needs valgrind, wrk, curl
#
# Both sides of each pair build every request in Lua (`request()`), so wrk does the same
# work; the server's instructions are counted from before a measured wrk run to a second
# after it, per request the log stored in that time.
# Rounds: every mode runs once per round, the modes of a round one after another, and each
# pair's ratio is taken within a round (side by side); the figure is the median over the
# rounds, as one run's scheduling (wake-ups, batching under 16 connections) moves a single
# ratio by a few percent.
# Knobs: ROUNDS (3), DURATION (5 s of wrk per mode, after a 2 s warm-up), CONNS (16), SIZE
# (100), BATCH (500), MODES (all six), KEEP (a path prefix: keep each callgrind profile
# there, of the last round).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
SIZE=${SIZE:-100}
BATCH=${BATCH:-500}
PORT=${PORT:-18480}

die() { printf 'idempotency_cost.sh: %s\n' "$*" >&2; exit 1; }
for tool in wrk valgrind curl callgrind_annotate callgrind_control; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
cargo build --release --quiet --bin upkafka >&2
BIN=${CARGO_TARGET_DIR:-target}/release/upkafka

WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE

VALUE=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
script() { # MODE: its wrk script
  local body
  case $1 in
    one*) body="{\"value\":\"$VALUE\"}" ;;
    *) body="[$(for i in $(seq 1 "$BATCH"); do [ "$i" -gt 1 ] && printf ','; printf '{"value":"%s"}' "$VALUE"; done)]" ;;
  esac
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [=[%s]=]\n' "$body"
  case $1 in
    *_key) cat <<'LUA' ;;
-- Every wrk run gets its own key prefix (`run` passes one): a key of the warm-up run must
-- not come back in the measured one, where it would be answered as a repeat, not stored.
counter = 0
prefix = "bench"
init = function(args) prefix = args[1] or prefix end
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = string.format("%s-%d", prefix, counter)
  return wrk.format()
end
LUA
    *) printf 'request = function() return wrk.format() end\n' ;;
  esac
}
path() { case $1 in one*) echo /produce/one ;; *) echo /produce/batch ;; esac; }
start() { # MODE
  PORT=$((PORT + 1))
  local disk=()
  case $1 in disk*) rm -rf "$WORK/data"; disk=(--data-dir "$WORK/data") ;; esac
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$1.%p" \
    "$BIN" serve --no-auth --bind "127.0.0.1:$PORT" --topic one --topic batch "${disk[@]}" \
    >"$WORK/$1.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null "http://127.0.0.1:$PORT/topics" && return 0
    sleep 0.1
  done
  die "the server for $1 does not answer (see $WORK/$1.log)"
}
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; }
stored() { # TOPIC: records its partitions hold (the sum of their latest offsets)
  curl -fs "http://127.0.0.1:$PORT/metrics" | awk -v t="topic=\"$1\"" '
    /^upkafka_partition_latest_offset\{/ && index($0, t) { n += $NF } END { print n + 0 }'
}
run() { # MODE [wrk args]: the request count, refusing runs with errors
  local mode=$1; shift
  wrk -t1 -c"$CONNS" -s "$WORK/$mode.lua" "$@" "http://127.0.0.1:$PORT$(path "$mode")" \
    -- "$mode-$(date +%s%N)" >"$WORK/wrk.out"
  if grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
    die "$mode: $(grep -E 'Non-2xx|Socket errors' "$WORK/wrk.out")"
  fi
  sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/wrk.out"
}

echo "machine: $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
echo "callgrind: server user-space instructions per stored request, wrk -t1 -c$CONNS -d${DURATION}s (+1 s to settle); batches of $BATCH x $SIZE B"
declare -A PER
for round in $(seq 1 "$ROUNDS"); do
for mode in ${MODES:-one one_key batch batch_key disk disk_key}; do
  script "$mode" >"$WORK/$mode.lua"
  start "$mode"
  warm=$(run "$mode" -d2s)
  topic=$(path "$mode"); topic=${topic#/produce/}
  per=1; case $mode in one*) ;; *) per=$BATCH ;; esac
  # The window: from before the measured wrk run to a second after it, so that the
  # requests wrk cuts off when it stops (a key lets their stores run on, by design) end
  # inside it, and every request is counted as the log stored it (its latest offsets).
  # Counting wrk's answered requests instead charged the keyed modes for those stores:
  # with --data-dir up to 16 batches more work over ~150 counted.
  sleep 1 # the warm-up's cut-off requests end before the window
  before=$(stored "$topic")
  callgrind_control -z "$PID" >/dev/null 2>&1
  answered=$(run "$mode" -d"${DURATION}s")
  sleep 1
  callgrind_control -d "$PID" >/dev/null 2>&1
  after=$(stored "$topic")
  n=$(((after - before) / per))
  # Every request must have stored its records (none answered as a repeat); requests wrk
  # cut off at its end may have stored theirs too, so more is fine.
  [ "$after" -ge $(((warm + answered) * per)) ] \
    || die "$mode: $after records stored for $((warm + answered)) requests of $per: some were not stored"
  stop
  f=$(ls "$WORK"/cg."$mode".*.1)
  total=$(callgrind_annotate "$f" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
  PER[$mode,$round]=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.0f", t / n }')
  [ -n "${KEEP:-}" ] && cp "$f" "$KEEP.$mode"
  rm -f "$WORK"/cg."$mode".*
  printf 'round %d  %-10s %10s instructions/request (%d requests)\n' "$round" "$mode" "${PER[$mode,$round]}" "$n"
done
done
for pair in "one 1.10" "batch 1.05" "disk 1.05"; do
  set -- $pair
  ratios=()
  for round in $(seq 1 "$ROUNDS"); do
    [ -n "${PER[$1,$round]:-}" ] && [ -n "${PER[${1}_key,$round]:-}" ] || continue
    ratios+=("$(awk -v a="${PER[${1}_key,$round]}" -v b="${PER[$1,$round]}" 'BEGIN { printf "%.3f", a / b }')")
  done
  [ "${#ratios[@]}" -gt 0 ] || continue
  printf '%s\n' "${ratios[@]}" | sort -n | awk -v m="$1" -v t="$2" '
    { r[NR] = $1 }
    END {
      med = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
      all = r[1]; for (i = 2; i <= NR; i++) all = all ", " r[i]
      printf "%-6s key / none = %.3f, median of %d rounds (%s; target <= %.2f: %s)\n",
        m, med, NR, all, t, (med <= t ? "met" : "MISSED") }'
done
