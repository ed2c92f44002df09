//! `hlprov lab --driver vm`: disposable Debian VMs on QEMU, each with its own kernel, so that the strict half of
//! every gate (kernel modules, sysctls, iscsid) really runs. KVM when it works, TCG otherwise (`accel.rs`).
//!
//! A VM lab is processes and files only: one QEMU per VM and one switch process (`switch.rs`), every file in the
//! lab folder (`.hlprov/lab/NAME/`: `vm.json`, keys, inventory, `net/` sockets, `vm/HOST/` disk overlay, seed,
//! logs). Each process carries the lab folder in its environment (`procs.rs`), so `down` finds all of them —
//! also after a crash or a Ctrl-C of `up` — and then removes the folder: nothing is left on the machine.
//!
//! Network: SSH to each VM on a 127.0.0.1 port (QEMU's user-mode `hostfwd`), and a private Ethernet segment
//! between the lab's VMs (10.77.0.0/24) made of unix datagram sockets, which never touches the machine's network.

pub mod accel;
pub mod image;
pub mod procs;
pub mod qemu;
pub mod seed;
pub mod state;
pub mod switch;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{HostStatus, Lab, LabHost, LabUi, Removed};
use crate::transport::ssh::SshTransport;
use crate::transport::{Transport, keys};
use state::VmHostState;

pub const DEFAULT_MEMORY_MIB: u32 = 1024;
pub const DEFAULT_CPUS: u32 = 1;

/// What `lab up --driver vm` should make.
#[derive(Clone, Debug)]
pub struct VmOptions {
    pub name: String,
    pub hosts: usize,
    /// Where lab state lives (`.hlprov/lab` by default); the lab's own folder is `<dir>/<name>`.
    pub dir: PathBuf,
    pub memory_mib: u32,
    pub cpus: u32,
    /// The hlprov binary that runs the switch (`hlprov lab switch`); the running executable when None.
    pub exe: Option<PathBuf>,
}

/// Is the lab in `lab_dir` a VM lab? (`up` writes its state file before it starts anything.)
pub fn is_vm_lab(lab_dir: &Path) -> bool {
    lab_dir.join(state::FILE).exists()
}

/// Bad input, said before anything starts.
pub fn check_options(opts: &VmOptions) -> Result<(), String> {
    super::validate_name(&opts.name)?;
    if opts.hosts == 0 || opts.hosts > seed::MAX_HOST_NUMBER {
        return Err(format!("--hosts must be between 1 and {} for VMs, not {}", seed::MAX_HOST_NUMBER, opts.hosts));
    }
    if !(256..=262_144).contains(&opts.memory_mib) {
        return Err(format!("--memory must be between 256 and 262144 MiB, not {}", opts.memory_mib));
    }
    if !(1..=64).contains(&opts.cpus) {
        return Err(format!("--cpus must be between 1 and 64, not {}", opts.cpus));
    }
    Ok(())
}

/// Bring the VM lab up: build the image if needed, choose KVM or TCG, start the switch and every VM that is not
/// running, wait until each answers over SSH with systemd up, and write the inventory. Running it again starts
/// only what stopped.
pub async fn up(opts: &VmOptions, ui: &dyn LabUi) -> Result<Lab, String> {
    check_options(opts)?;
    let dir = super::absolute(&super::lab_dir(&opts.dir, &opts.name))?;
    if !is_vm_lab(&dir) && (dir.join("inventory.yml").exists() || dir.join("host_keys").read_dir().is_ok_and(|mut d| d.next().is_some())) {
        return Err(format!(
            "lab {} is a container lab ({}): choose another --name, or remove it first with `hlprov lab down --name {}`",
            opts.name,
            dir.display(),
            opts.name
        ));
    }
    let qemu = accel::find_qemu()?;
    if super::image::which("qemu-img").is_none() {
        return Err("qemu-img is not installed: apt-get install --no-install-recommends qemu-utils".into());
    }
    let image = image::ensure(&|m| ui.step(m)).await?;
    match start_lab(opts, ui, &qemu, &image, &dir).await {
        Err(e) if dir.exists() => Err(format!("{e}\n(`hlprov lab down --name {}` removes what was started)", opts.name)),
        other => other,
    }
}

async fn start_lab(opts: &VmOptions, ui: &dyn LabUi, qemu: &Path, image: &image::VmImage, dir: &Path) -> Result<Lab, String> {
    let (net_dir, vm_dir) = (dir.join("net"), dir.join("vm"));
    for d in [dir.to_path_buf(), dir.join("host_keys"), net_dir.clone(), vm_dir.clone()] {
        create_private_dir(&d)?;
    }
    let mut state = state::load(dir)?.unwrap_or_default();
    let running = procs::of_lab(dir);
    let any_vm_running = running.iter().any(|p| !p.is_switch());
    if state.image != image.dir && any_vm_running {
        return Err(format!(
            "lab {} runs on an older VM image ({}); `hlprov lab down --name {}` first, then up again",
            opts.name,
            state.image.display(),
            opts.name
        ));
    }
    if state.accel.is_empty() || !any_vm_running {
        let choice = accel::choose(qemu, Some(&image::cache_root().join("vm"))).await?;
        state.accel = choice.accel.as_str().into();
        state.accel_reason = choice.reason;
    }
    let accel = accel::Accel::parse(&state.accel).unwrap_or(accel::Accel::Tcg);
    // Stopped VMs of an older image (its recipe changed; the old base may be gone) start afresh on the new one.
    let image_changed = !state.image.as_os_str().is_empty() && state.image != image.dir;
    state.image = image.dir.clone();
    // Recorded before anything starts: from here on, `down` knows this is a VM lab.
    state::save(dir, &state)?;
    let notes = vec![format!("accelerator {} ({})", state.accel, state.accel_reason)];
    ui.step(&format!("lab {}: {}", opts.name, notes[0]));

    let key_file = dir.join("id_ed25519");
    let public_key = super::ensure_key_pair(&key_file)?;
    if !running.iter().any(procs::LabProcess::is_switch) {
        start_switch(opts, dir, &net_dir).await?;
    }

    // Hosts an earlier, larger `up` made are kept (and listed); `down` removes them.
    let mut names: Vec<String> = (1..=opts.hosts).map(|i| format!("h{i}")).collect();
    for h in &state.hosts {
        if !names.contains(&h.name) {
            names.push(h.name.clone());
        }
    }
    names.sort_by_key(|n| seed::host_number(n).unwrap_or(usize::MAX));
    let all_hosts: Vec<(String, String)> = names.iter().filter_map(|n| Some((n.clone(), seed::lab_address(seed::host_number(n)?)))).collect();

    let new = names.iter().filter(|n| !state.hosts.iter().any(|h| &h.name == *n)).count();
    ui.step(&format!("lab {}: {} VM(s), {new} new with {} MiB and {} vCPU each", opts.name, names.len(), opts.memory_mib, opts.cpus));
    let mut started = Vec::new();
    let mut created = Vec::new();
    let mut restarted = Vec::new();
    for name in &names {
        let vm_name = super::machine_name(&opts.name, name);
        if running.iter().any(|p| p.label() == vm_name) {
            continue;
        }
        let n = seed::host_number(name).ok_or_else(|| format!("{name} is not a host name this lab gives"))?;
        let known = state.hosts.iter().find(|h| &h.name == name).cloned();
        let host = known.clone().unwrap_or_else(|| VmHostState {
            name: name.clone(),
            port: 0,
            address: seed::lab_address(n),
            mac: seed::lab_mac(n),
            memory_mib: opts.memory_mib,
            cpus: opts.cpus,
        });
        let host_dir = vm_dir.join(name);
        let disk = host_dir.join("disk.qcow2");
        let fresh = image_changed || !disk.exists() || !dir.join("host_keys").join(format!("{name}.pub")).exists();
        if fresh {
            prepare_disk_and_seed(image, dir, &host_dir, &host, &all_hosts, &public_key).await?;
            created.push(name.clone());
        } else {
            restarted.push(name.clone());
        }
        let (vm, child) = start_vm(qemu, image, accel, dir, &net_dir, &host_dir, &vm_name, host, known.map(|k| k.port)).await?;
        state.hosts.retain(|h| h.name != vm.name);
        state.hosts.push(vm.clone());
        state.hosts.sort_by_key(|h| seed::host_number(&h.name).unwrap_or(usize::MAX));
        state::save(dir, &state)?;
        started.push((vm.name.clone(), child));
    }

    let known_hosts = dir.join("known_hosts");
    let mut kh = String::new();
    for h in &state.hosts {
        let public = std::fs::read_to_string(dir.join("host_keys").join(format!("{}.pub", h.name))).map_err(|e| e.to_string())?;
        kh.push_str(&format!("[127.0.0.1]:{} {}\n", h.port, public.trim()));
    }
    super::write_if_changed(&known_hosts, &kh)?;

    ui.step(&format!("waiting for {} VM(s) to boot (under {} about a minute each)", state.hosts.len(), state.accel));
    let deadline = if accel == accel::Accel::Kvm { Duration::from_secs(300) } else { Duration::from_secs(900) };
    let mut waits = Vec::new();
    for h in &state.hosts {
        let cfg = super::lab_ssh_config(h.port, &key_file, &known_hosts);
        let child = started.iter().position(|(n, _)| n == &h.name).map(|i| started.remove(i).1);
        let (name, host_dir) = (h.name.clone(), vm_dir.join(&h.name));
        waits.push(tokio::spawn(async move { (name.clone(), wait_booted(cfg, child, &host_dir, deadline).await) }));
    }
    let mut failures = Vec::new();
    for w in waits {
        let (name, result) = w.await.map_err(|e| e.to_string())?;
        match result {
            Ok(took) => ui.step(&format!("{name}: ready ({} s)", took.as_secs())),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    if !failures.is_empty() {
        return Err(failures.join("\n"));
    }

    let hosts: Vec<LabHost> = state
        .hosts
        .iter()
        .map(|h| LabHost { name: h.name.clone(), machine: super::machine_name(&opts.name, &h.name), port: h.port, address: Some(h.address.clone()) })
        .collect();
    let inventory = dir.join("inventory.yml");
    super::write_if_changed(&inventory, &super::inventory_text(&opts.name, super::Driver::Vm, &hosts, &key_file, &known_hosts))?;
    Ok(Lab { name: opts.name.clone(), hosts, key_file, known_hosts, inventory, created, restarted, notes })
}

fn create_private_dir(d: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    // Sockets, keys and disks: only the lab's owner may reach them.
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).map_err(|e| format!("cannot restrict {}: {e}", d.display()))
}

async fn start_switch(opts: &VmOptions, dir: &Path, net_dir: &Path) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let exe = match &opts.exe {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|e| format!("cannot find the hlprov executable for the lab's switch: {e}"))?,
    };
    let log = std::fs::File::create(net_dir.join("switch.log")).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(net_dir.join(switch::SOCKET));
    let mut child = std::process::Command::new(&exe)
        .args(["lab", "switch", "--dir"])
        .arg(net_dir)
        .env(procs::MARKER, dir)
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| format!("cannot start the lab's switch ({}): {e}", exe.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if net_dir.join(switch::SOCKET).exists() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(net_dir.join("switch.log")).unwrap_or_default();
            return Err(format!("the lab's switch exited ({status}): {}", log.trim()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(format!("the lab's switch did not create {} within 10 s", net_dir.join(switch::SOCKET).display()))
}

/// A new VM's disk overlay, host key and seed.
async fn prepare_disk_and_seed(
    image: &image::VmImage,
    dir: &Path,
    host_dir: &Path,
    host: &VmHostState,
    all_hosts: &[(String, String)],
    authorized_key: &str,
) -> Result<(), String> {
    if host_dir.exists() {
        std::fs::remove_dir_all(host_dir).map_err(|e| format!("cannot remove {}: {e}", host_dir.display()))?;
    }
    create_private_dir(host_dir)?;
    qemu::create_overlay(&image.base, &host_dir.join("disk.qcow2")).await?;
    let host_key = keys::generate_ed25519(&format!("root@{}", host.name));
    let (private, public) = keys::encode(&host_key);
    let seed = seed::Seed {
        hostname: format!("{}\n", host.name),
        hosts: seed::hosts_lines(all_hosts),
        network: seed::network_file(&host.mac, &host.address),
        authorized_keys: format!("{}\n", authorized_key.trim()),
        host_key: private,
        host_key_pub: format!("{public}\n"),
    };
    seed.write(&host_dir.join("seed"))?;
    super::write_if_changed(&dir.join("host_keys").join(format!("{}.pub", host.name)), &format!("{public}\n"))
}

/// Start one VM's QEMU on a free 127.0.0.1 port (its earlier port if that is still free). QEMU cannot be told
/// to pick a port itself, so a port another program takes in between makes QEMU exit at once: try another.
#[allow(clippy::too_many_arguments)]
async fn start_vm(
    qemu: &Path,
    image: &image::VmImage,
    accel: accel::Accel,
    dir: &Path,
    net_dir: &Path,
    host_dir: &Path,
    vm_name: &str,
    mut host: VmHostState,
    earlier_port: Option<u16>,
) -> Result<(VmHostState, std::process::Child), String> {
    let _ = std::fs::remove_file(net_dir.join(switch::vm_socket(&host.name)));
    let _ = std::fs::remove_file(host_dir.join("qemu.pid"));
    let mut last = String::new();
    for attempt in 0..5 {
        let port = match earlier_port.filter(|p| attempt == 0 && port_is_free(*p)) {
            Some(p) => p,
            None => free_port()?,
        };
        host.port = port;
        let spec = qemu::VmSpec {
            vm_name: vm_name.to_string(),
            host: host.name.clone(),
            accel,
            memory_mib: host.memory_mib,
            cpus: host.cpus,
            kernel: image.kernel.clone(),
            initrd: image.initrd.clone(),
            disk: host_dir.join("disk.qcow2"),
            ssh_port: port,
            lab_mac: host.mac.clone(),
            seed_dir: host_dir.join("seed"),
            console_log: host_dir.join("console.log"),
            pidfile: host_dir.join("qemu.pid"),
        };
        let log = host_dir.join("qemu.log");
        let mut child = qemu::spawn(qemu, &spec, dir, net_dir, &log)?;
        // QEMU has set up its devices (and bound the port) once it wrote its pid file.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                last = format!("QEMU exited ({status}): {}", tail(&log, 5));
                break;
            }
            if spec.pidfile.exists() || Instant::now() > deadline {
                return Ok((host, child));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !last.contains("host forwarding") {
            break;
        }
    }
    Err(format!("{}: {last}", host.name))
}

fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("no free port on 127.0.0.1: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// The last `n` non-empty lines of a log file, joined for an error message.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    if lines.is_empty() { format!("{} is empty", path.display()) } else { lines[start..].join(" | ") }
}

/// Wait until the VM answers over SSH and systemd has finished booting (`is-system-running --wait`). A QEMU this
/// call started is watched: if it exits, say so with its log and console at once instead of waiting out the deadline.
async fn wait_booted(
    cfg: crate::transport::ssh::SshConfig,
    mut child: Option<std::process::Child>,
    host_dir: &Path,
    limit: Duration,
) -> Result<Duration, String> {
    let start = Instant::now();
    let mut last = String::from("no answer yet");
    while start.elapsed() < limit {
        if let Some(Ok(Some(status))) = child.as_mut().map(|c| c.try_wait()) {
            return Err(format!(
                "QEMU exited ({status}): {}; console: {}",
                tail(&host_dir.join("qemu.log"), 3),
                tail(&host_dir.join("console.log"), 5)
            ));
        }
        // QEMU accepts on the forwarded port at once and holds the connection until the VM answers, so first
        // wait (cheaply, in short tries) for sshd's banner; then log in once, with time for a busy VM.
        if !ssh_banner(cfg.port, Duration::from_secs(2)).await {
            last = "sshd does not answer yet".into();
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let mut cfg = cfg.clone();
        cfg.connect_timeout = Duration::from_secs(30);
        let t = SshTransport::new(cfg);
        let left = limit.saturating_sub(start.elapsed()).min(Duration::from_secs(60));
        match t.run("systemctl is-system-running --wait", None, Some(left)).await {
            Ok(out) => {
                let state = out.stdout_text().trim().to_string();
                if state == "running" || state == "degraded" {
                    t.close().await;
                    return Ok(start.elapsed());
                }
                last = format!("systemd is {state}");
            }
            Err(e) => last = e.to_string(),
        }
        t.close().await;
        // An SSH login costs an emulated VM real CPU: do not knock too often while it boots.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(format!("not ready after {} s: {last}; console: {}", limit.as_secs(), tail(&host_dir.join("console.log"), 5)))
}

/// Does an SSH server greet on 127.0.0.1:`port` within `wait`?
async fn ssh_banner(port: u16, wait: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let Ok(Ok(mut stream)) = tokio::time::timeout(wait, tokio::net::TcpStream::connect(("127.0.0.1", port))).await else { return false };
    let mut greeting = [0u8; 4];
    matches!(tokio::time::timeout(wait, stream.read_exact(&mut greeting)).await, Ok(Ok(_))) && &greeting == b"SSH-"
}

/// Stop every process of the lab and remove its folder.
pub async fn down(lab_dir: &Path) -> Result<Removed, String> {
    let stopped = stop_all(lab_dir).await?;
    let mut removed = Removed { driver: super::Driver::Vm, ..Default::default() };
    for p in stopped {
        if p.is_switch() {
            removed.network = true;
        } else {
            removed.machines.push(p.label());
        }
    }
    if lab_dir.exists() {
        std::fs::remove_dir_all(lab_dir).map_err(|e| format!("cannot remove {}: {e}", lab_dir.display()))?;
        removed.state_dir = Some(lab_dir.to_path_buf());
    }
    Ok(removed)
}

/// Stop every process of the lab in `lab_dir` (VMs and switch); returns what was stopped.
pub async fn stop_all(lab_dir: &Path) -> Result<Vec<procs::LabProcess>, String> {
    stop_where(lab_dir, |_| true).await
}

/// After an interrupted `up`: stop the processes this process started (its children), keep the rest.
pub async fn stop_started_here(lab_dir: &Path) -> Result<Vec<procs::LabProcess>, String> {
    let me = std::process::id() as i32;
    stop_where(lab_dir, move |p| p.ppid == me).await
}

async fn stop_where(lab_dir: &Path, pick: impl Fn(&procs::LabProcess) -> bool + Send + 'static) -> Result<Vec<procs::LabProcess>, String> {
    let lab_dir = lab_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let found: Vec<procs::LabProcess> = procs::of_lab(&lab_dir).into_iter().filter(|p| pick(p)).collect();
        let stuck = procs::stop(&found, Duration::from_secs(5));
        if stuck.is_empty() {
            Ok(found)
        } else {
            Err(format!("could not stop {}", stuck.iter().map(|p| format!("{} (pid {})", p.label(), p.pid)).collect::<Vec<_>>().join(", ")))
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Each VM of the lab: running or not, its port, and whether SSH answers.
pub async fn status(name: &str, lab_dir: &Path) -> Result<Vec<HostStatus>, String> {
    let Some(state) = state::load(lab_dir)? else { return Ok(Vec::new()) };
    let running = procs::of_lab(lab_dir);
    let (key, kh) = (lab_dir.join("id_ed25519"), lab_dir.join("known_hosts"));
    let mut out = Vec::new();
    for h in &state.hosts {
        let vm_name = super::machine_name(name, &h.name);
        let up = running.iter().any(|p| p.label() == vm_name);
        let ssh = if up { super::ssh_check(h.port, &key, &kh, Duration::from_secs(15)).await } else { Err("not running (stopped)".into()) };
        out.push(HostStatus { machine: vm_name, state: if up { "running".into() } else { "stopped".into() }, port: up.then_some(h.port), ssh });
    }
    Ok(out)
}
