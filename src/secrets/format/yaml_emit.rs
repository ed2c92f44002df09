//! Writing YAML the way sops does: 4-space indentation, lists indented under their key, multi-line strings as
//! literal blocks, comments as `#` lines, documents separated by `---`.
//!
//! Strings are quoted whenever a YAML 1.1 or 1.2 reader could take them for something else (`yes`, `0644`,
//! `1e3`, `null`, …), so a value reads back with the type it had. Must not decrypt anything.

use crate::secrets::tree::{Entry, Value, float_text};

const INDENT: usize = 4;

pub fn emit(docs: &[Value]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        match d {
            Value::Map(e) if !e.is_empty() => map(&mut out, e, 0),
            Value::Seq(s) if !s.is_empty() => seq(&mut out, s, 0),
            other => {
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn comment(out: &mut String, text: &str, indent: usize) {
    pad(out, indent);
    out.push('#');
    out.push_str(text);
    out.push('\n');
}

fn map(out: &mut String, entries: &[Entry], indent: usize) {
    // `first_inline`: the first key follows a "- " already written by the caller.
    map_at(out, entries, indent, false)
}

fn map_at(out: &mut String, entries: &[Entry], indent: usize, mut first_inline: bool) {
    for e in entries {
        match e {
            Entry::Comment(c) => {
                if first_inline {
                    // A comment cannot follow "- " on the same line; put the mapping on the next line.
                    out.push('\n');
                    first_inline = false;
                }
                comment(out, c, indent);
            }
            Entry::Pair(k, v) => {
                if !first_inline {
                    pad(out, indent);
                }
                first_inline = false;
                out.push_str(&key(k));
                out.push(':');
                value_after_key(out, v, indent);
            }
        }
    }
}

fn value_after_key(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Map(e) if !e.is_empty() => {
            out.push('\n');
            map(out, e, indent + INDENT);
        }
        Value::Seq(s) if !s.is_empty() => {
            out.push('\n');
            seq(out, s, indent + INDENT);
        }
        Value::Str(s) if block_ok(s) => block(out, s, indent + INDENT),
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        if let Value::Comment(c) = item {
            comment(out, c, indent);
            continue;
        }
        pad(out, indent);
        out.push('-');
        match item {
            Value::Map(e) if !e.is_empty() => {
                out.push(' ');
                map_at(out, e, indent + 2, true);
            }
            Value::Seq(s) if !s.is_empty() => {
                out.push('\n');
                seq(out, s, indent + INDENT);
            }
            Value::Str(s) if block_ok(s) => block(out, s, indent + INDENT),
            other => {
                out.push(' ');
                out.push_str(&inline(other));
                out.push('\n');
            }
        }
    }
}

/// Can `s` be written as a literal block (`|`)? Multi-line, no trailing spaces, no leading space on the first
/// line, printable.
fn block_ok(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n'])
        && !s.chars().any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
        && s.split('\n').all(|l| l == l.trim_end())
}

fn block(out: &mut String, s: &str, indent: usize) {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    out.push_str(match trailing {
        0 => " |-\n",
        1 => " |\n",
        _ => " |+\n",
    });
    for line in body.split('\n').chain(std::iter::repeat_n("", trailing.saturating_sub(1))) {
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn key(k: &str) -> String {
    if plain_ok(k) { k.to_string() } else { quoted(k) }
}

fn inline(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => (if *f > 0.0 { ".inf" } else { "-.inf" }).into(),
        Value::Float(f) => {
            // Keep it a float when read back: "2" would come back as an integer.
            let t = float_text(*f);
            if t.contains('.') { t } else { format!("{t}.0") }
        }
        Value::Str(s) | Value::Comment(s) => {
            if plain_ok(s) {
                s.clone()
            } else {
                quoted(s)
            }
        }
        Value::Map(_) => "{}".into(),
        Value::Seq(_) => "[]".into(),
    }
}

/// Is `s` safe as a plain (unquoted) scalar that reads back as this same string?
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    // An indicator character cannot start a plain scalar; a dash can, when it does not start "- " or "---".
    let dash_ok = first == '-' && s.len() > 1 && !s.starts_with("- ") && !s.starts_with("---");
    if s != s.trim() || ("-?:,[]{}#&*!|>'\"%@`".contains(first) && !dash_ok) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') || s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    // Anything a YAML 1.1 (PyYAML, hlprov) or YAML 1.2 (Go yaml.v3, sops) reader would not read as a string.
    if !matches!(crate::yaml::resolve_plain(s.to_string()), crate::yaml::NodeKind::Str(_)) {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~" | ".inf" | "-.inf" | "+.inf" | ".nan") {
        return false;
    }
    let numeric_start = first.is_ascii_digit() || ((first == '-' || first == '+' || first == '.') && s.len() > 1);
    if numeric_start && (s.parse::<f64>().is_ok() || radix_int(s) || looks_like_time(s)) {
        return false;
    }
    true
}

/// `0x1F`, `0o17`, `0b101` (with an optional sign): integers to a YAML 1.2 reader.
fn radix_int(s: &str) -> bool {
    let body = s.trim_start_matches(['-', '+']);
    let digits = |rest: &str, ok: fn(char) -> bool| !rest.is_empty() && rest.chars().all(|c| ok(c) || c == '_');
    match body.get(..2) {
        Some("0x") => digits(&body[2..], |c| c.is_ascii_hexdigit()),
        Some("0o") => digits(&body[2..], |c| ('0'..='7').contains(&c)),
        Some("0b") => digits(&body[2..], |c| c == '0' || c == '1'),
        _ => false,
    }
}

/// A YAML timestamp (`2024-01-01`, `2024-01-01T00:00:00Z`) that Go's yaml.v3 would turn into a time.
fn looks_like_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-'
}

fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || c == '\u{feff}' => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ambiguous_strings_are_quoted_and_read_back_as_strings() {
        for s in ["yes", "No", "0644", "1e3", "1.5", "null", "", " lead", "a: b", "#x", "2024-01-01", "0x1F", "-3", "y", "True"] {
            assert!(!plain_ok(s), "{s:?} must be quoted");
        }
        for s in
            ["hunter2", "ENC[AES256_GCM,data:abc=,iv:x,tag:y,type:str]", "age1abc", "10.0.0.200-10.0.0.220", "-foo", "v1.30.4+k3s1", "0b3f0c1e-1111"]
        {
            assert!(plain_ok(s), "{s:?} can be plain");
        }
    }

    #[test]
    fn emits_sops_style_yaml_that_reads_back_identically() {
        let doc = Value::Map(vec![
            Entry::Comment(" top".into()),
            Entry::Pair("s".into(), Value::Str("yes".into())),
            Entry::Pair("f".into(), Value::Float(2.0)),
            Entry::Pair("multi".into(), Value::Str("a\nb\n".into())),
            Entry::Pair("nested".into(), Value::Map(vec![Entry::Pair("l".into(), Value::Seq(vec![Value::Comment(" c".into()), Value::Int(1)]))])),
            Entry::Pair(
                "maps".into(),
                Value::Seq(vec![Value::Map(vec![Entry::Pair("a".into(), Value::Bool(true)), Entry::Pair("b".into(), Value::Null)])]),
            ),
        ]);
        let text = emit(std::slice::from_ref(&doc));
        assert_eq!(
            text,
            "# top\ns: \"yes\"\nf: 2.0\nmulti: |\n    a\n    b\nnested:\n    l:\n        # c\n        - 1\nmaps:\n    - a: true\n      b: null\n"
        );
        assert_eq!(super::super::yaml::parse(&text, "t").unwrap(), vec![doc]);
    }
}
