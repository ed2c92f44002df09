//! Ansible-compatible inventories: loading YAML/INI inventory files, directories of them and host lists
//! (several `-i` sources), their `group_vars/` and `host_vars/` (and a playbook's), host patterns, the inventory
//! variable layers of each host, and the `ansible-inventory --list/--graph/--host` views.
//!
//! [`Inventory`] is the one entry point. This module must not run tasks, template values or touch hosts; the
//! executor stacks play and task variables on top of [`Inventory::host_var_layers`]. See docs/inventory.md.

mod address;
mod error;
#[cfg(test)]
mod fuzz_tests;
mod glob;
mod graph;
mod ini;
mod layers;
mod output;
mod pattern;
mod py_literal;
mod py_repr;
mod runtime;
mod shlex;
mod sources;
mod vars_dirs;
mod yaml_inventory;

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

pub use error::{InventoryError, PatternError};
pub use layers::{Beside, INTERNAL_STATIC_VARS, LayerSource, VarLayer};
pub use output::json_text;
pub use pattern::Selection;

use graph::{Graph, LOCALHOST_NAMES};
use vars_dirs::{Loader, VarsRoot};

/// A loaded inventory: hosts and groups in definition order, and every variable layer Ansible would apply.
#[derive(Clone)]
pub struct Inventory {
    graph: Graph,
    sources: Vec<PathBuf>,
    inventory_roots: Vec<VarsRoot>,
    playbook_roots: Vec<VarsRoot>,
    /// The folders `inventory_roots` and `playbook_roots` were read from (to read a name added at run time).
    inventory_dirs: Vec<PathBuf>,
    playbook_dirs: Vec<PathBuf>,
    loader: Loader,
    warnings: Vec<String>,
}

impl Inventory {
    /// Load inventory sources in order (later ones add to and override earlier ones). Each source is a YAML,
    /// JSON or INI file, a directory of such files, or a comma-separated host list (`"10.0.0.5,pve1,"`).
    /// The `group_vars/` and `host_vars/` beside each source (in the directory itself for a directory source)
    /// are read too. With no sources there is only the implicit `localhost`.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory, InventoryError> {
        let mut graph = Graph::new();
        for s in sources {
            sources::load(s, &mut graph)?;
        }
        // A name that is both a host and a group can make Ansible's placement of ungrouped hosts form a loop.
        graph.reconcile().map_err(|e| InventoryError::in_file(&sources.iter().map(|s| s.display().to_string()).collect::<Vec<_>>().join(", "), e))?;
        let mut inv = Inventory {
            warnings: Vec::new(),
            graph,
            sources: sources.to_vec(),
            inventory_roots: Vec::new(),
            playbook_roots: Vec::new(),
            inventory_dirs: Vec::new(),
            playbook_dirs: Vec::new(),
            loader: Loader::default(),
        };
        if sources.is_empty() {
            inv.warnings.push("No inventory was parsed, only implicit localhost is available".into());
        }
        for s in sources {
            if let Some(dir) = sources::vars_dir(s) {
                let root = inv.load_root(&dir)?;
                inv.inventory_roots.push(root);
                inv.inventory_dirs.push(dir);
            }
        }
        Ok(inv)
    }

    /// Read `group_vars/` and `host_vars/` beside a playbook. They override the inventory's own directories of
    /// the same kind (see docs/inventory.md for the full order); later calls override earlier ones.
    pub fn add_playbook_vars_dir(&mut self, playbook_dir: &Path) -> Result<(), InventoryError> {
        let root = self.load_root(playbook_dir)?;
        self.playbook_roots.push(root);
        self.playbook_dirs.push(playbook_dir.to_path_buf());
        Ok(())
    }

    fn load_root(&mut self, dir: &Path) -> Result<VarsRoot, InventoryError> {
        let groups: Vec<&str> = self.graph.groups.keys().map(String::as_str).collect();
        // The implicit localhost can have host_vars too.
        let hosts: Vec<&str> = self.graph.hosts.keys().map(String::as_str).chain(LOCALHOST_NAMES).collect();
        self.loader.load_root(dir, groups.into_iter(), hosts.into_iter())
    }

    /// The inventory sources, as given.
    pub fn sources(&self) -> &[PathBuf] {
        &self.sources
    }

    /// Things Ansible would have warned about while loading (unknown keys skipped, names used as both host and
    /// group, ...). Each names its file where there is one.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.iter().chain(&self.graph.warnings).cloned().collect()
    }

    /// Hosts matching an Ansible host pattern, in inventory order (`hosts:` of a play). Names that match nothing
    /// are reported in [`Selection::warnings`], not as errors, as Ansible does.
    pub fn select(&self, pattern: &str) -> Result<Selection, PatternError> {
        pattern::select(&self.graph, pattern, None)
    }

    /// [`Inventory::select`] narrowed by a `--limit` pattern (which may use `@file`, one pattern a line).
    pub fn select_limited(&self, pattern: &str, limit: Option<&str>) -> Result<Selection, PatternError> {
        pattern::select(&self.graph, pattern, limit)
    }

    /// [`Inventory::select`] for a list of patterns, as a play's `hosts: [a, b]`.
    pub fn select_any<S: AsRef<str>>(&self, patterns: &[S]) -> Result<Selection, PatternError> {
        let terms: Vec<String> = patterns.iter().flat_map(|p| pattern::split_terms(p.as_ref())).collect();
        pattern::evaluate(&self.graph, &terms)
    }

    /// All hosts in definition order (without the implicit localhost).
    pub fn host_names(&self) -> Vec<String> {
        self.graph.hosts.keys().cloned().collect()
    }

    /// Is `host` defined by the inventory (the implicit localhost is not)?
    pub fn has_host(&self, host: &str) -> bool {
        self.graph.hosts.contains_key(host)
    }

    /// Is `host` Ansible's implicit localhost (a localhost name the inventory does not define)?
    pub fn is_implicit_localhost(&self, host: &str) -> bool {
        !self.has_host(host) && LOCALHOST_NAMES.contains(&host)
    }

    /// Ansible's `group_names` for a host: its groups, sorted, without `all` (`ungrouped` included if it is in it).
    pub fn group_names(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = self.graph.host_groups(host).into_iter().filter(|g| g != graph::ALL).collect();
        names.sort();
        names
    }

    /// Ansible's `groups` magic variable: every group (with `all` and `ungrouped`) and its hosts, including those
    /// of child groups.
    pub fn groups(&self) -> IndexMap<String, Vec<String>> {
        self.graph.groups.keys().map(|g| (g.clone(), self.graph.group_hosts(g))).collect()
    }

    /// The inventory variable layers of a host, lowest precedence first, each saying where it came from.
    /// Empty layers are left out. Unknown hosts get only the `all` layers.
    pub fn host_var_layers(&self, host: &str) -> Vec<VarLayer> {
        let ctx = layers::Context { graph: &self.graph, inventory_roots: &self.inventory_roots, playbook_roots: &self.playbook_roots };
        ctx.layers(host, self.is_implicit_localhost(host))
    }

    /// A host's merged inventory variables: what `ansible-inventory --host HOST` prints (so without
    /// [`INTERNAL_STATIC_VARS`]).
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        layers::merge(&self.host_var_layers(host))
    }

    /// The per-host magic variables the inventory knows: `inventory_hostname`, `inventory_hostname_short`,
    /// `group_names`, `inventory_file` and `inventory_dir` (null for host lists and the implicit localhost).
    pub fn magic_vars(&self, host: &str) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("inventory_hostname".into(), Value::from(host));
        let short = if address::is_ip_address(host) { host } else { host.split('.').next().unwrap_or(host) };
        m.insert("inventory_hostname_short".into(), Value::from(short));
        m.insert("group_names".into(), Value::from(self.group_names(host)));
        let file = self.graph.hosts.get(host).and_then(|h| h.source.clone()).filter(|s| Path::new(s).is_absolute());
        let dir = file.as_deref().and_then(|f| Path::new(f).parent()).map(|d| d.display().to_string());
        m.insert("inventory_file".into(), file.map(Value::from).unwrap_or(Value::Null));
        m.insert("inventory_dir".into(), dir.map(Value::from).unwrap_or(Value::Null));
        m
    }

    /// The `ansible-inventory --list` document (print it with [`json_text`] for Ansible's exact layout).
    pub fn to_list_json(&self) -> Value {
        // Ansible lists what the pattern `all` selects, which is a single host if one is named "all".
        let available = pattern::evaluate(&self.graph, &["all".to_string()]).map(|s| s.hosts).unwrap_or_default();
        output::list_json(&self.graph, &available, |h| self.host_vars(h))
    }

    /// The `ansible-inventory --graph [GROUP]` text (default `all`). Like Ansible, only a group name is accepted.
    pub fn to_graph(&self, group: Option<&str>) -> Result<String, PatternError> {
        let group = group.unwrap_or(graph::ALL);
        if !self.graph.groups.contains_key(group) {
            return Err(PatternError { pattern: group.to_string(), msg: "--graph needs the name of a group".into() });
        }
        Ok(output::graph_text(&self.graph, group))
    }
}
