//! A VM lab for one test, made and removed with the real `hlprov lab --driver vm` commands, and a way to look
//! inside its VMs that does not go through hlprov: OpenSSH's `ssh` client with the lab's key and known_hosts.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn hlprov(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(args)
        .current_dir(dir)
        .env("HLPROV_NO_LIVE", "1")
        .env_remove("HLPROV_INVENTORY")
        .output()
        .expect("run hlprov")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

pub fn unique_name() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("v{:x}", t.subsec_nanos() ^ std::process::id().rotate_left(12))
}

/// A VM lab, removed with `hlprov lab down` when the test ends, pass or fail.
pub struct VmLab {
    pub dir: tempfile::TempDir,
    pub name: String,
    pub inventory: PathBuf,
    pub up: Output,
}

impl VmLab {
    pub fn up(hosts: usize) -> VmLab {
        let dir = tempfile::tempdir().unwrap();
        let name = unique_name();
        let up = hlprov(dir.path(), &["lab", "up", "--driver", "vm", "--hosts", &hosts.to_string(), "--name", &name]);
        let stdout = String::from_utf8_lossy(&up.stdout).to_string();
        let inventory = PathBuf::from(stdout.lines().last().unwrap_or_default());
        // The guard exists before any assertion, so a failed `up` is cleaned up too.
        let lab = VmLab { dir, name, inventory, up };
        assert!(lab.up.status.success(), "lab up failed: {}", text(&lab.up));
        assert!(lab.inventory.is_file(), "{stdout}");
        lab
    }

    pub fn run(&self, args: &[&str]) -> Output {
        hlprov(self.dir.path(), args)
    }

    pub fn inv(&self) -> &str {
        self.inventory.to_str().unwrap()
    }

    /// The lab's folder (absolute; the inventory lives in it).
    pub fn lab_dir(&self) -> PathBuf {
        self.inventory.parent().unwrap().to_path_buf()
    }

    /// A host's SSH port, from the inventory the lab wrote.
    pub fn port(&self, host: &str) -> u16 {
        let inv = std::fs::read_to_string(&self.inventory).unwrap();
        let mut lines = inv.lines().skip_while(|l| l.trim() != format!("{host}:"));
        lines
            .find_map(|l| l.trim().strip_prefix("ansible_port: "))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port for {host} in {inv}"))
    }

    /// Run a shell script in a VM with OpenSSH (not hlprov): (exit code, stdout + stderr).
    pub fn ssh(&self, host: &str, script: &str) -> (i32, String) {
        let dir = self.lab_dir();
        let out = Command::new("ssh")
            .args(["-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=30"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", dir.join("known_hosts").display()))
            .arg("-i")
            .arg(dir.join("id_ed25519"))
            .args(["-p", &self.port(host).to_string(), "root@127.0.0.1", script])
            .output()
            .expect("OpenSSH's ssh client (apt-get install openssh-client)");
        (out.status.code().unwrap_or(-1), text(&out))
    }

    /// The same; the script must succeed.
    pub fn sh(&self, host: &str, script: &str) -> String {
        let (code, out) = self.ssh(host, script);
        assert_eq!(code, 0, "{host}: {script}: {out}");
        out
    }
}

impl Drop for VmLab {
    fn drop(&mut self) {
        let _ = hlprov(self.dir.path(), &["lab", "down", "--name", &self.name]);
    }
}

/// Live processes (not zombies) whose command line mentions `needle`, as "PID COMMAND LINE" — read from /proc,
/// not from hlprov.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let state = stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()).unwrap_or("");
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if state != "Z" && cmdline.contains(needle) {
            found.push(format!("{} {}", entry.file_name().to_string_lossy(), cmdline.trim()));
        }
    }
    found
}
