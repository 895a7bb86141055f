//! Engine-level tests: every shipped rule fires on its case and stays quiet on a near
//! miss; views, directions, errors and alert output behave as documented.

use super::*;
use crate::flow::record::FlowRecord;

pub(crate) const T0: i64 = 1_700_000_000_000_000_000;

pub(crate) fn flow(c: &str, cp: u16, s: &str, sp: u16, proto: u8) -> FlowRecord {
    FlowRecord {
        end: T0 + 2_000_000_000,
        uid: crate::flow::uid::Uid::from_seed(7),
        orig_pkts: 3,
        orig_ip_bytes: 180,
        orig_bytes: 20,
        resp_pkts: 2,
        resp_ip_bytes: 120,
        resp_bytes: 10,
        conn_state: "SF",
        history: "ShADadFf".into(),
        community_id: "1:abc".into(),
        ..FlowRecord::attempt(
            T0,
            (c.parse().unwrap(), cp),
            (s.parse().unwrap(), sp),
            proto,
        )
    }
}

fn inventory() -> Inventory {
    let mut inv = Inventory::default();
    inv.add(
        Container::new(
            "es1",
            "es",
            "docker.elastic.co/elasticsearch/elasticsearch:8.13.0",
        )
        .ip("172.17.0.2"),
    );
    inv.add(Container::new("es2", "es-b", "elasticsearch:8.13.0").ip("172.17.0.9"));
    inv.add(Container::new("app1", "app", "myorg/app:1.0").ip("172.17.0.3"));
    inv.add(
        Container::new("ci1", "runner", "gitlab/gitlab-runner:latest")
            .ip("172.17.0.4")
            .label("bridgewatch.allow-runtime-api", "true"),
    );
    inv.add(Container::new("redis1", "redis", "redis:7").ip("172.17.0.5"));
    inv.add(
        Container::new("web1", "web", "nginx:1.25")
            .ip("172.18.0.2")
            .label("com.docker.compose.service", "web"),
    );
    inv.add(
        Container::new("api1", "api", "myorg/api:2")
            .ip("172.18.0.3")
            .label("com.docker.compose.service", "api"),
    );
    inv.add(
        Container::new("db1", "db", "postgres:16")
            .ip("172.18.0.4")
            .label("com.docker.compose.service", "db"),
    );
    inv.add_host_ip("172.17.0.1".parse().unwrap());
    inv
}

fn engine() -> Engine {
    let rules = RuleSet::load_default().unwrap_or_else(|e| panic!("{e}"));
    Engine::new(
        Arc::new(rules),
        Arc::new(inventory()),
        EngineOptions {
            min_priority: Priority::Debug,
            hostname: "node1".into(),
        },
    )
}

fn fired(ev: &mut Evaluator, r: &FlowRecord) -> Vec<String> {
    let mut alerts = Vec::new();
    ev.on_flow_start(r, &mut alerts);
    ev.on_flow_end(r, &mut alerts);
    alerts.iter().map(|a| a.rule.to_string()).collect()
}

fn assert_rule(fire: &FlowRecord, near: &FlowRecord, rule: &str) {
    let e = engine();
    let mut ev = e.evaluator();
    assert_eq!(
        fired(&mut ev, fire),
        vec![rule.to_string()],
        "firing case for {rule}"
    );
    assert!(
        fired(&mut ev, near).is_empty(),
        "near miss for {rule}: {:?}",
        fired(&mut ev, near)
    );
}

#[test]
fn shipped_rules_load_without_warnings_that_matter() {
    let set = RuleSet::load_default().unwrap();
    assert!(set.len() >= 11);
    for r in &set.rules {
        assert!(!r.desc.is_empty(), "{}", r.name);
        assert!(!r.tags.is_empty(), "{}", r.name);
    }
    // Only library items of macros.yaml may go unused.
    assert!(
        set.warnings
            .iter()
            .all(|w| w.file.ends_with("macros.yaml") && w.message.contains("never used")),
        "{:?}",
        set.warnings
    );
}

#[test]
fn elasticsearch_outbound() {
    assert_rule(
        &flow("172.17.0.2", 40000, "203.0.113.7", 443, 6),
        &flow("172.17.0.2", 40000, "203.0.113.8", 9300, 6),
        "Elasticsearch Unexpected Outbound Connection",
    );
    // ES to ES on 9300 (internal) is fine too.
    let e = engine();
    assert!(fired(
        &mut e.evaluator(),
        &flow("172.17.0.2", 40000, "172.17.0.9", 9300, 6)
    )
    .is_empty());
}

#[test]
fn cloud_metadata() {
    assert_rule(
        &flow("172.17.0.3", 40000, "169.254.169.254", 80, 6),
        &flow("172.17.0.3", 40000, "169.254.169.253", 80, 6),
        "Container Contacts Cloud Metadata Service",
    );
    let e = engine();
    assert_eq!(
        fired(
            &mut e.evaluator(),
            &flow("172.17.0.3", 40000, "fd00:ec2::254", 80, 6)
        ),
        vec!["Container Contacts Cloud Metadata Service"]
    );
}

#[test]
fn runtime_api() {
    assert_rule(
        &flow("172.17.0.3", 40000, "172.17.0.1", 2375, 6),
        &flow("172.17.0.4", 40000, "172.17.0.1", 2375, 6),
        "Container Reaches Runtime or Kubernetes API",
    );
    let e = engine();
    assert_eq!(
        fired(
            &mut e.evaluator(),
            &flow("172.17.0.3", 40000, "10.0.0.1", 10250, 6)
        ),
        vec!["Container Reaches Runtime or Kubernetes API"]
    );
}

#[test]
fn mining_tor_irc() {
    assert_rule(
        &flow("172.17.0.3", 40000, "198.51.100.1", 3333, 6),
        &flow("172.17.0.3", 40000, "198.51.100.1", 8080, 6),
        "Connection to Crypto Mining Pool Port",
    );
    assert_rule(
        &flow("172.17.0.3", 40000, "198.51.100.1", 9001, 6),
        &flow("172.17.0.3", 40000, "198.51.100.1", 9002, 6),
        "Connection to Tor Port",
    );
    assert_rule(
        &flow("172.17.0.3", 40000, "198.51.100.1", 6667, 6),
        &flow("172.17.0.3", 40000, "198.51.100.1", 6666 + 1000, 6),
        "Connection to IRC Port",
    );
}

#[test]
fn remote_access() {
    assert_rule(
        &flow("172.17.0.3", 40000, "198.51.100.1", 22, 6),
        // The same port into a container is inbound, not this rule.
        &flow("198.51.100.1", 40000, "172.17.0.3", 22, 6),
        "Outbound Remote Access from Container",
    );
}

#[test]
fn dns_resolver() {
    assert_rule(
        &flow("172.17.0.3", 40000, "8.8.8.8", 53, 17),
        &flow("172.17.0.3", 40000, "127.0.0.11", 53, 17),
        "DNS to Unexpected Resolver",
    );
}

#[test]
fn inbound_data_store() {
    assert_rule(
        &flow("198.51.100.1", 40000, "172.17.0.5", 6379, 6),
        // A container client (internal) is not "from outside".
        &flow("172.17.0.3", 40000, "172.17.0.5", 6379, 6),
        "Inbound Connection to Container Data Store",
    );
}

#[test]
fn container_to_container_policy() {
    assert_rule(
        &flow("172.18.0.2", 40000, "172.18.0.4", 5432, 6),
        &flow("172.18.0.2", 40000, "172.18.0.3", 8080, 6),
        "Unexpected Container to Container Connection",
    );
}

#[test]
fn fanout_peers_and_ports() {
    let e = engine();
    let mut ev = e.evaluator();
    let mut alerts = Vec::new();
    for i in 0..21u32 {
        let mut r = flow(
            "172.17.0.3",
            40000,
            &format!("198.51.100.{}", i + 1),
            443,
            6,
        );
        r.ts = T0 + i64::from(i) * 100_000_000;
        ev.on_flow_start(&r, &mut alerts);
    }
    let names: Vec<_> = alerts.iter().map(|a| a.rule.to_string()).collect();
    assert_eq!(names, vec!["Container Fan-out to Many Peers"]);
    assert_eq!(
        alerts[0]
            .output_fields
            .iter()
            .find(|f| &*f.0 == "fanout.count")
            .unwrap()
            .1,
        FieldValue::U64(21)
    );
    // More peers in the same window do not repeat the alert.
    alerts.clear();
    for i in 21..60u32 {
        let mut r = flow(
            "172.17.0.3",
            40000,
            &format!("198.51.100.{}", i + 1),
            443,
            6,
        );
        r.ts = T0 + 3_000_000_000 + i64::from(i);
        ev.on_flow_start(&r, &mut alerts);
    }
    assert!(alerts.is_empty(), "{alerts:?}");

    // Near miss: 20 peers spread so no window holds more than 20.
    let e = engine();
    let mut ev = e.evaluator();
    for i in 0..40u32 {
        let mut r = flow(
            "172.17.0.3",
            40000,
            &format!("198.51.100.{}", i + 1),
            443,
            6,
        );
        r.ts = T0 + i64::from(i) * 600_000_000;
        ev.on_flow_start(&r, &mut alerts);
    }
    assert!(alerts.is_empty(), "{alerts:?}");

    // Ports: 21 distinct ports on one peer.
    for p in 0..21u16 {
        let r = flow("172.17.0.3", 40000, "198.51.100.1", 10_000 + p, 6);
        ev.on_flow_start(&r, &mut alerts);
    }
    let names: Vec<_> = alerts.iter().map(|a| a.rule.to_string()).collect();
    assert_eq!(names, vec!["Container Fan-out to Many Ports"]);
}

#[test]
fn views_run_per_container_end() {
    let src = "- rule: any\n  desc: d\n  condition: evt.type in (connect, accept)\n  output: '%evt.type %container.name %peer.container.name %fd.lport'\n  priority: INFO\n  tags: [t]\n";
    let set = RuleSet::from_sources(&[("t.yaml", src)]).unwrap();
    let e = Engine::new(
        Arc::new(set),
        Arc::new(inventory()),
        EngineOptions::default(),
    );
    let mut ev = e.evaluator();
    let mut a = Vec::new();
    ev.on_flow_start(&flow("172.18.0.2", 40000, "172.18.0.3", 8080, 6), &mut a);
    let outs: Vec<_> = a.iter().map(|x| x.output.clone()).collect();
    assert_eq!(outs, vec!["connect web api 40000", "accept api web 8080"]);
    a.clear();
    ev.on_flow_start(&flow("198.51.100.1", 1, "198.51.100.2", 2, 6), &mut a);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].output, "connect <NA> <NA> 1");
    a.clear();
    // Start rules never run at the end.
    ev.on_flow_end(&flow("172.18.0.2", 40000, "172.18.0.3", 8080, 6), &mut a);
    assert!(a.is_empty());
}

#[test]
fn end_rules_see_final_counters() {
    let src = "- rule: big\n  desc: d\n  condition: evt.type = end and flow.resp_bytes > 1000 and flow.duration >= 2\n  output: '%flow.resp_bytes bytes in %flow.duration s'\n  priority: NOTICE\n";
    let set = RuleSet::from_sources(&[("t.yaml", src)]).unwrap();
    let e = Engine::new(
        Arc::new(set),
        Arc::new(Inventory::default()),
        EngineOptions::default(),
    );
    let mut ev = e.evaluator();
    let mut r = flow("10.0.0.1", 1, "10.0.0.2", 80, 6);
    let mut a = Vec::new();
    ev.on_flow_start(&r, &mut a);
    ev.on_flow_end(&r, &mut a);
    assert!(a.is_empty());
    r.resp_bytes = 5000;
    ev.on_flow_start(&r, &mut a);
    assert!(a.is_empty());
    ev.on_flow_end(&r, &mut a);
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].output, "5000 bytes in 2 s");
    assert_eq!(a[0].time, r.end);
}

#[test]
fn operators_and_missing_values() {
    let cases = [
        ("fd.sip in (10.0.0.0/8, 192.168.1.5)", true),
        ("fd.snet in (rfc_1918_addresses)", true),
        ("fd.sip = 10.0.0.0/24", true),
        ("fd.sip != 10.0.0.2", false),
        (
            "fd.sport < 1024 and fd.sport >= 80 and fd.sport <= 80 and fd.cport >= 1",
            true,
        ),
        ("fd.l4proto = tcp and fd.l4proto != udp", true),
        ("fd.name = \"10.0.0.1:1->10.0.0.2:80\"", true),
        (
            "fd.name contains \"->10.0.0.2\" and fd.name startswith 10. and fd.name endswith :80",
            true,
        ),
        ("flow.community_id icontains ABC", true),
        (
            "flow.state glob \"S?\" and flow.state regex \"^S[F0]$\"",
            true,
        ),
        ("flow.state pmatch (S, /x)", false),
        ("container.name exists", false),
        ("container.name = x", false),
        ("container.name != x", false),
        ("not container.name = x", true),
        ("fd.sip.name exists", false),
        ("flow.orig_pkts in (1, 3) and flow.resp_pkts = 2", true),
        ("flow.direction = external and not internal", true),
        ("evt.time > 0", true),
        ("fd.sport intersects (80, 443)", true),
    ];
    for (cond, want) in cases {
        let src = format!("- list: rfc_1918_addresses\n  items: [10.0.0.0/8]\n- macro: internal\n  condition: flow.direction = internal\n- rule: r\n  desc: d\n  condition: '{}'\n  output: o\n  priority: INFO\n", cond.replace('\'', "''"));
        let set =
            RuleSet::from_sources(&[("t.yaml", &src)]).unwrap_or_else(|e| panic!("{cond}: {e}"));
        let e = Engine::new(
            Arc::new(set),
            Arc::new(Inventory::default()),
            EngineOptions::default(),
        );
        let mut a = Vec::new();
        e.evaluator()
            .on_flow_start(&flow("10.0.0.1", 1, "10.0.0.2", 80, 6), &mut a);
        assert_eq!(!a.is_empty(), want, "{cond}");
    }
}

#[test]
fn min_priority_filters() {
    let set = Arc::new(RuleSet::load_default().unwrap());
    let e = Engine::new(
        set,
        Arc::new(inventory()),
        EngineOptions {
            min_priority: Priority::Critical,
            hostname: "h".into(),
        },
    );
    let mut ev = e.evaluator();
    assert!(fired(&mut ev, &flow("172.17.0.3", 40000, "8.8.8.8", 53, 17)).is_empty());
    assert_eq!(
        fired(&mut ev, &flow("172.17.0.3", 40000, "172.17.0.1", 2375, 6)).len(),
        1
    );
}

#[test]
fn alert_json_has_falco_keys_and_escapes_names() {
    let mut inv = inventory();
    inv.add(Container::new("evil", "x\ny\u{1b}[2J", "evil:1").ip("172.17.0.66"));
    let e = Engine::new(
        Arc::new(RuleSet::load_default().unwrap()),
        Arc::new(inv),
        EngineOptions {
            min_priority: Priority::Debug,
            hostname: "node1".into(),
        },
    );
    let mut a = Vec::new();
    e.evaluator().on_flow_start(
        &flow("172.17.0.66", 40000, "169.254.169.254", 80, 6),
        &mut a,
    );
    assert_eq!(a.len(), 1);
    let mut out = Vec::new();
    a[0].write_json_line(&mut out);
    assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["time"], "2023-11-14T22:13:20.000000000Z");
    assert_eq!(v["rule"], "Container Contacts Cloud Metadata Service");
    assert_eq!(v["priority"], "Warning");
    assert_eq!(v["source"], "bridgewatch");
    assert_eq!(v["hostname"], "node1");
    assert_eq!(v["community_id"], "1:abc");
    assert_eq!(v["flow"]["resp_p"], 80);
    assert_eq!(v["output_fields"]["fd.rip"], "169.254.169.254");
    assert_eq!(v["output_fields"]["fd.rport"], 80);
    assert!(v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "T1552.005"));
    let o = v["output"].as_str().unwrap();
    assert!(
        o.starts_with("Container x\\ny\\x1b[2J (image evil:1)"),
        "{o}"
    );
    assert!(!o.chars().any(char::is_control));
    assert!(!v["output_fields"]["container.name"]
        .as_str()
        .unwrap()
        .chars()
        .any(char::is_control));
}

fn errors(src: &str) -> Vec<Diag> {
    match RuleSet::from_sources(&[("bad.yaml", src)]) {
        Ok(_) => panic!("expected errors for {src}"),
        Err(e) => e.errors,
    }
}

fn rule(cond: &str) -> String {
    format!("- list: l\n  items: [1]\n- macro: m\n  condition: fd.sport in (l)\n- rule: r\n  desc: d\n  condition: {cond}\n  output: o\n  priority: INFO\n")
}

#[test]
fn load_errors_point_at_the_token() {
    let e = errors(&rule("m and fd.sport = http"));
    assert!(e[0].message.contains("type mismatch"), "{e:?}");
    assert_eq!((e[0].line, e[0].col), (7, 31));
    let e = errors(&rule("m and fd.sip in (10.0.0.0/40)"));
    assert!(e[0].message.contains("not an IP address or CIDR"), "{e:?}");
    assert_eq!(e[0].col, 31);
    let e = errors(&rule("m and (fd.sport = 1"));
    assert!(e[0].message.contains("unbalanced"), "{e:?}");
    assert_eq!(e[0].col, 20);
    let e = errors(&rule("mm and fd.sport = 1"));
    assert!(
        e[0].message
            .contains("unknown macro 'mm' (did you mean 'm'?)"),
        "{e:?}"
    );
    let e = errors(&rule("m and fd.sport in (nolist)"));
    assert!(e[0].message.contains("not a port number"), "{e:?}");
    let e = errors(&rule("m and container.nam = x"));
    assert!(
        e[0].message.contains("did you mean 'container.name'"),
        "{e:?}"
    );
    let e = errors(&rule("m and fd.sport contains 1"));
    assert!(e[0].message.contains("does not apply"), "{e:?}");
    let e = errors(&rule("m and flow.direction = outward"));
    assert!(e[0].message.contains("one of outbound"), "{e:?}");
    let e = errors(&rule("m and container.name regex \"(\""));
    assert!(e[0].message.contains("bad regex"), "{e:?}");
    let e = errors("- macro: a\n  condition: b\n- macro: b\n  condition: a\n- rule: r\n  desc: d\n  condition: a\n  output: o\n  priority: INFO\n");
    assert!(e[0].message.contains("refers to itself"), "{e:?}");
    let e = errors(
        "- rule: r\n  desc: d\n  condition: fd.sport = 1\n  output: '%fd.spot'\n  priority: INFO\n",
    );
    assert!(e[0].message.contains("unknown field '%fd.spot'"), "{e:?}");
}

#[test]
fn errors_in_block_conditions_and_macros_point_into_them() {
    let src = "- macro: m\n  condition: >\n    fd.sport = 1\n    and fd.bogus = 2\n- rule: r\n  desc: d\n  condition: m\n  output: o\n  priority: INFO\n";
    let e = errors(src);
    assert_eq!((e[0].line, e[0].col), (4, 9), "{e:?}");
    assert_eq!(e[0].line_text, "    and fd.bogus = 2");
}

#[test]
fn unused_items_warn_and_never_half_load() {
    let src = "- list: spare\n  items: [1]\n- macro: unused\n  condition: fd.sport = 1\n- rule: r\n  desc: d\n  condition: fd.sport = 2\n  output: o\n  priority: INFO\n";
    let set = RuleSet::from_sources(&[("t.yaml", src)]).unwrap();
    assert_eq!(set.warnings.len(), 2);
    // One bad rule refuses the whole set.
    let bad = format!(
        "{src}- rule: r2\n  desc: d\n  condition: fd.sport = x\n  output: o\n  priority: INFO\n"
    );
    let e = RuleSet::from_sources(&[("t.yaml", &bad)]).unwrap_err();
    assert_eq!(e.errors.len(), 1);
    assert!(e.to_string().contains("no rules loaded"));
}

#[test]
fn user_files_override_shipped_items() {
    let user = "
- list: allowed_dns_servers
  items: [8.8.8.8]
  override:
    items: append
- rule: Unexpected Container to Container Connection
  exceptions:
    - name: allowed_service_pairs
      values:
        - [web, db]
  override:
    exceptions: append
- rule: Connection to IRC Port
  enabled: false
";
    let mut srcs: Vec<(&str, &str)> = DEFAULT_RULE_FILES.to_vec();
    srcs.push(("user.yaml", user));
    let set = RuleSet::from_sources(&srcs).unwrap_or_else(|e| panic!("{e}"));
    let e = Engine::new(
        Arc::new(set),
        Arc::new(inventory()),
        EngineOptions::default(),
    );
    let mut ev = e.evaluator();
    assert!(fired(&mut ev, &flow("172.17.0.3", 40000, "8.8.8.8", 53, 17)).is_empty());
    assert!(fired(&mut ev, &flow("172.18.0.2", 40000, "172.18.0.4", 5432, 6)).is_empty());
    assert!(fired(&mut ev, &flow("172.17.0.3", 40000, "198.51.100.1", 6667, 6)).is_empty());
}

#[test]
fn fields_help_is_printable() {
    let h = fields_help();
    assert!(h.contains("flow.direction"));
    assert!(h.contains("passive DNS"));
}

#[test]
fn indexed_rules_fire_exactly_when_their_values_match_and_in_file_order() {
    // Each rule lands in a different index: by container value (label, repository
    // list, an `or` over one field), behind a CIDR gate, by port, or in the list every
    // flow visits.  Alerts must come out in file order whichever index holds the rule.
    let rule = |name: &str, cond: &str| {
        format!("- rule: {name}\n  desc: d\n  condition: '{cond}'\n  output: o\n  priority: INFO\n  tags: [t]\n")
    };
    let src = [
        rule("always", "evt.type = connect and container.id exists"),
        rule("by label", "evt.type = connect and container.id exists and container.label[com.docker.compose.service] = web"),
        rule("by net", "evt.type = connect and container.id exists and fd.rip in (172.18.0.0/28) and fd.l4proto = tcp"),
        rule("by port", "evt.type = connect and container.id exists and fd.rport = 8080"),
        rule("by repository", "evt.type = connect and container.image.repository in (nginx, httpd)"),
        rule("by or", "evt.type = connect and (container.name = web or container.name = other)"),
        rule("net miss", "evt.type = connect and container.id exists and fd.rip in (10.0.0.0/8)"),
        rule("label miss", "evt.type = connect and container.id exists and container.label[com.docker.compose.service] = db"),
    ]
    .concat();
    let set = RuleSet::from_sources(&[("t.yaml", &src)]).unwrap_or_else(|e| panic!("{e}"));
    let e = Engine::new(
        Arc::new(set),
        Arc::new(inventory()),
        EngineOptions::default(),
    );
    let mut ev = e.evaluator();
    let connect_rules = |r: &FlowRecord, ev: &mut Evaluator| -> Vec<String> {
        let mut a = Vec::new();
        ev.on_flow_start(r, &mut a);
        a.iter()
            .filter(|x| x.evt_type == "connect")
            .map(|x| x.rule.to_string())
            .collect()
    };
    assert_eq!(
        connect_rules(&flow("172.18.0.2", 40000, "172.18.0.3", 8080, 6), &mut ev),
        [
            "always",
            "by label",
            "by net",
            "by port",
            "by repository",
            "by or"
        ]
    );
    // api (172.18.0.3) to db over UDP on another port: only the unconditional rule.
    assert_eq!(
        connect_rules(&flow("172.18.0.3", 40000, "172.18.0.4", 9000, 17), &mut ev),
        ["always"]
    );
    // web to an address outside the gate's networks.
    assert_eq!(
        connect_rules(&flow("172.18.0.2", 40000, "172.18.0.40", 9000, 6), &mut ev),
        ["always", "by label", "by repository", "by or"]
    );
}

#[test]
fn a_running_evaluator_sees_a_replaced_inventory_at_its_next_flow() {
    let rules = RuleSet::load_default().unwrap_or_else(|e| panic!("{e}"));
    let e = Engine::new(
        Arc::new(rules),
        Arc::new(Inventory::default()),
        EngineOptions {
            min_priority: Priority::Debug,
            hostname: "node1".into(),
        },
    );
    let mut ev = e.evaluator();
    let out = flow("172.17.0.2", 40000, "93.184.216.34", 443, 6);
    assert!(
        !fired(&mut ev, &out).contains(&"Elasticsearch Unexpected Outbound Connection".into()),
        "no container known yet"
    );
    e.inventory().replace(inventory());
    assert!(fired(&mut ev, &out).contains(&"Elasticsearch Unexpected Outbound Connection".into()));
}
