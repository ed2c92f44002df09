//! Robustness tests: thousands of seeded random mutations of real inventory files (and random host patterns and
//! INI values) go through every inventory stage; each must return a value or an error, never panic or hang.
//! The seed is fixed so a failure reproduces; the failing input is printed.
//!
//! This file only holds tests.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::graph::Graph;
use super::{address, ini, layers, output, pattern, py_literal, shlex, yaml_inventory};
use crate::yaml;

const SEEDS: [&str; 7] = [
    include_str!("../../tests/fixtures/inventory/homelab-yaml/01-proxmox.yml"),
    include_str!("../../tests/fixtures/inventory/homelab-yaml/02-k3s.yaml"),
    include_str!("../../tests/fixtures/inventory/homelab-yaml/03-storage.json"),
    include_str!("../../tests/fixtures/inventory/homelab-ini/10-proxmox.ini"),
    include_str!("../../tests/fixtures/inventory/homelab-ini/20-k3s.ini"),
    include_str!("../../tests/fixtures/inventory/typing.ini"),
    include_str!("../../tests/fixtures/inventory/edge.yml"),
];

/// Characters that mean something to one of the parsers.
const SPICE: &[char] = &[
    '[', ']', ':', '=', ',', '\'', '"', '\\', '#', ';', '{', '}', '(', ')', '-', '!', '&', '*', '?', '~', ' ', '\n', '\t', '0', '9', 'a', 'j', 'e',
    '.', '_', '|', '@', '\u{e9}', '\u{2028}', '\r', '+', '&', '%', '<', '>',
];

fn mutate(rng: &mut StdRng, text: &str) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..rng.gen_range(1..8) {
        let len = chars.len();
        match rng.gen_range(0..7) {
            0 if len > 0 => {
                let i = rng.gen_range(0..len);
                chars.remove(i);
            }
            1 => {
                let i = rng.gen_range(0..=len);
                chars.insert(i, SPICE[rng.gen_range(0..SPICE.len())]);
            }
            2 if len > 1 => {
                // Duplicate a slice somewhere else (repeats keys, sections, brackets).
                let a = rng.gen_range(0..len);
                let b = (a + rng.gen_range(1..40)).min(len);
                let piece: Vec<char> = chars[a..b].to_vec();
                let at = rng.gen_range(0..=len);
                chars.splice(at..at, piece);
            }
            3 if len > 0 => chars.truncate(rng.gen_range(0..len)),
            4 if len > 0 => {
                let i = rng.gen_range(0..len);
                chars[i] = SPICE[rng.gen_range(0..SPICE.len())];
            }
            5 => {
                // Swap two lines.
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.split('\n').collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.gen_range(0..lines.len()), rng.gen_range(0..lines.len()));
                    lines.swap(a, b);
                }
                chars = lines.join("\n").chars().collect();
            }
            _ => {
                let i = rng.gen_range(0..=len);
                for c in "[a:c]:[01:99999]".chars().rev() {
                    chars.insert(i, c);
                }
            }
        }
    }
    chars.into_iter().collect()
}

fn random_text(rng: &mut StdRng, max: usize) -> String {
    (0..rng.gen_range(0..max)).map(|_| SPICE[rng.gen_range(0..SPICE.len())]).collect()
}

/// Everything a loaded graph offers, so later stages are exercised on odd graphs too.
fn exercise(graph: &mut Graph, rng: &mut StdRng) {
    if graph.reconcile().is_err() {
        return;
    }
    let hosts: Vec<String> = graph.hosts.keys().cloned().collect();
    for _ in 0..3 {
        let p = if !hosts.is_empty() && rng.gen_bool(0.5) {
            format!("{}:{}", hosts[rng.gen_range(0..hosts.len())], random_text(rng, 12))
        } else {
            random_text(rng, 16)
        };
        let _ = pattern::select(graph, &p, None);
    }
    let ctx = layers::Context { graph, inventory_roots: &[], playbook_roots: &[] };
    let available = pattern::evaluate(graph, &["all".to_string()]).map(|s| s.hosts).unwrap_or_default();
    let list = output::list_json(graph, &available, |h| layers::merge(&ctx.layers(h, false)));
    let _ = output::json_text(&list);
    let _ = output::graph_text(graph, "all");
}

fn check(input: &str, what: &str, f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_err() {
        panic!("{what} panicked on input {input:?}");
    }
}

#[test]
fn mutated_inventories_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5eed_1a7e);
    for round in 0..1500 {
        let seed = SEEDS[round % SEEDS.len()];
        let text = mutate(&mut rng, seed);
        let mut r2 = StdRng::seed_from_u64(round as u64);
        check(&text, "INI loading", || {
            let mut g = Graph::new();
            if ini::parse(&text, "fuzz.ini", "/fuzz.ini", &mut g).is_ok() {
                exercise(&mut g, &mut r2);
            }
        });
        check(&text, "YAML loading", || {
            if let Ok(doc) = yaml::load_one(&text, "fuzz.yml") {
                let mut g = Graph::new();
                if yaml_inventory::accepts(&doc) && yaml_inventory::parse(&doc, "fuzz.yml", "/fuzz.yml", &mut g).is_ok() {
                    exercise(&mut g, &mut r2);
                }
            }
        });
    }
}

#[test]
fn random_values_words_and_host_entries_never_panic() {
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..20_000 {
        let s = random_text(&mut rng, 24);
        check(&s, "literal_eval", || {
            let _ = py_literal::eval(&s);
        });
        check(&s, "shlex", || {
            let _ = shlex::split(&s);
        });
        check(&s, "host entry", || {
            let _ = address::expand_host_entry(&s);
        });
        check(&s, "pattern split", || {
            let _ = pattern::split_terms(&s);
        });
    }
}

#[test]
fn hostile_sizes_are_refused_quickly() {
    let start = std::time::Instant::now();
    let deep_groups: String = (0..20_000).map(|i| format!("[g{i}:children]\ng{}\n", i + 1)).collect::<String>() + "[g20000]\nh\n";
    let mut g = Graph::new();
    ini::parse(&deep_groups, "deep.ini", "/deep.ini", &mut g).unwrap();
    g.reconcile().unwrap();
    assert_eq!(g.groups["g20000"].depth, 20_001);
    assert!(output::graph_text(&g, "all").lines().count() > 20_000);
    assert!(address::expand_host_entry(&"[1:1]".repeat(50_000)).is_ok());
    assert!(address::expand_host_entry("h[0:9][0:9][0:9][0:9][0:9][0:9]").unwrap_err().contains("more than"));
    assert_eq!(py_literal::eval(&"(".repeat(100_000)), py_literal::Literal::Text);
    assert!(start.elapsed() < std::time::Duration::from_secs(30), "took {:?}", start.elapsed());
}
