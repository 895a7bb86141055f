//! Live packet sources: one libpcap handle per interface (immediate mode, a sized
//! kernel buffer) and the thread that reads it.  A capture thread frames packets
//! into small batches, decodes them with its own decoder and routes each flow packet
//! to the worker that owns its flow (the symmetric hash, as replay routes), over a
//! bounded channel.  Live input has no order to keep across interfaces, so there is
//! no sequencing here: each worker's table copes with slightly late packets.
//!
//! Kernel and interface drops (`pcap_stats`) are read every second and at the end
//! into [`IfaceCounters`], for the summary.  Errors never panic: a handle that cannot
//! be opened is an [`OpenError`] naming the interface (and the capability missing),
//! and an interface that vanishes ends its thread with the reason recorded.

use crate::capture::{put, LinkType, PacketBatch, PacketHeader};
use crate::decode::FlowBatch;
use crate::pipeline::worker::{SubBatch, Worker};
use crate::time::{Nanos, NANOS_PER_SEC};
use crossbeam_channel::Sender;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a handle is opened.
#[derive(Clone, Debug)]
pub struct LiveSettings {
    pub snaplen: u32,
    pub buffer_size: u32,
    pub promisc: bool,
    pub bpf: Option<String>,
}

/// A packet batch is handed on at this many packets ...
const BATCH_PACKETS: usize = 256;
/// ... or once its first packet is this old, so a trickle still reaches the rules fast.
const BATCH_AGE: Duration = Duration::from_millis(5);
/// How long a quiet interface waits before the thread looks at the stop flag and
/// hands on a partial batch.  The handle is non-blocking and the wait is our own
/// `poll(2)`: libpcap 1.10's read timeout is not honoured in immediate mode (a quiet
/// `lo` kept `pcap_next_ex` blocked for seconds after SIGTERM).
const READ_TIMEOUT_MS: i32 = 50;
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Why a capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "cannot capture on {iface}: {message}\n  live capture needs CAP_NET_RAW (and CAP_NET_ADMIN \
         for promiscuous mode on a bridge): run as root, or grant them to the binary with \
         `setcap cap_net_raw,cap_net_admin=eip /path/to/bridgewatch`"
    )]
    Permission { iface: String, message: String },
    #[error("cannot capture on {iface}: no such interface ({message})")]
    NoDevice { iface: String, message: String },
    #[error("--bpf '{expr}' on {iface}: {message}")]
    Filter {
        iface: String,
        expr: String,
        message: String,
    },
    #[error("cannot capture on {iface}: {message}")]
    Other { iface: String, message: String },
}

/// An open handle and what it captures.
pub struct LiveCapture {
    pub iface: String,
    pub link: LinkType,
    cap: pcap::Capture<pcap::Active>,
}

/// Opens `iface` for live capture with `s`.
pub fn open(iface: &str, s: &LiveSettings) -> Result<LiveCapture, OpenError> {
    let classify = |e: pcap::Error| {
        let message = e.to_string();
        let lower = message.to_ascii_lowercase();
        if lower.contains("permission") || lower.contains("not permitted") {
            OpenError::Permission {
                iface: iface.into(),
                message,
            }
        } else if lower.contains("no such device") || lower.contains("doesn't exist") {
            OpenError::NoDevice {
                iface: iface.into(),
                message,
            }
        } else {
            OpenError::Other {
                iface: iface.into(),
                message,
            }
        }
    };
    let inactive = pcap::Capture::from_device(iface).map_err(classify)?;
    let mut cap = inactive
        .immediate_mode(true)
        .promisc(s.promisc)
        .snaplen(s.snaplen.min(i32::MAX as u32) as i32)
        .buffer_size(s.buffer_size.min(i32::MAX as u32) as i32)
        .timeout(READ_TIMEOUT_MS)
        .open()
        .map_err(classify)?
        .setnonblock()
        .map_err(classify)?;
    if let Some(expr) = &s.bpf {
        cap.filter(expr, true).map_err(|e| OpenError::Filter {
            iface: iface.into(),
            expr: expr.clone(),
            message: e.to_string(),
        })?;
    }
    let link = LinkType::from_linktype(cap.get_datalink().0 as u32);
    Ok(LiveCapture {
        iface: iface.into(),
        link,
        cap,
    })
}

/// What one interface's capture saw, shared with the summary.
#[derive(Debug, Default)]
pub struct IfaceCounters {
    /// Packets read from the handle.
    pub packets: AtomicU64,
    /// libpcap's `ps_recv`, `ps_drop` (no room in the kernel buffer) and `ps_ifdrop`
    /// (dropped by the interface or driver), accumulated across 32-bit wraps.
    pub received: AtomicU64,
    pub kernel_dropped: AtomicU64,
    pub if_dropped: AtomicU64,
    /// Why the capture ended early (the interface vanished, a read error).
    pub error: Mutex<Option<String>>,
}

impl IfaceCounters {
    pub fn error(&self) -> Option<String> {
        match self.error.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// The last raw `pcap_stats` values, to accumulate deltas across wraps.
#[derive(Default)]
struct LastStat {
    received: u32,
    dropped: u32,
    if_dropped: u32,
}

fn read_stats(cap: &mut pcap::Capture<pcap::Active>, last: &mut LastStat, c: &IfaceCounters) {
    if let Ok(s) = cap.stats() {
        let add = |ctr: &AtomicU64, now: u32, before: &mut u32| {
            ctr.fetch_add(now.wrapping_sub(*before) as u64, Ordering::Relaxed);
            *before = now;
        };
        add(&c.received, s.received, &mut last.received);
        add(&c.kernel_dropped, s.dropped, &mut last.dropped);
        add(&c.if_dropped, s.if_dropped, &mut last.if_dropped);
    }
}

/// Reads `live` until `stop` is set or the interface fails, decoding with `decoder`
/// (a worker used only for its decoder and routing) and sending each shard's flow
/// packets to `shards[i]`.  Returns the decoder worker, whose stats count the packets.
pub fn run_capture(
    mut live: LiveCapture,
    iface_id: u16,
    mut decoder: Worker,
    shards: Vec<Sender<SubBatch>>,
    counters: Arc<IfaceCounters>,
    stop: Arc<AtomicBool>,
) -> Worker {
    let mut batch = PacketBatch::default();
    let mut out: Vec<FlowBatch> = shards.iter().map(|_| FlowBatch::default()).collect();
    let mut last = LastStat::default();
    let mut last_stats = Instant::now();
    let mut batch_started = Instant::now();
    let mut number: u64 = 0;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        match live.cap.next_packet() {
            Ok(p) => {
                number += 1;
                if batch.packets.is_empty() {
                    batch_started = Instant::now();
                }
                let ts = p.header.ts.tv_sec as Nanos * NANOS_PER_SEC
                    + p.header.ts.tv_usec as Nanos * 1_000;
                let (buf, len) = batch.data.owned_mut();
                let offset = *len as u32;
                put(buf, len, p.data);
                batch.packets.push(PacketHeader {
                    offset,
                    caplen: p.data.len() as u32,
                    orig_len: p.header.len.max(p.data.len() as u32),
                    ts,
                    link: live.link,
                    iface: iface_id,
                    number,
                });
                counters.packets.fetch_add(1, Ordering::Relaxed);
                let full =
                    batch.packets.len() >= BATCH_PACKETS || batch_started.elapsed() >= BATCH_AGE;
                if full && !dispatch(&mut decoder, &mut batch, &mut out, &shards) {
                    break;
                }
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing buffered: hand on what we hold, then sleep until readable.
                if !dispatch(&mut decoder, &mut batch, &mut out, &shards) {
                    break;
                }
                wait_readable(&live.cap, READ_TIMEOUT_MS);
            }
            Err(e) => {
                let msg = format!("{}: capture ended: {e}", live.iface);
                tracing::warn!("{msg}");
                if let Ok(mut g) = counters.error.lock() {
                    *g = Some(msg);
                }
                break;
            }
        }
        if last_stats.elapsed() >= STATS_EVERY {
            read_stats(&mut live.cap, &mut last, &counters);
            last_stats = Instant::now();
        }
    }
    dispatch(&mut decoder, &mut batch, &mut out, &shards);
    read_stats(&mut live.cap, &mut last, &counters);
    decoder
}

/// Decodes `batch` and sends each shard its flow packets; false when the workers are
/// gone (nothing left to feed).
fn dispatch(
    decoder: &mut Worker,
    batch: &mut PacketBatch,
    out: &mut [FlowBatch],
    shards: &[Sender<SubBatch>],
) -> bool {
    if batch.packets.is_empty() {
        return true;
    }
    let max_ts = decoder.decode_batch(batch, out);
    decoder.publish();
    batch.clear();
    for (o, tx) in out.iter_mut().zip(shards) {
        if o.is_empty() {
            continue;
        }
        let sub = SubBatch {
            packets: std::mem::take(o),
            max_ts,
        };
        if tx.send(sub).is_err() {
            return false;
        }
    }
    true
}

/// Waits up to `ms` milliseconds for the handle to have packets.
fn wait_readable(cap: &pcap::Capture<pcap::Active>, ms: i32) {
    use std::os::unix::io::AsRawFd;
    let mut fds = [libc::pollfd {
        fd: cap.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: `fds` is a valid array of one pollfd for the duration of the call, and
    // the descriptor belongs to the open handle borrowed here.  Errors (EINTR from a
    // signal) only end the wait early.
    unsafe {
        libc::poll(fds.as_mut_ptr(), 1, ms);
    }
}
