//! INI SOPS files, as sops (go-ini) reads them: `[section]` headers make the first path level, `key = value`
//! (or `key: value`) below them, keys before any header belong to `DEFAULT`. Quotes around a value are removed;
//! `"""…"""` spans lines. Metadata lives in a `[sops]` section with flattened keys, newlines written as `\n`
//! (sops 3.13.0/3.13.1 wrote `"""` blocks instead; both are read). Every value is a string.
//!
//! Comments are not kept: sops moves them to other keys on every round trip, so hlprov drops them (they are not
//! part of the MAC). Must not decrypt anything.

use crate::secrets::metadata::Metadata;
use crate::secrets::tree::{Entry, Value};

const DEFAULT: &str = "DEFAULT";

pub fn parse(text: &str) -> Result<Value, String> {
    let mut sections: Vec<(String, Vec<Entry>)> = vec![(DEFAULT.into(), Vec::new())];
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or(format!("line {}: a section header must end with ']'", i + 1))?;
            let name = name.trim().to_string();
            if !sections.iter().any(|(n, _)| *n == name) {
                sections.push((name.clone(), Vec::new()));
            }
            // Repeated sections continue the earlier one, as in go-ini.
            let idx = sections.iter().position(|(n, _)| *n == name).unwrap();
            let s = sections.remove(idx);
            sections.push(s);
            continue;
        }
        let split = line.find(['=', ':']).ok_or(format!("line {}: expected 'key = value'", i + 1))?;
        let key = line[..split].trim().to_string();
        let mut value = line[split + 1..].trim().to_string();
        if let Some(rest) = value.strip_prefix("\"\"\"") {
            // A value in triple quotes may continue over several lines.
            let mut acc = rest.to_string();
            while !acc.ends_with("\"\"\"") {
                let (_, next) = lines.next().ok_or(format!("line {}: unterminated \"\"\" value", i + 1))?;
                acc.push('\n');
                acc.push_str(next);
            }
            value = acc[..acc.len() - 3].to_string();
        } else {
            value = unquote(&value).to_string();
        }
        let entries = &mut sections.last_mut().unwrap().1;
        entries.retain(|e| !matches!(e, Entry::Pair(k, _) if *k == key));
        entries.push(Entry::Pair(key, Value::Str(value)));
    }
    let top = sections
        .into_iter()
        .filter(|(name, entries)| !(name == DEFAULT && entries.is_empty()))
        .map(|(name, entries)| Entry::Pair(name, Value::Map(entries)))
        .collect();
    Ok(Value::Map(top))
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\'', '`'] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

pub fn parse_encrypted(text: &str) -> Result<Option<(Vec<Value>, Metadata)>, String> {
    let mut doc = parse(text)?;
    let Some(Value::Map(entries)) = doc.take("sops") else { return Ok(None) };
    let flat: Vec<(String, String)> = entries
        .into_iter()
        .filter_map(|e| match e {
            Entry::Pair(k, Value::Str(v)) => Some((k, v.replace("\\n", "\n"))),
            _ => None,
        })
        .collect();
    Ok(Some((vec![doc], Metadata::unflatten(&flat)?)))
}

pub fn emit(doc: &Value) -> Result<String, String> {
    let Value::Map(sections) = doc else { return Err("an INI file is a mapping of sections".into()) };
    let mut out = String::new();
    for e in sections {
        let Entry::Pair(name, body) = e else { continue };
        let Value::Map(entries) = body else {
            return Err(format!("'{name}': an INI file needs every top-level key to be a section (a mapping)"));
        };
        if !out.is_empty() {
            out.push('\n');
        }
        if name != DEFAULT {
            out.push_str(&format!("[{name}]\n"));
        }
        let pairs: Vec<(&String, String)> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::Pair(k, v) => Some((k, v)),
                Entry::Comment(_) => None,
            })
            .map(|(k, v)| scalar(k, v).map(|s| (k, s)))
            .collect::<Result<_, _>>()?;
        // go-ini aligns the '=' of a section's keys.
        let width = pairs.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        for (k, v) in pairs {
            out.push_str(&format!("{k:<width$} = {}\n", quote(&v)));
        }
    }
    Ok(out)
}

fn scalar(k: &str, v: &Value) -> Result<String, String> {
    Ok(match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => crate::secrets::tree::float_text(*f),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        _ => return Err(format!("key '{k}': an INI section cannot hold lists or mappings")),
    })
}

fn quote(v: &str) -> String {
    if v.contains('\n') {
        format!("\"\"\"{v}\"\"\"")
    } else if v != v.trim() || v.contains([';', '#']) || v.starts_with(['"', '\'', '`']) {
        format!("`{v}`")
    } else {
        v.to_string()
    }
}

pub fn emit_encrypted(doc: &Value, md: &Metadata) -> Result<String, String> {
    let mut d = doc.clone();
    let Value::Map(sections) = &mut d else { return Err("an INI file is a mapping of sections".into()) };
    let flat = md.flatten().into_iter().map(|(k, v)| Entry::Pair(k, Value::Str(v.replace('\n', "\\n")))).collect();
    sections.push(Entry::Pair("sops".into(), Value::Map(flat)));
    emit(&d)
}
