//! Syslog message framing for the syslog sink: RFC 5424 (and the legacy RFC 3164
//! BSD form) with octet-counting for stream transports (RFC 6587).  The message body
//! is a formatted line ([`super::format`]) without its newline; header fields are
//! reduced to what each RFC allows, so no value can break the frame.

use crate::rules::Priority;
use crate::time::{rfc3339_micros, Nanos};

/// `local0`, the usual facility for a security sensor.
pub const DEFAULT_FACILITY: u8 = 16;

/// The header fields of one message.
#[derive(Clone, Debug)]
pub struct Header<'a> {
    pub facility: u8,
    pub severity: u8,
    pub time: Nanos,
    pub hostname: &'a str,
    pub app_name: &'a str,
    pub procid: u32,
    /// RFC 5424 MSGID: `alert` or `flow`.
    pub msgid: &'a str,
}

impl Header<'_> {
    fn pri(&self) -> u16 {
        u16::from(self.facility.min(23)) * 8 + u16::from(self.severity.min(7))
    }
}

/// The severity for an alert of priority `p` (the two scales match step for step).
pub fn severity(p: Priority) -> u8 {
    super::format::syslog_severity(p)
}

/// RFC 5424 header fields: PRINTUSASCII (33-126), at most `max` characters, `-` when empty.
fn token(s: &str, max: usize, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend(s.bytes().filter(|b| (33..=126).contains(b)).take(max));
    if out.len() == start {
        out.push(b'-');
    }
}

/// The message body.  A line break would end the message early on a receiver that
/// splits on them (or in the file it writes), so none is left raw: CR and LF become
/// `\r` and `\n`; the other C0 controls (all but TAB), and the Unicode breaks NEL,
/// LINE SEPARATOR and PARAGRAPH SEPARATOR, become `\uXXXX`.  In a JSON body these
/// can only sit inside strings, where the escape means the same character, so the
/// message still parses to the same values; the formats already escape all of them
/// but the Unicode ones, so this is the last line of defence, not the first.
fn body(msg: &[u8], out: &mut Vec<u8>) {
    let msg = msg.strip_suffix(b"\n").unwrap_or(msg);
    let mut i = 0;
    while let Some(&b) = msg.get(i) {
        let next = |k: usize| msg.get(i + k).copied();
        match b {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.push(b),
            0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            // U+0085 NEL is C2 85 in UTF-8.
            0xc2 if next(1) == Some(0x85) => {
                out.extend_from_slice(b"\\u0085");
                i += 1;
            }
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
            0xe2 if next(1) == Some(0x80) && matches!(next(2), Some(0xa8 | 0xa9)) => {
                let c = if next(2) == Some(0xa8) {
                    "2028"
                } else {
                    "2029"
                };
                out.extend_from_slice(format!("\\u{c}").as_bytes());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
}

/// Appends one RFC 5424 message (no framing, no newline).
pub fn rfc5424(h: &Header, msg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("<{}>1 ", h.pri()).as_bytes());
    out.extend_from_slice(rfc3339_micros(h.time).as_bytes());
    out.push(b' ');
    token(h.hostname, 255, out);
    out.push(b' ');
    token(h.app_name, 48, out);
    out.push(b' ');
    out.extend_from_slice(h.procid.to_string().as_bytes());
    out.push(b' ');
    token(h.msgid, 32, out);
    out.extend_from_slice(b" - ");
    body(msg, out);
}

/// Appends one RFC 3164 message: `<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG`.
pub fn rfc3164(h: &Header, msg: &[u8], out: &mut Vec<u8>) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = rfc3339_micros(h.time); // YYYY-MM-DDTHH:MM:SS.ffffffZ
    let month = t
        .get(5..7)
        .and_then(|m| m.parse::<usize>().ok())
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)))
        .copied()
        .unwrap_or("Jan");
    let day = t.get(8..10).and_then(|d| d.parse::<u8>().ok()).unwrap_or(1);
    let clock = t.get(11..19).unwrap_or("00:00:00");
    out.extend_from_slice(format!("<{}>{month} {day:>2} {clock} ", h.pri()).as_bytes());
    token(h.hostname, 255, out);
    out.push(b' ');
    token(h.app_name, 32, out);
    out.extend_from_slice(format!("[{}]: ", h.procid).as_bytes());
    body(msg, out);
}

/// RFC 6587 octet counting: `LEN SP MSG`, for TCP and TLS transports.
pub fn octet_counted(msg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(host: &'static str) -> Header<'static> {
        Header {
            facility: DEFAULT_FACILITY,
            severity: severity(Priority::Critical),
            time: 1_717_243_200_123_456_000,
            hostname: host,
            app_name: "bridgewatch",
            procid: 42,
            msgid: "alert",
        }
    }

    #[test]
    fn rfc5424_header_is_exact() {
        let mut out = Vec::new();
        rfc5424(&header("node1"), b"{\"rule\":\"x\"}\n", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<130>1 2024-06-01T12:00:00.123456Z node1 bridgewatch 42 alert - {\"rule\":\"x\"}"
        );
    }

    #[test]
    fn rfc3164_header_is_exact() {
        let mut out = Vec::new();
        rfc3164(&header("node1"), b"hello", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<130>Jun  1 12:00:00 node1 bridgewatch[42]: hello"
        );
    }

    /// Reads RFC 6587 octet-counted frames back, as a receiver does.
    fn unframe(mut b: &[u8]) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        while !b.is_empty() {
            let sp = b.iter().position(|&c| c == b' ').unwrap();
            let n: usize = std::str::from_utf8(&b[..sp]).unwrap().parse().unwrap();
            frames.push(b[sp + 1..sp + 1 + n].to_vec());
            b = &b[sp + 1 + n..];
        }
        frames
    }

    const HOSTILE: &str = "evil\n<13>1 2026-01-01T00:00:00Z forged forged 1 forged - FORGED\r\x0b\x0c\x00\u{85}\u{2028}\u{2029}] \"\\ [sd@1 a=\"b\"]";

    #[test]
    fn no_line_break_survives_in_a_message_and_json_still_parses_the_same() {
        let json = serde_json::json!({"container.name": HOSTILE, "ok": "tab\there é"});
        let line = format!("{json}\n");
        for proto in [rfc5424, rfc3164] {
            let mut out = Vec::new();
            proto(&header("node1"), line.as_bytes(), &mut out);
            let s = String::from_utf8(out).unwrap();
            for c in [
                '\n', '\r', '\x0b', '\x0c', '\0', '\u{85}', '\u{2028}', '\u{2029}',
            ] {
                assert!(!s.contains(c), "{c:?} in {s:?}");
            }
            // The body is the JSON text with the breaks escaped: the same values.
            let body = s
                .split_once(": ")
                .map_or_else(|| s.split_once(" - ").unwrap().1, |(_, b)| b);
            let back: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(back, json);
        }
        // A raw (non-JSON) body: the breaks are visible escapes.
        let mut out = Vec::new();
        rfc5424(
            &header("h"),
            "a\x0bb\u{2028}c\u{85}d\tе".as_bytes(),
            &mut out,
        );
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with(" - a\\u000bb\\u2028c\\u0085d\tе"));
    }

    #[test]
    fn octet_counted_frames_of_hostile_messages_read_back_one_for_one() {
        let mut stream = Vec::new();
        let mut sent = Vec::new();
        for (i, body) in [HOSTILE, "plain", "12 <13>1 fake frame inside", ""]
            .iter()
            .enumerate()
        {
            let mut msg = Vec::new();
            rfc5424(&header("node1"), body.as_bytes(), &mut msg);
            assert!(msg.starts_with(b"<130>1 "), "{i}");
            octet_counted(&msg, &mut stream);
            sent.push(msg);
        }
        assert_eq!(unframe(&stream), sent);
        // Multi-byte characters: the count is in octets, not characters.
        let mut framed = Vec::new();
        octet_counted("é\u{2028}".as_bytes(), &mut framed);
        assert!(framed.starts_with(b"5 "));
    }

    #[test]
    fn hostile_values_cannot_break_the_frame() {
        let mut out = Vec::new();
        rfc5424(&header("evil host\n<13>1 forged"), b"a\nb\r\n", &mut out);
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains('\n') && !s.contains('\r'), "{s}");
        assert!(s.starts_with("<130>1 2024-06-01T12:00:00.123456Z evilhost<13>1forged bridgewatch"));
        assert!(s.ends_with(" - a\\nb\\r"), "{s}");
        let mut framed = Vec::new();
        octet_counted(s.as_bytes(), &mut framed);
        assert_eq!(framed, format!("{} {s}", s.len()).into_bytes());
    }
}
