//! Serialisation filters: to_json/to_nice_json (Python `json.dumps` output: `", "` separators, ASCII escapes),
//! from_json, to_yaml/to_nice_yaml (PyYAML-style output, see pyyaml.rs), from_yaml/from_yaml_all (hlprov's
//! YAML 1.1 loader, so `yes` is a boolean as with PyYAML).

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};

use super::text::text_of;
use super::{add, defined, fail, pyyaml, undefined_error};
use crate::template::convert::{self, ToJsonError};
use crate::yaml::{self, Value as Json};

pub fn register(env: &mut Environment<'static>) {
    add(env, "to_json", to_json);
    add(env, "to_nice_json", to_nice_json);
    add(env, "from_json", from_json);
    add(env, "to_yaml", to_yaml);
    add(env, "to_nice_yaml", to_nice_yaml);
    add(env, "from_yaml", from_yaml);
    add(env, "from_yaml_all", from_yaml_all);
}

pub fn json_of(v: &Value) -> Result<Json, Error> {
    defined(v)?;
    convert::to_json(v).map_err(|e| match e {
        ToJsonError::Undefined => undefined_error(v),
        ToJsonError::Invalid(e) => e,
    })
}

/// Options of Python's `json.dumps` that roles use.
pub struct JsonStyle {
    pub indent: Option<usize>,
    pub sort_keys: bool,
    pub ensure_ascii: bool,
}

fn to_json(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let style = JsonStyle {
        indent: kwargs.get("indent")?,
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false),
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true),
    };
    Ok(dumps(&json_of(value)?, &style))
}

fn to_nice_json(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let style = JsonStyle {
        indent: Some(kwargs.get::<Option<usize>>("indent")?.unwrap_or(4)),
        sort_keys: kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true),
        ensure_ascii: kwargs.get::<Option<bool>>("ensure_ascii")?.unwrap_or(true),
    };
    Ok(dumps(&json_of(value)?, &style))
}

/// `json.dumps(v, indent=..., sort_keys=..., ensure_ascii=...)`.
pub fn dumps(v: &Json, style: &JsonStyle) -> String {
    let mut out = String::new();
    write_json(v, style, 0, &mut out);
    out
}

fn write_json(v: &Json, style: &JsonStyle, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(n) = style.indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * depth));
        }
    };
    let item_sep = if style.indent.is_some() { "," } else { ", " };
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&python_number(n)),
        Json::String(s) => write_json_str(s, style.ensure_ascii, out),
        Json::Array(a) if a.is_empty() => out.push_str("[]"),
        Json::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json(item, style, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        Json::Object(m) if m.is_empty() => out.push_str("{}"),
        Json::Object(m) => {
            out.push('{');
            let mut entries: Vec<(&String, &Json)> = m.iter().collect();
            if style.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            for (i, (k, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                newline(out, depth + 1);
                write_json_str(k, style.ensure_ascii, out);
                out.push_str(": ");
                write_json(item, style, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

/// Numbers the way Python prints them (`1.0`, `1e+20`).
pub fn python_number(n: &serde_json::Number) -> String {
    if n.is_f64() {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
            return format!("{f:.1}");
        }
        if f.abs() >= 1e16 || (f != 0.0 && f.abs() < 1e-4) {
            let s = format!("{f:e}");
            // Rust writes 1e20, Python 1e+20.
            return match s.split_once('e') {
                Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
                Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
                None => s,
            };
        }
        return f.to_string();
    }
    n.to_string()
}

fn write_json_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn from_json(value: &Value, _kw: Kwargs) -> Result<Value, Error> {
    let text = text_of(value)?;
    let v: Json = serde_json::from_str(&text).map_err(|e| fail(format!("from_json: not valid JSON (line {}, column {})", e.line(), e.column())))?;
    Ok(convert::to_mj(&v))
}

fn to_yaml(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(2);
    let flow: Option<bool> = kwargs.get("default_flow_style")?;
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    Ok(pyyaml::dump(&json_of(value)?, &pyyaml::Style { indent, default_flow_style: flow, sort_keys }))
}

fn to_nice_yaml(value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    let indent = kwargs.get::<Option<usize>>("indent")?.unwrap_or(4);
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(true);
    Ok(pyyaml::dump(&json_of(value)?, &pyyaml::Style { indent, default_flow_style: Some(false), sort_keys }))
}

fn from_yaml(value: &Value) -> Result<Value, Error> {
    // ansible-core 2.19 passes an undefined input through (its marker), so `x | from_yaml | default(...)` works.
    if value.is_undefined() {
        return Ok(value.clone());
    }
    let text = text_of(value)?;
    let node = yaml::load_one(&text, "<from_yaml>").map_err(|e| fail(format!("from_yaml: {}", e.msg)))?;
    Ok(convert::to_mj(&node.to_value()))
}

fn from_yaml_all(value: &Value) -> Result<Value, Error> {
    let text = text_of(value)?;
    let docs = yaml::load_all(&text, "<from_yaml_all>").map_err(|e| fail(format!("from_yaml_all: {}", e.msg)))?;
    Ok(Value::from(docs.iter().map(|d| convert::to_mj(&d.to_value())).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_dumps_like_python() {
        let compact = JsonStyle { indent: None, sort_keys: false, ensure_ascii: true };
        assert_eq!(dumps(&json!({"b": [1, 2.0], "a": "é\n"}), &compact), r#"{"b": [1, 2.0], "a": "\u00e9\n"}"#);
        let nice = JsonStyle { indent: Some(2), sort_keys: true, ensure_ascii: true };
        assert_eq!(dumps(&json!({"b": [], "a": {"x": 1}}), &nice), "{\n  \"a\": {\n    \"x\": 1\n  },\n  \"b\": []\n}");
    }
}
