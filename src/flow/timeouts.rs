//! Per-state flow timeouts in packet time.  Defaults are Zeek's: `tcp_attempt_delay`
//! 5 s, `tcp_inactivity_timeout` 5 min (also after one side of an established
//! connection closed), `tcp_partial_close_delay` 3 s after a FIN on a connection never
//! seen established, `tcp_close_delay` 5 s, `tcp_reset_delay` 5 s, `udp_inactivity_timeout` and
//! `icmp_inactivity_timeout` 1 min, unknown protocols 1 min, and the DNS analyzer's
//! `dns_session_timeout` 10 s for UDP port 53.

use crate::time::{Nanos, NANOS_PER_SEC};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp_attempt: Nanos,
    pub tcp_established: Nanos,
    pub tcp_closing: Nanos,
    pub tcp_partial_close: Nanos,
    pub tcp_closed: Nanos,
    pub tcp_reset: Nanos,
    pub udp: Nanos,
    /// UDP flows with port 53 on either end.
    pub dns: Nanos,
    pub icmp: Nanos,
    pub other: Nanos,
}

impl Default for Timeouts {
    fn default() -> Self {
        let s = NANOS_PER_SEC;
        Timeouts {
            tcp_attempt: 5 * s,
            tcp_established: 300 * s,
            tcp_closing: 300 * s,
            tcp_partial_close: 3 * s,
            tcp_closed: 5 * s,
            tcp_reset: 5 * s,
            udp: 60 * s,
            dns: 10 * s,
            icmp: 60 * s,
            other: 60 * s,
        }
    }
}

/// Names accepted by `--timeout NAME=SECONDS`.
pub const TIMEOUT_NAMES: &[&str] = &[
    "tcp_attempt",
    "tcp_established",
    "tcp_closing",
    "tcp_partial_close",
    "tcp_closed",
    "tcp_reset",
    "udp",
    "dns",
    "icmp",
    "other",
];

impl Timeouts {
    /// Zeek's defaults with every `--timeout NAME=SECS` applied, in order.
    pub fn from_flags(flags: &[String]) -> Result<Timeouts, String> {
        let mut t = Timeouts::default();
        for f in flags {
            t.set(f).map_err(|e| format!("--timeout {e}"))?;
        }
        Ok(t)
    }

    /// Sets one timeout from `NAME=SECONDS` (seconds may be fractional).
    pub fn set(&mut self, spec: &str) -> Result<(), String> {
        let (name, value) = spec
            .split_once('=')
            .ok_or_else(|| format!("'{spec}': expected NAME=SECONDS"))?;
        let secs: f64 = value
            .trim()
            .parse()
            .map_err(|_| format!("'{spec}': '{value}' is not a number of seconds"))?;
        if !(secs > 0.0 && secs.is_finite()) {
            return Err(format!(
                "'{spec}': a timeout must be a positive number of seconds"
            ));
        }
        let ns = (secs * NANOS_PER_SEC as f64) as Nanos;
        let slot = match name.trim() {
            "tcp_attempt" => &mut self.tcp_attempt,
            "tcp_established" => &mut self.tcp_established,
            "tcp_closing" => &mut self.tcp_closing,
            "tcp_partial_close" => &mut self.tcp_partial_close,
            "tcp_closed" => &mut self.tcp_closed,
            "tcp_reset" => &mut self.tcp_reset,
            "udp" => &mut self.udp,
            "dns" => &mut self.dns,
            "icmp" => &mut self.icmp,
            "other" => &mut self.other,
            other => {
                return Err(format!(
                    "unknown timeout '{other}'; known: {}",
                    TIMEOUT_NAMES.join(", ")
                ))
            }
        };
        *slot = ns;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_and_rejects() {
        let mut t = Timeouts::default();
        t.set("udp=2.5").unwrap();
        assert_eq!(t.udp, 2_500_000_000);
        assert!(t.set("udp").is_err());
        assert!(t.set("bogus=1").unwrap_err().contains("known:"));
        assert!(t.set("udp=-1").is_err());
        assert!(t.set("udp=abc").is_err());
    }
}
