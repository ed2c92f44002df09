//! Faults on real hosts (issue: reliability). Three hosts run a playbook; while a slow task runs on h2, the
//! test breaks h2 from another task: `docker stop` (SIGKILL), `docker pause` past the time limit, `docker
//! network disconnect`, and sshd restarted with its sessions killed. In every case the other hosts finish, the
//! recap and exit code are right, nothing is reported ok that did not happen (checked with `docker exec`), and
//! re-runs converge to changed=0. An SSH connection cut while dpkg runs a package's postinst (issue #22) leaves
//! the task failed, never ok, and the next apply repairs dpkg.
//!
//! Determinism on a loaded machine: the fault is injected only once h2's slow task has *started* (a marker file
//! the task writes, polled with docker exec); h2's slow task sleeps far longer than the fault takes to inject;
//! every wait is bounded.

mod common;

use std::time::{Duration, Instant};

use common::{Applied, TestLab, apply};
use hlprov::exec::RunOptions;
use hlprov::lab;
use hlprov::report::Status;

/// Wait until `path` exists on `host` (polled with docker exec), at most a minute.
async fn wait_for_file(lab: &TestLab, host: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if lab.docker_exec(host, &format!("test -e {path}")).await.0 == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never appeared on {host}");
}

async fn exists(lab: &TestLab, host: &str, path: &str) -> bool {
    lab.docker_exec(host, &format!("test -e {path}")).await.0 == 0
}

/// Every result of `task` on `host` has this status (and there is at least one).
fn status_of(a: &Applied, task: &str, host: &str) -> Status {
    let rs = a.of(task, host);
    assert!(!rs.is_empty(), "no result for {task} on {host}");
    let last = rs.last().unwrap();
    last.status
}

fn msg_of(a: &Applied, task: &str, host: &str) -> String {
    a.of(task, host).last().and_then(|r| r.msg.clone()).unwrap_or_default()
}

/// h1 and h3 ran every task of the fault playbook, and its effects are on them.
async fn healthy_hosts_finished(lab: &TestLab, a: &Applied, tasks: &[&str], files: &[&str]) {
    for host in ["h1", "h3"] {
        for task in tasks {
            let st = status_of(a, task, host);
            assert!(matches!(st, Status::Ok | Status::Changed), "{task} on {host}: {st:?} {}", msg_of(a, task, host));
        }
        let s = a.stats(host);
        assert_eq!((s.failed, s.unreachable), (0, 0), "{host}: {s:?}");
        for f in files {
            assert!(exists(lab, host, f).await, "{f} missing on {host}");
        }
    }
}

/// No temp file of an atomic write is left anywhere on the host.
async fn no_stray_temp_files(lab: &TestLab, host: &str) {
    let (_, out) = lab.docker_exec(host, "find / -xdev -name '.hlprov-tmp.*' 2>/dev/null").await;
    assert_eq!(out.trim(), "", "stray temp files on {host}");
}

/// Re-run until converged: the first re-run finishes h2's work (exit 0), the second changes nothing.
async fn reruns_converge(lab: &TestLab, pb: &str, opts: RunOptions) {
    let inv = lab.inventory("");
    let again = apply(&inv, pb, opts.clone()).await.unwrap();
    assert_eq!(again.summary.exit_code, 0, "{:?}", again.results().iter().filter(|r| r.status == Status::Failed).collect::<Vec<_>>());
    for host in ["h1", "h3"] {
        assert_eq!(again.stats(host).changed, 0, "{host} had nothing left to do");
    }
    let third = apply(&inv, pb, opts).await.unwrap();
    assert_eq!((third.summary.exit_code, third.total_changed()), (0, 0), "{:?}", third.summary.stats);
}

fn with_timeout(secs: u64) -> RunOptions {
    RunOptions { task_timeout: Some(secs), ..Default::default() }
}

/// The playbook of the stop test: the slow step is a copy whose `validate` sleeps, so h2 is killed while the
/// temp file of an atomic write exists.
const STOP_PB: &str = r#"
- hosts: all
  gather_facts: false
  vars: {slow: "{{ 60 if inventory_hostname == 'h2' else 1 }}"}
  tasks:
    - name: prepare
      file: {path: /srv/fault/conf, state: directory}
    - name: before
      copy: {dest: /srv/fault/before, content: "before\n"}
    - name: slow write
      copy:
        dest: /srv/fault/conf/app.conf
        content: "setting = 1\n"
        validate: "sh -c 'touch /srv/fault/validating; sleep {{ slow }}' %s"
    - name: after
      copy: {dest: /srv/fault/after, content: "after\n"}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn host_stopped_mid_write_is_failed_others_finish_and_no_temp_file_survives() {
    let mut lab = TestLab::start(3).await;
    let inv = lab.inventory("");
    let t0 = Instant::now();
    let (applied, ()) = tokio::join!(apply(&inv, STOP_PB, RunOptions::default()), async {
        wait_for_file(&lab, "h2", "/srv/fault/validating").await;
        // The temp file is there now; SIGKILL everything in the container (EXIT traps cannot run).
        assert_eq!(lab.docker_exec("h2", "ls -a /srv/fault/conf | grep -c '^.hlprov-tmp'").await.1.trim(), "1");
        lab.host("h2").container.stop_with_timeout(Some(0)).await.unwrap();
    });
    let a = applied.unwrap();
    eprintln!("stop: faulted run took {:?}", t0.elapsed());

    healthy_hosts_finished(&lab, &a, &["prepare", "before", "slow write", "after"], &["/srv/fault/conf/app.conf", "/srv/fault/after"]).await;
    assert_eq!(status_of(&a, "before", "h2"), Status::Changed);
    assert_eq!(status_of(&a, "slow write", "h2"), Status::Failed);
    assert!(msg_of(&a, "slow write", "h2").contains("connection lost"), "{}", msg_of(&a, "slow write", "h2"));
    assert!(a.of("after", "h2").is_empty(), "a failed host runs no further task");
    let s = a.stats("h2");
    assert_eq!((s.failed, s.unreachable), (1, 0), "{s:?}");
    assert_eq!(a.summary.exit_code, 2);

    lab.restart("h2").await;
    // What was reported is what happened: the write never completed, and its temp file is still there.
    assert!(exists(&lab, "h2", "/srv/fault/before").await);
    assert!(!exists(&lab, "h2", "/srv/fault/conf/app.conf").await, "reported failed, and it did not happen");
    assert!(!exists(&lab, "h2", "/srv/fault/after").await);
    assert_eq!(lab.docker_exec("h2", "ls -a /srv/fault/conf | grep -c '^.hlprov-tmp'").await.1.trim(), "1", "SIGKILL leaves the temp file");

    let fast = RunOptions { extra_vars: [("slow".to_string(), serde_json::json!(0))].into_iter().collect(), ..Default::default() };
    reruns_converge(&lab, STOP_PB, fast).await;
    // The next write into that folder removed the dead writer's temp file.
    for host in ["h1", "h2", "h3"] {
        no_stray_temp_files(&lab, host).await;
    }
    assert_eq!(lab.docker_exec("h2", "cat /srv/fault/conf/app.conf").await.1, "setting = 1\n");
}

/// Shared by the pause, network and sshd tests: h2's slow task sleeps `h2_slow` seconds (the others 2), and
/// records that it started and that it finished.
fn slow_pb(extra_task_keywords: &str) -> String {
    format!(
        r#"
- hosts: all
  gather_facts: false
  vars: {{h2_slow: 60}}
  tasks:
    - name: prepare
      file: {{path: /srv/fault, state: directory}}
    - name: before
      copy: {{dest: /srv/fault/before, content: "before\n"}}
    - name: slow
      shell: "touch /srv/fault/slow-started; sleep {{{{ h2_slow if inventory_hostname == 'h2' else 2 }}}}; touch /srv/fault/slow-done"
      args: {{creates: /srv/fault/slow-done}}
{extra_task_keywords}
    - name: after
      copy: {{dest: /srv/fault/after, content: "after\n"}}
"#
    )
}

fn fast_reruns(opts: RunOptions) -> RunOptions {
    RunOptions { extra_vars: [("h2_slow".to_string(), serde_json::json!(1))].into_iter().collect(), ..opts }
}

#[tokio::test(flavor = "multi_thread")]
async fn host_paused_past_the_global_timeout_is_failed_and_its_command_stopped() {
    let lab = TestLab::start(3).await;
    let inv = lab.inventory("");
    let pb = slow_pb("");
    let t0 = Instant::now();
    // The global time limit (--timeout 4); h2 is frozen for 5 s from the start of its slow task.
    let (applied, ()) = tokio::join!(apply(&inv, &pb, with_timeout(4)), async {
        wait_for_file(&lab, "h2", "/srv/fault/slow-started").await;
        lab.host("h2").container.pause().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        lab.host("h2").container.unpause().await.unwrap();
    });
    let a = applied.unwrap();
    let took = t0.elapsed();
    eprintln!("pause: faulted run took {took:?}");

    healthy_hosts_finished(&lab, &a, &["prepare", "before", "slow", "after"], &["/srv/fault/slow-done", "/srv/fault/after"]).await;
    assert_eq!(status_of(&a, "slow", "h2"), Status::Failed);
    assert!(msg_of(&a, "slow", "h2").contains("timed out after 4s"), "{}", msg_of(&a, "slow", "h2"));
    assert!(a.of("after", "h2").is_empty());
    assert_eq!(a.summary.exit_code, 2);
    assert!(took < Duration::from_secs(45), "bounded: {took:?}");

    // Once h2 answered again, hlprov stopped the command it had given up on: it never finishes.
    assert!(!exists(&lab, "h2", "/srv/fault/slow-done").await);
    let (_, ps) = lab.docker_exec("h2", "ps -eo args").await;
    assert!(!ps.contains("sleep 60"), "the timed-out command still runs:\n{ps}");

    reruns_converge(&lab, &pb, fast_reruns(with_timeout(30))).await;
    assert!(exists(&lab, "h2", "/srv/fault/slow-done").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn host_disconnected_from_its_docker_network_loses_its_connection() {
    let mut lab = TestLab::start(3).await;
    let inv = lab.inventory("");
    let pb = slow_pb("");
    let docker = hlprov::lab::docker::connect().await.unwrap();
    let id = lab.host("h2").id().to_string();
    let (applied, ()) = tokio::join!(apply(&inv, &pb, RunOptions::default()), async {
        wait_for_file(&lab, "h2", "/srv/fault/slow-started").await;
        let req = bollard::models::NetworkDisconnectRequest { container: id.clone(), force: Some(true) };
        docker.disconnect_network("bridge", req).await.unwrap();
    });
    let a = applied.unwrap();

    healthy_hosts_finished(&lab, &a, &["prepare", "before", "slow", "after"], &["/srv/fault/slow-done", "/srv/fault/after"]).await;
    // Docker's port proxy closes the connections it carried when the endpoint goes: the task was cut off.
    assert_eq!(status_of(&a, "slow", "h2"), Status::Failed);
    assert!(msg_of(&a, "slow", "h2").contains("connection lost"), "{}", msg_of(&a, "slow", "h2"));
    assert!(a.of("after", "h2").is_empty());
    assert_eq!(a.summary.exit_code, 2);
    assert!(!exists(&lab, "h2", "/srv/fault/slow-done").await, "reported failed, and it did not happen");

    let req = bollard::models::NetworkConnectRequest { container: id.clone(), ..Default::default() };
    docker.connect_network("bridge", req).await.unwrap();
    lab.refresh_port("h2").await;
    reruns_converge(&lab, &pb, fast_reruns(RunOptions::default())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_whose_link_goes_dark_fails_on_the_task_timeout_in_bounded_time() {
    let lab = TestLab::start(3).await;
    let inv = lab.inventory("");
    // A per-task `timeout:` this time.
    let pb = slow_pb("      timeout: 6");
    let t0 = Instant::now();
    let (applied, ()) = tokio::join!(apply(&inv, &pb, RunOptions::default()), async {
        wait_for_file(&lab, "h2", "/srv/fault/slow-started").await;
        // From inside (the hosts have NET_ADMIN): packets now vanish, nothing is closed, like a pulled cable.
        assert_eq!(lab.docker_exec("h2", "ip link set dev eth0 down").await.0, 0);
    });
    let a = applied.unwrap();
    let took = t0.elapsed();
    eprintln!("dark link: faulted run took {took:?}");

    healthy_hosts_finished(&lab, &a, &["prepare", "before", "slow", "after"], &["/srv/fault/slow-done", "/srv/fault/after"]).await;
    assert_eq!(status_of(&a, "slow", "h2"), Status::Failed);
    assert!(msg_of(&a, "slow", "h2").contains("timed out after 6s"), "{}", msg_of(&a, "slow", "h2"));
    assert!(a.of("after", "h2").is_empty());
    assert_eq!(a.summary.exit_code, 2);
    // The time limit, plus at most 10 s trying to stop the command through a new connection.
    assert!(took < Duration::from_secs(40), "bounded: {took:?}");
    assert!(!exists(&lab, "h2", "/srv/fault/slow-done").await, "reported failed, and it did not happen");

    assert_eq!(lab.docker_exec("h2", "ip link set dev eth0 up").await.0, 0);
    lab::wait_ready(lab.ssh_config("h2")).await.unwrap();
    reruns_converge(&lab, &pb, fast_reruns(RunOptions::default())).await;
}

/// Restart sshd on h2 and kill its SSH connections on the host side (the per-connection sshd processes).
async fn cut_sessions(lab: &TestLab) {
    let (code, out) = lab.docker_exec("h2", "systemctl restart ssh && pkill -KILL -e -f '^sshd: root@notty'").await;
    assert_eq!(code, 0, "no session killed: {out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sshd_restarted_with_its_sessions_killed_mid_task_and_while_idle() {
    let lab = TestLab::start(3).await;
    let inv = lab.inventory("");
    // slow may fail (ignore_errors), so h2 goes on; `idle` runs on h1 and h3 only, while h2's connection sits idle.
    let pb = slow_pb(
        "      ignore_errors: true
    - name: idle
      shell: touch /srv/fault/idle-started; sleep 3
      changed_when: false
      when: inventory_hostname != 'h2'",
    );
    let (applied, ()) = tokio::join!(apply(&inv, &pb, RunOptions::default()), async {
        // A plain restart of sshd on h1 and h3 mid-task: systemd restarts only the listener, their open
        // connections and running commands carry on (and their results are real: checked below).
        wait_for_file(&lab, "h1", "/srv/fault/slow-started").await;
        wait_for_file(&lab, "h3", "/srv/fault/slow-started").await;
        for h in ["h1", "h3"] {
            assert_eq!(lab.docker_exec(h, "systemctl restart ssh").await.0, 0);
        }
        // On h2 the sessions are killed as well, as a crash, an OOM kill or a firewall reset would.
        wait_for_file(&lab, "h2", "/srv/fault/slow-started").await;
        cut_sessions(&lab).await;
        // Between tasks: h2 is idle while h1 and h3 run `idle`.
        wait_for_file(&lab, "h1", "/srv/fault/idle-started").await;
        cut_sessions(&lab).await;
    });
    let a = applied.unwrap();

    healthy_hosts_finished(&lab, &a, &["prepare", "before", "slow", "idle", "after"], &["/srv/fault/slow-done", "/srv/fault/after"]).await;
    // The cut task: failed (ignored), "connection lost", never ok.
    let cut = a.of("slow", "h2");
    assert_eq!(cut.last().unwrap().status, Status::Ignored, "{cut:?}");
    assert!(msg_of(&a, "slow", "h2").contains("connection lost"), "{}", msg_of(&a, "slow", "h2"));
    // The next task reconnected, and so did the one after the idle connection was dropped: no error.
    assert_eq!(status_of(&a, "idle", "h2"), Status::Skipped);
    assert_eq!(status_of(&a, "after", "h2"), Status::Changed, "{}", msg_of(&a, "after", "h2"));
    assert!(exists(&lab, "h2", "/srv/fault/after").await);
    let s = a.stats("h2");
    assert_eq!((s.failed, s.ignored, s.unreachable), (0, 1, 0), "{s:?}");
    assert_eq!(a.summary.exit_code, 0, "an ignored failure does not fail the run");
    let h2_conns = a.summary.connections.iter().find(|(h, _)| h == "h2").unwrap().1;
    assert_eq!(h2_conns, 3, "the first connection and one after each cut");

    // The cut-off command was stopped through the new connection: it never finishes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!exists(&lab, "h2", "/srv/fault/slow-done").await);
    let (_, ps) = lab.docker_exec("h2", "ps -eo args").await;
    assert!(!ps.contains("sleep 60"), "the cut-off command still runs:\n{ps}");

    reruns_converge(&lab, &pb, fast_reruns(RunOptions::default())).await;
}

/// An apt install whose package's postinst takes a few seconds (a local .deb built on each host).
const APT_PB: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: Install base packages
      apt: {deb: /root/hlprov-slow_1.0_all.deb}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn ssh_cut_during_an_apt_install_lets_dpkg_finish_and_collects_its_result_on_a_new_connection() {
    let lab = TestLab::start(2).await;
    let inv = lab.inventory("");
    for h in ["h1", "h2"] {
        lab.build_slow_deb(h, "#!/bin/sh\\nmkdir -p /srv/fault; touch /srv/fault/postinst-started; sleep 5; touch /srv/fault/postinst-ended\\n")
            .await;
    }
    let (applied, ()) = tokio::join!(apply(&inv, APT_PB, RunOptions::default()), async {
        // The connection dies while dpkg runs the package's postinst on h2.
        wait_for_file(&lab, "h2", "/srv/fault/postinst-started").await;
        cut_sessions(&lab).await;
    });
    let a = applied.unwrap();
    assert_eq!(status_of(&a, "Install base packages", "h1"), Status::Changed);
    // The install ran detached from the cut session: dpkg finished, and hlprov collected apt's result through a
    // new connection, so the task is what really happened, not a guess.
    assert_eq!(status_of(&a, "Install base packages", "h2"), Status::Changed, "{}", msg_of(&a, "Install base packages", "h2"));
    assert!(a.of("Install base packages", "h2")[0].result["stdout"].as_str().unwrap_or("").contains("hlprov-slow"), "apt's own output was collected");
    let (_, st) = lab.docker_exec("h2", "dpkg-query -W -f='${db:Status-Abbrev}' hlprov-slow").await;
    assert_eq!(st.trim(), "ii", "dpkg finished on h2 although its session was cut");
    assert_eq!(lab.docker_exec("h2", "apt-get check -q >/dev/null 2>&1").await.0, 0, "apt is healthy on h2");
    assert_eq!(lab.sh("h2", "ls -A /var/lib/hlprov/jobs").await.trim(), "", "the collected job's folder is removed");
    // The next apply has nothing to repair or do.
    let again = apply(&inv, APT_PB, RunOptions::default()).await.unwrap();
    assert_eq!((again.summary.exit_code, again.total_changed()), (0, 0), "{:?}", again.summary.stats);
}
