//! Host patterns, as in `hosts:` and `--limit`: host and group names, `all`, wildcards (`web*`), regexes (`~web\d+`),
//! unions (`a:b` or `a,b`), intersections (`a:&b`), exclusions (`a:!b`) and subscripts (`web[0]`, `web[0:2]`,
//! `web[-1]`), evaluated in Ansible's order: plain terms first, then every `&`, then every `!`.
//! A term that matches nothing is a warning, not an error, as in Ansible.
//!
//! This file must not load inventories; it reads the graph.

use std::collections::HashSet;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;

use super::address::parse_address;
use super::error::PatternError;
use super::glob::Glob;
use super::graph::{Graph, LOCALHOST_NAMES};

/// The hosts a pattern selected, in inventory order, and what Ansible would have warned about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub hosts: Vec<String>,
    pub warnings: Vec<String>,
}

static SPLIT_TERMS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").expect("regex"));
static SUBSCRIPT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").expect("regex"));

/// Split a pattern into terms: on commas if there are any; else the whole pattern if it is one host address
/// (so `fe80::1` and `web[1:3]` stay whole); else on colons outside brackets.
pub fn split_terms(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern).is_some() {
        vec![pattern.to_string()]
    } else {
        SPLIT_TERMS.find_iter(pattern).map(|m| m.as_str().to_string()).collect()
    };
    parts.into_iter().map(|p| p.trim().to_string()).filter(|p| !p.is_empty()).collect()
}

/// Evaluate already split terms (Ansible's `_evaluate_patterns`).
pub fn evaluate(graph: &Graph, terms: &[String]) -> Result<Selection, PatternError> {
    let mut regular: Vec<&str> = Vec::new();
    let mut and: Vec<&str> = Vec::new();
    let mut not: Vec<&str> = Vec::new();
    for t in terms.iter().filter(|t| !t.is_empty()) {
        match t.as_bytes()[0] {
            b'!' => not.push(t),
            b'&' => and.push(t),
            _ => regular.push(t),
        }
    }
    // Only restrictions given: they apply to all hosts.
    if regular.is_empty() {
        regular.push("all");
    }
    let mut sel = Selection::default();
    let mut hosts: Vec<String> = Vec::new();
    for term in regular.into_iter().chain(and).chain(not) {
        if graph.hosts.contains_key(term) {
            hosts.push(term.to_string());
            continue;
        }
        let matched = match_term(graph, term, &mut sel.warnings)?;
        match term.as_bytes()[0] {
            b'!' => {
                let m: HashSet<&String> = matched.iter().collect();
                hosts.retain(|h| !m.contains(h));
            }
            b'&' => {
                let m: HashSet<&String> = matched.iter().collect();
                hosts.retain(|h| m.contains(h));
            }
            _ => hosts.extend(matched),
        }
    }
    let mut seen = HashSet::new();
    hosts.retain(|h| seen.insert(h.clone()));
    sel.hosts = hosts;
    Ok(sel)
}

/// Select hosts for `pattern`, then keep only those `limit` selects (`--limit`; `@file` reads one pattern a line).
pub fn select(graph: &Graph, pattern: &str, limit: Option<&str>) -> Result<Selection, PatternError> {
    let mut sel = evaluate(graph, &split_terms(pattern))?;
    if let Some(limit) = limit {
        let mut terms = Vec::new();
        for t in split_terms(limit) {
            match t.strip_prefix('@') {
                Some(file) => terms.extend(read_limit_file(file)?),
                None => terms.push(t),
            }
        }
        let allowed = evaluate(graph, &terms)?;
        let keep: HashSet<&String> = allowed.hosts.iter().collect();
        sel.hosts.retain(|h| keep.contains(h));
        sel.warnings.extend(allowed.warnings);
    }
    Ok(sel)
}

fn read_limit_file(file: &str) -> Result<Vec<String>, PatternError> {
    let err = |msg: String| PatternError { pattern: format!("@{file}"), msg };
    let path = Path::new(file);
    if !path.exists() {
        return Err(err("limit file not found".into()));
    }
    if !path.is_file() {
        return Err(err("a limit starting with '@' must be a file, not a directory".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read limit file: {e}")))?;
    Ok(text.split('\n').map(|l| l.trim().to_string()).collect())
}

/// One term without its `&`/`!`, with an optional subscript (Ansible's `_match_one_pattern`).
fn match_term(graph: &Graph, term: &str, warnings: &mut Vec<String>) -> Result<Vec<String>, PatternError> {
    let pattern = term.strip_prefix(['&', '!']).unwrap_or(term);
    let (expr, subscript) = split_subscript(pattern, warnings)?;
    let hosts = enumerate(graph, expr, warnings)?;
    apply_subscript(hosts, subscript)
        .ok_or_else(|| PatternError { pattern: pattern.to_string(), msg: "no hosts matched the subscripted pattern".into() })
}

type Subscript = (i64, Option<i64>);

fn split_subscript<'a>(pattern: &'a str, warnings: &mut Vec<String>) -> Result<(&'a str, Option<Subscript>), PatternError> {
    if pattern.starts_with('~') {
        return Ok((pattern, None));
    }
    let Some(c) = SUBSCRIPT.captures(pattern) else { return Ok((pattern, None)) };
    let num = |s: &str| s.parse::<i64>().map_err(|_| PatternError { pattern: pattern.to_string(), msg: format!("subscript {s} is out of range") });
    let expr = c.get(1).map(|m| m.as_str()).unwrap_or(pattern);
    if let Some(idx) = c.get(2) {
        return Ok((expr, Some((num(idx.as_str())?, None))));
    }
    let start = num(&c[3])?;
    let end = if c[5].is_empty() { -1 } else { num(&c[5])? };
    if &c[4] == "-" {
        warnings.push("Use [x:y] inclusive subscripts instead of [x-y] which has been removed".into());
    }
    Ok((expr, Some((start, Some(end)))))
}

/// Python's `hosts[start:end+1]` or `[hosts[start]]`, as Ansible's `_apply_subscript`; `None` when the single
/// index is out of range.
fn apply_subscript(hosts: Vec<String>, subscript: Option<Subscript>) -> Option<Vec<String>> {
    let Some((start, end)) = subscript else { return Some(hosts) };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = hosts.len() as i64;
    match end {
        // Ansible tests `if end:`, so an end of 0 means a single index.
        Some(e) if e != 0 => {
            let e = if e == -1 { len - 1 } else { e };
            let from = start.clamp(0, len) as usize;
            let to = (e + 1).clamp(0, len) as usize;
            Some(if from < to { hosts[from..to].to_vec() } else { Vec::new() })
        }
        _ => {
            let i = if start < 0 { len + start } else { start };
            (0..len).contains(&i).then(|| vec![hosts[i as usize].clone()])
        }
    }
}

/// Hosts of the groups the expression matches, then hosts it matches by name (Ansible's `_enumerate_matches`).
fn enumerate(graph: &Graph, expr: &str, warnings: &mut Vec<String>) -> Result<Vec<String>, PatternError> {
    let matches: Box<dyn Fn(&str) -> bool> = match expr.strip_prefix('~') {
        Some(re) => {
            // Python's re.match anchors at the start only.
            let re = Regex::new(&format!("^(?:{re})"))
                .map_err(|e| PatternError { pattern: expr.to_string(), msg: format!("invalid regular expression: {e}") })?;
            Box::new(move |s| re.is_match(s))
        }
        None => {
            let g = Glob::new(expr);
            Box::new(move |s| g.is_match(s))
        }
    };
    let groups: Vec<&String> = graph.groups.keys().filter(|g| matches(g)).collect();
    let mut results: Vec<String> = Vec::new();
    for g in &groups {
        results.extend(graph.group_hosts(g));
    }
    if groups.is_empty() || expr.starts_with('~') || expr.contains(['.', '?', '*', '[']) {
        results.extend(graph.hosts.keys().filter(|h| matches(h)).cloned());
    }
    if results.is_empty() && LOCALHOST_NAMES.contains(&expr) {
        results.push(implicit_localhost(graph, expr));
    }
    if results.is_empty() && groups.is_empty() && expr != "all" {
        warnings.push(format!("Could not match supplied host pattern, ignoring: {expr}"));
    }
    Ok(results)
}

/// The host Ansible uses for `localhost` when the inventory has no such host: the first localhost-like host of
/// the inventory if any, else an implicit host of that name.
pub fn implicit_localhost(graph: &Graph, name: &str) -> String {
    graph.hosts.keys().find(|h| LOCALHOST_NAMES.contains(&h.as_str())).cloned().unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_like_ansible() {
        assert_eq!(split_terms("web:&db:!w2"), ["web", "&db", "!w2"]);
        assert_eq!(split_terms("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(split_terms("fe80::1"), ["fe80::1"]);
        assert_eq!(split_terms("web[0:2]:db"), ["web[0:2]", "db"]);
        assert_eq!(split_terms("node[1:3]"), ["node[1:3]"]);
    }

    #[test]
    fn subscripts_follow_python_slicing() {
        let h: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(apply_subscript(h.clone(), Some((1, Some(-1)))).unwrap(), ["b", "c"]);
        assert_eq!(apply_subscript(h.clone(), Some((0, Some(1)))).unwrap(), ["a", "b"]);
        assert_eq!(apply_subscript(h.clone(), Some((-1, None))).unwrap(), ["c"]);
        assert_eq!(apply_subscript(h.clone(), Some((2, Some(0)))).unwrap(), ["c"]);
        assert_eq!(apply_subscript(h.clone(), Some((5, Some(9)))).unwrap(), Vec::<String>::new());
        assert!(apply_subscript(h, Some((3, None))).is_none());
    }
}
