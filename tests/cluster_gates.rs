//! What the cluster roles' checks and gates conclude from what the cluster returns, run on real API objects.
//! No Kubernetes API server runs here: the objects are upstream's own (documentation, test data) or composed
//! from upstream's types and constants, each with its source in tests/fixtures/k8s/SOURCES.md or
//! tests/fixtures/cluster/SOURCES.md. What is tested is the roles' own code: the derived variables in
//! `roles/<role>/vars/main.yml` that the gates' asserts print, evaluated by the real executor with the role's
//! defaults and an inventory, the objects standing in for what `k8s_info` registered.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hlprov::exec::RunOptions;
use hlprov::report::{Event, Status};
use serde_json::{Value, json};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn k8s_fixture(rel: &str) -> Value {
    let p = repo("tests/fixtures/k8s/objects").join(rel);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn cluster_fixture(rel: &str) -> Value {
    let p = repo("tests/fixtures/cluster").join(rel);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The example homelab's groups (cp1 server; w1, w2 storage agents; w3 the GPU agent).
const INVENTORY: &str = "all:
  children:
    k3s_cluster:
      children:
        k3s_servers: {hosts: {cp1: {ansible_host: 192.0.2.21}}}
        k3s_agents: {hosts: {w1: {ansible_host: 192.0.2.31}, w2: {ansible_host: 192.0.2.32}, w3: {ansible_host: 192.0.2.33}}}
    longhorn_nodes: {hosts: {w1: {}, w2: {}}}
    gpu_nodes: {hosts: {w3: {}}}
";

/// The values of `vars` for `host`, as role `role` computes them from its defaults, its vars and `given`
/// (the inventory's settings and what k8s_info registered), with no host and no cluster (`hlprov render`).
async fn decide(role: &str, host: &str, vars: &[&str], given: Value) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hosts.yml"), INVENTORY).unwrap();
    // The role's files (settings table) are found next to the playbook, as in the role.
    std::os::unix::fs::symlink(repo("roles").join(role).join("files"), dir.path().join("files")).ok();
    let role_dir = repo("roles").join(role);
    let tasks: String = vars.iter().map(|v| format!("    - debug: {{var: {v}}}\n")).collect();
    let play = format!(
        "- hosts: {host}\n  gather_facts: false\n  vars_files: [{}, {}]\n  tasks:\n{tasks}",
        role_dir.join("defaults/main.yml").display(),
        role_dir.join("vars/main.yml").display()
    );
    std::fs::write(dir.path().join("play.yml"), play).unwrap();
    let pb = hlprov::playbook::load(&dir.path().join("play.yml"), &Default::default()).expect("the play loads");
    let inv = hlprov::inventory::Inventory::load(&[dir.path().join("hosts.yml")]).expect("inventory");
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let opts = RunOptions { offline: true, check: true, extra_vars: given.as_object().cloned().unwrap_or_default(), ..Default::default() };
    hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), opts, reporter).await.expect("no preflight error");
    let events = collector.events.lock().unwrap().clone();
    let results: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::TaskResult(r) if r.host == host => Some((**r).clone()),
            _ => None,
        })
        .collect();
    vars.iter()
        .zip(&results)
        .map(|(v, r)| {
            assert_eq!(r.status, Status::Ok, "{v}: {:?} {}", r.msg, r.result);
            r.result[*v].clone()
        })
        .collect()
}

async fn one(role: &str, host: &str, var: &str, given: Value) -> Value {
    decide(role, host, &[var], given).await.remove(0)
}

/// `kubectl get … -o json` of a list, as k8s_info registers it.
fn registered(items: Vec<Value>) -> Value {
    json!({"resources": items, "api_found": true, "changed": false})
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap_or_else(|| panic!("not a list: {v}")).iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

// ---- metallb --------------------------------------------------------------------------------------------

#[tokio::test]
async fn metallb_pool_entries_must_be_ranges_or_cidrs() {
    let bad = |pool: Value| async move { strings(&one("metallb", "cp1", "metallb_bad_pool_entries", json!({"metallb_address_pool": pool})).await) };
    assert!(bad(json!("192.168.10.200-192.168.10.230")).await.is_empty(), "one range as a string");
    assert!(bad(json!(["192.168.10.240/28", "192.168.10.200-192.168.10.210", "fd00::/120"])).await.is_empty());
    assert_eq!(
        bad(json!(["192.168.10.0/33", "192.168.10.230-192.168.10.200", "pool", "192.168.10.7", "192.168.10.1-nope"])).await,
        ["192.168.10.0/33", "192.168.10.230-192.168.10.200", "pool", "192.168.10.7", "192.168.10.1-nope"]
    );
}

#[tokio::test]
async fn metallb_refuses_servers_where_servicelb_runs_read_from_their_node_args() {
    // k3s records a server's arguments, config.yaml's included, in k3s.io/node-args (k3s pkg/nodeconfig).
    let server = k8s_fixture("node-k3s-server-ready.composed.json");
    let mut other = server.clone();
    other["metadata"]["name"] = json!("k3s-srv-2");
    other["metadata"]["annotations"]["k3s.io/node-args"] = json!(r#"["server","--server","https://192.0.2.21:6443","--disable","traefik"]"#);
    let mut comma = server.clone();
    comma["metadata"]["name"] = json!("k3s-srv-3");
    comma["metadata"]["annotations"]["k3s.io/node-args"] = json!(r#"["server","--disable","traefik,servicelb"]"#);
    let on = one("metallb", "cp1", "metallb_servicelb_on", json!({"metallb_k3s_servers": registered(vec![server, other, comma])})).await;
    assert_eq!(strings(&on), ["k3s-srv-2"]);
}

#[tokio::test]
async fn metallb_gate_checks_the_address_is_from_the_pool() {
    // status.loadBalancer.ingress[0].ip = 192.168.1.240 (tests/fixtures/k8s/SOURCES.md).
    let service = k8s_fixture("service-loadbalancer-ingress.composed.json");
    let pending = k8s_fixture("service-loadbalancer-pending.composed.json");
    let check = |pool: &'static str, svc: Value| async move {
        decide(
            "metallb",
            "cp1",
            &["metallb_gate_address", "metallb_gate_in_pool"],
            json!({"metallb_address_pool": pool, "metallb_gate_service": registered(vec![svc])}),
        )
        .await
    };
    assert_eq!(check("192.168.1.240-192.168.1.250", service.clone()).await, [json!("192.168.1.240"), json!(true)]);
    assert_eq!(check("192.168.1.224/28", service.clone()).await, [json!("192.168.1.240"), json!(false)], "224/28 ends at .239");
    assert_eq!(check("192.168.1.240-192.168.1.250", pending).await, [json!("none"), json!(false)]);
}

// ---- sops_keys ------------------------------------------------------------------------------------------

/// The SOPS project's test identity and its recipient (tests/fixtures/sops/keys/age-sops-mock.txt).
const AGE_KEY: &str = "AGE-SECRET-KEY-1RH87A5Z54ZGUR9S0AS3R6WHFSEFNPLYMAKF5Z2CEU7R06VRJ0A3Q7242AM";
const AGE_RECIPIENT: &str = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29";

/// A Secret as `kubectl get secret -o json` prints it (core v1: data values base64).
fn secret(data: &[(&str, &str)]) -> Value {
    use base64::Engine;
    let data: serde_json::Map<String, Value> =
        data.iter().map(|(k, v)| (k.to_string(), json!(base64::engine::general_purpose::STANDARD.encode(v)))).collect();
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": data,
           "metadata": {"name": "sops-age", "namespace": "flux-system", "uid": "5d2a0c1e-8f0b-4b53-9a0c-3f7e4f1f0a11", "resourceVersion": "1042"}})
}

#[tokio::test]
async fn sops_keys_gate_wants_age_agekey_with_a_recipient_of_sops_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let sops_yaml = dir.path().join(".sops.yaml");
    // Two rules, one with two recipients (comma-separated, as sops accepts them).
    std::fs::write(
        &sops_yaml,
        format!("creation_rules:\n  - path_regex: apps/.*\n    age: age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq4q3qvz, {AGE_RECIPIENT}\n  - pgp: 85D77543B3D624B63CEA9E6DBC17301B491B3F21\n"),
    )
    .unwrap();
    let other_key = hlprov::secrets::keys::keygen(&dir.path().join("other.txt")).unwrap();
    let other_identity = std::fs::read_to_string(dir.path().join("other.txt")).unwrap();
    let problem = |seen: Value| {
        let yaml = sops_yaml.clone();
        async move { one("sops_keys", "cp1", "sops_keys_secret_problem", json!({"sops_keys_sops_yaml": yaml, "sops_keys_seen": seen})).await }
    };
    assert_eq!(problem(registered(vec![secret(&[("age.agekey", AGE_KEY)])])).await, json!(""));
    assert_eq!(problem(registered(vec![])).await, json!("it does not exist"));
    assert_eq!(
        problem(registered(vec![secret(&[("identity.txt", AGE_KEY)])])).await,
        json!("it has no key age.agekey (it has identity.txt; Flux reads only keys ending in .agekey)")
    );
    let wrong = problem(registered(vec![secret(&[("age.agekey", &other_identity)])])).await;
    assert_eq!(wrong, json!(format!("its key (recipient {other_key}) is not a recipient in {}", sops_yaml.display())));
}

// ---- longhorn -------------------------------------------------------------------------------------------

#[tokio::test]
async fn longhorn_settings_are_checked_against_longhorn_1_12_1s_table() {
    // Types, ranges and choices come from longhorn-manager v1.12.1's types/setting.go (roles/longhorn/files).
    let problems =
        |settings: Value| async move { strings(&one("longhorn", "cp1", "longhorn_setting_problems", json!({"longhorn_settings": settings})).await) };
    assert!(
        problems(json!({"storage-over-provisioning-percentage": 150, "replica-soft-anti-affinity": "true", "backup-compression-method": "lz4"}))
            .await
            .is_empty()
    );
    assert_eq!(
        problems(json!({
            "storage-over-provisioning-percentage": "lots",
            "replica-soft-anti-affinity": "maybe",
            "backup-compression-method": "zip",
            "no-such-setting": 1,
        }))
        .await,
        [
            "storage-over-provisioning-percentage must be a whole number, not lots",
            "replica-soft-anti-affinity must be true or false, not maybe",
            "backup-compression-method must be one of none, lz4, gzip, not zip",
            "no-such-setting is not a setting of Longhorn 1.12.1",
        ]
    );
}

#[tokio::test]
async fn longhorn_recurring_jobs_without_groups_are_refused() {
    let without =
        |jobs: Value| async move { strings(&one("longhorn", "cp1", "longhorn_jobs_without_groups", json!({"longhorn_recurring_jobs": jobs})).await) };
    let jobs = json!([
        {"name": "snap", "task": "snapshot", "cron": "0 * * * *", "retain": 24, "groups": ["default"]},
        {"name": "backup-a", "task": "backup", "cron": "0 1 * * *", "retain": 7, "groups": []},
        {"name": "backup-b", "task": "backup", "cron": "0 2 * * *", "retain": 7},
    ]);
    assert_eq!(without(jobs).await, ["backup-b", "backup-a"]);
}
