#!/usr/bin/env bash
# Whole-binary replay benchmark: bridgewatch against tcpdump, side by side, on generated captures.
#
# Builds release, generates bench-out/{mixed,small}.pcap with the gencap example if absent, runs
# each command REPEAT times (default 5) per file (tcpdump; bridgewatch --threads 1 and 2 with the
# shipped rules; --threads 1 with --no-rules), and prints the MEDIAN wall time, Mpps, Gbit/s,
# speed relative to tcpdump (tcpdump wall / command wall: >1 means faster than tcpdump) and peak
# RSS. A command that fails is reported as FAILED with its exit code and the tail of its stderr;
# the script then exits 1 after printing everything it could measure.
#
# Env: REPEAT (runs per command, default 5), PACKETS (generated packets, default 2000000),
#      SEED (generator seed, default 1), FILES (space-separated pcaps to use instead of generating),
#      BW (bridgewatch binary, default target/release/bridgewatch),
#      MAX_MPPS (default 150: a faster median is physically implausible for a full read and is
#      reported as SUSPECT, i.e. the command probably exited without reading the file).
set -euo pipefail

cd "$(dirname "$0")/.."
REPEAT="${REPEAT:-5}"
PACKETS="${PACKETS:-2000000}"
SEED="${SEED:-1}"
MAX_MPPS="${MAX_MPPS:-150}"
OUT=bench-out
BW="${BW:-target/release/bridgewatch}"
GEN=target/release/examples/gencap
TIME_BIN=/usr/bin/time

log() { printf '==> %s\n' "$*" >&2; }

ensure_tools() {
    local missing=()
    [[ -x "$TIME_BIN" ]] || missing+=(time)
    command -v tcpdump >/dev/null 2>&1 || missing+=(tcpdump)
    if ((${#missing[@]})); then
        if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            log "installing ${missing[*]}"
            apt-get install -y "${missing[@]}" >/dev/null
        else
            echo "error: missing ${missing[*]} (install them, or run as root for apt-get)" >&2
            exit 2
        fi
    fi
}

# Prints "packets bytes" for a pcap: capinfos when present, else the generator's summary line.
counts() {
    local file=$1 summary=${1%.pcap}.summary
    if command -v capinfos >/dev/null 2>&1; then
        capinfos -T -r -M -c -d "$file" | awk -F'\t' '{ print $2, $3 }'
    elif [[ -f "$summary" ]]; then
        sed -n 's/.* packets=\([0-9]*\) bytes=\([0-9]*\).*/\1 \2/p' "$summary" | tail -n 1
    else
        echo "error: no capinfos and no generator summary for $file" >&2
        return 1
    fi
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# run_cmd LABEL CMD...: runs CMD REPEAT times; prints "wall_s rss_kb" medians, or "FAILED rc".
run_cmd() {
    local label=$1
    shift
    local walls=() rsses=() i start end rc tfile efile
    tfile=$(mktemp)
    efile=$(mktemp)
    for ((i = 0; i < REPEAT; i++)); do
        start=$(date +%s%N)
        rc=0
        "$TIME_BIN" -f '%e %M' -o "$tfile" "$@" >/dev/null 2>"$efile" || rc=$?
        end=$(date +%s%N)
        if ((rc != 0)); then
            {
                echo "FAILED: $label (exit $rc): $*"
                tail -n 5 "$efile" | sed 's/^/    /'
            } >&2
            rm -f "$tfile" "$efile"
            echo "FAILED $rc"
            return 0
        fi
        walls+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')")
        rsses+=("$(awk '{ print $2 }' "$tfile" | tail -n 1)")
    done
    rm -f "$tfile" "$efile"
    echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${rsses[@]}" | median)"
}

ensure_tools
log "building release (examples and binaries)"
cargo build --release --examples --bins

mkdir -p "$OUT"
if [[ -n "${FILES:-}" ]]; then
    read -r -a files <<<"$FILES"
else
    files=()
    for profile in mixed small; do
        f="$OUT/$profile.pcap"
        if [[ ! -s "$f" ]]; then
            log "generating $f ($PACKETS packets, seed $SEED)"
            "$GEN" --profile "$profile" --packets "$PACKETS" --seed "$SEED" --out "$f" | tee "${f%.pcap}.summary"
        fi
        files+=("$f")
    done
fi

failed=0
rows=()
ratios=()
for f in "${files[@]}"; do
    read -r pkts bytes < <(counts "$f")
    log "$f: $pkts packets, $bytes bytes; warming the page cache"
    cat "$f" >/dev/null
    tcpdump_wall=""
    t1_wall=""
    t2_wall=""
    for label in tcpdump bw-threads1 bw-threads2 bw-t1-norules; do
        case $label in
            tcpdump) cmd=(tcpdump -r "$f" -w /dev/null) ;;
            # Flow tracking and flow output without the rule engine: what the
            # replay targets were first set for, before rules were evaluated by default.
            bw-t1-norules) cmd=("$BW" replay --flows /dev/null --no-rules --threads 1 "$f") ;;
            bw-threads1) cmd=("$BW" replay --flows /dev/null --alerts /dev/null --threads 1 "$f") ;;
            bw-threads2) cmd=("$BW" replay --flows /dev/null --alerts /dev/null --threads 2 "$f") ;;
        esac
        log "$label x$REPEAT"
        read -r wall rss < <(run_cmd "$label" "${cmd[@]}")
        if [[ "$wall" == FAILED ]]; then
            failed=1
            rows+=("$(printf '%-24s %-13s %9s %8s %8s %9s %9s' "$(basename "$f")" "$label" "FAILED" "-" "-" "-" "exit=$rss")")
            continue
        fi
        if awk -v w="$wall" -v p="$pkts" -v m="$MAX_MPPS" 'BEGIN { exit !(w == 0 || p / w / 1e6 > m) }'; then
            echo "SUSPECT: $label finished $f in ${wall}s (> $MAX_MPPS Mpps): did it read the file?" >&2
            failed=1
            rows+=("$(printf '%-24s %-13s %9s %8s %8s %9s %9s' "$(basename "$f")" "$label" "SUSPECT" "-" "-" "-" "${wall}s")")
            continue
        fi
        case $label in
            tcpdump) tcpdump_wall=$wall ;;
            bw-threads1) t1_wall=$wall ;;
            bw-threads2) t2_wall=$wall ;;
        esac
        rows+=("$(awk -v f="$(basename "$f")" -v l="$label" -v w="$wall" -v p="$pkts" -v b="$bytes" \
            -v t="$tcpdump_wall" -v r="$rss" 'BEGIN {
                ratio = (t == "" || w == 0) ? "-" : sprintf("%.2f", t / w)
                printf "%-24s %-13s %9.3f %8.3f %8.3f %9s %9.1f", f, l, w, p / w / 1e6, b * 8 / w / 1e9, ratio, r / 1024
            }')")
    done
    if [[ -n "$t1_wall" && -n "$t2_wall" ]]; then
        ratios+=("$(awk -v f="$(basename "$f")" -v a="$t1_wall" -v b="$t2_wall" 'BEGIN { printf "%-24s threads2/threads1 speedup = %.2fx", f, a / b }')")
    else
        ratios+=("$(printf '%-24s threads2/threads1 speedup = n/a (a bridgewatch run failed)' "$(basename "$f")")")
    fi
done

echo
echo "median of $REPEAT runs; x_tcpdump = tcpdump wall / command wall (>1 = faster than tcpdump)"
printf '%-24s %-13s %9s %8s %8s %9s %9s\n' file command wall_s Mpps Gbit/s x_tcpdump rss_MiB
for r in "${rows[@]}"; do echo "$r"; done
echo
for r in "${ratios[@]}"; do echo "$r"; done
if ((failed)); then
    echo
    echo "some commands FAILED (see messages above)" >&2
    exit 1
fi
