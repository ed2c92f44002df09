//! The list lookups Ansible also offers as loops (`with_<name>` is `lookup('<name>')` as a loop): together,
//! nested, flattened, subelements, sequence, plus the one-line ones (items, list, dict, indexed_items). One
//! implementation for both: `exec::loops` calls these for `with_*`, `lookups` for `lookup()`/`query()`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::yaml::{to_bool, type_name as kind_of};

/// `with_items` / `lookup('items')`: the terms with lists flattened one level.
pub fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.into_iter().flat_map(|x| if let Value::Array(inner) = x { inner } else { vec![x] }).collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

/// `with_list` / `lookup('list')`: the terms as they are.
pub fn list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => vec![other],
    }
}

/// `with_dict` / `lookup('dict')`: `{key, value}` per entry; a list of mappings gives each one's, in turn.
pub fn dict(v: Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Object(m) => Ok(m.into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect()),
        Value::Array(terms) => {
            let each = terms.into_iter().map(|t| if t.is_object() { dict(t) } else { Err(format!("needs a mapping, got {}", kind_of(&t))) });
            Ok(each.collect::<Result<Vec<_>, _>>()?.concat())
        }
        other => Err(format!("needs a mapping, got {}", kind_of(&other))),
    }
}

/// `with_indexed_items` / `lookup('indexed_items')`: `[index, item]` per item.
pub fn indexed_items(v: Value) -> Result<Vec<Value>, String> {
    match v {
        Value::Array(a) => Ok(a.into_iter().enumerate().map(|(i, x)| json!([i, x])).collect()),
        other => Err(format!("needs a list, got {}", kind_of(&other))),
    }
}

/// `with_random_choice` / `lookup('random_choice')`: one item picked at random (none from an empty list).
pub fn random_choice(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) if !a.is_empty() => {
            let i = rand::Rng::gen_range(&mut rand::thread_rng(), 0..a.len());
            vec![a[i].clone()]
        }
        Value::Array(_) => vec![],
        other => vec![other],
    }
}

/// The lists a multi-list lookup works on: each term a list (a single value counts as a list of one).
pub fn terms(v: Value) -> Vec<Vec<Value>> {
    let as_list = |t: Value| match t {
        Value::Array(a) => a,
        other => vec![other],
    };
    match v {
        Value::Array(a) => a.into_iter().map(as_list).collect(),
        other => vec![as_list(other)],
    }
}

/// `with_together`: the lists zipped, the shorter ones padded with None (Python's zip_longest).
pub fn together(lists: Vec<Vec<Value>>) -> Vec<Value> {
    let longest = lists.iter().map(Vec::len).max().unwrap_or(0);
    (0..longest).map(|i| Value::Array(lists.iter().map(|l| l.get(i).cloned().unwrap_or(Value::Null)).collect())).collect()
}

/// `with_nested` / `with_cartesian`: every combination, the first list varying slowest.
pub fn nested(lists: Vec<Vec<Value>>) -> Vec<Value> {
    if lists.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for l in &lists {
        out = out.iter().flat_map(|prefix| l.iter().map(move |x| prefix.iter().cloned().chain([x.clone()]).collect())).collect();
    }
    out.into_iter().map(Value::Array).collect()
}

/// `with_flattened`: every nested list flattened, at any depth.
pub fn flatten(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.into_iter().flat_map(flatten).collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

/// `with_subelements: [list, 'key.sub', {skip_missing: bool}]`: one `[element, sub]` per entry of each
/// element's `key.sub` list; `element` is shown without that key, as Ansible does.
pub fn subelements(v: Value) -> Result<Vec<Value>, String> {
    let Value::Array(terms) = v else { return Err("needs [list, 'subkey'] (and optionally {skip_missing: true})".into()) };
    let (list, key, flags) = match terms.as_slice() {
        [list, Value::String(key)] => (list, key, None),
        [list, Value::String(key), flags @ Value::Object(_)] => (list, key, Some(flags)),
        _ => return Err("needs [list, 'subkey'] (and optionally {skip_missing: true})".into()),
    };
    let skip_missing = flags.and_then(|f| f.get("skip_missing")).and_then(to_bool).unwrap_or(false);
    let elements: Vec<Value> = match list {
        Value::Array(a) => a.clone(),
        Value::Object(m) => m.values().cloned().collect(),
        other => return Err(format!("the first term must be a list or a mapping, got {}", kind_of(other))),
    };
    let path: Vec<&str> = key.split('.').collect();
    let mut out = Vec::new();
    for el in elements {
        let mut parent = el.clone();
        let mut node = &mut parent;
        let mut found = None;
        for (i, part) in path.iter().enumerate() {
            let Value::Object(m) = node else { break };
            if i + 1 == path.len() {
                found = m.remove(*part);
                break;
            }
            match m.get_mut(*part) {
                Some(next) => node = next,
                None => break,
            }
        }
        match found {
            Some(Value::Array(subs)) => out.extend(subs.into_iter().map(|s| Value::Array(vec![parent.clone(), s]))),
            Some(other) => return Err(format!("the key '{key}' should point to a list, got {}", kind_of(&other))),
            None if skip_missing => {}
            None => return Err(format!("could not find '{key}' key in iterated item {}", el)),
        }
    }
    Ok(out)
}

/// `with_sequence: start=1 end=5 stride=1 format=node%02d` (or `count=5`, or `1-5`).
pub fn sequence(spec: &str) -> Result<Vec<Value>, String> {
    let (mut start, mut end, mut stride, mut format) = (1i64, None::<i64>, 1i64, "%d".to_string());
    let mut count = None::<i64>;
    for word in spec.split_whitespace() {
        if let Some((k, v)) = word.split_once('=') {
            let num = || v.parse::<i64>().map_err(|_| format!("'{v}' is not a number"));
            match k {
                "start" => start = num()?,
                "end" => end = Some(num()?),
                "stride" => stride = num()?,
                "count" => count = Some(num()?),
                "format" => format = v.to_string(),
                other => return Err(format!("unknown option '{other}'")),
            }
        } else if let Some((a, b)) = word.split_once('-') {
            start = a.parse().map_err(|_| format!("'{word}' is not a range"))?;
            end = Some(b.parse().map_err(|_| format!("'{word}' is not a range"))?);
        } else {
            end = Some(word.parse().map_err(|_| format!("'{word}' is not a number"))?);
        }
    }
    if let Some(c) = count {
        end = Some(start + (c - 1) * stride);
    }
    let end = end.ok_or("needs end= or count=")?;
    if stride == 0 {
        return Err("stride must not be 0".into());
    }
    let mut out = Vec::new();
    let mut i = start;
    while (stride > 0 && i <= end) || (stride < 0 && i >= end) {
        out.push(Value::String(printf_int(&format, i)));
        i += stride;
        if out.len() > 100_000 {
            return Err("more than 100000 items".into());
        }
    }
    Ok(out)
}

/// The `%d`, `%02d`, `%x` subset of printf that with_sequence formats use.
fn printf_int(format: &str, n: i64) -> String {
    let Some(pos) = format.find('%') else { return format.to_string() };
    let rest = &format[pos + 1..];
    let spec_len = rest.find(|c: char| c.is_ascii_alphabetic()).map(|i| i + 1).unwrap_or(rest.len());
    let spec = &rest[..spec_len];
    let (flags, conv) = spec.split_at(spec.len().saturating_sub(1));
    let width: usize = flags.trim_start_matches('0').parse().unwrap_or(0);
    let zero = flags.starts_with('0');
    let body = match conv {
        "x" => format!("{n:x}"),
        "X" => format!("{n:X}"),
        "o" => format!("{n:o}"),
        _ => n.to_string(),
    };
    let padded = if zero { format!("{body:0>width$}") } else { format!("{body:>width$}") };
    format!("{}{padded}{}", &format[..pos], &rest[spec_len..])
}

/// `with_first_found` / `lookup('first_found')`: the first file that exists on the controller, as one item.
/// Terms are names or `{files: [...], paths: [...], skip: bool}`; relative names are searched in each of
/// `dirs` (the role's folder, then the playbook's) under SUBDIR/, then in the last one (the playbook's folder)
/// itself. Nothing found is an error unless `skip: true` (then no item).
pub fn first_found(v: Value, dirs: &[PathBuf], subdir: &str) -> Result<Vec<Value>, String> {
    let terms = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            Some(Value::String(s)) => s.split([',', ';']).map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
            _ => Vec::new(),
        }
    };
    let (mut candidates, mut skip) = (Vec::new(), false);
    for t in &terms {
        match t {
            Value::String(s) => candidates.push(PathBuf::from(s)),
            Value::Object(m) => {
                skip |= m.get("skip").and_then(to_bool).unwrap_or(false);
                let paths = strings(m.get("paths"));
                for f in strings(m.get("files")) {
                    if paths.is_empty() {
                        candidates.push(PathBuf::from(&f));
                    }
                    candidates.extend(paths.iter().map(|p| Path::new(p).join(&f)));
                }
            }
            other => return Err(format!("a term is a file name or a mapping with files:, got {}", kind_of(other))),
        }
    }
    for c in &candidates {
        let mut bases: Vec<PathBuf> = Vec::new();
        if c.is_absolute() {
            bases.push(PathBuf::new());
        } else {
            bases.extend(dirs.iter().map(|d| d.join(subdir)));
            bases.extend(dirs.last().cloned());
        }
        if let Some(found) = bases.iter().map(|b| b.join(c)).find(|p| p.is_file()) {
            return Ok(vec![Value::String(found.display().to_string())]);
        }
    }
    if skip {
        return Ok(Vec::new());
    }
    let tried: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(format!("no file was found among: {}", tried.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_like_ansible() {
        let s = |x: &str| sequence(x).unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect::<Vec<_>>();
        assert_eq!(s("start=1 end=3 format=node%02d"), ["node01", "node02", "node03"]);
        assert_eq!(s("count=3 start=0 stride=2"), ["0", "2", "4"]);
        assert_eq!(s("4"), ["1", "2", "3", "4"]);
        assert!(sequence("start=1").is_err());
    }

    #[test]
    fn multi_list_lookups_like_ansible() {
        // Outputs of ansible-core 2.19 for the same terms.
        let kv = |k: &str, v: i32| json!({"key": k, "value": v});
        assert_eq!(dict(json!([{"a": 1}, {"b": 2, "c": 3}])).unwrap(), vec![kv("a", 1), kv("b", 2), kv("c", 3)]);
        assert!(dict(json!([1])).is_err());
        assert_eq!(together(terms(json!([[1, 2, 3], ["a", "b"]]))), vec![json!([1, "a"]), json!([2, "b"]), json!([3, null])]);
        assert_eq!(nested(terms(json!([[1, 2], ["a", "b"]]))), vec![json!([1, "a"]), json!([1, "b"]), json!([2, "a"]), json!([2, "b"])]);
        assert_eq!(flatten(json!([[1, [2, [3]]], 4])), vec![json!(1), json!(2), json!(3), json!(4)]);
        let users = json!([{"name": "alice", "keys": ["k1", "k2"]}, {"name": "bob", "keys": []}, {"name": "carol", "keys": ["k3"]}]);
        assert_eq!(
            subelements(json!([users, "keys"])).unwrap(),
            vec![json!([{"name": "alice"}, "k1"]), json!([{"name": "alice"}, "k2"]), json!([{"name": "carol"}, "k3"])]
        );
        assert!(subelements(json!([users, "nokey"])).unwrap_err().contains("could not find 'nokey'"));
        assert_eq!(subelements(json!([users, "nokey", {"skip_missing": true}])).unwrap(), Vec::<Value>::new());
    }
}
