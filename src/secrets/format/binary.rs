//! The sops "binary" format: any other file is stored whole as one string at key `data`, and the encrypted
//! file is JSON. Must not decrypt anything.

use crate::secrets::tree::{Entry, Value};

pub fn wrap(text: &str) -> Value {
    Value::Map(vec![Entry::Pair("data".into(), Value::Str(text.to_string()))])
}

pub fn unwrap(doc: &Value) -> Result<String, String> {
    match doc.get("data") {
        Some(Value::Str(s)) => Ok(s.clone()),
        _ => Err("a binary SOPS file must hold a string at key 'data'".into()),
    }
}
