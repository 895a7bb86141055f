//! ArcSight CEF:0 lines: `CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|Extension`.
//!
//! Escaping follows the CEF specification exactly: in header fields `\` and `|`
//! are backslash-escaped; in extension values `\` and `=` are, and CR/LF become
//! `\r`/`\n`.  Header fields cannot hold a line break, so one there is replaced by a
//! space.  Extension keys are ours and fixed.  So a hostile container name can
//! neither open a new field nor a new line.

use super::{millis, severity_0_10, FlowContext, PRODUCT, VERSION};
use crate::flow::record::FlowRecord;
use crate::rules::Alert;
use std::fmt::Write;

/// Escapes a header field (`|` and `\`; line breaks become spaces).
pub fn cef_escape_header(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' | '\n' => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Escapes an extension value (`\`, `=`, CR and LF).
pub fn cef_escape_extension(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

struct Line(String);

impl Line {
    fn header(sig: &str, name: &str, severity: u8) -> Line {
        let mut s = String::with_capacity(256);
        s.push_str("CEF:0|");
        for f in [PRODUCT, PRODUCT, VERSION, sig, name] {
            cef_escape_header(f, &mut s);
            s.push('|');
        }
        let _ = write!(s, "{severity}|");
        Line(s)
    }

    fn ext(&mut self, key: &str, value: &str) -> &mut Line {
        if !self.0.ends_with('|') {
            self.0.push(' ');
        }
        self.0.push_str(key);
        self.0.push('=');
        cef_escape_extension(value, &mut self.0);
        self
    }

    /// A custom string pair: `csNLabel=label csN=value`.
    fn custom(&mut self, n: u8, label: &str, value: &str) -> &mut Line {
        self.ext(&format!("cs{n}Label"), label)
            .ext(&format!("cs{n}"), value)
    }

    fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.0.as_bytes());
        out.push(b'\n');
    }
}

fn flow_ext(l: &mut Line, r: &FlowRecord) {
    l.ext("src", &r.orig_h.to_string())
        .ext("spt", &r.orig_p.to_string())
        .ext("dst", &r.resp_h.to_string())
        .ext("dpt", &r.resp_p.to_string())
        .ext("proto", &r.proto.to_ascii_uppercase())
        .ext("out", &r.orig_ip_bytes.to_string())
        .ext("in", &r.resp_ip_bytes.to_string())
        .ext("start", &millis(r.ts).to_string())
        .ext("end", &millis(r.end).to_string())
        .ext("externalId", &r.uid.to_string());
}

pub fn alert(a: &Alert, out: &mut Vec<u8>) {
    let mut l = Line::header(&a.rule, &a.rule, severity_0_10(a.priority));
    l.ext("rt", &millis(a.time).to_string())
        .ext("dvchost", &a.hostname)
        .ext("msg", &a.output)
        .ext("act", a.evt_type)
        .ext("deviceDirection", device_direction(a.direction));
    flow_ext(&mut l, &a.flow);
    l.custom(1, "communityId", &a.flow.community_id)
        .custom(2, "direction", a.direction);
    if let Some(c) = &a.container {
        l.custom(3, "containerName", &c.name)
            .custom(4, "containerImage", &c.image)
            .custom(5, "containerId", &c.id);
    }
    if let Some(p) = &a.peer {
        l.custom(6, "peerContainerName", &p.name);
    }
    // CEF's baseEventCount: this event and those deduplication held back.
    if a.suppressed > 0 {
        l.ext("cnt", &(a.suppressed + 1).to_string());
    }
    l.finish(out);
}

/// CEF's `deviceDirection`: 0 inbound, 1 outbound (everything not inbound, as for
/// alerts).
fn device_direction(d: &str) -> &'static str {
    match d {
        "inbound" => "0",
        _ => "1",
    }
}

/// A flow line.  With `watch`'s attribution: `deviceDirection`, `cs4` the
/// direction, `cs5`/`cs6` the originator's and responder's container names,
/// `flexString1`/`flexString2` their images (CEF has six custom strings; the
/// first three carry the flow's own keys).  An end that is no container has no pair.
pub fn flow(r: &FlowRecord, hostname: &str, ctx: Option<&FlowContext<'_>>, out: &mut Vec<u8>) {
    let interim = ctx.is_some_and(|c| c.interim);
    let mut l = if interim {
        Line::header("flow-interim", "Network flow (interim)", 1)
    } else {
        Line::header("flow", "Network flow", 1)
    };
    l.ext("rt", &millis(r.end).to_string())
        .ext("dvchost", hostname);
    if let Some(c) = ctx {
        l.ext("deviceDirection", device_direction(c.direction));
    }
    flow_ext(&mut l, r);
    l.custom(1, "communityId", &r.community_id)
        .custom(2, "connState", r.conn_state)
        .custom(3, "history", &r.history);
    if let Some(c) = ctx {
        l.custom(4, "direction", c.direction);
        if let Some(o) = c.orig {
            l.custom(5, "origContainer", &o.name)
                .ext("flexString1Label", "origContainerImage")
                .ext("flexString1", &o.image);
        }
        if let Some(p) = c.resp {
            l.custom(6, "respContainer", &p.name)
                .ext("flexString2Label", "respContainerImage")
                .ext("flexString2", &p.image);
        }
    }
    l.finish(out);
}
