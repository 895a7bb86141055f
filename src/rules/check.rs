//! `bridgewatch rules check PATH...`: load files exactly as replay would and report
//! every error and warning as `file:line:column: message`, the line and a caret.

use super::{expand_paths, RuleSet};
use std::fmt::Write;
use std::path::PathBuf;

/// The report text and whether the files loaded without error.
pub fn check_paths(paths: &[PathBuf]) -> (String, bool) {
    let files = expand_paths(paths);
    let mut s = String::new();
    match RuleSet::load(paths) {
        Ok(set) => {
            for w in &set.warnings {
                let _ = write!(s, "{w}");
            }
            let enabled = set.rules.iter().filter(|r| r.enabled).count();
            let _ = writeln!(
                s,
                "OK: {} file(s), {} rule(s) ({} enabled), {} warning(s)",
                files.len(),
                set.len(),
                enabled,
                set.warnings.len()
            );
            (s, true)
        }
        Err(e) => {
            let _ = writeln!(s, "{e}");
            (s, false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_errors_with_caret_and_fails() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.yaml");
        std::fs::write(
            &p,
            "- rule: r\n  desc: d\n  condition: fd.sprt = 22\n  output: o\n  priority: INFO\n",
        )
        .unwrap();
        let (report, ok) = check_paths(std::slice::from_ref(&p));
        assert!(!ok);
        let first = report.lines().next().unwrap();
        assert!(first.ends_with("r.yaml:3:14: error: unknown field 'fd.sprt'; did you mean 'fd.sport', 'fd.cport', 'fd.lport'?") || first.contains("r.yaml:3:14: error: unknown field 'fd.sprt'; did you mean 'fd.sport'"), "{report}");
        assert!(
            report.contains("    condition: fd.sprt = 22\n                 ^"),
            "{report}"
        );
        std::fs::write(
            &p,
            "- rule: r\n  desc: d\n  condition: fd.sport = 22\n  output: o\n  priority: INFO\n",
        )
        .unwrap();
        let (report, ok) = check_paths(&[p]);
        assert!(ok, "{report}");
        assert!(report.contains("OK: 1 file(s), 1 rule(s)"));
    }

    #[test]
    fn missing_file_is_an_error() {
        let (report, ok) = check_paths(&[PathBuf::from("/nonexistent/rules.yaml")]);
        assert!(!ok);
        assert!(report.contains("cannot read"));
    }
}
