//! List and dict filters: unique, union, difference, intersect, symmetric_difference, combine (recursive,
//! list_merge), dict2items, items2dict, flatten, extract. Set operations keep first-appearance order
//! (Ansible's come out in Python set order, which is arbitrary for strings).

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, State};
use serde_json::Map;

use super::{add, defined, fail, undefined_error};
use crate::template::convert::{self, ToJsonError};
use crate::yaml::Value as Json;

pub fn register(env: &mut Environment<'static>) {
    add(env, "unique", unique);
    add(env, "union", union);
    add(env, "difference", difference);
    add(env, "intersect", intersect);
    add(env, "symmetric_difference", symmetric_difference);
    add(env, "combine", combine);
    add(env, "dict2items", dict2items);
    add(env, "items2dict", items2dict);
    add(env, "flatten", flatten);
    add(env, "extract", extract);
}

fn items(v: &Value, what: &str) -> Result<Vec<Value>, Error> {
    defined(v)?;
    match v.kind() {
        ValueKind::Seq | ValueKind::Iterable => Ok(v.try_iter()?.collect()),
        other => Err(fail(format!("{what} expects a list, got {other}"))),
    }
}

/// Items in first-seen order without repeats. Hash-based, so set filters stay linear on big lists (a template
/// like `range(100000) | unique` must not hang the controller).
#[derive(Default)]
struct Distinct {
    seen: std::collections::HashSet<Value>,
    out: Vec<Value>,
}

impl Distinct {
    /// Keep `item` unless `key` was seen before.
    fn push_keyed(&mut self, key: Value, item: Value) {
        if self.seen.insert(key) {
            self.out.push(item);
        }
    }
    fn push(&mut self, item: Value) {
        self.push_keyed(item.clone(), item);
    }
    fn into_value(self) -> Value {
        Value::from(self.out)
    }
}

fn set_of(v: Vec<Value>) -> std::collections::HashSet<Value> {
    v.into_iter().collect()
}

/// Jinja's unique: first occurrence kept; strings compared case-insensitively unless `case_sensitive=true`.
fn unique(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let case_sensitive = kwargs.get::<Option<bool>>("case_sensitive")?.unwrap_or(false);
    let attribute: Option<String> = kwargs.get("attribute")?;
    let key = |v: &Value| -> Value {
        let v = match &attribute {
            Some(a) => v.get_attr(a).unwrap_or_default(),
            None => v.clone(),
        };
        match v.as_str() {
            Some(s) if !case_sensitive => Value::from(s.to_lowercase()),
            _ => v,
        }
    };
    let mut d = Distinct::default();
    for item in items(value, "unique")? {
        d.push_keyed(key(&item), item);
    }
    Ok(d.into_value())
}

fn union(a: &Value, b: &Value) -> Result<Value, Error> {
    let mut d = Distinct::default();
    for x in items(a, "union")?.into_iter().chain(items(b, "union")?) {
        d.push(x);
    }
    Ok(d.into_value())
}

fn difference(a: &Value, b: &Value) -> Result<Value, Error> {
    let b = set_of(items(b, "difference")?);
    let mut d = Distinct::default();
    for x in items(a, "difference")?.into_iter().filter(|x| !b.contains(x)) {
        d.push(x);
    }
    Ok(d.into_value())
}

fn intersect(a: &Value, b: &Value) -> Result<Value, Error> {
    let b = set_of(items(b, "intersect")?);
    let mut d = Distinct::default();
    for x in items(a, "intersect")?.into_iter().filter(|x| b.contains(x)) {
        d.push(x);
    }
    Ok(d.into_value())
}

fn symmetric_difference(a: &Value, b: &Value) -> Result<Value, Error> {
    let (a, b) = (items(a, "symmetric_difference")?, items(b, "symmetric_difference")?);
    let (sa, sb) = (set_of(a.clone()), set_of(b.clone()));
    let mut d = Distinct::default();
    for x in a.into_iter().filter(|x| !sb.contains(x)).chain(b.into_iter().filter(|x| !sa.contains(x))) {
        d.push(x);
    }
    Ok(d.into_value())
}

fn json_of(v: &Value) -> Result<Json, Error> {
    convert::to_json(v).map_err(|e| match e {
        ToJsonError::Undefined => undefined_error(v),
        ToJsonError::Invalid(e) => e,
    })
}

/// `combine(*dicts, recursive=False, list_merge='replace')`; a list of dicts is accepted too.
fn combine(first: &Value, rest: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let recursive = kwargs.get::<Option<bool>>("recursive")?.unwrap_or(false);
    let list_merge: String = kwargs.get::<Option<String>>("list_merge")?.unwrap_or_else(|| "replace".into());
    if !["replace", "keep", "append", "prepend", "append_rp", "prepend_rp"].contains(&list_merge.as_str()) {
        return Err(fail("combine: 'list_merge' must be one of replace, keep, append, prepend, append_rp, prepend_rp"));
    }
    let mut dicts = Vec::new();
    for term in std::iter::once(first).chain(rest.iter()) {
        defined(term)?;
        // Like Ansible's flatten(terms, levels=1): a list of dicts contributes each dict.
        if matches!(term.kind(), ValueKind::Seq | ValueKind::Iterable) {
            dicts.extend(term.try_iter()?.map(|v| json_of(&v)).collect::<Result<Vec<_>, _>>()?);
        } else {
            dicts.push(json_of(term)?);
        }
    }
    let mut acc: Option<Map<String, Json>> = None;
    for d in dicts {
        let Json::Object(d) = d else { return Err(fail("combine expects dictionaries")) };
        acc = Some(match acc {
            None => d,
            Some(x) => merge_hash(x, d, recursive, &list_merge),
        });
    }
    Ok(convert::to_mj(&Json::Object(acc.unwrap_or_default())))
}

/// Ansible's `merge_hash`: keys of `y` win; with `recursive`, nested dicts are merged too.
pub fn merge_hash(mut x: Map<String, Json>, y: Map<String, Json>, recursive: bool, list_merge: &str) -> Map<String, Json> {
    if x.is_empty() {
        return y;
    }
    for (key, yv) in y {
        let merged = match (x.get_mut(&key), yv) {
            (Some(Json::Object(xm)), Json::Object(ym)) if recursive => Json::Object(merge_hash(std::mem::take(xm), ym, recursive, list_merge)),
            (Some(Json::Array(xa)), Json::Array(ya)) => {
                let xa = std::mem::take(xa);
                Json::Array(match list_merge {
                    "keep" => xa,
                    "append" => xa.into_iter().chain(ya).collect(),
                    "prepend" => ya.into_iter().chain(xa).collect(),
                    "append_rp" => {
                        let rest: Vec<Json> = xa.into_iter().filter(|z| !ya.contains(z)).collect();
                        rest.into_iter().chain(ya).collect()
                    }
                    "prepend_rp" => {
                        let rest: Vec<Json> = xa.into_iter().filter(|z| !ya.contains(z)).collect();
                        ya.into_iter().chain(rest).collect()
                    }
                    _ => ya,
                })
            }
            (_, yv) => yv,
        };
        x.insert(key, merged);
    }
    x
}

fn dict2items(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(value)?;
    let key_name: String = kwargs.get::<Option<String>>("key_name")?.unwrap_or_else(|| "key".into());
    let value_name: String = kwargs.get::<Option<String>>("value_name")?.unwrap_or_else(|| "value".into());
    if value.kind() != ValueKind::Map {
        return Err(fail(format!("dict2items requires a dictionary, got {}", value.kind())));
    }
    let mut out = Vec::new();
    for k in value.try_iter()? {
        let v = value.get_item(&k)?;
        out.push(Value::from_pairs([(Value::from(key_name.as_str()), k), (Value::from(value_name.as_str()), v)]));
    }
    Ok(Value::from(out))
}

fn items2dict(value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    let key_name: String = kwargs.get::<Option<String>>("key_name")?.unwrap_or_else(|| "key".into());
    let value_name: String = kwargs.get::<Option<String>>("value_name")?.unwrap_or_else(|| "value".into());
    let mut pairs = Vec::new();
    for item in items(value, "items2dict")? {
        let k = item.get_item(&Value::from(key_name.as_str())).unwrap_or_default();
        let v = item.get_item(&Value::from(value_name.as_str())).unwrap_or_default();
        if k.is_undefined() || v.is_undefined() {
            return Err(fail(format!("items2dict requires each dictionary in the list to contain the keys '{key_name}' and '{value_name}'")));
        }
        pairs.push((k, v));
    }
    Ok(Value::from_pairs(pairs))
}

/// `flatten(levels=None, skip_nulls=True)`.
fn flatten(value: &Value, levels: Option<i64>, kwargs: Kwargs) -> Result<Value, Error> {
    let levels = match levels {
        Some(l) => Some(l),
        None => kwargs.get::<Option<i64>>("levels")?,
    };
    let skip_nulls = kwargs.get::<Option<bool>>("skip_nulls")?.unwrap_or(true);
    fn go(items: Vec<Value>, levels: Option<i64>, skip_nulls: bool, out: &mut Vec<Value>) -> Result<(), Error> {
        for el in items {
            let nullish = el.is_none() || matches!(el.as_str(), Some("None") | Some("null"));
            if skip_nulls && nullish {
                continue;
            }
            let is_seq = matches!(el.kind(), ValueKind::Seq | ValueKind::Iterable);
            match levels {
                _ if !is_seq => out.push(el),
                None => go(el.try_iter()?.collect(), None, skip_nulls, out)?,
                Some(l) if l >= 1 => go(el.try_iter()?.collect(), Some(l - 1), skip_nulls, out)?,
                Some(_) => out.push(el),
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(items(value, "flatten")?, levels, skip_nulls, &mut out)?;
    Ok(Value::from(out))
}

/// `key | extract(container, morekeys)`: `container[key][morekeys...]`, e.g. `map('extract', hostvars, 'x')`.
fn extract(_state: &State, item: &Value, container: &Value, morekeys: Option<Value>) -> Result<Value, Error> {
    defined(item)?;
    defined(container)?;
    let mut keys = vec![item.clone()];
    match morekeys {
        Some(m) if m.kind() == ValueKind::Seq => keys.extend(m.try_iter()?),
        Some(m) if !m.is_none() => keys.push(m),
        _ => {}
    }
    let mut value = container.clone();
    for k in keys {
        value = value.get_item(&k)?;
    }
    Ok(value)
}
