#!/usr/bin/env bash
# Issue 19, target 2: draining one topic through a consumer group, side by side on one server
# and one data set. A release `upkafka serve` (in memory, or on a data directory with
# DATA_DIR=1) gets one single-partition topic of MESSAGES values of SIZE bytes (untimed), then
# every round drains all of it three ways, each through a fresh group from `earliest`, with
# auto-commit off and a commit after each poll (the server's poll size, `max_poll_records`
# 500, for all three):
#
#   node     @upstash/kafka 1.3.5: consume() then commit() of the next offsets (bench/official_consume.mjs)
#   cli      `upkafka consume TOPIC -g G --from earliest -c MESSAGES > file` (the count is checked)
#   ceiling  `examples/load.rs ceiling`: a bare HTTP/1.1 loop on one keep-alive connection,
#            POST /consume (no wait) then POST /commit, answers read as bytes and not
#            decoded: what the server can serve a client that costs nothing (wrk cannot
#            time a drain: it always runs for its -d)
#
#   bench/consume.sh                       # defaults below
#   MESSAGES=200000 ROUNDS=5 bench/consume.sh
#   OLD=/path/to/old/upkafka bench/consume.sh   # also that binary's `consume` CLI, same rounds
#   SERVE_BIN=/path/to/old/upkafka bench/consume.sh   # serve with that binary instead
#
# The order of the three rotates from round to round so that drift on a shared machine weighs
# on all alike; the table gives the median of the rounds (and min..max). Needs node + npm
# (tests/node) and /usr/bin/time. Hold the cargo lock around it on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."

MESSAGES=${MESSAGES:-500000}
SIZE=${SIZE:-100}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18280}
DATA_DIR=${DATA_DIR:-0}
OLD=${OLD:-}

say() { printf '>> %s\n' "$*" >&2; }
die() { printf 'consume.sh: %s\n' "$*" >&2; exit 1; }
command -v node >/dev/null || die "needs node (apt-get install nodejs npm)"
[ -x /usr/bin/time ] || die "needs /usr/bin/time (apt-get install time)"
if [ ! -d tests/node/node_modules/@upstash/kafka ]; then
  say "installing @upstash/kafka 1.3.5 with npm ci in tests/node"
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error) >&2
fi

say "building release binaries"
cargo build --release --quiet --bin upkafka --example load >&2
TARGET=${CARGO_TARGET_DIR:-target}
BIN=$TARGET/release/upkafka
LOAD=$TARGET/release/examples/load

WORK=$(mktemp -d)
SERVER_PID=
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE
URL="http://127.0.0.1:$PORT"
TOPIC=drain

SERVE_ARGS=(serve --no-auth --bind "127.0.0.1:$PORT" --topic "$TOPIC:1")
[ "$DATA_DIR" = 1 ] && SERVE_ARGS+=(--data-dir "$WORK/data")
"${SERVE_BIN:-$BIN}" "${SERVE_ARGS[@]}" >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null "$URL/topics" && break; sleep 0.1; done
curl -fs -o /dev/null "$URL/topics" || die "the server does not answer: $(cat "$WORK/serve.log")"

say "filling $TOPIC with $MESSAGES messages of $SIZE B (untimed)"
"$LOAD" --url "$URL" --topic "$TOPIC" produce --size "$SIZE" --batch 500 --in-flight 4 \
  --messages "$MESSAGES" --to-topic >"$WORK/fill.out" || die "fill failed: $(cat "$WORK/fill.out")"
# Produce rounds batches up to whole batches of 500.
TOTAL=$(( (MESSAGES + 499) / 500 * 500 ))

# Each runner prints "seconds cpu_seconds" (cpu: the client process's).
run_node() { # GROUP
  local out
  out=$(UPSTASH_KAFKA_REST_URL="$URL" TOPIC="$TOPIC" GROUP="$1" MESSAGES="$TOTAL" \
    node bench/official_consume.mjs) || die "node consume failed: $out"
  local r; r=$(printf '%s\n' "$out" | grep '^RESULT')
  local s c; s=$(printf '%s\n' "$r" | tr ' ' '\n' | sed -n 's/^seconds=//p')
  c=$(printf '%s\n' "$r" | tr ' ' '\n' | sed -n 's/^cpu_s=//p')
  echo "$s $c"
}
run_cli() { # BIN GROUP
  /usr/bin/time -f '%e %U %S' -o "$WORK/cli.time" "$1" consume --url "$URL" --username b --password b \
    "$TOPIC" -g "$2" --from earliest -c "$TOTAL" >"$WORK/cli.out" 2>"$WORK/cli.err" \
    || die "upkafka consume failed: $(cat "$WORK/cli.err")"
  local lines; lines=$(wc -l <"$WORK/cli.out")
  [ "$lines" -eq "$TOTAL" ] || die "upkafka consume wrote $lines lines of $TOTAL"
  awk '{ printf "%.3f %.2f\n", $1, $2 + $3 }' "$WORK/cli.time"
}
run_ceiling() { # GROUP
  local out
  out=$("$LOAD" --url "$URL" --topic "$TOPIC" ceiling --group "$1" --messages "$TOTAL") \
    || die "the ceiling loop failed: $out"
  local r; r=$(printf '%s\n' "$out" | grep '^RESULT')
  printf '%s %s\n' "$(printf '%s\n' "$r" | tr ' ' '\n' | sed -n 's/^seconds=//p')" \
    "$(printf '%s\n' "$r" | tr ' ' '\n' | sed -n 's/^cpu_s=//p')"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load:$(uptime | sed 's/.*load average://')"
echo "workload: $TOTAL messages of $SIZE B in one partition, drained through a group, commit after each poll$([ "$DATA_DIR" = 1 ] && echo ', --data-dir')"
CONTESTANTS=(node cli ceiling)
[ -n "$OLD" ] && CONTESTANTS+=(old)
for r in $(seq 1 "$ROUNDS"); do
  n=${#CONTESTANTS[@]}
  for k in $(seq 0 $((n - 1))); do
    c=${CONTESTANTS[$(( (k + r - 1) % n ))]}
    g="$c-$r"
    case $c in
      node) res=$(run_node "$g") ;;
      cli) res=$(run_cli "$BIN" "$g") ;;
      old) res=$(run_cli "$OLD" "$g") ;;
      ceiling) res=$(run_ceiling "$g") ;;
    esac
    say "round $r $c: $res (seconds, client cpu seconds)"
    echo "$c $res" >>"$WORK/results"
  done
done

# Median and range of the seconds per contestant.
stat() { # NAME -> "median min max cpu_median"
  awk -v c="$1" '$1 == c { print $2, $3 }' "$WORK/results" | sort -n | awk '
    { s[NR] = $1; u[NR] = $2 }
    END { m = (NR % 2) ? s[(NR + 1) / 2] : (s[NR / 2] + s[NR / 2 + 1]) / 2
          printf "%s %s %s %s\n", m, s[1], s[NR], u[int((NR + 1) / 2)] }'
}
rate() { awk -v n="$TOTAL" -v s="$1" 'BEGIN { printf "%.0f", n / s }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
read -r N_S N_MIN N_MAX N_CPU <<<"$(stat node)"
read -r C_S C_MIN C_MAX C_CPU <<<"$(stat cli)"
read -r W_S W_MIN W_MAX W_CPU <<<"$(stat ceiling)"
echo
printf '%-44s %-10s %-16s %-10s %s\n' "drain of $TOTAL x ${SIZE}B" "msg/s" "s (min..max)" "client CPU" "ratio"
printf '%-44s %-10s %-16s %-10s %s\n' "server ceiling (load ceiling: raw HTTP loop)" "$(rate "$W_S")" "$W_S ($W_MIN..$W_MAX)" "${W_CPU}s" "1.00 of ceiling"
printf '%-44s %-10s %-16s %-10s %s\n' "upkafka consume (CLI, to a file)" "$(rate "$C_S")" "$C_S ($C_MIN..$C_MAX)" "${C_CPU}s" "$(div "$W_S" "$C_S") of ceiling; $(div "$N_S" "$C_S")x node"
if [ -n "$OLD" ]; then
  read -r O_S O_MIN O_MAX O_CPU <<<"$(stat old)"
  printf '%-44s %-10s %-16s %-10s %s\n' "OLD upkafka consume ($OLD)" "$(rate "$O_S")" "$O_S ($O_MIN..$O_MAX)" "${O_CPU}s" "$(div "$W_S" "$O_S") of ceiling; $(div "$N_S" "$O_S")x node"
fi
printf '%-44s %-10s %-16s %-10s %s\n' "@upstash/kafka consume+commit loop" "$(rate "$N_S")" "$N_S ($N_MIN..$N_MAX)" "${N_CPU}s" "$(div "$W_S" "$N_S") of ceiling"
echo "RESULT messages=$TOTAL node_s=$N_S cli_s=$C_S ceiling_s=$W_S cli_vs_node=$(div "$N_S" "$C_S") cli_of_ceiling=$(div "$W_S" "$C_S")"
