//! playbooks/site.yml's proxmox_lxc phase (roles/proxmox_lxc) against a simulated Proxmox VE API (fakepve, see
//! tests/pve_sim) with two lab containers: h1 stands in for the node's shell (SSH, /etc/pve/lxc/VMID.conf as PVE
//! writes it when it creates a guest) and h2 for the guest's SSH (what the guest's inventory entry reaches).
//!
//! What it proves: the guest's spec is composed from its host_vars and profiles and reaches the API, the template
//! is ensured, the raw lines land in the node's VMID.conf, the guest is started and waited for over SSH, its render
//! group gets the GPU's gid, a second run changes nothing, --check --diff changes nothing, and the gate checks what
//! it says — it fails on h2 because a Docker container is no LXC guest with a GPU and /dev/kmsg, and says so per
//! probe (the probes pass in real LXC: tests/proxmox_lxc_vm.rs). The node's kernel tasks need a kernel of their own
//! and are run on a VM there too; `pct` is not on h1, so root@pam's ticket sets the root-only options here.

mod common;
mod pve_sim;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Applied, TestLab};
use hlprov::exec::RunOptions;
use hlprov::report::{PhaseStatus, Status};
use pve_sim::{PASSWORD, SimPve, TEMPLATE, TOKEN_ID, TOKEN_SECRET};
use serde_json::json;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn inventory(dir: &Path, lab: &TestLab, sim: &SimPve) -> PathBuf {
    use hlprov::secrets::sops_file::{self, EncryptOptions};
    unsafe {
        std::env::set_var("SOPS_AGE_KEY_FILE", repo("tests/fixtures/sops/keys/age-flux-test.txt"));
        std::env::remove_var("SOPS_AGE_KEY");
    }
    let inv = dir.join("inventory");
    std::fs::create_dir_all(inv.join("group_vars/proxmox")).unwrap();
    std::fs::create_dir_all(inv.join("host_vars")).unwrap();
    std::fs::write(
        inv.join("hosts.yml"),
        format!(
            "all:\n  children:\n    proxmox:\n      hosts:\n        pve1: {{ansible_host: 127.0.0.1, ansible_port: {}}}\n    lxc_guests:\n      hosts:\n        w3: {{ansible_host: 127.0.0.1, ansible_port: {}}}\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: {}\n    ansible_ssh_common_args: -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes\n",
            lab.host("h1").port,
            lab.host("h2").port,
            lab.key_file.display(),
            lab.known_hosts.display()
        ),
    )
    .unwrap();
    std::fs::write(
        inv.join("group_vars/proxmox/main.yml"),
        format!(
            "proxmox_api_url: {}\nproxmox_api_fingerprint: \"{}\"\nproxmox_api_token_id: \"{TOKEN_ID}\"\n\
             # h1 is a container: its kernel is the machine's (the VM test runs these on a kernel of its own).\n\
             proxmox_lxc_node_kernel: false\n\
             # h1 has no GPU; the gid the guest's render group gets is given.\nproxmox_lxc_gpu_gid: 993\n\
             proxmox_lxc_root_authorized_keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHlprovExampleKey test@hlprov\"]\n\
             proxmox_lxc_ssh_wait_delay: 1\n",
            sim.url, sim.fingerprint
        ),
    )
    .unwrap();
    let opts =
        EncryptOptions { recipients: vec!["age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29".into()], rules: Default::default() };
    let secrets = format!("proxmox_api_token_secret: {TOKEN_SECRET}\nproxmox_api_password: {PASSWORD}\n");
    std::fs::write(
        inv.join("group_vars/proxmox/secrets.sops.yml"),
        sops_file::encrypt_text(&secrets, hlprov::secrets::Format::Yaml, "s", &opts).unwrap(),
    )
    .unwrap();
    std::fs::write(
        inv.join("host_vars/w3.yml"),
        "proxmox_node: pve1\nproxmox_vmid: 133\nproxmox_lxc_profiles: [k3s, gpu]\nproxmox_lxc:\n  cores: 4\n  memory: 4096\n  swap: 0\n  rootfs: local-lvm:8\n  unprivileged: false\n  net: [\"name=eth0,bridge=vmbr0,ip=10.0.0.33/24,gw=10.0.0.1\"]\n  onboot: true\n  tags: [k3s, gpu]\n",
    )
    .unwrap();
    inv
}

async fn site(inv: &Path, opts: RunOptions) -> Applied {
    let pb = hlprov::playbook::load(&repo("playbooks/site.yml"), &Default::default()).expect("site.yml loads");
    let mut inventory = hlprov::inventory::Inventory::load(&[inv.to_path_buf()]).expect("inventory");
    inventory.add_playbook_vars_dir(&pb.dir).unwrap();
    let collector = Arc::new(hlprov::report::Collector::default());
    let reporter = hlprov::report::Reporter::new(vec![collector.clone()]);
    let summary = hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inventory), opts, reporter).await.expect("no preflight error");
    let events = collector.events.lock().unwrap().clone();
    Applied { summary, events }
}

fn failures(a: &Applied) -> Vec<String> {
    a.results().iter().filter(|r| r.status == Status::Failed).map(|r| format!("{} | {} | {:?} | {}", r.host, r.task, r.msg, r.result)).collect()
}

/// PVE writes /etc/pve/lxc/VMID.conf on the node when it creates a guest; the stand-in node gets one in that format.
const CONF: &str = "arch: amd64\ncores: 4\nhostname: w3\nmemory: 4096\nostype: debian\nrootfs: local-lvm:vm-133-disk-0,size=8G\nswap: 0\n";

#[tokio::test(flavor = "multi_thread")]
async fn proxmox_lxc_phase_makes_the_guest_from_its_host_vars_on_a_simulated_pve_and_its_gate_checks_each_profile() {
    let mut sim = SimPve::start(json!({"templates": []}));
    let lab = TestLab::start(2).await;
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path(), &lab, &sim);
    let (rc, _) = lab.docker_exec("h1", &format!("mkdir -p /etc/pve/lxc && printf '{}' > /etc/pve/lxc/133.conf", CONF.replace('\n', "\\n"))).await;
    assert_eq!(rc, 0);
    let conf_before = lab.docker_exec("h1", "cat /etc/pve/lxc/133.conf").await.1;

    // --check --diff first: the whole plan, nothing made.
    let plan = site(&inv, RunOptions { check: true, diff: true, ..Default::default() }).await;
    let made: Vec<String> = plan.results().iter().filter(|r| r.host == "pve1" && r.status == Status::Changed).map(|r| r.task.clone()).collect();
    for task in ["The container template is on the node's storage", "w3: exists with its config", "w3: runs"] {
        assert!(made.iter().any(|t| t.ends_with(task)), "the plan misses {task}: {made:#?}\n{:#?}", failures(&plan));
    }
    assert!(sim.ct(133).is_null() && sim.state()["volumes"]["local"] == json!([]), "check mode made something");

    // Apply.
    let first = site(&inv, RunOptions::default()).await;
    let phase = |a: &Applied, p: &str| a.summary.record.phase(p).and_then(|x| x.status);
    // The tasks all ran; the gate fails on the probes only (h2 is a container, not a GPU guest).
    let task_failures: Vec<String> =
        first.results().iter().filter(|r| r.status == Status::Failed && !r.gate).map(|r| format!("{} {:?}", r.task, r.msg)).collect();
    assert!(task_failures.is_empty(), "{task_failures:#?}");
    assert_eq!(phase(&first, "proxmox_lxc"), Some(PhaseStatus::GateFailed), "{:#?}", failures(&first));
    assert_eq!(phase(&first, "base"), Some(PhaseStatus::Blocked), "a failed gate blocks what needs it");

    // The simulation holds the guest as host_vars and profiles say.
    let ct = sim.ct(133);
    assert_eq!(ct["status"], "running");
    let cfg = &ct["config"];
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    assert_eq!(text(&cfg["hostname"]), "w3");
    assert_eq!(text(&cfg["cores"]), "4");
    assert_eq!(text(&cfg["features"]), "nesting=1", "the k3s profile's nesting (no keyctl: the guest is privileged)");
    assert!(cfg.get("unprivileged").is_none_or(|u| text(u) == "0"));
    assert!(cfg.get("dev0").is_none(), "no pve-container on h1: auto chose the raw style, no devN");
    assert_eq!(sim.state()["volumes"]["local"], json!([format!("vztmpl/{TEMPLATE}")]), "the template was downloaded");

    // The raw lines are in the node's VMID.conf: the k3s profile's, then the GPU's (raw style), after the options.
    let conf = lab.docker_exec("h1", "cat /etc/pve/lxc/133.conf").await.1;
    assert_eq!(
        conf,
        format!(
            "{conf_before}lxc.apparmor.profile: unconfined\nlxc.cgroup2.devices.allow: a\nlxc.cap.drop: \nlxc.mount.auto: proc:rw sys:rw\n\
             lxc.mount.entry: /dev/kmsg dev/kmsg none bind,optional,create=file\nlxc.cgroup2.devices.allow: c 226:* rwm\n\
             lxc.mount.entry: /dev/dri dev/dri none bind,optional,create=dir\n"
        )
    );
    // The guest was reached over SSH and its render group has the GPU's gid.
    assert_eq!(lab.docker_exec("h2", "getent group render | cut -d: -f3").await.1.trim(), "993");

    // The gate: config, raw lines and SSH hold; each profile's probe fails here, saying what is missing.
    let gate: Vec<_> = first.results().into_iter().filter(|r| r.gate && r.host == "pve1").collect();
    let status_of = |name: &str| gate.iter().filter(|r| r.task.ends_with(name) && r.item.is_none()).map(|r| r.status).collect::<Vec<_>>();
    assert_eq!(status_of("w3: nothing differs from the spec"), [Status::Ok], "{gate:#?}");
    assert_eq!(status_of("w3: answers over SSH"), [Status::Ok]);
    let profiles = gate.iter().find(|r| r.task.ends_with("w3: its profiles hold inside it")).expect("the profiles were checked");
    assert_eq!(profiles.status, Status::Failed);
    let msg = profiles.msg.clone().unwrap_or_default();
    assert!(msg.starts_with("w3 (CT 133 on pve1): gpu profile: /dev/dri/renderD128 is missing."), "{msg}");
    assert!(
        msg.contains("k3s profile: /dev/kmsg is missing (kubelet opens it); /proc/sys is not writable"),
        "both probes ran and both are reported: {msg}"
    );

    // Second run: nothing changes.
    let second = site(&inv, RunOptions::default()).await;
    let changed: Vec<String> = second.results().iter().filter(|r| r.status == Status::Changed).map(|r| format!("{} {}", r.host, r.task)).collect();
    assert!(changed.is_empty(), "{changed:#?}");
    // And --check --diff on the converged guest plans nothing and writes nothing.
    let before = sim.state();
    let check = site(&inv, RunOptions { check: true, diff: true, ..Default::default() }).await;
    assert_eq!(
        check.total_changed(),
        0,
        "{:#?}",
        check.results().iter().filter(|r| r.status == Status::Changed).map(|r| &r.task).collect::<Vec<_>>()
    );
    assert_eq!(sim.state()["cts"], before["cts"]);

    // Nothing the runs said holds a credential.
    let said = serde_json::to_string(&[&first.events, &second.events, &check.events]).unwrap();
    assert!(!said.contains(TOKEN_SECRET) && !said.contains(PASSWORD), "a credential reached the output");
}
