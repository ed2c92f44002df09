//! Building the lab's host image locally: no registry is needed (or reachable). debootstrap makes a minimal
//! Debian with systemd and sshd; a few files make it a good SSH test host; `docker import` turns it into an image.

use std::path::Path;
use std::process::Stdio;

use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;

use super::docker::{self, Client};

/// The image every lab host and test host runs.
pub const HOST_IMAGE: &str = "hlprov-host:bookworm";
/// The same plus python3, only for running ansible-core and pyinfra in the benchmark.
pub const PYTHON_IMAGE: &str = "hlprov-host:bookworm-python";
/// Bumped whenever the recipe below changes, so older images are rebuilt.
pub const RECIPE_VERSION: &str = "1";
const RECIPE_LABEL: &str = "org.hlprov.recipe";

const BASE_PACKAGES: &str = "systemd,systemd-sysv,dbus,openssh-server,sudo,iproute2,procps,kmod,ca-certificates";

/// sshd settings for a lab host: one host key (uploaded per container, or given to a VM at first boot), key-only
/// root login.
pub(crate) const SSHD_DROP_IN: &str = "\
# Written by hlprov's lab image recipe.
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxSessions 64
";

/// Generates a host key at boot if none was put in the container or VM (one started by hand from the image).
pub(crate) const HOSTKEY_UNIT: &str = "\
[Unit]
Description=Generate SSH host keys if missing (hlprov lab image)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N \"\" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
";

/// Does `tag` exist, built by the current recipe?
pub async fn is_current(docker: &Client, tag: &str) -> bool {
    match docker.inspect_image(tag).await {
        Ok(img) => img.config.and_then(|c| c.labels).and_then(|l| l.get(RECIPE_LABEL).cloned()).as_deref() == Some(RECIPE_VERSION),
        Err(_) => false,
    }
}

/// Build `tag` unless it is already there and current. `with_python` adds python3 (benchmark peers need it).
pub async fn ensure(docker: &Client, tag: &str, with_python: bool, say: &dyn Fn(&str)) -> Result<(), String> {
    if is_current(docker, tag).await {
        return Ok(());
    }
    say(&format!("building image {tag} with debootstrap (about a minute, once)"));
    build(docker, tag, with_python).await
}

async fn build(docker: &Client, tag: &str, with_python: bool) -> Result<(), String> {
    if !is_root() {
        return Err("building the host image needs root (debootstrap creates device nodes and chroots)".into());
    }
    if which("debootstrap").is_none() {
        return Err("debootstrap is not installed: apt-get install debootstrap".into());
    }
    let mirror = std::env::var("HLPROV_DEBIAN_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".into());
    let root = tempfile::Builder::new().prefix("hlprov-rootfs-").tempdir_in("/var/tmp").map_err(|e| e.to_string())?;
    let mut include = BASE_PACKAGES.to_string();
    if with_python {
        include.push_str(",python3,python3-apt");
    }
    let status = tokio::process::Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={include}"), "bookworm"])
        .arg(root.path())
        .arg(&mirror)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| format!("cannot run debootstrap: {e}"))?;
    if !status.status.success() {
        let err = String::from_utf8_lossy(&status.stderr);
        return Err(format!("debootstrap failed ({}): {}", status.status, err.lines().rev().take(5).collect::<Vec<_>>().join(" | ")));
    }
    customise(root.path()).map_err(|e| format!("preparing the image's files: {e}"))?;
    import(docker, root.path(), tag).await
}

fn customise(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(root.join("etc/ssh"))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("ssh_host_") {
            std::fs::remove_file(entry.path())?;
        }
    }
    std::fs::write(root.join("etc/ssh/sshd_config.d/10-hlprov-lab.conf"), SSHD_DROP_IN)?;
    std::fs::write(root.join("etc/systemd/system/hlprov-hostkeys.service"), HOSTKEY_UNIT)?;
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    std::fs::create_dir_all(&wants)?;
    let link = wants.join("hlprov-hostkeys.service");
    if !link.exists() {
        std::os::unix::fs::symlink("/etc/systemd/system/hlprov-hostkeys.service", link)?;
    }
    let ssh_dir = root.join("root/.ssh");
    std::fs::create_dir_all(&ssh_dir)?;
    std::fs::set_permissions(&ssh_dir, std::fs::Permissions::from_mode(0o700))?;
    // Package caches only make the image bigger.
    let _ = std::fs::remove_dir_all(root.join("var/cache/apt/archives"));
    Ok(())
}

async fn import(docker: &Client, root: &Path, tag: &str) -> Result<(), String> {
    let (repo, version) = tag.split_once(':').unwrap_or((tag, "latest"));
    let mut tar = tokio::process::Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["--numeric-owner", "-c", "."])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let stdout = tar.stdout.take().ok_or("tar has no stdout")?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(stdout));
    let opts = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(version.into()),
        changes: vec!["CMD [\"/sbin/init\"]".into(), "ENV container=docker".into(), format!("LABEL {RECIPE_LABEL}={RECIPE_VERSION}")],
        ..Default::default()
    };
    let mut progress = docker.create_image(Some(opts), Some(body), None);
    while let Some(item) = progress.next().await {
        item.map_err(|e| format!("docker import failed: {}", docker::explain(e)))?;
    }
    let status = tar.wait().await.map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("tar of the root file system failed: {status}"));
    }
    Ok(())
}

pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

pub(crate) fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]).map(|d| d.join(program)).find(|p| p.is_file())
}
