//! Flags of `bridgewatch watch` (clap).  Kept apart from `cli.rs` so the live mode's
//! options grow without touching replay's; turning them into settings happens in
//! [`super::run`].

use crate::cli::{OutputArgs, RuleArgs};
use clap::Args;

#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Interface to capture on; repeatable.  On a container host, capture each bridge
    /// (docker0, br-*) rather than its veths as well: a packet crossing a bridge is
    /// seen on both, and would be counted twice.  Without -i: every docker0 and br-*
    /// bridge present at start (not their veths).
    #[arg(short = 'i', long = "interface", value_name = "IFACE")]
    pub interfaces: Vec<String>,

    /// Only packets matching this BPF filter expression (tcpdump syntax) are captured;
    /// applied in the kernel.
    #[arg(long, value_name = "EXPR")]
    pub bpf: Option<String>,

    /// Outputs, as for replay: --config FILE, --flows, --flows-format, --alerts,
    /// --alerts-format, --syslog, --http*, --spool-dir, --spool-max-bytes.
    #[command(flatten)]
    pub output: OutputArgs,

    /// --rules, --default-rules, --no-rules, --min-priority, --containers, as for
    /// replay; watch's --containers entries come before the Docker daemon's.
    #[command(flatten)]
    pub rule: RuleArgs,

    /// The Docker API that names the containers: unix:///path/to/docker.sock or
    /// tcp://HOST:PORT (default: $DOCKER_HOST, else unix:///var/run/docker.sock).
    /// Its events keep the inventory current; entries of --containers come first.
    /// An unreachable daemon is a warning: watch retries with backoff.
    #[arg(long, value_name = "URI")]
    pub docker_host: Option<String>,

    /// Do not ask the Docker daemon: attribute with --containers alone.
    #[arg(long, conflicts_with = "docker_host")]
    pub no_docker: bool,

    /// Sidecar mode: bridgewatch runs in one app container's network namespace
    /// (`network_mode: container:APP` / `service:app`, capture `-i eth0`), so the
    /// captured interfaces' addresses are that container's, not the host's.  It is
    /// named from the Docker API when reachable, else from the --container-* flags.
    #[arg(long)]
    pub sidecar: bool,

    /// Sidecar mode: the local container's name (default: this host name, which
    /// Docker sets to the container's short id).
    #[arg(long, value_name = "NAME", requires = "sidecar")]
    pub container_name: Option<String>,

    /// Sidecar mode: the local container's image (repo:tag).
    #[arg(long, value_name = "IMAGE", requires = "sidecar")]
    pub container_image: Option<String>,

    /// Sidecar mode: the local container's id (default: the host name).
    #[arg(long, value_name = "ID", requires = "sidecar")]
    pub container_id: Option<String>,

    /// Sidecar mode: a label of the local container; repeatable.
    #[arg(
        long = "container-label",
        value_name = "KEY=VALUE",
        requires = "sidecar"
    )]
    pub container_labels: Vec<String>,

    /// Kernel capture buffer per interface, in bytes: what absorbs bursts while the
    /// workers are busy.  Packets that do not fit are counted as kernel drops.
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 20)]
    pub buffer_size: u32,

    /// Bytes captured of each packet (headers are all bridgewatch reads; IP lengths
    /// come from the headers, so counters stay exact when packets are cut; a DNS
    /// answer longer than this is parsed as far as it goes).  Keep it small: in
    /// immediate mode libpcap gives every slot of the kernel ring this size, so
    /// 262144 leaves 128 slots in 32 MiB and drops bursts a 2048 ring of 16k absorbs
    /// (benches/watch_capture.sh: 28% kernel drops at 160k pps, against none).
    #[arg(long, value_name = "N", default_value_t = 2048)]
    pub snaplen: u32,

    /// Do not put the interfaces into promiscuous mode.  A Linux bridge shows the
    /// traffic it forwards between containers only to a promiscuous capture.
    #[arg(long)]
    pub no_promisc: bool,

    /// Write an interim record (`"interim": true`) for every flow that has been
    /// open this long and saw packets since the last interim sweep; 0 turns it off.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    pub active_timeout: f64,

    /// Override a flow timeout (NAME=SECS; names as for replay); repeatable.
    #[arg(long = "timeout", value_name = "NAME=SECS")]
    pub timeouts: Vec<String>,

    /// Flow worker threads (default: the number of CPUs, at most 8).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Most flows tracked at once over all threads.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,

    /// Seed of the Community ID hash.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub community_id_seed: u16,

    /// Serve /metrics (Prometheus text, with kernel and interface drops per
    /// interface), /healthz and /readyz (ready once every capture is open, the rules
    /// are loaded and, with Docker, the inventory synced) over HTTP on this address:
    /// PORT or :PORT (127.0.0.1), IP:PORT, [IPv6]:PORT; port 0 picks a free one
    /// (printed on stderr). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// With --listen: keep serving this many seconds after SIGINT/SIGTERM has
    /// flushed everything, so a scraper reads the final counters.
    #[arg(long, value_name = "SECS", requires = "listen")]
    pub linger: Option<f64>,

    /// Also write the run's counters as JSON to this path at the end (- for stderr).
    #[arg(long, value_name = "PATH|-")]
    pub stats_json: Option<String>,

    /// No summary on stderr at the end.
    #[arg(short, long)]
    pub quiet: bool,
}
