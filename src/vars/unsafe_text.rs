//! The `!unsafe` convention: a string that must never be templated is stored as `{"__ansible_unsafe": "text"}`
//! (the encoding Ansible's own JSON encoder uses; the YAML loader produces it for `!unsafe` tags).
//! Helpers to make, recognise and remove that wrapper; nothing here renders anything.

use serde_json::Map;

use crate::yaml::{UNSAFE_KEY, Value};

/// A string value that templating will hand over verbatim.
pub fn wrap(text: impl Into<String>) -> Value {
    let mut m = Map::new();
    m.insert(UNSAFE_KEY.to_string(), Value::String(text.into()));
    Value::Object(m)
}

/// `v` with every string leaf wrapped: for values that are already rendered (loop items) and must not be
/// rendered again.
pub fn wrap_all(v: Value) -> Value {
    crate::yaml::mark_unsafe(v)
}

/// The text of an unsafe-wrapped string, if `v` is one.
pub fn as_unsafe(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get(UNSAFE_KEY)?.as_str(),
        _ => None,
    }
}

/// `v` with every unsafe wrapper replaced by its plain text (what a module receives).
pub fn strip(v: &Value) -> Value {
    if let Some(s) = as_unsafe(v) {
        return Value::String(s.to_string());
    }
    match v {
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), strip(v))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_recognise_and_strip() {
        let v = serde_json::json!({"a": wrap("{{ x }}"), "b": [wrap("y"), 1]});
        assert_eq!(as_unsafe(&v["a"]), Some("{{ x }}"));
        assert_eq!(as_unsafe(&serde_json::json!({"__ansible_unsafe": "x", "other": 1})), None);
        assert_eq!(strip(&v), serde_json::json!({"a": "{{ x }}", "b": ["y", 1]}));
    }
}
