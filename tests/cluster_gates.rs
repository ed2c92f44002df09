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

/// The items of a `kubectl get -o json` list.
fn items(list: &Value) -> Vec<Value> {
    list["items"].as_array().cloned().unwrap_or_default()
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

#[tokio::test]
async fn longhorn_gate_names_storage_nodes_that_are_not_ready_or_schedulable() {
    let problems = |file: &'static str| async move {
        strings(&one("longhorn", "cp1", "longhorn_node_problems", json!({"longhorn_nodes_seen": registered(items(&cluster_fixture(file)))})).await)
    };
    assert!(problems("longhorn/nodes.v1beta2.ready.composed.json").await.is_empty());
    assert_eq!(
        problems("longhorn/nodes.v1beta2.w2-manager-pod-down.composed.json").await,
        ["w2 is not Ready in Longhorn: Node w2 is down: manager pod longhorn-manager-7xk2p is not running"]
    );
    assert_eq!(problems("longhorn/nodes.v1beta2.w2-cordoned.composed.json").await, ["w2 is not Schedulable in Longhorn: Node w2 is cordoned"]);
    // A storage node Longhorn does not know at all.
    let mut one_node = cluster_fixture("longhorn/nodes.v1beta2.ready.composed.json");
    one_node["items"].as_array_mut().unwrap().retain(|n| n["metadata"]["name"] == "w1");
    let missing = one("longhorn", "cp1", "longhorn_node_problems", json!({"longhorn_nodes_seen": registered(items(&one_node))})).await;
    assert_eq!(strings(&missing), ["w2 is not a Longhorn node (is longhorn-manager running there?)"]);
}

#[tokio::test]
async fn longhorn_gate_wants_every_recurring_job_to_select_volumes() {
    let volumes = registered(items(&cluster_fixture("longhorn/volumes.v1beta2.recurring-groups.composed.json")));
    let problems = |file: &'static str, volumes: Value| async move {
        let jobs = registered(items(&cluster_fixture(file)));
        strings(&one("longhorn", "cp1", "longhorn_job_problems", json!({"longhorn_jobs_seen": jobs, "longhorn_volumes_seen": volumes})).await)
    };
    assert!(problems("longhorn/recurringjobs.v1beta2.ok.composed.json", volumes.clone()).await.is_empty());
    assert_eq!(
        problems("longhorn/recurringjobs.v1beta2.groupless.composed.json", volumes.clone()).await,
        ["recurring job trim-weekly has no group and no volume names it, so it runs on no volume"]
    );
    assert_eq!(
        problems("longhorn/recurringjobs.v1beta2.unused-group.composed.json", volumes.clone()).await,
        ["recurring job backup-weekly selects groups weekly, which no volume is in"]
    );
    // A job with no group that a volume names directly does run.
    let mut named = cluster_fixture("longhorn/volumes.v1beta2.recurring-groups.composed.json");
    named["items"][0]["metadata"]["labels"]["recurring-job.longhorn.io/trim-weekly"] = json!("enabled");
    assert!(problems("longhorn/recurringjobs.v1beta2.groupless.composed.json", registered(items(&named))).await.is_empty());
}

#[tokio::test]
async fn longhorn_gate_says_why_the_backup_target_is_unavailable() {
    let problem = |file: &'static str| async move {
        one("longhorn", "cp1", "longhorn_backup_problem", json!({"longhorn_backup_seen": registered(vec![cluster_fixture(file)])})).await
    };
    assert_eq!(problem("longhorn/backuptarget-default.available.composed.json").await, json!(""));
    let nfs = problem("longhorn/backuptarget-default.unavailable-nfs-timeout.composed.json").await;
    let nfs = nfs.as_str().unwrap();
    assert!(
        nfs.starts_with("the backup target nfs://192.168.1.10:/export/longhorn is not available: failed to list system backups in nfs://192.168.1.10:/export/longhorn: error listing system backup"),
        "{nfs}"
    );
    assert_eq!(
        problem("longhorn/backuptarget-default.url-empty.composed.json").await,
        json!("the backup target  is not available: backup target URL is empty")
    );
    assert_eq!(
        one("longhorn", "cp1", "longhorn_backup_problem", json!({"longhorn_backup_seen": registered(vec![])})).await,
        json!("Longhorn has no BackupTarget \"default\" (is Longhorn installed?)")
    );
}

// ---- monitoring -----------------------------------------------------------------------------------------

/// What the `command` module registers for `kubectl get --raw` (stdout as the server sent it).
fn command(rc: i64, stdout: &str, stderr: &str) -> Value {
    json!({"rc": rc, "stdout": stdout, "stderr": stderr, "changed": false})
}

fn text(rel: &str) -> String {
    std::fs::read_to_string(repo("tests/fixtures/cluster").join(rel)).unwrap()
}

#[tokio::test]
async fn monitoring_gate_wants_node_and_longhorn_targets_up() {
    let problems = |file: &'static str| async move {
        strings(&one("monitoring", "cp1", "monitoring_target_problems", json!({"monitoring_targets": command(0, &text(file), "")})).await)
    };
    // The example has 4 k3s nodes; the fixture's cluster has 3 (k3s-srv-1, w1, w2).
    assert_eq!(problems("prometheus/targets.all-up.composed.json").await, ["node-exporter runs on 3 of 4 nodes"]);
    let down = problems("prometheus/targets.node-exporter-down.composed.json").await;
    assert_eq!(down.len(), 2, "{down:?}");
    assert!(
        down[0].starts_with("node-exporter target http://192.168.1.23:9100/metrics is down: Get \"http://192.168.1.23:9100/metrics\": dial tcp 192.168.1.23:9100: connect: connection refused"),
        "{down:?}"
    );
    // Prometheus' own documentation example has neither job.
    assert_eq!(
        problems("prometheus/targets.docs-v3.14.0.json").await[..2],
        ["Prometheus has no node-exporter target".to_string(), "Prometheus has no longhorn-manager target".to_string()]
    );
    let refused = one(
        "monitoring",
        "cp1",
        "monitoring_target_problems",
        json!({"monitoring_targets": command(1, "", "Error from server (ServiceUnavailable): the server is currently unable to handle the request\n")}),
    )
    .await;
    assert_eq!(
        strings(&refused)[0],
        "Prometheus does not answer: Error from server (ServiceUnavailable): the server is currently unable to handle the request"
    );
}

#[tokio::test]
async fn monitoring_gate_wants_loki_logs_and_a_healthy_grafana() {
    let problems = |loki: Value, grafana: Value| async move {
        strings(
            &one("monitoring", "cp1", "monitoring_service_problems", json!({"monitoring_loki_labels": loki, "monitoring_grafana_health": grafana}))
                .await,
        )
    };
    let loki_ok = command(0, &text("loki/labels.docs-v3.4.2.json"), "");
    let grafana_ok = command(0, &text("grafana/health.ok.composed.json"), "");
    assert!(problems(loki_ok.clone(), grafana_ok.clone()).await.is_empty());
    assert!(problems(loki_ok.clone(), command(0, &text("grafana/health.docs.json"), "")).await.is_empty());
    // Loki omits `data` when it has no labels yet.
    assert_eq!(
        problems(command(0, &text("loki/labels.empty.composed.json"), ""), grafana_ok.clone()).await,
        ["Loki has received no logs yet (is Promtail running on the nodes?)"]
    );
    // Grafana answers 503 with database: failing; kubectl turns that into ServiceUnavailable on stderr.
    let failing = command(1, "", &text("grafana/health.database-failing.kubectl-get-raw.stderr.txt"));
    assert_eq!(
        problems(loki_ok.clone(), failing).await,
        ["Grafana's health endpoint answers 503: its database is failing (or Grafana is still starting)"]
    );
    assert_eq!(
        problems(loki_ok, command(0, &text("grafana/health.database-failing.composed.json"), "")).await,
        ["Grafana's health says its database is failing"]
    );
}

// ---- gpu_plugin -----------------------------------------------------------------------------------------

#[tokio::test]
async fn gpu_gate_wants_the_nfd_label_and_i915_capacity_on_each_gpu_node() {
    let problem = |node: Option<&'static str>| async move {
        let seen = registered(node.map(|f| vec![cluster_fixture(f)]).unwrap_or_default());
        one("gpu_plugin", "w3", "gpu_node_problem", json!({"gpu_node": seen})).await
    };
    assert_eq!(problem(Some("nodes/node-w3-gpu.ready.composed.json")).await, json!(""));
    let no_label = problem(Some("nodes/node-w3-gpu.no-nfd-label.composed.json")).await;
    assert!(no_label.as_str().unwrap().starts_with("has no label intel.feature.node.kubernetes.io/gpu=true"), "{no_label}");
    let zero = problem(Some("nodes/node-w3-gpu.capacity-zero.composed.json")).await;
    assert!(zero.as_str().unwrap().starts_with("advertises gpu.intel.com/i915: 0 (expected at least 1)"), "{zero}");
    let missing = problem(Some("nodes/node-w3-gpu.resource-missing.composed.json")).await;
    assert!(missing.as_str().unwrap().starts_with("advertises gpu.intel.com/i915: 0 (expected at least 1)"), "{missing}");
    assert_eq!(problem(None).await, json!("is not a node of the cluster"));
}

#[tokio::test]
async fn metallb_reads_servicelb_from_recorded_shapes_of_node_args() {
    // k3s writes each config.yaml list item as its own --disable pair (tests/fixtures/cluster/k3s/node-args.md).
    let on = |file: &'static str| async move {
        strings(&one("metallb", "cp1", "metallb_servicelb_on", json!({"metallb_k3s_servers": registered(vec![cluster_fixture(file)])})).await)
    };
    assert!(on("nodes/node-k3s-srv-1.servicelb-disabled.composed.json").await.is_empty());
    assert_eq!(on("nodes/node-k3s-srv-1.servicelb-enabled.composed.json").await, ["k3s-srv-1"]);
}

// ---- apps: a rebuild's restores (roles/apps/vars, tasks/restore.yml) -----------------------------------------
// Objects composed from Longhorn 1.12.1's types and controllers (tests/fixtures/cluster/longhorn-restore/SOURCES.md).

fn restore_fixture(name: &str) -> Value {
    cluster_fixture(&format!("longhorn-restore/{name}"))
}

const VOLUME: &str = "pvc-5f0c2a1e-7d3b-4c8e-9a61-0b2d4e6f8a02";

/// The restore entry of app.yml, and what k8s_info registered for its Backups and its restored Volume.
fn restore_given(backup: &str, backups: Vec<Value>, volume: Option<Value>) -> Value {
    json!({
        "r": {"pvc": "grafana", "volume": VOLUME, "backup": backup, "restored_as": "monitoring-grafana"},
        "apps_restore_backups": registered(backups),
        "apps_restore_volume": registered(volume.into_iter().collect()),
    })
}

#[tokio::test]
async fn restore_takes_the_latest_completed_backup_or_the_named_one_and_says_why_there_is_none() {
    let backups = items(&restore_fixture("backups.v1beta2.one-volume.composed.json"));
    let vars = ["apps_restore_backup", "apps_restore_no_backup"];
    // Latest: of the two Completed backups the newer one; the Error one (newest by name order) is never taken.
    let got = decide("apps", "cp1", &vars, restore_given("latest", backups.clone(), None)).await;
    assert_eq!(got[0]["metadata"]["name"], "backup-8e21d4b09c6f4a13");
    assert_eq!(got[0]["status"]["url"], format!("nfs://192.168.1.10:/export/longhorn?backup=backup-8e21d4b09c6f4a13&volume={VOLUME}"));
    assert_eq!(got[1], "");
    // A named backup.
    let got = decide("apps", "cp1", &vars, restore_given("backup-3f9a1c7e52d04b6a", backups.clone(), None)).await;
    assert_eq!((got[0]["metadata"]["name"].as_str(), got[1].as_str()), (Some("backup-3f9a1c7e52d04b6a"), Some("")));
    // The failed one, named: refused with what Longhorn lists.
    let got = decide("apps", "cp1", &vars, restore_given("backup-c05b7e3d19a84f2e", backups.clone(), None)).await;
    assert_eq!(
        got[1],
        format!(
            "backup backup-c05b7e3d19a84f2e of volume {VOLUME} is not a completed backup (Longhorn lists backup-3f9a1c7e52d04b6a: Completed, backup-8e21d4b09c6f4a13: Completed, backup-c05b7e3d19a84f2e: Error)"
        )
    );
    // Only a backup still being made: none to restore yet.
    let got = decide("apps", "cp1", &vars, restore_given("latest", vec![restore_fixture("backup.v1beta2.in-progress.composed.json")], None)).await;
    assert_eq!(got[1], format!("no completed backup of volume {VOLUME} (Longhorn lists backup-c05b7e3d19a84f2e: InProgress)"));
    // Nothing at all (the backup target has none, or has not been read yet).
    let got = decide("apps", "cp1", &vars, restore_given("latest", vec![], None)).await;
    assert_eq!(got[1], format!("no backup of volume {VOLUME} in the backup target"));
}

#[tokio::test]
async fn restore_gate_waits_while_restoring_and_wants_it_done_healthy_and_of_the_backups_size() {
    let backups = items(&restore_fixture("backups.v1beta2.one-volume.composed.json"));
    let state = |volume: Option<Value>| {
        let given = restore_given("latest", backups.clone(), volume);
        async move { one("apps", "cp1", "apps_restore_state", given).await }
    };
    assert_eq!(state(Some(restore_fixture("volume.v1beta2.restoring.composed.json"))).await, "restoring");
    assert_eq!(state(Some(restore_fixture("volume.v1beta2.restored.composed.json"))).await, "");
    assert_eq!(
        state(Some(restore_fixture("volume.v1beta2.restore-faulted.composed.json"))).await,
        "volume monitoring-grafana is faulted: RestoreFailure All replica restore failed and the volume became Faulted"
    );
    assert_eq!(state(None).await, "volume monitoring-grafana does not exist");
    // A volume smaller than its backup.
    let mut small = restore_fixture("volume.v1beta2.restored.composed.json");
    small["spec"]["size"] = json!("1073741824");
    assert_eq!(state(Some(small)).await, "volume monitoring-grafana has 1073741824 bytes, less than its backup's 2147483648");
}
