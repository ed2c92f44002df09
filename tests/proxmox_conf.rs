//! The raw-line editor of /etc/pve/lxc/VMID.conf (src/pve/conf.rs) on real and PVE-format samples
//! (tests/fixtures/proxmox, SOURCES.md there): it reads the current section's `lxc.*` lines as pve-container's
//! parser does, replaces only them, writes them where PVE writes them (after the other options, as `key: value`),
//! and leaves every other line of the current section, and the `[pve:pending]` and snapshot sections, byte for
//! byte as they were.

use hlprov::pve::conf::{self, RawLine};

fn sample(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proxmox").join(name)).unwrap()
}

fn lines(pairs: &[(&str, &str)]) -> Vec<RawLine> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// What roles/proxmox_lxc writes for a privileged k3s GPU worker (raw GPU style).
fn k3s_gpu() -> Vec<RawLine> {
    lines(&[
        ("lxc.apparmor.profile", "unconfined"),
        ("lxc.cgroup2.devices.allow", "a"),
        ("lxc.cap.drop", ""),
        ("lxc.mount.auto", "proc:rw sys:rw"),
        ("lxc.mount.entry", "/dev/kmsg dev/kmsg none bind,optional,create=file"),
        ("lxc.cgroup2.devices.allow", "c 226:* rwm"),
        ("lxc.mount.entry", "/dev/dri dev/dri none bind,optional,create=dir"),
    ])
}

const SAMPLES: &[&str] = &[
    "101-gpu-privileged-mount-entry.conf",
    "104-gpu-unprivileged-idmap.conf",
    "107-pve-docs-example.conf",
    "131-k3s-gpu-agent-dev0-composed.conf",
    "301-k3s-server-privileged-legacy.conf",
];

#[test]
fn raw_lines_are_read_from_the_current_section_only_as_pve_parses_them() {
    assert_eq!(
        conf::raw_lines(&sample("131-k3s-gpu-agent-dev0-composed.conf")),
        lines(&[
            ("lxc.apparmor.profile", "unconfined"),
            ("lxc.cgroup2.devices.allow", "a"),
            ("lxc.cap.drop", ""),
            ("lxc.mount.auto", "proc:rw sys:rw"),
            ("lxc.mount.entry", "/dev/kmsg dev/kmsg none bind,optional,create=file"),
        ]),
        "the snapshot's raw lines are not the guest's"
    );
    // Duplicates and order are kept (LXC reads them in order); quotes stay (PVE keeps what is written).
    let legacy = conf::raw_lines(&sample("301-k3s-server-privileged-legacy.conf"));
    assert_eq!(legacy[1], ("lxc.cgroup.devices.allow".to_string(), "a".to_string()));
    assert_eq!(legacy[3], ("lxc.mount.auto".to_string(), "\"proc:rw sys:rw\"".to_string()));
    let gpu = conf::raw_lines(&sample("101-gpu-privileged-mount-entry.conf"));
    assert_eq!(gpu.iter().filter(|(k, _)| k == "lxc.cgroup2.devices.allow").count(), 3);
    assert_eq!(conf::raw_lines(&sample("104-gpu-unprivileged-idmap.conf")).iter().filter(|(k, _)| k == "lxc.idmap").count(), 6);
    assert!(conf::raw_lines(&sample("107-pve-docs-example.conf")).is_empty());
    assert_eq!(conf::option(&sample("131-k3s-gpu-agent-dev0-composed.conf"), "cores").as_deref(), Some("4"), "not the pending 6");
}

#[test]
fn rewriting_keeps_every_other_byte_and_the_pending_and_snapshot_sections() {
    for name in SAMPLES {
        let text = sample(name);
        let end = conf::current_section_end(&text);
        for want in [k3s_gpu(), Vec::new(), lines(&[("lxc.cap.drop", "")])] {
            let out = conf::with_raw_lines(&text, &want);
            // The raw lines are exactly the wanted ones, in order.
            assert_eq!(conf::raw_lines(&out), want, "{name}");
            // Everything from the first section header on is byte for byte the same.
            let out_end = conf::current_section_end(&out);
            assert_eq!(&out[out_end..], &text[end..], "{name}: pending/snapshot sections changed");
            // The current section's other lines (description, options, blank line before the next section) keep
            // their bytes and order.
            let others = |t: &str, e: usize| t[..e].lines().filter(|l| !l.starts_with("lxc.")).map(str::to_string).collect::<Vec<_>>();
            assert_eq!(others(&out, out_end), others(&text, end), "{name}: other lines changed");
            // Raw lines come after the options, as write_pct_config puts them.
            let section: Vec<&str> = out[..out_end].lines().filter(|l| !l.trim().is_empty()).collect();
            let first_raw = section.iter().position(|l| l.starts_with("lxc.")).unwrap_or(section.len());
            assert!(section[first_raw..].iter().all(|l| l.starts_with("lxc.")), "{name}: options after raw lines:\n{out}");
            // Writing the same lines again changes nothing.
            assert_eq!(conf::with_raw_lines(&out, &want), out, "{name}: not idempotent");
        }
    }
}

#[test]
fn the_composed_sample_in_pve_format_gets_exactly_the_lines_pve_would_write() {
    let text = sample("131-k3s-gpu-agent-dev0-composed.conf");
    let out = conf::with_raw_lines(&text, &k3s_gpu());
    let expected = text.replace(
        "lxc.mount.entry: /dev/kmsg dev/kmsg none bind,optional,create=file\n\n[pve:pending]",
        "lxc.mount.entry: /dev/kmsg dev/kmsg none bind,optional,create=file\nlxc.cgroup2.devices.allow: c 226:* rwm\nlxc.mount.entry: /dev/dri dev/dri none bind,optional,create=dir\n\n[pve:pending]",
    );
    assert_eq!(out, expected);
    // The empty value keeps PVE's trailing space.
    assert!(out.contains("\nlxc.cap.drop: \n"));
}

#[test]
fn the_legacy_cgroup_v1_line_is_replaced_and_refused_as_a_wanted_line() {
    let text = sample("301-k3s-server-privileged-legacy.conf");
    let out = conf::with_raw_lines(&text, &k3s_gpu());
    assert!(!out.contains("lxc.cgroup.devices.allow"), "{out}");
    assert!(out.starts_with("arch: amd64\ncores: 4\nfeatures: fuse=1\n"));
    let err = conf::check_line("lxc.cgroup.devices.allow", "a").unwrap_err();
    assert!(err.contains("pure cgroup v2") && err.contains("lxc.cgroup2.devices.allow"), "{err}");
}

#[test]
fn the_lxc_native_form_is_what_pve_generates_for_lxc_start() {
    // PVE turns `key: value` into `key = value` in /var/lib/lxc/VMID/config; the VM-lab test feeds LXC this form.
    assert_eq!(conf::lxc_native(&k3s_gpu()[..3]), "lxc.apparmor.profile = unconfined\nlxc.cgroup2.devices.allow = a\nlxc.cap.drop = \n");
}
