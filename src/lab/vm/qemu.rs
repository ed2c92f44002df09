//! One VM is one QEMU process. This file builds its command line (a pure function, so what a VM can reach is
//! readable and tested here) and starts it detached from the terminal, marked as the lab's (see `procs.rs`).
//!
//! Devices: the root disk (a copy-on-write overlay on the lab image), two virtio NICs — the uplink on QEMU's
//! user-mode network, which only forwards SSH from 127.0.0.1:PORT and NATs the VM's own outgoing connections
//! like a home router, and the lab segment on a unix datagram socket to the lab's switch — a balloon that
//! returns freed guest pages to the machine, an RNG, the seed (fw_cfg) and a serial console written to a file.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use super::accel::Accel;
use super::procs::MARKER;
use super::switch;

/// The uplink's MAC; the image's networkd file runs DHCP on the NIC that has it.
pub const UPLINK_MAC: &str = "52:54:00:12:34:56";

/// `quiet` and no spectre mitigations: under TCG every mitigation costs emulated instructions, and the VM runs
/// nothing but the lab's own work.
pub const KERNEL_CMDLINE: &str = "root=/dev/vda rw console=ttyS0 net.ifnames=0 quiet mitigations=off";

/// TCG's translation cache in MiB. QEMU's default (1 GiB) fills up and is most of an idle VM's memory (about
/// 580 MiB RSS measured with 256); at 128 an idle VM holds about 420 MiB; 64 saves another 60 MiB but costs 8%
/// more CPU to boot (code is translated again), 32 costs 40% more.
const TCG_TB_SIZE_MIB: u32 = 128;

/// The CPU TCG emulates: an x86-64-v2 model with AES-NI. `-cpu max` offers AVX2 and more, which glibc then uses
/// and TCG emulates slowly: a boot took 7% more CPU with it (measured side by side).
const TCG_CPU: &str = "Westmere";

/// Everything one VM's command line depends on.
#[derive(Clone, Debug)]
pub struct VmSpec {
    /// QEMU's guest name, and its process name: `hlprov-LAB-HOST`.
    pub vm_name: String,
    pub host: String,
    pub accel: Accel,
    pub memory_mib: u32,
    pub cpus: u32,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub disk: PathBuf,
    pub ssh_port: u16,
    pub lab_mac: String,
    pub seed_dir: PathBuf,
    pub console_log: PathBuf,
    pub pidfile: PathBuf,
}

/// A path inside a QEMU `-opt key=value,…` list: commas are doubled.
pub fn opt_value(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

pub fn argv(spec: &VmSpec) -> Vec<String> {
    let accel = match spec.accel {
        Accel::Kvm => "kvm".to_string(),
        Accel::Tcg => format!("tcg,tb-size={TCG_TB_SIZE_MIB}"),
    };
    let cpu = if spec.accel == Accel::Kvm { "host" } else { TCG_CPU };
    let mut a: Vec<String> = vec![
        "-name".into(),
        format!("guest={},process={}", spec.vm_name, spec.vm_name),
        "-machine".into(),
        "q35".into(),
        "-accel".into(),
        accel,
        "-cpu".into(),
        cpu.into(),
        "-smp".into(),
        spec.cpus.to_string(),
        "-m".into(),
        spec.memory_mib.to_string(),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-display".into(),
        "none".into(),
        "-kernel".into(),
        spec.kernel.display().to_string(),
        "-initrd".into(),
        spec.initrd.display().to_string(),
        "-append".into(),
        KERNEL_CMDLINE.into(),
        "-drive".into(),
        format!("file={},if=virtio,format=qcow2,discard=unmap", opt_value(&spec.disk)),
        "-netdev".into(),
        format!("user,id=uplink,hostfwd=tcp:127.0.0.1:{}-:22", spec.ssh_port),
        "-device".into(),
        format!("virtio-net-pci,netdev=uplink,mac={UPLINK_MAC}"),
        "-netdev".into(),
        format!("dgram,id=lab,local.type=unix,local.path={},remote.type=unix,remote.path={}", switch::vm_socket(&spec.host), switch::SOCKET),
        "-device".into(),
        format!("virtio-net-pci,netdev=lab,mac={}", spec.lab_mac),
        "-device".into(),
        "virtio-balloon-pci,free-page-reporting=on".into(),
        "-device".into(),
        "virtio-rng-pci".into(),
        "-serial".into(),
        format!("file:{}", spec.console_log.display()),
        "-pidfile".into(),
        spec.pidfile.display().to_string(),
    ];
    a.extend(super::seed::fw_cfg_args(&spec.seed_dir));
    a
}

/// Start the VM: working folder `net_dir` (its socket names are relative), marked with the lab folder, in a
/// process group of its own so that a Ctrl-C meant for `hlprov` does not reach it, output to `log`.
pub fn spawn(qemu: &Path, spec: &VmSpec, lab_dir: &Path, net_dir: &Path, log: &Path) -> Result<std::process::Child, String> {
    use std::os::unix::process::CommandExt;
    let out = std::fs::File::create(log).map_err(|e| format!("cannot write {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    std::process::Command::new(qemu)
        .args(argv(spec))
        .current_dir(net_dir)
        .env(MARKER, lab_dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu.display()))
}

/// The VM's disk: a qcow2 overlay whose reads fall through to the lab image, so it holds only what the VM wrote.
pub async fn create_overlay(base: &Path, overlay: &Path) -> Result<(), String> {
    let out = tokio::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(base)
        .arg(overlay)
        .stdin(Stdio::null())
        // An interrupted `up` leaves no qemu-img behind (the VM's host key is written after it, so a later `up`
        // makes this disk again).
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("cannot run qemu-img (apt-get install qemu-utils): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("qemu-img create {} failed: {}", overlay.display(), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(accel: Accel) -> VmSpec {
        VmSpec {
            vm_name: "hlprov-t-h1".into(),
            host: "h1".into(),
            accel,
            memory_mib: 1024,
            cpus: 1,
            kernel: "/c/vmlinuz".into(),
            initrd: "/c/initrd.img".into(),
            disk: "/lab,x/vm/h1/disk.qcow2".into(),
            ssh_port: 40022,
            lab_mac: "52:54:00:77:00:0b".into(),
            seed_dir: "/lab/vm/h1/seed".into(),
            console_log: "/lab/vm/h1/console.log".into(),
            pidfile: "/lab/vm/h1/qemu.pid".into(),
        }
    }

    #[test]
    fn network_is_ssh_on_loopback_and_a_unix_socket_segment_only() {
        let a = argv(&spec(Accel::Tcg));
        let netdevs: Vec<&String> = a.iter().zip(a.iter().skip(1)).filter(|(k, _)| *k == "-netdev").map(|(_, v)| v).collect();
        assert_eq!(netdevs.len(), 2);
        assert_eq!(netdevs[0], "user,id=uplink,hostfwd=tcp:127.0.0.1:40022-:22", "SSH forwarded from loopback only");
        assert_eq!(netdevs[1], "dgram,id=lab,local.type=unix,local.path=h1.sock,remote.type=unix,remote.path=switch.sock");
        let all = a.join(" ");
        for banned in ["mcast", "tap", "bridge", "0.0.0.0", "hostfwd=tcp::", "guestfwd"] {
            assert!(!all.contains(banned), "{banned} in {all}");
        }
    }

    #[test]
    fn accelerator_cpu_and_paths() {
        let tcg = argv(&spec(Accel::Tcg)).join(" ");
        assert!(tcg.contains("-accel tcg,tb-size=128 -cpu Westmere"));
        let kvm = argv(&spec(Accel::Kvm)).join(" ");
        assert!(kvm.contains("-accel kvm -cpu host"));
        assert!(kvm.contains("file=/lab,,x/vm/h1/disk.qcow2,if=virtio"), "commas in paths are escaped: {kvm}");
        assert!(kvm.contains("-name guest=hlprov-t-h1,process=hlprov-t-h1"));
    }
}
