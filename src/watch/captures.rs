//! The captures of one `watch` run: one thread per interface (see [`super::live`]),
//! started at launch and, when `watch` chose its interfaces itself, started and
//! closed as Docker bridges come and go ([`super::follow`]).  Owns the worker
//! channels the captures feed: workers end once this set is finished and every
//! capture has hung up.

use super::live::{self, IfaceCounters, LiveCapture, LiveSettings, OpenError};
use crate::capture::IfaceNames;
use crate::decode::Decoder;
use crate::flow::table::TableConfig;
use crate::metrics::Metrics;
use crate::pipeline::worker::{SubBatch, Worker};
use crate::stats::RunStats;
use crossbeam_channel::Sender;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;

/// One capture, running or ended.
pub struct Capture {
    pub iface: String,
    pub counters: Arc<IfaceCounters>,
    /// The interface itself went away (a bridge removed): its capture's end is
    /// expected, not an error.
    pub removed: bool,
    handle: Option<JoinHandle<Worker>>,
}

impl Capture {
    pub fn is_running(&self) -> bool {
        self.handle.as_ref().is_some_and(|h| !h.is_finished())
    }
}

pub struct Captures {
    pub settings: LiveSettings,
    senders: Vec<Sender<SubBatch>>,
    names: Arc<IfaceNames>,
    route_table: TableConfig,
    decoder: Decoder,
    threads: usize,
    stop: Arc<AtomicBool>,
    quiet: bool,
    pub list: Vec<Capture>,
    /// With `--listen`: each capture publishes its decode counters and its
    /// interface's drops here.
    pub metrics: Option<Arc<Metrics>>,
}

impl Captures {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        settings: LiveSettings,
        senders: Vec<Sender<SubBatch>>,
        names: Arc<IfaceNames>,
        route_table: TableConfig,
        decoder: Decoder,
        threads: usize,
        stop: Arc<AtomicBool>,
        quiet: bool,
    ) -> Captures {
        Captures {
            settings,
            senders,
            names,
            route_table,
            decoder,
            threads,
            stop,
            quiet,
            list: Vec::new(),
            metrics: None,
        }
    }

    /// Starts the thread that reads `live`.
    pub fn start(&mut self, live: LiveCapture) -> std::io::Result<()> {
        let iface_id = self.names.register(Some(live.iface.clone()));
        let counters = Arc::new(IfaceCounters::default());
        let mut router = Worker::new(
            0,
            self.threads,
            self.decoder.sibling(),
            self.route_table.clone(),
            None,
            None,
            None,
        );
        if let Some(m) = &self.metrics {
            router.set_metrics(m.slot());
            m.add_interface(&live.iface, counters.clone());
        }
        if !self.quiet {
            let s = &self.settings;
            eprintln!(
                "bridgewatch: capturing on {} ({:?}, snaplen {}, kernel buffer {} bytes{})",
                live.iface,
                live.link,
                s.snaplen,
                s.buffer_size,
                if s.promisc { ", promiscuous" } else { "" }
            );
        }
        let iface = live.iface.clone();
        let (txs, stop, c) = (self.senders.clone(), self.stop.clone(), counters.clone());
        let handle = std::thread::Builder::new()
            .name(format!("bw-cap-{iface}"))
            .spawn(move || live::run_capture(live, iface_id, router, txs, c, stop))?;
        self.list.push(Capture {
            iface,
            counters,
            removed: false,
            handle: Some(handle),
        });
        Ok(())
    }

    /// Opens `iface` and starts its capture.
    pub fn open_and_start(&mut self, iface: &str) -> Result<(), OpenError> {
        let live = live::open(iface, &self.settings)?;
        self.start(live).map_err(|e| OpenError::Other {
            iface: iface.to_string(),
            message: format!("cannot start a thread: {e}"),
        })
    }

    /// Whether `iface` has a capture that still runs.
    pub fn captures(&self, iface: &str) -> bool {
        self.list.iter().any(|c| c.iface == iface && c.is_running())
    }

    pub fn any_running(&self) -> bool {
        self.list.iter().any(Capture::is_running)
    }

    /// Stops feeding the workers (they end once every capture thread is done) and
    /// joins the captures; returns their decode stats.
    pub fn finish(&mut self) -> RunStats {
        self.senders.clear();
        let mut stats = RunStats::default();
        for c in &mut self.list {
            if let Some(h) = c.handle.take() {
                match h.join() {
                    Ok(router) => stats.merge(&router.stats),
                    Err(_) => eprintln!(
                        "bridgewatch: error: the capture thread of {} failed",
                        c.iface
                    ),
                }
            }
        }
        stats
    }
}
