//! Outputs: how flow records and alerts leave bridgewatch for the tools people
//! already run.  [`format`]: the lines SIEMs parse (native JSON, ECS, OCSF, CEF);
//! [`delivery`]: queue, spool ([`spool`]), batching and retry for every remote output;
//! [`file_out`]: files with size rotation and SIGUSR1 reopen;
//! transports: [`syslog_out`] (UDP/TCP/TLS, with [`syslog`] framing and [`tls`]) and [`http_out`]
//! (generic JSON webhook, Splunk HEC, Elasticsearch `_bulk`).

pub mod delivery;
pub mod file_out;
pub mod format;
pub mod http_out;
pub mod relp;
pub mod spool;
pub mod syslog;
pub mod syslog_out;
pub mod tls;
