//! The phase graph: every play of a playbook is a phase (named by `phase:`, or after the play), and
//! `requires:` edges make a DAG (petgraph). A play without `requires:` depends on the play before it, so a
//! plain Ansible playbook keeps its order. Cycles, unknown names and duplicate phases are refused here, before
//! anything runs. This module plans; exec runs.

mod render;

use std::collections::HashMap;

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::playbook::Playbook;
use crate::yaml::Span;

pub use render::{Format, render};

/// One phase: a play and its place in the graph.
#[derive(Clone, Debug)]
pub struct Phase {
    pub name: String,
    /// Index of the play in the playbook.
    pub play: usize,
    /// Whether the play named its phase (`phase:`) rather than getting a name from its position.
    pub explicit: bool,
    pub span: Span,
    pub has_gate: bool,
}

/// The DAG of phases. Edges point from a phase to the phases that need it.
#[derive(Debug)]
pub struct PhaseGraph {
    pub graph: DiGraph<Phase, ()>,
    /// Phases in an order where each comes after everything it needs (ties in playbook order).
    pub order: Vec<NodeIndex>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{msg}")]
pub struct GraphError {
    pub msg: String,
}

impl PhaseGraph {
    pub fn find(&self, name: &str) -> Option<NodeIndex> {
        self.graph.node_indices().find(|i| self.graph[*i].name == name)
    }

    pub fn find_or_err(&self, name: &str) -> Result<NodeIndex, GraphError> {
        self.find(name).ok_or_else(|| {
            let names: Vec<&str> = self.graph.node_weights().map(|p| p.name.as_str()).collect();
            GraphError { msg: format!("no phase named '{name}' (phases: {})", names.join(", ")) }
        })
    }

    /// Phases `i` needs directly.
    pub fn requires(&self, i: NodeIndex) -> Vec<NodeIndex> {
        let mut v: Vec<NodeIndex> = self.graph.edges_directed(i, Direction::Incoming).map(|e| e.source()).collect();
        v.sort();
        v
    }

    /// Every phase `i` needs, directly or not.
    pub fn ancestors(&self, i: NodeIndex) -> Vec<NodeIndex> {
        let mut seen = vec![false; self.graph.node_count()];
        let mut stack = self.requires(i);
        let mut out = Vec::new();
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut seen[n.index()], true) {
                out.push(n);
                stack.extend(self.requires(n));
            }
        }
        out.sort();
        out
    }

    /// Every phase that needs `i`, directly or not.
    pub fn descendants(&self, i: NodeIndex) -> Vec<NodeIndex> {
        let mut seen = vec![false; self.graph.node_count()];
        let mut stack: Vec<NodeIndex> = self.graph.neighbors_directed(i, Direction::Outgoing).collect();
        let mut out = Vec::new();
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut seen[n.index()], true) {
                out.push(n);
                stack.extend(self.graph.neighbors_directed(n, Direction::Outgoing));
            }
        }
        out.sort();
        out
    }
}

/// Build the phase graph of a playbook.
pub fn build(playbook: &Playbook) -> Result<PhaseGraph, GraphError> {
    let mut graph = DiGraph::new();
    let mut by_name: HashMap<String, NodeIndex> = HashMap::new();
    let mut problems = Vec::new();
    for (i, play) in playbook.plays.iter().enumerate() {
        let (name, explicit) = match &play.phase {
            Some(p) => (p.clone(), true),
            None => (format!("{}:{}", i + 1, play.name), false),
        };
        let node = graph.add_node(Phase { name: name.clone(), play: i, explicit, span: play.span.clone(), has_gate: !play.verify.is_empty() });
        if let Some(prev) = by_name.insert(name.clone(), node) {
            problems.push(format!("{}: phase '{name}' is defined twice (first at {})", play.span, graph[prev].span));
        }
    }
    let nodes: Vec<NodeIndex> = graph.node_indices().collect();
    for (i, play) in playbook.plays.iter().enumerate() {
        match &play.requires {
            None if i > 0 => {
                graph.add_edge(nodes[i - 1], nodes[i], ());
            }
            None => {}
            Some(reqs) => {
                for (req, span) in reqs {
                    match by_name.get(req) {
                        Some(&from) if from == nodes[i] => problems.push(format!("{span}: phase '{req}' requires itself")),
                        Some(&from) => {
                            graph.add_edge(from, nodes[i], ());
                        }
                        None => {
                            let known: Vec<&str> = playbook.plays.iter().filter_map(|p| p.phase.as_deref()).collect();
                            problems.push(format!("{span}: requires unknown phase '{req}' (known phases: {})", known.join(", ")));
                        }
                    }
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(GraphError { msg: problems.join("\n") });
    }
    for scc in tarjan_scc(&graph) {
        if scc.len() > 1 {
            let mut members = scc.clone();
            members.sort();
            let names: Vec<String> = members.iter().map(|n| format!("'{}' ({})", graph[*n].name, graph[*n].span)).collect();
            return Err(GraphError { msg: format!("phases depend on each other in a cycle: {}", names.join(" → ")) });
        }
    }
    let order = stable_topo_order(&graph);
    Ok(PhaseGraph { graph, order })
}

/// Kahn's algorithm, always taking the ready phase that comes first in the playbook.
fn stable_topo_order(graph: &DiGraph<Phase, ()>) -> Vec<NodeIndex> {
    let mut indegree: Vec<usize> = graph.node_indices().map(|n| graph.edges_directed(n, Direction::Incoming).count()).collect();
    let mut ready: std::collections::BTreeSet<NodeIndex> = graph.node_indices().filter(|n| indegree[n.index()] == 0).collect();
    let mut order = Vec::new();
    while let Some(n) = ready.pop_first() {
        order.push(n);
        for m in graph.neighbors_directed(n, Direction::Outgoing) {
            indegree[m.index()] -= 1;
            if indegree[m.index()] == 0 {
                ready.insert(m);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn playbook(yaml: &str) -> Result<PhaseGraph, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.yml");
        std::fs::write(&path, yaml).unwrap();
        let pb = crate::playbook::load(&path, &Default::default()).map_err(|e| e.to_string())?;
        build(&pb).map_err(|e| e.to_string())
    }

    fn names(g: &PhaseGraph, v: &[NodeIndex]) -> Vec<String> {
        v.iter().map(|n| g.graph[*n].name.clone()).collect()
    }

    #[test]
    fn plain_playbooks_chain_and_requires_make_a_diamond() {
        let g = playbook("- {hosts: all, name: one}\n- {hosts: all, name: two}\n").unwrap();
        assert_eq!(names(&g, &g.order), ["1:one", "2:two"]);
        assert_eq!(names(&g, &g.requires(g.order[1])), ["1:one"]);

        let g = playbook(
            "- {hosts: all, phase: a}\n- {hosts: all, phase: b, requires: [a]}\n- {hosts: all, phase: c, requires: [a]}\n- {hosts: all, phase: d, requires: [b, c]}\n",
        )
        .unwrap();
        let d = g.find("d").unwrap();
        assert_eq!(names(&g, &g.requires(d)), ["b", "c"]);
        assert_eq!(names(&g, &g.ancestors(d)), ["a", "b", "c"]);
        assert_eq!(names(&g, &g.descendants(g.find("b").unwrap())), ["d"]);
        assert_eq!(names(&g, &g.order), ["a", "b", "c", "d"]);
    }

    #[test]
    fn cycles_unknown_and_duplicate_names_are_refused_with_locations() {
        let err =
            playbook("- {hosts: all, phase: a, requires: [c]}\n- {hosts: all, phase: b, requires: [a]}\n- {hosts: all, phase: c, requires: [b]}\n")
                .unwrap_err();
        assert!(err.contains("cycle"), "{err}");
        for (name, line) in [("a", 1), ("b", 2), ("c", 3)] {
            assert!(err.contains(&format!("'{name}' (")) && err.contains(&format!("site.yml:{line}:")), "{err}");
        }
        let err = playbook("- {hosts: all, phase: a}\n- {hosts: all, phase: b, requires: [nope]}\n").unwrap_err();
        assert!(err.contains("unknown phase 'nope'") && err.contains("site.yml:2:"), "{err}");
        let err = playbook("- {hosts: all, phase: a}\n- {hosts: all, phase: a}\n").unwrap_err();
        assert!(err.contains("defined twice"), "{err}");
    }

    #[test]
    fn thirty_phase_generated_graph_plans_quickly() {
        let mut yaml = String::new();
        for i in 0..30 {
            let reqs: Vec<String> = (0..i).filter(|j| (i - j) % 3 == 1 || *j == 0).map(|j| format!("p{j}")).collect();
            yaml.push_str(&format!("- {{hosts: all, phase: p{i}, requires: [{}]}}\n", reqs.join(", ")));
        }
        let g = playbook(&yaml).unwrap();
        assert_eq!(g.order.len(), 30);
        // Every phase comes after what it requires.
        let pos: HashMap<NodeIndex, usize> = g.order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        for n in g.graph.node_indices() {
            for r in g.requires(n) {
                assert!(pos[&r] < pos[&n]);
            }
        }
    }
}
