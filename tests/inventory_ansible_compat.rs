//! hlprov's inventory against what the real ansible-core printed for the same files
//! (tests/fixtures/inventory/expected/, recorded by record.sh; see the README there).
//! Every comparison is on parsed JSON or exact text; nothing here is hand-written expected output.

use std::path::{Path, PathBuf};

use hlprov::inventory::{Inventory, json_text};
use serde_json::Value;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory").join(rel)
}

fn expected_json(name: &str) -> Value {
    let path = fixture(&format!("expected/{name}"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn expected_text(name: &str) -> String {
    let path = fixture(&format!("expected/{name}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim_end_matches('\n').to_string()
}

/// The sources and playbook dir each recorded case used (mirrors record.sh).
fn load_case(case: &str) -> Inventory {
    let (sources, playbook): (&[&str], Option<&str>) = match case {
        "homelab-yaml" => (&["homelab-yaml"], None),
        "homelab-ini" => (&["homelab-ini"], None),
        "multi" => (&["homelab-yaml", "extra/extra.yml"], None),
        "playbook" => (&["homelab-yaml"], Some("playbook")),
        "typing" => (&["typing.ini"], None),
        "edge" => (&["edge.yml"], None),
        other => panic!("unknown case {other}"),
    };
    let paths: Vec<PathBuf> = sources.iter().map(|s| fixture(s)).collect();
    let mut inv = Inventory::load(&paths).unwrap_or_else(|e| panic!("{case}: {e}"));
    if let Some(pb) = playbook {
        inv.add_playbook_vars_dir(&fixture(pb)).unwrap();
    }
    inv
}

const CASES: [&str; 6] = ["homelab-yaml", "homelab-ini", "multi", "playbook", "typing", "edge"];

/// Show where two JSON documents first differ, so a failure is readable.
fn assert_json_eq(case: &str, got: &Value, want: &Value) {
    if got == want {
        return;
    }
    if let (Value::Object(g), Value::Object(w)) = (got, want) {
        for k in w.keys().chain(g.keys()) {
            if g.get(k) != w.get(k) {
                if let (Some(gv), Some(wv)) = (g.get(k), w.get(k)) {
                    assert_json_eq(&format!("{case}.{k}"), gv, wv);
                }
                panic!("{case}.{k}: hlprov has {:?}, ansible has {:?}", g.get(k), w.get(k));
            }
        }
    }
    panic!("{case}: hlprov has {got}, ansible has {want}");
}

#[test]
fn list_json_equals_ansible_inventory_list() {
    for case in CASES {
        let inv = load_case(case);
        assert_json_eq(case, &inv.to_list_json(), &expected_json(&format!("{case}.list.json")));
    }
}

#[test]
fn list_json_text_is_laid_out_like_ansible() {
    // Byte-for-byte, including Python's float notation and sorted keys.
    for case in ["homelab-yaml", "homelab-ini", "edge"] {
        let inv = load_case(case);
        assert_eq!(json_text(&inv.to_list_json()), expected_text(&format!("{case}.list.json")), "{case}");
    }
}

#[test]
fn graph_equals_ansible_inventory_graph() {
    for case in CASES {
        let inv = load_case(case);
        assert_eq!(inv.to_graph(None).unwrap(), expected_text(&format!("{case}.graph.txt")), "{case}");
    }
}

#[test]
fn host_vars_equal_ansible_inventory_host() {
    let dir = fixture("expected");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(rest) = name.strip_suffix(".json") else { continue };
        let Some((case, host)) = rest.split_once(".host.") else { continue };
        let inv = load_case(case);
        let mut want = expected_json(&name);
        if inv.is_implicit_localhost(host) {
            // Ansible gives the implicit localhost its own Python's path; hlprov runs no Python, so it sets none.
            want.as_object_mut().unwrap().remove("ansible_python_interpreter");
        }
        // `ansible-inventory --host` takes a pattern; each recorded one names exactly one host.
        let sel = inv.select(host).unwrap();
        assert_eq!(sel.hosts, [host], "{name}");
        assert_json_eq(&name, &Value::Object(inv.host_vars(host)), &want);
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} --host recordings found");
}

#[test]
fn patterns_and_limits_select_what_ansible_selects() {
    let inv = load_case("homelab-yaml");
    let cases = expected_json("patterns.json");
    for case in cases.as_array().unwrap() {
        let pattern = case["pattern"].as_str().unwrap();
        // record.sh ran from the fixture directory, where @limit.txt resolves.
        let limit = case["limit"].as_str().map(|l| match l.strip_prefix('@') {
            Some(file) => format!("@{}", fixture(file).display()),
            None => l.to_string(),
        });
        let want: Vec<String> = case["hosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect();
        let got = inv.select_limited(pattern, limit.as_deref()).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        assert_eq!(got.hosts, want, "pattern {pattern:?} limit {limit:?}");
    }
}

#[test]
fn unmatched_pattern_terms_are_warnings() {
    let inv = load_case("homelab-yaml");
    let sel = inv.select("nosuch:w1").unwrap();
    assert_eq!(sel.hosts, ["w1"]);
    assert_eq!(sel.warnings, ["Could not match supplied host pattern, ignoring: nosuch"]);
}

#[test]
fn yaml_and_ini_homelabs_agree_on_membership() {
    // The two fixtures describe the same homelab; their groups must match even though the files differ.
    let yaml = load_case("homelab-yaml");
    let ini = load_case("homelab-ini");
    assert_eq!(yaml.groups(), ini.groups());
    for h in yaml.host_names() {
        assert_eq!(yaml.group_names(&h), ini.group_names(&h), "{h}");
    }
}
