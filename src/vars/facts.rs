//! Turning gathered facts into the Facts layer the way Ansible exposes them: all of them under `ansible_facts`
//! (short names), and each one also as a top-level `ansible_<name>` variable (Ansible's INJECT_FACTS_AS_VARS).

use super::Vars;
use crate::yaml::Value;

/// The Facts layer for `facts` (keys as in `ansible_facts`, e.g. `hostname`, `default_ipv4`).
pub fn facts_layer(facts: &Vars) -> Vars {
    let mut out = Vars::new();
    for (k, v) in facts {
        let name = if k.starts_with("ansible_") { k.clone() } else { format!("ansible_{k}") };
        out.insert(name, v.clone());
    }
    out.insert("ansible_facts".into(), Value::Object(facts.clone()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn facts_are_exposed_twice_like_ansible() {
        let Value::Object(f) = json!({"hostname": "w1", "ansible_local": {}}) else { unreachable!() };
        let l = facts_layer(&f);
        assert_eq!(l["ansible_hostname"], json!("w1"));
        assert_eq!(l["ansible_local"], json!({}));
        assert_eq!(l["ansible_facts"]["hostname"], json!("w1"));
    }
}
