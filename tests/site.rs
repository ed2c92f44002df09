//! playbooks/site.yml on a fresh 3-host lab: converge, a second run with changed=0 on every host, every gate
//! passing, and `--check --diff` on fresh hosts showing the whole plan while changing nothing. Host state is read
//! back with docker exec. (The lab's hosts are containers: kernel modules, sysctls and iscsid are the host
//! kernel's there; the roles report that, and tests/site_vm.rs checks them strictly on the VM lab.)

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Applied, TestLab};
use hlprov::exec::{PhaseSelection, RunOptions};
use hlprov::report::{Event, PhaseStatus, Status};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

async fn site(lab: &TestLab, opts: RunOptions) -> Applied {
    let pb = hlprov::playbook::load(&repo("playbooks/site.yml"), &Default::default()).expect("site.yml loads");
    let mut inv = hlprov::inventory::Inventory::load(&[lab.inventory(""), repo("inventory/lab")]).expect("inventory");
    inv.add_playbook_vars_dir(&pb.dir).unwrap();
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), opts, reporter).await.expect("no preflight error");
    let events = collector.events.lock().unwrap().clone();
    Applied { summary, events }
}

fn failures(a: &Applied) -> Vec<String> {
    a.results().iter().filter(|r| r.status == Status::Failed).map(|r| format!("{} {} {}", r.host, r.task, r.result)).collect()
}

async fn sh(lab: &TestLab, host: &str, script: &str) -> String {
    let (code, out) = lab.docker_exec(host, script).await;
    assert_eq!(code, 0, "{host}: {script}: {out}");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn site_converges_a_fresh_lab_then_changes_nothing_and_every_gate_passes() {
    let lab = TestLab::start(3).await;
    // h3 has multipathd installed: Longhorn's blacklist must appear there, and only there.
    sh(&lab, "h3", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq multipath-tools >/dev/null 2>&1; dpkg -s multipath-tools >/dev/null").await;

    let first = site(&lab, RunOptions::default()).await;
    assert_eq!(first.summary.exit_code, 0, "{:#?}", failures(&first));
    for phase in ["base", "longhorn_prereqs"] {
        assert_eq!(first.summary.record.phase(phase).and_then(|p| p.status), Some(PhaseStatus::Passed), "{phase}");
    }
    assert!(first.total_changed() > 0);

    // The hosts, read independently.
    for h in ["h1", "h2", "h3"] {
        let pkgs =
            sh(&lab, h, "dpkg-query -W -f='${Package} ${db:Status-Status}\\n' curl ca-certificates gnupg jq nfs-common open-iscsi tzdata sudo").await;
        assert_eq!(pkgs.lines().filter(|l| l.ends_with(" installed")).count(), 8, "{h}: {pkgs}");
        assert_eq!(sh(&lab, h, "cat /etc/modules-load.d/hlprov-k3s.conf | grep -v '^#'").await, "overlay\nbr_netfilter\n");
        let sysctl = sh(&lab, h, "cat /etc/sysctl.d/90-hlprov-k3s.conf").await;
        for kv in ["net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"] {
            assert!(sysctl.lines().any(|l| l.replace(' ', "") == format!("{kv}=1")), "{h}: {sysctl}");
        }
        assert_eq!(sh(&lab, h, "readlink /etc/localtime; cat /etc/timezone").await, "/usr/share/zoneinfo/Europe/Berlin\nEurope/Berlin\n");
        assert!(sh(&lab, h, "id -nG homelab").await.split_whitespace().any(|g| g == "sudo"));
        assert!(sh(&lab, h, "cat /home/homelab/.ssh/authorized_keys").await.contains("lab@hlprov"));
        assert_eq!(sh(&lab, h, "stat -c %a /etc/sudoers.d/90-hlprov-homelab; visudo -c >/dev/null && echo valid").await, "440\nvalid\n");
        let sshd = sh(&lab, h, "/usr/sbin/sshd -T").await;
        assert!(sshd.lines().any(|l| l == "passwordauthentication no") && sshd.lines().any(|l| l == "permitrootlogin without-password"), "{h}");
    }
    for h in ["h2", "h3"] {
        assert_eq!(sh(&lab, h, "systemctl is-enabled iscsid").await.trim(), "enabled");
        assert_eq!(sh(&lab, h, "grep -v '^#' /etc/modules-load.d/hlprov-longhorn.conf").await, "iscsi_tcp\ndm_crypt\n");
        sh(&lab, h, "dpkg -s cryptsetup nfs-common >/dev/null").await;
    }
    assert!(sh(&lab, "h3", "cat /etc/multipath.conf").await.contains("devnode \"^sd[a-z0-9]+\""));
    assert_ne!(lab.docker_exec("h2", "test -e /etc/multipath.conf").await.0, 0, "no multipathd on h2, no blacklist");
    assert_ne!(lab.docker_exec("h1", "test -e /etc/modules-load.d/hlprov-longhorn.conf").await.0, 0, "h1 is not a storage node");
    // What the container's kernel refuses is said, not hidden.
    let said = serde_json::to_string(&first.events).unwrap();
    assert!(said.contains("kernel is the host's: modules overlay, br_netfilter cannot be loaded"), "container boundary reported");

    let second = site(&lab, RunOptions::default()).await;
    assert_eq!(second.summary.exit_code, 0, "{:#?}", failures(&second));
    for (host, stats) in &second.summary.stats {
        assert_eq!(
            stats.changed,
            0,
            "{host} changed on the second run: {:#?}",
            second.results().iter().filter(|r| r.host == *host && r.status == Status::Changed).map(|r| &r.task).collect::<Vec<_>>()
        );
    }

    let verify = site(&lab, RunOptions { phases: PhaseSelection::VerifyOnly, ..Default::default() }).await;
    assert_eq!(verify.summary.exit_code, 0, "{:#?}", failures(&verify));
    let passed: Vec<&String> = verify
        .events
        .iter()
        .filter_map(|e| match e {
            Event::GateEnd { phase, passed: true, .. } => Some(phase),
            _ => None,
        })
        .collect();
    assert_eq!(passed, ["base", "longhorn_prereqs"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn check_diff_on_a_fresh_lab_shows_the_plan_and_changes_nothing() {
    let lab = TestLab::start(3).await;
    let snapshot = "find /etc /home /var/lib /usr/sbin -xdev -newer /etc/hostname 2>/dev/null | sort; getent passwd homelab; dpkg -l | wc -l";
    let mut before = Vec::new();
    for h in ["h1", "h2", "h3"] {
        before.push(sh(&lab, h, snapshot).await);
    }
    let plan = site(&lab, RunOptions { check: true, diff: true, ..Default::default() }).await;
    assert_eq!(plan.summary.exit_code, 0, "{:#?}", failures(&plan));
    for (i, h) in ["h1", "h2", "h3"].iter().enumerate() {
        assert_eq!(sh(&lab, h, snapshot).await, before[i], "{h} changed in check mode");
    }
    // The plan covers both phases and shows diffs for the files it would write.
    let changed: Vec<String> = plan.results().iter().filter(|r| r.status == Status::Changed && r.host == "h2").map(|r| r.task.clone()).collect();
    for task in [
        "base : Install base packages",
        "base : Harden sshd",
        "base : Admin user",
        "longhorn_prereqs : Install what Longhorn needs",
        "longhorn_prereqs : Load Longhorn's kernel modules at boot",
    ] {
        assert!(changed.iter().any(|t| t == task), "plan misses {task}: {changed:#?}");
    }
    let sshd = plan.results().into_iter().find(|r| r.host == "h1" && r.task == "base : Harden sshd").unwrap();
    assert!(sshd.diffs.iter().any(|d| d.after.contains("PasswordAuthentication no")));
}
