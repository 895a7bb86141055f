//! Command-line definitions (clap).  Only flags live here: turning them into
//! validated settings happens in `main.rs` before anything runs.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "bridgewatch",
    version,
    about = "Network-side traffic detector for container hosts",
    long_about = "bridgewatch turns packets into bidirectional flow records (Zeek conn.log fields, \
                  Community ID) and checks every flow against Falco-style connection policies.\n\n\
                  Start with:  bridgewatch replay --containers pcaps/demo-containers.json pcaps/demo-container-host.pcap"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log format on stderr: text, or json (one object per line, for log shippers).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text",
          value_parser = crate::logging::FORMATS)]
    pub log_format: String,

    /// Log level (error, warn, info, debug, trace) or a filter such as
    /// `warn,bridgewatch=debug`. Default: $RUST_LOG, else $BRIDGEWATCH_LOG, else warn.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read capture files (pcap, pcapng, gzip of either): alerts, flow records and a summary.
    #[command(
        long_about = "Read capture files, check every flow against the rules and write alerts \
        (and, with --flows, one JSON flow record per line).\n\n\
        Several files are read in the order given, as one capture. Classic pcap (micro- and \
        nanosecond), pcapng (several interfaces and link types) and gzip of either are read; \
        link types Ethernet, Linux SLL/SLL2, raw IPv4/IPv6 and BSD loopback.\n\n\
        Flow timing runs on packet time, so a replay gives the same flows at any speed and \
        with any --threads. A summary (packets, flows, decode failures by kind, evictions, \
        Mpps) goes to stderr at the end.\n\n\
        Every flow is checked against the rules (the shipped policies unless --rules says \
        otherwise); alerts go to stdout unless --alerts or another output (--syslog, --http, \
        --config) takes them. SIGINT/SIGTERM stop reading and flush everything; SIGUSR1 \
        reopens output files.\n\n\
        Examples:\n  \
        bridgewatch replay --containers pcaps/demo-containers.json pcaps/demo-container-host.pcap\n  \
        bridgewatch replay --flows flows.jsonl --alerts alerts.jsonl --threads 4 day1.pcap.gz day2.pcapng\n  \
        bridgewatch replay --no-rules --bpf 'tcp port 443' --flows - capture.pcap | jq .community_id\n  \
        bridgewatch replay --default-rules --rules local-rules.yaml capture.pcap\n  \
        bridgewatch replay --config docs/outputs.example.toml capture.pcap"
    )]
    Replay(Box<ReplayArgs>),

    /// Capture live on container bridges: flow records naming the containers at each
    /// end, and alerts, until SIGINT/SIGTERM (then flush and print the summary).
    #[command(
        long_about = "Capture live with libpcap on one or more interfaces (-i, repeatable; \
        on a container host: each bridge, docker0 and br-*), check every flow against the \
        rules and write alerts (stdout by default) and, with --flows, one JSON flow record \
        per line with the containers behind both ends (--containers and the Docker API) and the \
        direction. An end is named by the capture interface when it is a container's veth \
        (-i vethXXXX), else by its first packet's source MAC, else by its IP, each leased by \
        time.\n\n\
        Quiet flows end on wall-clock time; flows open longer than --active-timeout get \
        interim records. SIGINT or SIGTERM stops the capture, writes every open flow and \
        alert, prints the summary (with kernel and interface drops per interface) and exits 0.\n\n\
        SIGHUP reloads the rules and the outputs (--config read again): outputs with the same \
        name and settings keep running with their queues and spools; the others are started, \
        or drained within flush_timeout (what they cannot deliver is counted as dropped); \
        flows in progress are untouched. Rules or a config that do not load change nothing \
        and are reported on stderr. SIGUSR1 reopens output files.\n\n\
        Needs CAP_NET_RAW (and CAP_NET_ADMIN for promiscuous mode).\n\n\
        Example:\n  \
        bridgewatch watch -i docker0 -i br-3f2a --containers inventory.json --flows flows.jsonl"
    )]
    Watch(Box<crate::watch::cli::WatchArgs>),

    /// List the fields rule conditions and outputs can use, with their types.
    Fields,

    /// Work with rule files.
    #[command(subcommand)]
    Rules(RulesCommand),

    /// Print the containers the Docker daemon runs, in the JSON that `replay --containers` reads.
    #[command(
        long_about = "Ask the Docker daemon which containers run (id, name, image, labels, \
        addresses, MACs, networks, pid, network mode) and print them as the inventory JSON that \
        `replay --containers` reads, so a capture taken on this host replays with its attribution.\n\n\
        With --follow it keeps watching the daemon's events and prints the whole inventory again, \
        as one JSON line, every time it changes; containers that end stay listed with `until` so a \
        reused IP is attributed by time. If the daemon is unreachable it says why and retries with \
        backoff.\n\n\
        Needs read access to the Docker socket (root, or the docker group).\n\n\
        Examples:\n  \
        bridgewatch inventory > containers.json\n  \
        bridgewatch inventory --docker-host tcp://127.0.0.1:2375\n  \
        bridgewatch inventory --follow | jq -c '[.containers[].name]'"
    )]
    Inventory(InventoryArgs),
}

#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// The Docker API: unix:///path/to/docker.sock or tcp://HOST:PORT. Default: $DOCKER_HOST,
    /// else unix:///var/run/docker.sock.
    #[arg(long, value_name = "URI")]
    pub docker_host: Option<String>,

    /// Keep watching: print the whole inventory as one JSON line on every change.
    #[arg(long)]
    pub follow: bool,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Check rule files (or folders of *.yaml) without running anything: errors as
    /// file:line:column with the offending line; exit 0 when valid, 1 otherwise.
    Check {
        /// Rule files or folders, loaded in order as `replay --rules` would.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        /// Check them after the shipped default rules (as `--default-rules` loads them).
        #[arg(long)]
        with_defaults: bool,
    },
}

/// Which rules run, and the static inventory naming containers: the same for
/// `replay` and `watch`.
#[derive(Args, Debug, Clone)]
pub struct RuleArgs {
    /// Rule file or folder of *.yaml files; repeatable, loaded in order (later files
    /// override earlier items). Default: the shipped policies built into the binary.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,

    /// Load the shipped policies first, then the --rules files (to extend or override them).
    #[arg(long)]
    pub default_rules: bool,

    /// Evaluate no rules at all (flow records only).
    #[arg(long, conflicts_with_all = ["rules", "default_rules"])]
    pub no_rules: bool,

    /// Only rules at or above this priority run: EMERGENCY ALERT CRITICAL ERROR WARNING
    /// NOTICE INFORMATIONAL DEBUG.
    #[arg(long, value_name = "LEVEL", default_value = "DEBUG")]
    pub min_priority: String,

    /// Container inventory (JSON, the format `bridgewatch inventory` writes) naming the
    /// containers behind addresses in the capture.
    #[arg(long, value_name = "FILE")]
    pub containers: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Capture files, read in order as one capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output flags and --config, shared with `watch`.
    #[command(flatten)]
    pub output: OutputArgs,

    /// Rules and the container inventory, shared with `watch`.
    #[command(flatten)]
    pub rule: RuleArgs,

    /// Only packets matching this BPF filter expression (tcpdump syntax) are processed.
    #[arg(long, value_name = "EXPR")]
    pub bpf: Option<String>,

    /// Seed of the Community ID hash (the spec's default is 0).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub community_id_seed: u16,

    /// Worker threads (default: the number of CPUs, at most 8).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Most flows tracked at once over all threads; when full, the flow closest to its
    /// timeout is written out early (counted as evicted in the summary).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_flows: usize,

    /// Do not put VLAN ids into the flow key (the same 5-tuple on two VLANs is then one flow).
    #[arg(long)]
    pub no_vlan_key: bool,

    /// Put the capture interface into the flow key (pcapng files with several interfaces).
    #[arg(long)]
    pub iface_key: bool,

    /// Override a flow timeout, in seconds of packet time; repeatable. Names and Zeek's
    /// defaults: tcp_attempt=5 tcp_established=300 tcp_closing=300 tcp_partial_close=3 tcp_closed=5
    /// tcp_reset=5 udp=60 dns=10 (UDP port 53) icmp=60 other=60.
    #[arg(long = "timeout", value_name = "NAME=SECS")]
    pub timeouts: Vec<String>,

    /// Also write the run's counters as JSON to this path (- for stderr).
    #[arg(long, value_name = "PATH|-")]
    pub stats_json: Option<String>,

    /// Frame uncompressed capture files from a read-only memory mapping instead of
    /// reading them: no faster for files already in the page cache (within 5% either
    /// way), and a file truncated while mapped kills the process (SIGBUS).
    #[arg(long)]
    pub mmap: bool,

    /// Serve /metrics (Prometheus text), /healthz and /readyz over HTTP on this
    /// address: PORT or :PORT (127.0.0.1), IP:PORT, [IPv6]:PORT; port 0 picks a free
    /// one (the address is printed on stderr). Off by default.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// With --listen: keep serving this many seconds after the replay ends, so a
    /// scraper reads the final counters.
    #[arg(long, value_name = "SECS", requires = "listen")]
    pub linger: Option<f64>,

    /// No summary on stderr and no progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The outputs of a run, shared by `replay` and `watch`: the `--config` file and the
/// single-output flags (see `config::outputs_from`).
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Outputs file (TOML, or YAML by the .yaml/.yml extension): any number of
    /// outputs, each with a sink (stdout, file with rotation, syslog, http), a format,
    /// what it carries (alerts, flows or both), a minimum priority and delivery
    /// settings. Unknown keys are errors. The output flags below add outputs to it.
    /// watch reads it again on SIGHUP: outputs with the same name and settings keep
    /// running, the others are started or drained; a file that does not load changes
    /// nothing. Format and a complete example: README, "Config file";
    /// docs/outputs.example.toml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write flow records (JSON lines) to this file, or - for stdout. Without it (or
    /// a --config output that carries flows) no flow records are written. In watch,
    /// native records gain `interim`, `direction`, `orig_container`, `resp_container`.
    #[arg(long, value_name = "PATH|-")]
    pub flows: Option<String>,

    /// Format of --flows lines: native (conn.log-style), ecs, ocsf (Network Activity
    /// 4001) or cef.
    #[arg(long, value_name = "FORMAT", default_value = "native")]
    pub flows_format: String,

    /// Where to write alerts (one per line, see --alerts-format): a file path, or - for
    /// stdout. Default: stdout, unless another output (--syslog, --http, --config)
    /// takes them.
    #[arg(long, value_name = "PATH|-")]
    pub alerts: Option<String>,

    /// Also send every alert to a syslog receiver: udp://HOST:PORT, tcp://HOST:PORT,
    /// tls://HOST:PORT (RFC 5424; TCP and TLS with RFC 6587 octet counting) or relp://HOST:PORT
    /// (RELP: each alert acknowledged by the receiver), optionally ?protocol=rfc3164 and
    /// &facility=N (default 16, local0). The message is the alert in --alerts-format
    /// (cef is what most SIEMs expect over syslog). Alerts that cannot be delivered
    /// are counted in the summary and make the exit status 1.
    #[arg(long, value_name = "URL")]
    pub syslog: Option<String>,

    /// For --syslog tls://: PEM file of the CA certificates the receiver's
    /// certificate must chain to (default: the Mozilla roots).
    #[arg(long, value_name = "FILE")]
    pub syslog_ca: Option<PathBuf>,

    /// For --syslog tls://: PEM client certificate (chain), for receivers that ask for one.
    #[arg(long, value_name = "FILE", requires = "syslog_key")]
    pub syslog_cert: Option<PathBuf>,

    /// For --syslog tls://: PEM private key of --syslog-cert.
    #[arg(long, value_name = "FILE", requires = "syslog_cert")]
    pub syslog_key: Option<PathBuf>,

    /// For --syslog tls://: the name the receiver's certificate must carry
    /// (default: the URL's host).
    #[arg(long, value_name = "NAME")]
    pub syslog_server_name: Option<String>,

    /// Also POST every alert, in batches, to this HTTP(S) endpoint (see --http-kind).
    /// Retries 408/429/5xx and unreachable endpoints with backoff; counts other refusals.
    #[arg(long, value_name = "URL")]
    pub http: Option<String>,

    /// What the --http endpoint is: webhook (a JSON array per batch), splunk (HTTP
    /// Event Collector; the path defaults to /services/collector/event) or
    /// elasticsearch (also OpenSearch; _bulk into --http-index).
    #[arg(long, value_name = "KIND", default_value = "webhook")]
    pub http_kind: String,

    /// Token: sent as `Authorization: Splunk TOKEN` for splunk, `Bearer TOKEN` otherwise.
    #[arg(long, value_name = "TOKEN")]
    pub http_token: Option<String>,

    /// Basic authentication for --http.
    #[arg(long, value_name = "USER:PASSWORD")]
    pub http_basic: Option<String>,

    /// Extra header for --http; repeatable.
    #[arg(long = "http-header", value_name = "NAME: VALUE")]
    pub http_headers: Vec<String>,

    /// Compress --http request bodies with gzip.
    #[arg(long)]
    pub http_gzip: bool,

    /// Alerts per --http request, at most.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub http_batch: usize,

    /// Seconds an --http request may take before it is retried.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub http_timeout: f64,

    /// Elasticsearch index for --http-kind elasticsearch; %Y %m %d come from the alert's time.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "bridgewatch-alerts-%Y.%m.%d"
    )]
    pub http_index: String,

    /// Spool --syslog and --http alerts under this directory (one subdirectory per
    /// output): each is written to disk before it is sent, so a receiver outage or a
    /// restart (even kill -9) loses nothing; what is not delivered by the end of the
    /// run (or within flush_timeout of SIGTERM) is sent first by the next run that
    /// uses the same directory.
    #[arg(long, value_name = "DIR")]
    pub spool_dir: Option<PathBuf>,

    /// Largest size of each output's spool; alerts that do not fit are dropped and counted.
    #[arg(long, value_name = "BYTES", default_value_t = 256 << 20)]
    pub spool_max_bytes: u64,

    /// Format of the alert lines: native (Falco's JSON keys plus the flow), ecs
    /// (Elastic Common Schema), ocsf (OCSF 1.3 Detection Finding) or cef (ArcSight
    /// CEF:0). Field mappings: README, "Output formats".
    #[arg(long, value_name = "FORMAT", default_value = "native")]
    pub alerts_format: String,

    /// Deduplicate alerts: at most one per rule and key (the flow's two ends, each
    /// its container or else its address) in each window of this many seconds of
    /// packet time; the next alert of the key carries the number held back
    /// (`suppressed`), and the summary counts them by rule. 0 turns it off.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub dedup_window: u64,
}
