//! Reading the addresses out of one DNS response (the UDP payload): the first
//! question's name and every A/AAAA record of the answer section, nothing else.
//! Queries, errors (RCODE other than NOERROR) and other opcodes yield nothing.
//!
//! Hand-written rather than `simple-dns`: with the crate (which builds every section
//! and formats names through `Display`), DNS responses cost 9.6% of all instructions
//! of a one-thread replay of the 300k-packet mixed capture (callgrind, 95M of 989M,
//! 20k responses); this walk allocates only the question's name.  The tests check it
//! against messages built by `simple-dns`, and `tests/passive_dns.rs` against tshark.
//!
//! Never panics: every read is bounds-checked, compression pointers are followed at
//! most [`MAX_JUMPS`] times, and a malformed message is `false`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address a response gave for a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsAnswer<'a> {
    pub addr: IpAddr,
    /// The name the client asked for, lower case, without the trailing dot, in
    /// presentation form (bytes outside printable ASCII, `.` and `\\` inside a label
    /// as `\DDD`).  The record's own name when the response carries no question.
    pub question: &'a str,
    /// The record's TTL in seconds.
    pub ttl: u32,
}

/// Compression pointers followed per name, at most.
const MAX_JUMPS: usize = 16;
/// A name longer than this (RFC 1035: 255 octets on the wire) is malformed.
const MAX_NAME: usize = 255;

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]))
}

fn u32_at(m: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(at..at + 4)?.try_into().ok()?))
}

/// Reads the name at `at`; appends its presentation form to `out` when given.
/// Returns the offset just past the name where it stands (not where pointers led).
fn read_name(m: &[u8], mut at: usize, mut out: Option<&mut String>) -> Option<usize> {
    let mut end = None;
    let (mut jumps, mut wire_len) = (0, 0usize);
    loop {
        let len = *m.get(at)?;
        match len & 0xc0 {
            0x00 if len == 0 => return end.or(Some(at + 1)),
            0x00 => {
                let label = m.get(at + 1..at + 1 + usize::from(len))?;
                wire_len += 1 + label.len();
                if wire_len > MAX_NAME {
                    return None;
                }
                if let Some(o) = out.as_deref_mut() {
                    if !o.is_empty() {
                        o.push('.');
                    }
                    push_label(o, label);
                }
                at += 1 + label.len();
            }
            0xc0 => {
                let target = usize::from(u16_at(m, at)? & 0x3fff);
                end.get_or_insert(at + 2);
                jumps += 1;
                // A pointer must lead backwards (RFC 1035 4.1.4); with the jump cap
                // this also rules out loops.
                if jumps > MAX_JUMPS || target >= at {
                    return None;
                }
                at = target;
            }
            _ => return None, // 0x40 / 0x80: extended and reserved label types
        }
    }
}

/// Appends one label, lower case, in presentation form.
fn push_label(o: &mut String, label: &[u8]) {
    let plain = |b: u8| b.is_ascii_graphic() && b != b'.' && b != b'\\';
    if label.iter().all(|&b| plain(b)) {
        // The common case: printable ASCII, copied as one piece.
        let mut buf = [0u8; 63];
        let n = label.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), label.get(..n)) {
            dst.copy_from_slice(src);
            dst.make_ascii_lowercase();
            if let Ok(text) = std::str::from_utf8(dst) {
                o.push_str(text);
                return;
            }
        }
    }
    for &b in label {
        match b.to_ascii_lowercase() {
            c if plain(c) => o.push(char::from(c)),
            c => {
                o.push('\\');
                o.push(char::from(b'0' + c / 100));
                o.push(char::from(b'0' + c / 10 % 10));
                o.push(char::from(b'0' + c % 10));
            }
        }
    }
}

/// Calls `f` for every A/AAAA answer of a NOERROR response.  Returns false when the
/// message is malformed (answers before the problem may have been reported).
pub fn parse_answers(m: &[u8], mut f: impl FnMut(DnsAnswer<'_>)) -> bool {
    let (Some(flags), Some(qd), Some(an)) = (u16_at(m, 2), u16_at(m, 4), u16_at(m, 6)) else {
        return false;
    };
    let (response, opcode, rcode) = (flags & 0x8000 != 0, (flags >> 11) & 0xf, flags & 0xf);
    if !response || opcode != 0 || rcode != 0 {
        return true;
    }
    let mut at = 12;
    // The question's name is spelled out only once an address answer needs it.
    let question_at = (qd > 0).then_some(at);
    for _ in 0..qd {
        let Some(next) = read_name(m, at, None) else {
            return false;
        };
        at = next + 4; // QTYPE, QCLASS
    }
    let mut question = String::new();
    for _ in 0..an {
        let owner = at;
        let Some(next) = read_name(m, at, None) else {
            return false;
        };
        let (Some(rtype), Some(class), Some(ttl), Some(rdlen)) = (
            u16_at(m, next),
            u16_at(m, next + 2),
            u32_at(m, next + 4),
            u16_at(m, next + 8),
        ) else {
            return false;
        };
        let rdata_at = next + 10;
        let Some(rdata) = m.get(rdata_at..rdata_at + usize::from(rdlen)) else {
            return false;
        };
        at = rdata_at + rdata.len();
        let addr = match (rtype, class, rdata.len()) {
            (TYPE_A, CLASS_IN, 4) => IpAddr::V4(Ipv4Addr::from(
                <[u8; 4]>::try_from(rdata).unwrap_or_default(),
            )),
            (TYPE_AAAA, CLASS_IN, 16) => IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(rdata).unwrap_or_default(),
            )),
            _ => continue,
        };
        if question.is_empty() {
            question.reserve(64);
            if read_name(m, question_at.unwrap_or(owner), Some(&mut question)).is_none() {
                return false;
            }
        }
        if question.is_empty() {
            continue; // the root
        }
        // The TTL's top bit must be 0 (RFC 2181 8); treat a set one as 0.
        let ttl = if ttl > i32::MAX as u32 { 0 } else { ttl };
        f(DnsAnswer {
            addr,
            question: &question,
            ttl,
        });
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::{RData, A, AAAA, CNAME};
    use simple_dns::{Name, Packet, Question, ResourceRecord, CLASS, QCLASS, QTYPE, RCODE, TYPE};

    fn response(rcode: RCODE) -> Vec<u8> {
        response_packet(rcode).build_bytes_vec().unwrap()
    }

    fn response_packet(rcode: RCODE) -> Packet<'static> {
        let mut p = Packet::new_reply(0x1234);
        *p.rcode_mut() = rcode;
        p.questions.push(Question::new(
            Name::new_unchecked("API.Example.com"),
            QTYPE::TYPE(TYPE::A),
            QCLASS::CLASS(CLASS::IN),
            false,
        ));
        p.answers.push(ResourceRecord::new(
            Name::new_unchecked("api.example.com"),
            CLASS::IN,
            60,
            RData::CNAME(CNAME(Name::new_unchecked("edge.cdn.example.net"))),
        ));
        p.answers.push(ResourceRecord::new(
            Name::new_unchecked("edge.cdn.example.net"),
            CLASS::IN,
            30,
            RData::A(A {
                address: u32::from(Ipv4Addr::new(203, 0, 113, 9)),
            }),
        ));
        p.answers.push(ResourceRecord::new(
            Name::new_unchecked("edge.cdn.example.net"),
            CLASS::IN,
            40,
            RData::AAAA(AAAA {
                address: u128::from("2001:db8::9".parse::<Ipv6Addr>().unwrap()),
            }),
        ));
        p
    }

    fn collect(payload: &[u8]) -> (bool, Vec<(IpAddr, String, u32)>) {
        let mut v = Vec::new();
        let ok = parse_answers(payload, |a| v.push((a.addr, a.question.to_string(), a.ttl)));
        (ok, v)
    }

    #[test]
    fn cname_chain_is_named_by_the_question() {
        let (ok, v) = collect(&response(RCODE::NoError));
        assert!(ok);
        assert_eq!(
            v,
            vec![
                ("203.0.113.9".parse().unwrap(), "api.example.com".into(), 30),
                ("2001:db8::9".parse().unwrap(), "api.example.com".into(), 40),
            ]
        );
    }

    #[test]
    fn errors_and_queries_name_nothing() {
        assert_eq!(collect(&response(RCODE::NameError)), (true, vec![]));
        let q = Packet::new_query(7).build_bytes_vec().unwrap();
        assert_eq!(collect(&q), (true, vec![]));
    }

    #[test]
    fn garbage_and_truncation_are_rejected_without_panic() {
        let good = response(RCODE::NoError);
        for n in 0..good.len() {
            let _ = collect(&good[..n]);
        }
        assert!(!collect(&good[..good.len() - 3]).0);
        // A compression pointer to itself.
        let mut looped = good[..12].to_vec();
        looped[4..6].copy_from_slice(&1u16.to_be_bytes());
        looped.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        let _ = collect(&looped);
        let mut x: u32 = 0x9e37_79b9;
        for len in [0usize, 1, 11, 12, 13, 40, 300] {
            for _ in 0..200 {
                let buf: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        x as u8
                    })
                    .collect();
                let _ = collect(&buf);
            }
        }
    }

    #[test]
    fn compressed_names_are_followed() {
        let bytes = response_packet(RCODE::NoError)
            .build_bytes_vec_compressed()
            .unwrap();
        assert!(
            bytes.len() < response(RCODE::NoError).len(),
            "compression used"
        );
        let (ok, v) = collect(&bytes);
        assert!(ok);
        assert_eq!(v.len(), 2);
        assert!(v.iter().all(|(_, n, _)| n == "api.example.com"));
    }

    #[test]
    fn without_a_question_the_record_names_itself() {
        let mut p = Packet::new_reply(1);
        p.answers.push(ResourceRecord::new(
            Name::new_unchecked("Host.Example"),
            CLASS::IN,
            5,
            RData::A(A {
                address: 0x0a00_0001,
            }),
        ));
        let (ok, v) = collect(&p.build_bytes_vec().unwrap());
        assert!(ok);
        assert_eq!(
            v,
            vec![("10.0.0.1".parse().unwrap(), "host.example".into(), 5)]
        );
    }

    /// A response for `q` with one A answer whose owner is a pointer to `ptr`.
    fn raw(q: &[u8], ptr: u16) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(q);
        m.extend_from_slice(&[0, 1, 0, 1]);
        m.extend_from_slice(&(0xc000 | ptr).to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
        m
    }

    #[test]
    fn odd_bytes_are_escaped_and_bad_pointers_rejected() {
        let (ok, v) = collect(&raw(b"\x05a.b\xffc\x03COM\x00", 12));
        assert!(ok);
        assert_eq!(v[0].1, "a\\046b\\255c.com");
        // A pointer to itself, forwards, or past the end: malformed, nothing reported.
        let q = b"\x01x\x00";
        let at = 12 + q.len() as u16 + 4;
        for ptr in [at, at + 1, 500] {
            assert_eq!(collect(&raw(q, ptr)), (false, vec![]), "pointer {ptr}");
        }
        // A label type other than plain or pointer.
        assert_eq!(collect(&raw(b"\x41x\x00", 12)), (false, vec![]));
    }
}
