//! dotenv SOPS files, as sops reads them: one `KEY=VALUE` per line (everything before the first `=` is the key,
//! spaces included; no quoting), `#` lines are comments, `\n` in a value is a newline. Metadata is flattened
//! into `sops_…` keys. Every value is a string. Must not decrypt anything.

use crate::secrets::metadata::Metadata;
use crate::secrets::tree::{Entry, Value};

const PREFIX: &str = "sops_";

pub fn parse(text: &str) -> Result<Value, String> {
    let mut entries = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            entries.push(Entry::Comment(c.to_string()));
            continue;
        }
        // The line itself is not quoted in the error: it may hold a secret.
        let (k, v) = line.split_once('=').ok_or(format!("line {}: expected KEY=VALUE", i + 1))?;
        entries.push(Entry::Pair(k.to_string(), Value::Str(v.replace("\\n", "\n"))));
    }
    Ok(Value::Map(entries))
}

pub fn parse_encrypted(text: &str) -> Result<Option<(Vec<Value>, Metadata)>, String> {
    let Value::Map(entries) = parse(text)? else { unreachable!() };
    let mut data = Vec::new();
    let mut md = Vec::new();
    for e in entries {
        match e {
            Entry::Pair(k, Value::Str(v)) if k.starts_with(PREFIX) => md.push((k[PREFIX.len()..].to_string(), v)),
            other => data.push(other),
        }
    }
    if md.is_empty() {
        return Ok(None);
    }
    Ok(Some((vec![Value::Map(data)], Metadata::unflatten(&md)?)))
}

pub fn emit(doc: &Value) -> Result<String, String> {
    let Value::Map(entries) = doc else { return Err("a dotenv file is a flat list of KEY=VALUE".into()) };
    let mut out = String::new();
    for e in entries {
        match e {
            Entry::Comment(c) => {
                out.push('#');
                out.push_str(c);
            }
            Entry::Pair(k, v) => {
                let text = match v {
                    Value::Str(s) => s.clone(),
                    Value::Int(i) => i.to_string(),
                    Value::Float(f) => crate::secrets::tree::float_text(*f),
                    Value::Bool(b) => b.to_string(),
                    Value::Null => String::new(),
                    _ => return Err(format!("key '{k}': a dotenv file cannot hold lists or mappings")),
                };
                out.push_str(k);
                out.push('=');
                out.push_str(&text.replace('\n', "\\n"));
            }
        }
        out.push('\n');
    }
    Ok(out)
}

pub fn emit_encrypted(doc: &Value, md: &Metadata) -> Result<String, String> {
    let mut d = doc.clone();
    let Value::Map(entries) = &mut d else { return Err("a dotenv file is a flat list of KEY=VALUE".into()) };
    for (k, v) in md.flatten() {
        entries.push(Entry::Pair(format!("{PREFIX}{k}"), Value::Str(v)));
    }
    emit(&d)
}
