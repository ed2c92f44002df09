//! `hlprov lab`: disposable Debian hosts to try hlprov on and to test it, with one of two drivers:
//! containers (this file, `docker.rs`, `image.rs`: systemd as PID 1, real sshd, the machine's kernel) or VMs
//! (`vm/`: QEMU, each VM with its own kernel). Both give the same contract: hosts h1..hN reachable over SSH on
//! 127.0.0.1 ports, an inventory whose path `up` prints last, `down` removing everything the lab made.
//! Everything a container lab creates carries the label `org.hlprov.lab=NAME`, so `down` removes exactly that.
//! State (SSH key, known_hosts, inventory) lives in `.hlprov/lab/NAME/`.

pub mod docker;
pub mod image;
pub mod vm;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::transport::ssh::{SshConfig, SshTransport};
use crate::transport::{HostKeyPolicy, Transport, keys};

pub use image::{HOST_IMAGE, PYTHON_IMAGE};

/// What a lab's hosts are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Driver {
    /// systemd containers on the local Docker engine, sharing the machine's kernel.
    #[default]
    Container,
    /// QEMU VMs, each with its own kernel.
    Vm,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Container => "container",
            Driver::Vm => "vm",
        }
    }
    /// What the inventory calls a host's container or VM.
    fn inventory_key(self) -> &'static str {
        match self {
            Driver::Container => "lab_container",
            Driver::Vm => "lab_vm",
        }
    }
}

/// What `lab up` should make (containers; VMs take `vm::VmOptions`).
#[derive(Clone, Debug)]
pub struct LabOptions {
    pub name: String,
    pub hosts: usize,
    /// Where lab state lives (`.hlprov/lab` by default); the lab's own folder is `<dir>/<name>`.
    pub dir: PathBuf,
    pub image: String,
}

/// One lab host as the inventory sees it.
#[derive(Clone, Debug)]
pub struct LabHost {
    pub name: String,
    /// The container's or VM's name (`hlprov-LAB-HOST`).
    pub machine: String,
    pub port: u16,
    /// Address on the lab's own network, for traffic between hosts.
    pub address: Option<String>,
}

/// A lab that is up.
#[derive(Clone, Debug)]
pub struct Lab {
    pub name: String,
    pub hosts: Vec<LabHost>,
    pub key_file: PathBuf,
    pub known_hosts: PathBuf,
    pub inventory: PathBuf,
    /// Hosts this call created (empty when the lab was already up).
    pub created: Vec<String>,
    /// Hosts that existed, stopped, and this call started again (VMs; with their disk, address and host key).
    pub restarted: Vec<String>,
    /// Lines worth telling the user (e.g. which accelerator the VMs use and why).
    pub notes: Vec<String>,
}

/// Progress reporting for long lab steps.
pub trait LabUi: Send + Sync {
    fn step(&self, msg: &str);
}

/// Prints nothing (tests).
pub struct Quiet;
impl LabUi for Quiet {
    fn step(&self, _: &str) {}
}

pub fn lab_dir(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// A host's container or VM name.
pub fn machine_name(lab: &str, host: &str) -> String {
    format!("hlprov-{lab}-{host}")
}

fn container_name(lab: &str, host: &str) -> String {
    machine_name(lab, host)
}

fn network_name(lab: &str) -> String {
    format!("hlprov-lab-{lab}")
}

/// Lab and host names become container and network names: keep them to what Docker accepts.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok { Ok(()) } else { Err(format!("lab name '{name}' must be 1-40 letters, digits, '-' or '_', starting with a letter or digit")) }
}

/// How many containers a lab may have.
pub fn check_hosts(hosts: usize) -> Result<(), String> {
    if hosts == 0 || hosts > 500 { Err(format!("--hosts must be between 1 and 500, not {hosts}")) } else { Ok(()) }
}

/// Bring the lab up: build the image if needed, create missing hosts, start stopped ones, wait until every
/// host answers over SSH with systemd running, and write the inventory. Running it again changes nothing.
pub async fn up(opts: &LabOptions, ui: &dyn LabUi) -> Result<Lab, String> {
    validate_name(&opts.name)?;
    check_hosts(opts.hosts)?;
    if vm::is_vm_lab(&lab_dir(&opts.dir, &opts.name)) {
        return Err(format!(
            "lab {} is a VM lab: use `--driver vm`, choose another --name, or remove it first with `hlprov lab down --name {}`",
            opts.name, opts.name
        ));
    }
    let docker = docker::connect().await?;
    image::ensure(&docker, &opts.image, opts.image == PYTHON_IMAGE, &|m| ui.step(m)).await?;
    if let Some(warning) = inotify_warning(opts.hosts) {
        ui.step(&warning);
    }

    let dir = absolute(&lab_dir(&opts.dir, &opts.name))?;
    std::fs::create_dir_all(dir.join("host_keys")).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let key_file = dir.join("id_ed25519");
    let public_key = ensure_key_pair(&key_file)?;
    ensure_network(&docker, &opts.name).await?;

    let existing: HashMap<String, String> = docker::list_labelled(&docker, docker::LAB_LABEL, &opts.name).await?.into_iter().collect();
    let wanted: Vec<String> = (1..=opts.hosts).map(|i| format!("h{i}")).collect();
    // Hosts beyond --hosts that an earlier, larger `up` made are kept (and listed): `down` removes them.
    let mut names = wanted.clone();
    for c in existing.keys() {
        if let Some(h) = c.strip_prefix(&format!("hlprov-{}-", opts.name)) {
            if !names.iter().any(|n| n == h) {
                names.push(h.to_string());
            }
        }
    }
    names.sort_by_key(|n| n.trim_start_matches('h').parse::<u32>().unwrap_or(u32::MAX));

    ui.step(&format!("lab {}: {} host(s)", opts.name, names.len()));
    let docker = Arc::new(docker);
    let limit = Arc::new(tokio::sync::Semaphore::new(8));
    let mut jobs = Vec::new();
    for host in names.clone() {
        let (docker, limit, dir, lab) = (docker.clone(), limit.clone(), dir.clone(), opts.name.clone());
        let state = existing.get(&container_name(&lab, &host)).cloned();
        let (image, public_key) = (opts.image.clone(), public_key.clone());
        jobs.push(tokio::spawn(async move {
            let _permit = limit.acquire().await;
            ensure_host(&docker, &lab, &host, &image, state.as_deref(), &dir, &public_key).await
        }));
    }
    let mut hosts = Vec::new();
    let mut created = Vec::new();
    for job in jobs {
        let (host, was_created) = job.await.map_err(|e| e.to_string())??;
        if was_created {
            created.push(host.name.clone());
        }
        hosts.push(host);
    }

    let known_hosts = dir.join("known_hosts");
    let mut kh = String::new();
    for h in &hosts {
        let public = std::fs::read_to_string(dir.join("host_keys").join(format!("{}.pub", h.name))).map_err(|e| e.to_string())?;
        kh.push_str(&format!("[127.0.0.1]:{} {}\n", h.port, public.trim()));
    }
    write_if_changed(&known_hosts, &kh)?;

    ui.step("waiting for sshd and systemd on every host");
    let mut waits = Vec::new();
    for h in &hosts {
        let cfg = lab_ssh_config(h.port, &key_file, &known_hosts);
        let name = h.name.clone();
        waits.push(tokio::spawn(async move { wait_ready(cfg).await.map_err(|e| format!("{name}: {e}")) }));
    }
    for w in waits {
        w.await.map_err(|e| e.to_string())??;
    }

    let inventory = dir.join("inventory.yml");
    write_if_changed(&inventory, &inventory_text(&opts.name, Driver::Container, &hosts, &key_file, &known_hosts))?;
    Ok(Lab { name: opts.name.clone(), hosts, key_file, known_hosts, inventory, created, restarted: Vec::new(), notes: Vec::new() })
}

/// systemd in each container takes several inotify instances; with the kernel's default limit (128), hosts
/// beyond about 25 never finish booting. Say so before it happens.
fn inotify_warning(hosts: usize) -> Option<String> {
    let limit: usize = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances").ok()?.trim().parse().ok()?;
    (hosts * 8 > limit).then(|| {
        format!(
            "warning: fs.inotify.max_user_instances is {limit}; {hosts} systemd hosts may not all boot. Raise it: sysctl -w fs.inotify.max_user_instances=8192"
        )
    })
}

/// SSH settings for reaching a lab host from this machine.
pub fn lab_ssh_config(port: u16, key_file: &Path, known_hosts: &Path) -> SshConfig {
    let mut cfg = SshConfig::new("127.0.0.1", port, "root");
    cfg.identity_files = vec![key_file.to_path_buf()];
    cfg.known_hosts = vec![known_hosts.to_path_buf()];
    cfg.host_key_policy = HostKeyPolicy::Strict;
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.connect_retries = 0;
    cfg
}

/// Wait (up to a minute) until SSH works and systemd reports the system running.
pub async fn wait_ready(cfg: SshConfig) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let t = SshTransport::new(cfg.clone());
        match t.run("systemctl is-system-running", None, Some(Duration::from_secs(10))).await {
            Ok(out) => {
                let state = out.stdout_text().trim().to_string();
                if state == "running" || state == "degraded" {
                    t.close().await;
                    return Ok(());
                }
                last = format!("systemd is {state}");
            }
            Err(e) => last = e.to_string(),
        }
        t.close().await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(format!("not ready after 60s: {last}"))
}

async fn ensure_host(
    docker: &docker::Client,
    lab: &str,
    host: &str,
    image_tag: &str,
    state: Option<&str>,
    dir: &Path,
    authorized_key: &str,
) -> Result<(LabHost, bool), String> {
    let container = container_name(lab, host);
    let pub_file = dir.join("host_keys").join(format!("{host}.pub"));
    let mut created = false;
    let usable = state.is_some() && pub_file.exists();
    if !usable {
        if state.is_some() {
            // Its host key was lost with the lab folder: recreate rather than trust an unknown key.
            docker::remove(docker, &container).await?;
        }
        let host_key = keys::generate_ed25519(&format!("root@{host}"));
        let (private, public) = keys::encode(&host_key);
        let labels = [(docker::LAB_LABEL.to_string(), lab.to_string())].into_iter().collect();
        let body = docker::host_container_body(image_tag, host, labels, Some(&network_name(lab)));
        docker::create(docker, &container, body).await?;
        let files = host_files(&private, &public, authorized_key);
        docker::upload(docker, &container, &files).await?;
        write_if_changed(&pub_file, &format!("{public}\n"))?;
        created = true;
    }
    if created || state != Some("running") {
        docker.start_container(&container, None).await.map_err(docker::explain)?;
    }
    let port = docker::ssh_port(docker, &container).await?;
    let address = docker::address_on(docker, &container, &network_name(lab)).await;
    Ok((LabHost { name: host.to_string(), machine: container, port, address }, created))
}

/// The files that make a container a host we can reach: its own host key, and our key for root.
pub fn host_files(host_private: &str, host_public: &str, authorized_key: &str) -> Vec<docker::FileSpec> {
    vec![
        ("/etc/ssh/ssh_host_ed25519_key".into(), 0o600, host_private.as_bytes().to_vec()),
        ("/etc/ssh/ssh_host_ed25519_key.pub".into(), 0o644, format!("{host_public}\n").into_bytes()),
        ("/root/.ssh/authorized_keys".into(), 0o600, format!("{}\n", authorized_key.trim()).into_bytes()),
    ]
}

async fn ensure_network(docker: &docker::Client, lab: &str) -> Result<(), String> {
    let name = network_name(lab);
    if docker.inspect_network(&name, None).await.is_ok() {
        return Ok(());
    }
    let labels = [(docker::LAB_LABEL.to_string(), lab.to_string())].into_iter().collect();
    let req = bollard::models::NetworkCreateRequest { name: name.clone(), labels: Some(labels), ..Default::default() };
    docker.create_network(req).await.map_err(docker::explain)?;
    Ok(())
}

/// The lab's client key, created once (0600); returns the public key line.
pub(crate) fn ensure_key_pair(path: &Path) -> Result<String, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let pub_path = path.with_extension("pub");
    if path.exists() && pub_path.exists() {
        return std::fs::read_to_string(&pub_path).map(|s| s.trim().to_string()).map_err(|e| e.to_string());
    }
    let key = keys::generate_ed25519("hlprov-lab");
    let (private, public) = keys::encode(&key);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::io::Write::write_all(&mut f, private.as_bytes()).map_err(|e| e.to_string())?;
    std::fs::write(&pub_path, format!("{public}\n")).map_err(|e| e.to_string())?;
    Ok(public)
}

fn inventory_text(lab: &str, driver: Driver, hosts: &[LabHost], key: &Path, known_hosts: &Path) -> String {
    let up = if driver == Driver::Vm { format!("--driver vm --name {lab}") } else { format!("--name {lab}") };
    let mut s = format!(
        "# Written by `hlprov lab up {up}`; `hlprov lab down --name {lab}` removes the lab and this file.\n\
         all:\n  children:\n    lab:\n      hosts:\n"
    );
    for h in hosts {
        s.push_str(&format!("        {}:\n          ansible_host: 127.0.0.1\n          ansible_port: {}\n", h.name, h.port));
        if let Some(a) = &h.address {
            s.push_str(&format!("          lab_address: {a}\n"));
        }
        s.push_str(&format!("          {}: {}\n", driver.inventory_key(), h.machine));
    }
    s.push_str(&format!(
        "  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: {}\n    ansible_ssh_common_args: -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes\n",
        key.display(),
        known_hosts.display()
    ));
    s
}

pub(crate) fn write_if_changed(path: &Path, text: &str) -> Result<(), String> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

pub(crate) fn absolute(p: &Path) -> Result<PathBuf, String> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(std::env::current_dir().map_err(|e| e.to_string())?.join(p))
}

/// What `down` removed.
#[derive(Debug, Default)]
pub struct Removed {
    pub driver: Driver,
    /// Containers or VMs.
    pub machines: Vec<String>,
    /// The lab's Docker network, or its VMs' switch.
    pub network: bool,
    pub state_dir: Option<PathBuf>,
}

/// The driver of the lab in `lab_dir`, if it has a folder (`vm/` labs write theirs before starting anything).
pub fn detect_driver(lab_dir: &Path) -> Option<Driver> {
    if vm::is_vm_lab(lab_dir) {
        Some(Driver::Vm)
    } else if lab_dir.exists() {
        Some(Driver::Container)
    } else {
        None
    }
}

/// Remove the lab: its containers and network, or its VMs' processes; then its state folder. Shared images are
/// kept. Without `driver`, the lab folder says which; without a folder, whatever is left of either kind goes.
pub async fn down(name: &str, dir: &Path, driver: Option<Driver>) -> Result<Removed, String> {
    validate_name(name)?;
    let lab = absolute(&lab_dir(dir, name))?;
    match driver.or_else(|| detect_driver(&lab)) {
        Some(Driver::Vm) => vm::down(&lab).await,
        Some(Driver::Container) => down_containers(name, dir).await,
        None => {
            let vms = vm::down(&lab).await?;
            if !vms.machines.is_empty() || vms.network {
                return Ok(vms);
            }
            down_containers(name, dir).await
        }
    }
}

async fn down_containers(name: &str, dir: &Path) -> Result<Removed, String> {
    let docker = docker::connect().await?;
    let mut removed = Removed::default();
    for (container, _) in docker::list_labelled(&docker, docker::LAB_LABEL, name).await? {
        docker::remove(&docker, &container).await?;
        removed.machines.push(container);
    }
    if docker.inspect_network(&network_name(name), None).await.is_ok() {
        docker.remove_network(&network_name(name)).await.map_err(docker::explain)?;
        removed.network = true;
    }
    let state = lab_dir(dir, name);
    if state.exists() {
        std::fs::remove_dir_all(&state).map_err(|e| format!("cannot remove {}: {e}", state.display()))?;
        removed.state_dir = Some(state);
    }
    Ok(removed)
}

/// One host's health as `lab status` reports it.
#[derive(Debug)]
pub struct HostStatus {
    /// The container's or VM's name.
    pub machine: String,
    pub state: String,
    pub port: Option<u16>,
    /// Ok(round-trip) when SSH answered with a command, else why not.
    pub ssh: Result<Duration, String>,
}

/// Does SSH answer with a command? Ok(round trip) or why not.
pub(crate) async fn ssh_check(port: u16, key: &Path, known_hosts: &Path, timeout: Duration) -> Result<Duration, String> {
    let t = SshTransport::new(lab_ssh_config(port, key, known_hosts));
    let start = Instant::now();
    let r = t.run("true", None, Some(timeout)).await;
    t.close().await;
    match r {
        Ok(o) if o.success() => Ok(start.elapsed()),
        Ok(o) => Err(format!("command failed with rc {}", o.rc())),
        Err(e) => Err(e.to_string()),
    }
}

/// Each host of the lab: running or not, its port, whether SSH answers. The lab folder says which driver.
pub async fn status(name: &str, dir: &Path, driver: Option<Driver>) -> Result<Vec<HostStatus>, String> {
    validate_name(name)?;
    let lab = absolute(&lab_dir(dir, name))?;
    if driver.or_else(|| detect_driver(&lab)) == Some(Driver::Vm) {
        return vm::status(name, &lab).await;
    }
    let docker = docker::connect().await?;
    let state_dir = absolute(&lab_dir(dir, name))?;
    let (key, kh) = (state_dir.join("id_ed25519"), state_dir.join("known_hosts"));
    let mut out = Vec::new();
    for (container, state) in docker::list_labelled(&docker, docker::LAB_LABEL, name).await? {
        let port = docker::ssh_port(&docker, &container).await.ok();
        let ssh = match port {
            None => Err(format!("not running ({state})")),
            Some(port) => ssh_check(port, &key, &kh, Duration::from_secs(5)).await,
        };
        out.push(HostStatus { machine: container, state, port, ssh });
    }
    Ok(out)
}
