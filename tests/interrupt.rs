//! Ctrl-C on `hlprov apply`, on real hosts (issue #22). The binary is sent SIGINT while a task runs: the first
//! stops new tasks and lets running ones finish, however long they take (it names them per host), prints the
//! recap, saves the run record and exits 130; the second abandons running tasks that are safe to stop (their
//! commands stopped on the hosts) but lets critical sections (here an apt install) finish, and the record
//! names them per host.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestLab;
use hlprov::exec::RunOptions;

const PB: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: prepare
      file: {path: /srv/int, state: directory}
    - name: running
      shell: "touch /srv/int/started; sleep {{ secs }}; touch /srv/int/done"
    - name: never started
      copy: {dest: /srv/int/next, content: "x\n"}
"#;

/// `hlprov apply` on the lab in `dir`, output piped.
fn spawn(lab: &TestLab, dir: &Path, secs: u64) -> Child {
    spawn_pb(lab, dir, secs, PB)
}

fn spawn_pb(lab: &TestLab, dir: &Path, secs: u64, pb: &str) -> Child {
    std::fs::write(dir.join("site.yml"), pb).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(["apply", "site.yml", "-i", lab.inventory("").to_str().unwrap(), "-e", &format!("secs={secs}")])
        .current_dir(dir)
        .env("HLPROV_NO_LIVE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hlprov")
}

fn sigint(child: &Child) {
    let st = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(st.success());
}

async fn wait_started(lab: &TestLab) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for h in ["h1", "h2"] {
        while lab.docker_exec(h, "test -e /srv/int/started").await.0 != 0 {
            assert!(Instant::now() < deadline, "the task never started on {h}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Wait for the process to end (at most `limit`); its exit code, output and how long it took after `since`.
fn finish(child: Child, since: Instant, limit: Duration) -> (i32, String, Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("hlprov did not exit within {limit:?} of Ctrl-C");
        }
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text, since.elapsed())
}

/// The run record the interrupted run saved.
fn record(dir: &Path) -> serde_json::Value {
    let runs: Vec<_> = std::fs::read_dir(dir.join(".hlprov/runs")).expect("run records").map(|e| e.unwrap().path()).collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    serde_json::from_str(&std::fs::read_to_string(&runs[0]).unwrap()).unwrap()
}

async fn exists(lab: &TestLab, host: &str, path: &str) -> bool {
    lab.docker_exec(host, &format!("test -e {path}")).await.0 == 0
}

#[tokio::test(flavor = "multi_thread")]
async fn first_ctrl_c_lets_running_tasks_end_starts_nothing_new_and_saves_the_record() {
    let lab = TestLab::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let child = spawn(&lab, dir.path(), 3);
    wait_started(&lab).await;
    let t = Instant::now();
    sigint(&child);
    let (code, out, took) = finish(child, t, Duration::from_secs(30));
    assert_eq!(code, 130, "{out}");
    assert!(took < Duration::from_secs(8), "the running task ends on its own, well within the grace period: {took:?}");
    assert!(out.contains("Interrupted: no new tasks will start; running tasks finish: h1: running, h2: running."), "{out}");
    assert!(out.contains("Ctrl-C again to abort"), "{out}");
    assert!(out.contains("PLAY RECAP"), "{out}");
    for h in ["h1", "h2"] {
        // The running task finished for real and was reported so; the next one never started.
        assert!(exists(&lab, h, "/srv/int/done").await, "{h}");
        assert!(!exists(&lab, h, "/srv/int/next").await, "{h}");
        assert!(out.contains(&format!("changed: [{h}]")), "{out}");
    }
    assert!(!out.contains("TASK [never started]"), "{out}");
    let rec = record(dir.path());
    assert_eq!((rec["interrupted"].as_bool(), rec["exit_code"].as_i64()), (Some(true), Some(130)), "{rec}");
}

#[tokio::test(flavor = "multi_thread")]
async fn first_ctrl_c_never_kills_a_running_task_however_long_it_takes() {
    let lab = TestLab::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let child = spawn(&lab, dir.path(), 15);
    wait_started(&lab).await;
    let t = Instant::now();
    sigint(&child);
    let (code, out, took) = finish(child, t, Duration::from_secs(60));
    assert_eq!(code, 130, "{out}");
    assert!(took >= Duration::from_secs(12), "the task ran to its end (there is no grace period any more): {took:?}");
    assert!(!out.contains("abandoned"), "{out}");
    for h in ["h1", "h2"] {
        assert!(exists(&lab, h, "/srv/int/done").await, "{h}");
        assert!(!exists(&lab, h, "/srv/int/next").await, "{h}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_abandons_tasks_safe_to_stop_and_stops_their_commands() {
    let lab = TestLab::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let child = spawn(&lab, dir.path(), 60);
    wait_started(&lab).await;
    let t = Instant::now();
    sigint(&child);
    std::thread::sleep(Duration::from_millis(500));
    sigint(&child);
    let (code, out, took) = finish(child, t, Duration::from_secs(20));
    assert_eq!(code, 130, "{out}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert!(out.contains("Aborted."), "{out}");
    assert!(out.contains("interrupted: the task was abandoned after the second Ctrl-C"), "{out}");
    assert!(out.contains("failed=1"), "{out}");
    for h in ["h1", "h2"] {
        assert!(!exists(&lab, h, "/srv/int/done").await, "{h}");
        let (_, ps) = lab.docker_exec(h, "ps -eo args").await;
        assert!(!ps.contains("sleep 60"), "the abandoned command still runs on {h}:\n{ps}");
    }
    let rec = record(dir.path());
    assert_eq!(rec["left_running"], serde_json::json!([]), "{rec}");
}

/// An apt install whose package's postinst takes `secs` seconds (a local .deb on each host).
const PB_APT: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: Install base packages
      apt: {deb: /root/hlprov-slow_1.0_all.deb}
    - name: never started
      copy: {dest: /srv/next, content: "x\n"}
"#;

/// Two hosts in the middle of an apt install (dpkg inside the slow postinst on both), and `hlprov apply` sent
/// `sigints` Ctrl-Cs half a second apart. Returns the lab, the run's folder, exit code, output and how long it
/// took after the first Ctrl-C.
async fn ctrl_c_during_an_apt_install(sigints: usize) -> (TestLab, tempfile::TempDir, i32, String, Duration) {
    let lab = TestLab::start(2).await;
    for h in ["h1", "h2"] {
        lab.build_slow_deb(h, "#!/bin/sh\\ntouch /root/postinst-started; sleep 8; touch /root/postinst-done\\n").await;
    }
    let dir = tempfile::tempdir().unwrap();
    let child = spawn_pb(&lab, dir.path(), 0, PB_APT);
    let deadline = Instant::now() + Duration::from_secs(60);
    for h in ["h1", "h2"] {
        while !exists(&lab, h, "/root/postinst-started").await {
            assert!(Instant::now() < deadline, "dpkg never reached the postinst on {h}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let t = Instant::now();
    for i in 0..sigints {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(500));
        }
        sigint(&child);
    }
    let (code, out, took) = finish(child, t, Duration::from_secs(60));
    (lab, dir, code, out, took)
}

/// dpkg ended well on both hosts (waiting up to 30 s for it: after a third Ctrl-C it ends on its own).
async fn dpkg_finished(lab: &TestLab) {
    for h in ["h1", "h2"] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !exists(lab, h, "/root/postinst-done").await {
            assert!(Instant::now() < deadline, "the postinst never finished on {h}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, st) = lab.docker_exec(h, "dpkg-query -W -f='${db:Status-Abbrev}' hlprov-slow").await;
            if st.trim() == "ii" {
                break;
            }
            assert!(Instant::now() < deadline, "dpkg did not finish on {h}: {st}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// After the interrupted run, the next apply converges without a manual step and the one after changes nothing.
async fn next_apply_converges_and_the_one_after_changes_nothing(lab: &TestLab) {
    let inv = lab.inventory("");
    let again = common::apply(&inv, PB_APT, RunOptions::default()).await.unwrap();
    assert_eq!(again.summary.exit_code, 0, "{:?}", again.failures());
    for h in ["h1", "h2"] {
        assert_eq!(lab.docker_exec(h, "apt-get check -q >/dev/null 2>&1").await.0, 0, "apt is healthy on {h}");
        assert!(exists(lab, h, "/srv/next").await, "{h}");
    }
    let third = common::apply(&inv, PB_APT, RunOptions::default()).await.unwrap();
    assert_eq!((third.summary.exit_code, third.total_changed()), (0, 0), "{:?}", third.summary.stats);
}

#[tokio::test(flavor = "multi_thread")]
async fn first_ctrl_c_during_an_apt_install_lets_it_finish_and_the_next_apply_converges() {
    let (lab, _dir, code, out, took) = ctrl_c_during_an_apt_install(1).await;
    assert_eq!(code, 130, "{out}");
    assert!(took >= Duration::from_secs(4), "the install was not cut short: {took:?}");
    assert!(out.contains("Ctrl-C again to abort"), "{out}");
    dpkg_finished(&lab).await;
    for h in ["h1", "h2"] {
        assert!(!exists(&lab, h, "/srv/next").await, "no new task started on {h}");
    }
    next_apply_converges_and_the_one_after_changes_nothing(&lab).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_lets_an_apt_install_finish_and_the_record_names_it() {
    let (lab, dir, code, out, took) = ctrl_c_during_an_apt_install(2).await;
    assert_eq!(code, 130, "{out}");
    assert!(
        out.contains("critical sections finish first: h1: Install base packages (critical section), h2: Install base packages (critical section)"),
        "{out}"
    );
    assert!(took >= Duration::from_secs(4), "the install was not cut short: {took:?}");
    assert!(!out.contains("abandoned"), "{out}");
    dpkg_finished(&lab).await;
    for h in ["h1", "h2"] {
        assert!(!exists(&lab, h, "/srv/next").await, "{h}");
    }
    let rec = record(dir.path());
    let left = rec["left_running"].as_array().cloned().unwrap_or_default();
    let named: Vec<(String, String)> =
        left.iter().map(|t| (t["host"].as_str().unwrap_or_default().to_string(), t["task"].as_str().unwrap_or_default().to_string())).collect();
    assert_eq!(
        named,
        vec![("h1".to_string(), "Install base packages".to_string()), ("h2".to_string(), "Install base packages".to_string())],
        "{rec}"
    );
    next_apply_converges_and_the_one_after_changes_nothing(&lab).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_third_ctrl_c_exits_at_once_and_the_detached_apt_install_still_finishes() {
    let (lab, _dir, code, out, took) = ctrl_c_during_an_apt_install(3).await;
    assert_eq!(code, 130, "{out}");
    assert!(took < Duration::from_secs(4), "a third Ctrl-C exits at once: {took:?}\n{out}");
    // hlprov is gone and its connections with it; the install, detached from them, goes on to its end.
    dpkg_finished(&lab).await;
    next_apply_converges_and_the_one_after_changes_nothing(&lab).await;
}
