//! The deployment files in `docker/`, checked offline: the compose files and the
//! Kubernetes manifests parse, carry the kinds, apiVersions and keys they need,
//! grant exactly the capabilities the README documents, probe the paths `--listen`
//! serves on the port it is given, and pass `watch` only flags it knows, with an
//! outputs file it accepts.  Where the
//! tools are installed, also `docker-compose config`, `kubernetes-validate --strict`
//! (the Kubernetes OpenAPI schemas, offline) and `kubectl kustomize`; CI installs
//! kubernetes-validate and must not skip it.  Nothing here talks to a cluster.

mod common;

use common::{bin, repo_path};
use std::collections::BTreeSet;
use std::process::Command;
use yaml_rust2::{Yaml, YamlLoader};

const METRICS_PORT: u16 = 9477;

fn load(rel: &str) -> Vec<Yaml> {
    let text = std::fs::read_to_string(repo_path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn strs(y: &Yaml) -> Vec<String> {
    y.as_vec()
        .map(|v| {
            v.iter()
                .map(|i| {
                    i.as_str()
                        .unwrap_or_else(|| panic!("not a string: {i:?}"))
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn set(v: &[&str]) -> BTreeSet<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The port of the `--listen=ADDR:PORT` argument.
fn listen_port(args: &[String]) -> u16 {
    let l = args
        .iter()
        .find_map(|a| a.strip_prefix("--listen="))
        .unwrap_or_else(|| panic!("no --listen in {args:?}"));
    l.rsplit(':').next().unwrap().parse().unwrap()
}

/// Every `--flag` in `args` must be one `bridgewatch watch` accepts (its own help,
/// global flags included), and `watch` must accept the arguments as a whole: run
/// with them -- the mounted /etc/bridgewatch read from docker/config, `--listen` on
/// a free loopback port, and an interface that does not exist instead of the
/// bridges -- it must get past its flags and the outputs file (--config) and stop
/// only at the interface.
fn flags_are_known(args: &[String], what: &str) {
    assert_eq!(args[0], "watch", "{what}");
    let help = Command::new(bin())
        .args(["watch", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for a in args.iter().filter(|a| a.starts_with("--")) {
        let flag = a.split('=').next().unwrap();
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{what}: {flag} is not a flag of bridgewatch watch"
        );
    }
    let config_dir = repo_path("docker/config");
    let mut run: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with("--interface") && !a.starts_with("-i"))
        .map(|a| {
            if a.starts_with("--listen=") {
                "--listen=127.0.0.1:0".to_string()
            } else {
                a.replace("/etc/bridgewatch", &config_dir.display().to_string())
            }
        })
        .collect();
    run.extend(["-i".into(), "bwt-no-such-if0".into()]);
    let out = Command::new(bin()).args(&run).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {run:?}: {err}");
    // The first step after the flags and the outputs file: opening the interface
    // (or, with --sidecar, reading its addresses).
    assert!(
        err.contains("cannot capture on bwt-no-such-if0")
            || err.contains("captured interfaces (bwt-no-such-if0) have no addresses"),
        "{what}: watch refused {run:?} before capturing: {err}"
    );
}

#[test]
fn host_compose_grants_what_the_readme_documents() {
    let doc = &load("docker/compose.host.yml")[0];
    let s = &doc["services"]["bridgewatch"];
    assert_eq!(s["network_mode"].as_str(), Some("host"));
    assert_eq!(s["pid"].as_str(), Some("host"));
    assert_eq!(strs(&s["cap_drop"]), vec!["ALL"]);
    assert_eq!(
        strs(&s["cap_add"]).into_iter().collect::<BTreeSet<_>>(),
        set(&["NET_RAW", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"])
    );
    let user = s["user"].as_str().unwrap();
    assert!(
        !user.starts_with("0:") && user != "0" && user != "root",
        "{user}"
    );
    assert_eq!(s["read_only"].as_bool(), Some(true));
    let vols = strs(&s["volumes"]);
    assert!(
        vols.contains(&"/var/run/docker.sock:/var/run/docker.sock:ro".to_string()),
        "{vols:?}"
    );
    assert!(
        vols.iter().any(|v| v.ends_with(":/etc/bridgewatch:ro")),
        "{vols:?}"
    );
    let spool = vols
        .iter()
        .find(|v| v.ends_with(":/var/lib/bridgewatch"))
        .expect("a volume for the spool");
    let name = spool.split(':').next().unwrap();
    assert!(
        !doc["volumes"][name].is_badvalue(),
        "volume {name} is declared"
    );
    let args = strs(&s["command"]);
    assert_eq!(args[0], "watch");
    assert!(args.contains(&"--config=/etc/bridgewatch/outputs.toml".to_string()));
    assert!(args.contains(&"--rules=/etc/bridgewatch/rules".to_string()));
    // The outputs write (and spool) on the state volume, not the read-only root.
    let outputs = std::fs::read_to_string(repo_path("docker/config/outputs.toml")).unwrap();
    for line in outputs.lines().filter(|l| !l.starts_with('#')) {
        if let Some(p) = line.split("path = \"").nth(1) {
            assert!(p.starts_with("/var/lib/bridgewatch/"), "{line}");
        }
    }
    assert_eq!(listen_port(&args), METRICS_PORT);
    flags_are_known(&args, "compose.host.yml");
    // The mounted config directory is docker/config: its rules must load.
    let out = Command::new(bin())
        .args(["rules", "check", "--with-defaults"])
        .arg(repo_path("docker/config/rules"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn sidecar_compose_shares_the_apps_namespace_and_nothing_of_the_host() {
    let doc = &load("docker/compose.sidecar.yml")[0];
    assert!(doc["services"]["app"]["image"].as_str().is_some());
    let s = &doc["services"]["bridgewatch"];
    assert_eq!(s["network_mode"].as_str(), Some("service:app"));
    assert!(s["pid"].is_badvalue(), "no pid: host for a sidecar");
    assert_eq!(
        strs(&s["cap_add"]).into_iter().collect::<BTreeSet<_>>(),
        set(&["NET_RAW", "NET_ADMIN"])
    );
    assert!(!strs(&s["volumes"])
        .iter()
        .any(|v| v.contains("docker.sock")));
    let args = strs(&s["command"]);
    assert_eq!(listen_port(&args), METRICS_PORT);
    flags_are_known(&args, "compose.sidecar.yml");
}

#[test]
fn compose_files_pass_docker_compose_config() {
    for f in ["docker/compose.host.yml", "docker/compose.sidecar.yml"] {
        let out = match Command::new("docker-compose")
            .args(["-f"])
            .arg(repo_path(f))
            .args(["config", "-q"])
            .output()
        {
            Ok(o) => o,
            Err(e) => {
                eprintln!("SKIP docker-compose config: docker-compose not runnable ({e})");
                return;
            }
        };
        assert!(
            out.status.success(),
            "{f}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn one(rel: &str, kind: &str, api: &str) -> Yaml {
    let docs = load(rel);
    assert_eq!(docs.len(), 1, "{rel}: one document");
    let d = docs.into_iter().next().unwrap();
    assert_eq!(d["kind"].as_str(), Some(kind), "{rel}");
    assert_eq!(d["apiVersion"].as_str(), Some(api), "{rel}");
    assert_eq!(
        d["metadata"]["name"].as_str().map(|n| !n.is_empty()),
        Some(true)
    );
    d
}

#[test]
fn daemonset_configmap_and_service_fit_together() {
    let ns = one("docker/kubernetes/namespace.yaml", "Namespace", "v1");
    let namespace = ns["metadata"]["name"].as_str().unwrap();
    let ds = one("docker/kubernetes/daemonset.yaml", "DaemonSet", "apps/v1");
    let cm = one("docker/kubernetes/configmap.yaml", "ConfigMap", "v1");
    let svc = one("docker/kubernetes/service.yaml", "Service", "v1");
    for d in [&ds, &cm, &svc] {
        assert_eq!(d["metadata"]["namespace"].as_str(), Some(namespace));
    }

    let tpl = &ds["spec"]["template"];
    let pod_labels = tpl["metadata"]["labels"].as_hash().unwrap();
    for (k, v) in ds["spec"]["selector"]["matchLabels"].as_hash().unwrap() {
        assert_eq!(
            pod_labels.get(k),
            Some(v),
            "selector matches the pod template"
        );
    }
    for (k, v) in svc["spec"]["selector"].as_hash().unwrap() {
        assert_eq!(pod_labels.get(k), Some(v), "service selects the agents");
    }
    let pod = &tpl["spec"];
    assert_eq!(pod["hostNetwork"].as_bool(), Some(true));
    assert_eq!(pod["hostPID"].as_bool(), Some(true));
    assert!(!pod["tolerations"].as_vec().unwrap().is_empty());
    let containers = pod["containers"].as_vec().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    for k in ["requests", "limits"] {
        for r in ["cpu", "memory"] {
            assert!(c["resources"][k][r].as_str().is_some(), "resources.{k}.{r}");
        }
    }
    let args = strs(&c["args"]);
    assert_eq!(args[0], "watch");
    let port = listen_port(&args);
    assert_eq!(port, METRICS_PORT);
    flags_are_known(&args, "daemonset.yaml");
    let ports = c["ports"].as_vec().unwrap();
    let named = |name: &str| {
        ports
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_i64())
    };
    let probe_port = |probe: &Yaml| -> i64 {
        match &probe["httpGet"]["port"] {
            Yaml::Integer(n) => *n,
            Yaml::String(s) => named(s).unwrap_or_else(|| panic!("no container port {s}")),
            other => panic!("probe port {other:?}"),
        }
    };
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(probe_port(&c["livenessProbe"]), i64::from(port));
    assert_eq!(probe_port(&c["readinessProbe"]), i64::from(port));
    let sp = &svc["spec"]["ports"][0];
    assert_eq!(sp["port"].as_i64(), Some(i64::from(port)));
    assert_eq!(
        named(sp["targetPort"].as_str().unwrap()),
        Some(i64::from(port))
    );

    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_ne!(sc["runAsUser"].as_i64(), Some(0));
    assert_eq!(strs(&sc["capabilities"]["drop"]), vec!["ALL"]);
    assert_eq!(
        strs(&sc["capabilities"]["add"])
            .into_iter()
            .collect::<BTreeSet<_>>(),
        set(&["NET_RAW", "NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE"])
    );

    // Every mount names a declared volume; the rules come from the ConfigMap.
    let volumes = pod["volumes"].as_vec().unwrap();
    for m in c["volumeMounts"].as_vec().unwrap() {
        let name = m["name"].as_str().unwrap();
        assert!(
            volumes.iter().any(|v| v["name"].as_str() == Some(name)),
            "{name}"
        );
        if m["mountPath"].as_str() == Some("/var/run/docker.sock") {
            assert_eq!(m["readOnly"].as_bool(), Some(true));
        }
    }
    let cm_name = cm["metadata"]["name"].as_str().unwrap();
    let rules_vol = volumes
        .iter()
        .find(|v| v["configMap"]["name"].as_str() == Some(cm_name))
        .expect("a volume from the rules ConfigMap");
    let mount = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| m["name"] == rules_vol["name"])
        .unwrap();
    let mount_path = mount["mountPath"].as_str().unwrap();
    assert!(args.contains(&format!("--rules={mount_path}")));
    // The outputs file: the ConfigMap's outputs.toml, mounted where --config reads it.
    let config = args
        .iter()
        .find_map(|a| a.strip_prefix("--config="))
        .expect("--config");
    let mounted = c["volumeMounts"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"].as_str() == Some(config))
        .unwrap_or_else(|| panic!("nothing mounted at {config}"));
    let key = mounted["subPath"].as_str().unwrap();
    let vol = volumes
        .iter()
        .find(|v| v["name"] == mounted["name"])
        .unwrap();
    assert_eq!(vol["configMap"]["name"].as_str(), Some(cm_name));
    assert_eq!(
        cm["data"][key].as_str(),
        Some(
            std::fs::read_to_string(repo_path("docker/config/outputs.toml"))
                .unwrap()
                .as_str()
        ),
        "configmap.yaml's {key} and docker/config/outputs.toml differ"
    );

    // The ConfigMap's rules are docker/config's, and they load.
    let data = cm["data"]["local.yaml"].as_str().unwrap();
    let local = std::fs::read_to_string(repo_path("docker/config/rules/local.yaml")).unwrap();
    assert_eq!(
        data, local,
        "configmap.yaml and docker/config/rules/local.yaml differ"
    );
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("local.yaml");
    std::fs::write(&f, data).unwrap();
    let out = Command::new(bin())
        .args(["rules", "check", "--with-defaults"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn manifests_pass_the_kubernetes_schemas() {
    let files: Vec<_> = ["namespace", "configmap", "daemonset", "service"]
        .iter()
        .map(|f| repo_path(&format!("docker/kubernetes/{f}.yaml")))
        .collect();
    // `python3 -m` rather than the console script: found wherever pip put it.
    let out = Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict"])
        .args(&files)
        .output();
    let text = out.as_ref().map(|o| {
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    });
    match (&out, &text) {
        (Ok(o), Ok(t)) if !t.contains("No module named kubernetes_validate") => {
            assert!(o.status.success(), "{t}");
            assert_eq!(t.matches(" passed for resource ").count(), 4, "{t}");
        }
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "kubernetes-validate is missing in CI; .ci/run installs it: {text:?}"
            );
            eprintln!("SKIP kubernetes-validate: not installed (pip install kubernetes-validate)");
        }
    }
    match Command::new("kubectl")
        .args(["kustomize"])
        .arg(repo_path("docker/kubernetes"))
        .output()
    {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let all = YamlLoader::load_from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
            let kinds: BTreeSet<_> = all.iter().filter_map(|d| d["kind"].as_str()).collect();
            assert_eq!(
                kinds,
                ["ConfigMap", "DaemonSet", "Namespace", "Service"]
                    .into_iter()
                    .collect()
            );
        }
        Err(e) => eprintln!("SKIP kubectl kustomize: kubectl not installed ({e})"),
    }
}

#[test]
fn dockerfiles_are_multi_stage_slim_and_non_root() {
    let text = std::fs::read_to_string(repo_path("docker/Dockerfile")).unwrap();
    let froms: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].contains("rust:") && froms[0].ends_with(" AS builder"));
    assert!(froms[1].contains("debian:") && froms[1].contains("-slim"));
    let runtime = text.split(froms[1]).nth(1).unwrap();
    let installs: Vec<&str> = runtime
        .lines()
        .filter_map(|l| l.split("--no-install-recommends").nth(1))
        .flat_map(|s| s.split_whitespace().take_while(|w| *w != "\\"))
        .collect();
    assert_eq!(
        installs,
        vec!["libpcap0.8", "ca-certificates", "libcap2-bin"]
    );
    assert!(runtime.contains("apt-get purge -y --auto-remove libcap2-bin"));
    assert!(runtime.contains("setcap cap_net_raw,cap_net_admin,cap_sys_admin,cap_sys_ptrace=p "));
    assert!(runtime.contains("\nUSER 10001:10001\n"));
    assert!(runtime.contains(&format!("\nEXPOSE {METRICS_PORT}\n")));
    let local = std::fs::read_to_string(repo_path("docker/build-local.sh")).unwrap();
    assert!(
        local.contains("--change 'USER 10001:10001'"),
        "the local image is non-root too"
    );
    assert!(local.contains("setcap cap_net_raw,cap_net_admin,cap_sys_admin,cap_sys_ptrace=p "));
}
