//! bridgewatch: a network-side traffic detector for container hosts.
//!
//! The data path is `capture` (packet sources) → `decode` (borrowed views over
//! each packet, producing compact [`decode::FlowPacket`] summaries) → `flow`
//! (sharded bidirectional flow tables) → records and alerts.  `pipeline` wires
//! the stages together over worker threads (`watch`: the same workers fed by live
//! capture); `cli`/`main.rs` only parse flags.

pub mod attribution;
pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod flow;
pub mod logging;
pub mod metrics;
pub mod passive_dns;
pub mod pipeline;
pub mod privileges;
pub mod rules;
pub mod signals;
pub mod sinks;
pub mod stats;
pub mod time;
pub mod watch;
