//! playbooks/site.yml on a lab of two QEMU VMs (`hlprov lab up --driver vm`), where the kernel is the host's own:
//! modules are loaded, sysctls set and iscsid runs for real, no container exemption fires, every gate is strict
//! and passes, and a second run changes nothing. Host state is read back with OpenSSH, not through hlprov.
//!
//! The phases are base and longhorn_prereqs (with `--phase longhorn_prereqs --with-deps`): phases that need
//! files from the internet (k3s's release) cannot run on this machine; their gates are not this test's.

mod vm_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hlprov::exec::{PhaseSelection, RunOptions, RunSummary};
use hlprov::report::{Event, PhaseStatus, Status, TaskResult};
use vm_support::VmLab;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The example homelab's groups for two hosts (inventory/lab/groups.yml names three): h1 a k3s server, h2 an
/// agent, both Longhorn nodes so that iscsid and Longhorn's modules are checked on both. inventory/lab's
/// group_vars come along through a link.
fn groups(dir: &Path) -> PathBuf {
    let inv = dir.join("groups");
    std::fs::create_dir_all(&inv).unwrap();
    std::fs::write(
        inv.join("groups.yml"),
        "all:\n  children:\n    k3s_cluster:\n      children:\n        k3s_servers:\n          hosts:\n            h1:\n        k3s_agents:\n          hosts:\n            h2:\n    longhorn_nodes:\n      hosts:\n        h1:\n        h2:\n    nfs:\n      hosts: {}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(repo("inventory/lab/group_vars"), inv.join("group_vars")).unwrap();
    inv
}

/// The phases this test runs, and whose gates must pass strictly.
const PHASES: [&str; 2] = ["base", "longhorn_prereqs"];

fn up_to_longhorn() -> RunOptions {
    RunOptions { phases: PhaseSelection::Only { phase: "longhorn_prereqs".into(), with_deps: true }, ..Default::default() }
}

struct Run {
    summary: RunSummary,
    events: Vec<Event>,
}

impl Run {
    fn results(&self) -> Vec<TaskResult> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::TaskResult(r) => Some((**r).clone()),
                _ => None,
            })
            .collect()
    }
    fn failures(&self) -> Vec<String> {
        self.results().iter().filter(|r| r.status == Status::Failed).map(|r| format!("{} {} {}", r.host, r.task, r.result)).collect()
    }
    /// Failures in this test's phases.
    fn failures_in_phases(&self) -> Vec<String> {
        self.results()
            .iter()
            .filter(|r| r.status == Status::Failed && r.phase.as_deref().is_some_and(|p| PHASES.contains(&p)))
            .map(|r| format!("{} {} {}", r.host, r.task, r.result))
            .collect()
    }
    fn status_of(&self, task: &str, host: &str) -> Vec<Status> {
        self.results().into_iter().filter(|r| r.task.ends_with(task) && r.host == host).map(|r| r.status).collect()
    }
}

async fn site(lab: &VmLab, groups: &Path, opts: RunOptions) -> Run {
    let pb = hlprov::playbook::load(&repo("playbooks/site.yml"), &Default::default()).expect("site.yml loads");
    let mut inv = hlprov::inventory::Inventory::load(&[lab.inventory.clone(), groups.to_path_buf()]).expect("inventory");
    inv.add_playbook_vars_dir(&pb.dir).unwrap();
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), opts, reporter).await.expect("no preflight error");
    let events = collector.events.lock().unwrap().clone();
    Run { summary, events }
}

#[tokio::test(flavor = "multi_thread")]
async fn site_on_vm_lab_converges_with_strict_gates() {
    let lab = VmLab::up(2);
    let groups = groups(lab.dir.path());
    let hosts = ["h1", "h2"];
    // Nothing of what the roles do to the kernel is there before they run.
    for h in hosts {
        lab.sh(h, "for m in overlay br_netfilter iscsi_tcp dm_crypt; do ! test -d /sys/module/$m || { echo $m loaded; exit 1; }; done");
        assert_eq!(lab.sh(h, "systemctl is-active iscsid || true").trim(), "inactive");
    }

    let first = site(&lab, &groups, up_to_longhorn()).await;
    assert_eq!(first.summary.exit_code, 0, "{:#?}", first.failures());
    for phase in PHASES {
        assert_eq!(first.summary.record.phase(phase).and_then(|p| p.status), Some(PhaseStatus::Passed), "{phase}");
    }
    // The kernel did it: read back from each VM with OpenSSH.
    for h in hosts {
        lab.sh(h, "for m in overlay br_netfilter iscsi_tcp dm_crypt; do test -d /sys/module/$m || { echo $m not loaded; exit 1; }; done");
        assert_eq!(
            lab.sh(h, "sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables"),
            "1\n1\n1\n",
            "{h}"
        );
        assert_eq!(lab.sh(h, "systemctl is-active iscsid; systemctl is-enabled iscsid"), "active\nenabled\n", "{h}");
        assert!(lab.sh(h, "cat /etc/iscsi/initiatorname.iscsi").contains("InitiatorName=iqn."), "{h}: iscsid made its own initiator name");
        assert_eq!(lab.sh(h, "systemctl is-active systemd-timesyncd").trim(), "active");
        assert_eq!(lab.sh(h, "swapon --noheadings | wc -l").trim(), "0");
        assert_eq!(lab.sh(h, "findmnt -no FSTYPE -T /var/lib/longhorn").trim(), "ext4");
        assert_eq!(lab.sh(h, "grep -v '^#' /etc/modules-load.d/hlprov-k3s.conf"), "overlay\nbr_netfilter\n");
        let sshd = lab.sh(h, "/usr/sbin/sshd -T");
        assert!(sshd.lines().any(|l| l == "passwordauthentication no"), "{h}");
    }
    assert_ne!(
        lab.sh("h1", "cat /etc/iscsi/initiatorname.iscsi | grep ^InitiatorName"),
        lab.sh("h2", "cat /etc/iscsi/initiatorname.iscsi | grep ^InitiatorName"),
        "every VM is its own iSCSI initiator"
    );

    // No container exemption fired anywhere; the kernel tasks ran (not skipped) on every VM.
    let said = serde_json::to_string(&first.events).unwrap();
    assert!(!said.contains("container the kernel is the host's") && !said.contains("container iscsid cannot run"), "an exemption fired");
    for h in hosts {
        for task in ["Load kernel modules now", "Load Longhorn's kernel modules now", "Run iscsid", "Run systemd-timesyncd"] {
            let statuses = first.status_of(task, h);
            assert!(!statuses.is_empty() && !statuses.contains(&Status::Skipped), "{h}: {task}: {statuses:?}");
        }
        // Both roles have this report; it is skipped on a VM.
        let reports = first.status_of("Report what the container's kernel decides", h);
        assert!(reports.len() == 2 && reports.iter().all(|s| *s == Status::Skipped), "{h}: {reports:?}");
    }

    let second = site(&lab, &groups, up_to_longhorn()).await;
    assert_eq!(second.summary.exit_code, 0, "{:#?}", second.failures());
    for (host, stats) in &second.summary.stats {
        let changed: Vec<String> = second.results().into_iter().filter(|r| r.host == *host && r.status == Status::Changed).map(|r| r.task).collect();
        assert_eq!(stats.changed, 0, "{host} changed on the second run: {changed:#?}");
    }

    // Every gate, strict: the own-kernel checks ran and passed; the container-only reports did not run.
    let verify = site(&lab, &groups, RunOptions { phases: PhaseSelection::VerifyOnly, ..Default::default() }).await;
    assert_eq!(verify.failures_in_phases(), Vec::<String>::new());
    let passed: Vec<&String> = verify
        .events
        .iter()
        .filter_map(|e| match e {
            Event::GateEnd { phase, passed: true, .. } => Some(phase),
            _ => None,
        })
        .collect();
    for phase in PHASES {
        assert!(passed.iter().any(|p| *p == phase), "gate of {phase} passed: {passed:?}");
    }
    if verify.failures().is_empty() {
        assert_eq!(verify.summary.exit_code, 0);
    }
    for h in hosts {
        for task in [
            "The kernel has the modules and sysctls (own kernel)",
            "Swap is off",
            "The clock is kept in sync",
            "iscsid is running",
            "Longhorn's modules are loaded",
            "Longhorn's data folder is on ext4 or xfs",
        ] {
            assert_eq!(verify.status_of(task, h), [Status::Ok], "{h}: gate task {task}");
        }
        for task in ["What the host kernel provides (container)", "What the container cannot show"] {
            assert_eq!(verify.status_of(task, h), [Status::Skipped], "{h}: {task}");
        }
    }

    let down = lab.run(&["lab", "down", "--name", &lab.name]);
    assert!(down.status.success(), "{}", vm_support::text(&down));
    assert!(!lab.lab_dir().exists());
}

/// The disaster-recovery drill on VMs (docs/dr.md; tests/dr.rs has it on containers): converge, leave a marker,
/// destroy every VM, boot fresh ones, rebuild with the same command (`-e dr_rebuild=true`: the rebuild's
/// preflight first), and time it from "hosts gone" until every gate has passed.
#[tokio::test(flavor = "multi_thread")]
async fn drill_on_the_vm_lab_rebuilds_fresh_vms_with_the_same_command_until_every_gate_passes() {
    let rebuild = || RunOptions { extra_vars: serde_json::json!({"dr_rebuild": true}).as_object().cloned().unwrap(), ..up_to_longhorn() };
    let lab = VmLab::up(2);
    let groups_dir = tempfile::tempdir().unwrap();
    let groups = groups(groups_dir.path());
    let first = site(&lab, &groups, rebuild()).await;
    assert_eq!(first.summary.exit_code, 0, "{:#?}", first.failures());
    lab.sh("h2", "echo drill > /var/lib/hlprov-drill-marker");

    // The bad day: every VM is gone, with its disk.
    let gone = std::time::Instant::now();
    let down = lab.run(&["lab", "down", "--name", &lab.name]);
    assert!(down.status.success(), "{}", vm_support::text(&down));
    drop(lab);
    let lab = VmLab::up(2);
    assert_eq!(lab.ssh("h2", "test -e /var/lib/hlprov-drill-marker").0, 1, "the new h2 is a fresh VM");
    let booted = gone.elapsed().as_secs_f64();

    let t = std::time::Instant::now();
    let run = site(&lab, &groups, rebuild()).await;
    assert_eq!(run.summary.exit_code, 0, "{:#?}", run.failures());
    let rebuilt = t.elapsed().as_secs_f64();
    let passed: Vec<&String> =
        run.events.iter().filter_map(|e| if let Event::GateEnd { phase, passed: true, .. } = e { Some(phase) } else { None }).collect();
    for phase in PHASES {
        assert!(passed.iter().any(|p| *p == phase), "gate of {phase} passed: {passed:?}");
    }
    let per_phase: Vec<String> = run
        .events
        .iter()
        .filter_map(|e| {
            if let Event::PhaseEnd { phase, duration_ms, .. } = e { Some(format!("{phase} {:.1}s", *duration_ms as f64 / 1000.0)) } else { None }
        })
        .collect();
    println!(
        "DRILL vm: RTO {:.1}s from hosts gone to every gate passing (fresh VMs {booted:.1}s, rebuild {rebuilt:.1}s: {})",
        booted + rebuilt,
        per_phase.join(", ")
    );
    let down = lab.run(&["lab", "down", "--name", &lab.name]);
    assert!(down.status.success(), "{}", vm_support::text(&down));
}
