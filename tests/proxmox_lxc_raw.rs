//! proxmox_lxc_raw on a real host over SSH: a lab container holding a VMID.conf in PVE's format (the composed
//! sample of tests/fixtures/proxmox, with a pending and a snapshot section) and a stand-in for PVE's `pct` that
//! says the guest runs and logs what it is asked. The file is read back with docker exec, not through hlprov.
//! (The container is not a Proxmox node: /etc/pve is a plain folder here, not pmxcfs; docs/proxmox.md.)

mod common;
mod system_support;

use common::{TestLab, run_module};
use serde_json::json;
use system_support::{env, sh};

const SAMPLE: &str = include_str!("fixtures/proxmox/131-k3s-gpu-agent-dev0-composed.conf");

fn args() -> serde_json::Value {
    json!({"vmid": 131, "lines": [
        {"lxc.apparmor.profile": "unconfined"},
        {"lxc.cgroup2.devices.allow": "a"},
        "lxc.cap.drop:",
        {"lxc.mount.auto": "proc:rw sys:rw"},
        {"lxc.mount.entry": "/dev/kmsg dev/kmsg none bind,optional,create=file"},
        {"lxc.cgroup2.devices.allow": "c 226:* rwm"},
        {"lxc.mount.entry": "/dev/dri dev/dri none bind,optional,create=dir"},
    ]})
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_lines_are_written_in_the_current_section_only_under_pves_lock_and_a_running_guest_is_restarted() {
    let lab = TestLab::start(1).await;
    let conn = lab.connection("h1");
    let (_d, env) = env();
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(SAMPLE);
    sh(&lab, &format!("mkdir -p /etc/pve/lxc && echo {b64} | base64 -d > /etc/pve/lxc/131.conf")).await;
    sh(&lab, "printf '#!/bin/sh\\necho \"$*\" >> /tmp/pct.log\\n[ \"$1\" = status ] && echo \"status: running\"\\nexit 0\\n' > /usr/local/sbin/pct && chmod 0755 /usr/local/sbin/pct").await;

    // Apply: exactly the two GPU lines are added after the existing raw lines; pending and snapshot untouched.
    let r = run_module(&conn, &env, "proxmox_lxc_raw", args(), false, true).await.unwrap();
    assert!(r.changed && !r.failed, "{:?}", r.to_value());
    assert_eq!(r.data["restarted"], true);
    let expected = SAMPLE.replace(
        "create=file\n\n[pve:pending]",
        "create=file\nlxc.cgroup2.devices.allow: c 226:* rwm\nlxc.mount.entry: /dev/dri dev/dri none bind,optional,create=dir\n\n[pve:pending]",
    );
    assert_ne!(expected, SAMPLE);
    assert_eq!(sh(&lab, "cat /etc/pve/lxc/131.conf").await, expected);
    assert_eq!(sh(&lab, "grep -v '^status ' /tmp/pct.log").await, "reboot 131\n", "restarted once, with pct");
    assert_eq!(sh(&lab, "ls -a /etc/pve/lxc").await, ".\n..\n131.conf\n", "no temp file left");

    // Again: nothing to do, no restart.
    let r = run_module(&conn, &env, "proxmox_lxc_raw", args(), false, false).await.unwrap();
    assert!(!r.changed, "{:?}", r.to_value());
    assert_eq!(sh(&lab, "grep -c '^reboot' /tmp/pct.log").await, "1\n");

    // Changed behind hlprov's back: check mode reports it and leaves the file alone.
    sh(&lab, "sed -i '/dev\\/dri dev\\/dri/d' /etc/pve/lxc/131.conf").await;
    let drifted = sh(&lab, "cat /etc/pve/lxc/131.conf").await;
    let r = run_module(&conn, &env, "proxmox_lxc_raw", args(), true, true).await.unwrap();
    assert!(r.changed && r.diffs.iter().any(|d| d.after.contains("lxc.mount.entry: /dev/dri dev/dri")), "{:?}", r.diffs);
    assert_eq!(sh(&lab, "cat /etc/pve/lxc/131.conf").await, drifted);

    // PVE holds the config lock (a task, `pct set`): hlprov waits 10 s as PVE does, then gives up, file unchanged.
    sh(&lab, "mkdir -p /run/lock/lxc && (flock /run/lock/lxc/pve-config-131.lock sleep 14 >/dev/null 2>&1 &) ; sleep 0.5").await;
    let r = run_module(&conn, &env, "proxmox_lxc_raw", args(), false, false).await.unwrap();
    assert!(r.failed && r.msg.as_deref().unwrap_or_default().contains("could not take PVE's config lock"), "{:?}", r.to_value());
    assert_eq!(sh(&lab, "cat /etc/pve/lxc/131.conf").await, drifted);

    // A guest PVE has locked (a backup runs): refused before anything is written.
    sh(&lab, "sed -i '0,/^cores: 4$/s//cores: 4\\nlock: backup/' /etc/pve/lxc/131.conf").await;
    let r = run_module(&conn, &env, "proxmox_lxc_raw", args(), false, false).await.unwrap();
    assert!(
        r.failed && r.msg.as_deref() == Some("CT 131 is locked (backup); its raw lines are left alone until PVE has finished"),
        "{:?}",
        r.to_value()
    );

    // A guest that is not on this node.
    let r = run_module(&conn, &env, "proxmox_lxc_raw", json!({"vmid": 999, "lines": []}), false, false).await.unwrap();
    assert!(r.failed && r.msg.as_deref().unwrap_or_default().starts_with("CT 999: /etc/pve/lxc/999.conf cannot be read"), "{:?}", r.to_value());
}
