//! The SSH transport against real sshd hosts (containers with systemd as PID 1).

mod common;

use std::time::Duration;

use common::TestLab;
use hlprov::transport::ssh::SshTransport;
use hlprov::transport::{Cmd, Connection, HostKeyPolicy, Transport, TransportError};

#[tokio::test(flavor = "multi_thread")]
async fn lab_hosts_are_real_systemd_and_sshd_hosts_with_working_apt() {
    let lab = TestLab::start(1).await;
    let t = lab.transport("h1");
    let out = t.run("systemctl is-system-running; systemctl is-active ssh", None, None).await.unwrap();
    assert_eq!(out.stdout_text().split_whitespace().collect::<Vec<_>>(), ["running", "active"], "{}", out.stderr_text());
    assert_eq!(t.run("cat /proc/1/comm", None, None).await.unwrap().stdout_text().trim(), "systemd");
    // Python must not be there: nothing may silently depend on it.
    assert!(!t.run("command -v python3", None, None).await.unwrap().success());
    // apt really installs from Debian's mirror.
    let out = t
        .run(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tree >/dev/null && tree --version",
            None,
            Some(Duration::from_secs(300)),
        )
        .await
        .unwrap();
    assert!(out.success(), "apt failed: {}", out.stderr_text());
    assert!(out.stdout_text().starts_with("tree v"), "{}", out.stdout_text());
    let (code, _) = lab.docker_exec("h1", "dpkg -s tree | grep -q 'Status: install ok installed'").await;
    assert_eq!(code, 0, "docker exec confirms the package independently");
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_status_stdout_stderr_stdin_and_large_output() {
    let lab = TestLab::start(1).await;
    let t = lab.transport("h1");
    let out = t.run("echo out; echo err >&2; exit 3", None, None).await.unwrap();
    assert_eq!((out.rc(), out.stdout_text().as_str(), out.stderr_text().as_str()), (3, "out\n", "err\n"));

    let input: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let out = t.run("sha256sum", Some(&input), None).await.unwrap();
    let expected = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&input));
    assert!(out.stdout_text().starts_with(&expected), "stdin arrives intact");

    let out = t.run("head -c 1048576 /dev/zero | tr '\\0' x", None, None).await.unwrap();
    assert_eq!(out.stdout.len(), 1 << 20);
    assert!(out.stdout.iter().all(|b| *b == b'x'));

    // Many commands, one connection.
    for _ in 0..20 {
        assert!(t.run("true", None, None).await.unwrap().success());
    }
    assert_eq!(t.connections_opened(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn become_root_and_another_user() {
    let lab = TestLab::start(1).await;
    let setup = "useradd -m -s /bin/sh alice && useradd -m -s /bin/sh bob && echo 'alice ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/alice && mkdir -p ~alice/.ssh && cp /root/.ssh/authorized_keys ~alice/.ssh/ && chown -R alice: ~alice/.ssh";
    assert_eq!(lab.docker_exec("h1", setup).await.0, 0);

    // Log in as alice, become root.
    let mut cfg = lab.ssh_config("h1");
    cfg.user = "alice".into();
    let conn = Connection::new(std::sync::Arc::new(SshTransport::new(cfg)), "alice".into(), None);
    let who = |u: Option<&'static str>| Cmd { script: "id -un; pwd", become_user: u, ..Default::default() };
    assert_eq!(conn.exec(&who(None)).await.unwrap().stdout_text(), "alice\n/home/alice\n");
    assert_eq!(conn.exec(&who(Some("root"))).await.unwrap().stdout_text().lines().next(), Some("root"));
    assert_eq!(conn.exec(&who(Some("bob"))).await.unwrap().stdout_text().lines().next(), Some("bob"));
    // stdin still reaches the command through sudo.
    let cmd = Cmd { script: "cat", stdin: Some(b"through sudo"), become_user: Some("root"), ..Default::default() };
    assert_eq!(conn.exec(&cmd).await.unwrap().stdout_text(), "through sudo");

    // bob has no sudo rights: a clear escalation error, not a command failure.
    let mut cfg = lab.ssh_config("h1");
    cfg.user = "bob".into();
    assert_eq!(lab.docker_exec("h1", "mkdir -p ~bob/.ssh && cp /root/.ssh/authorized_keys ~bob/.ssh/ && chown -R bob: ~bob/.ssh").await.0, 0);
    let conn = Connection::new(std::sync::Arc::new(SshTransport::new(cfg)), "bob".into(), None);
    match conn.exec(&who(Some("root"))).await {
        Err(TransportError::Become(msg)) => assert!(msg.contains("password is required"), "{msg}"),
        other => panic!("expected a become error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_host_key_is_refused_with_both_fingerprints() {
    let lab = TestLab::start(1).await;
    let bad = lab.dir.path().join("bad_known_hosts");
    let other = hlprov::transport::keys::generate_ed25519("impostor");
    std::fs::write(&bad, format!("[127.0.0.1]:{} {}\n", lab.host("h1").port, other.public_key().to_openssh().unwrap())).unwrap();
    let mut cfg = lab.ssh_config("h1");
    cfg.known_hosts = vec![bad.clone()];
    let err = SshTransport::new(cfg.clone()).run("true", None, None).await.unwrap_err();
    let msg = err.to_string();
    assert!(err.is_unreachable());
    assert!(msg.contains("HOST KEY MISMATCH"), "{msg}");
    assert!(msg.contains(&hlprov::transport::known_hosts::fingerprint(other.public_key())), "expected fingerprint named: {msg}");
    assert!(msg.contains(&format!("[127.0.0.1]:{}", lab.host("h1").port)), "{msg}");

    // Unknown host under strict checking: refused, and accept-new records it.
    let empty = lab.dir.path().join("empty_known_hosts");
    cfg.known_hosts = vec![empty.clone()];
    let err = SshTransport::new(cfg.clone()).run("true", None, None).await.unwrap_err();
    assert!(err.to_string().contains("is not known"), "{err}");
    cfg.host_key_policy = HostKeyPolicy::AcceptNew;
    assert!(SshTransport::new(cfg.clone()).run("true", None, None).await.unwrap().success());
    cfg.host_key_policy = HostKeyPolicy::Strict;
    assert!(SshTransport::new(cfg).run("true", None, None).await.unwrap().success(), "the recorded key is trusted afterwards");
}

#[tokio::test(flavor = "multi_thread")]
async fn down_host_is_unreachable_and_timeouts_are_reported() {
    let lab = TestLab::start(1).await;
    let t = lab.transport("h1");
    let out = t.run("sleep 5", None, Some(Duration::from_millis(500))).await;
    assert!(matches!(out, Err(TransportError::Timeout(_))), "{out:?}");
    // systemd ignores SIGTERM as PID 1; do not wait 10 s for it.
    lab.host("h1").container.stop_with_timeout(Some(0)).await.unwrap();
    let err = SshTransport::new(lab.ssh_config("h1")).run("true", None, None).await.unwrap_err();
    assert!(err.is_unreachable(), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_share_one_shell_and_behave_like_commands() {
    let lab = TestLab::start(1).await;
    let t = lab.transport("h1");
    // Output, stderr and exit codes come apart exactly, with or without a final newline.
    let out = t.run_probe("echo out; printf 'err' >&2; exit 3", None).await.unwrap();
    assert_eq!((out.rc(), out.stdout_text().as_str(), out.stderr_text().as_str()), (3, "out\n", "err"));
    let out = t.run_probe("printf 'no newline'", None).await.unwrap();
    assert_eq!((out.rc(), out.stdout_text().as_str(), out.stderr_text().as_str()), (0, "no newline", ""));
    let out = t.run_probe("head -c 1048576 /dev/zero | tr '\\0' x", None).await.unwrap();
    assert_eq!(out.stdout.len(), 1 << 20);
    // Each probe runs in a subshell of one long-lived shell: state does not leak, and the shell is the same.
    let first = t.run_probe("cd /tmp; x=1; umask 077; echo $$", None).await.unwrap().stdout_text();
    let second = t.run_probe("pwd; echo \"x=$x\"; umask; echo $$", None).await.unwrap().stdout_text();
    assert_eq!(second.lines().collect::<Vec<_>>(), ["/root", "x=", "0022", first.trim()]);
    // A probe cannot read the protocol's stream.
    assert_eq!(t.run_probe("cat; echo done", None).await.unwrap().stdout_text(), "done\n");
    // A probe that kills the shell is run again on a session of its own; the next probe gets a new shell.
    let out = t.run_probe("kill -9 $$", None).await.unwrap();
    assert!(!out.success());
    assert!(t.run_probe("echo $$", None).await.unwrap().stdout_text().trim() != first.trim());
    // Time limits hold.
    let out = t.run_probe("sleep 5", Some(Duration::from_millis(500))).await;
    assert!(matches!(out, Err(TransportError::Timeout(_))), "{out:?}");
    assert_eq!(t.run_probe("echo back", None).await.unwrap().stdout_text(), "back\n");
    // One connection, whatever happened to the shells, except the one the time-out gave up.
    assert_eq!(t.connections_opened(), 2);
}
