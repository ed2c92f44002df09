//! [`VarScope`]: the ordered stack of variable layers one task on one host sees, plus the `hostvars` hook and
//! the lookup search path. Cheap to clone and extend (a Vec of Arcs): the executor builds one per task per
//! host. Lookups return raw values; templating them is `crate::template`'s job.

use std::path::PathBuf;
use std::sync::Arc;

use super::{HostVarsSource, Layer, LayerKind, Vars};
use crate::yaml::Value;

/// The variables visible to one task on one host, highest precedence last.
#[derive(Clone, Default)]
pub struct VarScope {
    /// Sorted by `kind.rank()`, stable within one rank (push order).
    layers: Vec<Layer>,
    hostvars: Option<Arc<dyn HostVarsSource>>,
    search_paths: Arc<[PathBuf]>,
}

impl std::fmt::Debug for VarScope {
    // Values may be secrets: show only where layers came from.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VarScope")
            .field("layers", &self.layers.iter().map(|l| (l.kind, l.label.clone(), l.vars.len())).collect::<Vec<_>>())
            .field("search_paths", &self.search_paths)
            .finish()
    }
}

impl VarScope {
    pub fn new() -> VarScope {
        VarScope::default()
    }

    /// Add a layer. It goes above every layer of the same or lower precedence and below higher ones.
    pub fn push(&mut self, kind: LayerKind, label: impl Into<Arc<str>>, vars: Arc<Vars>) {
        let at = self.layers.partition_point(|l| l.kind.rank() <= kind.rank());
        self.layers.insert(at, Layer { kind, label: label.into(), vars });
    }

    /// A copy of this scope with one more layer (see [`push`](Self::push)).
    pub fn with_layer(&self, kind: LayerKind, label: impl Into<Arc<str>>, vars: Arc<Vars>) -> VarScope {
        let mut s = self.clone();
        s.push(kind, label, vars);
        s
    }

    /// The raw value of `name` from the highest layer defining it (Ansible replaces, it does not merge).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.lookup(name).map(|(v, _)| v)
    }

    /// Like [`get`](Self::get), also saying which layer the value came from.
    pub fn lookup(&self, name: &str) -> Option<(&Value, &Layer)> {
        self.layers.iter().rev().find_map(|l| l.vars.get(name).map(|v| (v, l)))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.lookup(name).is_some()
    }

    /// The layers, lowest precedence first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Every variable name visible, each once, in first-definition order.
    pub fn names(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for l in &self.layers {
            for k in l.vars.keys() {
                if seen.insert(k.as_str()) {
                    out.push(k.as_str());
                }
            }
        }
        out
    }

    /// All visible variables merged into one map (raw values), e.g. for `debug: var=vars`.
    pub fn flatten(&self) -> Vars {
        let mut out = Vars::new();
        for name in self.names() {
            if let Some(v) = self.get(name) {
                out.insert(name.to_string(), v.clone());
            }
        }
        out
    }

    /// Make `hostvars` available to templates rendered in this scope.
    pub fn set_hostvars(&mut self, source: Arc<dyn HostVarsSource>) {
        self.hostvars = Some(source);
    }

    pub fn hostvars(&self) -> Option<&Arc<dyn HostVarsSource>> {
        self.hostvars.as_ref()
    }

    /// Directories that `lookup('file'|'template')` search for relative paths, first match wins. For each
    /// directory `d`, `d/files/<p>` (`d/templates/<p>` for templates) is tried before `d/<p>`, as Ansible
    /// does. The executor sets the role directory first, then the playbook directory.
    pub fn set_search_paths(&mut self, paths: Vec<PathBuf>) {
        self.search_paths = paths.into();
    }

    /// The search path; when none was set, `role_path` and then `playbook_dir` (magic variables) are used.
    pub fn search_paths(&self) -> Vec<PathBuf> {
        if !self.search_paths.is_empty() {
            return self.search_paths.to_vec();
        }
        ["role_path", "playbook_dir"].iter().filter_map(|n| self.get(n).and_then(Value::as_str)).map(PathBuf::from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn layer(name: &str, v: Value) -> Arc<Vars> {
        let mut m = Vars::new();
        m.insert(name.to_string(), v);
        Arc::new(m)
    }

    /// For every pair of kinds (lower, higher) a variable defined in both resolves to the higher one,
    /// whatever order they were pushed in.
    #[test]
    fn every_layer_beats_every_lower_layer_pairwise() {
        let kinds = LayerKind::ALL;
        for (i, lo) in kinds.iter().enumerate() {
            for hi in &kinds[i + 1..] {
                if lo.rank() == hi.rank() {
                    continue;
                }
                for push_high_first in [false, true] {
                    let mut s = VarScope::new();
                    let (a, b) = if push_high_first { (hi, lo) } else { (lo, hi) };
                    s.push(*a, a.describe(), layer("x", json!(a.describe())));
                    s.push(*b, b.describe(), layer("x", json!(b.describe())));
                    assert_eq!(s.get("x"), Some(&json!(hi.describe())), "{hi:?} must win over {lo:?} (high pushed first: {push_high_first})");
                    assert_eq!(s.lookup("x").unwrap().1.kind, *hi);
                }
            }
        }
    }

    #[test]
    fn set_fact_and_register_share_a_level_and_the_later_wins() {
        let mut s = VarScope::new();
        s.push(LayerKind::SetFact, "set_fact", layer("r", json!("fact")));
        s.push(LayerKind::Registered, "register", layer("r", json!("registered")));
        assert_eq!(s.get("r"), Some(&json!("registered")));
        s.push(LayerKind::SetFact, "set_fact", layer("r", json!("fact again")));
        assert_eq!(s.get("r"), Some(&json!("fact again")));
        // ...and both still lose to role params and extra vars, win over include_vars.
        s.push(LayerKind::IncludeVars, "include_vars", layer("r", json!("iv")));
        assert_eq!(s.get("r"), Some(&json!("fact again")));
        s.push(LayerKind::RoleParams, "params", layer("r", json!("param")));
        assert_eq!(s.get("r"), Some(&json!("param")));
    }

    #[test]
    fn inventory_groups_keep_the_order_they_were_handed_over() {
        let mut s = VarScope::new();
        for g in ["all", "parent", "child", "zeta"] {
            s.push(LayerKind::InventoryGroup, format!("group_vars/{g}"), layer("g", json!(g)));
        }
        s.push(LayerKind::RoleDefaults, "defaults", layer("g", json!("default")));
        assert_eq!(s.get("g"), Some(&json!("zeta")));
        assert_eq!(&*s.lookup("g").unwrap().1.label, "group_vars/zeta");
        let labels: Vec<&str> = s.layers().iter().map(|l| &*l.label).collect();
        assert_eq!(labels, ["defaults", "group_vars/all", "group_vars/parent", "group_vars/child", "group_vars/zeta"]);
    }

    #[test]
    fn higher_layer_replaces_dicts_without_merging() {
        let mut s = VarScope::new();
        s.push(LayerKind::PlayVars, "play", layer("d", json!({"a": 1, "b": 2})));
        s.push(LayerKind::TaskVars, "task", layer("d", json!({"a": 9})));
        assert_eq!(s.get("d"), Some(&json!({"a": 9})));
    }

    #[test]
    fn clones_share_layers_and_extending_does_not_touch_the_original() {
        let mut base = VarScope::new();
        base.push(LayerKind::PlayVars, "play", layer("x", json!(1)));
        let task = base.with_layer(LayerKind::TaskVars, "task", layer("x", json!(2)));
        assert_eq!(base.get("x"), Some(&json!(1)));
        assert_eq!(task.get("x"), Some(&json!(2)));
        assert!(Arc::ptr_eq(&base.layers()[0].vars, &task.layers()[0].vars), "layers are shared, not copied");
        assert_eq!(task.names(), vec!["x"]);
        assert_eq!(task.flatten().get("x"), Some(&json!(2)));
    }

    #[test]
    fn search_path_falls_back_to_role_and_playbook_dirs() {
        let mut s = VarScope::new();
        let mut m = Vars::new();
        m.insert("playbook_dir".into(), json!("/pb"));
        m.insert("role_path".into(), json!("/pb/roles/r"));
        s.push(LayerKind::Magic, "magic", Arc::new(m));
        assert_eq!(s.search_paths(), vec![PathBuf::from("/pb/roles/r"), PathBuf::from("/pb")]);
        s.set_search_paths(vec![PathBuf::from("/x")]);
        assert_eq!(s.search_paths(), vec![PathBuf::from("/x")]);
    }
}
