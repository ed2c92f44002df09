//! Jinja tests (`x is ...`) with Ansible's meaning: defined/undefined/none, match/search/regex (Python `re`
//! semantics: `match` is anchored at the start), truthy/falsy, task result tests (failed, changed, skipped,
//! succeeded), version comparison, subset/superset/contains, and controller path tests (file, directory,
//! exists, link, abs). Registered under short and `ansible.builtin.` names.

use std::cmp::Ordering;

use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Environment, Error};

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
