//! What multi-distribution roles rely on, decided without a host (local connection, debug only): include_vars
//! with with_first_found from a role's vars/, and a loop that cannot be rendered under a `when:` that is false.

mod common;

use hlprov::exec::RunOptions;
use hlprov::report::Status;

const INVENTORY: &str = "all:\n  hosts:\n    here:\n      ansible_connection: local\n      os: Debian\n";

#[tokio::test(flavor = "multi_thread")]
async fn include_vars_finds_the_first_vars_file_of_the_role_and_sets_its_variables() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yml");
    std::fs::write(&inv, INVENTORY).unwrap();
    let files = [
        ("site.yml", "- hosts: all\n  gather_facts: false\n  roles: [r]\n"),
        (
            "roles/r/tasks/main.yml",
            "- include_vars: \"{{ item }}\"\n  with_first_found:\n    - \"{{ os }}-12.yml\"\n    - \"{{ os }}.yml\"\n\
             - include_vars: {file: extra.yml, name: extra}\n- debug: {msg: \"{{ pkg }} {{ extra.port }}\"}\n  register: out\n- assert: {that: [\"out.msg == 'ntpsec 123'\"]}\n",
        ),
        ("roles/r/vars/Debian.yml", "pkg: ntpsec\n"),
        ("roles/r/vars/RedHat.yml", "pkg: chrony\n"),
        ("roles/r/vars/extra.yml", "port: 123\n"),
    ];
    let a = common::apply_files(&inv, &files, "site.yml", RunOptions::default()).await.unwrap();
    assert_eq!(a.summary.exit_code, 0, "{:?}", a.results().iter().map(|r| (&r.task, &r.msg)).collect::<Vec<_>>());
    assert_eq!(a.stats("here").failed, 0);
    assert_eq!(a.of("assert", "here")[0].status, Status::Ok);

    // No file found: the task fails naming what was searched.
    let files = [("site.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - include_vars: nowhere.yml\n")];
    let a = common::apply_files(&inv, &files, "site.yml", RunOptions::default()).await.unwrap();
    let msg = a.results()[0].msg.clone().unwrap_or_default();
    assert!(msg.contains("include_vars: could not find 'nowhere.yml'"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unrenderable_loop_is_skipped_when_false_and_fails_when_the_task_would_run() {
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yml");
    std::fs::write(&inv, INVENTORY).unwrap();
    let pb = "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: guarded\n      when: extra_manifests is defined\n      block:\n        - name: copy each\n          debug: {msg: \"{{ item }}\"}\n          loop: \"{{ extra_manifests }}\"\n    - name: unguarded\n      debug: {msg: \"{{ item }}\"}\n      loop: \"{{ extra_manifests }}\"\n";
    let a = common::apply(&inv, pb, RunOptions::default()).await.unwrap();
    assert_eq!(a.of("copy each", "here")[0].status, Status::Skipped);
    let unguarded = a.of("unguarded", "here");
    assert_eq!(unguarded[0].status, Status::Failed);
    assert!(unguarded[0].msg.clone().unwrap_or_default().contains("'extra_manifests' is undefined"), "{:?}", unguarded[0].msg);
}
