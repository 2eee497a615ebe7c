#!/usr/bin/env bash
# Produce throughput with retention and compaction at work (issue 15), side by side in one
# run: the same keyed batches (100 keys) to a topic that deletes nothing, to one whose
# retention deletes all along (16 MiB kept, 4 MiB segments) and to a compacted one (4 MiB
# segments), on one `upkafka serve --data-dir`, in interleaved rounds (plain, retained,
# compacted, plain, ...) so that drift on a shared machine weighs on all three alike.
#
#   bench/cleaner.sh                       # 4 rounds of 8 s each
#   ROUNDS=6 DURATION=10 bench/cleaner.sh
#
# Needs: cargo, wrk. Prints each round and the ratios of the means to the plain topic, and
# the compaction's own throughput (closed segments read per second of pass, from the
# cleaner's debug lines).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-4}
DURATION=${DURATION:-8}
BATCH=${BATCH:-500}
SIZE=${SIZE:-100}
INFLIGHT=${INFLIGHT:-4}
PORT=${PORT:-18081}

command -v wrk >/dev/null 2>&1 || { echo "cleaner.sh: wrk is needed (apt-get install wrk)" >&2; exit 1; }
cargo build --release --quiet --bin upkafka >&2
BIN=${CARGO_TARGET_DIR:-target}/release/upkafka
WORK=$(mktemp -d)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE
URL="http://127.0.0.1:$PORT"

VALUE=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
{
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [=['
  printf '['
  for i in $(seq 1 "$BATCH"); do
    [ "$i" -gt 1 ] && printf ','
    printf '{"key":"k%d","value":"%s"}' $((i % 100)) "$VALUE"
  done
  printf ']]=]\n'
} >"$WORK/keyed.lua"

RUST_LOG="upkafka_server::log::cleaner=debug,warn" "$BIN" serve --no-auth --bind "127.0.0.1:$PORT" \
  --data-dir "$WORK/data" --topic plain:1 \
  --topic "retained:1,retention.bytes=16777216,segment.bytes=4194304,segment.ms=1000" \
  --topic "compacted:1,cleanup.policy=compact,segment.bytes=4194304,segment.ms=1000" \
  >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null "$URL/topics" && break; sleep 0.1; done

declare -A SUM
for r in $(seq 1 "$ROUNDS"); do
  line="round $r:"
  for t in plain retained compacted; do
    out=$(wrk -t1 -c"$INFLIGHT" -d"${DURATION}s" -s "$WORK/keyed.lua" "$URL/produce/$t")
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "wrk on $t had errors: $out" >&2; exit 1; fi
    rps=$(sed -n 's/^Requests\/sec:[[:space:]]*//p' <<<"$out" | tr -d ' ')
    SUM[$t]=$(awk -v a="${SUM[$t]:-0}" -v b="$rps" 'BEGIN { print a + b }')
    line="$line $t $(awk -v x="$rps" -v b="$BATCH" 'BEGIN { printf "%.0f", x * b }') msg/s"
  done
  echo "$line"
done
sleep 2
echo "retained topic on disk: $(du -sm "$WORK/data/topics/retained" | cut -f1) MiB (retention.bytes 16 MiB)"
awk -v p="${SUM[plain]}" -v r="${SUM[retained]}" -v c="${SUM[compacted]}" 'BEGIN {
  printf "ratio to plain: retention %.2f, compaction %.2f (target >= 0.90)\n", r / p, c / p }'
grep 'compaction pass' "$WORK/serve.log" | sed -n 's/.*read_bytes=\([0-9]*\).*elapsed_us=\([0-9]*\).*/\1 \2/p' \
  | awk '{ b += $1; u += $2; n++ } END { if (u == 0) print "compaction: no pass"; else
      printf "compaction: %.0f MB/s (%d passes, %.0f MB in %.2f s)\n", b / u, n, b / 1e6, u / 1e6 }'
