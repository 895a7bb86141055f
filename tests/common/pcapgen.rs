//! A tiny classic-pcap writer for tests: Ethernet/IPv4 TCP and UDP frames built
//! by hand (checksums left zero: bridgewatch does not verify them).
#![allow(dead_code)]

pub struct PcapBuilder {
    pub bytes: Vec<u8>,
    pub packets: usize,
}

impl Default for PcapBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PcapBuilder {
    pub fn new() -> PcapBuilder {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&0i32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&65535u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes()); // Ethernet
        PcapBuilder { bytes, packets: 0 }
    }

    pub fn frame(&mut self, ts_us: u64, frame: &[u8]) {
        self.bytes
            .extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(frame);
        self.packets += 1;
    }

    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        ts_us: u64,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        flags: u8,
        seq: u32,
        ack: u32,
        payload: usize,
    ) {
        let mut l4 = Vec::with_capacity(20 + payload);
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        l4.extend_from_slice(&seq.to_be_bytes());
        l4.extend_from_slice(&ack.to_be_bytes());
        l4.push(5 << 4);
        l4.push(flags);
        l4.extend_from_slice(&65535u16.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 0]);
        l4.resize(20 + payload, b'x');
        let f = ipv4_frame(src, dst, 6, &l4);
        self.frame(ts_us, &f);
    }

    pub fn udp(
        &mut self,
        ts_us: u64,
        src: [u8; 4],
        sport: u16,
        dst: [u8; 4],
        dport: u16,
        payload: usize,
    ) {
        let mut l4 = Vec::with_capacity(8 + payload);
        l4.extend_from_slice(&sport.to_be_bytes());
        l4.extend_from_slice(&dport.to_be_bytes());
        l4.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.resize(8 + payload, b'u');
        let f = ipv4_frame(src, dst, 17, &l4);
        self.frame(ts_us, &f);
    }

    /// A complete TCP session: handshake, one request, one response, FIN/ACK teardown.
    pub fn tcp_session(&mut self, ts_us: u64, c: [u8; 4], cport: u16, s: [u8; 4], sport: u16) {
        const SYN: u8 = 0x02;
        const ACK: u8 = 0x10;
        const FIN: u8 = 0x01;
        const PSH: u8 = 0x08;
        self.tcp(ts_us, c, cport, s, sport, SYN, 1000, 0, 0);
        self.tcp(ts_us + 10, s, sport, c, cport, SYN | ACK, 5000, 1001, 0);
        self.tcp(ts_us + 20, c, cport, s, sport, ACK, 1001, 5001, 0);
        self.tcp(ts_us + 30, c, cport, s, sport, PSH | ACK, 1001, 5001, 100);
        self.tcp(ts_us + 40, s, sport, c, cport, PSH | ACK, 5001, 1101, 300);
        self.tcp(ts_us + 50, c, cport, s, sport, FIN | ACK, 1101, 5301, 0);
        self.tcp(ts_us + 60, s, sport, c, cport, FIN | ACK, 5301, 1102, 0);
        self.tcp(ts_us + 70, c, cport, s, sport, ACK, 1102, 5302, 0);
    }

    pub fn write(&self, path: &std::path::Path) {
        std::fs::write(path, &self.bytes).expect("write pcap");
    }
}

pub fn ipv4_frame(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(34 + l4.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + l4.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(l4);
    f
}
