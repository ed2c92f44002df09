//! Changes a run makes to the inventory, as Ansible's `group_by` and `add_host` make them: a host put in a
//! group (created under its parents if new), a host added with variables and groups. The group_vars and
//! host_vars files of a new name are read, as Ansible's vars plugins would read them.

use serde_json::{Map, Value};

use super::Inventory;
use super::graph::ALL;

impl Inventory {
    /// `group_by`: put `host` in `group`, making the group (and each parent) first if new and the group a child
    /// of each parent. Whether anything changed.
    pub fn group_by(&mut self, host: &str, group: &str, parents: &[String]) -> Result<bool, String> {
        if !self.graph.hosts.contains_key(host) {
            return Err(format!("{host} cannot be matched in inventory"));
        }
        let mut changed = false;
        let mut new_names = Vec::new();
        for g in std::iter::once(group).chain(parents.iter().map(String::as_str)) {
            if !self.graph.groups.contains_key(g) {
                self.graph.add_group(g)?;
                new_names.push(g.to_string());
                changed = true;
            }
        }
        for p in parents {
            if p != group && !self.graph.groups[p.as_str()].children.iter().any(|c| c == group) {
                self.graph.add_child(p, group)?;
                changed = true;
            }
        }
        if !self.graph.group_hosts(group).iter().any(|h| h == host) {
            self.graph.add_host(host, Some(group), None, None)?;
            changed = true;
        }
        if changed {
            self.settle(&new_names, &[])?;
        }
        Ok(changed)
    }

    /// `add_host`: the host (new, or known) with these variables over its own and in these groups (made if new).
    /// Whether anything changed.
    pub fn add_host(&mut self, name: &str, groups: &[String], vars: &Map<String, Value>) -> Result<bool, String> {
        let mut changed = false;
        let mut new_groups = Vec::new();
        let mut new_hosts = Vec::new();
        if !self.graph.hosts.contains_key(name) {
            self.graph.add_host(name, Some(ALL), None, None)?;
            new_hosts.push(name.to_string());
            changed = true;
        }
        for (k, v) in vars {
            if self.graph.hosts[name].vars.get(k) != Some(v) {
                self.graph.set_var(name, k, v.clone(), "add_host")?;
                changed = true;
            }
        }
        for g in groups {
            if !self.graph.groups.contains_key(g.as_str()) {
                self.graph.add_group(g)?;
                new_groups.push(g.clone());
                changed = true;
            }
            if !self.graph.groups[g.as_str()].hosts.iter().any(|h| h == name) {
                self.graph.add_host(name, Some(g), None, None)?;
                changed = true;
            }
        }
        if changed {
            self.settle(&new_groups, &new_hosts)?;
        }
        Ok(changed)
    }

    /// Place groups and ungrouped hosts again, and read the vars files of the new names.
    fn settle(&mut self, groups: &[String], hosts: &[String]) -> Result<(), String> {
        // `all` holds every host already; a host put only there belongs in `ungrouped`, as in a loaded inventory.
        for h in hosts {
            if let Some(all) = self.graph.groups.get_mut(ALL) {
                all.hosts.retain(|x| x != h);
            }
            if let Some(host) = self.graph.hosts.get_mut(h) {
                host.direct_groups.retain(|g| g != ALL);
            }
        }
        let warnings = self.graph.warnings.len();
        self.graph.reconcile()?;
        self.graph.warnings.truncate(warnings);
        let g: Vec<&str> = groups.iter().map(String::as_str).collect();
        let h: Vec<&str> = hosts.iter().map(String::as_str).collect();
        for (dir, root) in
            self.inventory_dirs.iter().zip(self.inventory_roots.iter_mut()).chain(self.playbook_dirs.iter().zip(self.playbook_roots.iter_mut()))
        {
            let more = self.loader.load_root(dir, g.iter().copied(), h.iter().copied()).map_err(|e| e.to_string())?;
            root.groups.extend(more.groups);
            root.hosts.extend(more.hosts);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn inventory(text: &str) -> (tempfile::TempDir, Inventory) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hosts.ini"), text).unwrap();
        std::fs::create_dir_all(dir.path().join("group_vars")).unwrap();
        std::fs::write(dir.path().join("group_vars/os_Debian.yml"), "family_note: from group_vars\n").unwrap();
        let inv = Inventory::load(&[dir.path().join("hosts.ini")]).unwrap();
        (dir, inv)
    }

    #[test]
    fn group_by_makes_the_group_under_its_parents_and_reads_its_group_vars() {
        let (_d, mut inv) = inventory("h1\nh2\n[web]\nh3\n");
        assert!(inv.group_by("h1", "os_Debian", &["linux".into()]).unwrap());
        assert!(!inv.group_by("h1", "os_Debian", &["linux".into()]).unwrap(), "a second time changes nothing");
        assert_eq!(inv.select("os_Debian").unwrap().hosts, ["h1"]);
        assert_eq!(inv.select("linux").unwrap().hosts, ["h1"]);
        assert_eq!(inv.select("ungrouped").unwrap().hosts, ["h2"], "h1 left ungrouped");
        assert_eq!(inv.group_names("h1"), ["linux", "os_Debian"]);
        assert_eq!(inv.host_vars("h1")["family_note"], "from group_vars");
        assert!(inv.group_by("nope", "g", &[]).is_err());
    }

    #[test]
    fn add_host_adds_a_host_with_its_vars_and_groups() {
        let (_d, mut inv) = inventory("h1\n");
        let vars = json!({"ansible_host": "127.0.0.1", "ansible_port": 2222}).as_object().unwrap().clone();
        assert!(inv.add_host("ct101", &["lxc".into(), "os_Debian".into()], &vars).unwrap());
        assert!(!inv.add_host("ct101", &["lxc".into()], &vars).unwrap());
        assert_eq!(inv.select("lxc").unwrap().hosts, ["ct101"]);
        assert_eq!(inv.host_vars("ct101")["ansible_port"], 2222);
        assert_eq!(inv.host_vars("ct101")["family_note"], "from group_vars");
        assert_eq!(inv.select("all").unwrap().hosts, ["h1", "ct101"]);
        // Only in `all`: ungrouped, as a loaded host would be.
        assert!(inv.add_host("bare", &[], &Map::new()).unwrap());
        assert!(inv.select("ungrouped").unwrap().hosts.contains(&"bare".to_string()));
    }
}
