//! Property strings (`name=eth0,bridge=vmbr0,ip=dhcp`, `/dev/dri/renderD128,gid=993`) and how PVE writes a
//! container option back, so that a spec and a live config compare by meaning, not by spelling: PVE sorts
//! features and tags, adds a MAC address and `type=veth` to a network device, prints booleans as 1/0 and
//! allocates `rootfs` from `STORAGE:SIZE` (pve-container src/PVE/LXC/Config.pm; the fixtures in
//! tests/fixtures/proxmox show real files).

use std::collections::BTreeMap;

/// A property string split into its leading positional value (the default key: a device's path, a volume)
/// and its `key=value` pairs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Props {
    pub first: Option<String>,
    pub pairs: BTreeMap<String, String>,
}

impl Props {
    /// Parse `a,k=v,k2=v2`; `default_key` names the positional value when it is written as `key=value`
    /// (`path=/dev/x` is the same as `/dev/x` for a device).
    pub fn parse(text: &str, default_key: Option<&str>) -> Props {
        let mut p = Props::default();
        for (i, part) in text.split(',').map(str::trim).filter(|s| !s.is_empty()).enumerate() {
            match part.split_once('=') {
                Some((k, v)) if Some(k.trim()) == default_key => p.first = Some(v.trim().to_string()),
                Some((k, v)) => {
                    p.pairs.insert(k.trim().to_string(), v.trim().to_string());
                }
                None if i == 0 => p.first = Some(part.to_string()),
                None => {
                    p.pairs.insert(part.to_string(), String::new());
                }
            }
        }
        p
    }

    /// Write it back: the positional value first, then the pairs in `order` (keys not listed follow, sorted).
    pub fn print(&self, order: &[&str]) -> String {
        let mut parts: Vec<String> = self.first.iter().cloned().collect();
        for k in order {
            if let Some(v) = self.pairs.get(*k) {
                parts.push(format!("{k}={v}"));
            }
        }
        for (k, v) in &self.pairs {
            if !order.contains(&k.as_str()) {
                parts.push(format!("{k}={v}"));
            }
        }
        parts.join(",")
    }
}

/// `1`/`0` for the ways a boolean is written (`true`, `yes`, `on`, `1`); other text as it is.
pub fn bool_text(v: &str) -> String {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => "1".into(),
        "0" | "false" | "no" | "off" => "0".into(),
        other => other.to_string(),
    }
}

/// Options whose value is a boolean.
const BOOLS: &[&str] = &["onboot", "unprivileged", "protection", "console", "template", "debug"];

/// Flags inside property strings that are booleans (network devices, features, devices).
const PROP_BOOLS: &[&str] = &["firewall", "link_down", "host-managed", "nesting", "keyctl", "fuse", "mknod", "force_rw_sys", "deny-write", "ro"];

fn bool_pairs(p: &mut Props) {
    for (k, v) in p.pairs.iter_mut() {
        if PROP_BOOLS.contains(&k.as_str()) {
            *v = bool_text(v);
        }
    }
}

/// Tags as PVE keeps them: split on `;`, `,` or spaces, sorted, without duplicates.
pub fn tags_text(v: &str) -> String {
    let mut tags: Vec<String> = v.split([';', ',', ' ']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect();
    tags.sort_by_key(|t| t.to_ascii_lowercase());
    tags.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    tags.join(";")
}

/// The canonical text of option `key`'s value: what a spec and a live config are compared by. For a network
/// device the keys the spec leaves out (its MAC address, `type`) are compared by [`net_matches`] instead.
pub fn canonical(key: &str, value: &str) -> String {
    let v = value.trim();
    if BOOLS.contains(&key) {
        return bool_text(v);
    }
    if is_indexed(key, "net") {
        let mut p = Props::parse(v, None);
        bool_pairs(&mut p);
        return p.print(&["name"]);
    }
    if is_indexed(key, "dev") {
        let mut p = Props::parse(v, Some("path"));
        bool_pairs(&mut p);
        return p.print(&[]);
    }
    match key {
        "features" | "startup" => {
            let mut p = Props::parse(v, None);
            bool_pairs(&mut p);
            p.print(&[])
        }
        "tags" => tags_text(v),
        _ => v.to_string(),
    }
}

/// Whether a live network device has every property the spec asks for (PVE adds `hwaddr` and `type=veth`,
/// which a spec rarely names and must not make a difference).
pub fn net_matches(want: &str, live: &str) -> bool {
    let (mut w, mut l) = (Props::parse(want, None), Props::parse(live, None));
    bool_pairs(&mut w);
    bool_pairs(&mut l);
    w.pairs.iter().all(|(k, v)| match l.pairs.get(k) {
        Some(lv) if k == "hwaddr" => lv.eq_ignore_ascii_case(v),
        Some(lv) => lv == v,
        None => k == "type" && v == "veth",
    })
}

/// The value to send for a network device that differs: the spec's properties over the live ones, so the
/// MAC address PVE chose is kept.
pub fn net_merge(want: &str, live: Option<&str>) -> String {
    let mut p = live.map(|l| Props::parse(l, None)).unwrap_or_default();
    p.first = None;
    for (k, v) in Props::parse(want, None).pairs {
        p.pairs.insert(k, v);
    }
    p.print(&["name"])
}

/// `net0` → true for prefix `net`.
pub fn is_indexed(key: &str, prefix: &str) -> bool {
    key.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A root file system as asked for on creation (`local-lvm:8`, 8 GiB on local-lvm) or as PVE shows it
/// (`local-lvm:vm-131-disk-0,size=8G`): its storage and size in GiB.
#[derive(Clone, Debug, PartialEq)]
pub struct Rootfs {
    pub storage: String,
    pub size_gib: Option<f64>,
}

pub fn parse_rootfs(v: &str) -> Option<Rootfs> {
    let p = Props::parse(v, Some("volume"));
    let volume = p.first?;
    let (storage, rest) = volume.split_once(':')?;
    let size = match p.pairs.get("size") {
        Some(s) => size_gib(s),
        // A new volume: STORAGE:SIZE_IN_GIB.
        None => rest.parse::<f64>().ok(),
    };
    Some(Rootfs { storage: storage.to_string(), size_gib: size })
}

/// `8G`, `512M`, `1T`, `8` (GiB) → GiB.
pub fn size_gib(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "G"),
    };
    let n: f64 = num.parse().ok()?;
    let f = match unit.to_ascii_uppercase().as_str() {
        "K" => 1.0 / (1024.0 * 1024.0),
        "M" => 1.0 / 1024.0,
        "G" => 1.0,
        "T" => 1024.0,
        _ => return None,
    };
    Some(n * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms_match_what_pve_writes_back() {
        assert_eq!(canonical("features", "nesting=1,keyctl=1"), "keyctl=1,nesting=1");
        assert_eq!(canonical("features", "nesting=true"), canonical("features", "nesting=1"));
        assert_eq!(canonical("tags", "k3s;gpu"), "gpu;k3s");
        assert_eq!(canonical("tags", "gpu, k3s ,gpu"), "gpu;k3s");
        assert_eq!(canonical("onboot", "true"), "1");
        assert_eq!(canonical("dev0", "path=/dev/dri/renderD128,mode=0660,gid=993"), canonical("dev0", "/dev/dri/renderD128,gid=993,mode=0660"));
        assert_eq!(canonical("startup", "up=30,order=3"), "order=3,up=30");
        assert_eq!(canonical("net0", "bridge=vmbr0,name=eth0"), "name=eth0,bridge=vmbr0");
    }

    #[test]
    fn network_devices_compare_on_what_the_spec_names() {
        let live = "name=eth0,bridge=vmbr0,gw=10.0.0.1,hwaddr=BC:24:11:A6:A2:72,ip=10.0.0.31/24,type=veth";
        assert!(net_matches("name=eth0,bridge=vmbr0,ip=10.0.0.31/24,gw=10.0.0.1", live));
        assert!(net_matches("name=eth0,bridge=vmbr0,ip=10.0.0.31/24,gw=10.0.0.1,type=veth", live));
        assert!(!net_matches("name=eth0,bridge=vmbr1,ip=10.0.0.31/24", live));
        assert!(!net_matches("name=eth0,bridge=vmbr0,firewall=1", live));
        assert_eq!(
            net_merge("name=eth0,bridge=vmbr1", Some(live)),
            "name=eth0,bridge=vmbr1,gw=10.0.0.1,hwaddr=BC:24:11:A6:A2:72,ip=10.0.0.31/24,type=veth"
        );
    }

    #[test]
    fn rootfs_sizes_compare_in_gib() {
        assert_eq!(parse_rootfs("local-lvm:8"), Some(Rootfs { storage: "local-lvm".into(), size_gib: Some(8.0) }));
        assert_eq!(parse_rootfs("local-lvm:vm-131-disk-0,size=8G"), Some(Rootfs { storage: "local-lvm".into(), size_gib: Some(8.0) }));
        assert_eq!(parse_rootfs("volume=local:131/vm-131-disk-0.raw,size=512M").unwrap().size_gib, Some(0.5));
        assert_eq!(parse_rootfs("nonsense"), None);
    }
}
