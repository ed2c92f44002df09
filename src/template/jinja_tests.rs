//! Jinja tests (`x is ...`) with Ansible's meaning: defined/undefined/none, match/search/regex (Python `re`
//! semantics: `match` is anchored at the start), truthy/falsy, task result tests (failed, changed, skipped,
//! succeeded), version comparison, subset/superset/contains, and controller path tests (file, directory,
//! exists, link, abs). Registered under short and `ansible.builtin.` names.

use std::cmp::Ordering;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error};

use super::filters::url::UrlParts;
use super::filters::{defined, fail};
use super::templar::truthy;

fn add<F, Args>(env: &mut Environment<'static>, name: &'static str, f: F)
where
    F: minijinja::functions::Function<bool, Args> + Clone,
    Args: for<'a> minijinja::value::FunctionArgs<'a>,
{
    env.add_test(format!("ansible.builtin.{name}"), f.clone());
    env.add_test(name, f);
}

fn add_r<F, Args>(env: &mut Environment<'static>, name: &'static str, f: F)
where
    F: minijinja::functions::Function<Result<bool, Error>, Args> + Clone,
    Args: for<'a> minijinja::value::FunctionArgs<'a>,
{
    env.add_test(format!("ansible.builtin.{name}"), f.clone());
    env.add_test(name, f);
}

pub fn register(env: &mut Environment<'static>) {
    add(env, "defined", |v: &Value| !v.is_undefined());
    add(env, "undefined", |v: &Value| v.is_undefined());
    add(env, "none", |v: &Value| v.is_none());
    add_r(env, "match", |v: &Value, p: String, kw: Kwargs| regex_test(v, &p, &kw, "match"));
    add_r(env, "search", |v: &Value, p: String, kw: Kwargs| regex_test(v, &p, &kw, "search"));
    add_r(env, "regex", |v: &Value, p: String, kw: Kwargs| {
        let mt: Option<String> = kw.get("match_type")?;
        regex_test(v, &p, &kw, mt.as_deref().unwrap_or("search"))
    });
    add_r(env, "truthy", |v: &Value| defined(v).map(|_| truthy(v)));
    add_r(env, "falsy", |v: &Value| defined(v).map(|_| !truthy(v)));
    for name in ["failed", "failure"] {
        add_r(env, name, |v: &Value| result_flag(v, "failed"));
    }
    for name in ["succeeded", "success", "successful"] {
        add_r(env, name, |v: &Value| result_flag(v, "failed").map(|f| !f));
    }
    for name in ["changed", "change"] {
        add_r(env, name, |v: &Value| result_flag(v, "changed"));
    }
    for name in ["skipped", "skip"] {
        add_r(env, name, |v: &Value| result_flag(v, "skipped"));
    }
    // A background job's result (`async` with `poll: 0`, `async_status`).
    add_r(env, "finished", |v: &Value| async_flag(v, "finished"));
    add_r(env, "started", |v: &Value| async_flag(v, "started"));
    for name in ["version", "version_compare"] {
        add_r(env, name, version_test);
    }
    add_r(env, "subset", |a: &Value, b: &Value| Ok(list(a)?.iter().all(|x| list(b).map(|l| l.contains(x)).unwrap_or(false))));
    add_r(env, "superset", |a: &Value, b: &Value| Ok(list(b)?.iter().all(|x| list(a).map(|l| l.contains(x)).unwrap_or(false))));
    add_r(env, "contains", |a: &Value, x: Value| Ok(list(a)?.contains(&x)));
    add_r(env, "file", |v: &Value| path(v).map(|p| p.is_file()));
    add_r(env, "directory", |v: &Value| path(v).map(|p| p.is_dir()));
    add_r(env, "exists", |v: &Value| path(v).map(|p| p.exists()));
    add_r(env, "link", |v: &Value| path(v).map(|p| p.is_symlink()));
    add_r(env, "abs", |v: &Value| path(v).map(|p| p.is_absolute()));
    // Ansible's `is_*` spellings of the path tests, and the ones that look at links and mount points.
    add_r(env, "is_file", |v: &Value| path(v).map(|p| p.is_file()));
    add_r(env, "is_dir", |v: &Value| path(v).map(|p| p.is_dir()));
    add_r(env, "is_link", |v: &Value| path(v).map(|p| p.is_symlink()));
    add_r(env, "is_abs", |v: &Value| path(v).map(|p| p.is_absolute()));
    add_r(env, "link_exists", |v: &Value| path(v).map(|p| p.symlink_metadata().is_ok()));
    for name in ["same_file", "is_same_file"] {
        add_r(env, name, |a: &Value, b: &Value| Ok(same_file(&path(a)?, &path(b)?)));
    }
    for name in ["mount", "is_mount"] {
        add_r(env, name, |v: &Value| path(v).map(|p| is_mount(&p)));
    }
    add_r(env, "issubset", |a: &Value, b: &Value| Ok(list(a)?.iter().all(|x| list(b).map(|l| l.contains(x)).unwrap_or(false))));
    add_r(env, "issuperset", |a: &Value, b: &Value| Ok(list(b)?.iter().all(|x| list(a).map(|l| l.contains(x)).unwrap_or(false))));
    add_r(env, "all", |v: &Value| Ok(list(v)?.iter().all(truthy)));
    add_r(env, "any", |v: &Value| Ok(list(v)?.iter().any(truthy)));
    for name in ["nan", "isnan"] {
        add_r(env, name, |v: &Value| f64::try_from(v.clone()).map(f64::is_nan).map_err(|_| fail("nan: expected a number")));
    }
    // Task results: `result is reachable`, `is unreachable`, `is timedout` (a task cut off by its `timeout`).
    add_r(env, "unreachable", |v: &Value| result_flag(v, "unreachable"));
    add_r(env, "reachable", |v: &Value| result_flag(v, "unreachable").map(|u| !u));
    add_r(env, "timedout", |v: &Value| result_flag(v, "timedout"));
    add_r(env, "uri", |v: &Value, schemes: Option<Vec<String>>| Ok(is_uri(v, schemes.as_deref())));
    add_r(env, "url", |v: &Value, schemes: Option<Vec<String>>| {
        Ok(is_uri(v, schemes.as_deref())
            && v.as_str().is_some_and(|s| {
                let p = UrlParts::split(s);
                !p.netloc.is_empty() || p.scheme == "file"
            }))
    });
    add_r(env, "urn", |v: &Value| Ok(is_uri(v, Some(&["urn".to_string()]))));
}

/// Ansible's `uri` test: a string whose scheme, if schemes are given, is one of them.
fn is_uri(v: &Value, schemes: Option<&[String]>) -> bool {
    v.as_str().is_some_and(|s| schemes.is_none_or(|list| list.contains(&UrlParts::split(s).scheme)))
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Python's `os.path.ismount`: a folder on another device than its parent, or the same inode (the root).
fn is_mount(p: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::symlink_metadata(p) else { return false };
    if m.file_type().is_symlink() {
        return false;
    }
    match std::fs::metadata(p.join("..")) {
        Ok(parent) => parent.dev() != m.dev() || parent.ino() == m.ino(),
        Err(_) => false,
    }
}

fn regex_test(v: &Value, pattern: &str, kw: &Kwargs, how: &str) -> Result<bool, Error> {
    let text = super::filters::text_of(v)?;
    let ignorecase = kw.get::<Option<bool>>("ignorecase")?.unwrap_or(false);
    let multiline = kw.get::<Option<bool>>("multiline")?.unwrap_or(false);
    let pattern = match how {
        "match" => format!(r"\A(?:{pattern})"),
        "fullmatch" => format!(r"\A(?:{pattern})\z"),
        "search" => pattern.to_string(),
        other => return Err(fail(format!("regex test: unknown match_type '{other}'"))),
    };
    Ok(super::filters::compile_regex(&pattern, ignorecase, multiline)?.is_match(&text))
}

fn result_flag(v: &Value, flag: &str) -> Result<bool, Error> {
    defined(v)?;
    if v.kind() != ValueKind::Map {
        return Err(fail(format!("the '{flag}' test expects a task result (a dictionary), got {}", v.kind())));
    }
    let f = v.get_attr(flag)?;
    Ok(!f.is_undefined() && truthy(&f))
}

/// Ansible's `finished`/`started` tests: only a job's result has the key.
fn async_flag(v: &Value, flag: &str) -> Result<bool, Error> {
    defined(v)?;
    let f = if v.kind() == ValueKind::Map { v.get_attr(flag)? } else { Value::UNDEFINED };
    if f.is_undefined() {
        return Err(fail(format!("The '{flag}' test expects an async task, but a non-async task was tested")));
    }
    Ok(truthy(&f))
}

fn list(v: &Value) -> Result<Vec<Value>, Error> {
    defined(v)?;
    Ok(v.try_iter()?.collect())
}

fn path(v: &Value) -> Result<std::path::PathBuf, Error> {
    defined(v)?;
    Ok(std::path::PathBuf::from(v.as_str().ok_or_else(|| fail("path tests expect a string"))?))
}

/// `x is version('1.2', '>=')`: LooseVersion-style comparison (numbers numerically, other parts as text).
fn version_test(v: &Value, other: &Value, op: Option<String>, kw: Kwargs) -> Result<bool, Error> {
    defined(v)?;
    let op = match op {
        Some(o) => o,
        None => kw.get::<Option<String>>("operator")?.unwrap_or_else(|| "eq".into()),
    };
    let _: Option<bool> = kw.get("strict")?;
    let _: Option<String> = kw.get("version_type")?;
    let ord = compare_versions(&super::convert::python_str(v), &super::convert::python_str(other));
    Ok(match op.as_str() {
        "==" | "=" | "eq" => ord == Ordering::Equal,
        "!=" | "<>" | "ne" => ord != Ordering::Equal,
        "<" | "lt" => ord == Ordering::Less,
        "<=" | "le" => ord != Ordering::Greater,
        ">" | "gt" => ord == Ordering::Greater,
        ">=" | "ge" => ord != Ordering::Less,
        other => return Err(fail(format!("version test: unknown operator '{other}'"))),
    })
}

pub fn compare_versions(a: &str, b: &str) -> Ordering {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Part {
        // Python 3's LooseVersion cannot compare int with str; numbers sorting first is the usual intent.
        Num(u64),
        Text(String),
    }
    fn parts(s: &str) -> Vec<Part> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut num = false;
        for c in s.chars() {
            let is_digit = c.is_ascii_digit();
            if c == '.' || c == '-' || c == '_' || c == '+' || (!cur.is_empty() && is_digit != num) {
                if !cur.is_empty() {
                    out.push(if num { Part::Num(cur.parse().unwrap_or(u64::MAX)) } else { Part::Text(cur.clone()) });
                    cur.clear();
                }
                if !c.is_alphanumeric() {
                    continue;
                }
            }
            num = is_digit;
            cur.push(c);
        }
        if !cur.is_empty() {
            out.push(if num { Part::Num(cur.parse().unwrap_or(u64::MAX)) } else { Part::Text(cur) });
        }
        out
    }
    parts(a).cmp(&parts(b))
}
