//! A RELP client (the Reliable Event Logging Protocol as librelp and rsyslog's
//! imrelp speak it): one connection, frames `TXNR SP COMMAND SP DATALEN [SP DATA] LF`,
//! an `open` offer, one `syslog` command per message and one `rsp` per command.
//!
//! A message counts as delivered only when its `rsp 200` arrives.  The window is
//! one batch: every frame of the batch is written, then every answer is awaited
//! (with a timeout).  [`RelpConn::send_batch`] reports how many leading messages were
//! acknowledged before a failure, so the caller resends only the rest.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Transaction numbers run 1..=999_999_999 and then wrap to 1 (RELP spec).
const MAX_TXNR: u64 = 999_999_999;
/// Longest answer data we accept (an `rsp` is a status code and a short text).
const MAX_RSP: usize = 64 * 1024;
/// How long an answer may take before the connection is given up.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// An open RELP session.
pub struct RelpConn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    next: u64,
    out: Vec<u8>,
}

fn bad(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

fn frame(out: &mut Vec<u8>, txnr: u64, cmd: &str, data: &[u8]) {
    out.extend_from_slice(format!("{txnr} {cmd} {}", data.len()).as_bytes());
    if !data.is_empty() {
        out.push(b' ');
        out.extend_from_slice(data);
    }
    out.push(b'\n');
}

impl RelpConn {
    /// Connects and opens a session offering the `syslog` command.
    pub fn open(to: SocketAddr) -> std::io::Result<RelpConn> {
        let s = TcpStream::connect_timeout(&to, Duration::from_secs(2))?;
        s.set_write_timeout(Some(Duration::from_secs(5)))?;
        s.set_read_timeout(Some(ACK_TIMEOUT))?;
        s.set_nodelay(true)?;
        let mut c = RelpConn {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
            next: 1,
            out: Vec::new(),
        };
        let offers = b"relp_version=0\nrelp_software=bridgewatch\ncommands=syslog";
        let txnr = c.take_txnr();
        c.out.clear();
        frame(&mut c.out, txnr, "open", offers);
        c.writer.write_all(&c.out)?;
        let (rn, cmd, data) = c.read_frame()?;
        if rn != txnr || cmd != "rsp" || !data.starts_with(b"200") {
            return Err(bad(format!(
                "RELP open refused: {rn} {cmd} {}",
                String::from_utf8_lossy(&data)
            )));
        }
        Ok(c)
    }

    fn take_txnr(&mut self) -> u64 {
        let t = self.next;
        self.next = if t >= MAX_TXNR { 1 } else { t + 1 };
        t
    }

    /// Sends each message as a `syslog` command and waits for every answer.
    /// `acked` is set to how many leading messages got `rsp 200`, also on error.
    pub fn send_batch(&mut self, msgs: &[Vec<u8>], acked: &mut usize) -> std::io::Result<()> {
        *acked = 0;
        self.out.clear();
        let mut txnrs = Vec::with_capacity(msgs.len());
        for m in msgs {
            let t = self.take_txnr();
            txnrs.push(t);
            let mut out = std::mem::take(&mut self.out);
            frame(&mut out, t, "syslog", m);
            self.out = out;
        }
        self.writer.write_all(&self.out)?;
        // imrelp answers in order; anything else is a protocol error.
        for t in txnrs {
            let (rn, cmd, data) = self.read_frame()?;
            if cmd == "serverclose" {
                return Err(bad("RELP server closed the session".into()));
            }
            if rn != t || cmd != "rsp" {
                return Err(bad(format!("RELP: expected rsp for {t}, got {rn} {cmd}")));
            }
            if !data.starts_with(b"200") {
                return Err(bad(format!(
                    "RELP: message {t} refused: {}",
                    String::from_utf8_lossy(&data)
                )));
            }
            *acked += 1;
        }
        Ok(())
    }

    /// Ends the session politely (`close`, then its answer if it comes soon).
    pub fn close(&mut self) {
        let t = self.take_txnr();
        self.out.clear();
        frame(&mut self.out, t, "close", b"");
        if self.writer.write_all(&self.out).is_ok() {
            let _ = self
                .writer
                .set_read_timeout(Some(Duration::from_millis(500)));
            let _ = self.read_frame();
        }
        let _ = self.writer.shutdown(std::net::Shutdown::Both);
    }

    /// Reads one frame: (txnr, command, data).
    fn read_frame(&mut self) -> std::io::Result<(u64, String, Vec<u8>)> {
        let txnr = self.token(10)?;
        let txnr: u64 = txnr
            .parse()
            .map_err(|_| bad(format!("RELP: bad txnr {txnr:?}")))?;
        let cmd = self.token(32)?;
        // DATALEN is followed by SP and the data, or directly by LF when it is 0.
        let mut len: usize = 0;
        let mut digits = 0;
        let after = loop {
            let b = self.byte()?;
            if b.is_ascii_digit() && digits < 9 {
                len = len * 10 + usize::from(b - b'0');
                digits += 1;
            } else {
                break b;
            }
        };
        if digits == 0 || len > MAX_RSP {
            return Err(bad(format!("RELP: bad data length in {txnr} {cmd}")));
        }
        let mut data = vec![0; len];
        match after {
            b'\n' if len == 0 => return Ok((txnr, cmd, data)),
            b' ' => self.reader.read_exact(&mut data)?,
            _ => return Err(bad(format!("RELP: bad frame header in {txnr} {cmd}"))),
        }
        if self.byte()? != b'\n' {
            return Err(bad(format!("RELP: frame {txnr} {cmd} not ended by LF")));
        }
        Ok((txnr, cmd, data))
    }

    fn byte(&mut self) -> std::io::Result<u8> {
        let mut b = [0u8];
        self.reader.read_exact(&mut b)?;
        Ok(b[0])
    }

    /// Bytes up to the next SP (at most `max`).
    fn token(&mut self, max: usize) -> std::io::Result<String> {
        let mut t = Vec::new();
        (&mut self.reader)
            .take(max as u64 + 1)
            .read_until(b' ', &mut t)?;
        if t.pop() != Some(b' ') || t.is_empty() {
            return Err(bad("RELP: bad frame header".into()));
        }
        String::from_utf8(t).map_err(|_| bad("RELP: bad frame header".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn frames_are_spelled_as_relp_says() {
        let mut out = Vec::new();
        frame(&mut out, 7, "syslog", b"<1>1 x");
        frame(&mut out, 8, "close", b"");
        assert_eq!(out, b"7 syslog 6 <1>1 x\n8 close 0\n");
    }

    /// A peer that accepts the open, acknowledges two messages of three and
    /// hangs up: the client reports exactly two acknowledged.
    #[test]
    fn a_broken_session_reports_the_acknowledged_prefix() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let to = l.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut line = String::new();
            // The open offer spans three lines (its data holds two LFs).
            for _ in 0..3 {
                line.clear();
                r.read_line(&mut line).unwrap();
            }
            w.write_all(b"1 rsp 6 200 OK\n").unwrap();
            for _ in 0..3 {
                line.clear();
                r.read_line(&mut line).unwrap();
            }
            w.write_all(b"2 rsp 6 200 OK\n3 rsp 6 200 OK\n").unwrap();
        });
        let mut c = RelpConn::open(to).unwrap();
        let mut acked = 9;
        let msgs = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
        let r = c.send_batch(&msgs, &mut acked);
        peer.join().unwrap();
        assert!(r.is_err());
        assert_eq!(acked, 2);
    }
}
