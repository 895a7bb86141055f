//! Reading the addresses out of one DNS response (the UDP payload), with the
//! `simple-dns` parser.  Only what passive DNS needs: the question's name and every
//! A/AAAA record of the answer section.  Queries, errors (RCODE other than NOERROR)
//! and other opcodes yield nothing.  Never panics; a malformed message is `false`.

use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag, OPCODE, RCODE};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One address a response gave for a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsAnswer<'a> {
    pub addr: IpAddr,
    /// The name the client asked for, lower case, without the trailing dot (the
    /// record's own name when the response carries no question).
    pub question: &'a str,
    /// The record's TTL in seconds.
    pub ttl: u32,
}

/// Calls `f` for every A/AAAA answer of a NOERROR response.  Returns false when the
/// message could not be parsed (nothing is reported for it then).
pub fn parse_answers(payload: &[u8], mut f: impl FnMut(DnsAnswer<'_>)) -> bool {
    let Ok(packet) = Packet::parse(payload) else {
        return false;
    };
    if !packet.has_flags(PacketFlag::RESPONSE)
        || packet.opcode() != OPCODE::StandardQuery
        || packet.rcode() != RCODE::NoError
    {
        return true;
    }
    let question = packet
        .questions
        .first()
        .map(|q| q.qname.to_string().to_ascii_lowercase());
    for rr in &packet.answers {
        let addr = match &rr.rdata {
            RData::A(a) => IpAddr::V4(Ipv4Addr::from(a.address)),
            RData::AAAA(a) => IpAddr::V6(Ipv6Addr::from(a.address)),
            _ => continue,
        };
        let own;
        let name = match &question {
            Some(q) => q.as_str(),
            None => {
                own = rr.name.to_string().to_ascii_lowercase();
                own.as_str()
            }
        };
        if name.is_empty() {
            continue;
        }
        f(DnsAnswer {
            addr,
            question: name,
            ttl: rr.ttl,
        });
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::rdata::{A, AAAA, CNAME};
    use simple_dns::{Name, Question, ResourceRecord, CLASS, QCLASS, QTYPE, TYPE};

    fn response(rcode: RCODE) -> Vec<u8> {
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
        p.build_bytes_vec().unwrap()
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
}
