//! Tests of templating against recorded ansible-core output (testdata/ansible_oracle.json, made by
//! tools/ansible-oracle/gen.py) and of hlprov's own guarantees: lazy variables, cycles, `!unsafe`, `omit`,
//! error locations, secret redaction, bounded work.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};

use super::{Templar, TemplateErrorKind};
use crate::vars::{LayerKind, VarScope, Vars};
use crate::yaml::Span;

fn vars(v: Value) -> Arc<Vars> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => panic!("vars must be a mapping"),
    }
}

fn scope(v: Value) -> VarScope {
    let mut s = VarScope::new();
    s.push(LayerKind::PlayVars, "play", vars(v));
    s
}

fn origin() -> Span {
    Span::new("play.yml", 7, 9)
}

fn render(t: &Templar, tmpl: &str, s: &VarScope) -> Result<Value, super::TemplateError> {
    t.render_value(&Value::String(tmpl.to_string()), s, &origin())
}

fn oracle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src/template/testdata/oracle")
}

fn sorted(v: &Value) -> Value {
    match v {
        Value::Array(a) => {
            let mut a = a.clone();
            a.sort_by_key(|x| x.to_string());
            Value::Array(a)
        }
        other => other.clone(),
    }
}

/// Every case recorded from ansible-core renders to the same value in hlprov (or fails where Ansible fails).
#[test]
fn every_oracle_case_matches_ansible() {
    let doc: Value = serde_json::from_str(include_str!("testdata/ansible_oracle.json")).unwrap();
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var("HLPROV_ORACLE_ENV", "from-env") };
    let mut s = scope(doc["vars"].clone());
    s.set_search_paths(vec![oracle_dir()]);
    let t = Templar::new();
    let mut failures = Vec::new();
    let cases = doc["cases"].as_array().unwrap();
    assert!(cases.len() > 150, "the oracle file lost cases");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let tmpl = case["template"].as_str().unwrap();
        let got = render(&t, tmpl, &s);
        match (case.get("result"), got) {
            (Some(want), Ok(got)) => {
                let same = if case.get("compare").is_some() { sorted(want) == sorted(&got) } else { *want == got };
                if !same {
                    failures.push(format!("{name}: {tmpl}\n   ansible: {want}\n   hlprov:  {got}"));
                }
            }
            (Some(want), Err(e)) => failures.push(format!("{name}: {tmpl}\n   ansible: {want}\n   hlprov error: {e}")),
            (None, Ok(got)) => failures.push(format!("{name}: {tmpl}\n   ansible failed: {}\n   hlprov:  {got}", case["error"])),
            (None, Err(e)) => {
                // Where Ansible names an undefined variable, hlprov must name it too.
                let msg = case["error"].as_str().unwrap_or_default();
                if msg.contains("'nope' is undefined") && e.undefined.as_deref() != Some("nope") {
                    failures.push(format!("{name}: {tmpl}\n   ansible: {msg}\n   hlprov does not name 'nope': {e}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ from {}:\n{}", failures.len(), cases.len(), doc["ansible"], failures.join("\n"));
}
