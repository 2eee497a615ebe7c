#!/usr/bin/env bash
# Side-by-side benchmark of issues 6, 16, 17 and 19, in one run on one machine: every number that a target
# compares is measured here, back to back, against the same `upkafka serve` binary.
#
#   bench/compare.sh                 # defaults below; override with environment variables
#   MESSAGES=500000 DURATION=10 bench/compare.sh
#
# Needs: cargo, node + npm (for @upstash/kafka, pinned in tests/node), wrk, /usr/bin/time.
# Missing wrk or the npm install are installed (and said so). Prints one table of ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${MESSAGES:-500000}   # messages per client produce run
BATCH=${BATCH:-500}            # messages per produce request
SIZE=${SIZE:-100}              # value bytes
INFLIGHT=${INFLIGHT:-4}        # requests in flight (client runs)
CONNS=${CONNS:-16}             # wrk connections
DURATION=${DURATION:-8}        # seconds per wrk run
RATE=${RATE:-1000}             # latency run: messages/s
LINES=${LINES:-1000000}        # RSS runs: lines produced and consumed by the CLI
DRAIN=${DRAIN:-200000}         # messages drained through a group, by polls and by a stream
STREAMS=${STREAMS:-1000}       # idle event streams whose server memory is measured
CONSUME=${CONSUME:-500000}     # messages drained through a group by @upstash/kafka, upkafka consume, the ceiling
PORT=${PORT:-18080}
HPORT=${HPORT:-18090}

say() { printf '>> %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  say "wrk is missing: installing it with apt-get (Debian package 'wrk')"
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
  else sudo apt-get install -y wrk >&2; fi
fi
command -v node >/dev/null 2>&1 || die "node is needed (apt-get install nodejs npm)"
if [ ! -d tests/node/node_modules/@upstash/kafka ]; then
  say "installing @upstash/kafka 1.3.5 with npm ci in tests/node"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
[ -x /usr/bin/time ] || die "/usr/bin/time is needed for peak RSS (apt-get install time)"

say "building release binaries"
cargo build --release --quiet --bin upkafka --example load --example bare_hyper >&2
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/upkafka
LOAD=$TARGET/release/examples/load
HYPER=$TARGET/release/examples/bare_hyper

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# The server must not pick up credentials meant for a real endpoint.
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE
URL="http://127.0.0.1:$PORT"

wait_http() { # URL
  for _ in $(seq 1 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  die "nothing answers at $1"
}

SERVER_PID=
start_server() { # extra serve args...
  "$BIN" serve --no-auth --bind "127.0.0.1:$PORT" --auto-create-topics "$@" \
    >"$WORK/serve.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_http "$URL/topics"
}
stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# `get KEY LINE`: the value of KEY in a `RESULT k=v ...` line.
get() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
result() { grep '^RESULT' | tail -1; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
verdict() { if ge "$1" "$2"; then echo "met"; else echo "MISSED"; fi; }
# `logged NAME CMD...`: runs CMD, keeps its output in $WORK/NAME.out and echoes it to stderr.
# (Not `tee /dev/stderr`: when stderr is a file, that reopens and truncates it.)
logged() { local name=$1; shift; "$@" >"$WORK/$name.out"; cat "$WORK/$name.out" >&2; cat "$WORK/$name.out"; }
# `cpu_ticks`: CPU time (user + system, clock ticks) the server has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
# `wrk_cpu NAME TICKS_BEFORE`: server CPU microseconds per request of the wrk run NAME.
wrk_cpu() {
  local n hz; n=$(awk '/requests in/ { print $1 }' "$WORK/$1.out"); hz=$(getconf CLK_TCK)
  awk -v a="$2" -v b="$(cpu_ticks)" -v n="$n" -v hz="$hz" 'BEGIN { printf "%.1f", (b - a) * 1000000 / hz / n }'
}
# `wrk_rps NAME`: requests/s of a wrk run, refusing runs with errors (wrk counts those too).
wrk_rps() {
  if grep -qE 'Non-2xx|Socket errors' "$WORK/$1.out"; then die "wrk run $1 had errors: $(grep -E 'Non-2xx|Socket errors' "$WORK/$1.out")"; fi
  sed -n 's/^Requests\/sec:[[:space:]]*//p' "$WORK/$1.out" | tr -d ' '
}

VALUE=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
cat >"$WORK/one.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"value":"$VALUE"}'
EOF
{
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [=['
  printf '['
  for i in $(seq 1 "$BATCH"); do
    [ "$i" -gt 1 ] && printf ','
    printf '{"value":"%s"}' "$VALUE"
  done
  printf ']]=]\n'
} >"$WORK/batch.lua"
{
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [=['
  printf '['
  for i in $(seq 1 "$BATCH"); do
    [ "$i" -gt 1 ] && printf ','
    printf '{"key":"k%d","value":"%s"}' $((i % 100)) "$VALUE"
  done
  printf ']]=]\n'
} >"$WORK/keyed.lua"
# The same requests, each with a fresh Idempotency-Key (issue 16), as the upkafka client sends.
keyed() { # LUA_IN LUA_OUT
  cat "$1" >"$2"
  cat >>"$2" <<'EOF'
counter = 0
prefix = string.format("wrk-%d-%d-", os.time(), math.random(1, 1000000000))
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. counter
  return wrk.format()
end
EOF
}
keyed "$WORK/one.lua" "$WORK/one_key.lua"
keyed "$WORK/batch.lua" "$WORK/batch_key.lua"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load:$(uptime | sed 's/.*load average://')"
echo "workload: batch $BATCH x $SIZE B, $INFLIGHT in flight, $MESSAGES messages per client run; wrk -t1 -c$CONNS -d${DURATION}s"

# --- 1. clients: upkafka vs @upstash/kafka, same batches, same window, same /produce body ---
start_server
say "client: upkafka (examples/load.rs)"
OURS=$(logged ours "$LOAD" --url "$URL" --topic client-ours produce --size "$SIZE" --batch "$BATCH" \
  --in-flight "$INFLIGHT" --messages "$MESSAGES" | result)
say "client: @upstash/kafka produceMany (bench/official.mjs)"
NODE=$(logged node env UPSTASH_KAFKA_REST_URL="$URL" TOPIC=client-node SIZE="$SIZE" BATCH="$BATCH" \
  CONCURRENCY="$INFLIGHT" MESSAGES="$MESSAGES" node bench/official.mjs | result)

# --- 2. server ceiling: single-message produce vs a bare hyper handler, same wrk load --------
say "wrk: single-message POST /produce/one on upkafka serve"
logged srv_one wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$WORK/one.lua" "$URL/produce/one" >/dev/null
SRV_ONE=$(wrk_rps srv_one)
say "wrk: batch POST /produce/batch on upkafka serve (in memory)"
logged srv_batch wrk -t1 -c"$INFLIGHT" -d"${DURATION}s" -s "$WORK/batch.lua" "$URL/produce/batch" >/dev/null
SRV_BATCH=$(wrk_rps srv_batch)
say "latency: produce -> waiting fetch at $RATE msg/s"
LAT=$(logged latency "$LOAD" --url "$URL" --topic latency latency --size "$SIZE" --rate "$RATE" --seconds 5 | result)
say "latency: produce -> fetch event stream at $RATE msg/s"
SLAT=$(logged stream_latency "$LOAD" --url "$URL" --topic stream-latency stream-latency --size "$SIZE" --rate "$RATE" --seconds 5 | result)
say "drain: $DRAIN messages through a consumer group, by polls, then by an event stream"
POLL_DRAIN=$(logged poll_drain "$LOAD" --url "$URL" --topic drain-poll consume --size "$SIZE" --messages "$DRAIN" | result)
STREAM_DRAIN=$(logged stream_drain "$LOAD" --url "$URL" --topic drain-stream stream --size "$SIZE" --messages "$DRAIN" | result)
# Issue 19: one topic of CONSUME messages drained through a fresh group each, auto-commit off
# and a commit after each poll (the server's poll size for all): the official client's loop
# (bench/official_consume.mjs), `upkafka consume` to a file, and the raw-HTTP ceiling
# (load.rs ceiling). bench/consume.sh does the same over interleaved rounds.
say "consume: $CONSUME messages through a group: @upstash/kafka, upkafka consume, ceiling"
"$LOAD" --url "$URL" --topic consume-drain produce --size "$SIZE" --batch "$BATCH" --in-flight "$INFLIGHT" \
  --messages "$CONSUME" --to-topic >/dev/null
CONSUME_TOTAL=$(( (CONSUME + BATCH - 1) / BATCH * BATCH ))
NODE_CONSUME=$(logged node_consume env UPSTASH_KAFKA_REST_URL="$URL" TOPIC=consume-drain GROUP=consume-node \
  MESSAGES="$CONSUME_TOTAL" node bench/official_consume.mjs | result)
CLI_T0=$(date +%s%N)
"$BIN" consume --url "$URL" --username b --password b consume-drain -g consume-cli --from earliest \
  -c "$CONSUME_TOTAL" >"$WORK/consume-cli.txt" 2>"$WORK/consume-cli.err" \
  || { cat "$WORK/consume-cli.err" >&2; die "upkafka consume failed"; }
CLI_CONSUME_S=$(awk -v a="$CLI_T0" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
[ "$(wc -l <"$WORK/consume-cli.txt")" -eq "$CONSUME_TOTAL" ] || die "upkafka consume wrote too few lines"
CEIL_CONSUME=$(logged ceil_consume "$LOAD" --url "$URL" --topic consume-drain ceiling --group consume-ceiling \
  --messages "$CONSUME_TOTAL" | result)
say "memory: $STREAMS idle event streams held open"
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
RSS_IDLE=$(rss_kb)
"$LOAD" --url "$URL" --topic idle-streams streams --count "$STREAMS" --hold 6 >"$WORK/streams.out" 2>&1 &
STREAMS_PID=$!
PIDS+=("$STREAMS_PID")
for _ in $(seq 1 100); do grep -q '^RESULT' "$WORK/streams.out" && break; sleep 0.1; done
grep -q '^RESULT' "$WORK/streams.out" || die "the streams did not open: $(cat "$WORK/streams.out")"
sleep 1
RSS_STREAMS=$(rss_kb)
wait "$STREAMS_PID" || die "holding the streams failed: $(cat "$WORK/streams.out")"
say "client: upkafka batches to /produce/{topic} (in memory)"
MEM_CLIENT=$(logged mem_client "$LOAD" --url "$URL" --topic mem-client produce --size "$SIZE" --batch "$BATCH" \
  --in-flight "$INFLIGHT" --messages $((MESSAGES * 5)) --to-topic | result)
stop_server

"$HYPER" "127.0.0.1:$HPORT" 2>/dev/null &
HYPER_PID=$!
PIDS+=("$HYPER_PID")
wait_http "http://127.0.0.1:$HPORT/"
say "wrk: the same single-message POST on a bare hyper handler"
logged bare wrk -t1 -c"$CONNS" -d"${DURATION}s" -s "$WORK/one.lua" "http://127.0.0.1:$HPORT/produce/one" >/dev/null
BARE=$(wrk_rps bare)
kill "$HYPER_PID" 2>/dev/null || true
wait "$HYPER_PID" 2>/dev/null || true

# --- 3. durable: the same batches with --data-dir (fsync before every acknowledgement) ------
start_server --data-dir "$WORK/data"
say "wrk: batch POST /produce/batch on upkafka serve --data-dir"
logged disk_batch wrk -t1 -c"$INFLIGHT" -d"${DURATION}s" -s "$WORK/batch.lua" "$URL/produce/batch" >/dev/null
DISK_BATCH=$(wrk_rps disk_batch)
say "wrk: the same with twice the window (group commit shares fsyncs among more batches)"
logged disk_batch2 wrk -t1 -c$((INFLIGHT * 2)) -d"${DURATION}s" -s "$WORK/batch.lua" "$URL/produce/batch2" >/dev/null
DISK_BATCH2=$(wrk_rps disk_batch2)
say "client: upkafka batches to /produce/{topic} (--data-dir)"
DISK_CLIENT=$(logged disk_client "$LOAD" --url "$URL" --topic disk-client produce --size "$SIZE" --batch "$BATCH" \
  --in-flight "$INFLIGHT" --messages $((MESSAGES * 5)) --to-topic | result)
stop_server

# --- 3b. retention and compaction at work (issue 15): keyed batches, --data-dir -------------
# The same keyed batches to a topic that deletes nothing during the run (defaults: 128 MiB
# segments, 7 days), to one whose retention deletes all along (16 MiB kept, 4 MiB segments),
# and to a compacted one (4 MiB segments, 100 keys); the cleaner's debug lines give the
# compaction's own throughput (closed segments read per second of pass).
export RUST_LOG="upkafka_server::log::cleaner=debug,warn"
start_server --data-dir "$WORK/data-clean" --topic plain:1 \
  --topic "retained:1,retention.bytes=16777216,segment.bytes=4194304,segment.ms=1000" \
  --topic "compacted:1,cleanup.policy=compact,segment.bytes=4194304,segment.ms=1000"
for t in plain retained compacted; do
  say "wrk: keyed batch POST /produce/$t on upkafka serve --data-dir"
  logged "clean_$t" wrk -t1 -c"$INFLIGHT" -d"${DURATION}s" -s "$WORK/keyed.lua" "$URL/produce/$t" >/dev/null
done
CLEAN_PLAIN=$(wrk_rps clean_plain)
CLEAN_RET=$(wrk_rps clean_retained)
CLEAN_CMP=$(wrk_rps clean_compacted)
sleep 2
RETAINED_MB=$(du -sm "$WORK/data-clean/topics/retained" | cut -f1)
stop_server
unset RUST_LOG
COMPACT_MBS=$(grep 'compaction pass' "$WORK/serve.log" | sed -n 's/.*read_bytes=\([0-9]*\).*elapsed_us=\([0-9]*\).*/\1 \2/p' \
  | awk '{ b += $1; u += $2; n++ } END { if (u == 0) print "n/a"; else printf "%.0f (%d passes, %.0f MB in %.2f s)", b / u, n, b / 1e6, u / 1e6 }')
# --- 3c. Idempotency-Key (issue 16): each run with a fresh key per request, side by side with
# the same run without, each on a fresh server (an in-memory log grows and a later run costs
# more), in the order none, key, key, none so that drift weighs on both alike. Both scripts
# build each request in Lua (`request()`), so that wrk's own cost is the same on both sides.
# The server's CPU per request is what a shared machine disturbs least.
cat >"$WORK/one_fmt.lua" <<EOF
$(cat "$WORK/one.lua")
request = function() return wrk.format() end
EOF
cat "$WORK/batch.lua" >"$WORK/batch_fmt.lua"
echo 'request = function() return wrk.format() end' >>"$WORK/batch_fmt.lua"
ab_run() { # NAME LUA CONNS [serve args...]: runs once on a fresh server; prints "rps cpu_us"
  local name=$1 lua=$2 conns=$3; shift 3
  rm -rf "$WORK/ab-data"
  start_server "$@"
  local t0; t0=$(cpu_ticks)
  logged "$name" wrk -t1 -c"$conns" -d"${DURATION}s" -s "$WORK/$lua" "$URL/produce/ab" >/dev/null
  echo "$(wrk_rps "$name") $(wrk_cpu "$name" "$t0")"
  stop_server
}
ab() { # LABEL LUA_NONE LUA_KEY CONNS [serve args...]: "rps_none cpu_none rps_key cpu_key", means of 2 each
  local label=$1 none=$2 key=$3 conns=$4; shift 4
  say "idempotency A/B: $label (none, key, key, none; fresh server each)"
  local a1 b1 b2 a2
  a1=$(ab_run "ab_${label}_n1" "$none" "$conns" "$@"); b1=$(ab_run "ab_${label}_k1" "$key" "$conns" "$@")
  b2=$(ab_run "ab_${label}_k2" "$key" "$conns" "$@"); a2=$(ab_run "ab_${label}_n2" "$none" "$conns" "$@")
  awk -v a1="$a1" -v a2="$a2" -v b1="$b1" -v b2="$b2" 'BEGIN {
    split(a1, x); split(a2, y); split(b1, u); split(b2, v)
    printf "%.0f %.1f %.0f %.1f\n", (x[1] + y[1]) / 2, (x[2] + y[2]) / 2, (u[1] + v[1]) / 2, (u[2] + v[2]) / 2 }'
}
AB_ONE=$(ab one one_fmt.lua one_key.lua "$CONNS")
AB_BATCH=$(ab batch batch_fmt.lua batch_key.lua "$INFLIGHT")
AB_DISK=$(ab disk batch_fmt.lua batch_key.lua "$INFLIGHT" --data-dir "$WORK/ab-data")
read -r SRV_ONE_AB SRV_ONE_CPU SRV_ONE_KEY SRV_ONE_KEY_CPU <<<"$AB_ONE"
read -r SRV_BATCH_AB SRV_BATCH_CPU SRV_BATCH_KEY SRV_BATCH_KEY_CPU <<<"$AB_BATCH"
read -r DISK_BATCH_AB DISK_BATCH_CPU DISK_BATCH_KEY DISK_BATCH_KEY_CPU <<<"$AB_DISK"

# --- 4. CLI memory: produce LINES lines from a file, consume them back -----------------------
start_server
say "CLI: upkafka produce of $LINES lines, then upkafka consume of them, under /usr/bin/time -v"
awk -v n="$LINES" -v v="$VALUE" 'BEGIN { for (i = 0; i < n; i++) printf "%08d%s\n", i, substr(v, 9) }' >"$WORK/lines.txt"
/usr/bin/time -v -o "$WORK/produce.time" "$BIN" produce --url "$URL" --username b --password b \
  rss "$WORK/lines.txt" --in-flight "$INFLIGHT" >/dev/null 2>"$WORK/produce.err" \
  || { cat "$WORK/produce.err" >&2; die "upkafka produce failed"; }
/usr/bin/time -v -o "$WORK/consume.time" "$BIN" consume --url "$URL" --username b --password b \
  rss -g rss --from earliest -c "$LINES" >"$WORK/consumed.txt" 2>"$WORK/consume.err" \
  || { cat "$WORK/consume.err" >&2; die "upkafka consume failed"; }
stop_server
rss_mb() { awk '/Maximum resident set size/ { printf "%.1f", $NF / 1024 }' "$1"; }
PROD_RSS=$(rss_mb "$WORK/produce.time")
CONS_RSS=$(rss_mb "$WORK/consume.time")
CONSUMED=$(wc -l <"$WORK/consumed.txt")
[ "$CONSUMED" -eq "$LINES" ] || say "warning: consumed $CONSUMED of $LINES lines"

# --- table -----------------------------------------------------------------------------------
O_TPUT=$(get msgs_per_s "$OURS");   N_TPUT=$(get msgs_per_s "$NODE")
O_CPU=$(get cpu_us_per_msg "$OURS"); N_CPU=$(get cpu_us_per_msg "$NODE")
TPUT_RATIO=$(div "$O_TPUT" "$N_TPUT")
CPU_RATIO=$(div "$O_CPU" "$N_CPU")
ONE_RATIO=$(div "$SRV_ONE" "$BARE")
MEM_MSGS=$(awk -v r="$SRV_BATCH" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }')
DISK_MSGS=$(awk -v r="$DISK_BATCH" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }')
DISK_MSGS2=$(awk -v r="$DISK_BATCH2" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }')
P99=$(get p99_ms "$LAT")
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }
lev() { if le "$1" "$2"; then echo "met"; else echo "MISSED"; fi; }

echo
printf '%-52s %-28s %-12s %s\n' "measure" "measured (reference)" "target" "verdict"
printf '%-52s %-28s %-12s %s\n' "----------------------------------------------------" "----------------------------" "------------" "-------"
printf '%-52s %-28s %-12s %s\n' "produce msg/s: upkafka / @upstash/kafka produceMany" "$TPUT_RATIO ($O_TPUT / $N_TPUT)" ">= 3" "$(verdict "$TPUT_RATIO" 3)"
printf '%-52s %-28s %-12s %s\n' "client CPU/msg: upkafka / @upstash/kafka" "$CPU_RATIO ($O_CPU / $N_CPU us)" "<= 0.33" "$(lev "$CPU_RATIO" 0.334)"
printf '%-52s %-28s %-12s %s\n' "1-msg produce req/s: upkafka serve / bare hyper" "$ONE_RATIO ($SRV_ONE / $BARE)" ">= 0.5" "$(verdict "$ONE_RATIO" 0.5)"
printf '%-52s %-28s %-12s %s\n' "batch ${BATCH}x${SIZE}B msg/s, memory (wrk -c$INFLIGHT)" "$MEM_MSGS" ">= 500000" "$(verdict "$MEM_MSGS" 500000)"
ONE_KEY_RATIO=$(div "$SRV_ONE_KEY" "$SRV_ONE_AB")
BATCH_KEY_RATIO=$(div "$SRV_BATCH_KEY" "$SRV_BATCH_AB")
DISK_KEY_RATIO=$(div "$DISK_BATCH_KEY" "$DISK_BATCH_AB")
ONE_KEY_CPU=$(div "$SRV_ONE_KEY_CPU" "$SRV_ONE_CPU")
BATCH_KEY_CPU=$(div "$SRV_BATCH_KEY_CPU" "$SRV_BATCH_CPU")
DISK_KEY_CPU=$(div "$DISK_BATCH_KEY_CPU" "$DISK_BATCH_CPU")
printf '%-52s %-28s %-12s %s\n' "1-msg produce server CPU/req: Idempotency-Key / none" "$ONE_KEY_CPU ($SRV_ONE_KEY_CPU / $SRV_ONE_CPU us)" "<= 1.10" "$(lev "$ONE_KEY_CPU" 1.10)"
printf '%-52s %-28s %-12s %s\n' "  req/s: Idempotency-Key / none" "$ONE_KEY_RATIO ($SRV_ONE_KEY / $SRV_ONE_AB)" "(info)" ""
printf '%-52s %-28s %-12s %s\n' "batch produce server CPU/req, memory: key / none" "$BATCH_KEY_CPU ($SRV_BATCH_KEY_CPU / $SRV_BATCH_CPU us)" "<= 1.05" "$(lev "$BATCH_KEY_CPU" 1.05)"
printf '%-52s %-28s %-12s %s\n' "  req/s: Idempotency-Key / none" "$BATCH_KEY_RATIO ($SRV_BATCH_KEY / $SRV_BATCH_AB)" "(info)" ""
printf '%-52s %-28s %-12s %s\n' "batch produce server CPU/req, --data-dir: key / none" "$DISK_KEY_CPU ($DISK_BATCH_KEY_CPU / $DISK_BATCH_CPU us)" "<= 1.05" "$(lev "$DISK_KEY_CPU" 1.05)"
printf '%-52s %-28s %-12s %s\n' "  req/s: Idempotency-Key / none" "$DISK_KEY_RATIO ($DISK_BATCH_KEY / $DISK_BATCH_AB)" "(info)" ""
printf '%-52s %-28s %-12s %s\n' "batch ${BATCH}x${SIZE}B msg/s, --data-dir (wrk -c$INFLIGHT)" "$DISK_MSGS" ">= 200000" "$(verdict "$DISK_MSGS" 200000)"
printf '%-52s %-28s %-12s %s\n' "  same, --data-dir, wrk -c$((INFLIGHT * 2))" "$DISK_MSGS2" "(info)" ""
printf '%-52s %-28s %-12s %s\n' "  same, memory, upkafka client (end to end)" "$(get msgs_per_s "$MEM_CLIENT")" "(info)" ""
printf '%-52s %-28s %-12s %s\n' "  same, --data-dir, upkafka client (end to end)" "$(get msgs_per_s "$DISK_CLIENT")" "(info)" ""
RET_RATIO=$(div "$CLEAN_RET" "$CLEAN_PLAIN")
CMP_RATIO=$(div "$CLEAN_CMP" "$CLEAN_PLAIN")
printf '%-52s %-28s %-12s %s\n' "keyed batch msg/s --data-dir: retention / none" "$RET_RATIO ($(awk -v r="$CLEAN_RET" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }') / $(awk -v r="$CLEAN_PLAIN" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }'))" ">= 0.9" "$(verdict "$RET_RATIO" 0.9)"
printf '%-52s %-28s %-12s %s\n' "keyed batch msg/s --data-dir: compaction / none" "$CMP_RATIO ($(awk -v r="$CLEAN_CMP" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }') / $(awk -v r="$CLEAN_PLAIN" -v b="$BATCH" 'BEGIN { printf "%.0f", r * b }'))" ">= 0.9" "$(verdict "$CMP_RATIO" 0.9)"
printf '%-52s %-28s %-12s %s\n' "  compaction MB/s (closed segments read per pass)" "$COMPACT_MBS" "(info)" ""
printf '%-52s %-28s %-12s %s\n' "  retained topic on disk after the run, MB (16 kept)" "$RETAINED_MB" "(info)" ""
printf '%-52s %-28s %-12s %s\n' "produce->consume p99 ms at $RATE msg/s (p50, max)" "$P99 ($(get p50_ms "$LAT"), $(get max_ms "$LAT"))" "<= 5" "$(lev "$P99" 5)"
SP99=$(get p99_ms "$SLAT")
P_DRAIN=$(get msgs_per_s "$POLL_DRAIN"); S_DRAIN=$(get msgs_per_s "$STREAM_DRAIN")
DRAIN_RATIO=$(div "$S_DRAIN" "$P_DRAIN")
PER_STREAM_KB=$(awk -v a="$RSS_STREAMS" -v b="$RSS_IDLE" -v n="$STREAMS" 'BEGIN { printf "%.1f", (a - b) / n }')
printf '%-52s %-28s %-12s %s\n' "produce->event p99 ms at $RATE msg/s (p50, max)" "$SP99 ($(get p50_ms "$SLAT"), $(get max_ms "$SLAT"))" "<= 1" "$(lev "$SP99" 1)"
printf '%-52s %-28s %-12s %s\n' "group drain msg/s: event stream / polls" "$DRAIN_RATIO ($S_DRAIN / $P_DRAIN)" ">= 1" "$(verdict "$DRAIN_RATIO" 1)"
N_CONS_S=$(get seconds "$NODE_CONSUME"); W_CONS_S=$(get seconds "$CEIL_CONSUME")
CONS_RATIO=$(div "$N_CONS_S" "$CLI_CONSUME_S")
CONS_CEIL=$(div "$W_CONS_S" "$CLI_CONSUME_S")
printf '%-52s %-28s %-12s %s\n' "group consume+commit: upkafka consume / @upstash/kafka" "$CONS_RATIO ($CLI_CONSUME_S / $N_CONS_S s)" ">= 5" "$(verdict "$CONS_RATIO" 5)"
printf '%-52s %-28s %-12s %s\n' "  upkafka consume / server ceiling (msg/s)" "$CONS_CEIL ($CLI_CONSUME_S / $W_CONS_S s)" ">= 0.8" "$(verdict "$CONS_CEIL" 0.8)"
printf '%-52s %-28s %-12s %s\n' "server memory per idle event stream, KB ($STREAMS)" "$PER_STREAM_KB ($RSS_IDLE -> $RSS_STREAMS KB)" "(info)" ""
printf '%-52s %-28s %-12s %s\n' "upkafka produce $LINES lines: peak RSS MB" "$PROD_RSS" "<= 20" "$(lev "$PROD_RSS" 20)"
printf '%-52s %-28s %-12s %s\n' "upkafka consume $LINES messages: peak RSS MB" "$CONS_RSS" "<= 20" "$(lev "$CONS_RSS" 20)"
