//! The Prometheus text exposition format (version 0.0.4) of a [`Metrics`] registry:
//! `# HELP` and `# TYPE` before each family, label values escaped (rule and output
//! names come from files and flags, so a quote or newline in one cannot forge a
//! sample).

use super::{lock, Metrics, DECODE_KINDS};
use crate::sinks::delivery::SenderStats;
use crate::watch::live::IfaceCounters;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Escapes a label value: backslash, double quote and newline.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape_label(val));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {v}");
    }
    fn one(&mut self, name: &str, kind: &str, help: &str, v: u64) {
        self.family(name, kind, help);
        self.sample(name, &[], v);
    }
}

pub fn render(m: &Metrics) -> String {
    let slots = lock(&m.slots).clone();
    let sum = |f: &dyn Fn(&super::StatsSlot) -> &AtomicU64| -> u64 {
        slots.iter().map(|s| f(s).load(Ordering::Relaxed)).sum()
    };
    let mut o = Out(String::with_capacity(8192));

    o.family(
        "bridgewatch_build_info",
        "gauge",
        "Version and git commit of this binary (value 1).",
    );
    o.sample(
        "bridgewatch_build_info",
        &[("version", &m.version), ("commit", &m.commit)],
        1,
    );
    let started = m
        .started
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    o.one(
        "bridgewatch_start_time_seconds",
        "gauge",
        "Unix time the process started.",
        started,
    );
    o.one(
        "bridgewatch_ready",
        "gauge",
        "1 once inputs are open, rules loaded and (watch with Docker) the inventory synced: what /readyz reports; else 0.",
        u64::from(m.readiness().is_ok()),
    );

    o.one(
        "bridgewatch_capture_packets_total",
        "counter",
        "Packets read from the inputs.",
        sum(&|s| &s.packets),
    );
    o.one(
        "bridgewatch_capture_bytes_total",
        "counter",
        "Captured bytes read from the inputs.",
        sum(&|s| &s.bytes),
    );
    o.one(
        "bridgewatch_decoded_packets_total",
        "counter",
        "Packets that became part of at least one flow.",
        sum(&|s| &s.decoded),
    );
    o.one(
        "bridgewatch_bpf_rejected_packets_total",
        "counter",
        "Packets rejected by the --bpf filter.",
        sum(&|s| &s.bpf_rejected),
    );
    let ifaces = lock(&m.interfaces).clone();
    if !ifaces.is_empty() {
        let per_iface = |o: &mut Out, name: &str, help: &str, f: &dyn Fn(&IfaceCounters) -> u64| {
            o.family(name, "counter", help);
            for (i, c) in &ifaces {
                o.sample(name, &[("interface", i)], f(c));
            }
        };
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        per_iface(
            &mut o,
            "bridgewatch_capture_interface_packets_total",
            "Packets read from a live capture handle, by interface.",
            &|c| get(&c.packets),
        );
        per_iface(
            &mut o,
            "bridgewatch_capture_kernel_received_packets_total",
            "Packets the kernel filter passed to a capture (pcap_stats ps_recv), by interface.",
            &|c| get(&c.received),
        );
        per_iface(
            &mut o,
            "bridgewatch_capture_kernel_dropped_packets_total",
            "Packets dropped because the kernel capture buffer was full (pcap_stats ps_drop), by interface.",
            &|c| get(&c.kernel_dropped),
        );
        per_iface(
            &mut o,
            "bridgewatch_capture_interface_dropped_packets_total",
            "Packets dropped by the interface or its driver (pcap_stats ps_ifdrop), by interface.",
            &|c| get(&c.if_dropped),
        );
    }
    let kinds = |f: &dyn Fn(&super::StatsSlot) -> &[AtomicU64; DECODE_KINDS.len()]| {
        let mut v = [0u64; DECODE_KINDS.len()];
        for s in &slots {
            for (acc, a) in v.iter_mut().zip(f(s)) {
                *acc += a.load(Ordering::Relaxed);
            }
        }
        v
    };
    o.family(
        "bridgewatch_decode_failures_total",
        "counter",
        "Packets that could not be decoded, by kind.",
    );
    for (k, v) in DECODE_KINDS.iter().zip(kinds(&|s| &s.decode_failures)) {
        if v > 0 {
            o.sample("bridgewatch_decode_failures_total", &[("kind", k)], v);
        }
    }
    o.family(
        "bridgewatch_skipped_packets_total",
        "counter",
        "Packets skipped for benign reasons (not IP, fragments held), by kind.",
    );
    for (k, v) in DECODE_KINDS.iter().zip(kinds(&|s| &s.skipped)) {
        if v > 0 {
            o.sample("bridgewatch_skipped_packets_total", &[("kind", k)], v);
        }
    }

    let created = sum(&|s| &s.flows_created);
    let ended = sum(&|s| &s.flows_ended);
    let evicted = sum(&|s| &s.flows_evicted);
    let timed_out = sum(&|s| &s.flows_timed_out);
    let reused = sum(&|s| &s.flows_reused);
    o.one(
        "bridgewatch_flows_created_total",
        "counter",
        "Flows created.",
        created,
    );
    o.family(
        "bridgewatch_flows_ended_total",
        "counter",
        "Flows ended, by reason (timeout, reused 5-tuple, evicted by --max-flows, end of input).",
    );
    o.sample(
        "bridgewatch_flows_ended_total",
        &[("reason", "timeout")],
        timed_out,
    );
    o.sample(
        "bridgewatch_flows_ended_total",
        &[("reason", "reused")],
        reused,
    );
    o.sample(
        "bridgewatch_flows_ended_total",
        &[("reason", "evicted")],
        evicted,
    );
    o.sample(
        "bridgewatch_flows_ended_total",
        &[("reason", "end_of_input")],
        ended.saturating_sub(timed_out + reused + evicted),
    );
    o.one(
        "bridgewatch_flows_evicted_total",
        "counter",
        "Flows written out early because the table was full (--max-flows).",
        evicted,
    );
    o.one(
        "bridgewatch_flows_active",
        "gauge",
        "Flows tracked now.",
        sum(&|s| &s.flows_active),
    );
    o.one(
        "bridgewatch_flow_records_total",
        "counter",
        "Flow records finished (written when --flows is given).",
        sum(&|s| &s.flows_written),
    );
    o.one(
        "bridgewatch_files_read_total",
        "counter",
        "Capture files read to their end or to an error.",
        sum(&|s| &s.files_read),
    );
    o.one(
        "bridgewatch_files_failed_total",
        "counter",
        "Capture files that could not be opened or read to their end.",
        sum(&|s| &s.files_failed),
    );

    if let Some(a) = m.alerts.get() {
        o.family(
            "bridgewatch_alerts_total",
            "counter",
            "Alerts raised, by rule and priority.",
        );
        for (rule, prio, n) in a.snapshot() {
            o.sample(
                "bridgewatch_alerts_total",
                &[("rule", &rule), ("priority", prio.as_str())],
                n,
            );
        }
    }

    if m.inventory_known.load(Ordering::Relaxed) {
        o.one(
            "bridgewatch_inventory_containers",
            "gauge",
            "Containers in the inventory.",
            m.inventory_containers.load(Ordering::Relaxed),
        );
    }

    let outputs = lock(&m.outputs).clone();
    if !outputs.is_empty() {
        // An output a reload replaced under the same name is one series: the old
        // one's counters (its drops included) and the new one's, summed.
        let mut snaps: Vec<(&str, SenderStats, u64, u64)> = Vec::new();
        for (n, c) in &outputs {
            let (st, q, b) = (c.snapshot(), c.queue_depth(), c.spool_bytes());
            match snaps.iter_mut().find(|s| s.0 == n.as_str()) {
                Some(s) => {
                    s.1.add(&st);
                    s.2 += q;
                    s.3 += b;
                }
                None => snaps.push((n.as_str(), st, q, b)),
            }
        }
        o.family(
            "bridgewatch_output_sent_total",
            "counter",
            "Alerts delivered, by output.",
        );
        for (n, s, _, _) in &snaps {
            o.sample("bridgewatch_output_sent_total", &[("output", n)], s.sent);
        }
        o.family(
            "bridgewatch_output_dropped_total",
            "counter",
            "Alerts lost, by output and reason (queue_full, spool_full, rejected, undelivered_at_exit).",
        );
        for (n, s, _, _) in &snaps {
            for (reason, v) in [
                ("queue_full", s.queue_full),
                ("spool_full", s.spool_full),
                ("rejected", s.rejected),
                ("undelivered_at_exit", s.undelivered_at_exit),
            ] {
                o.sample(
                    "bridgewatch_output_dropped_total",
                    &[("output", n), ("reason", reason)],
                    v,
                );
            }
        }
        o.family(
            "bridgewatch_output_send_failures_total",
            "counter",
            "Failed delivery attempts (each retried with backoff), by output.",
        );
        for (n, s, _, _) in &snaps {
            o.sample(
                "bridgewatch_output_send_failures_total",
                &[("output", n)],
                s.send_errors,
            );
        }
        o.family(
            "bridgewatch_output_truncated_total",
            "counter",
            "Alerts cut to the output's size limit, by output.",
        );
        for (n, s, _, _) in &snaps {
            o.sample(
                "bridgewatch_output_truncated_total",
                &[("output", n)],
                s.truncated,
            );
        }
        o.family(
            "bridgewatch_output_queue_depth",
            "gauge",
            "Alerts waiting to be delivered (memory queue or spool), by output.",
        );
        for (n, _, d, _) in &snaps {
            o.sample("bridgewatch_output_queue_depth", &[("output", n)], *d);
        }
        o.family(
            "bridgewatch_output_spool_bytes",
            "gauge",
            "Bytes held in the output's on-disk spool (0 without --spool-dir).",
        );
        for (n, _, _, b) in &snaps {
            o.sample("bridgewatch_output_spool_bytes", &[("output", n)], *b);
        }
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_cannot_break_out() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("x\ny"), "x\\ny");
    }

    #[test]
    fn every_family_has_help_and_type_and_names_follow_the_convention() {
        let m = Metrics::new(&[], "1.2.3", "abc");
        let text = m.render();
        let mut families = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                families += 1;
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(name.starts_with("bridgewatch_"), "{name}");
                assert_eq!(
                    name.ends_with("_total"),
                    kind == "counter",
                    "counters and only counters end in _total: {name}"
                );
                assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            }
        }
        assert!(families >= 15, "{text}");
        assert!(text.contains("bridgewatch_build_info{version=\"1.2.3\",commit=\"abc\"} 1\n"));
    }
}
