//! The `hlprov` binary end to end: lab up/status/down, ping and ad-hoc runs against the lab, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hlprov(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(args)
        .current_dir(dir)
        .env("HLPROV_NO_LIVE", "1")
        .env_remove("HLPROV_INVENTORY")
        .output()
        .expect("run hlprov")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A lab for one test, removed (with `hlprov lab down`) when the test ends, pass or fail.
struct CliLab {
    dir: tempfile::TempDir,
    name: String,
    inventory: PathBuf,
}

impl CliLab {
    fn up(hosts: usize) -> CliLab {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("t{:x}", rand_suffix());
        let out = hlprov(dir.path(), &["lab", "up", "--hosts", &hosts.to_string(), "--name", &name]);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let inventory = PathBuf::from(stdout.lines().last().unwrap_or_default());
        // The guard exists before any assertion, so a failed `up` is cleaned up too.
        let lab = CliLab { dir, name, inventory };
        assert!(out.status.success(), "lab up failed: {}", text(&out));
        assert!(lab.inventory.is_file(), "{stdout}");
        lab
    }
    fn run(&self, args: &[&str]) -> Output {
        hlprov(self.dir.path(), args)
    }
    fn inv(&self) -> &str {
        self.inventory.to_str().unwrap()
    }
    fn container(&self, host: &str) -> String {
        format!("hlprov-{}-{host}", self.name)
    }
}

impl Drop for CliLab {
    fn drop(&mut self) {
        let _ = hlprov(self.dir.path(), &["lab", "down", "--name", &self.name]);
    }
}

fn rand_suffix() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    t.subsec_nanos() ^ std::process::id().rotate_left(12)
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker CLI");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn lab_up_ping_run_status_and_down() {
    let lab = CliLab::up(3);
    let ping = lab.run(&["ping", "-i", lab.inv()]);
    assert_eq!(ping.status.code(), Some(0), "{}", text(&ping));
    assert_eq!(String::from_utf8_lossy(&ping.stdout).matches("| SUCCESS =>").count(), 3, "{}", text(&ping));

    let run = lab.run(&["run", "all", "-m", "command", "-a", "uname -s", "-i", lab.inv()]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert_eq!(String::from_utf8_lossy(&run.stdout).matches("| CHANGED | rc=0 >>\nLinux").count(), 3, "{}", text(&run));

    // Twice is a no-op the second time, with the same inventory.
    let again = lab.run(&["lab", "up", "--hosts", "3", "--name", &lab.name]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already up, nothing changed"), "{}", text(&again));
    assert_eq!(String::from_utf8_lossy(&again.stdout).lines().last().unwrap(), lab.inv());
    let status = lab.run(&["lab", "status", "--name", &lab.name]);
    assert_eq!(status.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&status.stdout).matches("ssh ok").count(), 3, "{}", text(&status));

    // A non-zero exit: rc, stdout and stderr reported, exit code 2.
    let fail = lab.run(&["run", "h1", "-m", "shell", "-a", "echo out; echo err >&2; exit 3", "-i", lab.inv()]);
    assert_eq!(fail.status.code(), Some(2), "{}", text(&fail));
    assert!(String::from_utf8_lossy(&fail.stdout).contains("h1 | FAILED | rc=3 >>\nout\nerr"), "{}", text(&fail));

    // A host that is down: reported unreachable, the others still succeed, exit code 3.
    docker(&["kill", &lab.container("h2")]);
    let ping = lab.run(&["ping", "-i", lab.inv()]);
    let out = String::from_utf8_lossy(&ping.stdout).to_string();
    assert_eq!(ping.status.code(), Some(3), "{}", text(&ping));
    assert!(out.contains("h2 | UNREACHABLE! =>"), "{out}");
    assert_eq!(out.matches("| SUCCESS =>").count(), 2, "{out}");
    let status = lab.run(&["lab", "status", "--name", &lab.name]);
    assert_eq!(status.status.code(), Some(3), "{}", text(&status));

    // down removes exactly what up made.
    let down = lab.run(&["lab", "down", "--name", &lab.name]);
    assert!(down.status.success(), "{}", text(&down));
    assert_eq!(docker(&["ps", "-aq", "--filter", &format!("label=org.hlprov.lab={}", lab.name)]).trim(), "");
    assert_eq!(docker(&["network", "ls", "-q", "--filter", &format!("name=hlprov-lab-{}", lab.name)]).trim(), "");
    assert!(!lab.inventory.exists());
}

#[test]
fn twenty_hosts_one_connection_each() {
    let lab = CliLab::up(20);
    let accepted = |host: &str| -> usize {
        let log = docker(&["exec", &lab.container(host), "journalctl", "-u", "ssh", "--no-pager", "-o", "cat"]);
        log.matches("Accepted publickey").count()
    };
    let hosts: Vec<String> = (1..=20).map(|i| format!("h{i}")).collect();
    let before: Vec<usize> = hosts.iter().map(|h| accepted(h)).collect();
    let out = lab.run(&["run", "all", "-m", "command", "-a", "true", "-i", lab.inv(), "-vv"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).matches("| CHANGED | rc=0").count(), 20);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for h in &hosts {
        assert!(stderr.contains(&format!("{h}=1")), "{h} should have opened one connection: {stderr}");
    }
    // Independently, on the hosts: sshd accepted exactly one more login each.
    for (h, b) in hosts.iter().zip(before) {
        assert_eq!(accepted(h), b + 1, "{h}");
    }
}

#[test]
fn lab_up_refuses_a_lab_of_the_other_driver() {
    let dir = tempfile::tempdir().unwrap();
    let labs = dir.path().join(".hlprov/lab");
    std::fs::create_dir_all(labs.join("vms")).unwrap();
    std::fs::write(labs.join("vms/vm.json"), "{}").unwrap();
    std::fs::create_dir_all(labs.join("boxes")).unwrap();
    std::fs::write(labs.join("boxes/inventory.yml"), "all: {}\n").unwrap();
    let out = hlprov(dir.path(), &["lab", "up", "--name", "vms"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("lab vms is a VM lab: use `--driver vm`"), "{}", text(&out));
    let out = hlprov(dir.path(), &["lab", "up", "--driver", "vm", "--name", "boxes"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("lab boxes is a container lab"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(labs.join("boxes/inventory.yml")).unwrap(), "all: {}\n", "left as it was");
    assert!(!labs.join("boxes/vm.json").exists());
}

#[test]
fn bad_usage_and_bad_input_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--bogus"],
        vec!["run", "all", "-m", "nosuchmodule"],
        vec!["apply", "missing-playbook.yml"],
        vec!["inventory", "--list", "-i", "/nonexistent/inv.yml"],
        vec!["lab", "up", "--hosts", "0"],
        vec!["lab", "up", "--memory", "512"],
        vec!["lab", "up", "--driver", "vm", "--python"],
        vec!["lab", "up", "--driver", "vm", "--hosts", "201"],
        vec!["lab", "up", "--driver", "vm", "--memory", "64"],
        vec!["lab", "up", "--driver", "vm", "--cpus", "0"],
        vec!["lab", "up", "--driver", "vm", "--name", "../x"],
        vec!["lab", "up", "--driver", "kvm"],
    ] {
        let out = hlprov(dir.path(), &args);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("error"), "{args:?} says what is wrong: {}", text(&out));
    }
    let out = hlprov(dir.path(), &["lab", "up", "--driver", "vm", "--memory", "64"]);
    assert!(text(&out).contains("--memory must be between 256 and 262144 MiB, not 64"), "{}", text(&out));
    assert!(!dir.path().join(".hlprov").exists(), "bad input starts nothing");
    let out = hlprov(dir.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("Exit codes: 0 ok, 2 a task or gate failed, 3 a host was unreachable, 4 bad input"));
}
