//! Real LXC and a real DRM device, in a VM of the VM lab (its own Debian 12 kernel; `vgem` gives /dev/dri): a
//! privileged container run by Debian's `lxc` with exactly the raw lines hlprov writes for the k3s and gpu
//! profiles. hlprov writes them into a VMID.conf in the VM (proxmox_lxc_raw with roles/proxmox_lxc's lines); the
//! test turns them into LXC's `key = value` form, as PVE does when it generates /var/lib/lxc/VMID/config, and
//! starts the container with them, then without them, then with the GPU's mount entry but not its device rule.
//! Inside, the role's own gate probes (roles/proxmox_lxc/files/probe-*.sh) say what works. The role's node-side
//! kernel tasks run on the VM too, and the modules and sysctls are read back. Everything is read with OpenSSH.
//!
//! Not Proxmox: PVE's own additions to the generated config (its AppArmor profiles, hooks, devN's device nodes) are
//! not here; docs/proxmox.md says what this does and does not prove.

mod vm_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use hlprov::exec::RunOptions;
use hlprov::report::{Event, Status};
use vm_support::VmLab;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A VMID.conf as PVE writes one for a privileged container (no raw lines yet).
const CONF: &str = "arch: amd64\ncores: 2\nfeatures: nesting=1\nhostname: ct\nmemory: 512\nostype: debian\nrootfs: local-lvm:vm-900-disk-0,size=8G\nswap: 0\n\n[pve:pending]\ncores: 4\n";

/// A minimal root file system for the container, from the VM's own binaries (no download, no debootstrap): a shell,
/// the tools the probes use, their libraries; root, a user, nobody; the render group with the VM's render gid.
const ROOTFS: &str = r#"set -e
G=$(stat -c %g /dev/dri/renderD128)
R=/var/lib/lxc/ct/rootfs
rm -rf /var/lib/lxc/ct; mkdir -p $R
for d in usr/bin usr/sbin usr/lib usr/lib64 etc dev proc sys tmp mnt root; do mkdir -p $R/$d; done
for l in bin sbin lib lib64; do ln -s usr/$l $R/$l; done
for b in sh dash dd setpriv unshare mount umount sleep cat stat getent cut id ls; do
  p=$(command -v $b); case "$p" in /*) ;; *) continue;; esac
  mkdir -p $R$(dirname $p); cp -L $p $R$p
  ldd $p 2>/dev/null | grep -o '/[^ ]*' | while read l; do mkdir -p $R$(dirname $l); cp -Ln $l $R$l; done
done
printf 'root:x:0:0::/root:/bin/sh\ntester:x:1000:1000::/tmp:/bin/sh\nnobody:x:65534:65534::/nonexistent:/bin/sh\n' > $R/etc/passwd
printf 'root:x:0:\ntester:x:1000:\nrender:x:%s:tester\nnogroup:x:65534:\n' $G > $R/etc/group
printf 'passwd: files\ngroup: files\n' > $R/etc/nsswitch.conf
"#;

/// Start the container with the base config plus `extra` (LXC's form), and wait until it runs.
fn start_with(lab: &VmLab, extra: &str) {
    let config = format!(
        "lxc.uts.name = ct\nlxc.rootfs.path = dir:/var/lib/lxc/ct/rootfs\nlxc.include = /usr/share/lxc/config/common.conf\n\
         lxc.apparmor.profile = unconfined\nlxc.net.0.type = empty\nlxc.init.cmd = /bin/sleep infinity\n{extra}"
    );
    lab.sh(
        "h1",
        &format!(
            "lxc-stop -k -n ct >/dev/null 2>&1 || true; printf '%s' '{}' > /var/lib/lxc/ct/config && lxc-start -n ct -l INFO -o /tmp/ct.log && lxc-wait -n ct -s RUNNING -t 60",
            config.replace('\'', "'\\''")
        ),
    );
}

/// Run one of the role's probes inside the container: (exit code, what it printed).
fn probe(lab: &VmLab, name: &str) -> (i32, String) {
    lab.ssh("h1", &format!("lxc-attach -n ct -- /bin/sh /tmp/{name}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn real_lxc_in_a_vm_with_the_raw_lines_hlprov_writes_opens_the_render_node_for_its_group_and_has_kmsg_and_nesting() {
    let t0 = Instant::now();
    let lab = VmLab::up(1);
    eprintln!("VM up: {:?}", t0.elapsed());

    // LXC from Debian's mirror (the image has apt's lists; refreshed only if the install needs it).
    let t = Instant::now();
    lab.sh(
        "h1",
        "export DEBIAN_FRONTEND=noninteractive; q='apt-get install -y -q --no-install-recommends lxc'; \
         $q >/tmp/apt.log 2>&1 || { apt-get update -q >>/tmp/apt.log 2>&1 && $q >>/tmp/apt.log 2>&1; } || { tail -20 /tmp/apt.log; exit 1; }",
    );
    eprintln!("lxc installed in the VM: {:?}", t.elapsed());
    lab.sh("h1", "modprobe vgem && udevadm settle && test -c /dev/dri/renderD128");
    let render_gid = lab.sh("h1", "stat -c %g /dev/dri/renderD128").trim().to_string();
    assert_eq!(lab.sh("h1", "stat -c %a /dev/dri/renderD128").trim(), "660", "udev made the render node 0660 for its group");

    // hlprov: the role's node-side kernel tasks, and the raw lines of a privileged k3s + GPU (raw style) guest.
    lab.sh("h1", &format!("mkdir -p /etc/pve/lxc && printf '{}' > /etc/pve/lxc/900.conf", CONF.replace('\n', "\\n")));
    let play = format!(
        "- hosts: h1\n  gather_facts: false\n  vars_files: [{}]\n  tasks:\n    - include_role: {{name: proxmox_lxc, tasks_from: node}}\n    - name: raw lines\n      proxmox_lxc_raw:\n        vmid: 900\n        lines: \"{{{{ proxmox_lxc_k3s_raw_lines + proxmox_lxc_gpu_raw_lines }}}}\"\n",
        repo("roles/proxmox_lxc/defaults/main.yml").display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("play.yml"), play).unwrap();
    let pb = hlprov::playbook::load(&dir.path().join("play.yml"), &Default::default()).expect("the playbook loads");
    let inv = hlprov::inventory::Inventory::load(std::slice::from_ref(&lab.inventory)).expect("the lab's inventory");
    let collector = Arc::new(hlprov::report::Collector::default());
    let opts = RunOptions { roles_path: vec![repo("roles")], ..Default::default() };
    let summary =
        hlprov::exec::run_playbook(Arc::new(pb), Arc::new(inv), opts, hlprov::report::Reporter::new(vec![collector.clone()])).await.unwrap();
    let events = collector.events.lock().unwrap().clone();
    let failed: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::TaskResult(r) if r.status == Status::Failed => Some(format!("{} {:?}", r.task, r.msg)),
            _ => None,
        })
        .collect();
    assert_eq!(summary.exit_code, 0, "{failed:#?}");

    // The node's kernel, read back: k3s's modules loaded and persisted, its sysctls set and persisted.
    for m in ["overlay", "br_netfilter", "nf_conntrack", "iptable_nat", "iptable_filter"] {
        lab.sh("h1", &format!("test -d /sys/module/{m} && grep -qx {m} /etc/modules-load.d/hlprov-k3s-lxc.conf"));
    }
    for k in ["net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"] {
        assert_eq!(lab.sh("h1", &format!("sysctl -n {k}")).trim(), "1", "{k}");
        lab.sh("h1", &format!("grep -Eq '^{k} ?= ?1$' /etc/sysctl.d/90-hlprov-k3s-lxc.conf"));
    }

    // The lines hlprov wrote (current section of the VMID.conf), in LXC's form, as PVE passes them to LXC.
    let conf = lab.sh("h1", "cat /etc/pve/lxc/900.conf");
    assert!(conf.ends_with("\n\n[pve:pending]\ncores: 4\n"), "the pending section is kept: {conf}");
    let current = conf.split("\n[").next().unwrap();
    let lines: Vec<(String, String)> = current
        .lines()
        .filter(|l| l.starts_with("lxc."))
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.trim().to_string())
        })
        .collect();
    assert_eq!(lines.len(), 7, "{conf}");
    let native = |ls: &[(String, String)]| ls.iter().map(|(k, v)| format!("{k} = {v}\n")).collect::<String>();

    // The container, and the role's probes inside it.
    lab.sh("h1", ROOTFS);
    for name in ["probe-gpu.sh", "probe-k3s.sh"] {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(repo(&format!("roles/proxmox_lxc/files/{name}"))).unwrap());
        lab.sh("h1", &format!("echo {b64} | base64 -d > /var/lib/lxc/ct/rootfs/tmp/{name}"));
    }
    let t = Instant::now();

    // 1. Without the lines (LXC's defaults): no render node, no /dev/kmsg, /proc/sys read-only.
    start_with(&lab, "");
    let (rc, out) = probe(&lab, "probe-gpu.sh");
    assert!(rc != 0 && out.contains("/dev/dri/renderD128 is missing"), "{out}");
    let (rc, out) = probe(&lab, "probe-k3s.sh");
    assert!(
        rc != 0 && out.contains("/dev/kmsg is missing") && out.contains("/proc/sys is not writable") && out.contains("Read-only file system"),
        "{out}"
    );

    // 2. With exactly hlprov's lines: a render member opens it (and a process without the group is refused), and
    // /dev/kmsg, /proc/sys and nested namespaces work.
    start_with(&lab, &native(&lines));
    let (rc, out) = probe(&lab, "probe-gpu.sh");
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains(&format!("a member of render (gid {render_gid}) opens it; a process without the group is refused")), "{out}");
    let (rc, out) = probe(&lab, "probe-k3s.sh");
    assert_eq!(rc, 0, "{out}");
    assert!(out.contains("/dev/kmsg opens, /proc/sys is writable, nested namespaces and mounts work"), "{out}");
    // A member by its account, too: the user in the render group of the container's /etc/group.
    lab.sh("h1", "lxc-attach -n ct -- setpriv --reuid=tester --regid=tester --init-groups dd if=/dev/dri/renderD128 of=/dev/null count=0");

    // 3. The GPU's mount entry without its device rule (and without the k3s profile's `a`): the node is there,
    // the device cgroup refuses it.
    let mount_only: Vec<_> = lines.iter().filter(|(k, v)| k == "lxc.mount.entry" && v.starts_with("/dev/dri ")).cloned().collect();
    assert_eq!(mount_only.len(), 1);
    start_with(&lab, &native(&mount_only));
    let (rc, out) = probe(&lab, "probe-gpu.sh");
    assert!(rc != 0 && out.contains("Operation not permitted"), "{out}");

    lab.sh("h1", "lxc-stop -k -n ct");
    eprintln!("three container runs: {:?}; whole test: {:?}", t.elapsed(), t0.elapsed());
}
