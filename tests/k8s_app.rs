//! The `k8s_app` module's decisions with no cluster: reading an app folder (plain manifests, a kustomization
//! rendered by the real `kubectl kustomize`, SOPS files decrypted with the real age key), what pruning deletes
//! and keeps, and the app's gate on API objects recorded by Kubernetes' own tooling and k9s
//! (tests/fixtures/k8s/SOURCES.md). Applying to a real cluster is tools/k3s-acceptance's part (no k3s here).

use std::path::{Path, PathBuf};

use hlprov::modules::k8s::app::{APP_LABEL, app_problems, ingress_targets, prune_set, read_app_dir};
use serde_json::{Value, json};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The example homelab's key (EXAMPLE ONLY), which its apps' SOPS files are encrypted to.
fn use_key(file: &str) {
    // SAFETY: nextest runs each test in a process of its own; nothing else reads the environment meanwhile.
    unsafe {
        std::env::remove_var("SOPS_AGE_KEY");
        std::env::remove_var("SOPS_AGE_KEY_CMD");
        std::env::set_var("SOPS_AGE_KEY_FILE", repo(file));
        std::env::set_var("XDG_CONFIG_HOME", "/nonexistent-hlprov-test");
    }
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(repo(&format!("tests/fixtures/k8s/objects/{name}"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn kinds(objs: &[hlprov::modules::k8s::object::Manifest]) -> Vec<String> {
    let mut k: Vec<String> =
        objs.iter().map(|m| format!("{}/{}", m.obj["kind"].as_str().unwrap_or("?"), m.obj["metadata"]["name"].as_str().unwrap_or("?"))).collect();
    k.sort();
    k
}

#[test]
fn every_example_app_reads_with_its_secrets_decrypted_in_memory() {
    use_key("inventory/example/example.agekey");
    for app in ["sonarr", "radarr", "prowlarr", "decypharr", "plex", "recyclarr"] {
        let objs = read_app_dir(&repo(&format!("apps/{app}"))).unwrap_or_else(|e| panic!("{app}: {e}"));
        let secrets: Vec<&Value> = objs.iter().map(|m| &m.obj).filter(|o| o["kind"] == "Secret").collect();
        assert!(!secrets.is_empty(), "{app} has its Secret from SOPS: {:?}", kinds(&objs));
        for s in secrets {
            let text = serde_json::to_string(&s["stringData"]).unwrap();
            assert!(!text.contains("ENC[") && s.get("sops").is_none(), "{app}: decrypted, without SOPS metadata: {text}");
        }
        // app.yml is the role's, not an object; READMEs are not manifests.
        assert!(objs.iter().all(|m| m.obj.get("kind").is_some() && !m.origin.ends_with("app.yml")), "{app}: {:?}", kinds(&objs));
    }
    // Recyclarr's keys are Sonarr's and Radarr's, decrypted from three files.
    let key_of = |app: &str, secret: &str, key: &str| -> String {
        let objs = read_app_dir(&repo(&format!("apps/{app}"))).unwrap();
        let s = objs.iter().find(|m| m.obj["kind"] == "Secret" && m.obj["metadata"]["name"] == secret).unwrap();
        s.obj["stringData"][key].as_str().unwrap().to_string()
    };
    let sonarr = key_of("sonarr", "sonarr-api-key", "api-key");
    assert_eq!(sonarr.len(), 32, "a 32-hex-digit API key");
    assert_eq!(key_of("recyclarr", "recyclarr-keys", "SONARR_API_KEY"), sonarr);
    assert_eq!(key_of("recyclarr", "recyclarr-keys", "RADARR_API_KEY"), key_of("radarr", "radarr-api-key", "api-key"));
}

#[test]
fn a_kustomization_is_rendered_by_kubectl_kustomize_and_its_sops_files_added() {
    use_key("inventory/example/example.agekey");
    let objs = read_app_dir(&repo("apps/prowlarr")).unwrap();
    assert_eq!(
        kinds(&objs),
        ["Deployment/prowlarr", "Ingress/prowlarr", "PersistentVolumeClaim/prowlarr-config", "Secret/prowlarr-api-key", "Service/prowlarr"]
    );
    // The image tag comes from the kustomization's `images:`, which only kustomize applies.
    let dep = objs.iter().find(|m| m.obj["kind"] == "Deployment").unwrap();
    assert_eq!(dep.obj["spec"]["template"]["spec"]["containers"][0]["image"], "lscr.io/linuxserver/prowlarr:1.37.0");
    assert!(dep.origin.contains("kustomization.yaml (kustomize)"), "{}", dep.origin);

    // A broken kustomization: kubectl's own words, naming the file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kustomization.yaml"), "resources:\n  - missing.yaml\n").unwrap();
    let err = read_app_dir(dir.path()).unwrap_err();
    assert!(err.contains("kustomization.yaml: kubectl kustomize failed") && err.contains("missing.yaml"), "{err}");
}

#[test]
fn secrets_in_clear_undecryptable_or_unencrypted_files_are_refused_naming_the_file() {
    use_key("inventory/example/example.agekey");
    let dir = tempfile::tempdir().unwrap();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: leaked}\nstringData: {password: hunter2}\n";
    std::fs::write(dir.path().join("secret.yaml"), secret).unwrap();
    let err = read_app_dir(dir.path()).unwrap_err();
    assert!(err.contains("secret.yaml") && err.contains("a Secret in a plain file") && !err.contains("hunter2"), "{err}");

    // Named *.sops.yaml but never encrypted.
    std::fs::remove_file(dir.path().join("secret.yaml")).unwrap();
    std::fs::write(dir.path().join("secret.sops.yaml"), secret).unwrap();
    let err = read_app_dir(dir.path()).unwrap_err();
    assert!(err.contains("secret.sops.yaml") && err.contains("not encrypted"), "{err}");

    // Encrypted, but not to the key at hand (the SOPS project's test key instead of the example's).
    use_key("tests/fixtures/sops/keys/age-sops-mock.txt");
    let err = read_app_dir(&repo("apps/plex")).unwrap_err();
    assert!(err.contains("claim.sops.yaml"), "names the file: {err}");
    assert!(!err.contains("claim-EXAMPLE"), "{err}");
}

#[test]
fn pruning_deletes_only_what_the_folder_lost_and_keeps_volumes_unless_asked() {
    let label = json!({APP_LABEL: "sonarr"});
    let obj = |api: &str, kind: &str, name: &str, ns: Option<&str>| {
        let mut o = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "labels": label}});
        if let Some(ns) = ns {
            o["metadata"]["namespace"] = json!(ns);
        }
        o
    };
    // The folder names no namespace for its Deployment; the app's namespace is media.
    let desired = vec![obj("apps/v1", "Deployment", "sonarr", None), obj("v1", "Service", "sonarr", Some("media"))];
    let mut job = obj("batch/v1", "Job", "recyclarr-29411", Some("media"));
    job["metadata"]["ownerReferences"] = json!([{"apiVersion": "batch/v1", "kind": "CronJob", "name": "recyclarr", "uid": "u"}]);
    let live = vec![
        obj("apps/v1", "Deployment", "sonarr", Some("media")),
        obj("v1", "Service", "sonarr", Some("media")),
        obj("v1", "ConfigMap", "sonarr-old", Some("media")),
        // Same name and kind, another group: not the app's Deployment.
        obj("extensions.example/v1", "Deployment", "sonarr", Some("media")),
        obj("v1", "PersistentVolumeClaim", "sonarr-config", Some("media")),
        job,
    ];
    let names =
        |v: &[Value]| v.iter().map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap())).collect::<Vec<_>>();
    let (delete, kept) = prune_set(&desired, &live, "media", false);
    assert_eq!(names(&delete), ["ConfigMap/sonarr-old", "Deployment/sonarr"]);
    assert_eq!(delete[1]["apiVersion"], "extensions.example/v1");
    assert_eq!(names(&kept), ["PersistentVolumeClaim/sonarr-config"], "its data would go with it");
    let (delete, kept) = prune_set(&desired, &live, "media", true);
    assert!(names(&delete).contains(&"PersistentVolumeClaim/sonarr-config".to_string()) && kept.is_empty());
    // In another default namespace the live Deployment is not the folder's (which would land in "other").
    let (delete, _) = prune_set(&desired, &live, "other", false);
    assert!(delete.iter().any(|o| o["kind"] == "Deployment" && o["apiVersion"] == "apps/v1"), "{:?}", names(&delete));
}

#[test]
fn the_gate_reads_recorded_objects_ready_and_not() {
    // Ready: a Deployment available at its generation (recorded by kubectl's tests), a StatefulSet at its
    // revision and a Bound PVC (k9s' test data), a LoadBalancer Service with its address.
    let ready = [
        fixture("deployment-available.apiserver.json"),
        fixture("statefulset.k9s.json"),
        fixture("daemonset.k9s.json"),
        fixture("pvc-bound.k9s.json"),
        fixture("service-loadbalancer-ingress.composed.json"),
        fixture("service-clusterip.apiserver.json"),
    ];
    assert_eq!(app_problems(&ready), Vec::<String>::new());

    let not = [
        fixture("deployment-rolling-out.composed.json"),
        fixture("pvc-pending.composed.json"),
        fixture("service-loadbalancer-pending.composed.json"),
    ];
    let problems = app_problems(&not);
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].starts_with("Deployment nginx in edit-test: "), "{problems:?}");
    assert!(problems[1].starts_with("PersistentVolumeClaim data-monitoring-0 in default: ") && problems[1].contains("Pending"), "{problems:?}");
    assert!(problems[2].starts_with("Service hlprov-gate-lb in edit-test: "), "{problems:?}");
    // A Deployment past its progress deadline has failed for good: the gate stops waiting.
    let failed = app_problems(&[fixture("deployment-progress-deadline-exceeded.composed.json")]);
    assert!(failed.len() == 1 && failed[0].contains(" failed: "), "{failed:?}");
}

#[test]
fn ingress_hosts_are_asked_at_the_ingress_address_with_tls_where_given() {
    let ing = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "sonarr", "namespace": "media"},
        "spec": {"tls": [{"hosts": ["sonarr.home.example"]}],
                 "rules": [{"host": "sonarr.home.example"}, {"host": "sonarr-api.home.example"}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "192.168.10.200"}]}}
    });
    let no_address = json!({"kind": "Ingress", "metadata": {"name": "x"}, "spec": {"rules": [{"host": "x.home.example"}]}});
    assert_eq!(
        ingress_targets(&[ing, no_address]),
        [
            ("sonarr.home.example".to_string(), "192.168.10.200".to_string(), "https"),
            ("sonarr-api.home.example".to_string(), "192.168.10.200".to_string(), "http"),
            ("x.home.example".to_string(), "127.0.0.1".to_string(), "http"),
        ]
    );
}
