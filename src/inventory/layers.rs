//! The inventory's variable layers for one host, lowest precedence first, in Ansible's order:
//! `all` group vars from inventory files < other groups' vars from inventory files (by depth, then
//! `ansible_group_priority`, then name) < `group_vars/all` beside each inventory source < beside the playbook <
//! `group_vars/<group>` beside each inventory source < beside the playbook < host vars from inventory files <
//! `host_vars/<host>` beside each inventory source < beside the playbook.
//! (Within one layer kind, sources count in `-i` order, and each source's groups in group order.)
//!
//! This file must not read files; the group_vars/host_vars contents come loaded in [`VarsRoot`]s.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::graph::{ALL, Graph};
use super::vars_dirs::{LoadedFile, VarsRoot};

/// Variables `ansible-inventory --host` never shows: magic and play-level names Ansible strips
/// (its INTERNAL_STATIC_VARS).
pub const INTERNAL_STATIC_VARS: [&str; 33] = [
    "ansible_async_path",
    "ansible_collection_name",
    "ansible_config_file",
    "ansible_dependent_role_names",
    "ansible_diff_mode",
    "ansible_facts",
    "ansible_forks",
    "ansible_inventory_sources",
    "ansible_limit",
    "ansible_play_batch",
    "ansible_play_hosts",
    "ansible_play_hosts_all",
    "ansible_play_role_names",
    "ansible_playbook_python",
    "ansible_role_name",
    "ansible_role_names",
    "ansible_run_tags",
    "ansible_skip_tags",
    "ansible_verbosity",
    "ansible_version",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "groups",
    "group_names",
    "hostvars",
    "playbook_dir",
    "play_hosts",
    "role_name",
    "role_names",
    "role_path",
    "role_uuid",
];

/// Whether a vars directory sits beside an inventory source or beside the playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Beside {
    Inventory,
    Playbook,
}

/// Where a layer of variables comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerSource {
    /// Variables inventory files set on a group (`[g:vars]`, `vars:` under a YAML group).
    InventoryGroup { group: String, files: Vec<String> },
    /// A file of `group_vars/`.
    GroupVarsFile { group: String, path: String, beside: Beside },
    /// Variables inventory files set on the host (inline on a host line, or under the host in YAML).
    InventoryHost { files: Vec<String> },
    /// A file of `host_vars/`.
    HostVarsFile { path: String, beside: Beside },
    /// The defaults Ansible gives `localhost` when the inventory does not define it.
    ImplicitLocalhost,
}

/// One layer of a host's inventory variables.
#[derive(Debug, Clone, PartialEq)]
pub struct VarLayer {
    pub source: LayerSource,
    pub vars: Map<String, Value>,
}

impl VarLayer {
    /// A short human description, e.g. `group_vars file inventory/group_vars/k3s.yml`.
    pub fn label(&self) -> String {
        match &self.source {
            LayerSource::InventoryGroup { group, files } => format!("group '{group}' vars in {}", files.join(", ")),
            LayerSource::GroupVarsFile { path, .. } => format!("group_vars file {path}"),
            LayerSource::InventoryHost { files } => format!("host vars in {}", files.join(", ")),
            LayerSource::HostVarsFile { path, .. } => format!("host_vars file {path}"),
            LayerSource::ImplicitLocalhost => "implicit localhost defaults".to_string(),
        }
    }
}

/// Everything the layering needs.
pub struct Context<'a> {
    pub graph: &'a Graph,
    pub inventory_roots: &'a [VarsRoot],
    pub playbook_roots: &'a [VarsRoot],
}

impl Context<'_> {
    /// The layers for `host`, lowest precedence first. `implicit` marks Ansible's implicit localhost.
    pub fn layers(&self, host: &str, implicit: bool) -> Vec<VarLayer> {
        let groups = if implicit { Vec::new() } else { self.graph.sorted_groups_of(host) };
        let mut out = Vec::new();
        for g in std::iter::once(ALL).chain(groups.iter().map(String::as_str)) {
            let grp = &self.graph.groups[g];
            if !grp.vars.is_empty() {
                out.push(VarLayer {
                    source: LayerSource::InventoryGroup { group: g.to_string(), files: grp.var_origins.clone() },
                    vars: grp.vars.clone(),
                });
            }
        }
        let group_files = |out: &mut Vec<VarLayer>, roots: &[VarsRoot], beside: Beside, names: &[&str]| {
            for root in roots {
                for g in names {
                    for f in root.groups.get(*g).into_iter().flatten() {
                        out.push(file_layer(f, LayerSource::GroupVarsFile { group: g.to_string(), path: f.path.clone(), beside }));
                    }
                }
            }
        };
        group_files(&mut out, self.inventory_roots, Beside::Inventory, &[ALL]);
        group_files(&mut out, self.playbook_roots, Beside::Playbook, &[ALL]);
        let names: Vec<&str> = groups.iter().map(String::as_str).collect();
        group_files(&mut out, self.inventory_roots, Beside::Inventory, &names);
        group_files(&mut out, self.playbook_roots, Beside::Playbook, &names);
        if implicit {
            let mut vars = Map::new();
            vars.insert("ansible_connection".into(), Value::from("local"));
            out.push(VarLayer { source: LayerSource::ImplicitLocalhost, vars });
        } else if let Some(h) = self.graph.hosts.get(host).filter(|h| !h.vars.is_empty()) {
            out.push(VarLayer { source: LayerSource::InventoryHost { files: h.var_origins.clone() }, vars: h.vars.clone() });
        }
        for (roots, beside) in [(self.inventory_roots, Beside::Inventory), (self.playbook_roots, Beside::Playbook)] {
            for root in roots {
                for f in root.hosts.get(host).into_iter().flatten() {
                    out.push(file_layer(f, LayerSource::HostVarsFile { path: f.path.clone(), beside }));
                }
            }
        }
        out
    }
}

fn file_layer(f: &Arc<LoadedFile>, source: LayerSource) -> VarLayer {
    VarLayer { source, vars: f.vars.clone() }
}

/// Merge layers (later wins, whole values replaced: Ansible's default `hash_behaviour=replace`), without the
/// names `ansible-inventory --host` strips.
pub fn merge(layers: &[VarLayer]) -> Map<String, Value> {
    let mut out = Map::new();
    for layer in layers {
        for (k, v) in &layer.vars {
            out.insert(k.clone(), v.clone());
        }
    }
    for k in INTERNAL_STATIC_VARS {
        out.shift_remove(k);
    }
    out
}
