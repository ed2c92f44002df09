//! ProxyJump on real hosts (issue: reliability): h1 is a bastion, h2 is reached through it at its address on
//! the Docker network, as a host behind a jump box is. The bastion's and the target's host keys are both
//! checked, each error naming the host it is about.

mod common;

use common::{TestLab, apply};
use hlprov::exec::RunOptions;
use hlprov::report::Status;

const PB: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: where from
      shell: echo "$SSH_CONNECTION" > /tmp/ssh_connection; hostname
      register: who
    - name: through
      copy: {dest: /tmp/through-the-bastion, content: "{{ who.stdout }}\n"}
"#;

/// An inventory with one host, `target`, at h2's Docker network address, behind h1 (published on 127.0.0.1).
/// `-J` comes first on purpose: the bastion must still get the known_hosts and key given after it.
fn inventory(lab: &TestLab, target_ip: &str, known_hosts: &std::path::Path) -> std::path::PathBuf {
    let text = format!(
        "all:\n  hosts:\n    target:\n      ansible_host: {target_ip}\n      ansible_port: 22\n  vars:\n    ansible_user: root\n    \
         ansible_ssh_common_args: -J root@127.0.0.1:{} -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -i {}\n",
        lab.host("h1").port,
        known_hosts.display(),
        lab.key_file.display()
    );
    let path = lab.dir.path().join(format!("jump-{}.yml", rand_suffix()));
    std::fs::write(&path, text).unwrap();
    path
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_host_behind_a_bastion_is_reached_through_it_with_both_host_keys_checked() {
    let lab = TestLab::start(2).await;
    let docker = hlprov::lab::docker::connect().await.unwrap();
    let bastion_ip = hlprov::lab::docker::address_on(&docker, lab.host("h1").id(), "bridge").await.expect("h1 on the bridge network");
    let target_ip = hlprov::lab::docker::address_on(&docker, lab.host("h2").id(), "bridge").await.expect("h2 on the bridge network");
    let kh_text = std::fs::read_to_string(&lab.known_hosts).unwrap();
    let key_of = |h: &str| {
        let prefix = format!("[127.0.0.1]:{} ", lab.host(h).port);
        kh_text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap().to_string()
    };
    // The target is known by its network address (port 22: no brackets), the bastion by its published port.
    let known = lab.dir.path().join("jump_known_hosts");
    std::fs::write(&known, format!("{kh_text}{target_ip} {}\n", key_of("h2"))).unwrap();

    let a = apply(&inventory(&lab, &target_ip, &known), PB, RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.results());
    assert_eq!(a.of("through", "target")[0].status, Status::Changed);
    // On h2 itself: the file is there, and sshd saw the connection come from the bastion's address.
    assert_eq!(lab.docker_exec("h2", "cat /tmp/through-the-bastion").await.1, "h2\n");
    let conn = lab.docker_exec("h2", "cat /tmp/ssh_connection").await.1;
    assert_eq!(conn.split_whitespace().next(), Some(bastion_ip.as_str()), "SSH_CONNECTION={conn}");
    assert_ne!(lab.docker_exec("h1", "test -e /tmp/through-the-bastion").await.0, 0, "nothing written on the bastion");

    // The target's key is unknown: refused, naming the target (not the bastion).
    let a = apply(&inventory(&lab, &target_ip, &lab.known_hosts), PB, RunOptions::default()).await.unwrap();
    let msg = a.of("where from", "target")[0].msg.clone().unwrap_or_default();
    assert_eq!(a.of("where from", "target")[0].status, Status::Unreachable);
    assert!(msg.contains(&format!("host key of {target_ip} is not known")), "{msg}");
    assert_eq!(a.summary.exit_code, 3);

    // The bastion presents another key than the recorded one: refused, naming the bastion.
    let impostor = hlprov::transport::keys::generate_ed25519("impostor").public_key().to_openssh().unwrap();
    let bad = lab.dir.path().join("bad_bastion_known_hosts");
    std::fs::write(&bad, format!("[127.0.0.1]:{} {impostor}\n{target_ip} {}\n", lab.host("h1").port, key_of("h2"))).unwrap();
    let a = apply(&inventory(&lab, &target_ip, &bad), PB, RunOptions::default()).await.unwrap();
    let msg = a.of("where from", "target")[0].msg.clone().unwrap_or_default();
    assert!(msg.contains(&format!("HOST KEY MISMATCH for [127.0.0.1]:{}", lab.host("h1").port)), "{msg}");
    assert_eq!(a.summary.exit_code, 3);
}
