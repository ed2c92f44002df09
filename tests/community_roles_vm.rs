//! k3s-ansible's prereq role, vendored unchanged (tests/community/k3s-ansible), on the VM lab, where the kernel
//! is the VM's own and its sysctls are set for real (issue 23). Read back with OpenSSH, not through hlprov.

mod vm_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hlprov::exec::{RunOptions, RunSummary};
use hlprov::report::{Event, Status, TaskResult};
use vm_support::VmLab;

fn roles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/community/k3s-ansible/roles")
}

async fn apply(lab: &VmLab, groups: &Path, playbook: &Path) -> (RunSummary, Vec<TaskResult>) {
    let load = hlprov::playbook::LoadOptions { roles_path: vec![roles()], strict: false };
    let pb = hlprov::playbook::load(playbook, &load).unwrap_or_else(|e| panic!("{e}"));
    let inv = hlprov::inventory::Inventory::load(&[lab.inventory.clone(), groups.to_path_buf()]).expect("inventory");
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let opts = RunOptions { roles_path: vec![roles()], ..Default::default() };
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), opts, reporter).await.unwrap();
    let results = collector
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Event::TaskResult(r) => Some((**r).clone()),
            _ => None,
        })
        .collect();
    (summary, results)
}

#[tokio::test(flavor = "multi_thread")]
async fn k3s_ansible_prereq_role_converges_a_vm_and_changes_nothing_the_second_time() {
    let lab = VmLab::up(1);
    let dir = tempfile::tempdir().unwrap();
    let groups = dir.path().join("groups.yml");
    std::fs::write(&groups, "all:\n  children:\n    k3s_cluster:\n      children:\n        server:\n          hosts:\n            h1:\n").unwrap();
    let playbook = dir.path().join("site.yml");
    std::fs::write(&playbook, "- hosts: k3s_cluster\n  gather_facts: true\n  become: true\n  roles:\n    - role: prereq\n").unwrap();
    lab.sh("h1", "sysctl -w net.ipv4.ip_forward=0 >/dev/null");

    let (first, results) = apply(&lab, &groups, &playbook).await;
    let failed: Vec<String> = results.iter().filter(|r| r.status == Status::Failed).map(|r| format!("{}: {:?}", r.task, r.msg)).collect();
    assert_eq!(failed, Vec::<String>::new());
    assert_eq!(first.exit_code, 0);
    assert_eq!(lab.sh("h1", "sysctl -n net.ipv4.ip_forward").trim(), "1");
    // Tasks for other distributions (and the sudoers change, RedHat-only) are skipped on Debian, not refused.
    let skipped = |task: &str| {
        let r: Vec<&TaskResult> = results.iter().filter(|r| r.task.ends_with(task)).collect();
        !r.is_empty() && r.iter().all(|r| r.status == Status::Skipped)
    };
    for task in
        ["Install Dependent RHEL 10 Package", "Ensure legacy iptables is removed to avoid conflicts", "Add /usr/local/bin to sudo secure_path"]
    {
        assert!(skipped(task), "{task}");
    }
    // Package and service facts were read from the VM (the iptables version check needs them).
    assert!(results.iter().any(|r| r.task.ends_with("Gather the package facts") && r.status == Status::Ok));

    let (second, results) = apply(&lab, &groups, &playbook).await;
    let changed: Vec<&str> = results.iter().filter(|r| r.status == Status::Changed).map(|r| r.task.as_str()).collect();
    assert_eq!(changed, Vec::<&str>::new(), "the second run changes nothing");
    assert_eq!(second.exit_code, 0);
}
