//! Ansible's magic variables (`inventory_hostname`, `groups`, `ansible_check_mode`, ...) built into one layer
//! of kind [`LayerKind::Magic`](super::LayerKind::Magic). `hostvars` and `vars` are not here: templating
//! serves them lazily from the scope itself; `omit` comes from the Templar.

use serde_json::json;

use super::Vars;
use crate::yaml::Value;

/// What the executor knows about the current host and play.
#[derive(Clone, Debug, Default)]
pub struct Magic {
    pub inventory_hostname: String,
    /// Groups of the host, without `all`, sorted.
    pub group_names: Vec<String>,
    /// Every group (including `all` and `ungrouped`) and its hosts.
    pub groups: Vars,
    /// Hosts of the play that are still active.
    pub play_hosts: Vec<String>,
    /// All hosts targeted by the play.
    pub play_hosts_all: Vec<String>,
    /// Hosts of the current batch (`serial`).
    pub play_batch: Vec<String>,
    pub check_mode: bool,
    pub diff_mode: bool,
    pub playbook_dir: Option<String>,
    pub inventory_dir: Option<String>,
    pub role_name: Option<String>,
    pub role_path: Option<String>,
    pub play_name: Option<String>,
}

impl Magic {
    /// The layer's variables, with the names Ansible uses.
    pub fn to_vars(&self) -> Vars {
        let mut m = Vars::new();
        let short = self.inventory_hostname.split('.').next().unwrap_or_default();
        m.insert("inventory_hostname".into(), json!(self.inventory_hostname));
        m.insert("inventory_hostname_short".into(), json!(short));
        m.insert("group_names".into(), json!(self.group_names));
        m.insert("groups".into(), Value::Object(self.groups.clone()));
        m.insert("play_hosts".into(), json!(self.play_hosts));
        m.insert("ansible_play_hosts".into(), json!(self.play_hosts));
        m.insert("ansible_play_hosts_all".into(), json!(self.play_hosts_all));
        m.insert("ansible_play_batch".into(), json!(self.play_batch));
        m.insert("ansible_check_mode".into(), json!(self.check_mode));
        m.insert("ansible_version".into(), ansible_version());
        m.insert("ansible_diff_mode".into(), json!(self.diff_mode));
        let opt = |m: &mut Vars, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        };
        opt(&mut m, "playbook_dir", &self.playbook_dir);
        opt(&mut m, "inventory_dir", &self.inventory_dir);
        opt(&mut m, "role_name", &self.role_name);
        opt(&mut m, "ansible_role_name", &self.role_name);
        opt(&mut m, "role_path", &self.role_path);
        opt(&mut m, "ansible_play_name", &self.play_name);
        m
    }
}

/// The ansible-core release whose behaviour hlprov follows (docs/decisions.md). Roles check `ansible_version`
/// before they run (k3s-ansible asserts at least 2.15), so it is set as Ansible sets it.
pub const ANSIBLE_COMPAT_VERSION: (u64, u64, u64) = (2, 19, 14);

fn ansible_version() -> serde_json::Value {
    let (major, minor, revision) = ANSIBLE_COMPAT_VERSION;
    let full = format!("{major}.{minor}.{revision}");
    json!({"full": full, "string": full, "major": major, "minor": minor, "revision": revision})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_names_match_ansible() {
        let m = Magic { inventory_hostname: "w1.lab.lan".into(), check_mode: true, role_path: Some("/r".into()), ..Default::default() };
        let v = m.to_vars();
        assert_eq!(v["inventory_hostname_short"], json!("w1"));
        assert_eq!(v["ansible_check_mode"], json!(true));
        assert_eq!(v["role_path"], json!("/r"));
        assert!(!v.contains_key("playbook_dir"));
    }
}
