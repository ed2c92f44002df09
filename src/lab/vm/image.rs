//! The VM lab's disk image, from Debian packages only: debootstrap makes a root file system with systemd, sshd
//! and Debian's standard kernel, plus what the site roles install (so a converge under TCG does not spend
//! minutes in apt); a few files make it a lab host; `mke2fs -d` and `qemu-img convert` turn it into a qcow2
//! base that every VM uses through its own copy-on-write overlay. The kernel and initramfs are kept beside it
//! for QEMU's direct kernel boot. Built once and cached; the folder's name carries a hash of the recipe below,
//! so changing the recipe builds a new image.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use sha2::{Digest, Sha256};

use crate::lab::image::{HOSTKEY_UNIT, SSHD_DROP_IN, is_root, which};

pub const SUITE: &str = "bookworm";
/// Bump to rebuild images for a reason the recipe text does not show (e.g. a fix in the build steps).
const RECIPE_VERSION: &str = "1";
/// The virtual disk's size; the qcow2 base and overlays take only what is written.
const DISK_SIZE: &str = "8G";

const PACKAGES: &[&str] = &[
    // A bootable Debian host reachable over SSH, with its own kernel.
    "systemd",
    "systemd-sysv",
    "dbus",
    "udev",
    "kmod",
    "linux-image-amd64",
    "initramfs-tools",
    "openssh-server",
    "sudo",
    "iproute2",
    "iputils-ping",
    "procps",
    "ca-certificates",
    // What roles/base and roles/longhorn_prereqs install: present already, so a converge checks them and moves on.
    "curl",
    "gnupg",
    "jq",
    "nfs-common",
    "open-iscsi",
    "tzdata",
    "cryptsetup",
    "util-linux",
    "gawk",
    "systemd-timesyncd",
];

/// Modules the initramfs needs to mount the root disk; a short list keeps it small and quick to unpack under TCG.
const INITRAMFS_MODULES: &[&str] = &["virtio_pci", "virtio_blk", "ext4"];

/// Units a disposable lab VM does not need: the timers would start apt or disk scrubs in the middle of a test
/// run (under TCG that is minutes of CPU), wait-online would hold boot for a network that is already there.
const MASKED_UNITS: &[&str] = &[
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "e2scrub_reap.service",
    "fstrim.timer",
    "systemd-networkd-wait-online.service",
    "getty@tty1.service",
];
const ENABLED_UNITS: &[&str] = &["systemd-networkd.service", "hlprov-seed.service", "hlprov-hostkeys.service"];

/// The VM's identity, read once at first boot from QEMU's fw_cfg (see `seed.rs` for what the lab puts there).
const SEED_SCRIPT: &str = r#"#!/bin/sh
# hlprov lab: give this VM its hostname, lab address and SSH keys, once, at first boot. They come from QEMU's
# fw_cfg (opt/org.hlprov/*), readable only by root inside the VM.
set -eu
modprobe qemu_fw_cfg
seed=/sys/firmware/qemu_fw_cfg/by_name/opt/org.hlprov
if [ ! -d "$seed" ]; then echo "hlprov-seed: this VM was started without a seed"; exit 0; fi
get() { cat "$seed/$1/raw"; }
umask 022
get hostname > /etc/hostname
hostname "$(cat /etc/hostname)"
get hosts >> /etc/hosts
get network > /etc/systemd/network/20-hlprov-lab.network
umask 077
mkdir -p /root/.ssh
get authorized_keys > /root/.ssh/authorized_keys
get ssh_host_ed25519_key > /etc/ssh/ssh_host_ed25519_key
umask 022
get ssh_host_ed25519_key.pub > /etc/ssh/ssh_host_ed25519_key.pub
mkdir -p /var/lib/hlprov
touch /var/lib/hlprov/seeded
"#;

const SEED_UNIT: &str = "\
[Unit]
Description=hlprov lab: hostname, lab address and SSH keys from the VM's seed (first boot)
DefaultDependencies=no
After=local-fs.target systemd-remount-fs.service
Before=systemd-networkd.service ssh.service hlprov-hostkeys.service network-pre.target
Wants=network-pre.target
ConditionPathExists=!/var/lib/hlprov/seeded

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/hlprov-seed

[Install]
WantedBy=sysinit.target
";

/// Files written into the root file system: (path, mode, contents).
fn files() -> Vec<(&'static str, u32, String)> {
    let modules = INITRAMFS_MODULES.iter().map(|m| format!("{m}\n")).collect::<String>();
    vec![
        ("etc/ssh/sshd_config.d/10-hlprov-lab.conf", 0o644, SSHD_DROP_IN.into()),
        ("etc/systemd/system/hlprov-hostkeys.service", 0o644, HOSTKEY_UNIT.into()),
        ("etc/systemd/system/hlprov-seed.service", 0o644, SEED_UNIT.into()),
        ("usr/local/sbin/hlprov-seed", 0o755, SEED_SCRIPT.into()),
        // No fsck pass: the disk is a fresh overlay, and fsck costs seconds under TCG.
        ("etc/fstab", 0o644, "/dev/vda / ext4 rw,noatime,errors=remount-ro 0 0\n".into()),
        ("etc/hostname", 0o644, "hlprov-vm\n".into()),
        ("etc/hosts", 0o644, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n".into()),
        // QEMU's user-mode network: its DNS forwarder, and DHCP on the uplink (the MAC `qemu.rs` gives it).
        ("etc/resolv.conf", 0o644, "nameserver 10.0.2.3\n".into()),
        (
            "etc/systemd/network/10-hlprov-uplink.network",
            0o644,
            "[Match]\nMACAddress=52:54:00:12:34:56\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n".into(),
        ),
        // Time comes from the machine's clock (the VM's RTC); NTP only to the machine itself (10.0.2.2 is its
        // loopback through QEMU's user-mode network), never to servers on the internet.
        ("etc/systemd/timesyncd.conf.d/10-hlprov-lab.conf", 0o644, "[Time]\nNTP=10.0.2.2\nFallbackNTP=\n".into()),
        // Every VM gets its own machine id and iSCSI initiator name at first boot, not the image's.
        ("etc/machine-id", 0o444, String::new()),
        ("etc/iscsi/initiatorname.iscsi", 0o600, "GenerateName=yes\n".into()),
        ("etc/initramfs-tools/conf.d/hlprov.conf", 0o644, "MODULES=list\n".into()),
        ("etc/initramfs-tools/modules", 0o644, modules),
    ]
}

/// Everything that decides the image's content, as text: its hash names the image.
pub fn recipe() -> String {
    let mut r = format!("hlprov vm image recipe {RECIPE_VERSION}\nsuite {SUITE}\ndisk {DISK_SIZE}\npackages {}\n", PACKAGES.join(","));
    r.push_str(&format!("masked {}\nenabled {}\n", MASKED_UNITS.join(","), ENABLED_UNITS.join(",")));
    for (path, mode, text) in files() {
        r.push_str(&format!("--- {path} {mode:o}\n{text}"));
    }
    r
}

pub fn recipe_id() -> String {
    hex::encode(&Sha256::digest(recipe().as_bytes())[..6])
}

/// A built image: the qcow2 base and the kernel and initramfs to boot it with.
#[derive(Clone, Debug)]
pub struct VmImage {
    pub dir: PathBuf,
    pub base: PathBuf,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

impl VmImage {
    fn at(dir: PathBuf) -> VmImage {
        VmImage { base: dir.join("base.qcow2"), kernel: dir.join("vmlinuz"), initrd: dir.join("initrd.img"), dir }
    }
    fn complete(&self) -> bool {
        self.base.is_file() && self.kernel.is_file() && self.initrd.is_file()
    }
}

/// Where images are built: `HLPROV_CACHE_DIR`, else /var/cache/hlprov for root, else the user's cache folder.
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("HLPROV_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if is_root() {
        return PathBuf::from("/var/cache/hlprov");
    }
    let user_cache =
        std::env::var_os("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")));
    user_cache.unwrap_or_else(std::env::temp_dir).join("hlprov")
}

/// Folders that may hold an image: where this user builds, and the machine's cache (an image root built is
/// usable by everyone).
fn search_roots() -> Vec<PathBuf> {
    let mut roots = vec![cache_root()];
    if std::env::var_os("HLPROV_CACHE_DIR").is_none() && roots[0] != Path::new("/var/cache/hlprov") {
        roots.push(PathBuf::from("/var/cache/hlprov"));
    }
    roots
}

fn image_dir(root: &Path) -> PathBuf {
    root.join("vm").join(format!("{SUITE}-{}", recipe_id()))
}

/// The current recipe's image, if it was built.
pub fn find() -> Option<VmImage> {
    search_roots().into_iter().map(|r| VmImage::at(image_dir(&r))).find(VmImage::complete)
}

/// The current image, built first if needed (a few minutes, once; needs root).
pub async fn ensure(say: &dyn Fn(&str)) -> Result<VmImage, String> {
    if let Some(image) = find() {
        return Ok(image);
    }
    let root = cache_root();
    let vm_dir = root.join("vm");
    std::fs::create_dir_all(&vm_dir).map_err(|e| format!("cannot create {}: {e}", vm_dir.display()))?;
    // One build at a time per cache; whoever waited finds the image done.
    let lock = std::fs::File::create(vm_dir.join(".build.lock")).map_err(|e| e.to_string())?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|_| lock)).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    if let Some(image) = find() {
        return Ok(image);
    }
    let image = build(&root, say).await?;
    prune(&vm_dir, &image.dir, say);
    drop(lock);
    Ok(image)
}

async fn build(root: &Path, say: &dyn Fn(&str)) -> Result<VmImage, String> {
    if !is_root() {
        return Err(
            "building the VM image needs root (debootstrap creates device nodes and chroots): run `sudo hlprov lab image --driver vm` once".into()
        );
    }
    for (tool, package) in [("debootstrap", "debootstrap"), ("mke2fs", "e2fsprogs"), ("qemu-img", "qemu-utils"), ("chroot", "coreutils")] {
        if which(tool).is_none() {
            return Err(format!("{tool} is not installed: apt-get install {package}"));
        }
    }
    let final_dir = image_dir(root);
    let work = tempfile::Builder::new().prefix(".build-").tempdir_in(root.join("vm")).map_err(|e| e.to_string())?;
    let rootfs = work.path().join("rootfs");
    let mirror = std::env::var("HLPROV_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());

    say(&format!("building the VM image {} with debootstrap (about 3 minutes, once)", final_dir.display()));
    run(
        "debootstrap",
        tokio::process::Command::new("debootstrap")
            .args(["--variant=minbase", &format!("--include={}", PACKAGES.join(",")), SUITE])
            .arg(&rootfs)
            .arg(&mirror),
    )
    .await?;

    say("VM image: lab files, units, initramfs");
    customise(&rootfs).map_err(|e| format!("preparing the image's files: {e}"))?;
    let mut enable = vec!["enable"];
    enable.extend(ENABLED_UNITS);
    let mut mask = vec!["mask"];
    mask.extend(MASKED_UNITS);
    run("systemctl enable", tokio::process::Command::new("chroot").arg(&rootfs).arg("systemctl").args(&enable)).await?;
    run("systemctl mask", tokio::process::Command::new("chroot").arg(&rootfs).arg("systemctl").args(&mask)).await?;
    run("update-initramfs", tokio::process::Command::new("chroot").arg(&rootfs).args(["update-initramfs", "-u", "-k", "all"])).await?;
    let boot = rootfs.join("boot");
    std::fs::copy(only_file(&boot, "vmlinuz-")?, work.path().join("vmlinuz")).map_err(|e| e.to_string())?;
    std::fs::copy(only_file(&boot, "initrd.img-")?, work.path().join("initrd.img")).map_err(|e| e.to_string())?;

    say("VM image: ext4 file system and qcow2 base");
    let raw = work.path().join("disk.raw");
    run("truncate", tokio::process::Command::new("truncate").args(["-s", DISK_SIZE]).arg(&raw)).await?;
    run("mke2fs", tokio::process::Command::new("mke2fs").args(["-q", "-F", "-t", "ext4", "-L", "hlprov-root", "-d"]).arg(&rootfs).arg(&raw)).await?;
    run("qemu-img convert", tokio::process::Command::new("qemu-img").args(["convert", "-O", "qcow2"]).arg(&raw).arg(work.path().join("base.qcow2")))
        .await?;
    std::fs::remove_file(&raw).map_err(|e| e.to_string())?;
    std::fs::remove_dir_all(&rootfs).map_err(|e| format!("cannot remove {}: {e}", rootfs.display()))?;
    std::fs::write(work.path().join("recipe.txt"), recipe()).map_err(|e| e.to_string())?;
    let work = work.keep();
    std::fs::rename(&work, &final_dir).map_err(|e| format!("cannot move {} to {}: {e}", work.display(), final_dir.display()))?;
    Ok(VmImage::at(final_dir))
}

fn customise(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Host keys come from the lab (first boot) or, without a seed, are made at boot: never shared by VMs.
    for entry in std::fs::read_dir(root.join("etc/ssh"))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            std::fs::remove_file(entry.path())?;
        }
    }
    for (path, mode, text) in files() {
        let target = root.join(path);
        std::fs::create_dir_all(target.parent().unwrap_or(root))?;
        let _ = std::fs::remove_file(&target);
        std::fs::write(&target, text)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
    }
    let dbus_id = root.join("var/lib/dbus/machine-id");
    let _ = std::fs::remove_file(&dbus_id);
    std::os::unix::fs::symlink("/etc/machine-id", &dbus_id)?;
    let ssh_dir = root.join("root/.ssh");
    std::fs::create_dir_all(&ssh_dir)?;
    std::fs::set_permissions(&ssh_dir, std::fs::Permissions::from_mode(0o700))?;
    // Downloaded packages only make the image bigger; apt's lists and caches stay (apt is slow to rebuild them under TCG).
    for entry in std::fs::read_dir(root.join("var/cache/apt/archives"))?.flatten() {
        if entry.path().extension().is_some_and(|e| e == "deb") {
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// The one file in `dir` whose name starts with `prefix` (the kernel, the initramfs).
fn only_file(dir: &Path, prefix: &str) -> Result<PathBuf, String> {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!("expected one {prefix}* in {}, found {}", dir.display(), found.len())),
    }
}

async fn run(what: &str, cmd: &mut tokio::process::Command) -> Result<(), String> {
    let out = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).output().await.map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).rev().take(5).collect();
    Err(format!("{what} failed ({}): {}", out.status, tail.into_iter().rev().collect::<Vec<_>>().join(" | ")))
}

/// Remove images of older recipes that no running process uses (a VM's QEMU holds its base open).
fn prune(vm_dir: &Path, keep: &Path, say: &dyn Fn(&str)) {
    let Ok(entries) = std::fs::read_dir(vm_dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        if path == keep || !name.starts_with(&format!("{SUITE}-")) || !path.is_dir() || in_use(&path) {
            continue;
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            say(&format!("removed the image of an older recipe: {}", path.display()));
        }
    }
}

fn in_use(dir: &Path) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else { return true };
    procs.flatten().any(|p| {
        std::fs::read_dir(p.path().join("fd"))
            .is_ok_and(|fds| fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.starts_with(dir))))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipe_names_the_image_and_covers_packages_and_files() {
        let r = recipe();
        assert!(r.contains("linux-image-amd64") && r.contains("open-iscsi"));
        assert!(r.contains("--- usr/local/sbin/hlprov-seed 755\n#!/bin/sh"));
        assert_eq!(recipe_id().len(), 12);
        assert_eq!(recipe_id(), recipe_id(), "stable");
    }

    #[test]
    fn the_image_carries_no_identity_of_its_own() {
        let f = files();
        let get = |p: &str| f.iter().find(|(path, _, _)| *path == p).map(|(_, _, t)| t.clone()).unwrap();
        assert_eq!(get("etc/machine-id"), "", "each VM makes its own machine id");
        assert_eq!(get("etc/iscsi/initiatorname.iscsi"), "GenerateName=yes\n");
        assert!(!get("etc/systemd/timesyncd.conf.d/10-hlprov-lab.conf").contains("pool.ntp.org"));
    }
}
