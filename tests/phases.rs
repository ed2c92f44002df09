//! The phase graph on real hosts: concurrency of independent phases, gates that block only their dependents,
//! --resume, --phase/--with-deps, --from and verify-only runs.

mod common;

use common::{TestLab, apply_files, apply_in};
use hlprov::exec::{PhaseSelection, RunOptions};
use hlprov::report::{Event, PhaseStatus};

/// a → b, a → c, b + c → d. b's gate passes only once /tmp/b_ok exists on h1.
const DIAMOND: &str = r#"
- phase: a
  hosts: all
  gather_facts: false
  tasks:
    - shell: echo a >> /tmp/ran
- phase: b
  requires: [a]
  hosts: h1
  gather_facts: false
  tasks:
    - shell: date +%s.%N >> /tmp/b_times; sleep 2; date +%s.%N >> /tmp/b_times; echo b >> /tmp/ran
  verify:
    - name: b is healthy
      command: test -f /tmp/b_ok
      read_only: true
- phase: c
  requires: [a]
  hosts: h2
  gather_facts: false
  tasks:
    - shell: date +%s.%N >> /tmp/c_times; sleep 2; date +%s.%N >> /tmp/c_times; echo c >> /tmp/ran
- phase: d
  requires: [b, c]
  hosts: all
  gather_facts: false
  tasks:
    - shell: echo d >> /tmp/ran
"#;

async fn read(lab: &TestLab, host: &str, path: &str) -> String {
    let (code, out) = lab.docker_exec(host, &format!("cat {path}")).await;
    if code == 0 { out } else { String::new() }
}

fn times(text: &str) -> (f64, f64) {
    let v: Vec<f64> = text.lines().map(|l| l.trim().parse().unwrap()).collect();
    (v[0], v[1])
}

fn with_records(dir: &std::path::Path) -> RunOptions {
    RunOptions { record_dir: Some(dir.to_path_buf()), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread")]
async fn diamond_runs_b_and_c_at_once_a_failing_gate_blocks_only_d_and_resume_runs_b_and_d() {
    let lab = TestLab::start(2).await;
    let inv = lab.inventory("");
    let records = tempfile::tempdir().unwrap();
    let playbook_dir = tempfile::tempdir().unwrap();
    let files = [("site.yml", DIAMOND)];

    // Run 1: b's gate fails.
    let run1 = apply_in(playbook_dir.path(), &inv, &files, "site.yml", with_records(records.path())).await.unwrap();
    assert_eq!(run1.summary.exit_code, 2);
    let status = |r: &common::Applied, p: &str| r.summary.record.phase(p).and_then(|x| x.status);
    assert_eq!(status(&run1, "a"), Some(PhaseStatus::Passed));
    assert_eq!(status(&run1, "b"), Some(PhaseStatus::GateFailed));
    assert_eq!(status(&run1, "c"), Some(PhaseStatus::Passed), "an independent branch goes on");
    assert_eq!(status(&run1, "d"), Some(PhaseStatus::Blocked));
    assert_eq!(run1.summary.record.phase("d").unwrap().blocked_by.as_deref(), Some("b"));
    assert!(run1.events.iter().any(|e| matches!(e, Event::PhaseBlocked { phase, by, .. } if phase == "d" && by == "b")));

    // b and c overlapped in time: on the hosts (same kernel clock) and in the run record.
    let (b0, b1) = times(&read(&lab, "h1", "/tmp/b_times").await);
    let (c0, c1) = times(&read(&lab, "h2", "/tmp/c_times").await);
    assert!(b0 < c1 && c0 < b1, "b [{b0}, {b1}] and c [{c0}, {c1}] should overlap");
    let rec = |p: &str| run1.summary.record.phase(p).unwrap().clone();
    assert!(rec("b").started_ms < rec("c").ended_ms && rec("c").started_ms < rec("b").ended_ms);
    assert!(rec("a").ended_ms <= rec("b").started_ms && rec("a").ended_ms <= rec("c").started_ms, "b and c wait for a");
    assert_eq!(read(&lab, "h1", "/tmp/ran").await, "a\nb\n");
    assert_eq!(read(&lab, "h2", "/tmp/ran").await, "a\nc\n");

    // Fix b, resume: only b and d run.
    lab.docker_exec("h1", "touch /tmp/b_ok").await;
    let run2 = apply_in(playbook_dir.path(), &inv, &files, "site.yml", RunOptions { phases: PhaseSelection::Resume, ..with_records(records.path()) })
        .await
        .unwrap();
    assert_eq!(run2.summary.exit_code, 0);
    assert_eq!(status(&run2, "a"), Some(PhaseStatus::Passed));
    assert_eq!(status(&run2, "b"), Some(PhaseStatus::Passed));
    assert_eq!(status(&run2, "d"), Some(PhaseStatus::Passed));
    assert_eq!(read(&lab, "h1", "/tmp/ran").await, "a\nb\nb\nd\n", "a was not re-run, b and d were");
    assert_eq!(read(&lab, "h2", "/tmp/ran").await, "a\nc\nd\n", "c was not re-run");
    // d waited for both b and c.
    let rec2 = |p: &str| run2.summary.record.phase(p).unwrap().clone();
    assert!(rec2("b").ended_ms <= rec2("d").started_ms);
}

#[tokio::test(flavor = "multi_thread")]
async fn phase_selection_from_and_verify_only() {
    let lab = TestLab::start(2).await;
    let inv = lab.inventory("");
    lab.docker_exec("h1", "touch /tmp/b_ok").await;
    let files = [("site.yml", DIAMOND)];
    let run = |sel: PhaseSelection| apply_files(&inv, &files, "site.yml", RunOptions { phases: sel, ..Default::default() });

    let only_c = run(PhaseSelection::Only { phase: "c".into(), with_deps: false }).await.unwrap();
    assert_eq!(only_c.summary.exit_code, 0);
    assert_eq!(read(&lab, "h2", "/tmp/ran").await, "c\n");
    assert_eq!(read(&lab, "h1", "/tmp/ran").await, "");

    let d_with_deps = run(PhaseSelection::Only { phase: "d".into(), with_deps: true }).await.unwrap();
    assert_eq!(d_with_deps.summary.exit_code, 0);
    assert_eq!(read(&lab, "h1", "/tmp/ran").await, "a\nb\nd\n");

    // --from c: a (no gate: cannot prove itself) runs, b's gate passes so b is skipped, then c and d.
    lab.docker_exec("h1", "rm /tmp/ran").await;
    let from_c = run(PhaseSelection::From("c".into())).await.unwrap();
    assert_eq!(from_c.summary.exit_code, 0);
    assert_eq!(read(&lab, "h1", "/tmp/ran").await, "a\nd\n");

    // verify: only gates run (here b's), nothing changes.
    lab.docker_exec("h1", "rm /tmp/ran").await;
    let verify = run(PhaseSelection::VerifyOnly).await.unwrap();
    assert_eq!(verify.summary.exit_code, 0);
    assert_eq!(read(&lab, "h1", "/tmp/ran").await, "");
    assert!(verify.events.iter().any(|e| matches!(e, Event::GateEnd { phase, passed: true, .. } if phase == "b")));
    lab.docker_exec("h1", "rm /tmp/b_ok").await;
    let verify = run(PhaseSelection::VerifyOnly).await.unwrap();
    assert_eq!(verify.summary.exit_code, 2, "a failing gate fails the health check");

    let err = run(PhaseSelection::Only { phase: "nope".into(), with_deps: false }).await.err().unwrap();
    assert!(err.contains("no phase named 'nope'"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn read_only_gate_tasks_run_in_check_mode_and_report_apart() {
    let lab = TestLab::start(1).await;
    let pb = r#"
- phase: only
  hosts: all
  gather_facts: false
  tasks:
    - shell: echo changed > /tmp/x
      args: {creates: /tmp/x}
  verify:
    - name: probe
      command: uname -s
      read_only: true
      register: probe
    - assert:
        that: probe.stdout == 'Linux'
"#;
    let a = common::apply(&lab.inventory(""), pb, RunOptions { check: true, ..Default::default() }).await.unwrap();
    assert_eq!(a.summary.exit_code, 0);
    let gate: Vec<_> = a.results().into_iter().filter(|r| r.gate).collect();
    assert!(gate.iter().any(|r| r.task == "probe" && r.status == hlprov::report::Status::Ok), "{gate:#?}");
    assert_eq!(read(&lab, "h1", "/tmp/x").await, "", "check mode changed nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_phase_whose_hosts_match_nothing_is_skipped_without_a_gate_and_its_dependents_run() {
    // The proxmox_lxc phase in a lab without a Proxmox node: no hosts, no gate, and base still runs.
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yml");
    std::fs::write(&inv, "all:\n  hosts:\n    here:\n      ansible_connection: local\n").unwrap();
    let pb = r#"
- phase: nodes
  hosts: proxmox
  gather_facts: false
  tasks:
    - fail: {msg: never runs}
  verify:
    - fail: {msg: never checked}
- phase: after
  requires: [nodes]
  hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: ran}
"#;
    let a = common::apply(&inv, pb, RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0);
    assert_eq!(a.summary.record.phase("nodes").and_then(|p| p.status), Some(PhaseStatus::Skipped));
    assert_eq!(a.summary.record.phase("after").and_then(|p| p.status), Some(PhaseStatus::Passed));
    assert!(!a.events.iter().any(|e| matches!(e, Event::GateStart { .. } | Event::GateEnd { .. })), "no gate for no hosts");
    assert!(a.events.iter().any(|e| matches!(e, Event::PhaseEnd { phase, status: PhaseStatus::Skipped, .. } if phase == "nodes")));
}
