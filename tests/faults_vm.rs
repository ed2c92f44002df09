//! The fault matrix's apt rows on a host with its own kernel (the VM lab, QEMU): Ctrl-C once and twice, an SSH
//! session cut, and the host rebooting, each in the middle of an apt install; after each, the next apply
//! converges without a manual step and the one after changes nothing. Host state is read back with OpenSSH,
//! not through hlprov. The container rows are in tests/faults.rs and tests/interrupt.rs; docs/interrupts.md
//! says what happens in each case.

mod slow_deb;
mod vm_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hlprov::exec::{RunOptions, RunSummary};
use hlprov::report::{Event, Status, TaskResult};
use vm_support::VmLab;

const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: Install base packages
      apt: {deb: /root/hlprov-slow_1.0_all.deb}
"#;

struct Run {
    summary: RunSummary,
    results: Vec<TaskResult>,
}

impl Run {
    fn install(&self) -> &TaskResult {
        self.results.iter().find(|r| r.task == "Install base packages").expect("the install task ran")
    }
    fn changed(&self) -> u32 {
        self.summary.stats.iter().map(|(_, s)| s.changed).sum()
    }
}

async fn apply(lab: &VmLab) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("apt.yml");
    std::fs::write(&path, PLAYBOOK).unwrap();
    let pb = hlprov::playbook::load(&path, &Default::default()).expect("playbook loads");
    let inv = hlprov::inventory::Inventory::load(std::slice::from_ref(&lab.inventory)).expect("inventory");
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), RunOptions::default(), reporter).await.expect("no preflight error");
    let results = collector
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::TaskResult(r) => Some((**r).clone()),
            _ => None,
        })
        .collect();
    Run { summary, results }
}

/// Wait (outside hlprov, with OpenSSH) until `path` exists on h1, then run `then` there (its exit status is not
/// looked at: it may end its own session).
async fn when_file_appears(lab: &VmLab, path: &str, then: &str) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (code, _) = lab.ssh("h1", &format!("test -e {path}"));
        if code == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{path} never appeared on h1");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    lab.ssh("h1", then);
}

/// `hlprov apply` (the binary) sent `sigints` Ctrl-Cs half a second apart once dpkg is in the postinst; its exit
/// code and output.
async fn ctrl_c_during_the_install(lab: &VmLab, dir: &Path, sigints: usize) -> (i32, String) {
    std::fs::write(dir.join("apt.yml"), PLAYBOOK).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(["apply", "apt.yml", "-i", lab.inv()])
        .current_dir(dir)
        .env("HLPROV_NO_LIVE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hlprov");
    when_file_appears(lab, "/srv/fault/postinst-started", "true").await;
    for i in 0..sigints {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    (out.status.code().unwrap_or(-1), vm_support::text(&out))
}

/// Remove the package so that the next row installs it again.
fn uninstall(lab: &VmLab) {
    lab.sh("h1", "rm -f /srv/fault/postinst-started; dpkg --remove hlprov-slow >/dev/null");
}

/// After a row: the next apply converges without a manual step, and the one after changes nothing.
async fn next_apply_converges_and_the_one_after_changes_nothing(lab: &VmLab, row: &str) {
    let again = apply(lab).await;
    assert_eq!(again.summary.exit_code, 0, "{row}: {:?}", again.install());
    assert_eq!(dpkg_status(lab), "ii", "{row}");
    assert_eq!(lab.ssh("h1", "apt-get check -q >/dev/null 2>&1").0, 0, "{row}: apt is healthy");
    let third = apply(lab).await;
    assert_eq!((third.summary.exit_code, third.changed()), (0, 0), "{row}: {:?}", third.install());
}

fn dpkg_status(lab: &VmLab) -> String {
    lab.ssh("h1", "dpkg-query -W -f='${db:Status-Abbrev}' hlprov-slow").1.trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn apt_install_on_a_vm_through_ctrl_c_a_cut_session_and_a_reboot_the_next_apply_converges_every_time() {
    let lab = VmLab::up(1);
    lab.sh("h1", &slow_deb::build_script("#!/bin/sh\\nmkdir -p /srv/fault; touch /srv/fault/postinst-started; sleep 8\\n"));
    let dir = tempfile::tempdir().unwrap();

    // Ctrl-C once: the install finishes, nothing new starts, exit 130.
    let (code, out) = ctrl_c_during_the_install(&lab, dir.path(), 1).await;
    assert_eq!(code, 130, "{out}");
    assert_eq!(dpkg_status(&lab), "ii", "the first Ctrl-C let dpkg finish");
    next_apply_converges_and_the_one_after_changes_nothing(&lab, "Ctrl-C once").await;

    // Ctrl-C twice: the install is a critical section and still finishes.
    uninstall(&lab);
    let (code, out) = ctrl_c_during_the_install(&lab, dir.path(), 2).await;
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("critical sections finish first: h1: Install base packages"), "{out}");
    assert_eq!(dpkg_status(&lab), "ii", "the second Ctrl-C let dpkg finish");
    next_apply_converges_and_the_one_after_changes_nothing(&lab, "Ctrl-C twice").await;

    // Every sshd session on the VM is killed while dpkg runs the postinst. The install goes on, detached from
    // its session; hlprov connects again and reports what really happened.
    uninstall(&lab);
    let (cut, ()) = tokio::join!(apply(&lab), async {
        when_file_appears(&lab, "/srv/fault/postinst-started", "pkill -KILL -f '^sshd: root@notty'").await;
    });
    assert_eq!(cut.install().status, Status::Changed, "{:?}", cut.install().result);
    assert_eq!(dpkg_status(&lab), "ii", "dpkg finished although its session was cut");
    assert_eq!(lab.sh("h1", "ls -A /var/lib/hlprov/jobs").trim(), "", "the collected job's folder is removed");
    next_apply_converges_and_the_one_after_changes_nothing(&lab, "SSH cut").await;

    // The VM reboots (sync, then reset: a power cut after the journal is written) while dpkg runs the
    // postinst. The result cannot be known: the task is never ok.
    uninstall(&lab);
    let started = Instant::now();
    let (rebooted, ()) = tokio::join!(apply(&lab), async {
        when_file_appears(
            &lab,
            "/srv/fault/postinst-started",
            "(sleep 0.5; echo s > /proc/sysrq-trigger; echo b > /proc/sysrq-trigger) > /dev/null 2>&1 &",
        )
        .await;
    });
    let install = rebooted.install();
    assert!(matches!(install.status, Status::Failed | Status::Unreachable), "a reboot mid-install is never ok: {install:?}");
    let msg = install.msg.clone().unwrap_or_default();
    assert!(msg.contains("result of the command is unknown: the host rebooted before it ended"), "{msg}");
    eprintln!("reboot row: reported after {:.0?}: {msg}", started.elapsed());
    eprintln!("dpkg status of hlprov-slow after the reboot: {:?}", dpkg_status(&lab));
    next_apply_converges_and_the_one_after_changes_nothing(&lab, "reboot").await;
}
