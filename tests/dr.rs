//! Disaster recovery on the container lab (docs/dr.md): the rebuild's preflight refuses what would make a
//! rebuild fail halfway (a key that does not open an app's secrets, a backup the apps expect that the backup
//! target lacks, a missing k3s artifact), each in one line and with no host changed; and the drill: converge,
//! destroy every host, rebuild fresh ones with the same command, and time it until every gate passes.

mod common;
mod k3s_support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::{Applied, TestLab};
use hlprov::exec::{PhaseSelection, RunOptions};
use hlprov::report::Event;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

async fn site_with(lab: &TestLab, inventories: &[PathBuf], opts: RunOptions) -> Applied {
    let mut all = vec![lab.inventory("")];
    all.extend(inventories.iter().cloned());
    common::apply_site(&all, opts).await
}

fn vars(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().cloned().unwrap()
}

const EXAMPLE_RECIPIENT: &str = "age10udwkyzyd0kt69dqqfkz3vw49sadyycsq7rk4rc80tsvrqd0vsvq9yssnq";
/// The SOPS project's test key's recipient (tests/fixtures/sops/keys/age-sops-mock.txt): not the example's.
const OTHER_RECIPIENT: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";

/// An app with one SOPS file encrypted to `recipient` and one volume to restore.
fn app(apps: &Path, name: &str, recipient: &str, volume: &str) {
    let dir = apps.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.yml"), format!("namespace: media\nrestore:\n  - {{pvc: {name}-config, volume: {volume}}}\n")).unwrap();
    let plain = dir.join("key.yaml");
    std::fs::write(&plain, format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-key}}\nstringData: {{api-key: k-{name}}}\n")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hlprov"))
        .args(["sops", "encrypt", "--age", recipient, "--encrypted-regex", "^(data|stringData)$", "--output"])
        .arg(dir.join("key.sops.yaml"))
        .arg(&plain)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(plain).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuild_preflight_refuses_a_wrong_key_a_missing_backup_and_a_missing_artifact_and_changes_no_host() {
    // SAFETY: nextest runs each test in a process of its own.
    unsafe {
        std::env::set_var("SOPS_AGE_KEY_FILE", repo("inventory/example/example.agekey"));
        std::env::remove_var("SOPS_AGE_KEY");
    }
    let lab = TestLab::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    // h1 is the k3s server; h2 is the NFS box that holds Longhorn's backupstore (only read by the preflight).
    let groups = dir.path().join("groups.yml");
    std::fs::write(
        &groups,
        "all:\n  children:\n    k3s_cluster:\n      children:\n        k3s_servers: {hosts: {h1: {}}}\n    nfs: {hosts: {h2: {}}}\n",
    )
    .unwrap();
    let apps = dir.path().join("apps");
    app(&apps, "sonarr", EXAMPLE_RECIPIENT, "pvc-aaaa1111");
    app(&apps, "radarr", OTHER_RECIPIENT, "pvc-bbbb2222");
    // Longhorn's NFS layout: backupstore/volumes/XX/YY/<volume>/backups/backup_<name>.cfg. Only sonarr's is there.
    lab.sh("h2", "d=/srv/backups/longhorn/backupstore/volumes/3e/91/pvc-aaaa1111/backups && mkdir -p $d && echo '{}' > $d/backup_backup-5d1e.cfg")
        .await;
    let snapshot = "find / -xdev -newer /etc/hostname -not -path '/proc/*' -not -path '/sys/*' -not -path '/run/*' -not -path '/tmp/*' \
                    -not -path '/var/log/*' -not -path '/root/.ansible*' -not -path '/var/lib/systemd/*' 2>/dev/null | sort";
    let before = (lab.sh("h1", snapshot).await, lab.sh("h2", snapshot).await);

    let art = dir.path().join("artifacts");
    let extra = |art: &Path| {
        vars(serde_json::json!({
            "dr_rebuild": true,
            "apps": ["sonarr", "radarr"],
            "apps_dir": apps,
            "k3s_artifacts_dir": art,
            "nfs_backup_target": "nfs://h2:/srv/backups/longhorn",
        }))
    };
    let all = PhaseSelection::Only { phase: "apps".into(), with_deps: true };
    let run = site_with(&lab, std::slice::from_ref(&groups), RunOptions { phases: all.clone(), extra_vars: extra(&art), ..Default::default() }).await;
    assert_eq!(run.summary.exit_code, 2, "{:#?}", run.failures());
    let said = run.failures().join("\n");
    let radarr_key = apps.join("radarr/key.sops.yaml");
    for line in [
        // The key: radarr's file is encrypted to another recipient.
        format!("{}: cannot decrypt: the file is encrypted to {OTHER_RECIPIENT}", radarr_key.display()),
        // The artifacts: k3s's release files.
        format!(
            "k3s v1.36.4+k3s1 (amd64): k3s, sha256sum-amd64.txt, k3s-airgap-images-amd64.tar.zst missing in {}/v1.36.4+k3s1 (tools/fetch-k3s-artifacts v1.36.4+k3s1 amd64 {} fetches them)",
            art.display(),
            art.display()
        ),
        // The backups: radarr's volume has none on the NFS box.
        "radarr: no backup of volume pvc-bbbb2222 (for PVC media/radarr-config) in nfs://h2:/srv/backups/longhorn".to_string(),
    ] {
        assert!(said.contains(&line), "expected {line:?} in\n{said}");
    }
    assert!(!said.contains("sonarr: no backup"), "sonarr's backup is there: {said}");
    assert!(!said.contains("k-radarr") && !said.contains("k-sonarr"), "no secret value in output");
    // Nothing ran after the preflight, and no host changed.
    let started: Vec<&String> = run.events.iter().filter_map(|e| if let Event::PhaseStart { phase, .. } = e { Some(phase) } else { None }).collect();
    assert_eq!(started, ["preflight"], "{started:?}");
    assert_eq!((lab.sh("h1", snapshot).await, lab.sh("h2", snapshot).await), before, "a host changed");

    // A named backup that is not there is said with what is there.
    std::fs::write(apps.join("sonarr/app.yml"), "namespace: media\nrestore:\n  - {pvc: sonarr-config, volume: pvc-aaaa1111, backup: backup-0000}\n")
        .unwrap();
    let run = site_with(&lab, std::slice::from_ref(&groups), RunOptions { phases: all, extra_vars: extra(&art), ..Default::default() }).await;
    let said = run.failures().join("\n");
    assert!(
        said.contains("sonarr: backup backup-0000 of volume pvc-aaaa1111 is not in nfs://h2:/srv/backups/longhorn (it has backup-5d1e)"),
        "{said}"
    );
}

/// Seconds each phase took, from the run's events.
fn phase_seconds(a: &Applied) -> Vec<(String, f64)> {
    a.events
        .iter()
        .filter_map(|e| match e {
            Event::PhaseEnd { phase, duration_ms, .. } => Some((phase.clone(), *duration_ms as f64 / 1000.0)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn drill_destroys_every_host_and_the_same_command_rebuilds_fresh_ones_until_every_gate_passes() {
    let phases = PhaseSelection::Only { phase: "longhorn_prereqs".into(), with_deps: true };
    let rebuild = || RunOptions { phases: phases.clone(), extra_vars: vars(serde_json::json!({"dr_rebuild": true})), ..Default::default() };
    let lab_groups = repo("inventory/lab");
    let lab = TestLab::start(3).await;
    let first = site_with(&lab, std::slice::from_ref(&lab_groups), rebuild()).await;
    assert_eq!(first.summary.exit_code, 0, "{:#?}", first.failures());
    lab.sh("h2", "echo drill > /var/lib/hlprov-drill-marker").await;

    // The bad day: every host is gone.
    let gone = Instant::now();
    drop(lab);
    let lab = TestLab::start(3).await;
    let (code, _) = lab.docker_exec("h2", "test -e /var/lib/hlprov-drill-marker").await;
    assert_ne!(code, 0, "the new h2 is a fresh host");
    let booted = gone.elapsed().as_secs_f64();

    let t = Instant::now();
    let run = site_with(&lab, std::slice::from_ref(&lab_groups), rebuild()).await;
    assert_eq!(run.summary.exit_code, 0, "{:#?}", run.failures());
    let rebuilt = t.elapsed().as_secs_f64();
    // Every gate of the rebuilt phases passes, and a second run changes nothing.
    let gates: Vec<(String, bool)> =
        run.events.iter().filter_map(|e| if let Event::GateEnd { phase, passed, .. } = e { Some((phase.clone(), *passed)) } else { None }).collect();
    for phase in ["base", "longhorn_prereqs"] {
        assert!(gates.contains(&(phase.to_string(), true)), "{phase}: {gates:?}");
    }
    let again = site_with(&lab, std::slice::from_ref(&lab_groups), rebuild()).await;
    assert_eq!(again.summary.exit_code, 0);
    assert_eq!(again.total_changed(), 0, "the rebuilt hosts are converged");

    let per_phase: Vec<String> = phase_seconds(&run).iter().map(|(p, s)| format!("{p} {s:.1}s")).collect();
    println!(
        "DRILL containers: RTO {:.1}s from hosts gone to every gate passing (fresh hosts {booted:.1}s, rebuild {rebuilt:.1}s: {})",
        booted + rebuilt,
        per_phase.join(", ")
    );
}
