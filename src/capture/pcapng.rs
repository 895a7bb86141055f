//! pcapng blocks: section headers (each may switch byte order and starts a new set of
//! interfaces), interface descriptions (link type, `if_name`, `if_tsresol`,
//! `if_tsoffset`), enhanced / simple / obsolete packet blocks.  Every other block type
//! is skipped by its length and counted.
//!
//! Interfaces of all sections share one file-wide table (what `PacketBatch::interfaces`
//! holds), so a batch spanning a section boundary still indexes it correctly.
//!
//! Framing checks, in order: block length ≥ 12, a multiple of 4 and at most
//! [`MAX_BLOCK_LEN`]; the whole block present (else the caller reports a truncated
//! record); trailing length equal to the leading one; packet data inside the block.
//! A packet block naming an interface its section has not defined is framed fine, so
//! it is skipped and counted (`ReaderStats::unknown_interface`) and reading goes on.

use super::file::{Out, RawPacket};
use super::{CaptureError, InterfaceInfo, LinkType, MAX_CAPLEN};
use crate::time::{Nanos, NANOS_PER_SEC};
use std::sync::Arc;

/// Block type of a section header; a palindrome, so it reads the same in either order.
pub(super) const SHB_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
/// Type, length, byte-order magic, version, section length, trailing length.
pub(super) const SHB_MIN_LEN: usize = 28;
/// Wireshark's limit too; a larger length is corruption, not a block.
pub(super) const MAX_BLOCK_LEN: usize = 16 << 20;

const BT_IDB: u32 = 1;
const BT_PB: u32 = 2;
const BT_SPB: u32 = 3;
const BT_EPB: u32 = 6;

const OPT_END: u16 = 0;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

#[inline]
pub(super) fn rd32(b: &[u8], off: usize, big: bool) -> u32 {
    match b
        .get(off..off + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
    {
        Some(a) if big => u32::from_be_bytes(a),
        Some(a) => u32::from_le_bytes(a),
        None => 0,
    }
}

#[inline]
fn rd16(b: &[u8], off: usize, big: bool) -> u16 {
    match b
        .get(off..off + 2)
        .and_then(|s| <[u8; 2]>::try_from(s).ok())
    {
        Some(a) if big => u16::from_be_bytes(a),
        Some(a) => u16::from_le_bytes(a),
        None => 0,
    }
}

/// Byte order of a section from the first 12 bytes of its header block (`true` = big
/// endian), or `None` when the byte-order magic is neither order of 0x1a2b3c4d.
pub(super) fn byte_order(shb_head: &[u8; 12]) -> Option<bool> {
    match u32::from_be_bytes([shb_head[8], shb_head[9], shb_head[10], shb_head[11]]) {
        0x1a2b_3c4d => Some(true),
        0x4d3c_2b1a => Some(false),
        _ => None,
    }
}

/// Timestamp units of an interface (`if_tsresol`), as a conversion to nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsScale {
    Mul(u64),
    Div(u128),
    /// Units of 2^-n seconds.
    Pow2(u32),
    /// 10^-n with n so large every representable count rounds to 0 ns.
    Zero,
}

impl TsScale {
    fn from_tsresol(b: u8) -> TsScale {
        let n = u32::from(b & 0x7f);
        if b & 0x80 != 0 {
            TsScale::Pow2(n)
        } else if n <= 9 {
            TsScale::Mul(10u64.pow(9 - n))
        } else {
            10u128
                .checked_pow(n - 9)
                .map_or(TsScale::Zero, TsScale::Div)
        }
    }

    #[inline]
    fn to_nanos(self, ticks: u64) -> Nanos {
        let t = u128::from(ticks);
        let ns = match self {
            TsScale::Mul(m) => t * u128::from(m),
            TsScale::Div(d) => t / d,
            // n <= 127 and t * 1e9 < 2^94, so neither the shift nor the product overflows.
            TsScale::Pow2(n) => (t * 1_000_000_000) >> n,
            TsScale::Zero => 0,
        };
        i64::try_from(ns).unwrap_or(i64::MAX)
    }
}

struct Iface {
    link: LinkType,
    snaplen: u32,
    scale: TsScale,
    offset_ns: i64,
}

/// Reading state that spans blocks: the current section's byte order and interfaces.
pub(super) struct Pcapng {
    big: bool,
    /// Index in `ifaces` of the current section's interface 0.
    section_base: usize,
    /// Interfaces of all sections so far, parallel to the reader's `InterfaceInfo` table.
    ifaces: Vec<Iface>,
    /// Timestamp of the last packet: simple packet blocks carry none, and taking the
    /// previous one keeps packet time monotonic for flow expiry.
    last_ts: Nanos,
}

impl Pcapng {
    pub fn new() -> Pcapng {
        Pcapng {
            big: false,
            section_base: 0,
            ifaces: Vec::new(),
            last_ts: 0,
        }
    }

    /// Frames every complete block in `data[*pos..]`; returns the bytes the next,
    /// incomplete block needs from `*pos`.
    pub fn parse(
        &mut self,
        data: &[u8],
        pos: &mut usize,
        out: &mut Out<'_>,
    ) -> Result<usize, CaptureError> {
        loop {
            let rest = data.get(*pos..).unwrap_or_default();
            let Some(head) = rest.first_chunk::<12>() else {
                return Ok(12);
            };
            let is_shb = head.first_chunk::<4>() == Some(&SHB_MAGIC);
            let big = if is_shb {
                match byte_order(head) {
                    Some(big) => big,
                    None => {
                        return Err(out.bad_block(format!(
                            "section header with byte-order magic {:#010x}",
                            rd32(head, 8, true)
                        )))
                    }
                }
            } else {
                self.big
            };
            let btype = rd32(head, 0, big);
            let len = rd32(head, 4, big) as usize;
            if len < 12 || !len.is_multiple_of(4) {
                return Err(out.bad_block(format!("block type {btype:#x} has length {len}")));
            }
            if len > MAX_BLOCK_LEN {
                return Err(out.bad_block(format!(
                    "block type {btype:#x} has length {len}, above the {MAX_BLOCK_LEN}-byte limit"
                )));
            }
            let Some(block) = rest.get(..len) else {
                return Ok(len);
            };
            let trailer = rd32(block, len - 4, big);
            if trailer as usize != len {
                return Err(out.bad_block(format!(
                    "block type {btype:#x}: trailing length {trailer} differs from leading length {len}"
                )));
            }
            let body = block.get(8..len - 4).unwrap_or_default();
            let body_at = *pos + 8;
            match btype {
                _ if is_shb => self.section(body, big, out)?,
                BT_IDB => self.interface(body, out)?,
                BT_EPB => {
                    let id = rd32(body, 0, big);
                    self.packet(body, body_at, id, 20, out)?;
                }
                BT_PB => {
                    let id = u32::from(rd16(body, 0, big));
                    self.packet(body, body_at, id, 20, out)?;
                }
                BT_SPB => self.simple_packet(body, body_at, out)?,
                _ => out.stats.skipped_blocks += 1,
            }
            *pos += len;
        }
    }

    fn section(&mut self, body: &[u8], big: bool, out: &mut Out<'_>) -> Result<(), CaptureError> {
        if body.len() < SHB_MIN_LEN - 12 {
            return Err(out.bad_block(format!("section header body of {} bytes", body.len())));
        }
        let major = rd16(body, 4, big);
        if major != 1 {
            return Err(out.bad_block(format!("unsupported pcapng major version {major}")));
        }
        self.big = big;
        self.section_base = self.ifaces.len();
        Ok(())
    }

    fn interface(&mut self, body: &[u8], out: &mut Out<'_>) -> Result<(), CaptureError> {
        let big = self.big;
        if body.len() < 8 {
            return Err(out.bad_block(format!(
                "interface description body of {} bytes",
                body.len()
            )));
        }
        if self.ifaces.len() > usize::from(u16::MAX) {
            return Err(out.bad_block("more than 65536 interfaces in one file"));
        }
        let link = LinkType::from_linktype(u32::from(rd16(body, 0, big)));
        let snaplen = rd32(body, 4, big);
        let mut name = None;
        let mut scale = TsScale::Mul(1_000);
        let mut offset_ns = 0i64;
        // Options do not affect framing, so a malformed one ends option parsing
        // rather than the file.
        let mut opts = body.get(8..).unwrap_or_default();
        while let Some(h) = opts.first_chunk::<4>() {
            let code = rd16(h, 0, big);
            let olen = usize::from(rd16(h, 2, big));
            if code == OPT_END {
                break;
            }
            let Some(value) = opts.get(4..4 + olen) else {
                break;
            };
            match code {
                OPT_IF_NAME => {
                    let s = String::from_utf8_lossy(value);
                    name = Some(s.trim_end_matches('\0').to_string());
                }
                OPT_IF_TSRESOL => {
                    if let Some(&b) = value.first() {
                        scale = TsScale::from_tsresol(b);
                    }
                }
                OPT_IF_TSOFFSET => {
                    if let Some(a) = value.first_chunk::<8>() {
                        let secs = if big {
                            i64::from_be_bytes(*a)
                        } else {
                            i64::from_le_bytes(*a)
                        };
                        offset_ns = secs.saturating_mul(NANOS_PER_SEC);
                    }
                }
                _ => {}
            }
            let padded = (4 + olen + 3) & !3;
            opts = opts.get(padded..).unwrap_or_default();
        }
        self.ifaces.push(Iface {
            link,
            snaplen,
            scale,
            offset_ns,
        });
        Arc::make_mut(out.interfaces).push(InterfaceInfo { name, link });
        Ok(())
    }

    /// The file-wide interface index of interface `id` of the current section.
    fn lookup(&self, id: u32) -> Option<usize> {
        let idx = self.section_base.checked_add(id as usize)?;
        (idx < self.ifaces.len()).then_some(idx)
    }

    /// Enhanced and obsolete packet blocks: same layout after the interface id
    /// (ts high, ts low, caplen, orig_len at 4..20), data at `data_at`.
    fn packet(
        &mut self,
        body: &[u8],
        body_at: usize,
        id: u32,
        data_at: usize,
        out: &mut Out<'_>,
    ) -> Result<(), CaptureError> {
        let big = self.big;
        if body.len() < data_at {
            return Err(out.bad_block(format!("packet block body of {} bytes", body.len())));
        }
        let caplen = rd32(body, 12, big);
        if caplen > MAX_CAPLEN {
            return Err(out.caplen_too_large(caplen));
        }
        if data_at + caplen as usize > body.len() {
            return Err(out.bad_block(format!(
                "captured length {caplen} runs past the end of its {}-byte block",
                body.len() + 12
            )));
        }
        *out.number += 1;
        let Some(idx) = self.lookup(id) else {
            out.stats.unknown_interface += 1;
            return Ok(());
        };
        let Some(iface) = self.ifaces.get(idx) else {
            return Ok(());
        };
        let ticks = (u64::from(rd32(body, 4, big)) << 32) | u64::from(rd32(body, 8, big));
        let ts = iface.scale.to_nanos(ticks).saturating_add(iface.offset_ns);
        self.last_ts = ts;
        out.push(RawPacket {
            offset: body_at + data_at,
            caplen,
            orig_len: rd32(body, 16, big),
            ts,
            link: iface.link,
            iface: idx as u16,
            snaplen: iface.snaplen,
        })
    }

    /// Simple packet block: interface 0 of the section, no timestamp, and a captured
    /// length that is implied (orig_len cut to snaplen and to the block).
    fn simple_packet(
        &mut self,
        body: &[u8],
        body_at: usize,
        out: &mut Out<'_>,
    ) -> Result<(), CaptureError> {
        if body.len() < 4 {
            return Err(out.bad_block(format!("simple packet block body of {} bytes", body.len())));
        }
        let orig_len = rd32(body, 0, self.big);
        let room = u32::try_from(body.len() - 4).unwrap_or(u32::MAX);
        let Some(idx) = self.lookup(0) else {
            *out.number += 1;
            out.stats.unknown_interface += 1;
            return Ok(());
        };
        let Some(iface) = self.ifaces.get(idx) else {
            return Ok(());
        };
        let mut caplen = orig_len.min(room);
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen);
        }
        if caplen > MAX_CAPLEN {
            return Err(out.caplen_too_large(caplen));
        }
        *out.number += 1;
        out.push(RawPacket {
            offset: body_at + 4,
            caplen,
            orig_len,
            ts: self.last_ts,
            link: iface.link,
            iface: idx as u16,
            snaplen: iface.snaplen,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsresol_conversions() {
        assert_eq!(TsScale::from_tsresol(6), TsScale::Mul(1_000));
        assert_eq!(TsScale::from_tsresol(9), TsScale::Mul(1));
        assert_eq!(TsScale::from_tsresol(0), TsScale::Mul(1_000_000_000));
        assert_eq!(TsScale::from_tsresol(12).to_nanos(1_500_000), 1_500);
        assert_eq!(
            TsScale::from_tsresol(0x80 | 10).to_nanos(1024 * 3 + 512),
            3_500_000_000
        );
        assert_eq!(
            TsScale::from_tsresol(0x80 | 30).to_nanos(1 << 30),
            1_000_000_000
        );
        assert_eq!(TsScale::from_tsresol(127).to_nanos(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0xff).to_nanos(u64::MAX), 0);
        assert_eq!(TsScale::from_tsresol(0).to_nanos(u64::MAX), i64::MAX);
        assert_eq!(TsScale::from_tsresol(47).to_nanos(u64::MAX), 0);
    }

    #[test]
    fn byte_order_magic_both_ways() {
        let mut h = [0u8; 12];
        h[8..12].copy_from_slice(&[0x1a, 0x2b, 0x3c, 0x4d]);
        assert_eq!(byte_order(&h), Some(true));
        h[8..12].copy_from_slice(&[0x4d, 0x3c, 0x2b, 0x1a]);
        assert_eq!(byte_order(&h), Some(false));
        h[8..12].copy_from_slice(&[0x4d, 0x3c, 0x2b, 0x1b]);
        assert_eq!(byte_order(&h), None);
    }
}
