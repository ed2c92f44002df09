//! Value filters: default/d, bool, int, string, ternary, mandatory, type_debug, and Python's `repr()`/`str()`
//! of values (Jinja prints lists and dicts the way Python does).

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, ErrorKind};

use super::{add, defined, fail, undefined_error};
use crate::template::convert::python_str;

pub fn register(env: &mut Environment<'static>) {
    add(env, "default", default);
    add(env, "d", default);
    add(env, "bool", to_bool);
    add(env, "int", int);
    add(env, "float", float);
    add(env, "string", string);
    add(env, "ternary", ternary);
    add(env, "mandatory", mandatory);
    add(env, "type_debug", type_debug);
}

/// `x | default(d, boolean=false)`: `d` when `x` is undefined (or, with `boolean`, false-ish).
/// The arguments come as they are: an explicit `none` default is a default of None, not a missing one.
fn default(value: &Value, args: Rest<Value>, kw: Kwargs) -> Result<Value, Error> {
    let other = match kw.get::<Option<Value>>("default_value")? {
        Some(v) => v,
        None => args.first().cloned().unwrap_or_else(|| Value::from("")),
    };
    let boolean = match kw.get::<Option<bool>>("boolean")? {
        Some(b) => b,
        None => args.get(1).is_some_and(Value::is_true),
    };
    kw.assert_all_used()?;
    Ok(if value.is_undefined() || (boolean && !value.is_true()) { other } else { value.clone() })
}

/// Ansible's `bool`: yes/on/true/1 (any case) are true, no/off/false/0 false; other values: `value == 1`.
pub fn to_bool(value: &Value) -> Result<bool, Error> {
    defined(value)?;
    let text = match value.kind() {
        ValueKind::String => Some(value.as_str().unwrap_or_default().to_lowercase()),
        ValueKind::Bool => Some(if value.is_true() { "true".into() } else { "false".into() }),
        ValueKind::Number if value.is_integer() => Some(value.to_string()),
        _ => None,
    };
    if let Some(t) = text {
        match t.as_str() {
            "yes" | "on" | "true" | "1" => return Ok(true),
            "no" | "off" | "false" | "0" => return Ok(false),
            _ => return Ok(false),
        }
    }
    // Floats: Python's `1.0 == 1`.
    Ok(value.kind() == ValueKind::Number && f64::try_from(value.clone()).map(|f| f == 1.0).unwrap_or(false))
}

/// Jinja's `int(default=0, base=10)`: strings parsed in `base` (Python accepts `0x`, `_`, spaces), then as a
/// float truncated; anything unparseable gives `default`.
fn int(value: &Value, default: Option<Value>, base: Option<u32>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(value)?;
    let default = default.or(kwargs.get("default")?).unwrap_or(Value::from(0));
    let base = base.or(kwargs.get("base")?).unwrap_or(10);
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(value.is_true() as i64),
        ValueKind::Number if value.is_integer() => value.clone(),
        ValueKind::Number => f64::try_from(value.clone()).ok().filter(|f| f.is_finite()).map(|f| Value::from(f.trunc() as i64)).unwrap_or(default),
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default().trim();
            parse_int(s, base)
                .map(Value::from)
                .or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(|f| Value::from(f.trunc() as i64)))
                .unwrap_or(default)
        }
        _ => default,
    })
}

/// Jinja2's `float`: Python's `float()`, or `default` (0.0) for what it cannot read (`'abc' | float` is 0.0).
fn float(value: &Value, default: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    defined(value)?;
    let default = default.or(kwargs.get("default")?).unwrap_or(Value::from(0.0));
    kwargs.assert_all_used()?;
    Ok(match value.kind() {
        ValueKind::Bool => Value::from(if value.is_true() { 1.0 } else { 0.0 }),
        ValueKind::Number => f64::try_from(value.clone()).map(Value::from).unwrap_or(default),
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default().trim().replace('_', "");
            let lower = s.to_ascii_lowercase();
            let special = match lower.trim_start_matches(['+', '-']) {
                "inf" | "infinity" => Some(if lower.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY }),
                "nan" => Some(f64::NAN),
                _ => None,
            };
            let plain = s.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
            special.or_else(|| plain.then(|| s.parse::<f64>().ok()).flatten()).map(Value::from).unwrap_or(default)
        }
        _ => default,
    })
}

/// Python's `int(s, base)` for the common cases.
fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = body.to_ascii_lowercase();
    let body = match base {
        16 => lower.strip_prefix("0x").unwrap_or(&lower),
        8 => lower.strip_prefix("0o").unwrap_or(&lower),
        2 => lower.strip_prefix("0b").unwrap_or(&lower),
        _ => &lower,
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let v = i64::from_str_radix(&body.replace('_', ""), base).ok()?;
    Some(if neg { -v } else { v })
}

/// `string`: Python's `str()`.
fn string(value: &Value) -> Result<String, Error> {
    defined(value)?;
    Ok(match value.kind() {
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => python_repr(value),
        _ => python_str(value),
    })
}

/// `cond | ternary(a, b, none_val)`.
fn ternary(value: &Value, true_val: Value, false_val: Value, none_val: Option<Value>) -> Result<Value, Error> {
    defined(value)?;
    if value.is_none() {
        if let Some(n) = none_val.filter(|n| !n.is_none()) {
            return Ok(n);
        }
    }
    Ok(if value.is_true() { true_val } else { false_val })
}

/// `x | mandatory(msg)`: fail when `x` is undefined.
fn mandatory(value: &Value, msg: Option<String>) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(match msg {
            Some(m) => Error::new(ErrorKind::InvalidOperation, m),
            None => undefined_error(value),
        });
    }
    Ok(value.clone())
}

/// `type_debug`: the Python type name Ansible would show.
fn type_debug(value: &Value, _kw: Kwargs) -> Result<&'static str, Error> {
    defined(value)?;
    Ok(match value.kind() {
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => return Err(fail("type_debug: value has no Ansible type")),
    })
}

/// Python's `repr()` of a value (strings quoted, True/False/None, nested lists and dicts).
pub fn python_repr(v: &Value) -> String {
    let mut out = String::new();
    repr_into(v, &mut out);
    out
}

fn repr_into(v: &Value, out: &mut String) {
    match v.kind() {
        ValueKind::String => quote_py(v.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in v.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(&item, out);
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in v.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_into(&key, out);
                out.push_str(": ");
                repr_into(&v.get_item(&key).unwrap_or_default(), out);
            }
            out.push('}');
        }
        _ => out.push_str(&python_str(v)),
    }
}

fn quote_py(s: &str, out: &mut String) {
    let q = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(q);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == q => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(q);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_repr_matches_python() {
        let v = Value::from(vec![Value::from(1), Value::from("it's"), Value::from(true), Value::from(()), Value::from("a\nb")]);
        assert_eq!(python_repr(&v), r#"[1, "it's", True, None, 'a\nb']"#);
        let m = Value::from_pairs([("k", Value::from(vec![Value::from(1.5)]))]);
        assert_eq!(python_repr(&m), "{'k': [1.5]}");
    }

    #[test]
    fn python_int_parsing() {
        assert_eq!(parse_int("0x1A", 16), Some(26));
        assert_eq!(parse_int("1_000", 10), Some(1000));
        assert_eq!(parse_int("-12", 10), Some(-12));
        assert_eq!(parse_int("12a", 10), None);
    }
}
