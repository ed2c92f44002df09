//! The inventory graph: hosts and groups in definition order, group membership, parent/child links, and the
//! variables inventory files set on each. Its rules are Ansible's `InventoryData`/`Group`/`Host` rules: `all` and
//! `ungrouped` always exist, every group ends up under `all`, a host in no group lands in `ungrouped`, loops between
//! groups are refused, a group's depth is its longest distance from `all`.
//!
//! This file must not parse files or read group_vars/host_vars directories; parsers call it.

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::address::py_int;

pub const ALL: &str = "all";
pub const UNGROUPED: &str = "ungrouped";
/// Names Ansible treats as the control machine itself.
pub const LOCALHOST_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

#[derive(Debug, Clone, Default)]
pub struct Host {
    /// Variables set by inventory files, in the order first set.
    pub vars: Map<String, Value>,
    /// Files that set any of `vars`, for labelling the layer.
    pub var_origins: Vec<String>,
    /// Groups this host was put in directly, in order.
    pub direct_groups: Vec<String>,
    /// The inventory source that first defined the host (Ansible's `inventory_file`); `None` for host lists.
    pub source: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub vars: Map<String, Value>,
    pub var_origins: Vec<String>,
    /// Direct member hosts in the order added.
    pub hosts: Vec<String>,
    pub children: Vec<String>,
    pub parents: Vec<String>,
    /// `ansible_group_priority` (default 1): breaks ties between groups of equal depth.
    pub priority: i64,
    /// Longest distance from `all`; set by [`Graph::reconcile`].
    pub depth: usize,
}

impl Group {
    fn new(name: &str) -> Group {
        Group {
            name: name.to_string(),
            vars: Map::new(),
            var_origins: Vec::new(),
            hosts: Vec::new(),
            children: Vec::new(),
            parents: Vec::new(),
            priority: 1,
            depth: 0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub hosts: IndexMap<String, Host>,
    pub groups: IndexMap<String, Group>,
    /// Things Ansible would warn about (a name used for both a host and a group, ...).
    pub warnings: Vec<String>,
}

impl Default for Graph {
    fn default() -> Self {
        Self::new()
    }
}

impl Graph {
    pub fn new() -> Graph {
        let mut g = Graph { hosts: IndexMap::new(), groups: IndexMap::new(), warnings: Vec::new() };
        g.groups.insert(ALL.into(), Group::new(ALL));
        g.groups.insert(UNGROUPED.into(), Group::new(UNGROUPED));
        g.link(ALL, UNGROUPED).expect("ungrouped under all");
        g
    }

    pub fn add_group(&mut self, name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("a group name must not be empty".into());
        }
        if !self.groups.contains_key(name) {
            if !is_safe_group_name(name) {
                // Ansible's default (TRANSFORM_INVALID_GROUP_CHARS=never) keeps the name and warns.
                self.warnings.push(format!("group name '{name}' has characters that are invalid in variable names; it is kept as written"));
            }
            self.groups.insert(name.to_string(), Group::new(name));
        }
        Ok(())
    }

    /// Add a host (if new) and put it in `group`. A port only counts when the host is first defined, as in
    /// Ansible (a later `host:2222` for a known host is ignored).
    pub fn add_host(&mut self, name: &str, group: Option<&str>, port: Option<u32>, source: Option<&str>) -> Result<(), String> {
        if name.is_empty() {
            return Err("a host name must not be empty".into());
        }
        if let Some(g) = group.filter(|g| !self.groups.contains_key(*g)) {
            return Err(format!("could not find group {g} in inventory"));
        }
        if !self.hosts.contains_key(name) {
            let mut host = Host { source: source.map(str::to_string), ..Host::default() };
            // Ansible tests `if port:`, so port 0 sets nothing.
            if let Some(p) = port.filter(|p| *p != 0) {
                host.vars.insert("ansible_port".into(), Value::from(p));
                if let Some(src) = source {
                    host.var_origins.push(src.to_string());
                }
            }
            self.hosts.insert(name.to_string(), host);
        }
        if let Some(g) = group {
            self.put_host_in_group(g, name);
        }
        Ok(())
    }

    fn put_host_in_group(&mut self, group: &str, host: &str) {
        let grp = self.groups.get_mut(group).expect("checked by caller");
        if !grp.hosts.iter().any(|h| h == host) {
            grp.hosts.push(host.to_string());
            let h = self.hosts.get_mut(host).expect("checked by caller");
            h.direct_groups.push(group.to_string());
        }
    }

    /// Ansible's `set_variable(entity, ...)`: a group of that name wins over a host of the same name.
    pub fn set_var(&mut self, entity: &str, key: &str, value: Value, origin: &str) -> Result<(), String> {
        if let Some(group) = self.groups.get_mut(entity) {
            if key == "ansible_group_priority" {
                // Ansible keeps the priority apart from the group's variables.
                group.priority = priority_of(&value)?;
                return Ok(());
            }
            group.vars.insert(key.to_string(), value);
            push_origin(&mut group.var_origins, origin);
            Ok(())
        } else if let Some(host) = self.hosts.get_mut(entity) {
            host.vars.insert(key.to_string(), value);
            push_origin(&mut host.var_origins, origin);
            Ok(())
        } else {
            Err(format!("could not identify group or host named {entity}"))
        }
    }

    /// Put `child` (a group, or else a host) under `group`.
    pub fn add_child(&mut self, group: &str, child: &str) -> Result<(), String> {
        if !self.groups.contains_key(group) {
            return Err(format!("{group} is not a known group"));
        }
        if self.groups.contains_key(child) {
            self.link(group, child)
        } else if self.hosts.contains_key(child) {
            self.put_host_in_group(group, child);
            Ok(())
        } else {
            Err(format!("{child} is not a known host nor group"))
        }
    }

    /// Make group `child` a child of group `parent`, refusing loops.
    fn link(&mut self, parent: &str, child: &str) -> Result<(), String> {
        if parent == child {
            return Err(format!("cannot add group '{child}' to itself"));
        }
        if self.groups[parent].children.iter().any(|c| c == child) {
            return Ok(());
        }
        if self.reaches(child, parent) {
            return Err(format!("adding group '{child}' as child to '{parent}' creates a recursive dependency loop"));
        }
        self.groups.get_mut(parent).expect("known").children.push(child.to_string());
        let c = self.groups.get_mut(child).expect("known");
        if !c.parents.iter().any(|p| p == parent) {
            c.parents.push(parent.to_string());
        }
        Ok(())
    }

    /// Is `to` below `from` (following child links)? Searches down from `from` and up from `to` in turn and stops
    /// when either side runs out, so adding a group at either end of a long chain stays cheap.
    fn reaches(&self, from: &str, to: &str) -> bool {
        let mut down: HashSet<&str> = HashSet::from([from]);
        let mut up: HashSet<&str> = HashSet::from([to]);
        let mut down_todo: Vec<&str> = vec![from];
        let mut up_todo: Vec<&str> = vec![to];
        loop {
            let (Some(_), Some(_)) = (down_todo.last(), up_todo.last()) else { return false };
            let go_down = down_todo.len() <= up_todo.len();
            let (todo, seen, other) = if go_down { (&mut down_todo, &mut down, &up) } else { (&mut up_todo, &mut up, &down) };
            let g = todo.pop().expect("checked non-empty");
            if other.contains(g) {
                return true;
            }
            let next = if go_down { &self.groups[g].children } else { &self.groups[g].parents };
            for n in next {
                if other.contains(n.as_str()) {
                    return true;
                }
                if seen.insert(n) {
                    todo.push(n);
                }
            }
        }
    }

    /// All groups above `group` (not itself).
    pub fn ancestors(&self, group: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut todo: Vec<&str> = self.groups.get(group).map(|g| g.parents.iter().map(String::as_str).collect()).unwrap_or_default();
        while let Some(g) = todo.pop() {
            if seen.insert(g.to_string()) {
                todo.extend(self.groups[g].parents.iter().map(String::as_str));
            }
        }
        seen
    }

    /// Every group a host belongs to, directly or through a child group (including `all` when linked).
    pub fn host_groups(&self, host: &str) -> HashSet<String> {
        let mut out = HashSet::new();
        if let Some(h) = self.hosts.get(host) {
            for g in &h.direct_groups {
                out.insert(g.clone());
                out.extend(self.ancestors(g));
            }
        }
        out
    }

    /// Ansible's `reconcile_inventory`: put parentless groups under `all`, hosts in no group into `ungrouped`
    /// (and out of it when they are in another group), then compute depths.
    pub fn reconcile(&mut self) -> Result<(), String> {
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for g in &names {
            if g != ALL && self.groups[g.as_str()].parents.is_empty() {
                // Fails only when `all` was made a child of this group: Ansible stops with the same error.
                self.link(ALL, g)?;
            }
        }
        let hosts: Vec<String> = self.hosts.keys().cloned().collect();
        for h in &hosts {
            let groups = self.host_groups(h);
            if groups.contains(UNGROUPED) {
                if groups.iter().any(|g| g != ALL && g != UNGROUPED) {
                    let ung = self.groups.get_mut(UNGROUPED).expect("always there");
                    if let Some(pos) = ung.hosts.iter().position(|x| x == h) {
                        ung.hosts.remove(pos);
                        let host = self.hosts.get_mut(h).expect("known");
                        host.direct_groups.retain(|g| g != UNGROUPED);
                    }
                }
            } else if groups.is_empty() || (groups.len() == 1 && groups.contains(ALL)) {
                // Ansible's add_child looks the name up as a group first: if a group shares the host's name,
                // that group (not the host) goes under ungrouped.
                self.add_child(UNGROUPED, h).map_err(|e| format!("while placing host '{h}' in ungrouped: {e}"))?;
            }
        }
        for name in self.groups.keys() {
            if self.hosts.contains_key(name) {
                self.warnings.push(format!("Found both group and host with same name: {name}"));
            }
        }
        self.compute_depths();
        Ok(())
    }

    /// Depth = longest path from `all`, computed in topological order (the graph has no loops).
    fn compute_depths(&mut self) {
        let mut indegree: HashMap<String, usize> = self.groups.values().map(|g| (g.name.clone(), g.parents.len())).collect();
        let mut depth: HashMap<String, usize> = HashMap::new();
        let mut ready: Vec<String> = indegree.iter().filter(|(_, d)| **d == 0).map(|(n, _)| n.clone()).collect();
        while let Some(g) = ready.pop() {
            let d = *depth.entry(g.clone()).or_insert(0);
            for c in &self.groups[g.as_str()].children {
                let cd = depth.entry(c.clone()).or_insert(0);
                *cd = (*cd).max(d + 1);
                let left = indegree.get_mut(c).expect("known");
                *left -= 1;
                if *left == 0 {
                    ready.push(c.clone());
                }
            }
        }
        for (name, g) in self.groups.iter_mut() {
            g.depth = depth.get(name).copied().unwrap_or(0);
        }
    }

    /// A group's hosts, its own first, then its children's level by level (Ansible's `get_hosts`), without
    /// duplicates. Ansible walks levels below the first through a Python set, whose order is arbitrary; here they
    /// go in definition order.
    pub fn group_hosts(&self, group: &str) -> Vec<String> {
        let Some(g) = self.groups.get(group) else { return Vec::new() };
        let mut order: Vec<&str> = vec![&g.name];
        let mut seen: HashSet<&str> = HashSet::from([g.name.as_str()]);
        let mut level: Vec<&str> = Vec::new();
        for c in &g.children {
            if seen.insert(c) {
                order.push(c);
                level.push(c);
            }
        }
        while !level.is_empty() {
            let mut next = Vec::new();
            for p in &level {
                for c in &self.groups[*p].children {
                    if seen.insert(c) {
                        order.push(c);
                        next.push(c.as_str());
                    }
                }
            }
            level = next;
        }
        let mut hosts = Vec::new();
        let mut seen_hosts = HashSet::new();
        for grp in order {
            for h in &self.groups[grp].hosts {
                if seen_hosts.insert(h.as_str()) {
                    hosts.push(h.clone());
                }
            }
        }
        hosts
    }

    /// The groups of `host` other than `all`, in Ansible's variable order: depth, then priority, then name.
    pub fn sorted_groups_of(&self, host: &str) -> Vec<String> {
        let mut groups: Vec<&Group> = self.host_groups(host).iter().filter(|g| *g != ALL).map(|g| &self.groups[g.as_str()]).collect();
        groups.sort_by(|a, b| (a.depth, a.priority, &a.name).cmp(&(b.depth, b.priority, &b.name)));
        groups.into_iter().map(|g| g.name.clone()).collect()
    }
}

/// Ansible's INVALID_VARIABLE_NAMES test (`^[\d\W]|[^\w]`): a group name usable as a variable name.
fn is_safe_group_name(name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    name.chars().next().is_some_and(|c| word(c) && !c.is_numeric()) && name.chars().all(word)
}

fn push_origin(origins: &mut Vec<String>, origin: &str) {
    if !origins.iter().any(|o| o == origin) {
        origins.push(origin.to_string());
    }
}

/// Python's `int(value)` as Ansible applies it to `ansible_group_priority`.
fn priority_of(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().map(|f| f.trunc() as i64)).ok_or_else(|| format!("ansible_group_priority {n} is out of range"))
        }
        Value::Bool(b) => Ok(*b as i64),
        Value::String(s) => py_int(s).ok_or_else(|| format!("ansible_group_priority must be an integer, got '{s}'")),
        other => Err(format!("ansible_group_priority must be an integer, got {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_graph_has_all_and_ungrouped() {
        let g = Graph::new();
        assert_eq!(g.groups.keys().collect::<Vec<_>>(), ["all", "ungrouped"]);
        assert_eq!(g.groups["all"].children, ["ungrouped"]);
    }

    #[test]
    fn loops_are_refused() {
        let mut g = Graph::new();
        for n in ["a", "b", "c"] {
            g.add_group(n).unwrap();
        }
        g.add_child("a", "b").unwrap();
        g.add_child("b", "c").unwrap();
        assert!(g.add_child("c", "a").unwrap_err().contains("loop"));
        assert!(g.add_child("a", "a").unwrap_err().contains("itself"));
    }

    #[test]
    fn reconcile_places_groups_and_ungrouped_hosts() {
        let mut g = Graph::new();
        g.add_host("lonely", None, None, None).unwrap();
        g.add_host("both", Some(UNGROUPED), None, None).unwrap();
        g.add_group("web").unwrap();
        g.add_host("both", Some("web"), None, None).unwrap();
        g.add_group("deep").unwrap();
        g.add_child("web", "deep").unwrap();
        g.reconcile().unwrap();
        assert_eq!(g.groups["all"].children, ["ungrouped", "web"]);
        assert_eq!(g.groups["ungrouped"].hosts, ["lonely"]);
        assert_eq!((g.groups["web"].depth, g.groups["deep"].depth), (1, 2));
    }

    #[test]
    fn depth_is_the_longest_path() {
        let mut g = Graph::new();
        for n in ["a", "b", "c"] {
            g.add_group(n).unwrap();
        }
        g.add_child("a", "b").unwrap();
        g.add_child("b", "c").unwrap();
        g.add_child("all", "c").unwrap();
        g.reconcile().unwrap();
        assert_eq!(g.groups["c"].depth, 3);
    }

    #[test]
    fn a_group_holding_all_is_a_loop_error_not_a_panic() {
        let mut g = Graph::new();
        g.add_group("db").unwrap();
        g.add_child("db", "all").unwrap();
        assert!(g.reconcile().unwrap_err().contains("loop"));
    }

    #[test]
    fn first_port_wins() {
        let mut g = Graph::new();
        g.add_host("h", None, Some(2222), Some("a.ini")).unwrap();
        g.add_host("h", None, Some(3333), Some("a.ini")).unwrap();
        assert_eq!(g.hosts["h"].vars["ansible_port"], 2222);
    }
}
