//! Ansible's YAML (and JSON) inventory format: top-level keys are groups; each group may have `hosts` (host
//! entries, ranges allowed, each mapping to its variables or null), `vars` and `children` (groups, recursively).
//! A bare string stands for a one-entry mapping (`hosts: web1`), as Ansible allows.
//!
//! Ansible skips unknown keys and non-mapping group bodies with a warning; the same happens here (the warnings
//! are kept on the graph). This file must not read files or decide which parser a file gets.

use serde_json::Value;

use super::address::expand_host_entry;
use super::error::InventoryError;
use super::graph::Graph;
use crate::yaml::{Node, NodeKind};

/// Is `doc` something the YAML inventory parser takes? Ansible's YAML plugin refuses empty documents and
/// non-mappings, and then the INI parser gets a try at the file.
pub fn accepts(doc: &Node) -> bool {
    matches!(&doc.kind, NodeKind::Map(m) if !m.is_empty())
}

/// Parse a YAML inventory document (a non-empty mapping, see [`accepts`]) into `graph`.
pub fn parse(doc: &Node, file: &str, source: &str, graph: &mut Graph) -> Result<(), InventoryError> {
    if let Some(plugin) = doc.get("plugin").filter(|p| truthy(p)) {
        return Err(InventoryError::new(
            plugin.span.clone(),
            "this is an inventory plugin configuration (plugin: ...); hlprov reads static YAML and INI inventories only",
        ));
    }
    let mut p = Parser { graph, file, source };
    for (name, body) in entries(doc) {
        p.group(name, body)?;
    }
    Ok(())
}

struct Parser<'a> {
    graph: &'a mut Graph,
    file: &'a str,
    source: &'a str,
}

impl Parser<'_> {
    /// One group definition; returns the group's name (Ansible returns it even when the body was skipped).
    fn group(&mut self, name_node: &Node, body: &Node) -> Result<String, InventoryError> {
        let name = match &name_node.kind {
            NodeKind::Str(s) if !s.is_empty() => s.clone(),
            NodeKind::Str(_) | NodeKind::Null => return Err(InventoryError::new(name_node.span.clone(), "a group name must not be empty")),
            _ => {
                return Err(InventoryError::new(
                    name_node.span.clone(),
                    format!("expected a group name (a string), found {}; quote it if it is meant as a name", name_node.type_name()),
                ));
            }
        };
        if !matches!(body.kind, NodeKind::Map(_) | NodeKind::Null) {
            self.warn(body, format!("skipping '{name}': a group must be a mapping (hosts/vars/children) or empty, found {}", body.type_name()));
            return Ok(name);
        }
        self.graph.add_group(&name).map_err(|e| InventoryError::new(name_node.span.clone(), e))?;
        let sections = entries(body);
        for (key, value) in &sections {
            let Some(k) = key.as_str() else { continue };
            if matches!(k, "vars" | "children" | "hosts") && !matches!(value.kind, NodeKind::Map(_) | NodeKind::Null | NodeKind::Str(_)) {
                return Err(InventoryError::new(
                    value.span.clone(),
                    format!("invalid \"{k}\" entry for group \"{name}\": expected a mapping, found {}", value.type_name()),
                ));
            }
        }
        for (key, value) in sections {
            let k = key.key_string().unwrap_or_default();
            if matches!(value.kind, NodeKind::Null) {
                continue;
            }
            let is_section = matches!(k.as_str(), "vars" | "children" | "hosts") && key.as_str().is_some();
            // A string in a section stands for a one-entry mapping: `hosts: web1` is `hosts: {web1: null}`.
            let items: Vec<(&Node, Option<&Node>)> = match &value.kind {
                NodeKind::Str(_) if is_section => vec![(value, None)],
                NodeKind::Map(_) => entries(value).into_iter().map(|(k, v)| (k, Some(v))).collect(),
                _ => {
                    self.warn(value, format!("skipping key '{k}' in group '{name}': it is not a mapping ({})", value.type_name()));
                    continue;
                }
            };
            match k.as_str() {
                "vars" if is_section => {
                    for (var, val) in items {
                        let var_name = var.key_string().unwrap_or_default();
                        let val = val.map(Node::to_value).unwrap_or(Value::Null);
                        self.graph.set_var(&name, &var_name, val, self.file).map_err(|e| InventoryError::new(var.span.clone(), e))?;
                    }
                }
                "children" if is_section => {
                    for (sub, sub_body) in items {
                        let null = Node { kind: NodeKind::Null, span: sub.span.clone(), tag: None };
                        let child = self.group(sub, sub_body.unwrap_or(&null))?;
                        self.graph.add_child(&name, &child).map_err(|e| InventoryError::new(sub.span.clone(), e))?;
                    }
                }
                "hosts" if is_section => {
                    for (entry, vars) in items {
                        self.hosts(&name, entry, vars)?;
                    }
                }
                _ => self.warn(key, format!("skipping unexpected key '{k}' in group '{name}': only \"vars\", \"children\" and \"hosts\" are valid")),
            }
        }
        Ok(name)
    }

    fn hosts(&mut self, group: &str, entry: &Node, vars: Option<&Node>) -> Result<(), InventoryError> {
        let Some(text) = entry.as_str() else {
            return Err(InventoryError::new(
                entry.span.clone(),
                format!("expected a host name (a string), found {}; enclose numbers in quotation marks", entry.type_name()),
            ));
        };
        let (names, port) = expand_host_entry(text).map_err(|e| InventoryError::new(entry.span.clone(), format!("host '{text}': {e}")))?;
        // Ansible treats any falsy value (null, 0, "", [], false) as "no variables".
        let vars = vars.filter(|v| truthy(v));
        let pairs: Vec<(String, Value)> = match vars {
            None => Vec::new(),
            Some(v) if v.as_map().is_some() => entries(v).into_iter().map(|(k, v)| (k.key_string().unwrap_or_default(), v.to_value())).collect(),
            Some(v) => {
                return Err(InventoryError::new(
                    v.span.clone(),
                    format!("expected the variables of host '{text}' as a mapping (or nothing), found {}", v.type_name()),
                ));
            }
        };
        for h in &names {
            self.graph.add_host(h, Some(group), port, Some(self.source)).map_err(|e| InventoryError::new(entry.span.clone(), e))?;
            for (k, v) in &pairs {
                self.graph.set_var(h, k, v.clone(), self.file).map_err(|e| InventoryError::new(entry.span.clone(), e))?;
            }
        }
        Ok(())
    }

    fn warn(&mut self, at: &Node, msg: String) {
        self.graph.warnings.push(format!("{}: {msg}", at.span));
    }
}

/// A mapping's entries as Python sees the parsed dict: a repeated key keeps its first place and its last value.
fn entries(node: &Node) -> Vec<(&Node, &Node)> {
    let mut out: Vec<(&Node, &Node)> = Vec::new();
    for (k, v) in node.as_map().unwrap_or(&[]) {
        match out.iter_mut().find(|(ok, _)| ok.kind == k.kind) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// Python truthiness of a YAML value.
fn truthy(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Null => false,
        NodeKind::Bool(b) => *b,
        NodeKind::Int(i) => *i != 0,
        NodeKind::Float(f) => *f != 0.0,
        NodeKind::Str(s) => !s.is_empty(),
        NodeKind::Seq(s) => !s.is_empty(),
        NodeKind::Map(m) => !m.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::load_one;
    use serde_json::json;

    fn load(text: &str) -> Result<Graph, InventoryError> {
        let doc = load_one(text, "inv.yml")?;
        assert!(accepts(&doc));
        let mut g = Graph::new();
        parse(&doc, "inv.yml", "/inv/inv.yml", &mut g)?;
        g.reconcile().unwrap();
        Ok(g)
    }

    #[test]
    fn nested_groups_hosts_and_vars() {
        let g = load(
            "all:\n  vars: {tz: UTC}\n  children:\n    k3s:\n      children:\n        servers:\n          hosts:\n            node[1:2]:\n              role: server\n        agents:\n          hosts: w1\n",
        )
        .unwrap();
        assert_eq!(g.groups["all"].children, ["ungrouped", "k3s"]);
        assert_eq!(g.groups["k3s"].children, ["servers", "agents"]);
        assert_eq!(g.groups["servers"].hosts, ["node1", "node2"]);
        assert_eq!(g.groups["agents"].hosts, ["w1"]);
        assert_eq!(g.hosts["node2"].vars["role"], json!("server"));
        assert_eq!(g.groups["all"].vars["tz"], json!("UTC"));
        assert_eq!(g.groups["servers"].depth, 2);
    }

    #[test]
    fn list_of_hosts_is_an_error_with_place() {
        let err = load("web:\n  hosts:\n    - w1\n").unwrap_err();
        assert_eq!(err.span.to_string(), "inv.yml:3:5");
        assert!(err.msg.contains("expected a mapping, found a list"), "{err}");
    }

    #[test]
    fn numeric_host_names_must_be_quoted() {
        let err = load("web:\n  hosts:\n    10:\n").unwrap_err();
        assert_eq!(err.span.to_string(), "inv.yml:3:5");
        assert!(err.msg.contains("quotation marks"), "{err}");
    }

    #[test]
    fn unknown_keys_warn_and_are_skipped() {
        let g = load("web:\n  hostz:\n    w1:\n  hosts:\n    w2:\n").unwrap();
        assert_eq!(g.groups["web"].hosts, ["w2"]);
        assert!(g.warnings.iter().any(|w| w.contains("hostz")), "{:?}", g.warnings);
    }

    #[test]
    fn plugin_configs_are_refused() {
        let err = load("plugin: community.general.proxmox\nurl: x\n").unwrap_err();
        assert!(err.msg.contains("plugin"), "{err}");
    }

    #[test]
    fn priority_is_not_a_variable() {
        let g = load("a:\n  vars:\n    ansible_group_priority: 10\n    x: 1\n").unwrap();
        assert_eq!(g.groups["a"].priority, 10);
        assert!(!g.groups["a"].vars.contains_key("ansible_group_priority"));
    }
}
