//! Operator-facing flags: `--version` names the commit, logs come out as text or
//! JSON at the level asked.

mod common;

use common::{bin, repo_path};
use std::process::Command;

#[test]
fn version_names_the_commit_and_features() {
    let out = Command::new(bin()).arg("--version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let want = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    assert!(
        text.starts_with(&format!("bridgewatch {}\n", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    assert!(text.contains(&format!("\ncommit: {want}\n")), "{text}");
    assert!(text.contains("\nfeatures: "), "{text}");
}

#[test]
fn json_logs_are_one_object_per_line_at_the_level_asked() {
    let run = |extra: &[&str]| {
        let out = Command::new(bin())
            .args(extra)
            .args(["replay", "-q", "--no-rules"])
            .arg(repo_path("pcaps/demo-container-host.pcap"))
            .env_remove("RUST_LOG")
            .env_remove("BRIDGEWATCH_LOG")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stderr).unwrap()
    };
    let err = run(&["--log-format", "json", "--log-level", "info"]);
    let logs: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    let finished = logs
        .iter()
        .find(|v| v["fields"]["message"] == "replay finished")
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(finished["level"], "INFO");
    assert_eq!(finished["fields"]["packets"], 431);
    // The default level is warn: a clean replay logs nothing.
    assert_eq!(run(&[]), "");
    // Text at info: the same event, human-readable; the flag is global (after the subcommand too).
    let out = Command::new(bin())
        .args(["replay", "-q", "--no-rules", "--log-level", "info"])
        .arg(repo_path("pcaps/demo-container-host.pcap"))
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("INFO") && err.contains("replay finished"),
        "{err}"
    );
    assert!(!err.contains("{\""), "{err}");
}

#[test]
fn bad_log_flags_are_refused() {
    let out = Command::new(bin())
        .args(["--log-level", "bridgewatch=loud", "fields"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-level 'bridgewatch=loud'"));
    let out = Command::new(bin())
        .args(["--log-format", "xml", "fields"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
