#!/usr/bin/env bash
# What authentication costs a single-message produce (issue 14: a scoped credential must stay
# within 5% of the server's own): the server's user-space instructions per request under
# callgrind (repeatable to ~0.1% even on a busy machine, unlike req/s), side by side in one
# run, for POST /produce/one (100 B value) sent
#
#   none    without auth (`--no-auth`)
#   server  with the server's own credential (Basic)
#   scoped  with a PRODUCE credential on `one` (Basic; verified once, then cached)
#   limited the same with a rate limit far above the load (the limit's bookkeeping)
#   token   with a PRODUCE token of that credential (Bearer)
#
#   bench/auth_cost.sh            # needs valgrind, wrk, curl
#
# Knobs: DURATION (5 s of wrk per mode, after a 2 s warm-up), CONNS (16), SIZE (100).
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
SIZE=${SIZE:-100}
PORT=${PORT:-18380}

die() { printf 'auth_cost.sh: %s\n' "$*" >&2; exit 1; }
for tool in wrk valgrind curl callgrind_annotate; do
  command -v "$tool" >/dev/null || die "needs $tool"
done
cargo build --release --quiet --bin upkafka >&2
BIN=${CARGO_TARGET_DIR:-target}/release/upkafka

WORK=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
unset UPSTASH_KAFKA_REST_USERNAME UPSTASH_KAFKA_REST_PASSWORD UPSTASH_KAFKA_REST_PASSWORD_FILE
# As long as a generated credential's password (32 characters), so that both digest one
# SHA-256 block and the comparison is of the code, not of the credentials' lengths.
printf 'bench-server-password-0123456789\n' >"$WORK/password"

start() { # MODE [PREFIX...]: the server for MODE, on a new port
  local mode=$1; shift
  PORT=$((PORT + 1))
  local auth=(--username admin --password-file "$WORK/password")
  [ "$mode" = none ] && auth=(--no-auth)
  "$@" "$BIN" serve "${auth[@]}" --bind "127.0.0.1:$PORT" --topic one \
    --data-dir "$WORK/data" >"$WORK/$mode.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 600); do
    curl -fs -o /dev/null -u admin:bench-server-password-0123456789 "http://127.0.0.1:$PORT/topics" && return 0
    sleep 0.1
  done
  die "the server for $mode does not answer (see $WORK/$mode.log)"
}
stop() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; }
api() { # METHOD PATH [BODY]: as the server's own credential
  curl -fsS -u admin:bench-server-password-0123456789 -X "$1" -H 'content-type: application/json' \
    ${3:+-d "$3"} "http://127.0.0.1:$PORT$2"
}
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

# The credentials and the token, made once; the data directory keeps them (and the token key).
start setup
scoped=$(api POST /v2/kafka/credential \
  '{"credential_name":"bench","cluster_id":"upkafka","topic":"one","permissions":"PRODUCE"}')
limited=$(api POST /v2/kafka/credential \
  '{"credential_name":"bench-limited","cluster_id":"upkafka","topic":"one","permissions":"PRODUCE","messages_per_second":1000000,"requests_per_day":1000000000000}')
s_user=$(field username <<<"$scoped"); s_pass=$(field password <<<"$scoped")
l_user=$(field username <<<"$limited"); l_pass=$(field password <<<"$limited")
token=$(curl -fsS -u "$s_user:$s_pass" -X POST -d '{"expires_in":3600}' \
  "http://127.0.0.1:$PORT/v2/kafka/token" | field token)
stop

VALUE=$(head -c "$SIZE" /dev/zero | tr '\0' 'x')
header() { # MODE: its Authorization value (empty without auth)
  case $1 in
    server) printf 'Basic %s' "$(printf 'admin:bench-server-password-0123456789' | base64 -w0)" ;;
    scoped) printf 'Basic %s' "$(printf '%s:%s' "$s_user" "$s_pass" | base64 -w0)" ;;
    limited) printf 'Basic %s' "$(printf '%s:%s' "$l_user" "$l_pass" | base64 -w0)" ;;
    token) printf 'Bearer %s' "$token" ;;
  esac
}
script() { # MODE: a wrk script with MODE's Authorization header
  local h
  h=$(header "$1")
  printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
  [ -n "$h" ] && printf 'wrk.headers["Authorization"] = "%s"\n' "$h"
  printf 'wrk.body = %s\n' "'{\"value\":\"$VALUE\"}'"
}
run() { # LUA [wrk args]: the request count, refusing runs with errors
  local lua=$1; shift
  wrk -t1 -c"$CONNS" -s "$lua" "$@" "http://127.0.0.1:$PORT/produce/one" >"$WORK/wrk.out"
  if grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
    die "errors: $(grep -E 'Non-2xx|Socket errors' "$WORK/wrk.out")"
  fi
  sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/wrk.out"
}

echo "machine: $(nproc) cores, load:$(uptime | sed 's/.*load average://')"
echo "callgrind: server user-space instructions per POST /produce/one ($SIZE B), wrk -t1 -c$CONNS -d${DURATION}s"
declare -A PER
for mode in ${MODES:-none server scoped limited token}; do
  script "$mode" >"$WORK/$mode.lua"
  start "$mode" valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.$mode.%p"
  # One request alone first: a scoped password is verified (Argon2id, slow under callgrind)
  # once and then cached; sixteen first requests at once would verify it sixteen times into
  # the measured window.
  h=$(header "$mode")
  curl -fsS -o /dev/null --max-time 120 ${h:+-H "Authorization: $h"} \
    -H 'content-type: application/json' -d '{"value":"x"}' "http://127.0.0.1:$PORT/produce/one"
  run "$WORK/$mode.lua" -d2s >/dev/null
  callgrind_control -z "$PID" >/dev/null
  n=$(run "$WORK/$mode.lua" -d"${DURATION}s")
  callgrind_control -d "$PID" >/dev/null
  stop
  f=$(ls "$WORK"/cg."$mode".*.1)
  total=$(callgrind_annotate "$f" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
  PER[$mode]=$(awk -v t="$total" -v n="$n" 'BEGIN { printf "%.0f", t / n }')
  [ -n "${KEEP:-}" ] && cp "$f" "$KEEP.$mode"
  rm -f "$WORK"/cg."$mode".*
  printf '%-8s %8s instructions/request (%d requests)\n' "$mode" "${PER[$mode]}" "$n"
done
for mode in scoped limited token; do
  awk -v m="$mode" -v a="${PER[$mode]}" -v b="${PER[server]}" \
    'BEGIN { printf "%-8s / server = %.3f\n", m, a / b }'
done
