//! Conversions between the data model (`serde_json::Value`) and minijinja values. Pure data plumbing: no
//! templating happens here (unsafe-wrapped strings become plain strings; callers decide when to render).

use minijinja::value::{Value, ValueKind};

use crate::vars::unsafe_text;
use crate::yaml::Value as Json;

/// A JSON value as a template value. Unsafe wrappers become their plain text.
pub fn to_mj(v: &Json) -> Value {
    match v {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(a) => Value::from(a.iter().map(to_mj).collect::<Vec<_>>()),
        Json::Object(m) => match unsafe_text::as_unsafe(v) {
            Some(text) => Value::from(text),
            None => Value::from_pairs(m.iter().map(|(k, v)| (Value::from(k.as_str()), to_mj(v)))),
        },
    }
}

/// Why a template value has no JSON form.
#[derive(Debug)]
pub enum ToJsonError {
    Undefined,
    Invalid(minijinja::Error),
}

/// A template value as JSON. Mapping keys that are not strings are written the way Python's `str()` would.
pub fn to_json(v: &Value) -> Result<Json, ToJsonError> {
    Ok(match v.kind() {
        ValueKind::Undefined => return Err(ToJsonError::Undefined),
        ValueKind::Invalid => return Err(ToJsonError::Invalid(v.clone().try_iter().err().unwrap_or_else(invalid))),
        ValueKind::None => Json::Null,
        ValueKind::Bool => Json::Bool(v.is_true()),
        ValueKind::Number => number(v),
        ValueKind::String => Json::String(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Bytes => Json::String(String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned()),
        ValueKind::Seq | ValueKind::Iterable => {
            let mut out = Vec::new();
            for item in v.try_iter().map_err(ToJsonError::Invalid)? {
                out.push(to_json(&item)?);
            }
            Json::Array(out)
        }
        ValueKind::Map => {
            let mut out = serde_json::Map::new();
            for key in v.try_iter().map_err(ToJsonError::Invalid)? {
                let item = v.get_item(&key).map_err(ToJsonError::Invalid)?;
                out.insert(key_string(&key), to_json(&item)?);
            }
            Json::Object(out)
        }
        // Functions, macros and other opaque objects: their printed form, as Jinja would show them.
        _ => Json::String(v.to_string()),
    })
}

fn invalid() -> minijinja::Error {
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "invalid value")
}

fn number(v: &Value) -> Json {
    if v.is_integer() {
        if let Ok(i) = i64::try_from(v.clone()) {
            return Json::from(i);
        }
        if let Ok(u) = u64::try_from(v.clone()) {
            return Json::from(u);
        }
    }
    let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
    serde_json::Number::from_f64(f).map(Json::Number).unwrap_or_else(|| Json::String(python_str(v)))
}

/// A mapping key as text, like Python's `str(key)`.
pub fn key_string(k: &Value) -> String {
    match k.as_str() {
        Some(s) => s.to_string(),
        None => python_str(k),
    }
}

/// `str(value)` as Python prints scalars: True/False/None, ints, floats with a dot.
pub fn python_str(v: &Value) -> String {
    match v.kind() {
        ValueKind::Bool => if v.is_true() { "True" } else { "False" }.to_string(),
        ValueKind::None => "None".to_string(),
        ValueKind::Undefined => String::new(),
        ValueKind::String => v.as_str().unwrap_or_default().to_string(),
        _ => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_types_and_order() {
        let j = json!({"z": 1, "a": [true, null, 1.5, "s", -3, 18446744073709551615u64], "m": {"k": {"__ansible_unsafe": "{{ x }}"}}});
        let back = to_json(&to_mj(&j)).unwrap();
        assert_eq!(back, json!({"z": 1, "a": [true, null, 1.5, "s", -3, 18446744073709551615u64], "m": {"k": "{{ x }}"}}));
        assert_eq!(back.as_object().unwrap().keys().collect::<Vec<_>>(), ["z", "a", "m"]);
        assert!(matches!(to_json(&Value::UNDEFINED), Err(ToJsonError::Undefined)));
    }

    #[test]
    fn non_string_keys_print_like_python() {
        let v = Value::from_pairs([(Value::from(1), Value::from("a")), (Value::from(()), Value::from("b")), (Value::from(false), Value::from("c"))]);
        assert_eq!(to_json(&v).unwrap(), json!({"1": "a", "None": "b", "False": "c"}));
    }
}
