//! Run-wide counters and the end-of-run summary printed on stderr.  Every packet
//! that does not become part of a flow is counted under a named reason here, so
//! nothing is dropped silently.

use crate::capture::ReaderStats;
use crate::flow::table::TableStats;
use crate::passive_dns::DnsStats;
use crate::pipeline::dedup::DedupStats;
use crate::sinks::delivery::SenderStats;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// Counters one worker (or the reader) accumulates; merged at the end.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// Packets read from the input.
    pub packets: u64,
    /// Captured bytes read.
    pub bytes: u64,
    /// Packets that yielded at least one flow packet.
    pub decoded: u64,
    /// Packets rejected by `--bpf`.
    pub bpf_rejected: u64,
    /// Packets skipped for benign reasons (not IP, fragments held for reassembly), by kind.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Decode failures by kind.
    pub decode_failures: BTreeMap<&'static str, u64>,
    pub reader: ReaderStats,
    pub table: TableStats,
    pub flows_written: u64,
    pub files_read: u64,
    pub files_failed: u64,
    /// A stop signal ended reading before the end of the input.
    pub interrupted: bool,
    /// Alerts by rule name (set after the run).
    pub alerts: BTreeMap<String, u64>,
    /// Set when rules ran.
    pub rules_ran: bool,
    /// Passive DNS counters, when a rule read names (set after the run).
    pub dns: Option<DnsStats>,
    /// Remote outputs by name (set after the run).
    pub outputs: Vec<(String, SenderStats)>,
    /// What `--dedup-window` held back, when on (set after the run).
    pub dedup: Option<DedupStats>,
}

impl RunStats {
    pub fn merge(&mut self, o: &RunStats) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.decoded += o.decoded;
        self.bpf_rejected += o.bpf_rejected;
        for (k, v) in &o.skipped {
            *self.skipped.entry(k).or_default() += v;
        }
        for (k, v) in &o.decode_failures {
            *self.decode_failures.entry(k).or_default() += v;
        }
        merge_reader(&mut self.reader, &o.reader);
        let t = &mut self.table;
        t.flows_created += o.table.flows_created;
        t.flows_ended += o.table.flows_ended;
        t.flows_evicted += o.table.flows_evicted;
        t.flows_timed_out += o.table.flows_timed_out;
        t.flows_reused += o.table.flows_reused;
        t.peak_flows += o.table.peak_flows;
        self.flows_written += o.flows_written;
        self.files_read += o.files_read;
        self.files_failed += o.files_failed;
        self.interrupted |= o.interrupted;
    }

    /// The human summary for stderr.
    pub fn summary(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "bridgewatch: {} packets, {} in {:.3} s: {:.2} Mpps, {:.2} Gbit/s",
            group(self.packets),
            human_bytes(self.bytes),
            secs,
            self.packets as f64 / secs / 1e6,
            self.bytes as f64 * 8.0 / secs / 1e9
        );
        let _ = writeln!(
            s,
            "  flows: {} written ({} timed out, {} ended by 5-tuple reuse, {} evicted by --max-flows, {} open at end); peak {} tracked",
            group(self.flows_written),
            group(self.table.flows_timed_out),
            group(self.table.flows_reused),
            group(self.table.flows_evicted),
            group(
                self.table
                    .flows_ended
                    .saturating_sub(self.table.flows_timed_out + self.table.flows_reused + self.table.flows_evicted)
            ),
            group(self.table.peak_flows)
        );
        let failures: u64 = self.decode_failures.values().sum();
        let _ = write!(
            s,
            "  packets: {} in flows, {} skipped",
            group(self.decoded),
            group(self.skipped.values().sum::<u64>())
        );
        if !self.skipped.is_empty() {
            let _ = write!(s, " ({})", kinds(&self.skipped));
        }
        let _ = write!(s, ", {} decode failures", group(failures));
        if failures > 0 {
            let _ = write!(s, " ({})", kinds(&self.decode_failures));
        }
        if self.bpf_rejected > 0 {
            let _ = write!(s, ", {} rejected by --bpf", group(self.bpf_rejected));
        }
        s.push('\n');
        let r = &self.reader;
        let odd = [
            ("caplen_over_snaplen", r.caplen_over_snaplen),
            ("zero_length", r.zero_length),
            ("caplen_over_orig_len", r.caplen_over_orig_len),
            ("bad_timestamps", r.bad_timestamps),
            ("skipped_pcapng_blocks", r.skipped_blocks),
            ("packets_naming_unknown_interface", r.unknown_interface),
        ];
        if odd.iter().any(|(_, v)| *v > 0) {
            let list: Vec<String> = odd
                .iter()
                .filter(|(_, v)| *v > 0)
                .map(|(k, v)| format!("{k} {}", group(*v)))
                .collect();
            let _ = writeln!(s, "  capture file anomalies: {}", list.join(", "));
        }
        if self.rules_ran {
            let total: u64 = self.alerts.values().sum();
            let _ = write!(s, "  alerts: {}", group(total));
            if total > 0 {
                let list: Vec<String> = self
                    .alerts
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", group(*v)))
                    .collect();
                let _ = write!(s, " ({})", list.join("; "));
            }
            s.push('\n');
        }
        if let Some(d) = &self.dedup {
            let total = d.total();
            let _ = write!(
                s,
                "  alerts suppressed (--dedup-window {} s): {}",
                d.window_secs,
                group(total)
            );
            if total > 0 {
                let list: Vec<String> = d
                    .suppressed
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", group(*v)))
                    .collect();
                let _ = write!(
                    s,
                    " ({}); the next alert of each key carries its count",
                    list.join("; ")
                );
            }
            if d.untracked > 0 {
                let _ = write!(
                    s,
                    "; {} sent undeduplicated (key table full)",
                    group(d.untracked)
                );
            }
            s.push('\n');
        }
        if let Some(d) = &self.dns {
            let _ = writeln!(
                s,
                "  passive DNS: {} responses ({} unparsed), {} answers recorded, {} dropped (table full), {} addresses named",
                group(d.responses),
                group(d.unparsed),
                group(d.answers),
                group(d.dropped),
                group(d.addrs)
            );
        }
        for (name, o) in &self.outputs {
            let _ = writeln!(
                s,
                "  output {name}: {} sent, {} dropped (queue full), {} dropped (spool full), {} rejected, {} undelivered at exit, {} left in the spool, {} truncated; {} send errors, {} retries",
                group(o.sent),
                group(o.queue_full),
                group(o.spool_full),
                group(o.rejected),
                group(o.undelivered_at_exit),
                group(o.spooled_at_exit),
                group(o.truncated),
                group(o.send_errors),
                group(o.retries)
            );
        }
        // Live capture reads no files: no line rather than a misleading "0 read".
        if self.files_read + self.files_failed > 0 {
            let _ = writeln!(
                s,
                "  files: {} read, {} with errors",
                self.files_read, self.files_failed
            );
        }
        if self.interrupted {
            let _ = writeln!(
                s,
                "  interrupted by {}: reading stopped early; every flow and alert so far was written",
                crate::signals::stop_signal().unwrap_or("a stop signal")
            );
        }
        s
    }
}

fn merge_reader(a: &mut ReaderStats, b: &ReaderStats) {
    a.packets += b.packets;
    a.bytes += b.bytes;
    a.caplen_over_snaplen += b.caplen_over_snaplen;
    a.zero_length += b.zero_length;
    a.caplen_over_orig_len += b.caplen_over_orig_len;
    a.skipped_blocks += b.skipped_blocks;
    a.bad_timestamps += b.bad_timestamps;
    a.unknown_interface += b.unknown_interface;
}

fn kinds(m: &BTreeMap<&'static str, u64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {}", group(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 1234567 → "1,234,567".
pub fn group(n: u64) -> String {
    let d = n.to_string();
    let mut out = String::with_capacity(d.len() + d.len() / 3);
    for (i, c) in d.chars().enumerate() {
        if i > 0 && (d.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

impl RunStats {
    /// The counters as one JSON object (for `--stats-json` and tests).
    pub fn to_json(&self, elapsed: Duration) -> String {
        let r = &self.reader;
        let t = &self.table;
        serde_json::json!({
            "packets": self.packets,
            "bytes": self.bytes,
            "decoded": self.decoded,
            "bpf_rejected": self.bpf_rejected,
            "skipped": self.skipped,
            "decode_failures": self.decode_failures,
            "reader": {
                "caplen_over_snaplen": r.caplen_over_snaplen,
                "zero_length": r.zero_length,
                "caplen_over_orig_len": r.caplen_over_orig_len,
                "skipped_blocks": r.skipped_blocks,
                "bad_timestamps": r.bad_timestamps,
                "unknown_interface": r.unknown_interface,
            },
            "flows": {
                "written": self.flows_written,
                "created": t.flows_created,
                "timed_out": t.flows_timed_out,
                "reused": t.flows_reused,
                "evicted": t.flows_evicted,
                "peak": t.peak_flows,
            },
            "alerts": self.alerts,
            "dedup": self.dedup.as_ref().map(|d| serde_json::json!({
                "window_secs": d.window_secs,
                "suppressed": d.suppressed,
                "suppressed_total": d.total(),
                "untracked": d.untracked,
            })),
            "passive_dns": self.dns.map(|d| serde_json::json!({
                "responses": d.responses,
                "unparsed": d.unparsed,
                "answers": d.answers,
                "dropped": d.dropped,
                "addrs": d.addrs,
            })),
            "outputs": self.outputs.iter().map(|(n, o)| serde_json::json!({
                "name": n,
                "sent": o.sent,
                "queue_full": o.queue_full,
                "undelivered_at_exit": o.undelivered_at_exit,
                "spool_full": o.spool_full,
                "spooled_at_exit": o.spooled_at_exit,
                "truncated": o.truncated,
                "send_errors": o.send_errors,
                "rejected": o.rejected,
                "retries": o.retries,
            })).collect::<Vec<_>>(),
            "files_read": self.files_read,
            "files_failed": self.files_failed,
            "interrupted": self.interrupted,
            "elapsed_secs": elapsed.as_secs_f64(),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouping_and_units() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }

    #[test]
    fn summary_names_every_failure_kind() {
        let mut a = RunStats {
            packets: 10,
            ..RunStats::default()
        };
        a.decode_failures.insert("bad_ipv4", 2);
        a.skipped.insert("not_ip", 3);
        let mut b = RunStats::default();
        b.decode_failures.insert("bad_ipv4", 1);
        b.decode_failures.insert("bad_tcp", 4);
        a.merge(&b);
        let s = a.summary(Duration::from_millis(5));
        assert!(s.contains("bad_ipv4 3"), "{s}");
        assert!(s.contains("bad_tcp 4"), "{s}");
        assert!(s.contains("not_ip 3"), "{s}");
        assert!(s.contains("7 decode failures"), "{s}");
    }
}
