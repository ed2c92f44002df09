//! Real community roles, vendored unchanged under tests/community/ (each with its LICENSE and a SOURCES note
//! naming the repository and commit), run on lab hosts (issue 23). What the roles did is read back with
//! docker exec, not through hlprov.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Applied, TestLab};
use hlprov::exec::RunOptions;
use hlprov::report::Status;

fn vendored(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/community").join(rel)
}

/// Apply `playbook` (written into a fresh folder) with the vendored roles of `roles` on the roles path.
async fn apply_with_roles(inventory: &Path, playbook: &str, roles: &Path) -> Applied {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("site.yml");
    std::fs::write(&path, playbook).unwrap();
    let load = hlprov::playbook::LoadOptions { roles_path: vec![roles.to_path_buf()], strict: false };
    let pb = hlprov::playbook::load(&path, &load).unwrap_or_else(|e| panic!("{e}"));
    let mut inv = hlprov::inventory::Inventory::load(&[inventory.to_path_buf()]).unwrap();
    inv.add_playbook_vars_dir(&pb.dir).unwrap();
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let opts = RunOptions { roles_path: vec![roles.to_path_buf()], ..Default::default() };
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), opts, reporter).await.unwrap();
    let events = collector.events.lock().unwrap().clone();
    Applied { summary, events }
}

fn failures(a: &Applied) -> Vec<String> {
    a.results()
        .iter()
        .filter(|r| r.status == Status::Failed)
        .map(|r| format!("{} on {}: {}", r.task, r.host, r.msg.clone().unwrap_or_default()))
        .collect()
}

async fn sh(lab: &TestLab, host: &str, script: &str) -> String {
    let (rc, out) = lab.docker_exec(host, script).await;
    assert_eq!(rc, 0, "{script}: {out}");
    out
}

/// The inventory k3s-ansible expects: groups server and agent under k3s_cluster.
fn k3s_inventory(lab: &TestLab, extra: &str) -> PathBuf {
    let path = lab.inventory(extra);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("  children:\n    k3s_cluster:\n      children:\n        server:\n          hosts:\n            h1:\n        agent:\n          hosts:\n            h2:\n");
    std::fs::write(&path, text).unwrap();
    path
}

/// k3s-ansible's airgap role with a local artifacts folder: an install script that records how it was run, a
/// stand-in for the k3s binary (no real one can be obtained here) and an image archive.
fn airgap_artifacts() -> tempfile::TempDir {
    let artifacts = tempfile::tempdir().unwrap();
    let a = artifacts.path();
    std::fs::write(a.join("k3s-install.sh"), "#!/bin/sh\nenv | grep '^INSTALL_K3S_' | sort > /root/k3s-install.env\n").unwrap();
    std::fs::write(a.join("k3s"), "#!/bin/sh\necho 'k3s stand-in'\n").unwrap();
    std::fs::write(a.join("k3s-airgap-images-amd64.tar"), "not really images\n").unwrap();
    artifacts
}

#[tokio::test(flavor = "multi_thread")]
async fn k3s_ansible_airgap_role_distributes_local_artifacts_and_runs_the_installer() {
    let lab = TestLab::start(2).await;
    let artifacts = airgap_artifacts();
    let inv = k3s_inventory(&lab, &format!("    airgap_dir: {}\n", artifacts.path().display()));
    let roles = vendored("k3s-ansible/roles");
    let playbook = "- hosts: k3s_cluster\n  gather_facts: true\n  become: true\n  roles:\n    - role: airgap\n";

    let first = apply_with_roles(&inv, playbook, &roles).await;
    assert_eq!(failures(&first), Vec::<String>::new());
    for h in ["h1", "h2"] {
        assert_eq!(sh(&lab, h, "stat -c '%a %U' /usr/local/bin/k3s-install.sh /usr/local/bin/k3s").await, "755 root\n755 root\n");
        assert_eq!(sh(&lab, h, "/usr/local/bin/k3s").await, "k3s stand-in\n");
        assert_eq!(sh(&lab, h, "cat /var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar").await, "not really images\n");
    }
    // The installer ran without downloading, as a server on h1 and as an agent on h2.
    assert_eq!(sh(&lab, "h1", "cat /root/k3s-install.env").await, "INSTALL_K3S_SKIP_DOWNLOAD=true\nINSTALL_K3S_SKIP_ENABLE=true\n");
    assert_eq!(
        sh(&lab, "h2", "cat /root/k3s-install.env").await,
        "INSTALL_K3S_EXEC=agent\nINSTALL_K3S_SKIP_DOWNLOAD=true\nINSTALL_K3S_SKIP_ENABLE=true\n"
    );
    // The RHEL-only tasks (an SELinux RPM copy and a dnf install) were skipped on Debian, not refused.
    assert!(first.of("Install K3s SELinux RPM", "h1").iter().all(|r| r.status == Status::Skipped));

    // Again: only the installer changes, because the role says so (changed_when: true).
    let second = apply_with_roles(&inv, playbook, &roles).await;
    assert_eq!(failures(&second), Vec::<String>::new());
    let mut changed: Vec<String> =
        second.results().iter().filter(|r| r.status == Status::Changed).map(|r| format!("{} on {}", r.task, r.host)).collect();
    changed.sort();
    assert_eq!(changed, vec!["airgap : Run K3s Install [agent] on h2".to_string(), "airgap : Run K3s Install [server] on h1".to_string()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn k3s_ansible_prereq_role_runs_on_containers_up_to_the_kernel_settings() {
    // A container cannot set net.ipv4.ip_forward (its /proc/sys is read-only): the role runs up to there, and
    // the failure says why. The whole role runs on the VM lab (tests/community_roles_vm.rs).
    let lab = TestLab::start(1).await;
    let path = lab.inventory("");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("  children:\n    server:\n      hosts:\n        h1:\n");
    std::fs::write(&path, text).unwrap();
    let playbook = "- hosts: all\n  gather_facts: true\n  become: true\n  roles:\n    - role: prereq\n";
    let a = apply_with_roles(&path, playbook, &vendored("k3s-ansible/roles")).await;
    assert_eq!(a.of("Enforce minimum Ansible version", "h1")[0].status, Status::Ok);
    for rhel in ["Install Dependent RHEL 10 Package", "Install Dependent Oracle Linux 10 Package", "Install Dependent Ubuntu Packages"] {
        assert_eq!(a.of(rhel, "h1")[0].status, Status::Skipped, "{rhel}");
    }
    let f = failures(&a);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("prereq : Enable IPv4 forwarding on h1: Failed to reload sysctl"), "{f:?}");
    assert!(f[0].contains("/proc/sys is read-only inside this container"), "{f:?}");
    assert_eq!(sh(&lab, "h1", "grep '^net.ipv4.ip_forward' /etc/sysctl.conf").await, "net.ipv4.ip_forward=1\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn k3s_ansible_k3s_server_role_runs_up_to_where_it_needs_a_real_k3s_binary() {
    // airgap puts the stand-ins in place; k3s_server then builds and writes the server's config, runs the
    // installer, and stops where k3s itself must start (the stand-in is no server, and no real one can be
    // obtained here).
    let lab = TestLab::start(1).await;
    let artifacts = airgap_artifacts();
    std::fs::write(artifacts.path().join("k3s"), "#!/bin/sh\necho 'k3s version v1.31.4+k3s1 (stand-in)'\n").unwrap();
    let path = lab.inventory(&format!(
        "    airgap_dir: {}\n    k3s_version: v1.31.4+k3s1\n    token: changeme!\n    api_endpoint: 192.0.2.10\n  children:\n    server:\n      hosts:\n        h1:\n    agent: {{}}\n",
        artifacts.path().display()
    ));
    // The agent group exists, empty, as in k3s-ansible's inventory: the airgap role reads `groups['agent']`,
    // which Ansible fails on when the group is missing.
    let playbook = "- hosts: server\n  gather_facts: true\n  become: true\n  roles:\n    - role: airgap\n    - role: k3s_server\n";
    let a = apply_with_roles(&path, playbook, &vendored("k3s-ansible/roles")).await;
    // Done up to there: the installed version read from the binary, the config written, the installer run.
    assert_eq!(a.of("Get k3s installed version", "h1")[0].status, Status::Ok);
    assert_eq!(sh(&lab, "h1", "cat /etc/rancher/k3s/config.yaml").await, "tls-san: 192.0.2.10\ntoken: changeme!\n");
    assert_eq!(sh(&lab, "h1", "stat -c %a /etc/rancher/k3s/config.yaml").await, "644\n");
    assert!(a.of("Run K3s install script", "h1").iter().any(|r| r.status == Status::Changed));
    // The one failure: starting k3s, which the stand-in installer never set up as a service.
    let f = failures(&a);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].starts_with("k3s_server : Enable and start K3s service on h1:"), "{f:?}");
    assert!(f[0].contains("k3s"), "{f:?}");
}

/// geerlingguy.ntp and geerlingguy.security from Ansible Galaxy (vendored unchanged), on a Debian host,
/// converged twice: the second run changes nothing but what the container forces (ntpd cannot stay up there).
#[tokio::test(flavor = "multi_thread")]
async fn galaxy_roles_ntp_and_security_converge_and_change_nothing_the_second_time() {
    let lab = TestLab::start(1).await;
    // security's defaults forbid root logins over SSH; the lab logs in as root with a key, so allow that.
    let inv = lab.inventory("    security_ssh_permit_root_login: prohibit-password\n    ntp_timezone: Europe/Berlin\n");
    let playbook = "- hosts: all\n  become: true\n  roles:\n    - geerlingguy.ntp\n    - geerlingguy.security\n";
    let roles = vendored("");
    let first = apply_with_roles(&inv, playbook, &roles).await;
    assert_eq!(failures(&first), Vec::<String>::new());
    assert!(first.total_changed() > 0);
    // ntp: ntpsec installed, running and enabled; the time zone set. security: fail2ban running, sshd hardened,
    // unattended upgrades configured.
    // ntpd itself cannot run in a container (setting the clock needs CAP_SYS_TIME): installed and enabled.
    assert_eq!(sh(&lab, "h1", "dpkg-query -W -f='${db:Status-Status}\n' ntpsec; systemctl is-enabled ntpsec").await, "installed\nenabled\n");
    assert_eq!(sh(&lab, "h1", "systemctl is-active fail2ban ssh").await, "active\nactive\n");
    assert_eq!(sh(&lab, "h1", "cat /etc/timezone; readlink /etc/localtime").await, "Europe/Berlin\n/usr/share/zoneinfo/Europe/Berlin\n");
    let sshd = sh(&lab, "h1", "sshd -T | grep -E '^(passwordauthentication|permitrootlogin|x11forwarding) '").await;
    assert_eq!(sshd, "permitrootlogin without-password\npasswordauthentication no\nx11forwarding no\n");
    assert!(sh(&lab, "h1", "cat /etc/apt/apt.conf.d/10periodic").await.contains("APT::Periodic::Unattended-Upgrade \"1\";"));

    let second = apply_with_roles(&inv, playbook, &roles).await;
    assert_eq!(failures(&second), Vec::<String>::new());
    let changed: Vec<String> = second.results().iter().filter(|r| r.status == Status::Changed).map(|r| r.task.clone()).collect();
    // The one change is the container's, not the roles': ntpd exits at once in a container, so "started" starts
    // it again on every run. Everything else (packages, time zone, sshd, fail2ban, apt's periodic settings) is
    // left as it was.
    assert_eq!(changed, vec!["geerlingguy.ntp : Ensure NTP is running and enabled as configured.".to_string()]);
    assert_eq!(sh(&lab, "h1", "systemctl is-active ntpsec || true").await, "inactive\n");
}
