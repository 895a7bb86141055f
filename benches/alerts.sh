#!/usr/bin/env bash
# Alert-delivery benchmark (not a test): how many alerts per second bridgewatch delivers
#   1. to the file output (--alerts PATH), and
#   2. to a local rsyslogd over TCP (--syslog tcp://127.0.0.1:PORT; rsyslogd is started here
#      on a loopback port with its own configuration and stopped by its PID), counted as
#      the lines rsyslog wrote;
# each the MEDIAN of REPEAT runs; and 3. the memory a full in-memory queue costs: peak RSS
# (/usr/bin/time) of one run whose syslog receiver is absent (the queue fills to its 65,536
# messages and stays full until the end-of-run grace) against one whose receiver is there.
#
# The captures come from examples/alertcap.rs: every flow is a SYN from a container to a
# distinct outside address on an IRC port, so every flow raises an alert. Deduplication is
# off (--dedup-window 0) so every alert is delivered.
#
# Env: REPEAT (default 5); FILE_ALERTS (default 1000000); SYSLOG_ALERTS (default 60000: below
#      the queue's 65,536 messages, so the producer never outruns the queue and nothing is
#      dropped — the figure is the sender's and rsyslog's pace, not the drop policy's);
#      BIG_ALERTS (default 1000000: one run that overfills the queue, reporting sent and
#      dropped, and the memory runs); BW / GEN (binaries; default: build release).
set -euo pipefail

cd "$(dirname "$0")/.."
REPEAT="${REPEAT:-5}"
FILE_ALERTS="${FILE_ALERTS:-1000000}"
SYSLOG_ALERTS="${SYSLOG_ALERTS:-60000}"
BIG_ALERTS="${BIG_ALERTS:-1000000}"
OUT=bench-out/alerts
RSYSLOGD=/usr/sbin/rsyslogd
TIME_BIN=/usr/bin/time
INV=pcaps/policies/containers.json

log() { printf '==> %s\n' "$*" >&2; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
now() { date +%s.%N; }
lines() { if [[ -f "$1" ]]; then wc -l <"$1"; else echo 0; fi; }

for tool in "$RSYSLOGD" "$TIME_BIN"; do
    [[ -x "$tool" ]] || { echo "error: $tool missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
done

if [[ -z "${BW:-}" || -z "${GEN:-}" ]]; then
    log "building release (bridgewatch, examples/alertcap)"
    cargo build --release --quiet --bin bridgewatch --example alertcap
fi
BW="${BW:-target/release/bridgewatch}"
GEN="${GEN:-target/release/examples/alertcap}"

mkdir -p "$OUT"
for n in "$FILE_ALERTS" "$SYSLOG_ALERTS" "$BIG_ALERTS"; do
    [[ -f "$OUT/alerts-$n.pcap" ]] || { log "generating $n flows"; "$GEN" "$n" "$OUT/alerts-$n.pcap"; }
done

# rsyslogd on a free loopback port (the first of a few candidates nothing listens on).
PORT=""
for p in $(seq $((20000 + $$ % 20000)) $((20000 + $$ % 20000 + 50))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then PORT=$p; break; fi
done
[[ -n "$PORT" ]] || { echo "error: no free port" >&2; exit 2; }
RS_DIR="$(mktemp -d)"
RS_OUT="$RS_DIR/received.log"
cat >"$RS_DIR/rsyslog.conf" <<CONF
global(workDirectory="$RS_DIR")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$PORT")
template(name="msg" type="string" string="%msg%\n")
*.* action(type="omfile" file="$RS_OUT" template="msg")
CONF
RS_PID=""
cleanup() {
    if [[ -n "$RS_PID" ]]; then kill "$RS_PID" 2>/dev/null || true; wait "$RS_PID" 2>/dev/null || true; fi
    rm -rf "$RS_DIR"
}
trap cleanup EXIT
"$RSYSLOGD" -n -f "$RS_DIR/rsyslog.conf" -i "$RS_DIR/rsyslogd.pid" >/dev/null 2>&1 &
RS_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

common=(replay --quiet --dedup-window 0 --containers "$INV")
json_field() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2" | head -n 1; }

# 1. File output.
rates=()
for r in $(seq "$REPEAT"); do
    rm -f "$OUT/alerts.jsonl"
    t0=$(now)
    "$BW" "${common[@]}" --alerts "$OUT/alerts.jsonl" "$OUT/alerts-$FILE_ALERTS.pcap"
    t1=$(now)
    n=$(lines "$OUT/alerts.jsonl")
    rates+=("$(awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')")
    log "file run $r: $n alerts, ${rates[-1]} alerts/s"
done
FILE_RATE=$(printf '%s\n' "${rates[@]}" | median)
FILE_N=$n

# 2. rsyslog over TCP: from the start of the run until rsyslog has written every alert.
rates=()
for r in $(seq "$REPEAT"); do
    before=$(lines "$RS_OUT")
    t0=$(now)
    "$BW" "${common[@]}" --syslog "tcp://127.0.0.1:$PORT" --stats-json "$OUT/stats.json" \
        "$OUT/alerts-$SYSLOG_ALERTS.pcap"
    sent=$(json_field sent "$OUT/stats.json")
    want=$((before + sent))
    deadline=$(( $(date +%s) + 120 ))
    while (( $(lines "$RS_OUT") < want )); do
        (( $(date +%s) < deadline )) || { echo "error: rsyslog got $(( $(lines "$RS_OUT") - before )) of $sent" >&2; exit 1; }
        sleep 0.02
    done
    t1=$(now)
    got=$(( $(lines "$RS_OUT") - before ))
    dropped=$(json_field queue_full "$OUT/stats.json")
    rates+=("$(awk -v n="$got" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')")
    log "syslog run $r: $got received (sent $sent, queue_full $dropped), ${rates[-1]} alerts/s"
done
SYSLOG_RATE=$(printf '%s\n' "${rates[@]}" | median)
SYSLOG_N=$got

# 3. An overfull queue, once with rsyslog there (peak RSS, sent, dropped) and once with
#    nothing listening (the queue stays full until the 10 s end-of-run grace).
before=$(lines "$RS_OUT")
"$TIME_BIN" -f %M -o "$OUT/rss-present" "$BW" "${common[@]}" --syslog "tcp://127.0.0.1:$PORT" \
    --stats-json "$OUT/stats-big.json" "$OUT/alerts-$BIG_ALERTS.pcap" || true
BIG_SENT=$(json_field sent "$OUT/stats-big.json")
BIG_DROPPED=$(json_field queue_full "$OUT/stats-big.json")
DEAD_PORT=$((PORT + 1))
while (exec 3<>"/dev/tcp/127.0.0.1/$DEAD_PORT") 2>/dev/null; do DEAD_PORT=$((DEAD_PORT + 1)); done
"$TIME_BIN" -f %M -o "$OUT/rss-absent" "$BW" "${common[@]}" --syslog "tcp://127.0.0.1:$DEAD_PORT" \
    --stats-json "$OUT/stats-dead.json" "$OUT/alerts-$BIG_ALERTS.pcap" 2>/dev/null || true
"$TIME_BIN" -f %M -o "$OUT/rss-none" "$BW" "${common[@]}" --alerts /dev/null "$OUT/alerts-$BIG_ALERTS.pcap"
RSS_PRESENT=$(tail -n 1 "$OUT/rss-present")
RSS_ABSENT=$(tail -n 1 "$OUT/rss-absent")
RSS_NONE=$(tail -n 1 "$OUT/rss-none")
MSG_BYTES=$(awk '{ n += length($0) + 1 } END { printf "%.0f", n / NR }' "$OUT/alerts.jsonl")

echo
echo "alert delivery, median of $REPEAT runs ($(nproc) CPUs; --dedup-window 0):"
printf '  %-44s %12s alerts/s  (%s alerts per run)\n' "file output (--alerts PATH)" "$FILE_RATE" "$FILE_N"
printf '  %-44s %12s alerts/s  (%s alerts per run)\n' "rsyslog over TCP (lines rsyslog wrote)" "$SYSLOG_RATE" "$SYSLOG_N"
echo "overfull queue ($BIG_ALERTS alerts at once; the queue holds 65,536):"
echo "  receiver present: $BIG_SENT sent, $BIG_DROPPED dropped (queue full, counted); peak RSS ${RSS_PRESENT} KiB"
echo "  receiver absent:  peak RSS ${RSS_ABSENT} KiB; $(json_field undelivered_at_exit "$OUT/stats-dead.json") held in memory until the end (undelivered), $(json_field queue_full "$OUT/stats-dead.json") dropped (queue full, counted)"
echo "  no syslog output: peak RSS ${RSS_NONE} KiB"
echo "  a full queue costs about $(( (RSS_ABSENT - RSS_NONE) / 1024 )) MiB over no output (mean alert line ${MSG_BYTES} B)"
