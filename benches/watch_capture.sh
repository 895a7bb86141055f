#!/usr/bin/env bash
# Live capture under load: a generated capture is replayed into a veth at increasing rates
# (tcpreplay --pps, then --topspeed) while, in turn, `bridgewatch watch` (shipped rules, flow
# records written) and `tcpdump -w /dev/null` capture the other end. Prints, side by side,
# packets sent, captured and dropped by the kernel for both. Both get a 32 MiB kernel buffer.
#
# Needs root, iproute2, tcpreplay, tcpdump. Builds two namespaces of its own (bwc-<pid>-src,
# bwc-<pid>-cap) joined by a veth pair; the traffic never leaves them. Removed on exit.
# Env: BW (binary, default target/release/bridgewatch, built if missing), FILE (capture to
# send; default bench-out/mixed.pcap, generated with gencap if absent), SECONDS_PER_RATE
# (default 3), RATES (default "50000 100000 200000 400000 topspeed").
set -euo pipefail
cd "$(dirname "$0")/.."
BW="${BW:-target/release/bridgewatch}"
FILE="${FILE:-bench-out/mixed.pcap}"
SECS="${SECONDS_PER_RATE:-3}"
RATES="${RATES:-50000 100000 200000 400000 topspeed}"
for t in tcpreplay tcpdump ip; do
    command -v "$t" >/dev/null || { echo "error: $t missing (apt-get install tcpreplay tcpdump iproute2)" >&2; exit 2; }
done
[[ -x "$BW" ]] || cargo build --release --bin bridgewatch
if [[ ! -s "$FILE" ]]; then
    cargo build --release --example gencap
    mkdir -p "$(dirname "$FILE")"
    target/release/examples/gencap --profile mixed --packets 2000000 --seed 1 --out "$FILE"
fi
BW=$(realpath "$BW")

P=$$; SRC=bwc-$P-src; CAP=bwc-$P-cap; A=bwc${P}a; B=bwc${P}b
WORK=$(mktemp -d)
CAPPID=""
cleanup() {
    [[ -n "$CAPPID" ]] && kill -TERM "$CAPPID" 2>/dev/null || true
    sleep 0.3
    ip netns del "$SRC" 2>/dev/null || true
    ip netns del "$CAP" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$SRC"; ip netns add "$CAP"
ip -n "$SRC" link add "$A" type veth peer name "$B" netns "$CAP"
ip -n "$SRC" link set "$A" up; ip -n "$CAP" link set "$B" up
ip -n "$SRC" link set lo up; ip -n "$CAP" link set lo up

printf '%-9s %-12s %10s %10s %10s %10s %8s\n' rate tool sent sent_pps captured kern_drop drop_%
for rate in $RATES; do
    if [[ $rate == topspeed ]]; then
        count=1000000; speed=(--topspeed)
    else
        count=$((rate * SECS)); speed=(--pps="$rate")
    fi
    for tool in bridgewatch tcpdump; do
        err="$WORK/$tool.err"
        if [[ $tool == bridgewatch ]]; then
            ip netns exec "$CAP" "$BW" watch -i "$B" --no-docker --buffer-size $((32 << 20)) ${BW_ARGS:-} \
                --flows /dev/null --alerts /dev/null 2>"$err" &
        else
            ip netns exec "$CAP" tcpdump -i "$B" -B 32768 -s 262144 -w /dev/null 2>"$err" &
        fi
        CAPPID=$!
        sleep 1.5
        out=$(ip netns exec "$SRC" tcpreplay -K -i "$A" "${speed[@]}" -L "$count" "$FILE" 2>&1 || true)
        sleep 1.5
        kill -TERM "$CAPPID"; wait "$CAPPID" || true; CAPPID=""
        sent=$(sed -n 's/^Actual: \([0-9]*\) packets.*/\1/p' <<<"$out" | head -1)
        pps=$(sed -n 's/.*Rated: [0-9.]* Bps, [0-9.]* Mbps, \([0-9.]*\) pps.*/\1/p' <<<"$out" | head -1)
        if [[ $tool == bridgewatch ]]; then
            line=$(grep "capture $B:" "$err" || true)
            got=$(sed -n 's/.*: \([0-9]*\) packets read.*/\1/p' <<<"$line")
            drop=$(sed -n 's/.*, \([0-9]*\) dropped by the kernel.*/\1/p' <<<"$line")
        else
            got=$(sed -n 's/^\([0-9]*\) packets captured.*/\1/p' "$err")
            drop=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$err")
        fi
        pct=$(awk -v d="${drop:-0}" -v s="${sent:-0}" 'BEGIN { if (s > 0) printf "%.2f", 100 * d / s; else print "n/a" }')
        printf '%-9s %-12s %10s %10s %10s %10s %8s\n' "$rate" "$tool" "${sent:-?}" "${pps:-?}" "${got:-?}" "${drop:-?}" "$pct"
    done
done
