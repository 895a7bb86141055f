//! Structured logs on stderr through `tracing`: human text or one JSON object per
//! line (`--log-format`), filtered by `--log-level`, else `RUST_LOG`, else
//! `BRIDGEWATCH_LOG`, else `warn`.  Logs are for operators (startup, endpoints,
//! delivery trouble); the run summary and alerts are not logs and keep their own
//! channels.

use tracing_subscriber::EnvFilter;

/// The accepted `--log-format` values.
pub const FORMATS: [&str; 2] = ["text", "json"];

/// Installs the global subscriber.  `level` is a level (`info`) or a filter in
/// `RUST_LOG` syntax (`warn,bridgewatch=debug`); an invalid one is an error naming it.
pub fn init(format: &str, level: Option<&str>) -> Result<(), String> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).map_err(|e| format!("--log-level '{l}': {e}"))?,
        None => ["RUST_LOG", "BRIDGEWATCH_LOG"]
            .iter()
            .find_map(|v| {
                std::env::var(v)
                    .ok()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| (v, s))
            })
            .map(|(v, s)| EnvFilter::try_new(&s).map_err(|e| format!("{v}='{s}': {e}")))
            .transpose()?
            .unwrap_or_else(|| EnvFilter::new("warn")),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    // A second init (tests) keeps the first subscriber: not an error worth failing on.
    let _ = match format {
        "json" => builder.json().with_current_span(false).try_init(),
        "text" => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        other => return Err(format!("--log-format '{other}': expected text or json")),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_bad_filter_is_named() {
        let e = super::init("text", Some("bridgewatch=notalevel")).unwrap_err();
        assert!(e.starts_with("--log-level 'bridgewatch=notalevel'"), "{e}");
        assert!(super::init("xml", Some("info")).is_err());
    }
}
