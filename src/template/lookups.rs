//! Controller-side lookups: `lookup(name, terms..., errors=, wantlist=)` and `query`/`q` (always a list) for
//! file, env, template and pipe. Relative paths are searched along the scope's search path (role, then
//! playbook: `<dir>/files/<p>` or `<dir>/templates/<p>`, then `<dir>/<p>`). Errors name the lookup and the
//! file, never file contents or command output.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error, State};

use super::context::{Failure, SCOPE_KEY, ScopeObject};
use super::convert::{ToJsonError, to_json, to_mj};
use super::engine::TextOptions;
use super::error::TemplateErrorKind;
use super::filters::{fail, text_of};
use crate::vars::LayerKind;

pub fn register(env: &mut Environment<'static>) {
    env.add_function("lookup", |s: &State, name: String, terms: Rest<Value>, kw: Kwargs| run(s, &name, &terms, kw, false));
    env.add_function("query", |s: &State, name: String, terms: Rest<Value>, kw: Kwargs| run(s, &name, &terms, kw, true));
    env.add_function("q", |s: &State, name: String, terms: Rest<Value>, kw: Kwargs| run(s, &name, &terms, kw, true));
}

fn scope_object(state: &State) -> Result<Arc<ScopeObject>, Error> {
    state
        .lookup(SCOPE_KEY)
        .and_then(|v| v.downcast_object::<ScopeObject>())
        .ok_or_else(|| fail("lookups are only available while templating task data"))
}

fn run(state: &State, name: &str, terms: &[Value], kw: Kwargs, query: bool) -> Result<Value, Error> {
    let obj = scope_object(state)?;
    let errors = kw.get::<Option<String>>("errors")?.unwrap_or_else(|| "strict".into());
    let wantlist = query || kw.get::<Option<bool>>("wantlist")?.unwrap_or(false);
    let short = name.strip_prefix("ansible.builtin.").unwrap_or(name);
    // Terms may be given as a list.
    let mut flat = Vec::new();
    for t in terms {
        if matches!(t.kind(), ValueKind::Seq | ValueKind::Iterable) {
            flat.extend(t.try_iter()?);
        } else {
            flat.push(t.clone());
        }
    }
    let result = match short {
        "file" => file(&obj, &flat, &kw),
        "env" => env_lookup(&flat, &kw),
        "template" => template(&obj, &flat, &kw),
        "pipe" => pipe(&flat),
        "community.sops.sops" | "sops" => sops(&obj, &flat),
        "fileglob" => fileglob(&obj, &flat),
        "vars" => vars(state, &flat, &kw),
        "first_found" => {
            let terms: Vec<serde_json::Value> = flat.iter().filter_map(|t| to_json(t).ok()).collect();
            super::list_lookups::first_found(serde_json::Value::Array(terms), &obj.scope.search_paths(), "files")
                .map(|found| found.iter().map(to_mj).collect())
                .map_err(|e| fail(format!("lookup('first_found'): {e}")))
        }
        "varnames" => varnames(&obj, &flat),
        "inventory_hostnames" => inventory_hostnames(&obj, &flat),
        "ini" => super::table_lookups::ini(&obj, &flat, &kw),
        "csvfile" => super::table_lookups::csvfile(&obj, &flat, &kw),
        "lines" => lines(&flat),
        "items" | "list" | "dict" | "indexed_items" | "together" | "nested" | "cartesian" | "flattened" | "subelements" | "sequence"
        | "random_choice" => list_lookup(short, terms),
        other => {
            return Err(fail(format!(
                "lookup plugin '{other}' is not available in hlprov (it has file, fileglob, first_found, env, template, pipe, vars, varnames, lines, ini, csvfile, inventory_hostnames, \
                 items, list, dict, indexed_items, together, nested, cartesian, flattened, subelements, sequence, random_choice, \
                 community.sops.sops)"
            )));
        }
    };
    let items = match (result, errors.as_str()) {
        (Ok(items), _) => items,
        (Err(_), "ignore" | "warn") => return Ok(if wantlist { Value::from(Vec::<Value>::new()) } else { Value::from(()) }),
        (Err(e), "strict") => return Err(e),
        (Err(_), other) => return Err(fail(format!("lookup: errors must be strict, warn or ignore, not '{other}'"))),
    };
    if wantlist {
        return Ok(Value::from(items));
    }
    if items.len() == 1 {
        return Ok(items.into_iter().next().unwrap_or_default());
    }
    if items.iter().all(|i| i.kind() == ValueKind::String) {
        return Ok(Value::from(items.iter().map(|i| i.as_str().unwrap_or_default()).collect::<Vec<_>>().join(",")));
    }
    Ok(Value::from(items))
}

/// The list lookups that are also loops (`with_<name>`), on the terms as given (see `list_lookups`).
fn list_lookup(name: &str, terms: &[Value]) -> Result<Vec<Value>, Error> {
    use super::list_lookups as l;
    let json: Vec<serde_json::Value> = terms
        .iter()
        .map(|t| match to_json(t) {
            Ok(j) => Ok(j),
            Err(ToJsonError::Undefined) => Err(super::filters::undefined_error(t)),
            Err(ToJsonError::Invalid(e)) => Err(e),
        })
        .collect::<Result<_, _>>()?;
    // One term that is itself the data (a mapping, a list of lists) is passed as it is, as Ansible does.
    let single = || if json.len() == 1 { json[0].clone() } else { serde_json::Value::Array(json.clone()) };
    let all = serde_json::Value::Array(json.clone());
    let out = match name {
        "items" => Ok(l::items(all)),
        "list" => Ok(l::list(all.clone())),
        "dict" => l::dict(single()),
        "indexed_items" => l::indexed_items(single()),
        "together" => Ok(l::together(l::terms(single()))),
        "nested" | "cartesian" => Ok(l::nested(l::terms(single()))),
        "flattened" => Ok(l::flatten(all)),
        "subelements" => l::subelements(single()),
        "random_choice" => Ok(l::random_choice(single())),
        _ => json.iter().try_fold(Vec::new(), |mut out, spec| {
            out.extend(l::sequence(spec.as_str().map_or_else(|| spec.to_string(), str::to_string).as_str())?);
            Ok(out)
        }),
    }
    .map_err(|e| fail(format!("lookup('{name}'): {e}")))?;
    Ok(out.iter().map(to_mj).collect())
}

/// `lookup('vars', name, …, default=)`: the variables' values, templated as any use of them is.
fn vars(state: &State, terms: &[Value], kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let default: Option<Value> = kw.get("default")?;
    terms
        .iter()
        .map(|t| {
            let name = text_of(t)?;
            match state.lookup(&name).filter(|v| !v.is_undefined()) {
                Some(v) => Ok(v),
                None => default.clone().ok_or_else(|| fail(format!("No variable named '{name}' was found"))),
            }
        })
        .collect()
}

/// `lookup('inventory_hostnames', pattern, …)`: the hosts each Ansible host pattern selects (terms joined
/// with `:` as Ansible joins them), each once, in inventory order.
fn inventory_hostnames(obj: &ScopeObject, terms: &[Value]) -> Result<Vec<Value>, Error> {
    let patterns: Vec<String> = terms.iter().map(text_of).collect::<Result<_, _>>()?;
    let source = obj.scope.hostvars().ok_or_else(|| fail("lookup('inventory_hostnames'): there is no inventory here"))?;
    let hosts = source.select(&patterns.join(":")).map_err(|e| fail(format!("lookup('inventory_hostnames'): {e}")))?;
    Ok(hosts.into_iter().map(Value::from).collect())
}

/// `lookup('varnames', regex, …)`: the names of the variables matching each (Python `re.search`) pattern.
fn varnames(obj: &ScopeObject, terms: &[Value]) -> Result<Vec<Value>, Error> {
    let names = obj.scope.names();
    let mut out = Vec::new();
    for t in terms {
        let re = super::filters::compile_regex(&text_of(t)?, false, false)?;
        out.extend(names.iter().filter(|n| re.is_match(n)).map(|n| Value::from(*n)));
    }
    Ok(out)
}

/// `lookup('lines', command, …)`: each command's output, one item per line (run on the controller).
fn lines(terms: &[Value]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for item in pipe(terms)? {
        out.extend(item.as_str().unwrap_or_default().lines().map(Value::from));
    }
    Ok(out)
}

/// Find `name` along the search path, trying `<dir>/<subdir>/<name>` before `<dir>/<name>`.
fn find(obj: &ScopeObject, name: &str, subdir: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.exists().then(|| p.to_path_buf());
    }
    let mut dirs = obj.scope.search_paths();
    if dirs.is_empty() {
        dirs.push(PathBuf::from("."));
    }
    dirs.iter().flat_map(|d| [d.join(subdir).join(p), d.join(p)]).find(|c| c.is_file())
}

/// fileglob, as Ansible's: the pattern applies to the file name (`*`, `?`, `[…]`); its folder is found like a
/// file's (absolute, or in the role's and playbook's files/ folders); only files match, sorted, as full paths.
fn fileglob(obj: &ScopeObject, terms: &[Value]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        let term = text_of(t)?;
        let p = Path::new(&term);
        let pattern = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = match p.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(d) if d.is_absolute() => Some(d.to_path_buf()),
            parent => {
                let rel = parent.map(Path::to_path_buf).unwrap_or_default();
                let mut dirs = obj.scope.search_paths();
                if dirs.is_empty() {
                    dirs.push(PathBuf::from("."));
                }
                dirs.iter().flat_map(|d| [d.join("files").join(&rel), d.join(&rel)]).find(|c| c.is_dir())
            }
        };
        let Some(dir) = dir else { continue };
        let re = glob_regex(&pattern);
        let mut found: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| f.is_file())
            .filter(|f| {
                f.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| re.is_match(&n) && (pattern.starts_with('.') || !n.starts_with('.')))
            })
            .map(|f| f.display().to_string())
            .collect();
        found.sort();
        out.extend(found.into_iter().map(Value::from));
    }
    Ok(out)
}

/// A shell glob for one file name as a regex (the caller keeps Python's rule for names starting with a dot).
fn glob_regex(pattern: &str) -> regex::Regex {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let mut class = String::from("[");
                if chars.peek() == Some(&'!') {
                    chars.next();
                    class.push('^');
                }
                for d in chars.by_ref() {
                    if d == ']' {
                        break;
                    }
                    if d == '\\' || d == '^' {
                        class.push('\\');
                    }
                    class.push(d);
                }
                class.push(']');
                re.push_str(&class);
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).unwrap_or_else(|_| regex::Regex::new("^$").expect("a valid regex"))
}

pub(super) fn read(obj: &ScopeObject, name: &str, subdir: &str, what: &str) -> Result<(PathBuf, String), Error> {
    let path = find(obj, name, subdir).ok_or_else(|| fail(format!("lookup('{what}'): could not find '{name}' in the search path")))?;
    let text = crate::yaml::read_text_file(&path).map_err(|m| fail(format!("lookup('{what}'): {}: {m}", path.display())))?;
    Ok((path, text))
}

fn file(obj: &ScopeObject, terms: &[Value], kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let lstrip = kw.get::<Option<bool>>("lstrip")?.unwrap_or(false);
    let rstrip = kw.get::<Option<bool>>("rstrip")?.unwrap_or(true);
    let mut out = Vec::new();
    for t in terms {
        let (_, mut text) = read(obj, &text_of(t)?, "files", "file")?;
        if rstrip {
            text.truncate(text.trim_end().len());
        }
        if lstrip {
            text = text.trim_start().to_string();
        }
        out.push(Value::from(text));
    }
    Ok(out)
}

/// community.sops.sops: a SOPS file decrypted (with the keys hlprov finds, as for encrypted vars files), as
/// text. Every decrypted value is registered as a secret, so it never shows in output.
fn sops(obj: &ScopeObject, terms: &[Value]) -> Result<Vec<Value>, Error> {
    use crate::secrets::{Format, Keyring, sops_file};
    let mut out = Vec::new();
    for t in terms {
        let (path, text) = read(obj, &text_of(t)?, "files", "community.sops.sops")?;
        let name = path.display().to_string();
        let detail = |e: crate::secrets::SopsError| fail(format!("lookup('community.sops.sops'): {name}: {}", crate::redact::redact(&e.detail())));
        let enc = sops_file::parse(&text, Format::from_path(&path), &name)
            .map_err(detail)?
            .ok_or_else(|| fail(format!("lookup('community.sops.sops'): {name} is not a SOPS file (no sops metadata)")))?;
        let plain = enc.decrypt(&Keyring::from_env().map_err(detail)?).map_err(detail)?;
        plain.register_secrets();
        out.push(Value::from(plain.emit_plain().map_err(detail)?));
    }
    Ok(out)
}

fn env_lookup(terms: &[Value], kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let default: Option<Value> = kw.get("default")?;
    let mut out = Vec::new();
    for t in terms {
        out.push(match std::env::var(text_of(t)?) {
            Ok(v) => Value::from(v),
            Err(_) => default.clone().unwrap_or(Value::from("")),
        });
    }
    Ok(out)
}

fn template(obj: &Arc<ScopeObject>, terms: &[Value], kw: &Kwargs) -> Result<Vec<Value>, Error> {
    let extra: Option<Value> = kw.get("template_vars")?;
    let _: Option<bool> = kw.get("convert_data")?;
    let extra = match extra {
        Some(vars) if !vars.is_none() => {
            let json = super::filters::json_of(&vars)?;
            let crate::yaml::Value::Object(m) = json else { return Err(fail("lookup('template'): template_vars must be a mapping")) };
            Some(Arc::new(m))
        }
        _ => None,
    };
    let mut out = Vec::new();
    for t in terms {
        let name = text_of(t)?;
        let (path, text) = read(obj, &name, "templates", "template")?;
        // Ansible's template variables over the task's, then the lookup's template_vars over both.
        let file_vars = super::template_file_vars(&name, &path, None, obj.scope.contains("ansible_managed"));
        let mut scope = obj.scope.with_layer(LayerKind::Magic, "template file", Arc::new(file_vars));
        if let Some(m) = &extra {
            scope.push(LayerKind::Magic, "template_vars", m.clone());
        }
        let target = ScopeObject::new(scope, obj.engine.clone(), obj.ctx.clone(), String::new());
        let key = format!("lookup('template', '{}')", path.display());
        target.enter(&key).map_err(|f| {
            obj.ctx.record_failure(f.clone());
            fail(f.message)
        })?;
        // `{% include %}`/`{% import %}` inside look where the template module looks (see FileSyntax).
        let mut syntax = super::FileSyntax::default();
        if ["include", "import", "extends"].iter().any(|w| text.contains(w)) {
            let mut dirs = obj.scope.search_paths();
            dirs.extend(path.parent().map(Path::to_path_buf));
            syntax.search = dirs.into_iter().flat_map(|d| [d.join("templates"), d]).collect();
        }
        let rendered =
            TextOptions::default().apply_header(&text).map_err(fail).and_then(|(opts, body)| obj.engine.render_file(body, &target, opts, &syntax));
        target.leave();
        match rendered {
            Ok(s) => out.push(Value::from(s)),
            Err(e) => {
                let (kind, message, undefined) = super::engine::describe(&e, &obj.ctx);
                let at = e.line().map(|l| format!(":{l}")).unwrap_or_default();
                let kind = if kind == TemplateErrorKind::Syntax { TemplateErrorKind::Syntax } else { kind };
                obj.ctx.record_failure(Failure { kind, message: format!("{}{at}: {message}", path.display()), undefined });
                return Err(e);
            }
        }
    }
    Ok(out)
}

fn pipe(terms: &[Value]) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for t in terms {
        let cmd = text_of(t)?;
        let res = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&cmd)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| fail(format!("lookup('pipe'): cannot run /bin/sh: {e}")))?;
        if !res.status.success() {
            return Err(fail(format!("lookup('pipe'): command exited with {}", res.status)));
        }
        out.push(Value::from(String::from_utf8_lossy(&res.stdout).trim_end().to_string()));
    }
    Ok(out)
}
