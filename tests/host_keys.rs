//! Host key checking on real hosts, through whole runs (issue: reliability): strict by default against
//! entries hashed by OpenSSH's own `ssh-keygen -H`; a mismatch stops only that host, naming it and both
//! fingerprints; `--host-key-checking accept-new` trusts on first use and records, through the binary.

mod common;

use std::process::Command;

use common::{TestLab, apply};
use hlprov::exec::RunOptions;
use hlprov::report::Status;
use hlprov::transport::known_hosts::fingerprint;

const PB: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: mark
      copy: {dest: /tmp/reached, content: "yes\n"}
"#;

/// The public key line each host presents (from known_hosts as TestLab wrote it: `[127.0.0.1]:port key`).
fn host_key_line(lab: &TestLab, host: &str) -> String {
    let kh = std::fs::read_to_string(&lab.known_hosts).unwrap();
    let prefix = format!("[127.0.0.1]:{} ", lab.host(host).port);
    kh.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no entry for {host}")).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn hashed_entries_match_and_a_mismatch_stops_only_that_host_naming_both_fingerprints() {
    let lab = TestLab::start(3).await;
    let real_h2 = russh::keys::PublicKey::from_openssh(&host_key_line(&lab, "h2")).unwrap();

    // OpenSSH hashes the file in place (HashKnownHosts): no host name is left in clear text.
    let st = Command::new("ssh-keygen").arg("-H").arg("-f").arg(&lab.known_hosts).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
    let hashed = std::fs::read_to_string(&lab.known_hosts).unwrap();
    assert!(!hashed.contains("127.0.0.1") && hashed.lines().all(|l| l.starts_with("|1|")), "{hashed}");
    let a = apply(&lab.inventory(""), PB, RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.results());

    // h2 now presents a key other than the recorded one (rebuilt, or someone in the middle).
    let impostor = hlprov::transport::keys::generate_ed25519("impostor");
    let mut kh: Vec<String> = hashed.lines().map(str::to_string).collect();
    let h2_line = kh.iter().position(|l| l.contains(&host_key_line_tail(&real_h2))).expect("h2's hashed line");
    kh[h2_line] = format!("[127.0.0.1]:{} {}", lab.host("h2").port, impostor.public_key().to_openssh().unwrap());
    std::fs::write(&lab.known_hosts, kh.join("\n") + "\n").unwrap();
    lab.docker_exec("h2", "rm -f /tmp/reached").await;

    let a = apply(&lab.inventory(""), PB, RunOptions::default()).await.unwrap();
    let r = a.of("mark", "h2");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].status, Status::Unreachable);
    let msg = r[0].msg.clone().unwrap_or_default();
    assert!(msg.contains("HOST KEY MISMATCH"), "{msg}");
    assert!(msg.contains(&format!("[127.0.0.1]:{}", lab.host("h2").port)), "names the host: {msg}");
    assert!(msg.contains(&format!("expected {}", fingerprint(impostor.public_key()))), "names the expected key: {msg}");
    assert!(msg.contains(&format!("presented {}", fingerprint(&real_h2))), "names the presented key: {msg}");
    assert!(msg.contains(&format!("{}:{}", lab.known_hosts.display(), h2_line + 1)), "names the known_hosts line: {msg}");
    for h in ["h1", "h3"] {
        assert_eq!(a.of("mark", h)[0].status, Status::Ok, "{h}");
    }
    assert_eq!(a.summary.exit_code, 3, "unreachable");
    assert_ne!(lab.docker_exec("h2", "test -e /tmp/reached").await.0, 0, "nothing ran on h2");
}

/// The `type base64` part of a key line (what a known_hosts line holds after its host names).
fn host_key_line_tail(key: &russh::keys::PublicKey) -> String {
    let line = key.to_openssh().unwrap();
    let mut parts = line.split_whitespace();
    format!("{} {}", parts.next().unwrap(), parts.next().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_new_on_the_command_line_records_keys_then_strict_trusts_them() {
    let lab = TestLab::start(2).await;
    // An inventory that leaves host key settings to the command line.
    let mut inv = String::from("all:\n  hosts:\n");
    for h in &lab.hosts {
        inv.push_str(&format!("    {}: {{ansible_host: 127.0.0.1, ansible_port: {}}}\n", h.name, h.port));
    }
    inv.push_str(&format!("  vars: {{ansible_user: root, ansible_ssh_private_key_file: {}}}\n", lab.key_file.display()));
    let inv_path = lab.dir.path().join("plain.yml");
    std::fs::write(&inv_path, inv).unwrap();
    let kh = lab.dir.path().join("fresh_known_hosts");
    let hlprov = |extra: &[&str]| {
        let mut args = vec!["ping", "-i", inv_path.to_str().unwrap(), "--known-hosts", kh.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = Command::new(env!("CARGO_BIN_EXE_hlprov")).args(&args).env("HLPROV_NO_LIVE", "1").output().unwrap();
        (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };

    // Strict (the default) refuses hosts it does not know, and says how to trust them.
    let (code, out) = hlprov(&[]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("is not known") && out.contains("--host-key-checking accept-new"), "{out}");
    assert!(!kh.exists(), "strict mode records nothing");

    let (code, out) = hlprov(&["--host-key-checking", "accept-new"]);
    assert_eq!(code, Some(0), "{out}");
    let recorded = std::fs::read_to_string(&kh).unwrap();
    for h in ["h1", "h2"] {
        let want = format!(
            "[127.0.0.1]:{} {}",
            lab.host(h).port,
            host_key_line_tail(&russh::keys::PublicKey::from_openssh(&host_key_line(&lab, h)).unwrap())
        );
        assert!(recorded.lines().any(|l| l.starts_with(&want)), "{h} recorded with its real key:\n{recorded}");
    }
    assert_eq!(recorded.lines().count(), 2);

    let (code, out) = hlprov(&[]);
    assert_eq!(code, Some(0), "the recorded keys are trusted under strict checking: {out}");
    assert_eq!(std::fs::read_to_string(&kh).unwrap(), recorded, "nothing recorded twice");
}
