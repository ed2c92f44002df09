//! Path filters with Python's `os.path` meaning (Ansible's are that): path_join, normpath, relpath, realpath,
//! commonpath, expandvars. Like Ansible's, they work on controller paths (relpath's default start, realpath's
//! links and expandvars' environment are the controller's).

use std::path::PathBuf;

use minijinja::value::Value;
use minijinja::{Environment, Error};

use super::text::text_of;
use super::{add, fail};

pub fn register(env: &mut Environment<'static>) {
    add(env, "path_join", path_join);
    add(env, "normpath", |v: &Value| text_of(v).map(|p| normpath(&p)));
    add(env, "relpath", |v: &Value, start: Option<String>| text_of(v).map(|p| relpath(&p, start.as_deref())));
    add(env, "realpath", |v: &Value| text_of(v).map(|p| realpath(&p)));
    add(env, "commonpath", commonpath);
    add(env, "expandvars", |v: &Value| text_of(v).map(|p| expandvars(&p, |k| std::env::var(k).ok())));
}

/// `os.path.join`: an absolute part starts over; parts are joined with one `/` unless one ends with it.
fn join(parts: &[String]) -> String {
    let mut out = String::new();
    for p in parts {
        if p.starts_with('/') || out.is_empty() {
            out = p.clone();
        } else if out.ends_with('/') {
            out.push_str(p);
        } else {
            out.push('/');
            out.push_str(p);
        }
    }
    out
}

fn path_join(v: &Value) -> Result<String, Error> {
    if let Some(s) = v.as_str() {
        return Ok(s.to_string());
    }
    let parts: Vec<String> =
        v.try_iter().map_err(|_| fail("path_join expects a string or a list"))?.map(|p| text_of(&p)).collect::<Result<_, _>>()?;
    Ok(join(&parts))
}

/// `os.path.normpath` (POSIX): collapse `//`, `.` and `a/..`; keep leading `..` of a relative path; exactly two
/// leading slashes are kept (POSIX leaves their meaning to the system), three or more become one.
pub fn normpath(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let lead = if p.starts_with("//") && !p.starts_with("///") {
        "//"
    } else if p.starts_with('/') {
        "/"
    } else {
        ""
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." if !lead.is_empty() && parts.is_empty() => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let body = parts.join("/");
    if lead.is_empty() && body.is_empty() { ".".into() } else { format!("{lead}{body}") }
}

fn absolute(p: &str) -> String {
    if p.starts_with('/') {
        normpath(p)
    } else {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        normpath(&join(&[cwd.display().to_string(), p.to_string()]))
    }
}

/// `os.path.relpath(path, start)`, start defaulting to the controller's working folder.
fn relpath(p: &str, start: Option<&str>) -> String {
    let a = absolute(p);
    let b = absolute(start.unwrap_or("."));
    let a: Vec<&str> = a.split('/').filter(|c| !c.is_empty()).collect();
    let b: Vec<&str> = b.split('/').filter(|c| !c.is_empty()).collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out: Vec<&str> = vec![".."; b.len() - common];
    out.extend(&a[common..]);
    if out.is_empty() { ".".into() } else { out.join("/") }
}

/// `os.path.realpath`: links resolved as far as the path exists, the rest taken as written.
fn realpath(p: &str) -> String {
    let abs = absolute(p);
    let mut done = PathBuf::from("/");
    let parts: Vec<&str> = abs.split('/').filter(|c| !c.is_empty()).collect();
    for (i, c) in parts.iter().enumerate() {
        let next = done.join(c);
        match std::fs::canonicalize(&next) {
            Ok(real) => done = real,
            Err(_) => {
                let rest: PathBuf = parts[i..].iter().collect();
                return normpath(&done.join(rest).display().to_string());
            }
        }
    }
    done.display().to_string()
}

/// `os.path.commonpath`: the longest common sub-path; absolute and relative paths cannot be mixed.
fn commonpath(v: &Value) -> Result<String, Error> {
    let paths: Vec<String> = v.try_iter().map_err(|_| fail("commonpath expects a list of paths"))?.map(|p| text_of(&p)).collect::<Result<_, _>>()?;
    let Some(first) = paths.first() else { return Err(fail("commonpath() arg is an empty sequence")) };
    let abs = first.starts_with('/');
    if paths.iter().any(|p| p.starts_with('/') != abs) {
        return Err(fail("Can't mix absolute and relative paths"));
    }
    let split = |p: &String| -> Vec<String> { p.split('/').filter(|c| !c.is_empty() && *c != ".").map(str::to_string).collect() };
    let lists: Vec<Vec<String>> = paths.iter().map(split).collect();
    let n = (0..).take_while(|&i| lists.iter().all(|l| l.get(i).is_some() && l[i] == lists[0][i])).count();
    let body = lists[0][..n].join("/");
    Ok(if abs { format!("/{body}") } else { body })
}

/// `os.path.expandvars`: `$NAME` and `${NAME}` replaced by the variable's value; unknown ones left as written.
fn expandvars(s: &str, get: impl Fn(&str) -> Option<String>) -> String {
    let re = regex::Regex::new(r"\$(\w+|\{[^}]*\})").expect("valid");
    re.replace_all(s, |c: &regex::Captures| {
        let name = c[1].trim_start_matches('{').trim_end_matches('}');
        get(name).unwrap_or_else(|| c[0].to_string())
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn paths_behave_as_pythons_os_path() {
        // Expected values from Python 3.11's os.path (posixpath).
        assert_eq!(normpath("/a//b/./c/../d/"), "/a/b/d");
        assert_eq!(normpath("../a/../../b"), "../../b");
        assert_eq!(normpath("//a"), "//a");
        assert_eq!(normpath("///a/.."), "/");
        assert_eq!(join(&["/etc".into(), "a".into(), "/abs".into(), "b".into()]), "/abs/b");
        assert_eq!(relpath("/a/b/c", Some("/a/x")), "../b/c");
        assert_eq!(relpath("/a", Some("/a")), ".");
        assert_eq!(expandvars("$HOME/x ${U} $NOPE", |k| (k != "NOPE").then(|| k.to_lowercase())), "home/x u $NOPE");
        assert!(Path::new(&realpath("/proc/self/../self")).is_absolute());
    }
}
