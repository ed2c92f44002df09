//! Ansible's INI inventory format: `[group]` sections of host lines (`host[01:03]:2222 key=value ...`),
//! `[group:children]` sections of group names, `[group:vars]` sections of `key = value` lines, and hosts before
//! any section in `ungrouped`. Values are typed as Ansible types them (Python `literal_eval`); note that host
//! lines are shell-split first, so `x="1"` is the integer 1 on a host line but the string "1" in a `:vars` section.
//! Groups may be used before they are declared; undeclared ones are errors at the end, as in Ansible.
//!
//! This file must not read files from disk or decide which parser a file gets.

use indexmap::IndexMap;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

use super::address::expand_host_entry;
use super::error::InventoryError;
use super::graph::{Graph, UNGROUPED};
use super::py_literal::{self, Literal};
use super::shlex;
use crate::yaml::Span;

static SECTION: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$").expect("regex"));
static GROUP_NAME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^([^:\]\s]+)\s*(?:#.*)?$").expect("regex"));

#[derive(Clone, Copy, PartialEq)]
enum State {
    Hosts,
    Children,
    Vars,
}

/// A group used before it was declared (Ansible's `pending_declarations`).
struct Pending {
    line: u32,
    col: u32,
    state: State,
    parents: Vec<String>,
}

struct Parser<'a> {
    graph: &'a mut Graph,
    /// File name for spans and variable origins.
    file: &'a str,
    /// The inventory source recorded as the hosts' `inventory_file`.
    source: &'a str,
    line: u32,
    /// 1-based column where the stripped line starts.
    indent: u32,
}

/// Parse INI inventory text into `graph`.
pub fn parse(text: &str, file: &str, source: &str, graph: &mut Graph) -> Result<(), InventoryError> {
    let mut p = Parser { graph, file, source, line: 0, indent: 1 };
    p.run(text)
}

impl Parser<'_> {
    fn span(&self, col_in_line: usize) -> Span {
        Span::new(self.file, self.line, self.indent + col_in_line as u32)
    }

    fn err(&self, col_in_line: usize, msg: impl Into<String>) -> InventoryError {
        InventoryError::new(self.span(col_in_line), msg)
    }

    fn run(&mut self, text: &str) -> Result<(), InventoryError> {
        let mut pending: IndexMap<String, Pending> = IndexMap::new();
        let mut group = UNGROUPED.to_string();
        let mut state = State::Hosts;
        for raw in text.split('\n') {
            self.line += 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let line = raw.trim();
            if line.is_empty() || line.starts_with(['#', ';']) {
                continue;
            }
            let lead = raw.len() - raw.trim_start().len();
            self.indent = raw[..lead].chars().count() as u32 + 1;

            if let Some(c) = SECTION.captures(line) {
                group = c[1].to_string();
                let kind = c.get(2).map(|m| m.as_str()).unwrap_or("hosts");
                state = match kind {
                    "hosts" => State::Hosts,
                    "children" => State::Children,
                    "vars" => State::Vars,
                    other => {
                        return Err(self.err(
                            0,
                            format!("section [{group}:{other}] has unknown type '{other}'; expected [{group}], [{group}:children] or [{group}:vars]"),
                        ));
                    }
                };
                if !self.graph.groups.contains_key(&group) {
                    // [g:vars] alone does not declare g; remember to check it is declared somewhere.
                    if state == State::Vars && !pending.contains_key(&group) {
                        pending.insert(group.clone(), Pending { line: self.line, col: self.indent, state, parents: Vec::new() });
                    }
                    self.graph.add_group(&group).map_err(|e| self.err(0, e))?;
                }
                if state != State::Vars && pending.contains_key(&group) {
                    match pending[&group].state {
                        State::Children => self.add_pending_children(&group, &mut pending)?,
                        _ => {
                            pending.shift_remove(&group);
                        }
                    }
                }
                continue;
            }
            if line.starts_with('[') && line.ends_with(']') {
                return Err(self.err(
                    0,
                    format!("invalid section entry '{line}': expected [group], [group:children] or [group:vars] with no spaces or other invalid characters"),
                ));
            }
            match state {
                State::Hosts => self.host_line(line, &group)?,
                State::Vars => {
                    let (k, v) = self.var_line(line)?;
                    self.graph.set_var(&group, &k, v, self.file).map_err(|e| self.err(0, e))?;
                }
                State::Children => {
                    let Some(c) = GROUP_NAME.captures(line) else {
                        return Err(self.err(0, format!("expected a group name, got '{line}'")));
                    };
                    let child = c[1].to_string();
                    if self.graph.groups.contains_key(&child) {
                        self.graph.add_child(&group, &child).map_err(|e| self.err(0, e))?;
                    } else {
                        match pending.get_mut(&child) {
                            Some(p) => p.parents.push(group.clone()),
                            None => {
                                pending.insert(child, Pending { line: self.line, col: self.indent, state, parents: vec![group.clone()] });
                            }
                        }
                    }
                }
            }
        }
        // Anything still pending was used but never declared; Ansible reports the first.
        if let Some((name, p)) = pending.first() {
            let span = Span::new(self.file, p.line, p.col);
            let msg = match p.state {
                State::Vars => format!(
                    "section [{name}:vars] is for group '{name}', which is not declared in this file or an inventory file read before it (expected a [{name}] or [{name}:children] section in this file)"
                ),
                _ => format!(
                    "section [{}:children] includes group '{name}', which is not declared in this file or an inventory file read before it (expected a [{name}] or [{name}:children] section in this file)",
                    p.parents.last().map(String::as_str).unwrap_or("?")
                ),
            };
            return Err(InventoryError::new(span, msg));
        }
        Ok(())
    }

    /// A pending group got declared: link it under the parents that named it, and so on up for parents that were
    /// themselves pending children (Ansible's `_add_pending_children`, without recursion).
    fn add_pending_children(&mut self, group: &str, pending: &mut IndexMap<String, Pending>) -> Result<(), InventoryError> {
        let mut todo = vec![group.to_string()];
        while let Some(g) = todo.pop() {
            let Some(p) = pending.shift_remove(&g) else { continue };
            for parent in p.parents {
                self.graph.add_child(&parent, &g).map_err(|e| self.err(0, e))?;
                if pending.get(&parent).is_some_and(|p| p.state == State::Children) {
                    todo.push(parent);
                }
            }
        }
        Ok(())
    }

    /// `host[01:03]:port key=value ...`
    fn host_line(&mut self, line: &str, group: &str) -> Result<(), InventoryError> {
        let words = shlex::split(line).map_err(|e| self.err(e.offset, format!("cannot split host line: {}", e.msg)))?;
        let Some(first) = words.first() else {
            return Err(self.err(0, "expected a host name"));
        };
        let entry = &first.text;
        let (hosts, port) = expand_host_entry(entry).map_err(|e| self.err(first.offset, format!("host '{entry}': {e}")))?;
        if entry.trim().ends_with(':') && port.is_none() {
            return Err(self.err(
                first.offset,
                format!("invalid host '{entry}': it ends in ':', which is reserved for a port number (expected host or host:port)"),
            ));
        }
        if hosts.iter().any(|h| h.trim() == "---") {
            return Err(self.err(first.offset, "invalid host '---': this looks like a YAML file, not an INI inventory"));
        }
        let mut vars: Vec<(String, Value)> = Vec::new();
        for w in &words[1..] {
            let Some((k, v)) = w.text.split_once('=') else {
                return Err(self.err(w.offset, format!("expected key=value host variable assignment, got '{}'", w.text)));
            };
            let value = self.typed(v, w.offset + k.chars().count() + 1)?;
            match vars.iter_mut().find(|(name, _)| name == k) {
                Some(slot) => slot.1 = value,
                None => vars.push((k.to_string(), value)),
            }
        }
        for h in &hosts {
            self.graph.add_host(h, Some(group), port, Some(self.source)).map_err(|e| self.err(first.offset, e))?;
            for (k, v) in &vars {
                self.graph.set_var(h, k, v.clone(), self.file).map_err(|e| self.err(first.offset, e))?;
            }
        }
        Ok(())
    }

    /// `key = value` in a `:vars` section: everything after the first `=` is the value.
    fn var_line(&self, line: &str) -> Result<(String, Value), InventoryError> {
        let Some((k, v)) = line.split_once('=') else {
            return Err(self.err(0, format!("expected key=value, got '{line}'")));
        };
        let col = k.chars().count() + 1 + (v.chars().count() - v.trim_start().chars().count());
        Ok((k.trim().to_string(), self.typed(v.trim(), col)?))
    }

    fn typed(&self, text: &str, col: usize) -> Result<Value, InventoryError> {
        match py_literal::eval(text) {
            Literal::Value(v) => Ok(v),
            Literal::Text => Ok(Value::String(text.to_string())),
            Literal::Invalid(msg) => Err(self.err(col, format!("value '{text}' cannot be used: {msg}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(text: &str) -> Result<Graph, InventoryError> {
        let mut g = Graph::new();
        parse(text, "hosts.ini", "/inv/hosts.ini", &mut g)?;
        g.reconcile().unwrap();
        Ok(g)
    }

    #[test]
    fn host_line_and_vars_section_type_values_differently() {
        let g = load("[web]\nw1 a=\"1\" b=yes c='x y' d=[1,2]\n[web:vars]\na=\"1\"\nb = 1.5 # note\nc = plain text\n").unwrap();
        let h = &g.hosts["w1"].vars;
        assert_eq!((&h["a"], &h["b"], &h["c"], &h["d"]), (&json!(1), &json!("yes"), &json!("x y"), &json!([1, 2])));
        let v = &g.groups["web"].vars;
        assert_eq!((&v["a"], &v["b"], &v["c"]), (&json!("1"), &json!(1.5), &json!("plain text")));
    }

    #[test]
    fn groups_may_be_used_before_they_are_declared() {
        let g = load("[parent:children]\nlater\n[later:vars]\nx=1\n[later]\nl1\n").unwrap();
        assert_eq!(g.groups["parent"].children, ["later"]);
        assert_eq!(g.groups["later"].hosts, ["l1"]);
    }

    #[test]
    fn undeclared_groups_are_errors_with_place() {
        let err = load("[a]\nh\n\n[a:children]\nmissing\n").unwrap_err();
        assert_eq!(err.span.to_string(), "hosts.ini:5:1");
        assert!(err.msg.contains("'missing'"), "{err}");
        let err = load("[ghost:vars]\nx=1\n").unwrap_err();
        assert!(err.to_string().starts_with("hosts.ini:1:1: section [ghost:vars]"), "{err}");
    }

    #[test]
    fn bad_lines_name_line_and_column() {
        let err = load("[web]\n  w1 novalue\n").unwrap_err();
        assert_eq!(err.span.to_string(), "hosts.ini:2:6");
        assert!(err.msg.contains("expected key=value"), "{err}");
        let err = load("[web:nope]\n").unwrap_err();
        assert!(err.msg.contains("unknown type"), "{err}");
        let err = load("[web]\nw1:\n").unwrap_err();
        assert!(err.msg.contains("reserved for a port"), "{err}");
        let err = load("[bad name]\n").unwrap_err();
        assert!(err.msg.contains("invalid section"), "{err}");
        let err = load("[web]\nw1 x='open\n").unwrap_err();
        assert_eq!(err.span.to_string(), "hosts.ini:2:6");
    }

    #[test]
    fn ports_ranges_and_ungrouped() {
        let g = load("top\n[k3s]\nnode[1:2]:2222\n").unwrap();
        assert_eq!(g.groups["ungrouped"].hosts, ["top"]);
        assert_eq!(g.groups["k3s"].hosts, ["node1", "node2"]);
        assert_eq!(g.hosts["node2"].vars["ansible_port"], json!(2222));
        assert_eq!(g.hosts["node2"].source.as_deref(), Some("/inv/hosts.ini"));
    }
}
