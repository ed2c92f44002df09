//! The Proxmox API modules against a simulated Proxmox VE (fakepve 0.5.0 with tokens, an ACL and a stateful
//! appliance index; tests/pve_sim/launch.py says what is added and why). Every test starts its own simulation on
//! 127.0.0.1 and reads the result back through the simulation's own channel, not through hlprov's client.
//!
//! What these tests prove is how hlprov drives the PVE API (requests, digest, tasks, pending, errors, TLS and
//! credentials) against a simulation built from pve-container's rules; they do not prove that a real PVE node
//! behaves the same (docs/proxmox.md: the acceptance run on a real node).

mod common;
mod pve_sim;

use std::path::Path;

use common::{Applied, apply_in};
use hlprov::exec::RunOptions;
use hlprov::report::Status;
use pve_sim::{PASSWORD, SimPve, TEMPLATE, TOKEN_ID, TOKEN_SECRET, merge};
use serde_json::{Value, json};

const LABEL: &str = "CT 133 (w3) on pve1";

/// The guest of most tests: a privileged GPU worker with everything the spec can say.
fn w3_spec() -> Value {
    json!({
        "vmid": 133, "node": "pve1", "hostname": "w3",
        "ostemplate": format!("local:vztmpl/{TEMPLATE}"),
        "cores": 4, "memory": 4096, "swap": 0, "rootfs": "local-lvm:8",
        "net": ["name=eth0,bridge=vmbr0,ip=10.0.0.33/24,gw=10.0.0.1"],
        "unprivileged": false,
        "features": {"nesting": true},
        "onboot": true, "startup": {"order": 3, "up": 30}, "tags": ["k3s", "gpu"],
        "devices": [{"path": "/dev/dri/renderD128", "gid": 993, "mode": "0660"}],
        "nameserver": "10.0.0.1",
        "state": "started",
    })
}

/// An inventory with the PVE node (reached locally: the module runs `command -v pct` there, nothing else) and the
/// API credentials in a SOPS-encrypted group_vars file, as a homelab keeps them.
fn inventory(dir: &Path, sim: &SimPve) -> std::path::PathBuf {
    use hlprov::secrets::sops_file::{self, EncryptOptions};
    // The test key of the SOPS tests (tests/fixtures/sops/keys); set before anything reads the environment.
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops/keys/age-flux-test.txt");
    unsafe {
        std::env::set_var("SOPS_AGE_KEY_FILE", &key);
        std::env::remove_var("SOPS_AGE_KEY");
    }
    let recipient = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29".to_string();
    let inv = dir.join("inventory");
    std::fs::create_dir_all(inv.join("group_vars/proxmox")).unwrap();
    std::fs::write(inv.join("hosts.yml"), "all:\n  children:\n    proxmox:\n      hosts:\n        pve1:\n          ansible_connection: local\n")
        .unwrap();
    std::fs::write(
        inv.join("group_vars/proxmox/main.yml"),
        format!("pve_url: {}\npve_fingerprint: \"{}\"\npve_token_id: \"{TOKEN_ID}\"\n", sim.url, sim.fingerprint),
    )
    .unwrap();
    let secrets = format!("pve_token_secret: {TOKEN_SECRET}\npve_password: {PASSWORD}\n");
    let opts = EncryptOptions { recipients: vec![recipient], rules: Default::default() };
    std::fs::write(
        inv.join("group_vars/proxmox/secrets.sops.yml"),
        sops_file::encrypt_text(&secrets, hlprov::secrets::Format::Yaml, "secrets", &opts).unwrap(),
    )
    .unwrap();
    inv
}

/// A one-task playbook: proxmox_lxc with these arguments plus the credentials from the inventory.
fn playbook(args: &Value) -> String {
    let mut task = serde_json::Map::new();
    task.insert("api_url".into(), json!("{{ pve_url }}"));
    task.insert("tls_fingerprint".into(), json!("{{ pve_fingerprint }}"));
    task.insert("api_token_id".into(), json!("{{ pve_token_id }}"));
    task.insert("api_token_secret".into(), json!("{{ pve_token_secret }}"));
    task.insert("api_password".into(), json!("{{ pve_password }}"));
    task.extend(args.as_object().unwrap().clone());
    format!("- hosts: proxmox\n  gather_facts: false\n  tasks:\n    - name: guest\n      proxmox_lxc: {}\n      register: ct\n", Value::Object(task))
}

async fn run(dir: &Path, inv: &Path, args: &Value, opts: RunOptions) -> Applied {
    apply_in(dir, inv, &[("site.yml", &playbook(args))], "site.yml", opts).await.expect("the playbook loads")
}

fn the_result(a: &Applied) -> hlprov::report::TaskResult {
    a.of("guest", "pve1").into_iter().next().expect("a result of the guest task")
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// Nothing a test run printed, reported or recorded holds a credential.
fn assert_no_secrets(a: &Applied, record_dir: Option<&Path>) {
    let mut all = serde_json::to_string(&a.events).unwrap();
    if let Some(d) = record_dir {
        for f in std::fs::read_dir(d).unwrap() {
            all.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
        }
    }
    for secret in [TOKEN_SECRET, PASSWORD] {
        assert!(!all.contains(secret), "a secret reached the output");
    }
    assert!(!all.contains("PVE:root@pam:") && !all.contains("PVEAuthCookie"), "a ticket reached the output");
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_creates_the_guest_from_its_spec_and_a_second_apply_reports_changed_0() {
    let mut sim = SimPve::start(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let records = dir.path().join("runs");
    let opts = || RunOptions { record_dir: Some(records.clone()), ..Default::default() };

    let first = run(dir.path(), &inv, &w3_spec(), opts()).await;
    let r = the_result(&first);
    assert_eq!(r.status, Status::Changed, "{}", r.result);
    assert_eq!(first.summary.exit_code, 0);

    // The simulation holds the guest as the spec says, running, nothing pending.
    let ct = sim.ct(133);
    assert_eq!(ct["status"], "running", "{ct}");
    let cfg = &ct["config"];
    for (k, v) in
        [("hostname", "w3"), ("cores", "4"), ("memory", "4096"), ("swap", "0"), ("onboot", "1"), ("tags", "gpu;k3s"), ("features", "nesting=1")]
    {
        assert_eq!(text(&cfg[k]), v, "{k}: {cfg}");
    }
    assert_eq!(text(&cfg["startup"]), "order=3,up=30");
    assert_eq!(text(&cfg["dev0"]), "/dev/dri/renderD128,gid=993,mode=0660");
    assert_eq!(text(&cfg["nameserver"]), "10.0.0.1");
    assert!(cfg.get("unprivileged").is_none_or(|u| text(u) == "0"), "privileged: {cfg}");
    assert!(text(&cfg["rootfs"]).starts_with("local-lvm:vm-133-disk-0"), "{cfg}");
    let net = text(&cfg["net0"]);
    assert!(net.contains("bridge=vmbr0") && net.contains("ip=10.0.0.33/24") && net.contains("hwaddr="), "{net}");
    assert_eq!(ct["pending"], json!({}));
    // Tasks were followed: the create and the start ended OK.
    let tasks = sim.state()["tasks"].clone();
    for t in ["vzcreate", "vzstart"] {
        assert!(tasks.as_array().unwrap().iter().any(|x| x["type"] == t && x["exitstatus"] == "OK"), "{t}: {tasks}");
    }
    // What only root@pam may set went through the root@pam ticket, the rest through the token.
    let result = &r.result;
    assert_eq!(result["status"], "running");
    assert_no_secrets(&first, Some(&records));

    // Second apply: nothing to do, and only reads were sent.
    let before = sim.requests().len();
    let second = run(dir.path(), &inv, &w3_spec(), opts()).await;
    assert_eq!(the_result(&second).status, Status::Ok, "{}", the_result(&second).result);
    assert_eq!(second.total_changed(), 0);
    let writes: Vec<_> = sim.requests()[before..].iter().filter(|(m, p)| m != "GET" && !p.ends_with("/access/ticket")).cloned().collect();
    assert!(writes.is_empty(), "a converged guest got writes: {writes:?}");
    assert_no_secrets(&second, Some(&records));
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_check_diff_shows_the_planned_config_and_changes_nothing() {
    let mut sim = SimPve::start(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let check = || RunOptions { check: true, diff: true, ..Default::default() };

    // A guest that does not exist yet: the whole planned config is shown, nothing is made.
    let plan = run(dir.path(), &inv, &w3_spec(), check()).await;
    let r = the_result(&plan);
    assert_eq!(r.status, Status::Changed, "{}", r.result);
    let shown: String = r.diffs.iter().map(|d| format!("{}{}", d.before, d.after)).collect();
    for line in ["absent", "cores: 4", "dev0: /dev/dri/renderD128,gid=993,mode=0660", "features: nesting=1", "tags: gpu;k3s", "status: running"] {
        assert!(shown.contains(line), "the plan misses '{line}':\n{shown}");
    }
    assert!(sim.ct(133).is_null(), "check mode created the guest");
    let writes: Vec<_> = sim.requests().into_iter().filter(|(m, p)| m != "GET" && !p.ends_with("/access/ticket")).collect();
    assert!(writes.is_empty(), "check mode wrote: {writes:?}");

    // A guest changed behind hlprov's back: the diff shows the live value and the spec's.
    run(dir.path(), &inv, &w3_spec(), RunOptions::default()).await;
    sim.set(133, json!({"cores": 1, "tags": "gpu"}), None);
    let before = sim.ct(133);
    let drift = run(dir.path(), &inv, &w3_spec(), check()).await;
    let r = the_result(&drift);
    assert_eq!(r.status, Status::Changed);
    let d = r.diffs.iter().find(|d| d.before.contains("cores: 1")).unwrap_or_else(|| panic!("{:?}", r.diffs));
    assert!(d.after.contains("cores: 4") && d.after.contains("tags: gpu;k3s"), "{}", d.after);
    assert_eq!(sim.ct(133), before, "check mode changed the guest");
    // Without --diff the same run shows none.
    let quiet = run(dir.path(), &inv, &w3_spec(), RunOptions { check: true, ..Default::default() }).await;
    assert!(the_result(&quiet).diffs.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_pending_changes_of_a_running_guest_are_applied_by_a_reported_restart() {
    // A running privileged guest without nesting: features stay pending on a running container (PVE's
    // hotplug rules), cores apply at once.
    let mut sim = SimPve::start(json!({"cts": [{"vmid": 133, "hostname": "w3", "status": "running", "config": {"unprivileged": 0, "cores": 2}}]}));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let spec = json!({"vmid": 133, "node": "pve1", "hostname": "w3", "cores": 3, "features": {"nesting": true}});

    let plan = run(dir.path(), &inv, &spec, RunOptions { check: true, diff: true, ..Default::default() }).await;
    let shown: String = the_result(&plan).diffs.iter().map(|d| d.before.clone() + &d.after).collect();
    assert!(shown.contains("(pending: features)"), "the plan says the restart and why:\n{shown}");

    let applied = run(dir.path(), &inv, &spec, RunOptions::default()).await;
    let r = the_result(&applied);
    assert_eq!(r.status, Status::Changed, "{}", r.result);
    assert_eq!(r.result["restarted"], true, "{}", r.result);
    assert!(r.msg.as_deref().unwrap_or_default().contains("restarted to apply pending features"), "{:?}", r.msg);
    let ct = sim.ct(133);
    assert_eq!((text(&ct["config"]["features"]).as_str(), text(&ct["config"]["cores"]).as_str(), &ct["pending"]), ("nesting=1", "3", &json!({})));
    assert_eq!(ct["status"], "running");
    assert!(sim.state()["tasks"].as_array().unwrap().iter().any(|t| t["type"] == "vzreboot" && t["exitstatus"] == "OK"));

    let again = run(dir.path(), &inv, &spec, RunOptions::default()).await;
    assert_eq!(again.total_changed(), 0);
}

/// Run the module with these arguments and return the failure message; the simulation must be unchanged and
/// must have seen no write.
async fn refused(sim: &mut SimPve, dir: &Path, inv: &Path, args: &Value) -> String {
    let before = sim.state();
    let a = run(dir, inv, args, RunOptions::default()).await;
    let r = the_result(&a);
    assert_eq!(r.status, Status::Failed, "{}", r.result);
    let after = sim.state();
    assert_eq!(after["cts"], before["cts"], "a refused run changed the guests");
    let writes: Vec<_> = sim.requests().into_iter().filter(|(m, p)| m != "GET" && !p.ends_with("/access/ticket")).collect();
    assert!(writes.is_empty(), "a refused run wrote: {writes:?}");
    assert_no_secrets(&a, None);
    r.msg.unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_refuses_a_wrong_token_an_unknown_node_a_taken_vmid_and_devn_with_a_token_naming_the_guest() {
    let mut sim = SimPve::start(json!({"cts": [{"vmid": 140, "hostname": "nas-helper"}], "vms": [{"vmid": 300, "name": "windows"}]}));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let token_only = |extra: Value| {
        let mut a = merge(w3_spec(), extra);
        // No password: the token alone (the playbook's api_password is overridden with null).
        a["api_password"] = Value::Null;
        a
    };

    let msg = refused(&mut sim, dir.path(), &inv, &merge(token_only(json!({})), json!({"api_token_secret": "not-the-token-secret"}))).await;
    assert!(msg.starts_with(LABEL) && msg.contains("401") && msg.contains("authentication failure"), "{msg}");
    assert!(msg.contains("wrong or revoked token"), "{msg}");
    assert!(!msg.contains("not-the-token-secret"), "{msg}");

    let msg = refused(&mut sim, dir.path(), &inv, &merge(w3_spec(), json!({"node": "pve9"}))).await;
    assert_eq!(msg, format!("CT 133 (w3) on pve9: node 'pve9' is not a node of the cluster at {} (nodes: pve1)", sim.url));

    let msg = refused(&mut sim, dir.path(), &inv, &merge(w3_spec(), json!({"vmid": 140}))).await;
    assert_eq!(msg, "CT 140 (w3) on pve1: vmid 140 on pve1 is a different guest (hostname 'nas-helper'), not 'w3': refusing to change it");
    let msg = refused(&mut sim, dir.path(), &inv, &merge(w3_spec(), json!({"vmid": 300}))).await;
    assert_eq!(msg, "CT 300 (w3) on pve1: vmid 300 is taken by a qemu guest 'windows' on node pve1");

    // devN needs root@pam: with a token only, and no `pct` on the task's host, nothing is even tried.
    let msg = refused(&mut sim, dir.path(), &inv, &token_only(json!({}))).await;
    assert!(msg.starts_with(LABEL) && msg.contains("dev0, features may only be changed by root@pam") && msg.contains(TOKEN_ID), "{msg}");
    assert!(msg.contains("give api_password for root@pam"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_itself_refuses_devn_from_a_token_as_pve_does() {
    // The rule the module plans around, shown on the simulation directly (hlprov's client, no module): a token
    // (even root@pam's) may not set dev0; a root@pam ticket may. PVE's message is kept.
    use hlprov::pve::{Credentials, PveClient, Trust};
    let sim = SimPve::start(json!({"cts": [{"vmid": 150, "hostname": "gpu", "config": {"unprivileged": 0}}]}));
    let trust = Trust::Fingerprint(hlprov::pve::tls::parse_fingerprint(&sim.fingerprint).unwrap());
    let t = std::time::Duration::from_secs(10);
    let token = PveClient::connect(&sim.url, &trust, &Credentials::Token { id: TOKEN_ID.into(), secret: TOKEN_SECRET.into() }, t).await.unwrap();
    let params = vec![("dev0".to_string(), "/dev/dri/renderD128,gid=993".to_string())];
    let e = token.call::<Value>(hyper::Method::PUT, "/nodes/pve1/lxc/150/config", &params).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "PUT /nodes/pve1/lxc/150/config: 403 Permission check failed (configuring device passthrough is only allowed for root@pam)"
    );
    let root = PveClient::connect(&sim.url, &trust, &Credentials::Password { user: "root@pam".into(), password: PASSWORD.into() }, t).await.unwrap();
    assert!(root.is_root_pam());
    root.call::<Value>(hyper::Method::PUT, "/nodes/pve1/lxc/150/config", &params).await.unwrap();
    // Field errors are kept, per field.
    let bad = vec![("dev0".to_string(), "/dev/dri/renderD128,mode=660".to_string())];
    let e = root.call::<Value>(hyper::Method::PUT, "/nodes/pve1/lxc/150/config", &bad).await.unwrap_err();
    assert!(e.to_string().contains("400 Parameter verification failed.; dev0: ") && e.to_string().contains("dev0.mode"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_failed_create_leaves_nothing_and_says_so() {
    let mut sim = SimPve::start(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let a = run(dir.path(), &inv, &merge(w3_spec(), json!({"ostemplate": "local:vztmpl/missing.tar.zst"})), RunOptions::default()).await;
    let r = the_result(&a);
    assert_eq!(r.status, Status::Failed);
    let msg = r.msg.unwrap_or_default();
    assert!(msg.starts_with(&format!("{LABEL}: creating it failed: task UPID:pve1:")), "{msg}");
    assert!(msg.contains("volume 'local:vztmpl/missing.tar.zst' does not exist") && msg.ends_with("nothing was left behind"), "{msg}");
    assert!(msg.contains("task log:"), "the task's log is part of the error: {msg}");
    assert!(sim.ct(133).is_null());
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_stops_and_destroys_a_guest_and_a_removed_guest_stays_removed() {
    let mut sim = SimPve::start(json!({"cts": [{"vmid": 133, "hostname": "w3", "status": "running"}]}));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let base = json!({"vmid": 133, "node": "pve1", "hostname": "w3"});

    let stopped = run(dir.path(), &inv, &merge(base.clone(), json!({"state": "stopped"})), RunOptions::default()).await;
    assert_eq!(the_result(&stopped).status, Status::Changed);
    assert_eq!(sim.ct(133)["status"], "stopped");
    let restarted = run(dir.path(), &inv, &merge(base.clone(), json!({"state": "restarted"})), RunOptions::default()).await;
    assert_eq!(the_result(&restarted).status, Status::Changed);
    assert_eq!(sim.ct(133)["status"], "running");

    let removed = run(dir.path(), &inv, &merge(base.clone(), json!({"state": "absent"})), RunOptions::default()).await;
    assert_eq!(the_result(&removed).status, Status::Changed, "{}", the_result(&removed).result);
    assert!(sim.ct(133).is_null());
    let again = run(dir.path(), &inv, &merge(base, json!({"state": "absent"})), RunOptions::default()).await;
    assert_eq!(the_result(&again).status, Status::Ok);
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_tls_is_pinned_or_checked_never_skipped() {
    let mut sim = SimPve::start(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let base = json!({"vmid": 133, "node": "pve1", "hostname": "w3", "state": "absent"});

    // The CA file instead of the fingerprint: accepted.
    let ok = run(dir.path(), &inv, &merge(base.clone(), json!({"tls_fingerprint": null, "ca_file": sim.cafile})), RunOptions::default()).await;
    assert_eq!(the_result(&ok).status, Status::Ok, "{:?}", the_result(&ok).msg);
    // Another certificate's fingerprint: refused before any credential is sent.
    let other = "00:".repeat(31) + "00";
    let before = sim.requests().len();
    let bad = run(dir.path(), &inv, &merge(base.clone(), json!({"tls_fingerprint": other})), RunOptions::default()).await;
    let msg = the_result(&bad).msg.unwrap_or_default();
    assert!(msg.contains(&format!("has the SHA-256 fingerprint {}", sim.fingerprint)) && msg.contains("not the pinned 00:00"), "{msg}");
    assert_eq!(sim.requests().len(), before, "a request reached the server through an untrusted connection");
    // Neither: refused, hlprov never trusts any certificate.
    let none = run(dir.path(), &inv, &merge(base, json!({"tls_fingerprint": null})), RunOptions::default()).await;
    assert!(the_result(&none).msg.unwrap_or_default().contains("hlprov never trusts any certificate"));
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_template_is_downloaded_once_and_an_unknown_one_is_refused() {
    let mut sim = SimPve::start(json!({"templates": []}));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let task = |template: &str| {
        format!(
            "- hosts: proxmox\n  gather_facts: false\n  tasks:\n    - name: template\n      proxmox_template:\n        api_url: \"{{{{ pve_url }}}}\"\n        tls_fingerprint: \"{{{{ pve_fingerprint }}}}\"\n        api_token_id: \"{{{{ pve_token_id }}}}\"\n        api_token_secret: \"{{{{ pve_token_secret }}}}\"\n        node: pve1\n        template: {template}\n"
        )
    };
    let first = apply_in(dir.path(), &inv, &[("t.yml", &task(TEMPLATE))], "t.yml", RunOptions::default()).await.unwrap();
    assert_eq!(first.of("template", "pve1")[0].status, Status::Changed, "{:?}", first.of("template", "pve1")[0].msg);
    assert_eq!(sim.state()["volumes"]["local"], json!([format!("vztmpl/{TEMPLATE}")]));
    let second = apply_in(dir.path(), &inv, &[("t.yml", &task(TEMPLATE))], "t.yml", RunOptions::default()).await.unwrap();
    assert_eq!(second.total_changed(), 0);
    let unknown = apply_in(dir.path(), &inv, &[("t.yml", &task("nope_1.0_amd64.tar.zst"))], "t.yml", RunOptions::default()).await.unwrap();
    let msg = unknown.of("template", "pve1")[0].msg.clone().unwrap_or_default();
    assert!(msg.contains("template: no such template"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_tasks_are_followed_to_their_end_with_their_log_on_failure() {
    // Real seconds this time: the start task runs for 2 s after its UPID comes back.
    let mut sim = SimPve::start(json!({
        "time_scale": 1,
        "cts": [
            {"vmid": 133, "hostname": "w3", "start_secs": 2},
            {"vmid": 134, "hostname": "broken", "start_error": "startup for container '134' failed"},
        ],
    }));
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &sim);
    let started = std::time::Instant::now();
    let a = run(dir.path(), &inv, &json!({"vmid": 133, "node": "pve1", "hostname": "w3", "state": "started"}), RunOptions::default()).await;
    assert_eq!(the_result(&a).status, Status::Changed, "{:?}", the_result(&a).msg);
    assert!(started.elapsed() >= std::time::Duration::from_secs(2), "the module did not wait for the task");
    assert_eq!(sim.ct(133)["status"], "running");
    assert_eq!(the_result(&a).result["status"], "running");

    let b = run(dir.path(), &inv, &json!({"vmid": 134, "node": "pve1", "hostname": "broken", "state": "started"}), RunOptions::default()).await;
    let r = the_result(&b);
    assert_eq!(r.status, Status::Failed);
    let msg = r.msg.unwrap_or_default();
    assert!(msg.starts_with("CT 134 (broken) on pve1: task UPID:pve1:") && msg.contains(":vzstart:134:"), "{msg}");
    assert!(msg.contains("failed: startup for container '134' failed") && msg.contains("TASK ERROR: startup for container '134' failed"), "{msg}");
    assert_eq!(r.result["task_log"].as_array().map(|l| l.len() >= 2), Some(true), "{}", r.result);
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_every_kind_of_change_shows_a_diff_in_check_mode_and_none_without_diff() {
    // The API modules' part of tests/modules_check_diff.rs (their kinds are listed there as API_ONLY): for every
    // declared kind, the module's own plan holds it, --check --diff reports it with a non-empty diff and writes
    // nothing, and the same run without --diff shows no diff.
    use common::{TestEnv, run_module};
    use hlprov::modules::{ModuleCtx, registry};
    let conn = hlprov::transport::Connection::new(std::sync::Arc::new(hlprov::transport::local::LocalTransport::new()), "root".into(), None);
    let files = tempfile::tempdir().unwrap();
    let env = TestEnv::new(files.path());
    let ct = |status: &str| json!({"cts": [{"vmid": 133, "hostname": "w3", "status": status, "config": {"cores": 1}}]});
    let base = json!({"vmid": 133, "node": "pve1", "hostname": "w3"});
    let cases: Vec<(&str, &str, Value, Value)> = vec![
        ("proxmox_lxc", "create", json!({"templates": [{"storage": "local", "name": TEMPLATE}]}), merge(w3_spec(), json!({"state": "present"}))),
        ("proxmox_lxc", "config", ct("stopped"), merge(base.clone(), json!({"cores": 2}))),
        ("proxmox_lxc", "start", ct("stopped"), merge(base.clone(), json!({"state": "started"}))),
        ("proxmox_lxc", "stop", ct("running"), merge(base.clone(), json!({"state": "stopped"}))),
        ("proxmox_lxc", "restart", ct("running"), merge(base.clone(), json!({"state": "restarted"}))),
        ("proxmox_lxc", "remove", ct("stopped"), merge(base.clone(), json!({"state": "absent"}))),
        ("proxmox_template", "download", json!({"templates": []}), json!({"node": "pve1", "template": TEMPLATE})),
    ];
    for (module, kind, setup, args) in cases {
        let mut sim = SimPve::start(setup);
        let args = merge(merge(args, sim.token_args()), json!({"api_password": PASSWORD}));
        let m = registry::find(module).unwrap();
        let checked = m.spec().check(args.as_object().unwrap(), false).unwrap_or_else(|e| panic!("{module}/{kind}: {e}"));
        let mut ctx = ModuleCtx::new("pve1", Some(&conn), &env);
        ctx.diff = true;
        let plan = m.plan(&ctx, &checked).await.unwrap_or_else(|e| panic!("{module}/{kind}: planning failed: {e}"));
        let kinds: Vec<&str> = plan.changes.iter().map(|c| c.kind).collect();
        assert!(kinds.contains(&kind), "{module}/{kind}: planned {kinds:?}");
        let before = sim.state();
        let r = run_module(&conn, &env, module, args.clone(), true, true).await.unwrap_or_else(|e| panic!("{module}/{kind}: {e}"));
        assert!(r.changed && !r.failed && !r.skipped, "{module}/{kind}: {:?}", r.to_value());
        assert!(!r.diffs.is_empty() && r.diffs.iter().all(|d| !(d.before.is_empty() && d.after.is_empty())), "{module}/{kind}: {:?}", r.diffs);
        let r = run_module(&conn, &env, module, args, true, false).await.unwrap();
        assert!(r.changed && r.diffs.is_empty(), "{module}/{kind}: a diff without --diff");
        let after = sim.state();
        assert_eq!((&after["cts"], &after["volumes"]), (&before["cts"], &before["volumes"]), "{module}/{kind}: check mode changed the simulation");
        let writes: Vec<_> = sim.requests().into_iter().filter(|(m, p)| m != "GET" && !p.ends_with("/access/ticket")).collect();
        assert!(writes.is_empty(), "{module}/{kind}: check mode wrote {writes:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn simulated_pve_runs_the_api_part_of_the_acceptance_playbook() {
    // playbooks/proxmox-acceptance.yml is for a real node; its API part (create with every option, idempotence,
    // the API's view, the four refusals, removal) must at least hold against the simulation.
    let mut sim = SimPve::start(json!({}));
    let dir = tempfile::tempdir().unwrap();
    let inv = dir.path().join("inv.yml");
    std::fs::write(
        &inv,
        format!(
            "all:\n  children:\n    proxmox:\n      hosts:\n        pve1:\n          ansible_connection: local\n          proxmox_api_url: {}\n          proxmox_api_fingerprint: \"{}\"\n          proxmox_api_token_id: \"{TOKEN_ID}\"\n          proxmox_api_token_secret: {TOKEN_SECRET}\n          proxmox_api_password: {PASSWORD}\n",
            sim.url, sim.fingerprint
        ),
    )
    .unwrap();
    let pb = hlprov::playbook::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/proxmox-acceptance.yml"), &Default::default())
        .expect("it loads");
    let inventory = hlprov::inventory::Inventory::load(&[inv]).unwrap();
    let collector = std::sync::Arc::new(hlprov::report::Collector::default());
    let mut extra = serde_json::Map::new();
    extra.insert("proxmox_acceptance_node".into(), json!("pve1"));
    extra.insert("proxmox_acceptance_on_node".into(), json!(false));
    let opts = RunOptions { extra_vars: extra.into_iter().collect(), ..Default::default() };
    let summary = hlprov::exec::run_playbook(
        std::sync::Arc::new(pb),
        std::sync::Arc::new(inventory),
        opts,
        hlprov::report::Reporter::new(vec![collector.clone()]),
    )
    .await
    .unwrap();
    let events = collector.events.lock().unwrap().clone();
    let a = Applied { summary, events };
    let failed: Vec<String> = a
        .results()
        .iter()
        .filter(|r| r.status == Status::Failed && !r.task.contains("refusal") && r.item.is_none())
        .map(|r| format!("{} {:?}", r.task, r.msg))
        .collect();
    assert_eq!(a.summary.exit_code, 0, "{failed:#?}");
    assert!(a.results().iter().any(|r| r.task.ends_with("Each refusal said what and named the guest") && r.status == Status::Ok));
    assert!(sim.ct(9901).is_null(), "the throw-away container was removed");
    assert!(sim.state()["tasks"].as_array().unwrap().iter().any(|t| t["type"] == "vzcreate"));
}
