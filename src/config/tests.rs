//! Config tests: both syntaxes give the same outputs; unknown keys and bad values
//! are refused with the key's path (and the line, where the parser knows it); the
//! flags add outputs of their own.

use super::file::{from_toml, from_yaml};
use super::*;
use clap::Parser;

fn args(extra: &[&str]) -> ReplayArgs {
    let mut v = vec!["bridgewatch", "replay"];
    v.extend_from_slice(extra);
    v.push("x.pcap");
    match crate::cli::Cli::parse_from(v).command {
        crate::cli::Command::Replay(a) => *a,
        _ => unreachable!(),
    }
}

fn build(raw: file::RawConfig) -> Result<OutputsConfig, String> {
    let mut cfg = OutputsConfig {
        outputs: Vec::new(),
        flush_timeout: DEFAULT_FLUSH_TIMEOUT,
    };
    from_raw(raw, "node1", &mut cfg)?;
    Ok(cfg)
}

const TOML: &str = r#"
flush_timeout = 3.5

[[outputs]]
name = "siem"
carries = "alerts"
format = "cef"
min_priority = "WARNING"
syslog = { url = "tcp://127.0.0.1:6514" }
delivery = { queue = 1000, spool_dir = "/tmp/spool-a", spool_max_bytes = 1048576 }

[[outputs]]
carries = "both"
format = "ecs"
[outputs.file]
path = "/tmp/events.jsonl"
max_bytes = 1000
keep = 2

[[outputs]]
carries = "flows"
format = "ocsf"
[outputs.http]
url = "http://127.0.0.1:9200"
kind = "elasticsearch"
basic = "elastic:pw"
headers = { X-Tenant = "blue" }
[outputs.delivery]
batch = 50
timeout = 2
"#;

const YAML: &str = r#"
flush_timeout: 3.5
outputs:
  - name: siem
    carries: alerts
    format: cef
    min_priority: WARNING
    syslog: {url: "tcp://127.0.0.1:6514"}
    delivery: {queue: 1000, spool_dir: /tmp/spool-a, spool_max_bytes: 1048576}
  - carries: both
    format: ecs
    file:
      path: /tmp/events.jsonl
      max_bytes: 1000
      keep: 2
  - carries: flows
    format: ocsf
    http:
      url: http://127.0.0.1:9200
      kind: elasticsearch
      basic: elastic:pw
      headers: {X-Tenant: blue}
    delivery:
      batch: 50
      timeout: 2
"#;

#[test]
fn toml_and_yaml_declare_the_same_outputs() {
    for (what, raw) in [
        ("toml", from_toml(TOML).unwrap()),
        ("yaml", from_yaml(YAML).unwrap()),
    ] {
        let c = build(raw).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(c.flush_timeout, Duration::from_millis(3500), "{what}");
        assert_eq!(c.outputs.len(), 3, "{what}");
        let [siem, file, es] = &c.outputs[..] else {
            unreachable!()
        };
        assert_eq!(siem.name, "siem");
        assert_eq!((siem.format, siem.carries), (Format::Cef, Carries::Alerts));
        assert_eq!(siem.min_priority, Priority::Warning);
        assert_eq!(siem.delivery.queue, 1000);
        assert_eq!(
            siem.spool,
            Some((PathBuf::from("/tmp/spool-a"), 1 << 20)),
            "{what}"
        );
        let SinkSpec::Syslog(t) = &siem.sink else {
            panic!("{what}: {:?}", siem.sink)
        };
        assert_eq!(t.addr, "127.0.0.1:6514");
        assert_eq!((file.format, file.carries), (Format::Ecs, Carries::Both));
        assert_eq!(file.name, "outputs[1] file /tmp/events.jsonl");
        let SinkSpec::File(f) = &file.sink else {
            panic!("{what}")
        };
        assert_eq!(
            (f.max_bytes, f.keep, f.append),
            (Some(1000), 2, true),
            "{what}"
        );
        assert_eq!(es.carries, Carries::Flows);
        assert_eq!(es.delivery.batch, Some(50));
        let SinkSpec::Http(h) = &es.sink else {
            panic!("{what}")
        };
        assert_eq!(h.url, "http://127.0.0.1:9200/_bulk");
        assert_eq!(h.timeout, Duration::from_secs(2));
        assert_eq!(h.headers, vec![("X-Tenant".into(), "blue".into())]);
        assert_eq!(h.basic.as_deref(), Some("elastic:pw"));
    }
}

#[test]
fn unknown_keys_are_refused_with_their_path_and_line() {
    let toml = "[[outputs]]\nstdout = {}\n\n[[outputs]]\nsyslog = { url = \"udp://h:514\" }\ndelivery = { queue = 5, retries = 3 }\n";
    let e = from_toml(toml).unwrap_err();
    assert!(
        e.contains("outputs[1].delivery.retries: unknown key"),
        "{e}"
    );
    assert!(e.starts_with("6:"), "line 6 named: {e}");
    let yaml = "outputs:\n  - stdout: {}\n  - syslog: {url: \"udp://h:514\"}\n    delivery:\n      queue: 5\n      retries: 3\n";
    let e = from_yaml(yaml).unwrap_err();
    assert!(
        e.contains("outputs[1].delivery.retries: unknown key"),
        "{e}"
    );
    assert!(e.starts_with("6:7: "), "the key's line and column: {e}");
    let e = from_yaml("outputs:\n  - stdout: {}\n    colour: red\n").unwrap_err();
    assert!(e.starts_with("3:5: outputs[0].colour: unknown key"), "{e}");
    let e = from_toml("outptus = []\n").unwrap_err();
    assert!(e.contains("outptus: unknown key"), "{e}");
    // Syntax errors carry the parser's position.
    let e = from_yaml("outputs:\n  - stdout: {\n").unwrap_err();
    assert!(e.contains(':'), "{e}");
    let e = from_yaml("outputs: []\n---\noutputs: []\n").unwrap_err();
    assert!(e.contains("a second YAML document"), "{e}");
    let e = from_toml("[[outputs]\n").unwrap_err();
    assert!(e.starts_with("1:"), "{e}");
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        (
            "[[outputs]]\nstdout = {}\nformat = \"xml\"\n",
            "outputs[0].format: unknown format",
        ),
        (
            "[[outputs]]\nstdout = {}\ncarries = \"logs\"\n",
            "outputs[0].carries: unknown variant",
        ),
        (
            "[[outputs]]\nstdout = {}\nmin_priority = \"LOUD\"\n",
            "outputs[0].min_priority: unknown priority",
        ),
        (
            "[[outputs]]\ncarries = \"flows\"\nmin_priority = \"ERROR\"\nstdout = {}\n",
            "outputs[0].min_priority: this output carries flows only",
        ),
        (
            "[[outputs]]\nformat = \"cef\"\n",
            "outputs[0]: give exactly one sink",
        ),
        (
            "[[outputs]]\nstdout = {}\nfile = { path = \"x\" }\n",
            "outputs[0]: give exactly one sink",
        ),
        (
            "[[outputs]]\nsyslog = { url = \"tcp://h\" }\n",
            "outputs[0].syslog.url:",
        ),
        (
            "[[outputs]]\nhttp = { url = \"ftp://h\" }\n",
            "outputs[0].http: ",
        ),
        (
            "[[outputs]]\nhttp = { url = \"http://h\", kind = \"kafka\" }\n",
            "outputs[0].http.kind: ",
        ),
        (
            "[[outputs]]\nfile = { path = \"x\" }\ndelivery = { queue = 10 }\n",
            "outputs[0].delivery: only syslog and http",
        ),
        (
            "[[outputs]]\nsyslog = { url = \"udp://h:1\" }\ndelivery = { timeout = 3 }\n",
            "outputs[0].delivery.timeout: only http",
        ),
        (
            "[[outputs]]\nsyslog = { url = \"udp://h:1\" }\ndelivery = { queue = 0 }\n",
            "outputs[0].delivery.queue: 0 is not",
        ),
        (
            "[[outputs]]\nfile = { path = \"x\", max_bytes = 0 }\n",
            "outputs[0].file.max_bytes",
        ),
        ("flush_timeout = -1\n", "flush_timeout: -1 is not"),
    ];
    for (text, want) in cases {
        let e = match from_toml(text) {
            Err(e) => e,
            Ok(raw) => build(raw).unwrap_err(),
        };
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn flags_add_outputs_and_alerts_default_to_stdout() {
    let none = outputs(&args(&[]), "h").unwrap();
    assert_eq!(none.outputs.len(), 1);
    assert!(matches!(none.outputs[0].sink, SinkSpec::Stdout));
    assert!(none.carries_alerts() && !none.carries_flows());

    let a = args(&[
        "--syslog",
        "udp://127.0.0.1:514",
        "--flows",
        "f.jsonl",
        "--flows-format",
        "ecs",
        "--spool-dir",
        "/tmp/sp",
    ]);
    let c = outputs(&a, "h").unwrap();
    let kinds: Vec<_> = c
        .outputs
        .iter()
        .map(|o| (o.name.as_str(), o.carries, o.format))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("syslog 127.0.0.1:514", Carries::Alerts, Format::Native),
            ("flows f.jsonl", Carries::Flows, Format::Ecs),
        ],
        "no stdout alerts: syslog takes them"
    );
    assert_eq!(
        c.outputs[0].spool.as_ref().unwrap().0,
        PathBuf::from("/tmp/sp/syslog")
    );

    // With a config file: its outputs first, then the flags'.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("out.yaml");
    std::fs::write(&p, "outputs:\n  - stdout: {}\n    carries: flows\n").unwrap();
    let c = outputs(
        &args(&["--config", p.to_str().unwrap(), "--alerts", "a.jsonl"]),
        "h",
    )
    .unwrap();
    assert_eq!(c.outputs.len(), 2);
    assert_eq!(c.outputs[1].name, "alerts a.jsonl");
    // No output of the file takes alerts: they still default to stdout.
    let c = outputs(&args(&["--config", p.to_str().unwrap()]), "h").unwrap();
    assert!(
        matches!(c.outputs[1].sink, SinkSpec::Stdout) && c.outputs[1].carries == Carries::Alerts
    );

    // Errors name the file; a wrong extension is refused.
    std::fs::write(&p, "outputs:\n  - stdout: {}\n    carries: sometimes\n").unwrap();
    let e = outputs(&args(&["--config", p.to_str().unwrap()]), "h").unwrap_err();
    assert!(e.starts_with(&format!("{}:3:", p.display())), "{e}");
    let q = dir.path().join("out.ini");
    std::fs::write(&q, "").unwrap();
    let e = outputs(&args(&["--config", q.to_str().unwrap()]), "h").unwrap_err();
    assert!(e.contains("name it .toml, .yaml or .yml"), "{e}");
    let e = outputs(&args(&["--config", "/nonexistent/x.toml"]), "h").unwrap_err();
    assert!(e.contains("/nonexistent/x.toml: cannot read"), "{e}");
}

#[test]
fn two_outputs_may_not_share_a_file_or_a_spool() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("o.toml");
    std::fs::write(&p, "[[outputs]]\nfile = { path = \"same.jsonl\" }\n").unwrap();
    let e = outputs(
        &args(&["--config", p.to_str().unwrap(), "--alerts", "same.jsonl"]),
        "h",
    )
    .unwrap_err();
    assert!(e.contains("both write same.jsonl"), "{e}");
    std::fs::write(
        &p,
        "[[outputs]]\nsyslog = { url = \"udp://h:1\" }\ndelivery = { spool_dir = \"/tmp/s\" }\n[[outputs]]\nhttp = { url = \"http://h\" }\ndelivery = { spool_dir = \"/tmp/s\" }\n",
    )
    .unwrap();
    let e = outputs(&args(&["--config", p.to_str().unwrap()]), "h").unwrap_err();
    assert!(e.contains("share the spool directory /tmp/s"), "{e}");
    std::fs::write(
        &p,
        "[[outputs]]\nname = \"a\"\nstdout = {}\n[[outputs]]\nname = \"a\"\nfile = { path = \"x\" }\n",
    )
    .unwrap();
    let e = outputs(&args(&["--config", p.to_str().unwrap()]), "h").unwrap_err();
    assert!(e.contains("two outputs are named \"a\""), "{e}");
}

#[test]
fn the_shipped_example_loads() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/outputs.example.toml");
    let raw = file::load(&p).unwrap_or_else(|e| panic!("{e}"));
    let c = build(raw).unwrap_or_else(|e| panic!("{e}"));
    assert!(c.outputs.len() >= 4, "one of each sink");
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(
        readme.contains(&text),
        "README.md shows docs/outputs.example.toml as it is"
    );
    let y = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/outputs.example.yaml");
    let ry = build(file::load(&y).unwrap_or_else(|e| panic!("{e}"))).unwrap();
    assert_eq!(
        format!("{:?}", ry.outputs),
        format!("{:?}", c.outputs),
        "the YAML example says the same"
    );
}

#[test]
fn watch_takes_the_same_output_flags_as_replay() {
    let flags = [
        "--syslog",
        "tcp://127.0.0.1:514",
        "--spool-dir",
        "/tmp/sp",
        "--flows",
        "f.jsonl",
        "--alerts-format",
        "cef",
    ];
    let mut v = vec!["bridgewatch", "watch", "-i", "br0"];
    v.extend_from_slice(&flags);
    let w = match crate::cli::Cli::parse_from(v).command {
        crate::cli::Command::Watch(a) => *a,
        _ => unreachable!(),
    };
    let from_watch = outputs_from(&w.output, w.rule.no_rules, "h").unwrap();
    let from_replay = outputs(&args(&flags), "h").unwrap();
    let describe = |c: &OutputsConfig| -> Vec<String> {
        c.outputs
            .iter()
            .map(|o| format!("{} {:?} {:?} {:?}", o.name, o.carries, o.format, o.spool))
            .collect()
    };
    assert_eq!(describe(&from_watch), describe(&from_replay));
    assert_eq!(from_watch.outputs.len(), 2, "syslog takes the alerts");
}
