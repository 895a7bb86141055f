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
                  Start with:  bridgewatch replay pcaps/demo-container-host.pcap"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Read capture files (pcap, pcapng, gzip of either) and write one flow record per line.
    #[command(
        long_about = "Read capture files and write one JSON flow record per line.\n\n\
        Several files are read in the order given, as one capture. Classic pcap (micro- and \
        nanosecond), pcapng (several interfaces and link types) and gzip of either are read; \
        link types Ethernet, Linux SLL/SLL2, raw IPv4/IPv6 and BSD loopback.\n\n\
        Flow timing runs on packet time, so a replay gives the same flows at any speed and \
        with any --threads. A summary (packets, flows, decode failures by kind, evictions, \
        Mpps) goes to stderr at the end.\n\n\
        Examples:\n  \
        bridgewatch replay pcaps/demo-container-host.pcap\n  \
        bridgewatch replay --flows flows.jsonl --threads 4 day1.pcap.gz day2.pcapng\n  \
        bridgewatch replay --bpf 'tcp port 443' --flows - capture.pcap | jq .community_id"
    )]
    Replay(ReplayArgs),
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// Capture files, read in order as one capture.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Where to write flow records (JSON lines): a file path, or - for stdout.
    #[arg(long, value_name = "PATH|-", default_value = "-")]
    pub flows: String,

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

    /// No summary on stderr and no progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}
