//! The HTTP output: batches of alerts POSTed to a generic JSON webhook, to Splunk's
//! HTTP Event Collector, or to Elasticsearch/OpenSearch `_bulk`, optionally
//! gzip-compressed, with bearer, Splunk or basic authentication and extra headers.
//! Queueing, spooling and retry are [`super::delivery`]'s; this module decides what a
//! response means: 2xx delivered; 408, 429 and 5xx (and no answer at all) retried
//! later; any other status rejected for good and counted.
//!
//! Bodies: `webhook` — a JSON array of the alerts; `splunk` — one HEC event object per
//! alert (`time`, `host`, `source`, `sourcetype` `bridgewatch:alert` or
//! `bridgewatch:flow`, `event`); `elasticsearch` — NDJSON
//! `create` actions into an index named from `--http-index` (`%Y`, `%m`, `%d` from
//! the alert's time; flow records into their own index, `flow_index`), each with an `_id` derived from the alert so a batch retried
//! after a partial failure does not index anything twice (409 counts as delivered).
//! Alerts in a non-JSON format (CEF) travel as JSON strings.

use super::delivery::{Kind, Message, SendError, Transport};
use crate::time::rfc3339_micros;
use std::io::Write;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpKind {
    Webhook,
    Splunk,
    Elasticsearch,
}

impl std::str::FromStr for HttpKind {
    type Err = String;
    fn from_str(s: &str) -> Result<HttpKind, String> {
        match s.to_ascii_lowercase().as_str() {
            "webhook" | "json" => Ok(HttpKind::Webhook),
            "splunk" | "hec" => Ok(HttpKind::Splunk),
            "elasticsearch" | "opensearch" | "bulk" => Ok(HttpKind::Elasticsearch),
            _ => Err(format!(
                "unknown HTTP output kind {s:?}: use webhook, splunk or elasticsearch"
            )),
        }
    }
}

/// Validated settings of one HTTP output.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub url: String,
    pub kind: HttpKind,
    /// Bearer token (webhook, elasticsearch) or HEC token (splunk).
    pub token: Option<String>,
    /// `user:password` for basic authentication.
    pub basic: Option<String>,
    /// Extra `(name, value)` headers.
    pub headers: Vec<(String, String)>,
    pub gzip: bool,
    pub batch: usize,
    pub timeout: Duration,
    /// Elasticsearch index template for alerts.
    pub index: String,
    /// Elasticsearch index template for flow records.
    pub flow_index: String,
    pub hostname: String,
}

impl HttpSettings {
    /// Checks the URL and the headers; the URL's path is completed for the kind
    /// (`/services/collector/event` for Splunk, `/_bulk` for Elasticsearch) when it
    /// names none.
    pub fn validate(mut self) -> Result<HttpSettings, String> {
        let rest = self
            .url
            .strip_prefix("http://")
            .or_else(|| self.url.strip_prefix("https://"))
            .ok_or_else(|| format!("{:?} must start with http:// or https://", self.url))?;
        let has_path = rest.split_once('/').is_some_and(|(_, p)| !p.is_empty());
        if rest.is_empty() || rest.starts_with('/') {
            return Err(format!("{:?} names no host", self.url));
        }
        if !has_path {
            let base = self.url.trim_end_matches('/').to_string();
            self.url = match self.kind {
                HttpKind::Splunk => format!("{base}/services/collector/event"),
                HttpKind::Elasticsearch => format!("{base}/_bulk"),
                HttpKind::Webhook => base,
            };
        }
        if self.kind == HttpKind::Splunk && self.token.is_none() {
            return Err("a Splunk HEC output needs --http-token".into());
        }
        if let Some(b) = &self.basic {
            if !b.contains(':') {
                return Err("--http-basic takes USER:PASSWORD".into());
            }
        }
        for (k, v) in &self.headers {
            let ok_name = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok_name || v.bytes().any(|b| b == b'\r' || b == b'\n') {
                return Err(format!("bad header {k:?}: {v:?}"));
            }
        }
        self.batch = self.batch.clamp(1, 10_000);
        Ok(self)
    }
}

/// Parses `Name: value`.
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("header {s:?} is not 'Name: value'"))?;
    Ok((k.trim().to_string(), v.trim().to_string()))
}

pub struct HttpOut {
    s: HttpSettings,
    agent: ureq::Agent,
    auth: Option<String>,
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The alert body as a JSON value: itself when it is JSON, else a string.
fn as_json(body: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(body);
    let text = text.trim_end_matches('\n');
    serde_json::from_str(text).unwrap_or_else(|_| serde_json::Value::String(text.to_string()))
}

/// FNV-1a over the body: a stable document id for Elasticsearch.
fn doc_id(m: &Message) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in m.time.to_le_bytes().iter().chain(&m.body) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("bw-{h:016x}")
}

fn index_name(template: &str, t: i64) -> String {
    let d = rfc3339_micros(t); // YYYY-MM-DDT...
    template
        .replace("%Y", d.get(0..4).unwrap_or("1970"))
        .replace("%m", d.get(5..7).unwrap_or("01"))
        .replace("%d", d.get(8..10).unwrap_or("01"))
}

impl HttpOut {
    pub fn new(s: HttpSettings) -> HttpOut {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(s.timeout))
            .http_status_as_error(false)
            .build();
        let auth = match (&s.kind, &s.token, &s.basic) {
            (HttpKind::Splunk, Some(t), _) => Some(format!("Splunk {t}")),
            (_, Some(t), _) => Some(format!("Bearer {t}")),
            (_, None, Some(b)) => Some(format!("Basic {}", base64(b))),
            _ => None,
        };
        HttpOut {
            agent: config.into(),
            s,
            auth,
        }
    }

    /// The request body for `batch` and its content type.
    pub fn body(&self, batch: &[Message]) -> (Vec<u8>, &'static str) {
        let mut out = Vec::new();
        match self.s.kind {
            HttpKind::Webhook => {
                let v: Vec<serde_json::Value> = batch.iter().map(|m| as_json(&m.body)).collect();
                let _ = serde_json::to_writer(&mut out, &v);
                (out, "application/json")
            }
            HttpKind::Splunk => {
                for m in batch {
                    let ev = serde_json::json!({
                        "time": m.time as f64 / 1e9,
                        "host": &self.s.hostname,
                        "source": "bridgewatch",
                        "sourcetype": match m.kind {
                            Kind::Alert => "bridgewatch:alert",
                            Kind::Flow => "bridgewatch:flow",
                        },
                        "event": as_json(&m.body),
                    });
                    let _ = serde_json::to_writer(&mut out, &ev);
                    out.push(b'\n');
                }
                (out, "application/json")
            }
            HttpKind::Elasticsearch => {
                for m in batch {
                    let template = match m.kind {
                        Kind::Alert => &self.s.index,
                        Kind::Flow => &self.s.flow_index,
                    };
                    let action = serde_json::json!({"create": {
                        "_index": index_name(template, m.time), "_id": doc_id(m)}});
                    let mut doc = as_json(&m.body);
                    if !doc.is_object() {
                        doc = serde_json::json!({"message": doc});
                    }
                    let _ = serde_json::to_writer(&mut out, &action);
                    out.push(b'\n');
                    let _ = serde_json::to_writer(&mut out, &doc);
                    out.push(b'\n');
                }
                (out, "application/x-ndjson")
            }
        }
    }
}

/// What a `_bulk` response says: every item created or already there (409)?  Else
/// whether any failure is worth retrying.
fn bulk_outcome(resp: &str) -> Result<(), SendError> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(resp) else {
        return Err(SendError::Retry("unreadable _bulk response".into()));
    };
    if v["errors"] != serde_json::Value::Bool(true) {
        return Ok(());
    }
    let mut retry = false;
    let mut reject = None;
    for item in v["items"].as_array().into_iter().flatten() {
        let Some(op) = item.as_object().and_then(|o| o.values().next()) else {
            continue;
        };
        match op["status"].as_u64().unwrap_or(0) {
            200..=299 | 409 => {}
            429 | 500..=599 => retry = true,
            s => reject = Some(format!("_bulk item status {s}: {}", op["error"])),
        }
    }
    match (retry, reject) {
        (true, _) => Err(SendError::Retry("_bulk items to retry".into())),
        (false, Some(r)) => Err(SendError::Reject(r)),
        (false, None) => Ok(()),
    }
}

impl Transport for HttpOut {
    fn max_batch(&self) -> usize {
        self.s.batch
    }

    fn send(&mut self, batch: &[Message]) -> Result<(), SendError> {
        let (body, content_type) = self.body(batch);
        let mut req = self
            .agent
            .post(&self.s.url)
            .header("Content-Type", content_type)
            .header(
                "User-Agent",
                concat!("bridgewatch/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        for (k, v) in &self.s.headers {
            req = req.header(k, v);
        }
        let body = if self.s.gzip {
            req = req.header("Content-Encoding", "gzip");
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = enc.write_all(&body);
            enc.finish().unwrap_or_default()
        } else {
            body
        };
        let mut resp = match req.send(&body[..]) {
            Ok(r) => r,
            Err(e) => return Err(SendError::Retry(format!("{}: {e}", self.s.url))),
        };
        let status = resp.status().as_u16();
        match status {
            200..=299 if self.s.kind == HttpKind::Elasticsearch => {
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                bulk_outcome(&text)
            }
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => {
                Err(SendError::Retry(format!("{}: HTTP {status}", self.s.url)))
            }
            _ => {
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                let text: String = text.chars().take(200).collect();
                Err(SendError::Reject(format!(
                    "{}: HTTP {status}: {text}",
                    self.s.url
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(kind: HttpKind, url: &str) -> HttpSettings {
        HttpSettings {
            url: url.into(),
            kind,
            token: Some("t0k".into()),
            basic: None,
            headers: vec![],
            gzip: false,
            batch: 100,
            timeout: Duration::from_secs(5),
            index: "bridgewatch-alerts-%Y.%m.%d".into(),
            flow_index: "bridgewatch-flows-%Y.%m.%d".into(),
            hostname: "node1".into(),
        }
    }

    #[test]
    fn urls_are_completed_per_kind_and_checked() {
        let s = settings(HttpKind::Splunk, "https://splunk:8088")
            .validate()
            .unwrap();
        assert_eq!(s.url, "https://splunk:8088/services/collector/event");
        let s = settings(HttpKind::Elasticsearch, "http://es:9200/")
            .validate()
            .unwrap();
        assert_eq!(s.url, "http://es:9200/_bulk");
        let s = settings(HttpKind::Webhook, "http://hook/x/y")
            .validate()
            .unwrap();
        assert_eq!(s.url, "http://hook/x/y");
        assert!(settings(HttpKind::Webhook, "ftp://x").validate().is_err());
        assert!(settings(HttpKind::Webhook, "http:///x").validate().is_err());
        let mut no_token = settings(HttpKind::Splunk, "http://s:8088");
        no_token.token = None;
        assert!(no_token.validate().unwrap_err().contains("--http-token"));
        let mut bad = settings(HttpKind::Webhook, "http://h");
        bad.headers = vec![("X-A".into(), "1\r\nEvil: 2".into())];
        assert!(bad.validate().is_err());
        assert_eq!(
            parse_header("X-Tenant: blue").unwrap(),
            ("X-Tenant".into(), "blue".into())
        );
    }

    #[test]
    fn bodies_have_each_kinds_shape() {
        let m = Message {
            kind: Kind::Alert,
            severity: 2,
            time: 1_717_243_200_500_000_000,
            body: br#"{"rule":"r","output":"o"}"#.to_vec(),
        };
        let cef = Message {
            kind: Kind::Alert,
            severity: 2,
            time: 0,
            body: b"CEF:0|a|b|1|x|y|8|msg=z\n".to_vec(),
        };
        let out = HttpOut::new(settings(HttpKind::Webhook, "http://h"));
        let (b, ct) = out.body(&[m.clone(), cef.clone()]);
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v[0]["rule"], "r");
        assert_eq!(v[1], "CEF:0|a|b|1|x|y|8|msg=z");

        let out = HttpOut::new(settings(HttpKind::Splunk, "http://h"));
        let (b, _) = out.body(std::slice::from_ref(&m));
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["time"], 1_717_243_200.5);
        assert_eq!(
            (v["host"].as_str(), v["sourcetype"].as_str()),
            (Some("node1"), Some("bridgewatch:alert"))
        );
        assert_eq!(v["event"]["rule"], "r");

        let out = HttpOut::new(settings(HttpKind::Elasticsearch, "http://h"));
        let (b, ct) = out.body(&[m.clone(), m]);
        assert_eq!(ct, "application/x-ndjson");
        let lines: Vec<serde_json::Value> = String::from_utf8(b)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[0]["create"]["_index"],
            "bridgewatch-alerts-2024.06.01"
        );
        assert_eq!(
            lines[0]["create"]["_id"], lines[2]["create"]["_id"],
            "same alert, same id"
        );
        assert_eq!(lines[1]["rule"], "r");

        // Flow records go to their own index and sourcetype.
        let flow = Message {
            kind: Kind::Flow,
            severity: 6,
            time: 1_717_243_200_500_000_000,
            body: br#"{"uid":"C1"}"#.to_vec(),
        };
        let (b, _) = out.body(std::slice::from_ref(&flow));
        let action: serde_json::Value =
            serde_json::from_str(String::from_utf8(b).unwrap().lines().next().unwrap()).unwrap();
        assert_eq!(action["create"]["_index"], "bridgewatch-flows-2024.06.01");
        let out = HttpOut::new(settings(HttpKind::Splunk, "http://h"));
        let (b, _) = out.body(&[flow]);
        let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["sourcetype"], "bridgewatch:flow");
    }

    #[test]
    fn bulk_responses_decide_retry_or_reject() {
        assert!(bulk_outcome(r#"{"errors":false,"items":[]}"#).is_ok());
        let dup =
            r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409}}]}"#;
        assert!(bulk_outcome(dup).is_ok());
        let busy =
            r#"{"errors":true,"items":[{"create":{"status":429}},{"create":{"status":400}}]}"#;
        assert!(matches!(bulk_outcome(busy), Err(SendError::Retry(_))));
        let bad = r#"{"errors":true,"items":[{"create":{"status":400,"error":{"type":"mapper_parsing_exception"}}}]}"#;
        assert!(matches!(bulk_outcome(bad), Err(SendError::Reject(_))));
        assert!(matches!(bulk_outcome("<html>"), Err(SendError::Retry(_))));
    }
}
