//! A task naming a module hlprov does not have (issue 23): a warning when loaded, a failure only where it runs,
//! a refusal with `--strict`, and `hlprov modules --missing`. Runs on the local connection only: no host.

mod common;

use std::path::Path;
use std::process::Command;

use hlprov::exec::RunOptions;
use hlprov::playbook::{LoadOptions, load};
use hlprov::report::Status;

const PLAYBOOK: &str = r#"- hosts: all
  gather_facts: false
  tasks:
    - name: Install on RHEL
      ansible.builtin.dnf: {name: curl, state: present}
      when: ansible_os_family == "RedHat"
    - name: Free-form on Arch
      community.general.pacman: name=curl
      when: false
    - name: Still runs
      debug: {msg: after}
"#;

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_missing_module_is_a_warning_with_file_and_line_and_strict_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "site.yml", PLAYBOOK);
    let pb = load(&path, &LoadOptions::default()).expect("loads despite modules hlprov lacks");
    let found: Vec<(String, String)> = pb.missing.iter().map(|m| (m.span.to_string(), m.module.clone())).collect();
    let at = |line: u32| format!("{}:{line}:7", path.display());
    assert_eq!(found, vec![(at(5), "ansible.builtin.dnf".to_string()), (at(8), "community.general.pacman".to_string())]);
    assert!(pb.missing[0].to_string().contains("module 'ansible.builtin.dnf' is not available in hlprov"), "{}", pb.missing[0]);

    let err = load(&path, &LoadOptions { strict: true, ..Default::default() }).unwrap_err().to_string();
    assert_eq!(err, format!("{}: unknown module 'ansible.builtin.dnf' (see docs/modules.md for the modules hlprov has)", at(5)));
    // A misspelt keyword stays an error even without --strict: it is a mistake in the file, not another system's module.
    let typo = write(dir.path(), "typo.yml", "- hosts: all\n  tasks:\n    - debug: {msg: x}\n      whn: true\n");
    assert!(load(&typo, &LoadOptions::default()).unwrap_err().to_string().contains("'whn' looks like the keyword 'when'"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_module_fails_only_where_it_runs_naming_module_host_and_task() {
    let dir = tempfile::tempdir().unwrap();
    let inv = write(
        dir.path(),
        "inv.yml",
        "all:\n  hosts:\n    here:\n      ansible_connection: local\n      ansible_os_family: Debian\n    rhel:\n      ansible_connection: local\n      ansible_os_family: RedHat\n",
    );
    let a = common::apply(&inv, PLAYBOOK, RunOptions::default()).await.unwrap();
    let dnf_here = a.of("Install on RHEL", "here");
    assert_eq!(dnf_here.len(), 1);
    assert_eq!(dnf_here[0].status, Status::Skipped);
    let dnf_rhel = a.of("Install on RHEL", "rhel");
    assert_eq!(dnf_rhel[0].status, Status::Failed);
    let msg = dnf_rhel[0].msg.clone().unwrap_or_default();
    assert!(msg.contains("module 'ansible.builtin.dnf' is not available in hlprov, and task 'Install on RHEL' runs it on host rhel"), "{msg}");
    assert_eq!(a.of("Free-form on Arch", "here")[0].status, Status::Skipped);
    // The Debian host goes on; the RHEL host stopped at its failure, as with any failed task.
    assert_eq!(a.of("Still runs", "here")[0].status, Status::Ok);
    assert!(a.of("Still runs", "rhel").is_empty());
    assert_eq!(a.stats("rhel").failed, 1);
    assert_eq!(a.summary.exit_code, 2);
}

fn hlprov(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hlprov")).args(args).output().unwrap()
}

#[test]
fn cli_warns_at_load_and_strict_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let pb = write(dir.path(), "site.yml", PLAYBOOK);
    let pbs = pb.to_str().unwrap();
    let graph = hlprov(&["graph", pbs]);
    assert!(graph.status.success());
    let stderr = String::from_utf8_lossy(&graph.stderr);
    assert!(stderr.contains(&format!("warning: {pbs}:5:7: module 'ansible.builtin.dnf' is not available in hlprov")), "{stderr}");
    let strict = hlprov(&["graph", pbs, "--strict"]);
    assert_eq!(strict.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&strict.stderr).contains(&format!("{pbs}:5:7: unknown module 'ansible.builtin.dnf'")));
}

#[test]
fn modules_missing_lists_each_module_with_where_it_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let pb = write(dir.path(), "site.yml", PLAYBOOK);
    let pbs = pb.to_str().unwrap();
    let out = hlprov(&["modules", "--missing", pbs]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("ansible.builtin.dnf\n  {pbs}:5:7\ncommunity.general.pacman\n  {pbs}:8:7\n"));
    let clean = write(dir.path(), "clean.yml", "- hosts: all\n  tasks:\n    - debug: {msg: hi}\n");
    let out = hlprov(&["modules", "--missing", clean.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
}
#[test]
fn modules_missing_on_k3s_ansible_lists_only_modules_for_other_distributions() {
    // k3s-io/k3s-ansible, vendored unchanged (tests/community/k3s-ansible/SOURCES).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/community/k3s-ansible");
    let site = root.join("playbooks/site.yml");
    let roles = root.join("roles");
    let out = hlprov(&["modules", "--missing", site.to_str().unwrap(), "--roles-path", roles.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let modules: Vec<&str> = stdout.lines().filter(|l| !l.starts_with(' ')).collect();
    let other_distributions = ["ansible.builtin.dnf", "ansible.posix.firewalld", "community.general.pacman"];
    assert!(!modules.is_empty());
    for m in &modules {
        assert!(other_distributions.contains(m), "{m} is used on Debian hosts too:\n{stdout}");
    }
    for place in stdout.lines().filter(|l| l.starts_with(' ')) {
        let (file, rest) = place.trim().split_once(".yml:").expect("file:line:col");
        assert!(file.starts_with(root.to_str().unwrap()) && rest.split(':').all(|n| n.parse::<u32>().is_ok()), "{place}");
    }
}
