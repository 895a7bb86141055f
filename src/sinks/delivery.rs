//! Delivery, shared by every remote output: a bounded in-memory queue, an optional
//! on-disk spool, batching, and retry with exponential backoff and jitter.  What
//! differs per output (syslog, HTTP) is a [`Transport`] that sends one batch.
//!
//! Workers hand messages to the queue and never wait on the network: a full queue
//! drops the message and counts it (`queue_full`).  One thread per output drains the
//! queue.  A batch that fails with [`SendError::Retry`] is kept and sent again after
//! a backoff (100 ms doubling to 5 s, with jitter) — so a receiver that restarts
//! loses nothing the queue could hold; one rejected for good ([`SendError::Reject`],
//! e.g. an HTTP 400) is dropped and counted (`rejected`).  At the end of a run the
//! thread gets [`Delivery::finish`]'s deadline to deliver what is queued; what is left
//! is counted as `undelivered_at_exit`.
//!
//! With a spool ([`super::spool`]) every message is appended to disk before it is
//! sent and acknowledged after: an outage longer than the queue holds, or a restart
//! (even `kill -9`), loses nothing the spool's size bound admits, and what was not
//! sent by the exit deadline stays spooled (`spooled_at_exit`) for the next run with
//! the same spool directory, which sends it first.  Every message ends in exactly one
//! of the [`SenderStats`] counters.

use super::spool::Spool;
use crate::time::Nanos;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages held in memory per output.
pub const QUEUE_LEN: usize = 65_536;

/// What a message carries; transports label it (syslog MSGID, Splunk sourcetype,
/// Elasticsearch index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Alert,
    Flow,
}

/// One message waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    /// Syslog severity (0 emergency ... 7 debug) of the alert; flows are informational (6).
    pub severity: u8,
    pub time: Nanos,
    /// The formatted line (its trailing newline is dropped where framing needs it).
    pub body: Vec<u8>,
}

/// Why a batch did not go out.
#[derive(Debug)]
pub enum SendError {
    /// The receiver is unreachable or asked to come back later: keep and retry.
    Retry(String),
    /// The receiver refused the batch for good: drop it, counted.
    Reject(String),
}

/// Sends batches to one receiver.  Runs on the output's own thread.
pub trait Transport: Send {
    /// Most messages per batch.
    fn max_batch(&self) -> usize {
        1
    }
    /// Sends `batch` whole.
    fn send(&mut self, batch: &[Message]) -> Result<(), SendError>;
    /// Called once at the end (flush buffers, close connections).
    fn close(&mut self) {}
}

/// What an output did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    pub sent: u64,
    pub queue_full: u64,
    pub undelivered_at_exit: u64,
    pub rejected: u64,
    pub truncated: u64,
    pub send_errors: u64,
    pub retries: u64,
    /// Refused by a full spool (or a spool write error).
    pub spool_full: u64,
    /// Still in the spool when the run ended (sent by the next run, not lost).
    pub spooled_at_exit: u64,
}

impl SenderStats {
    /// Adds `o`'s counts to these (an output name a reload gave to a new output).
    pub fn add(&mut self, o: &SenderStats) {
        self.sent += o.sent;
        self.queue_full += o.queue_full;
        self.undelivered_at_exit += o.undelivered_at_exit;
        self.rejected += o.rejected;
        self.truncated += o.truncated;
        self.send_errors += o.send_errors;
        self.retries += o.retries;
        self.spool_full += o.spool_full;
        self.spooled_at_exit += o.spooled_at_exit;
    }

    /// Messages lost for good.
    pub fn lost(&self) -> u64 {
        self.queue_full + self.undelivered_at_exit + self.rejected + self.spool_full
    }
}

/// Counters shared between the workers' handles, the thread and transports.
#[derive(Default)]
pub struct Counters {
    sent: AtomicU64,
    queue_full: AtomicU64,
    undelivered: AtomicU64,
    rejected: AtomicU64,
    pub truncated: AtomicU64,
    send_errors: AtomicU64,
    retries: AtomicU64,
    spool_full: AtomicU64,
    spooled: AtomicU64,
    /// Messages waiting (channel plus memory queue or spool), kept by the thread.
    depth: AtomicU64,
    /// Bytes in the spool, kept by the thread (0 without one).
    spool_bytes: AtomicU64,
}

impl Counters {
    /// The counters now (what [`Delivery::finish`] returns at the end).
    pub fn snapshot(&self) -> SenderStats {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SenderStats {
            sent: l(&self.sent),
            queue_full: l(&self.queue_full),
            undelivered_at_exit: l(&self.undelivered),
            rejected: l(&self.rejected),
            truncated: l(&self.truncated),
            send_errors: l(&self.send_errors),
            retries: l(&self.retries),
            spool_full: l(&self.spool_full),
            spooled_at_exit: l(&self.spooled),
        }
    }

    /// Messages waiting to be delivered.
    pub fn queue_depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }

    /// Bytes held in the on-disk spool.
    pub fn spool_bytes(&self) -> u64 {
        self.spool_bytes.load(Ordering::Relaxed)
    }
}

/// The handle workers send through (cheap to clone).
#[derive(Clone)]
pub struct OutputHandle {
    tx: Sender<Message>,
    counters: Arc<Counters>,
}

impl OutputHandle {
    /// Queues `m`; never blocks.  A full queue drops it, counted.
    pub fn send(&self, m: Message) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(m) {
            self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Per-output delivery settings (the config file's `delivery` table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Messages held in memory before new ones are dropped (`queue_full`).
    pub queue: usize,
    /// Most messages per batch, below the transport's own maximum.
    pub batch: Option<usize>,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            queue: QUEUE_LEN,
            batch: None,
        }
    }
}

/// A remote output's queue before its thread starts ([`Delivery::prepare`]).
pub struct Prepared {
    name: String,
    tx: Sender<Message>,
    rx: Receiver<Message>,
    counters: Arc<Counters>,
    opts: DeliveryOptions,
}

impl Prepared {
    pub fn handle(&self) -> OutputHandle {
        OutputHandle {
            tx: self.tx.clone(),
            counters: self.counters.clone(),
        }
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }
}

/// A running output.
pub struct Delivery {
    /// What the summary calls it (`syslog 127.0.0.1:514`, `http https://...`).
    pub name: String,
    handle: Option<OutputHandle>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    deadline: Arc<Mutex<Option<Instant>>>,
    thread: Option<JoinHandle<()>>,
}

impl Delivery {
    /// Starts the output's thread.  With `spool`, messages go through the on-disk
    /// spool opened there (an error opening it is returned before anything starts).
    pub fn start(
        name: String,
        transport: Box<dyn Transport>,
        counters: Arc<Counters>,
        spool: Option<(&Path, u64)>,
    ) -> std::io::Result<Delivery> {
        Delivery::start_with(name, transport, counters, spool, DeliveryOptions::default())
    }

    /// [`Delivery::start`] with a queue length and batch size of its own.
    pub fn start_with(
        name: String,
        transport: Box<dyn Transport>,
        counters: Arc<Counters>,
        spool: Option<(&Path, u64)>,
        opts: DeliveryOptions,
    ) -> std::io::Result<Delivery> {
        let spool = match spool {
            Some((dir, max)) => Some(Spool::open(dir, max)?),
            None => None,
        };
        Delivery::start_prepared(Delivery::prepare(name, counters, opts), transport, spool)
    }

    /// The output's queue without its thread: workers may send to it already
    /// ([`Prepared::handle`]); what they send waits in the queue (bounded as ever)
    /// until [`Delivery::start_prepared`].  For an output a reload adds that must
    /// wait for the one it replaces to let go of their shared spool.
    pub fn prepare(name: String, counters: Arc<Counters>, opts: DeliveryOptions) -> Prepared {
        let (tx, rx) = bounded::<Message>(opts.queue.max(1));
        Prepared {
            name,
            tx,
            rx,
            counters,
            opts,
        }
    }

    /// Starts the thread of a [`Prepared`] output, with `spool` (already open).
    pub fn start_prepared(
        p: Prepared,
        transport: Box<dyn Transport>,
        spool: Option<Spool>,
    ) -> std::io::Result<Delivery> {
        let Prepared {
            name,
            tx,
            rx,
            counters,
            opts,
        } = p;
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Arc::new(Mutex::new(None));
        let st = State {
            transport,
            rx,
            counters: counters.clone(),
            stop: stop.clone(),
            deadline: deadline.clone(),
            backoff: INITIAL_BACKOFF,
            next_try: Instant::now(),
            label: name.clone(),
            batch_cap: opts.batch.unwrap_or(usize::MAX).max(1),
        };
        let thread = std::thread::Builder::new()
            .name(format!("output {name}"))
            .spawn(move || st.run(spool))?;
        Ok(Delivery {
            name,
            handle: Some(OutputHandle {
                tx,
                counters: counters.clone(),
            }),
            counters,
            stop,
            deadline,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> Option<OutputHandle> {
        self.handle.clone()
    }

    /// Stops taking messages and gives the thread until `grace` from now to drain
    /// the queue (and spool), without waiting.  A deadline already set is kept, so
    /// every output can be told first and then waited for, sharing one deadline.
    pub fn begin_finish(&mut self, grace: Duration) {
        if let Ok(mut d) = self.deadline.lock() {
            if d.is_none() {
                *d = Some(Instant::now() + grace);
            }
        }
        self.handle = None;
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops taking messages and waits up to `grace` (or the deadline
    /// [`Delivery::begin_finish`] set) for the queue (and spool) to drain; then
    /// returns the counters.
    pub fn finish(&mut self, grace: Duration) -> SenderStats {
        self.begin_finish(grace);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }

    pub fn stats(&self) -> SenderStats {
        self.counters.snapshot()
    }

    /// The live counters (for `/metrics`).
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }
}

const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// How long a batching output waits for a batch to fill.
const LINGER: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A little jitter without a random-number crate: the clock's nanoseconds.
fn jitter(d: Duration) -> Duration {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64(f64::from(n % 1000) / 4000.0)
}

/// Where the thread's messages wait: memory, or the spool.
trait Backlog {
    /// Whether it takes more from the queue now.  Memory holds one batch beside the
    /// queue (so the queue is what bounds memory, and a full one drops, counted);
    /// the spool takes everything (its own size bound counts what it refuses).
    fn room(&self, batch: usize) -> bool;
    fn take(&mut self, m: Message, c: &Counters);
    fn len(&self) -> u64;
    /// Up to `n` oldest messages, not yet removed.
    fn front(&mut self, n: usize) -> Vec<Message>;
    /// The first `n` of [`Backlog::front`] are done with.
    fn pop(&mut self, n: usize);
    /// Bytes held on disk.
    fn bytes(&self) -> u64 {
        0
    }
}

impl Backlog for VecDeque<Message> {
    fn room(&self, batch: usize) -> bool {
        VecDeque::len(self) < batch
    }
    fn take(&mut self, m: Message, _: &Counters) {
        self.push_back(m);
    }
    fn len(&self) -> u64 {
        VecDeque::len(self) as u64
    }
    fn front(&mut self, n: usize) -> Vec<Message> {
        self.iter().take(n).cloned().collect()
    }
    fn pop(&mut self, n: usize) {
        self.drain(..n.min(VecDeque::len(self)));
    }
}

impl Backlog for Spool {
    fn room(&self, _: usize) -> bool {
        true
    }
    fn take(&mut self, m: Message, c: &Counters) {
        match self.push(&m) {
            Ok(true) => {}
            Ok(false) => {
                c.spool_full.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "spool write failed; message dropped");
                c.spool_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    fn len(&self) -> u64 {
        self.pending()
    }
    fn front(&mut self, n: usize) -> Vec<Message> {
        match self.peek_batch(n) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "spool read failed");
                Vec::new()
            }
        }
    }
    fn pop(&mut self, n: usize) {
        if let Err(e) = self.ack(n) {
            tracing::error!(error = %e, "spool cursor write failed");
        }
    }
    fn bytes(&self) -> u64 {
        Spool::bytes(self)
    }
}

struct State {
    transport: Box<dyn Transport>,
    rx: Receiver<Message>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    deadline: Arc<Mutex<Option<Instant>>>,
    backoff: Duration,
    next_try: Instant,
    label: String,
    batch_cap: usize,
}

impl State {
    fn past_deadline(&self) -> bool {
        self.deadline
            .lock()
            .map(|d| d.is_some_and(|d| Instant::now() >= d))
            .unwrap_or(true)
    }

    fn run(mut self, spool: Option<Spool>) {
        match spool {
            Some(mut s) => {
                self.pump(&mut s);
                // Queued after the deadline: into the spool for the next run.
                while let Ok(m) = self.rx.try_recv() {
                    s.take(m, &self.counters);
                }
                self.counters.spooled.store(s.pending(), Ordering::Relaxed);
                self.counters.depth.store(s.pending(), Ordering::Relaxed);
                self.counters
                    .spool_bytes
                    .store(s.bytes(), Ordering::Relaxed);
            }
            None => {
                let mut q = VecDeque::new();
                self.pump(&mut q);
                let left = q.len() as u64 + self.rx.try_iter().count() as u64;
                self.counters.undelivered.fetch_add(left, Ordering::Relaxed);
                // Those are lost (counted above), no longer waiting.
                self.counters.depth.store(0, Ordering::Relaxed);
            }
        }
        self.transport.close();
    }

    fn pump(&mut self, backlog: &mut dyn Backlog) {
        let max = self.transport.max_batch().clamp(1, self.batch_cap);
        loop {
            let ready = backlog.len() > 0 && Instant::now() >= self.next_try;
            let wait = if ready {
                Duration::ZERO
            } else {
                Duration::from_millis(50)
            };
            if backlog.room(max) {
                if let Ok(m) = self.rx.recv_timeout(wait) {
                    backlog.take(m, &self.counters);
                }
                while backlog.room(max) {
                    match self.rx.try_recv() {
                        Ok(m) => backlog.take(m, &self.counters),
                        Err(_) => break,
                    }
                }
            } else if !ready {
                // A full batch waits out its backoff; the queue fills meanwhile.
                std::thread::sleep(
                    self.next_try
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(50)),
                );
            }
            // Batching outputs wait a moment for a batch to fill rather than send a
            // request per alert as the alerts trickle in.
            if max > 1
                && backlog.len() > 0
                && backlog.len() < max as u64
                && !self.stop.load(Ordering::Relaxed)
            {
                let until = Instant::now() + LINGER;
                while backlog.len() < max as u64 && backlog.room(max) {
                    let now = Instant::now();
                    if now >= until {
                        break;
                    }
                    if let Ok(m) = self.rx.recv_timeout(until - now) {
                        backlog.take(m, &self.counters);
                    }
                }
            }
            // A bounded run of sends, then back to taking in the queue.
            let mut rounds = 0;
            while Instant::now() >= self.next_try && backlog.len() > 0 && rounds < 64 {
                rounds += 1;
                let batch = backlog.front(max);
                if batch.is_empty() {
                    break;
                }
                match self.transport.send(&batch) {
                    Ok(()) => {
                        self.counters
                            .sent
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        self.backoff = INITIAL_BACKOFF;
                        backlog.pop(batch.len());
                    }
                    Err(SendError::Reject(why)) => {
                        tracing::error!(output = %self.label, %why, n = batch.len(), "batch rejected; dropped");
                        self.counters
                            .rejected
                            .fetch_add(batch.len() as u64, Ordering::Relaxed);
                        backlog.pop(batch.len());
                    }
                    Err(SendError::Retry(why)) => {
                        tracing::warn!(output = %self.label, %why, "send failed; retrying");
                        self.counters.send_errors.fetch_add(1, Ordering::Relaxed);
                        self.counters.retries.fetch_add(1, Ordering::Relaxed);
                        self.next_try = Instant::now() + jitter(self.backoff);
                        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
            self.counters
                .depth
                .store(backlog.len() + self.rx.len() as u64, Ordering::Relaxed);
            self.counters
                .spool_bytes
                .store(backlog.bytes(), Ordering::Relaxed);
            if self.stop.load(Ordering::Relaxed)
                && ((self.rx.is_empty() && backlog.len() == 0) || self.past_deadline())
            {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails the first `fail` sends, rejects bodies starting with "bad", records the rest.
    struct Flaky {
        fail: usize,
        got: Arc<Mutex<Vec<Vec<u8>>>>,
        batch: usize,
    }

    impl Transport for Flaky {
        fn max_batch(&self) -> usize {
            self.batch
        }
        fn send(&mut self, batch: &[Message]) -> Result<(), SendError> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(SendError::Retry("down".into()));
            }
            if batch.iter().any(|m| m.body.starts_with(b"bad")) {
                return Err(SendError::Reject("400".into()));
            }
            let mut g = self.got.lock().unwrap();
            g.extend(batch.iter().map(|m| m.body.clone()));
            Ok(())
        }
    }

    fn msg(s: &str) -> Message {
        Message {
            kind: Kind::Alert,
            severity: 3,
            time: 0,
            body: s.as_bytes().to_vec(),
        }
    }

    #[test]
    fn retries_keep_order_and_rejections_are_counted() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let t = Flaky {
            fail: 3,
            got: got.clone(),
            batch: 1,
        };
        let mut d = Delivery::start("test".into(), Box::new(t), Arc::default(), None).unwrap();
        let h = d.handle().unwrap();
        for s in ["a", "b", "bad", "c"] {
            h.send(msg(s));
        }
        drop(h);
        let st = d.finish(Duration::from_secs(10));
        assert_eq!(
            *got.lock().unwrap(),
            vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            (st.sent, st.rejected, st.send_errors, st.lost()),
            (3, 1, 3, 1)
        );
    }

    /// Found by benches/alerts.sh: the thread used to move the whole queue into an
    /// unbounded list while the receiver was down, so memory grew without bound and
    /// nothing was ever counted as `queue_full`.
    #[test]
    fn a_dead_receiver_holds_at_most_the_queue_in_memory_and_counts_the_rest() {
        let t = Flaky {
            fail: usize::MAX,
            got: Arc::default(),
            batch: 8,
        };
        let mut d = Delivery::start("dead".into(), Box::new(t), Arc::default(), None).unwrap();
        let h = d.handle().unwrap();
        let total = 2 * QUEUE_LEN as u64 + 100;
        for _ in 0..total {
            h.send(msg("x"));
        }
        drop(h);
        let st = d.finish(Duration::from_millis(200));
        assert!(st.queue_full >= QUEUE_LEN as u64 - 8, "{st:?}");
        assert!(st.undelivered_at_exit <= QUEUE_LEN as u64 + 8, "{st:?}");
        assert_eq!(st.queue_full + st.undelivered_at_exit, total, "{st:?}");
        assert_eq!(st.sent, 0);
    }

    #[test]
    fn batches_fill_up_to_the_transports_maximum_and_a_spool_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        // Run 1: the receiver never answers; everything stays in the spool.
        let t = Flaky {
            fail: usize::MAX,
            got: got.clone(),
            batch: 4,
        };
        let mut d = Delivery::start(
            "t".into(),
            Box::new(t),
            Arc::default(),
            Some((dir.path(), 1 << 20)),
        )
        .unwrap();
        let h = d.handle().unwrap();
        for i in 0..10 {
            h.send(msg(&format!("m{i}")));
        }
        drop(h);
        let st = d.finish(Duration::from_millis(300));
        assert_eq!((st.sent, st.spooled_at_exit, st.lost()), (0, 10, 0));
        // Run 2: the receiver is back: the spooled ten go out first, in order.
        let t = Flaky {
            fail: 0,
            got: got.clone(),
            batch: 4,
        };
        let mut d = Delivery::start(
            "t".into(),
            Box::new(t),
            Arc::default(),
            Some((dir.path(), 1 << 20)),
        )
        .unwrap();
        d.handle().unwrap().send(msg("new"));
        let st = d.finish(Duration::from_secs(10));
        let mut want: Vec<Vec<u8>> = (0..10).map(|i| format!("m{i}").into_bytes()).collect();
        want.push(b"new".to_vec());
        assert_eq!(*got.lock().unwrap(), want);
        assert_eq!((st.sent, st.spooled_at_exit), (11, 0));
    }
}
