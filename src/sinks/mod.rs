//! Outputs: how flow records and alerts leave bridgewatch for the tools people
//! already run.  Today this holds the formats SIEMs parse ([`format`]: native JSON,
//! ECS, OCSF, CEF) and the syslog framing ([`syslog`]); replay writes any of them to
//! stdout or a file.  Delivery to remote receivers (queues, retry, spool) builds on
//! these and is not here yet.

pub mod format;
pub mod spool;
pub mod syslog;
pub mod syslog_sender;
