//! The file output: lines (JSON, or CEF) appended to a file, rotated by size and
//! reopened on SIGUSR1.
//!
//! Rotation: before a line that would take the file past `max_bytes`, `path` becomes
//! `path.1`, `path.1` becomes `path.2` ... up to `path.KEEP` (older ones are
//! deleted), and a new `path` is started; so no file exceeds `max_bytes` unless a
//! single line does, and a line is never split across files.  Reopen: after a SIGUSR1
//! ([`crate::signals`]) the next line goes to a freshly opened `path`, so logrotate
//! can rename the file away and signal bridgewatch (`postrotate`) without losing a
//! line or writing into the renamed file forever.  Both happen only between lines.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// A validated file output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSpec {
    pub path: PathBuf,
    /// Rotate before the file would grow past this; `None`: never rotate.
    pub max_bytes: Option<u64>,
    /// Rotated files kept (`path.1` ... `path.KEEP`).
    pub keep: usize,
    /// Append to an existing file (else it is truncated when opened).
    pub append: bool,
}

/// A file that rotates by size and reopens on SIGUSR1; feed it whole lines.
pub struct RotatingFile {
    spec: FileSpec,
    file: File,
    len: u64,
    generation: u64,
    at_line_start: bool,
    /// Rotations done (for the summary).
    pub rotations: u64,
}

fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn open(path: &Path, append: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.create(true);
    if append {
        o.append(true);
    } else {
        o.write(true).truncate(true);
    }
    o.open(path)
}

impl RotatingFile {
    pub fn open(spec: FileSpec) -> io::Result<RotatingFile> {
        let file = open(&spec.path, spec.append)?;
        let len = file.metadata()?.len();
        Ok(RotatingFile {
            spec,
            file,
            len,
            generation: crate::signals::reopen_generation(),
            at_line_start: true,
            rotations: 0,
        })
    }

    fn reopen(&mut self) -> io::Result<()> {
        let _ = self.file.flush();
        self.file = open(&self.spec.path, true)?;
        self.len = self.file.metadata()?.len();
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let _ = self.file.flush();
        let path = &self.spec.path;
        if self.spec.keep == 0 {
            remove_if_there(path)?;
        } else {
            remove_if_there(&numbered(path, self.spec.keep))?;
            for i in (1..self.spec.keep).rev() {
                rename_if_there(&numbered(path, i), &numbered(path, i + 1))?;
            }
            rename_if_there(path, &numbered(path, 1))?;
        }
        self.file = open(path, false)?;
        self.len = 0;
        self.rotations += 1;
        Ok(())
    }
}

fn remove_if_there(p: &Path) -> io::Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_there(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Length of the first line of `buf`, its newline included (all of it without one).
fn line_len(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |i| i + 1)
}

impl Write for RotatingFile {
    /// Writes whole lines only (as many as fit before the next rotation, at least
    /// one); `write_all` calls again for the rest.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.at_line_start {
            let g = crate::signals::reopen_generation();
            if g != self.generation {
                self.generation = g;
                self.reopen()?;
            }
        }
        let mut n = line_len(buf);
        match self.spec.max_bytes {
            Some(max) => {
                if self.at_line_start && self.len > 0 && self.len + n as u64 > max {
                    self.rotate()?;
                }
                while n < buf.len() {
                    let m = line_len(&buf[n..]);
                    if self.len + (n + m) as u64 > max {
                        break;
                    }
                    n += m;
                }
            }
            None => n = buf.len(),
        }
        self.file.write_all(&buf[..n])?;
        self.len += n as u64;
        self.at_line_start = buf[..n].ends_with(b"\n");
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize, width: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for i in 0..n {
            let s = format!("{i:0w$}\n", w = width - 1);
            v.extend_from_slice(s.as_bytes());
        }
        v
    }

    #[test]
    fn rotates_at_line_boundaries_and_keeps_n_files() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("alerts.jsonl");
        let mut f = RotatingFile::open(FileSpec {
            path: path.clone(),
            max_bytes: Some(100),
            keep: 3,
            append: true,
        })
        .unwrap();
        // 60 lines of 10 bytes: 600 bytes, 10 lines per file, written in uneven chunks.
        let all = lines(60, 10);
        for chunk in all.chunks(37) {
            f.write_all(chunk).unwrap();
        }
        f.flush().unwrap();
        assert_eq!(f.rotations, 5);
        let read = |p: &Path| std::fs::read(p).unwrap();
        // The live file and three kept ones; the two oldest were deleted.
        assert_eq!(read(&path), all[500..600]);
        for i in 1..=3 {
            assert_eq!(read(&numbered(&path, i)), all[500 - 100 * i..600 - 100 * i]);
        }
        assert!(!numbered(&path, 4).exists());
        // A chunk boundary inside a line never splits it across files.
        let mut g = RotatingFile::open(FileSpec {
            path: d.path().join("odd"),
            max_bytes: Some(25),
            keep: 1,
            append: false,
        })
        .unwrap();
        g.write_all(b"0123456789\n012345").unwrap();
        g.write_all(b"6789\nabcdefghij\n").unwrap();
        assert_eq!(read(&d.path().join("odd")), b"abcdefghij\n");
        assert_eq!(read(&d.path().join("odd.1")), b"0123456789\n0123456789\n");
    }

    #[test]
    fn keep_zero_truncates_and_an_oversized_line_still_goes_out() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("f");
        let mut f = RotatingFile::open(FileSpec {
            path: path.clone(),
            max_bytes: Some(8),
            keep: 0,
            append: false,
        })
        .unwrap();
        f.write_all(b"abc\n").unwrap();
        f.write_all(b"a line longer than eight\n").unwrap();
        f.write_all(b"xy\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"xy\n");
        assert!(!numbered(&path, 1).exists());
        assert_eq!(f.rotations, 2);
    }
}
