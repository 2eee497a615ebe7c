#!/usr/bin/env bash
# Cost curves (issue 19 target 4): how throughput, memory and restart time grow with the work.
# Each curve is a table (TSV in $OUT, Markdown on stdout) and a plot ($OUT/<curve>.svg, drawn
# by gnuplot from the TSV; bench/curves.gp). Curves, chosen with CURVES (default: all):
#
#   partitions   produce and consume msg/s vs partitions of the topic (PARTITIONS, 1..256),
#                in memory and with --data-dir
#   sizes        produce and consume MB/s vs value size (SIZES, 10 B..1 MiB), in memory
#   connections  server RSS vs open keep-alive connections (CONNECTIONS, 1..4096)
#   instances    server RSS vs consumer instances (INSTANCES, 1..10,000)
#   retained     server RSS idle and time to first answer after a clean restart and after
#                kill -9 vs retained records (RETAINED, 1M..50M; bench/restart.sh per point;
#                980k fills the first, active, segment to the brim: the restart's worst case)
#
#   flock -o /tmp/upkafka-cargo.lock bench/curves.sh            # everything (≈ 15 min, 8 GB disk)
#   CURVES="connections instances" bench/curves.sh             # some curves
#   OUT=/tmp/curves RETAINED="1000000 5000000" bench/curves.sh  # elsewhere, fewer points
#
# Every point runs against a fresh release `upkafka serve --no-auth` (so one point's memory
# does not carry into the next) driven by examples/load.rs over loopback; one point at a time,
# so client and server share the machine's cores as they would on one host. Needs curl and
# gnuplot (installed with apt-get when missing; PLOT=0 skips the plots).
set -euo pipefail
cd "$(dirname "$0")/.."
CURVES=${CURVES:-partitions sizes connections instances retained}
PARTITIONS=${PARTITIONS:-1 4 16 64 256}
SIZES=${SIZES:-10 100 1000 10000 100000 1048000}
CONNECTIONS=${CONNECTIONS:-1 16 256 1024 4096}
INSTANCES=${INSTANCES:-1 10 100 1000 10000}
RETAINED=${RETAINED:-980000 1000000 5000000 20000000 50000000}
MESSAGES=${MESSAGES:-500000}       # per point of the partitions curve (100 B values)
SIZE_BYTES=${SIZE_BYTES:-268435456} # bytes of values per point of the sizes curve
OUT=${OUT:-bench/curves}
PORT=${PORT:-18093}
PLOT=${PLOT:-1}
TARGET=${CARGO_TARGET_DIR:-target}
SERVE_BIN=${SERVE_BIN:-$TARGET/release/upkafka}
LOAD=${LOAD:-$TARGET/release/examples/load}
URL="http://127.0.0.1:$PORT"

say() { echo "curves.sh: $*" >&2; }
die() { say "$*"; exit 1; }

if [ -z "${SKIP_BUILD:-}" ]; then
  cargo build --release -q -p upkafka --bin upkafka --example load
fi
[ -x "$SERVE_BIN" ] && [ -x "$LOAD" ] || die "missing $SERVE_BIN or $LOAD"
if [ "$PLOT" = 1 ] && ! command -v gnuplot >/dev/null; then
  say "installing gnuplot-nox (apt-get)"
  (apt-get install -y -q gnuplot-nox >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null && apt-get install -y -q gnuplot-nox >/dev/null; }) ||
    die "could not install gnuplot; PLOT=0 skips the plots"
fi
mkdir -p "$OUT"
WORK=$(mktemp -d -p "${TMPDIR:-/var/tmp}")
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE

rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$PID/status"; }

# Starts a fresh server with the given extra flags (its pid in PID) and waits until it answers.
serve() {
  "$SERVE_BIN" serve --no-auth --bind "127.0.0.1:$PORT" "$@" >"$WORK/server.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 400); do curl -fs -o /dev/null "$URL/topics" && return 0; sleep 0.025; done
  die "the server did not start: $(tail -5 "$WORK/server.log")"
}
stop() { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; PID=; }

# `key=value` of the RESULT line of a load run's output file.
field() { sed -n 's/^RESULT .*\b'"$2"'=\([^ ]*\).*/\1/p' "$1"; }
load() { "$LOAD" --url "$URL" "$@" >"$WORK/load.out" 2>&1 || die "load $*: $(tail -3 "$WORK/load.out")"; }

# Runs `load <args>` in the background until it prints RESULT, sleeps a second, and prints the
# server's RSS; then waits for the load to finish holding.
rss_while() {
  "$LOAD" --url "$URL" "$@" >"$WORK/hold.out" 2>&1 &
  local lp=$!
  for _ in $(seq 1 1200); do grep -q '^RESULT' "$WORK/hold.out" && break; kill -0 $lp 2>/dev/null || break; sleep 0.1; done
  grep -q '^RESULT' "$WORK/hold.out" || die "load $*: $(tail -3 "$WORK/hold.out")"
  sleep 1
  rss_mb
  wait $lp || die "load $* failed while holding: $(tail -3 "$WORK/hold.out")"
}

# `rss_curve CURVE UNIT POINTS SERVE_FLAGS HOLD LOAD_ARGS...`: for each N in POINTS, a fresh
# server (SERVE_FLAGS, word-split), its idle RSS, then its RSS while `load LOAD_ARGS --count N
# --hold HOLD` holds N of UNIT open; one TSV row per point with the cost per UNIT.
rss_curve() {
  local curve=$1 unit=$2 points=$3 flags=$4 hold=$5 n base with per
  shift 5
  TSV="$OUT/$curve.tsv"
  printf '%s\tRSS idle MB\tRSS with them MB\tKiB per %s\n' "$curve" "$unit" >"$TSV"
  for n in $points; do
    # shellcheck disable=SC2086 # the flags are meant to split into words
    serve $flags
    sleep 1; base=$(rss_mb)
    with=$(rss_while "$@" --count "$n" --hold "$hold")
    stop
    per=$(awk -v a="$base" -v b="$with" -v c="$n" 'BEGIN { printf "%.1f", (b - a) * 1024 / c }')
    say "$curve=$n: RSS $base -> $with MB ($per KiB each)"
    printf '%s\t%s\t%s\t%s\n' "$n" "$base" "$with" "$per" >>"$TSV"
  done
}

# Markdown table of a TSV (header line first).
table() { awk -F'\t' 'NR == 1 { h = "|"; s = "|"; for (i = 1; i <= NF; i++) { h = h " " $i " |"; s = s "---|" }; print h; print s; next }
  { r = "|"; for (i = 1; i <= NF; i++) r = r " " $i " |"; print r }' "$1"; }

for CURVE in $CURVES; do
  case $CURVE in
  partitions)
    TSV="$OUT/partitions.tsv"
    printf 'partitions\tproduce msg/s (memory)\tconsume msg/s (memory)\tproduce msg/s (--data-dir)\tconsume msg/s (--data-dir)\n' >"$TSV"
    for P in $PARTITIONS; do
      row="$P"
      for STORE in memory disk; do
        dir=()
        if [ "$STORE" = disk ]; then rm -rf "$WORK/data"; dir=(--data-dir "$WORK/data"); fi
        serve --topic "p:$P" "${dir[@]}"
        load --topic p produce --messages "$MESSAGES" --size 100 --batch 500 --in-flight 4 --to-topic
        prod=$(field "$WORK/load.out" msgs_per_s)
        stop
        rm -rf "$WORK/data"
        serve --topic "c:$P" "${dir[@]}"
        load --topic c consume --messages "$MESSAGES" --size 100
        cons=$(field "$WORK/load.out" msgs_per_s)
        stop
        say "partitions=$P $STORE: produce $prod msg/s, consume $cons msg/s"
        row="$row"$'\t'"$prod"$'\t'"$cons"
      done
      rm -rf "$WORK/data"
      # Columns in header order: memory produce, memory consume, disk produce, disk consume.
      echo "$row" >>"$TSV"
    done
    ;;
  sizes)
    TSV="$OUT/sizes.tsv"
    printf 'value bytes\tmessages\tproduce msg/s\tproduce MB/s\tconsume msg/s\tconsume MB/s\n' >"$TSV"
    for S in $SIZES; do
      n=$((SIZE_BYTES / S)); [ "$n" -gt "$MESSAGES" ] && n=$MESSAGES
      # A batch of at most 8 MiB of values (a request body is at most 16 MiB) and 500 records.
      b=$((8388608 / S)); [ "$b" -gt 500 ] && b=500; [ "$b" -lt 1 ] && b=1
      [ "$n" -lt "$b" ] && n=$b
      serve --topic s:1
      load --topic s produce --messages "$n" --size "$S" --batch "$b" --in-flight 4 --to-topic
      pm=$(field "$WORK/load.out" msgs_per_s); pb=$(field "$WORK/load.out" mb_per_s)
      stop
      serve --topic c:1
      load --topic c consume --messages "$n" --size "$S" --batch "$b"
      cm=$(field "$WORK/load.out" msgs_per_s); cb=$(field "$WORK/load.out" mb_per_s)
      stop
      say "size=$S ($n messages, batches of $b): produce $pm msg/s $pb MB/s, consume $cm msg/s $cb MB/s"
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$S" "$n" "$pm" "$pb" "$cm" "$cb" >>"$TSV"
    done
    ;;
  connections)
    rss_curve connections connection "$CONNECTIONS" "--max-connections 8192 --max-connections-per-address 8192" 3 \
      connections
    ;;
  instances)
    rss_curve instances instance "$INSTANCES" "--topic i:1" 2 --topic i instances
    ;;
  retained)
    TSV="$OUT/retained.tsv"
    printf 'records\tMB on disk\tactive segment MiB\tRSS after writing MB\tRSS idle after a clean restart MB\tfirst answer after a clean restart s\tRSS idle after kill -9 MB\tfirst answer after kill -9 s\n' >"$TSV"
    for N in $RETAINED; do
      line=$(N=$N PORT=$PORT bench/restart.sh "$SERVE_BIN" | tail -1)
      say "$line"
      echo "$line" | sed -E 's/.*: ([0-9]+) records \(([0-9]+) MB on disk, active segment ([0-9]+) MiB.*RSS ([0-9]+) MB after writing; clean restart: first answer ([0-9.]+) s, RSS idle ([0-9]+) MB; after kill -9: first answer ([0-9.]+) s, RSS idle ([0-9]+) MB/\1\t\2\t\3\t\4\t\6\t\5\t\8\t\7/' >>"$TSV"
    done
    ;;
  *) die "unknown curve $CURVE (partitions sizes connections instances retained)" ;;
  esac
  echo; echo "### $CURVE"; echo; table "$TSV"
  if [ "$PLOT" = 1 ]; then
    gnuplot -e "curve='$CURVE'; dir='$OUT'" bench/curves.gp || die "plotting $CURVE failed"
    echo; echo "![$CURVE]($OUT/$CURVE.svg)"
  fi
done
