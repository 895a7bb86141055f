//! SIGHUP reload of the outputs ([`Outputs::reload`]): which outputs stay the same
//! ([`same_output`]), starting the new ones (deferring those that take over a
//! leaving output's file or spool until it has closed them), putting the new route
//! set in force, waiting for every fan-out to move, and draining the removed
//! outputs, whose counters join the summary.

use super::*;

/// How long a reload waits for every fan-out to move to the new outputs (a watch
/// worker does within its 200 ms tick) before it drains the removed ones anyway.
const SWITCH_WAIT: Duration = Duration::from_secs(2);

/// Whether a reload may keep `old` running in place of `new`: the same name (a
/// default name's `outputs[N]` position left out, so moving an output in the list
/// does not restart it) and exactly the same settings (sink and its destination,
/// TLS and HTTP settings, format, what it carries, minimum priority, delivery
/// options, spool).  The settings are compared as their `Debug` text, which
/// names every field, so a field added later is compared too.
pub fn same_output(old: &OutputSpec, new: &OutputSpec) -> bool {
    fn strip(name: &str) -> &str {
        match name.strip_prefix("outputs[") {
            Some(rest) => match rest.split_once("] ") {
                Some((n, tail)) if n.bytes().all(|b| b.is_ascii_digit()) => tail,
                _ => name,
            },
            None => name,
        }
    }
    let settings = |o: &OutputSpec| {
        format!(
            "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            o.sink, o.format, o.carries, o.min_priority, o.delivery, o.spool
        )
    };
    strip(&old.name) == strip(&new.name) && settings(old) == settings(new)
}

/// What a reload changed, by output name.
#[derive(Default)]
pub struct ReloadReport {
    pub kept: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// The added remote outputs' live counters (for `/metrics`).
    pub added_counters: Vec<(String, Arc<Counters>)>,
    /// Removed outputs: events they could not deliver before they stopped (lost,
    /// counted in their own counters) and events left in their spool.
    pub removed_lost: u64,
    pub removed_spooled: u64,
    /// Whether every fan-out had moved to the new outputs before the old ones were
    /// stopped (if not, what a late worker sent them is counted as dropped).
    pub switched_in_time: bool,
    /// Outputs that took over a file or spool and could not open it.
    pub errors: Vec<String>,
}

impl Outputs {
    /// Replaces the outputs with `cfg`'s: outputs that stay the same
    /// ([`same_output`]) keep running untouched; new ones are started, and only
    /// if all of them start is the new set put in force (else nothing changes and
    /// the error names the output).  Then waits until every fan-out has moved
    /// (normally one worker tick, at most `SWITCH_WAIT`, 2 s) and gives the outputs
    /// removed `cfg.flush_timeout` to deliver what they hold, like at the end of a
    /// run.
    pub fn reload(&mut self, cfg: &OutputsConfig) -> Result<ReloadReport, String> {
        let mut old: Vec<Option<Started>> = std::mem::take(&mut self.started)
            .into_iter()
            .map(Some)
            .collect();
        // Which old output each new one keeps, if any.
        let mut keep: Vec<Option<usize>> = Vec::new();
        for o in &cfg.outputs {
            let i = old
                .iter()
                .enumerate()
                .find(|(i, s)| {
                    !keep.contains(&Some(*i)) && s.as_ref().is_some_and(|s| same_output(&s.spec, o))
                })
                .map(|(i, _)| i);
            keep.push(i);
        }
        let leaving: Vec<&OutputSpec> = old
            .iter()
            .enumerate()
            .filter(|(i, _)| !keep.contains(&Some(*i)))
            .filter_map(|(_, s)| s.as_ref().map(|s| &s.spec))
            .collect();
        // A new output that shares a spool or a file with one leaving takes lines
        // from the switch on, and opens them once the one leaving has closed them.
        let defer: Vec<bool> = cfg
            .outputs
            .iter()
            .zip(&keep)
            .map(|(o, k)| k.is_none() && leaving.iter().any(|l| shared_resource(l, o)))
            .collect();
        let mut fresh: Vec<Option<(Started, Option<Deferred>)>> = Vec::new();
        for ((o, k), d) in cfg.outputs.iter().zip(&keep).zip(&defer) {
            if k.is_some() {
                fresh.push(None);
                continue;
            }
            match start_or_defer(o, &self.hostname, *d) {
                Ok(s) => fresh.push(Some(s)),
                Err(e) => {
                    stop_all(
                        fresh.into_iter().flatten().map(|(s, _)| s).collect(),
                        Duration::ZERO,
                    );
                    self.started = old.into_iter().flatten().collect();
                    return Err(e);
                }
            }
        }
        let mut report = ReloadReport::default();
        let mut deferred = Vec::new();
        for (k, f) in keep.iter().zip(fresh) {
            let s = match (k, f) {
                (Some(i), _) => match old.get_mut(*i).and_then(Option::take) {
                    Some(s) => {
                        report.kept.push(s.spec.name.clone());
                        s
                    }
                    None => continue,
                },
                (None, Some((s, later))) => {
                    report.added.push(s.spec.name.clone());
                    if let Some((d, _)) = &s.remote {
                        report.added_counters.push((d.name.clone(), d.counters()));
                    }
                    if let Some(later) = later {
                        if let Deferred::Remote { prepared, .. } = &later {
                            report
                                .added_counters
                                .push((s.spec.name.clone(), prepared.counters()));
                        }
                        deferred.push((self.started.len(), later));
                    }
                    s
                }
                (None, None) => continue,
            };
            self.started.push(s);
        }
        let routes = Arc::new(self.started.iter().map(|s| s.route.clone()).collect());
        let mut previous = self.slot.publish(routes);
        let removed: Vec<Started> = old.into_iter().flatten().collect();
        report.removed = removed.iter().map(|s| s.spec.name.clone()).collect();
        // Every fan-out moves at its next event or flush (a watch worker flushes
        // at least every tick); until then the old outputs must keep taking lines.
        let deadline = Instant::now() + SWITCH_WAIT;
        while Arc::get_mut(&mut previous).is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        report.switched_in_time = Arc::get_mut(&mut previous).is_some();
        drop(previous);
        let (errors, stats) = finish_all(removed, cfg.flush_timeout);
        for (_, _, st) in &stats {
            report.removed_lost += st.lost();
            report.removed_spooled += st.spooled_at_exit;
        }
        self.retired_errors.extend(errors);
        // The summary's line for a removed output says so (a new output may have
        // taken its name).
        self.retired.extend(
            stats
                .into_iter()
                .map(|(n, what, st)| (format!("{n} (until a reload removed it)"), what, st)),
        );
        for (i, later) in deferred {
            if let Some(s) = self.started.get_mut(i) {
                if let Err(e) = attach(s, later) {
                    report.errors.push(e);
                }
            }
        }
        Ok(report)
    }
}

/// Whether `a` and `b` would both use one spool directory or one file.
fn shared_resource(a: &OutputSpec, b: &OutputSpec) -> bool {
    let spool = matches!((&a.spool, &b.spool), (Some((da, _)), Some((db, _))) if da == db);
    let file = matches!((&a.sink, &b.sink), (SinkSpec::File(fa), SinkSpec::File(fb)) if fa.path == fb.path);
    spool || file
}

/// What an output a reload adds still has to do once the output it replaces has
/// let go of their shared file or spool.
pub(super) enum Deferred {
    File {
        writer: Arc<SharedWriter>,
        held: Held,
        spec: FileSpec,
    },
    Remote {
        prepared: Prepared,
        transport: Box<dyn Transport>,
    },
}
/// Finishes starting a deferred output `s`: opens its file (writing first what it
/// held) or its spool and starts its thread.  An error is returned for the log; the
/// output then counts what it cannot take (a file reports a write error at the
/// end; an output without its spool delivers from memory).
fn attach(s: &mut Started, later: Deferred) -> Result<(), String> {
    match later {
        Deferred::File { writer, held, spec } => match RotatingFile::open(spec.clone()) {
            Ok(f) => {
                writer.attach(Box::new(f), &held);
                Ok(())
            }
            Err(e) => {
                let msg = format!("{}: cannot open {}: {e}", s.spec.name, spec.path.display());
                writer.fail(std::io::Error::other(msg.clone()));
                Err(msg)
            }
        },
        Deferred::Remote {
            prepared,
            transport,
        } => {
            let mut problem = None;
            let spool = match &s.spec.spool {
                Some((dir, max)) => match Spool::open(dir, *max) {
                    Ok(sp) => Some(sp),
                    Err(e) => {
                        problem = Some(format!(
                            "{}; delivering without it",
                            spool_error(&s.spec, &e)
                        ));
                        None
                    }
                },
                None => None,
            };
            match Delivery::start_prepared(prepared, transport, spool) {
                Ok(d) => s.remote = Some((d, noun(s.spec.carries))),
                Err(e) => {
                    return Err(format!(
                        "{}: cannot start its thread: {e}; what it is sent is dropped and counted",
                        s.spec.name
                    ))
                }
            }
            problem.map_or(Ok(()), Err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Carries;
    use crate::flow::uid::Uid;
    use std::path::Path;

    fn file(name: &str, path: &Path, format: Format) -> OutputSpec {
        OutputSpec {
            name: name.into(),
            sink: SinkSpec::File(FileSpec {
                path: path.into(),
                max_bytes: None,
                keep: 5,
                append: true,
            }),
            format,
            carries: Carries::Flows,
            min_priority: Priority::Debug,
            delivery: Default::default(),
            spool: None,
        }
    }

    fn config(outputs: Vec<OutputSpec>) -> OutputsConfig {
        OutputsConfig {
            outputs,
            flush_timeout: Duration::from_secs(5),
        }
    }

    /// The uids of the flow lines in `p`.
    fn uids(p: &Path) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                name_of(v["uid"].as_str().unwrap_or_default())
            })
            .collect()
    }

    /// The test's name for a flow (`c1` .. `c9`) as the uid its record carries.
    fn uid_of(name: &str) -> Uid {
        Uid::from_seed(name.trim_start_matches('c').parse().unwrap_or(0))
    }

    /// The test's name back from a uid written in an output (the text itself if unknown).
    fn name_of(uid: &str) -> String {
        (0..10)
            .map(|n| format!("c{n}"))
            .find(|name| uid_of(name).to_string() == uid)
            .unwrap_or_else(|| uid.to_string())
    }

    fn flow(f: &mut Fanout, name: &str) {
        let mut r = crate::sinks::format::tests::record();
        r.uid = uid_of(name);
        f.flow(&r);
    }

    #[test]
    fn reload_keeps_an_unchanged_output_and_moves_the_rest_without_loss() {
        let dir = tempfile::tempdir().unwrap();
        let (k, a, b) = (
            dir.path().join("k.jsonl"),
            dir.path().join("a.jsonl"),
            dir.path().join("b.jsonl"),
        );
        let before = config(vec![
            file("outputs[0] file k", &k, Format::Native),
            file("outputs[1] file a", &a, Format::Native),
        ]);
        // k moves to the second place: its default name changes with it, and it is
        // still the same output.
        let after = config(vec![
            file("outputs[0] file b", &b, Format::Native),
            file("outputs[1] file k", &k, Format::Native),
        ]);
        let mut outputs = Outputs::start(&before, "h").unwrap();
        let mut f = outputs.flow_fanout();
        let slot = outputs.slot.clone();
        // Buffered, not yet written when the reload starts.
        for u in ["c1", "c2", "c3"] {
            flow(&mut f, u);
        }
        let reload = std::thread::spawn(move || {
            let r = outputs.reload(&after);
            (outputs, r)
        });
        while slot.version.load(Ordering::Acquire) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // The new set is in force: this fan-out moves at its next event.
        for u in ["c4", "c5"] {
            flow(&mut f, u);
        }
        f.flush();
        let (outputs, report) = reload.join().unwrap();
        let report = report.unwrap();
        assert_eq!(report.kept, ["outputs[0] file k"]);
        assert_eq!(report.added, ["outputs[0] file b"]);
        assert_eq!(report.removed, ["outputs[1] file a"]);
        assert!(report.switched_in_time);
        flow(&mut f, "c6");
        drop(f);
        let (errors, _) = outputs.finish(Duration::ZERO);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(uids(&k), ["c1", "c2", "c3", "c4", "c5", "c6"]);
        assert_eq!(uids(&a), ["c1", "c2", "c3"]);
        assert_eq!(uids(&b), ["c4", "c5", "c6"]);
    }

    /// Runs `outputs.reload(after)` on a thread while `f` sends `before` (buffered
    /// when the reload starts) and, once the new set is published, `after_uids`.
    fn reload_while_sending(
        mut outputs: Outputs,
        after: OutputsConfig,
        f: &mut Fanout,
        before: &[&str],
        after_uids: &[&str],
    ) -> (Outputs, ReloadReport) {
        let slot = outputs.slot.clone();
        let v0 = slot.version.load(Ordering::Acquire);
        for u in before {
            flow(f, u);
        }
        let reload = std::thread::spawn(move || {
            let r = outputs.reload(&after);
            (outputs, r)
        });
        while slot.version.load(Ordering::Acquire) == v0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        for u in after_uids {
            flow(f, u);
        }
        f.flush();
        let (outputs, report) = reload.join().unwrap();
        (outputs, report.unwrap())
    }

    #[test]
    fn reload_switches_a_file_in_place_when_only_its_format_changes() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.jsonl");
        let before = config(vec![file("events", &a, Format::Native)]);
        let after = config(vec![file("events", &a, Format::Ecs)]);
        let outputs = Outputs::start(&before, "h").unwrap();
        let mut f = outputs.flow_fanout();
        let (outputs, report) =
            reload_while_sending(outputs, after, &mut f, &["c1", "c2"], &["c3", "c4"]);
        assert_eq!(
            (report.added, report.removed),
            (vec!["events".to_string()], vec!["events".to_string()])
        );
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        flow(&mut f, "c5");
        drop(f);
        let (errors, _) = outputs.finish(Duration::ZERO);
        assert!(errors.is_empty(), "{errors:?}");
        // The native lines the old output wrote, then the ECS ones, in order.
        let ids: Vec<String> = std::fs::read_to_string(&a)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                match v["uid"].as_str() {
                    Some(u) => format!("native {}", name_of(u)),
                    None => format!("ecs {}", name_of(v["event"]["id"].as_str().unwrap_or("?"))),
                }
            })
            .collect();
        assert_eq!(
            ids,
            ["native c1", "native c2", "ecs c3", "ecs c4", "ecs c5"]
        );
    }

    #[test]
    fn reload_hands_a_spool_to_the_output_that_replaces_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let (r1, r2) = (
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        );
        let syslog = |name: &str, to: &std::net::UdpSocket| OutputSpec {
            name: name.into(),
            sink: SinkSpec::Syslog(
                format!("udp://{}", to.local_addr().unwrap())
                    .parse()
                    .unwrap(),
            ),
            format: Format::Native,
            carries: Carries::Flows,
            min_priority: Priority::Debug,
            delivery: Default::default(),
            spool: Some((spool.clone(), 1 << 20)),
        };
        let before = config(vec![syslog("siem", &r1)]);
        let after = config(vec![syslog("siem", &r2)]);
        let outputs = Outputs::start(&before, "h").unwrap();
        let mut f = outputs.flow_fanout();
        let (outputs, report) =
            reload_while_sending(outputs, after, &mut f, &["c1", "c2"], &["c3"]);
        assert_eq!(report.removed, ["siem"]);
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert_eq!(report.removed_lost, 0);
        flow(&mut f, "c4");
        drop(f);
        let (_, stats) = outputs.finish(Duration::from_secs(5));
        let got = |s: &std::net::UdpSocket| {
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut uids = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let uid = text
                    .split("\"uid\":\"")
                    .nth(1)
                    .and_then(|t| t.split('"').next());
                uids.push(name_of(uid.unwrap_or("?")));
            }
            uids
        };
        assert_eq!(got(&r1), ["c1", "c2"]);
        assert_eq!(got(&r2), ["c3", "c4"]);
        // Both outputs' counters reach the summary: the old one's first.
        let sent: Vec<u64> = stats.iter().map(|(_, _, s)| s.sent).collect();
        assert_eq!(sent, [2, 2]);
        assert!(stats.iter().all(|(_, _, s)| s.lost() == 0));
    }

    #[test]
    fn a_removed_output_that_cannot_deliver_counts_its_events_as_dropped() {
        // A port nothing listens on: every send fails and is retried.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let siem = OutputSpec {
            name: "siem".into(),
            sink: SinkSpec::Syslog(format!("tcp://{closed}").parse().unwrap()),
            format: Format::Native,
            carries: Carries::Flows,
            min_priority: Priority::Debug,
            delivery: Default::default(),
            spool: None,
        };
        let outputs = Outputs::start(&config(vec![siem]), "h").unwrap();
        let mut f = outputs.flow_fanout();
        let after = OutputsConfig {
            outputs: Vec::new(),
            flush_timeout: Duration::from_millis(300),
        };
        let (outputs, report) =
            reload_while_sending(outputs, after, &mut f, &["c1", "c2", "c3"], &["c4"]);
        assert_eq!(report.removed, ["siem"]);
        assert_eq!(report.removed_lost, 3);
        drop(f);
        let (_, stats) = outputs.finish(Duration::ZERO);
        let (name, _, st) = &stats[0];
        assert_eq!(name, "siem (until a reload removed it)");
        assert_eq!((st.sent, st.undelivered_at_exit, st.lost()), (0, 3, 3));
    }

    #[test]
    fn same_output_means_same_settings_whatever_the_position() {
        let p = Path::new("/tmp/x.jsonl");
        let o = file("outputs[3] file /tmp/x.jsonl", p, Format::Native);
        assert!(same_output(
            &o,
            &file("outputs[0] file /tmp/x.jsonl", p, Format::Native)
        ));
        assert!(!same_output(
            &o,
            &file("outputs[3] file /tmp/x.jsonl", p, Format::Cef)
        ));
        assert!(!same_output(
            &o,
            &file(
                "outputs[3] file /tmp/y.jsonl",
                Path::new("/tmp/y.jsonl"),
                Format::Native
            )
        ));
        let mut named = file("siem", p, Format::Native);
        assert!(!same_output(&o, &named));
        named.min_priority = Priority::Warning;
        assert!(!same_output(&file("siem", p, Format::Native), &named));
    }
}
