//! Property tests (proptest) for the loaders (issue: reliability): arbitrary and mutated text fed to
//! `yaml::load_all`, `Inventory::load` (YAML and INI files), `playbook::load` and the Templar must give a value
//! or an error, never panic, overflow the stack or run long. Each property runs a moderate number of cases so
//! the suite stays fast; proptest prints the smallest failing input it finds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hlprov::template::Templar;
use hlprov::vars::{LayerKind, VarScope};
use hlprov::yaml::Span;
use proptest::prelude::*;

/// Per input; generous for a loaded 2-core machine, far below what a hang or blow-up would take.
const BOUND: Duration = Duration::from_secs(3);

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn bounded<T>(what: &str, input: &str, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    let took = t0.elapsed();
    assert!(took < BOUND, "{what} took {took:?} on {input:?}");
    out
}

const PLAYBOOK: &str = r#"---
- name: base
  hosts: all:!w3
  gather_facts: false
  vars:
    pkgs: &pkgs [curl, "jq", 'vim']
    port: 0644
    nested: {a: [1, {b: yes}], c: ~}
  vars_files: [vars.yml]
  pre_tasks:
    - debug: msg="{{ pkgs | join(',') }}"
  tasks:
    - name: "loop {{ item }}"
      command: echo {{ item }}
      loop: *pkgs
      loop_control: {label: "{{ item }}", pause: 0}
      register: out
      changed_when: false
      when: port > 1 and inventory_hostname != 'x'
    - block:
        - shell: exit 1
          args: {creates: /tmp/x}
      rescue:
        - meta: flush_handlers
      always:
        - set_fact: {done: true}
      become: yes
    - include_tasks: more.yml
      vars: {a: 1}
    - copy:
        dest: /etc/motd
        content: |
          hello {{ inventory_hostname }}
          {% for p in pkgs %}{{ p }}{% endfor %}
      notify: restart
      tags: [motd, always]
  handlers:
    - name: restart
      command: "true"
      listen: topic
"#;

const INVENTORY_YAML: &str = "all:\n  vars: {ansible_user: root}\n  children:\n    k3s:\n      hosts:\n        w[1:3].lab: {ansible_port: 2222}\n        10.0.0.5:\n      vars:\n        x: !unsafe '{{ y }}'\n    db:\n      hosts: {pg: {ansible_host: 10.0.0.9}}\n      children: {k3s: {}}\n";

const INVENTORY_INI: &str = "[k3s]\nw[01:03].lab ansible_port=2222 labels=\"{'a': [1, 2]}\"\n10.0.0.5\n\n[k3s:vars]\nx=1\ny='two words' # comment\n\n[db:children]\nk3s\n\n[db]\npg ansible_host=10.0.0.9\n";

/// Characters that mean something to YAML, INI, Jinja or host patterns.
#[rustfmt::skip]
const SPICE: &[&str] = &[
    "{{", "}}", "{%", "%}", "{#", "#}", "[", "]", "{", "}", ":", ": ", "- ", "&a ", "*a", "<<: ", "!unsafe ", "!!str ", "'", "\"", "\\", "#", ";",
    "=", ",", "|", ">", "\n", "\n  ", "\t", " ", "\u{2028}", "\u{feff}", "é", "0644", "1e3", "~", "yes", "%", "?", "!", "@", ":!", "&&", "[1:3]",
    "---\n", "...\n", "${x}", "$(id)", "\r\n",
];

/// A seed with 1..5 random edits (few, so most inputs stay close to valid): insert spice, delete a range,
/// duplicate a slice, truncate.
fn mutated(seed: &'static str) -> impl Strategy<Value = String> {
    let edit = (0usize..4, any::<prop::sample::Index>(), any::<prop::sample::Index>(), prop::sample::select(SPICE));
    prop::collection::vec(edit, 1..5).prop_map(move |edits| {
        let mut chars: Vec<char> = seed.chars().collect();
        for (kind, a, b, spice) in edits {
            let len = chars.len();
            let at = if len == 0 { 0 } else { a.index(len + 1) };
            match kind {
                0 => {
                    chars.splice(at..at, spice.chars());
                }
                1 if len > 0 => {
                    let end = (at + b.index(40) + 1).min(len);
                    chars.drain(at.min(len)..end);
                }
                2 if len > 0 => {
                    let start = at.min(len - 1);
                    let end = (start + b.index(60) + 1).min(len);
                    let piece: Vec<char> = chars[start..end].to_vec();
                    let to = b.index(len + 1);
                    chars.splice(to..to, piece);
                }
                _ => chars.truncate(at.min(len)),
            }
        }
        chars.into_iter().collect()
    })
}

/// Text made of pieces that matter to the parsers, plus anything.
fn spicy_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![3 => prop::sample::select(SPICE).prop_map(str::to_string), 1 => ".{0,6}"], 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn yaml_never_panics_on_any_text(text in prop_oneof![".{0,300}", spicy_text(), mutated(PLAYBOOK), mutated(INVENTORY_YAML)]) {
        let docs = bounded("yaml::load_all", &text, || hlprov::yaml::load_all(&text, "fuzz.yml"));
        if let Ok(docs) = docs {
            // What loads also converts.
            for d in docs {
                let _ = d.to_value();
            }
        }
    }
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn inventory_files_never_panic(text in prop_oneof![mutated(INVENTORY_YAML), mutated(INVENTORY_INI), spicy_text()], ext in prop::sample::select(&["yml", "ini", ""][..])) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("hosts{}{ext}", if ext.is_empty() { "" } else { "." }));
        std::fs::write(&path, &text).unwrap();
        let inv = bounded("Inventory::load", &text, || hlprov::inventory::Inventory::load(std::slice::from_ref(&path)));
        if let Ok(inv) = inv {
            // A loaded inventory answers the questions a run asks of it.
            for h in inv.host_names() {
                let _ = inv.host_var_layers(&h);
            }
            let _ = inv.select("all:!w1.lab:&k3s");
        }
    }

    #[test]
    fn playbooks_never_panic(text in prop_oneof![mutated(PLAYBOOK), spicy_text()]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("site.yml");
        std::fs::write(&path, &text).unwrap();
        std::fs::write(dir.path().join("more.yml"), "- debug: msg=hi\n").unwrap();
        let loaded = bounded("playbook::load", &text, || hlprov::playbook::load(&path, &Default::default()));
        if let Err(e) = loaded {
            // Errors say where.
            prop_assert!(e.to_string().starts_with(&path.display().to_string()), "{}", e);
        }
    }
}

/// Templates from Jinja pieces: statements, expressions, filters, tests, loops and the variables below.
fn template_text() -> impl Strategy<Value = String> {
    #[rustfmt::skip]
    const PIECES: &[&str] = &[
        "{{ ", " }}", "{% ", " %}", "{# ", " #}", "if ", "else", "endif", "for x in ", "endfor", "range(", "9999", ")", "(", "[", "]", "a", "b", "self",
        "s", "n", "m", "l", "x", " | ", "default(", "join(", "upper", "length", "from_json", "to_json", "regex_replace('(a+)+$', '')", "map(", "select",
        "selectattr(", "b64decode", "int", "is defined", "~", " + ", " * ", " ** ", "99", "macro f(n)", "endmacro", "f(n)", "call", "set y = ", "'", "\"",
        ",", ".", "lookup('env', 'HOME')", "raw", "endraw", "loop.index", "{{", "}}", "\n", "namespace(", "dict(", "items()", "x.y.z", "recursive",
        "loop(", "include 'x'", "import", "filter", "endfilter", "hostvars",
    ];
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|v| v.concat())
}

/// Leaves, filters and operators of [`structured_template`].
#[rustfmt::skip]
const LEAVES: &[&str] = &[
    "a", "s", "n", "l", "m", "x.y.z", "big", "undefined_v", "'{{ a }}'", "\"%s\"", "[1, 2, [3]]", "{'k': n}", "9999", "-1", "none", "true",
    "range(99999)", "lookup('env', 'HOME')",
];
#[rustfmt::skip]
const FILTERS: &[&str] = &[
    "length", "upper", "int", "string", "list", "to_json", "from_json", "b64encode", "b64decode", "unique", "flatten", "first", "dict2items", "bool",
    "default(a)", "join(s)", "map('upper')", "select('defined')", "regex_replace('(a+)+$', 'x')", "replace('a', s * 3)", "combine(m)", "to_nice_yaml",
];
const OPERATORS: &[&str] = &["+", "*", "**", "~", "and", "or", "==", "in", "//", "%"];

/// Well-formed templates: expressions built recursively from variables, literals, filters, calls and
/// operators, inside loops, conditions, macros and sets.
fn structured_template() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(LEAVES).prop_map(str::to_string);
    let expr = leaf.prop_recursive(5, 64, 4, |inner| {
        prop_oneof![
            (inner.clone(), prop::sample::select(FILTERS)).prop_map(|(e, f)| format!("({e}) | {f}")),
            (inner.clone(), inner.clone(), prop::sample::select(OPERATORS)).prop_map(|(a, b, op)| format!("({a}) {op} ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a})[{b}]")),
            inner.clone().prop_map(|e| format!("({e}) is defined")),
        ]
    });
    let body = prop::collection::vec(expr.clone().prop_map(|e| format!("{{{{ {e} }}}}")), 1..3).prop_map(|v| v.concat());
    prop_oneof![
        body.clone(),
        (expr.clone(), body.clone()).prop_map(|(e, b)| format!("{{% for x in {e} %}}{b}{{{{ loop.index }}}}{{% endfor %}}")),
        (expr.clone(), body.clone(), body.clone()).prop_map(|(e, b, c)| format!("{{% if {e} %}}{b}{{% else %}}{c}{{% endif %}}")),
        (expr.clone(), body.clone()).prop_map(|(e, b)| format!("{{% set y = {e} %}}{b}{{{{ y }}}}")),
        (expr, body).prop_map(|(e, b)| format!("{{% macro f(n) %}}{b}{{{{ f(n) if n else '' }}}}{{% endmacro %}}{{{{ f({e}) }}}}")),
    ]
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn templates_never_panic_and_stay_bounded(text in prop_oneof![3 => structured_template(), 2 => template_text(), 1 => ".{0,120}"]) {
        let vars = serde_json::json!({
            "a": "{{ b }}", "b": "{{ a }}", "s": "text {{ n }}", "n": 7, "l": [1, "{{ n }}", [2]], "m": {"k": "{{ s }}"},
            "x": {"y": {"z": "deep"}}, "big": "9999999999999999999999"
        });
        let mut scope = VarScope::new();
        scope.push(LayerKind::PlayVars, "fuzz vars", Arc::new(vars.as_object().unwrap().clone()));
        let t = Templar::new();
        let _ = bounded("Templar::render_text", &text, || t.render_text(&text, &scope, &Span::synthetic("fuzz")));
    }
}
