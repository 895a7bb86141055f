//! Helpers shared by the end-to-end tests: locating `../shared`, running the
//! binary, reading its JSON lines.
#![allow(dead_code)]

pub mod docker;
pub mod fifo;
pub mod http;
pub mod net;
pub mod pcapgen;
pub mod rsyslog;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `../shared/pcaps` beside the repository.  When it is missing the test is skipped
/// with a printed reason — except in CI (`CI` set), where that is a failure.
pub fn shared_pcaps(test: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pcaps");
    if p.is_dir() {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {} is missing, and CI must not skip", p.display());
    }
    eprintln!(
        "SKIP {test}: {} not found (a user's clone has no shared/)",
        p.display()
    );
    None
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bridgewatch")
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs `bridgewatch replay ARGS... --flows - FILES...` and returns (records, output).
pub fn replay(files: &[&Path], args: &[&str]) -> (Vec<Value>, Output) {
    let out = Command::new(bin())
        .arg("replay")
        .args(args)
        .args(["--flows", "-", "--quiet", "--no-rules"])
        .args(files)
        .output()
        .expect("run bridgewatch");
    (json_lines(&out.stdout), out)
}

pub fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Every file below `dir` whose name ends with one of `exts`, sorted.
pub fn files_with(dir: &Path, exts: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                if exts.iter().any(|x| name.ends_with(x)) {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

pub fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn u(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}
