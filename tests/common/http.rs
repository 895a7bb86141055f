//! A small HTTP/1.1 server on loopback for the output tests: reads each request's
//! headers and body off the socket, answers by a plan (a status, or hanging past the
//! client's timeout), and records what it got.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
    /// The body, gunzipped when the request says so.
    pub fn text(&self) -> String {
        if self.header("content-encoding") == Some("gzip") {
            let mut s = String::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_string(&mut s)
                .unwrap();
            s
        } else {
            String::from_utf8(self.body.clone()).unwrap()
        }
    }
}

/// What the server does with the n-th request (0-based).
#[derive(Clone, Copy)]
pub enum Answer {
    Status(u16, &'static str),
    /// Read the request, then say nothing for this long.
    Hang(Duration),
}

/// Serves on an ephemeral loopback port; `plan(n)` answers request n.  Requests
/// answered 2xx are recorded in `ok`, every request in `all`.
pub struct Server {
    pub port: u16,
    pub ok: Arc<Mutex<Vec<Request>>>,
    pub all: Arc<Mutex<Vec<Request>>>,
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Request> {
    let mut r = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        path,
        headers,
        body,
    })
}

impl Server {
    pub fn start(plan: impl Fn(usize) -> Answer + Send + 'static, reply: &'static str) -> Server {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let ok = Arc::new(Mutex::new(Vec::new()));
        let all = Arc::new(Mutex::new(Vec::new()));
        let (ok2, all2) = (ok.clone(), all.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            for stream in l.incoming() {
                let Ok(mut s) = stream else { continue };
                // Keep-alive: serve requests on this connection until it closes.
                while let Some(req) = read_request(&mut s) {
                    all2.lock().unwrap().push(req.clone());
                    let answer = plan(n);
                    n += 1;
                    match answer {
                        Answer::Hang(d) => {
                            std::thread::sleep(d);
                            break; // close without an answer
                        }
                        Answer::Status(code, text) => {
                            if (200..300).contains(&code) {
                                ok2.lock().unwrap().push(req);
                            }
                            let body = if code == 200 { reply } else { "{}" };
                            let _ = write!(
                                s,
                                "HTTP/1.1 {code} {text}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            );
                        }
                    }
                }
            }
        });
        Server { port, ok, all }
    }
}

/// `GET path` from `addr` (HTTP/1.1, one request, the server closes): the whole
/// response, status line and headers included, or None when nothing answers within
/// 10 s.  For the `--listen` endpoints (`/metrics`, `/healthz`, `/readyz`).
pub fn get_raw(addr: impl std::net::ToSocketAddrs, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    (!out.is_empty()).then_some(out)
}

/// [`get_raw`] as (status, body).
pub fn get(addr: impl std::net::ToSocketAddrs, path: &str) -> Option<(u16, String)> {
    let out = get_raw(addr, path)?;
    let status = out.get(9..12)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Some((status, body.to_string()))
}
