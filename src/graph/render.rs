//! `hlprov graph`: the phase DAG as a text tree, Graphviz dot or Mermaid, with the hosts each phase touches.

use petgraph::graph::NodeIndex;

use super::PhaseGraph;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Dot,
    Mermaid,
}

/// Render the graph; `hosts(i)` gives the hosts phase `i` touches.
pub fn render(g: &PhaseGraph, format: Format, hosts: &dyn Fn(NodeIndex) -> Vec<String>) -> String {
    let label = |n: NodeIndex| {
        let p = &g.graph[n];
        let h = hosts(n);
        let gate = if p.has_gate { " [gate]" } else { "" };
        (p.name.clone(), format!("{}{gate} — {}", p.name, if h.is_empty() { "no hosts".to_string() } else { h.join(", ") }))
    };
    match format {
        Format::Text => {
            let mut out = String::new();
            for &n in &g.order {
                let (_, text) = label(n);
                let reqs: Vec<String> = g.requires(n).iter().map(|r| g.graph[*r].name.clone()).collect();
                out.push_str(&text);
                out.push('\n');
                if reqs.is_empty() {
                    out.push_str("    needs: nothing (starts at once)\n");
                } else {
                    out.push_str(&format!("    needs: {}\n", reqs.join(", ")));
                }
            }
            out
        }
        Format::Dot => {
            let mut out = String::from("digraph phases {\n  rankdir=LR;\n  node [shape=box];\n");
            for &n in &g.order {
                let (name, text) = label(n);
                out.push_str(&format!("  \"{}\" [label=\"{}\"];\n", esc(&name), esc(&text)));
            }
            for &n in &g.order {
                for r in g.requires(n) {
                    out.push_str(&format!("  \"{}\" -> \"{}\";\n", esc(&g.graph[r].name), esc(&g.graph[n].name)));
                }
            }
            out.push_str("}\n");
            out
        }
        Format::Mermaid => {
            let mut out = String::from("flowchart LR\n");
            for &n in &g.order {
                let (_, text) = label(n);
                out.push_str(&format!("  p{}[\"{}\"]\n", n.index(), text.replace('"', "'")));
            }
            for &n in &g.order {
                for r in g.requires(n) {
                    out.push_str(&format!("  p{} --> p{}\n", r.index(), n.index()));
                }
            }
            out
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
