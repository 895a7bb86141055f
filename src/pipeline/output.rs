//! Where flow records go: a shared writer (stdout, a file, `/dev/null`) that workers
//! feed in large chunks.  Each worker formats records into its own buffer and takes
//! the writer's lock only once per chunk, so output never contends per packet.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Size at which a worker hands its buffer to the shared writer.
pub const CHUNK: usize = 1 << 20;

/// A destination shared by all workers.
pub struct SharedWriter {
    label: String,
    inner: Mutex<WriterState>,
}

struct WriterState {
    w: Box<dyn Write + Send>,
    failed: Option<std::io::Error>,
}

impl SharedWriter {
    /// `-` is stdout; anything else is a file created (or truncated) at that path.
    pub fn open(target: &Path) -> std::io::Result<SharedWriter> {
        let (label, w): (String, Box<dyn Write + Send>) = if target == Path::new("-") {
            ("stdout".into(), Box::new(std::io::stdout()))
        } else {
            let f = std::fs::File::create(target)?;
            (target.display().to_string(), Box::new(f))
        };
        Ok(SharedWriter::new(label, w))
    }

    pub fn new(label: String, w: Box<dyn Write + Send>) -> SharedWriter {
        SharedWriter {
            label,
            inner: Mutex::new(WriterState { w, failed: None }),
        }
    }

    /// Writes `buf` whole and clears it.  After a write error the writer stays failed
    /// (reported by [`SharedWriter::finish`]) and later chunks are discarded.
    pub fn write_chunk(&self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        let mut st = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if st.failed.is_none() {
            if let Err(e) = st.w.write_all(buf) {
                st.failed = Some(e);
            }
        }
        buf.clear();
    }

    /// Puts `w` in place of the current writer (a [`Held`] one), first writing to
    /// it what `held` kept.  Both happen under the writer's lock, so no chunk can
    /// land between them.
    pub fn attach(&self, mut w: Box<dyn Write + Send>, held: &Held) {
        let mut st = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let bytes = held.take();
        if st.failed.is_none() {
            if let Err(e) = w.write_all(&bytes) {
                st.failed = Some(e);
            }
        }
        st.w = w;
    }

    /// Marks the writer failed (its file could not be opened): later chunks are
    /// discarded, and [`SharedWriter::finish`] reports `e`.
    pub fn fail(&self, e: std::io::Error) {
        let mut st = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        st.failed.get_or_insert(e);
    }

    /// Flushes; returns the first write error, naming the destination.
    pub fn finish(&self) -> Result<(), String> {
        let mut st = match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        if st.failed.is_none() {
            if let Err(e) = st.w.flush() {
                st.failed = Some(e);
            }
        }
        match &st.failed {
            None => Ok(()),
            Some(e) => Err(format!("writing {}: {e}", self.label)),
        }
    }
}

/// A writer that keeps what it is given in memory, for a file that cannot be
/// opened yet: a reload's new output whose file the output it replaces still has
/// open ([`SharedWriter::attach`] hands the bytes on).
#[derive(Clone, Default)]
pub struct Held(Arc<Mutex<Vec<u8>>>);

impl Held {
    fn take(&self) -> Vec<u8> {
        match self.0.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

impl Write for Held {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut g) => g.extend_from_slice(buf),
            Err(p) => p.into_inner().extend_from_slice(buf),
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Parsed `--flows` / `--alerts` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    Stdout,
    File(PathBuf),
}

impl OutputTarget {
    pub fn parse(s: &str) -> OutputTarget {
        if s == "-" {
            OutputTarget::Stdout
        } else {
            OutputTarget::File(PathBuf::from(s))
        }
    }

    pub fn path(&self) -> &Path {
        match self {
            OutputTarget::Stdout => Path::new("-"),
            OutputTarget::File(p) => p,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_arrive_whole_and_errors_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.jsonl");
        let w = SharedWriter::open(&p).unwrap();
        let mut buf = b"{\"a\":1}\n".to_vec();
        w.write_chunk(&mut buf);
        assert!(buf.is_empty());
        w.finish().unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "{\"a\":1}\n");

        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("disk full"))
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let w = SharedWriter::new("broken".into(), Box::new(Broken));
        w.write_chunk(&mut b"x".to_vec());
        let e = w.finish().unwrap_err();
        assert!(e.contains("broken") && e.contains("disk full"), "{e}");
    }
}
