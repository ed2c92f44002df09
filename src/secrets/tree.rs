//! The document tree SOPS encrypts: ordered maps, lists, typed scalars and comments, one tree per document.
//!
//! Order matters (the MAC hashes values in file order) and so do types (sops stores `str`/`int`/`float`/`bool`
//! with each value), so this is not `serde_json::Value`. Comments are items of their own, the way sops keeps
//! them. This module converts to and from the plain data model; it must not know about file formats or crypto.

use serde_json::{Map, Number};

/// One node. `Str` holds both plaintext strings and `ENC[…]` ciphertexts, depending on the tree's state.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A comment: inside a list it is an item of its own (sops stores it as a list item when encrypted).
    Comment(String),
    Seq(Vec<Value>),
    Map(Vec<Entry>),
}

/// One item of a mapping.
#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    Pair(String, Value),
    /// A full-line comment before the next pair (text after the `#`).
    Comment(String),
}

impl Value {
    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find_map(|e| match e {
                Entry::Pair(k, v) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Remove and return the pair `key` from a mapping (used to take the `sops` metadata out of a document).
    pub fn take(&mut self, key: &str) -> Option<Value> {
        let Value::Map(entries) = self else { return None };
        let i = entries.iter().position(|e| matches!(e, Entry::Pair(k, _) if k == key))?;
        match entries.remove(i) {
            Entry::Pair(_, v) => Some(v),
            Entry::Comment(_) => None,
        }
    }

    /// What kind of value this is, in words, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Comment(_) => "a comment",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The plain data model: comments dropped, key order kept.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null | Value::Comment(_) => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::Number((*i).into()),
            Value::Float(f) => Number::from_f64(*f).map(J::Number).unwrap_or_else(|| J::String(float_text(*f))),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().filter(|v| !matches!(v, Value::Comment(_))).map(Value::to_json).collect()),
            Value::Map(entries) => {
                let mut m = Map::new();
                for e in entries {
                    if let Entry::Pair(k, v) = e {
                        m.insert(k.clone(), v.to_json());
                    }
                }
                J::Object(m)
            }
        }
    }

    /// From the plain data model (JSON input, rendered manifests). Integers stay integers.
    pub fn from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(a) => Value::Seq(a.iter().map(Value::from_json).collect()),
            J::Object(m) => Value::Map(m.iter().map(|(k, v)| Entry::Pair(k.clone(), Value::from_json(v))).collect()),
        }
    }
}

/// A float the way Go's `strconv.FormatFloat(v, 'f', -1, 64)` writes it (shortest, never an exponent), which is
/// what sops encrypts and hashes. Rust's `Display` for f64 has the same rules.
pub fn float_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_like_go() {
        assert_eq!(float_text(1.5), "1.5");
        assert_eq!(float_text(2.0), "2");
        assert_eq!(float_text(1234568000.0), "1234568000");
        assert_eq!(float_text(0.25), "0.25");
        assert_eq!(float_text(1e21), "1000000000000000000000");
    }

    #[test]
    fn json_conversion_keeps_order_and_drops_comments() {
        let v = Value::Map(vec![
            Entry::Comment(" c".into()),
            Entry::Pair("z".into(), Value::Int(1)),
            Entry::Pair("a".into(), Value::Seq(vec![Value::Comment("x".into()), Value::Str("s".into())])),
        ]);
        assert_eq!(serde_json::to_string(&v.to_json()).unwrap(), r#"{"z":1,"a":["s"]}"#);
    }
}
