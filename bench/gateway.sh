#!/usr/bin/env bash
# Gateway benchmark of issue 8, in one run on one machine: batches of 500 100-byte messages
# through `upkafka serve --kafka` (the upkafka client, examples/load.rs) next to librdkafka
# writing the same messages straight to the same broker (examples/native_produce.rs).
#
#   bench/gateway.sh                       # a Tansu broker started here (UPKAFKA_TEST_TANSU)
#   KAFKA=host:9092 bench/gateway.sh       # an existing cluster instead
#   MESSAGES=500000 ROUNDS=3 bench/gateway.sh
#
# Prints one line per round and the ratio gateway / native.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${MESSAGES:-200000}
BATCH=${BATCH:-500}
SIZE=${SIZE:-100}
INFLIGHT=${INFLIGHT:-4}
PARTITIONS=${PARTITIONS:-3}
ROUNDS=${ROUNDS:-2}
PORT=${PORT:-18180}
KPORT=${KPORT:-19192}
TANSU=${UPKAFKA_TEST_TANSU:-$HOME/.cache/upkafka/tansu-0.6.0-libsql/bin/tansu}

say() { printf '>> %s\n' "$*" >&2; }
die() { printf 'gateway.sh: %s\n' "$*" >&2; exit 1; }

say "building release binaries"
cargo build --release --quiet --bin upkafka --example load --example native_produce >&2
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/upkafka
LOAD=$TARGET/release/examples/load
NATIVE=$TARGET/release/examples/native_produce

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${KAFKA:-}" ]; then
  [ -x "$TANSU" ] || die "no broker: set KAFKA=host:port, or UPKAFKA_TEST_TANSU to a Tansu binary (.ci/run builds one)"
  (cd "$WORK" && exec "$TANSU" broker --listener-url "tcp://127.0.0.1:$KPORT" \
    --advertised-listener-url "tcp://127.0.0.1:$KPORT" --storage-engine sqlite://tansu.db --silent) \
    >"$WORK/tansu.log" 2>&1 &
  PIDS+=("$!")
  KAFKA=127.0.0.1:$KPORT
  for _ in $(seq 1 200); do (echo >"/dev/tcp/127.0.0.1/$KPORT") 2>/dev/null && break; sleep 0.05; done
fi

unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE
TOPICS=()
for r in $(seq 1 "$ROUNDS"); do TOPICS+=(--topic "gw$r:$PARTITIONS" --topic "native$r:$PARTITIONS"); done
"$BIN" serve --no-auth --bind "127.0.0.1:$PORT" --kafka "$KAFKA" "${TOPICS[@]}" >"$WORK/serve.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 1 200); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/topics" && break; sleep 0.1; done
curl -fs -o /dev/null "http://127.0.0.1:$PORT/topics" || { cat "$WORK/serve.log" >&2; die "the gateway did not start"; }

get() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
sum_gw=0; sum_native=0
printf '%-6s %16s %16s %8s\n' round gateway_msgs/s native_msgs/s ratio
for r in $(seq 1 "$ROUNDS"); do
  gw=$("$LOAD" --url "http://127.0.0.1:$PORT" --topic "gw$r" produce --to-topic \
        --size "$SIZE" --batch "$BATCH" --in-flight "$INFLIGHT" --messages "$MESSAGES" | grep '^RESULT' | tail -1)
  native=$("$NATIVE" --bootstrap "$KAFKA" --topic "native$r" --partitions "$PARTITIONS" \
        --size "$SIZE" --messages "$MESSAGES" | grep '^RESULT' | tail -1)
  g=$(get msgs_per_s "$gw"); n=$(get msgs_per_s "$native")
  printf '%-6s %16s %16s %8s\n' "$r" "$g" "$n" "$(awk -v g="$g" -v n="$n" 'BEGIN{printf "%.2f", g/n}')"
  sum_gw=$((sum_gw + g)); sum_native=$((sum_native + n))
done
printf '%-6s %16s %16s %8s\n' all "$((sum_gw / ROUNDS))" "$((sum_native / ROUNDS))" \
  "$(awk -v g="$sum_gw" -v n="$sum_native" 'BEGIN{printf "%.2f", g/n}')"
