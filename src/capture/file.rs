//! Capture-file reader: classic pcap (µs/ns, either byte order), pcapng, gzip of either.
//! (Stub: filled in by the capture work.)

use super::{CaptureError, PacketBatch, ReaderStats};
use std::path::{Path, PathBuf};

/// Reads one capture file sequentially into [`PacketBatch`]es.
pub struct CaptureReader {
    path: PathBuf,
    stats: ReaderStats,
}

/// Opens `path`, detects gzip / pcap / pcapng from its first bytes and reads the file header.
pub fn open_file(path: &Path) -> Result<CaptureReader, CaptureError> {
    Err(CaptureError::Open {
        path: path.to_path_buf(),
        source: std::io::Error::other("not implemented"),
    })
}

impl CaptureReader {
    /// Appends packets to `batch` (after `batch.clear()` by the caller) until about
    /// `target_bytes` of packet data are in it or the file ends.  Returns `Ok(false)`
    /// when the file has no more packets.  On `Err`, the packets already appended to
    /// `batch` are valid and should still be processed; the file is finished.
    pub fn next_batch(
        &mut self,
        batch: &mut PacketBatch,
        target_bytes: usize,
    ) -> Result<bool, CaptureError> {
        let _ = (batch, target_bytes);
        Ok(false)
    }

    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// (bytes consumed from the file on disk, total size on disk if known): drives the progress bar.
    pub fn progress(&self) -> (u64, Option<u64>) {
        (0, None)
    }
}
