//! Ctrl-C on `hlprov apply`, on real hosts (issue: reliability). The binary is sent SIGINT while a task runs:
//! the first stops new tasks and lets running ones end (or kills them after the 10 s grace period, stopping
//! their commands on the hosts), prints the recap, saves the run record and exits 130; a second aborts at once.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::TestLab;

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
    std::fs::write(dir.join("site.yml"), PB).unwrap();
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
    assert!(out.contains("Interrupted: no new tasks will start"), "{out}");
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
async fn after_the_grace_period_running_tasks_are_killed_on_the_hosts_too() {
    let lab = TestLab::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let child = spawn(&lab, dir.path(), 60);
    wait_started(&lab).await;
    let t = Instant::now();
    sigint(&child);
    let (code, out, took) = finish(child, t, Duration::from_secs(40));
    assert_eq!(code, 130, "{out}");
    assert!(took >= Duration::from_secs(10) && took < Duration::from_secs(25), "10 s of grace, then a bounded stop: {took:?}");
    assert!(out.contains("interrupted: the task was abandoned after Ctrl-C"), "{out}");
    assert!(out.contains("PLAY RECAP"), "{out}");
    assert!(out.contains("failed=1"), "{out}");
    for h in ["h1", "h2"] {
        assert!(!exists(&lab, h, "/srv/int/done").await, "{h}");
        let (_, ps) = lab.docker_exec(h, "ps -eo args").await;
        assert!(!ps.contains("sleep 60"), "the abandoned command still runs on {h}:\n{ps}");
    }
    let rec = record(dir.path());
    assert_eq!((rec["interrupted"].as_bool(), rec["exit_code"].as_i64()), (Some(true), Some(130)), "{rec}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_aborts_at_once() {
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
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(out.contains("Aborted."), "{out}");
}
