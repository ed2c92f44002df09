//! Module decisions without a host: each scenario replays what a real host (a container of the lab's image)
//! answered when it was recorded (see tests/hostless/mod.rs), so what a module plans, the diff it shows and
//! the commands it sends are checked in milliseconds. The same modules are proven on real hosts in
//! modules_files.rs, modules_system.rs and modules_packages.rs.

mod common;
mod hostless;

use common::{Ran, TestEnv, run_module};
use hostless::{Call, Scripted};
use serde_json::{Value, json};

/// Run `module` with `args` in scenario `name` (its host prepared by `setup` when recording).
async fn scenario(name: &str, setup: &str, module: &str, args: Value, check: bool) -> (Ran, Vec<Call>) {
    let t = Scripted::scenario(name, setup).await;
    let dir = tempfile::tempdir().unwrap();
    let env = TestEnv::new(dir.path());
    let ran = run_module(&t.connection(), &env, module, args.clone(), check, true).await.unwrap_or_else(|e| panic!("{module} {args}: {e}"));
    t.finish();
    (ran, t.sent())
}

fn writes(calls: &[Call]) -> Vec<&Call> {
    calls.iter().filter(|c| !c.probe).collect()
}

fn diff_text(r: &Ran) -> String {
    r.diffs.iter().map(|d| format!("--- {}\n{}+++ {}\n{}", d.before_header, d.before, d.after_header, d.after)).collect()
}

#[tokio::test]
async fn file_plans_a_new_directory_with_its_mode_and_check_mode_only_reads() {
    let (r, calls) = scenario("file-create-dir", "true", "file", json!({"path": "/srv/app", "state": "directory", "mode": "0750"}), true).await;
    assert!(r.changed && !r.failed, "{:?}", r.to_value());
    let d = diff_text(&r);
    assert!(d.contains("state: absent") && d.contains("state: directory") && d.contains("mode: 0750"), "{d}");
    assert_eq!((calls.len(), writes(&calls).len()), (1, 0), "one probe, nothing written: {calls:?}");
}

#[tokio::test]
async fn file_creates_the_directory_and_reports_its_attributes() {
    let (r, calls) =
        scenario("file-create-dir-apply", "true", "file", json!({"path": "/srv/app", "state": "directory", "mode": "0750"}), false).await;
    assert!(r.changed, "{:?}", r.to_value());
    assert_eq!((r.data["mode"].as_str(), r.data["state"].as_str()), (Some("0750"), Some("directory")), "{:?}", r.data);
    let w = writes(&calls);
    assert_eq!(w.len(), 1, "one round trip makes the change and probes it: {calls:?}");
    assert!(w[0].script.starts_with("set -e; for d in /srv /srv/app; do") && w[0].script.contains("chmod 0750"), "{}", w[0].script);
}

#[tokio::test]
async fn file_plans_only_the_attributes_that_differ() {
    let (r, calls) = scenario("file-attrs", "mkdir -m 0700 /srv/app", "file", json!({"path": "/srv/app", "mode": "0755"}), true).await;
    assert!(r.changed);
    assert_eq!(r.diffs.len(), 1);
    assert_eq!((r.diffs[0].before.as_str(), r.diffs[0].after.as_str()), ("path: /srv/app\nmode: 0700\n", "path: /srv/app\nmode: 0755\n"));
    assert!(writes(&calls).is_empty());
}

#[tokio::test]
async fn file_plans_removal_and_a_converged_path_costs_one_probe() {
    let (r, _) = scenario("file-remove", "touch /srv.conf", "file", json!({"path": "/srv.conf", "state": "absent"}), true).await;
    assert!(r.changed);
    assert!(diff_text(&r).contains("state: file") && diff_text(&r).contains("state: absent"), "{}", diff_text(&r));
    let (r, calls) =
        scenario("file-unchanged", "mkdir -m 0755 /srv/app", "file", json!({"path": "/srv/app", "state": "directory", "mode": "0755"}), false).await;
    assert!(!r.changed && r.diffs.is_empty());
    assert_eq!(calls.len(), 1, "a converged path is one probe: {calls:?}");
}

#[tokio::test]
async fn user_plans_a_new_account_with_a_diff() {
    let args = json!({"name": "alice", "shell": "/bin/bash", "groups": ["users"]});
    let (r, calls) = scenario("user-create", "true", "user", args, true).await;
    assert!(r.changed);
    let d = diff_text(&r);
    assert!(d.contains("user: absent") && d.contains("user: present") && d.contains("shell: /bin/bash") && d.contains("groups: users"), "{d}");
    assert!(writes(&calls).is_empty(), "{calls:?}");
}

#[tokio::test]
async fn user_plans_only_what_differs_and_removal() {
    let setup = "useradd -m -s /bin/sh alice";
    let (r, _) = scenario("user-modify", setup, "user", json!({"name": "alice", "shell": "/bin/bash", "groups": ["users"]}), true).await;
    assert!(r.changed);
    assert_eq!(r.diffs.len(), 1, "{:?}", r.diffs);
    assert_eq!((r.diffs[0].before.as_str(), r.diffs[0].after.as_str()), ("groups: \nshell: /bin/sh\n", "groups: users\nshell: /bin/bash\n"));
    assert_eq!(r.data["uid"], 1000, "the account as it is");
    let (r, _) = scenario("user-unchanged", setup, "user", json!({"name": "alice", "shell": "/bin/sh"}), false).await;
    assert!(!r.changed);
    let (r, _) = scenario("user-remove", setup, "user", json!({"name": "alice", "state": "absent", "remove": true}), true).await;
    assert!(r.changed);
    let d = diff_text(&r);
    assert!(d.contains("user: present") && d.contains("home folder: /home/alice") && d.contains("user: absent"), "{d}");
}

#[tokio::test]
async fn apt_plans_an_install_from_the_candidate_and_simulates_it() {
    let (r, calls) = scenario("apt-install", "true", "apt", json!({"name": "tree"}), true).await;
    assert!(r.changed);
    assert_eq!((r.diffs[0].before.as_str(), r.diffs[0].after.as_str()), ("tree: absent\n", "tree: 2.1.0-1\n"));
    assert!(r.data["stdout"].as_str().unwrap_or_default().contains("Inst tree"), "apt-get's simulation is the check-mode output");
    assert!(calls.iter().any(|c| c.script.contains("apt-cache policy")) && calls.iter().any(|c| c.script.contains("--simulate")), "{calls:?}");
    assert!(writes(&calls).is_empty());
}

#[tokio::test]
async fn apt_present_package_is_one_probe() {
    let (r, calls) = scenario("apt-present", "true", "apt", json!({"name": "sudo"}), false).await;
    assert!(!r.changed);
    assert_eq!(calls.len(), 1, "installed and unpinned: no apt-cache policy, no apt-get: {calls:?}");
}

#[tokio::test]
async fn apt_plans_a_repair_of_an_interrupted_dpkg_in_the_same_probe() {
    // An interrupted install: a package unpacked, never configured, and a journal entry in dpkg's updates folder.
    let setup = "set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN; \
        printf 'Package: hlprov-demo\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: t <t@example.org>\\nDescription: demo\\n' > $d/DEBIAN/control; \
        dpkg-deb --build --root-owner-group $d /root/demo.deb >/dev/null; dpkg --unpack /root/demo.deb >/dev/null; : > /var/lib/dpkg/updates/0001";
    let (r, calls) = scenario("apt-dpkg-interrupted", setup, "apt", json!({"name": "sudo"}), true).await;
    assert!(r.changed && !r.failed, "{:?}", r.to_value());
    let d = diff_text(&r);
    assert!(d.contains("dpkg --configure -a") && d.contains("dpkg was interrupted") && d.contains("hlprov-demo (unpacked)"), "{d}");
    assert_eq!(calls.len(), 1, "dpkg's health is read in the one probe: {calls:?}");
    assert!(writes(&calls).is_empty(), "check mode repairs nothing: {calls:?}");
}

#[tokio::test]
async fn apt_leaves_an_unknown_package_to_the_decision_after_a_cache_update() {
    let (r, calls) = scenario("apt-update-pending", "true", "apt", json!({"name": "hlprov-nosuch", "update_cache": true}), true).await;
    assert!(r.changed && !r.failed, "{:?}", r.to_value());
    assert!(diff_text(&r).contains("(from the updated package lists)"), "{}", diff_text(&r));
    assert!(!calls.iter().any(|c| c.script.contains("--simulate")), "no simulation on stale lists");
    let (r, _) = scenario("apt-unknown", "true", "apt", json!({"name": "hlprov-nosuch"}), true).await;
    assert!(r.failed && r.msg.as_deref() == Some("No package matching 'hlprov-nosuch' is available"), "{:?}", r.to_value());
}

#[tokio::test]
async fn getent_reads_a_database_into_facts_and_fails_on_a_missing_key_only_when_asked() {
    let setup = "groupadd -g 3005 devs && useradd -u 3005 -g devs -s /bin/sh alice";
    let (r, calls) = scenario("getent-passwd", setup, "getent", json!({"database": "passwd", "key": "alice"}), false).await;
    assert!(!r.changed && !r.failed, "{:?}", r.to_value());
    assert_eq!(r.facts.as_ref().unwrap()["getent_passwd"]["alice"], json!(["x", "3005", "3005", "", "/home/alice", "/bin/sh"]));
    assert_eq!((calls.len(), writes(&calls).len()), (1, 0), "one read: {calls:?}");
    let (r, _) = scenario("getent-group-split", setup, "getent", json!({"database": "group", "key": "devs", "split": ":"}), true).await;
    assert_eq!(r.facts.as_ref().unwrap()["getent_group"]["devs"], json!(["x", "3005", ""]));
    let (r, _) = scenario("getent-missing", "true", "getent", json!({"database": "passwd", "key": "nosuch"}), false).await;
    assert!(r.failed && r.msg.as_deref() == Some("One or more supplied key could not be found in the database."), "{:?}", r.to_value());
    let (r, _) = scenario("getent-missing", "true", "getent", json!({"database": "passwd", "key": "nosuch", "fail_key": false}), false).await;
    assert!(!r.failed && r.facts.as_ref().unwrap()["getent_passwd"]["nosuch"].is_null(), "{:?}", r.to_value());
}

#[tokio::test]
async fn tempfile_is_skipped_in_check_mode_and_makes_a_new_path_with_mktemp() {
    let (r, calls) = scenario("tempfile-check", "true", "tempfile", json!({"state": "directory"}), true).await;
    assert!(r.skipped && calls.is_empty(), "check mode sends nothing: {calls:?}");
    let (r, calls) = scenario(
        "tempfile-dir",
        "mkdir -p /srv/tmp",
        "tempfile",
        json!({"state": "directory", "path": "/srv/tmp", "prefix": "x.", "suffix": ".d"}),
        false,
    )
    .await;
    assert!(r.changed, "{:?}", r.to_value());
    let path = r.data["path"].as_str().unwrap();
    assert!(path.starts_with("/srv/tmp/x.") && path.ends_with(".d"), "{path}");
    assert_eq!((r.data["state"].as_str(), r.data["mode"].as_str()), (Some("directory"), Some("0700")));
    assert!(writes(&calls)[0].script.contains("mktemp -d --tmpdir=/srv/tmp --suffix=.d x.XXXXXXXXXX"), "{calls:?}");
}
