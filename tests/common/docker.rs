//! Real Docker for tests: whether the engine is there (skip with a reason on a
//! laptop without it, fail in CI), a tiny image made on the spot from Debian's
//! static busybox with `docker import` (no registry here), and a guard that removes
//! by name every container, network and image a test made, even when it fails.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `docker ARGS...`.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("run the docker client")
}

/// `docker ARGS...` that must succeed; returns its trimmed stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let o = docker(args);
    assert!(
        o.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Whether the engine answers.  Without it the test is skipped with a printed
/// reason, except in CI (`CI` set), where that is a failure.
pub fn docker_available(test: &str) -> bool {
    let ok = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: the Docker engine is not reachable, and CI must not skip");
    }
    eprintln!("SKIP {test}: no reachable Docker engine (docker info failed)");
    false
}

/// Imports a root filesystem holding only /bin/busybox (Debian's busybox-static)
/// as image `name` (repo:tag).
pub fn import_busybox_image(name: &str, workdir: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox is missing: apt-get install busybox-static (scripts/install-deps.sh does)"
    );
    let root = workdir.join("rootfs");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    let tar = workdir.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success(), "tar the rootfs");
    docker_ok(&["import", tar.to_str().unwrap(), name]);
}

/// Removes what a test made, by name, when dropped.
#[derive(Default)]
pub struct DockerCleanup {
    pub containers: Vec<String>,
    pub networks: Vec<String>,
    pub images: Vec<String>,
}

impl Drop for DockerCleanup {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = docker(&["rm", "-f", c]);
        }
        for n in &self.networks {
            let _ = docker(&["network", "rm", n]);
        }
        for i in &self.images {
            let _ = docker(&["image", "rm", "-f", i]);
        }
    }
}
