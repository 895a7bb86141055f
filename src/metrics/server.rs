//! The `--listen` endpoint: a small HTTP/1.1 responder on its own thread serving
//! `GET /metrics`, `/healthz` and `/readyz` (and `HEAD` of each).
//!
//! One connection at a time, `Connection: close`, a request head of at most 8 KiB
//! and 2 s to send it: scrapers and probes make a request every few seconds, so
//! this needs no async runtime, and a slow or hostile peer can hold the endpoint
//! for at most the timeout, never the pipeline (which does not wait on it).

use super::Metrics;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const MAX_HEAD: usize = 8 << 10;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds `addr` and serves `metrics` from a background thread.  Returns the bound
/// address (the port is chosen by the system when `addr` has port 0).
pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("metrics http".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(c) => {
                        if let Err(e) = handle(c, &metrics) {
                            tracing::debug!(error = %e, "metrics request failed");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics listener accept failed");
                        // e.g. EMFILE: do not spin.
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })?;
    Ok(local)
}

/// A response: status line, content type, body.
pub struct Response {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
    pub allow: bool,
}

/// Routes one request head (everything before the blank line).
pub fn respond(head: &[u8], m: &Metrics) -> (Response, bool) {
    let text = String::from_utf8_lossy(head);
    let first = text.lines().next().unwrap_or("");
    let mut parts = first.split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let plain = "text/plain; charset=utf-8";
    let r = |status, body: &str| Response {
        status,
        content_type: plain,
        body: body.to_string(),
        allow: false,
    };
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        return (r("400 Bad Request", "bad request line\n"), false);
    };
    if !version.starts_with("HTTP/1.") {
        return (r("400 Bad Request", "HTTP/1.x only\n"), false);
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        let mut resp = r("405 Method Not Allowed", "GET or HEAD\n");
        resp.allow = true;
        return (resp, false);
    }
    let path = target.split('?').next().unwrap_or("");
    let resp = match path {
        "/metrics" => Response {
            status: "200 OK",
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: m.render(),
            allow: false,
        },
        "/healthz" => r("200 OK", "ok\n"),
        "/readyz" => match m.readiness() {
            Ok(()) => r("200 OK", "ready\n"),
            Err(missing) => r(
                "503 Service Unavailable",
                &format!("not ready: {}\n", missing.join(", ")),
            ),
        },
        _ => r("404 Not Found", "try /metrics, /healthz or /readyz\n"),
    };
    (resp, head_only)
}

fn handle(mut c: TcpStream, m: &Metrics) -> std::io::Result<()> {
    c.set_read_timeout(Some(IO_TIMEOUT))?;
    c.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let complete = loop {
        if head.len() > MAX_HEAD {
            break false;
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break true;
        }
        let n = c.read(&mut buf)?;
        if n == 0 {
            // The peer closed mid-head: answer what we have if there is a line.
            break head.contains(&b'\n');
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    };
    let (resp, head_only) = if complete {
        respond(&head, m)
    } else {
        (
            Response {
                status: "431 Request Header Fields Too Large",
                content_type: "text/plain; charset=utf-8",
                body: "request head over 8 KiB\n".into(),
                allow: false,
            },
            false,
        )
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        resp.content_type,
        resp.body.len()
    );
    if resp.allow {
        out.push_str("Allow: GET, HEAD\r\n");
    }
    out.push_str("\r\n");
    if !head_only {
        out.push_str(&resp.body);
    }
    c.write_all(out.as_bytes())?;
    c.flush()?;
    if !complete {
        // Closing with unread bytes would send a reset that can destroy the answer
        // before the peer reads it: read (a bounded amount of) the rest first.
        c.shutdown(std::net::Shutdown::Write)?;
        let mut rest = 0usize;
        while rest < 1 << 20 {
            match c.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest += n,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Ready;

    fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn routes_over_a_real_socket() {
        let m = Arc::new(Metrics::new(&[Ready::RulesLoaded], "0.1.0", "abc"));
        let addr = start("127.0.0.1:0".parse().unwrap(), m.clone()).unwrap();
        let r = get(addr, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 503 "), "{r}");
        assert!(r.ends_with("not ready: rules not loaded\n"), "{r}");
        m.set_ready(Ready::RulesLoaded);
        let r = get(addr, "GET /readyz HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
        let r = get(addr, "GET /healthz HTTP/1.0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 ") && r.ends_with("ok\n"), "{r}");
        let r = get(addr, "GET /metrics?x=1 HTTP/1.1\r\n\r\n");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        assert!(body.contains("bridgewatch_ready 1\n"), "{body}");
        let r = get(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
        assert!(r.ends_with("\r\n\r\n"), "HEAD has no body: {r}");
        assert!(get(addr, "POST /metrics HTTP/1.1\r\n\r\n").contains("405"));
        assert!(get(addr, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        let big = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        assert!(get(addr, &big).starts_with("HTTP/1.1 431"));
    }
}
