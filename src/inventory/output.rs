//! What `ansible-inventory` prints: the `--list` JSON document (groups with their direct hosts and children,
//! empty groups left out, every host's merged variables under `_meta.hostvars`), the `--graph` tree, and JSON text
//! laid out the way Ansible's `json.dumps(indent=4, sort_keys=True)` lays it out.
//!
//! This file must not compute variables or select hosts; it formats what it is given.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::graph::{ALL, Graph};
use super::py_repr::py_float_repr;

/// Most lines `--graph` prints: a group reachable along many paths is printed once per path, which can explode.
pub const MAX_GRAPH_LINES: usize = 1_000_000;

/// The `ansible-inventory --list` document. `available` is what the pattern `all` selects (normally every host;
/// Ansible filters each group's hosts by it), `host_vars` gives a host's merged variables.
pub fn list_json(graph: &Graph, available: &[String], host_vars: impl Fn(&str) -> Map<String, Value>) -> Value {
    let shown: HashSet<&str> = available.iter().map(String::as_str).collect();
    let mut root = Map::new();
    let mut hostvars = Map::new();
    for h in available.iter().cloned() {
        let vars = host_vars(&h);
        if !vars.is_empty() {
            hostvars.insert(h, Value::Object(vars));
        }
    }
    let mut meta = Map::new();
    meta.insert("hostvars".into(), Value::Object(hostvars));
    meta.insert("profile".into(), Value::from("inventory_legacy"));
    root.insert("_meta".into(), Value::Object(meta));
    for g in graph.groups.values() {
        let mut entry = Map::new();
        if !g.children.is_empty() {
            entry.insert("children".into(), Value::from(g.children.clone()));
        }
        let hosts: Vec<&String> = g.hosts.iter().filter(|h| shown.contains(h.as_str())).collect();
        if g.name != ALL && !hosts.is_empty() {
            entry.insert("hosts".into(), Value::from(hosts.into_iter().cloned().collect::<Vec<_>>()));
        }
        if !entry.is_empty() {
            root.insert(g.name.clone(), Value::Object(entry));
        }
    }
    sort_keys(Value::Object(root))
}

/// The `ansible-inventory --graph` tree below `group` (no trailing newline).
pub fn graph_text(graph: &Graph, group: &str) -> String {
    let mut lines = Vec::new();
    // Depth-first like Ansible's recursive walk: a group's line, its child groups, then its own hosts.
    enum Item<'a> {
        Group(&'a str, usize),
        Host(&'a str, usize),
    }
    let mut stack = vec![Item::Group(group, 0)];
    while let Some(item) = stack.pop() {
        if lines.len() >= MAX_GRAPH_LINES {
            lines.push(format!("... (graph cut at {MAX_GRAPH_LINES} lines)"));
            break;
        }
        match item {
            Item::Host(h, depth) => lines.push(node(h, depth)),
            Item::Group(name, depth) => {
                let g = &graph.groups[name];
                lines.push(node(&format!("@{}:", g.name), depth));
                // Hosts directly in `all` are listed under `ungrouped` instead.
                if g.name != ALL {
                    stack.extend(g.hosts.iter().rev().map(|h| Item::Host(h, depth + 1)));
                }
                stack.extend(g.children.iter().rev().map(|c| Item::Group(c, depth + 1)));
            }
        }
    }
    lines.join("\n")
}

fn node(name: &str, depth: usize) -> String {
    if depth == 0 { name.to_string() } else { format!("{}--{name}", "  |".repeat(depth)) }
}

/// A copy of `v` with every object's keys in sorted order.
pub fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(String, Value)> = m.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// JSON text as Ansible prints it: four-space indent, sorted keys, Python's float notation, non-ASCII kept.
pub fn json_text(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, 0, &mut out);
    out
}

fn write_json(v: &Value, indent: usize, out: &mut String) {
    let pad = |n: usize| "    ".repeat(n);
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => {
                let _ = write!(out, "{i}");
            }
            (_, Some(u), _) => {
                let _ = write!(out, "{u}");
            }
            (_, _, Some(f)) => out.push_str(&py_float_repr(f, true)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(&serde_json::to_string(s).unwrap_or_default()),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                write_json(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        Value::Object(m) => {
            if m.is_empty() {
                out.push_str("{}");
                return;
            }
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push_str("{\n");
            for (i, k) in keys.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
                out.push_str(": ");
                write_json(&m[k.as_str()], indent + 1, out);
                out.push_str(if i + 1 < keys.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_text_matches_python_layout() {
        let v = json!({"b": [1, 2.5, 1e-9], "a": {}, "c": "é\n", "d": []});
        assert_eq!(
            json_text(&v),
            "{\n    \"a\": {},\n    \"b\": [\n        1,\n        2.5,\n        1e-09\n    ],\n    \"c\": \"é\\n\",\n    \"d\": []\n}"
        );
    }

    #[test]
    fn graph_lists_children_then_hosts() {
        let mut g = Graph::new();
        g.add_group("k3s").unwrap();
        g.add_group("servers").unwrap();
        g.add_child("k3s", "servers").unwrap();
        g.add_host("s1", Some("servers"), None, None).unwrap();
        g.add_host("x", Some("k3s"), None, None).unwrap();
        g.reconcile().unwrap();
        assert_eq!(graph_text(&g, "all"), "@all:\n  |--@ungrouped:\n  |--@k3s:\n  |  |--@servers:\n  |  |  |--s1\n  |  |--x");
    }
}
