//! Loop items: `loop:` and the `with_*` forms, each made into a list the way Ansible makes it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::outcome::TaskError;
use super::run::Run;
use crate::playbook::{Loop, LoopKind, RoleScope};
use crate::template::list_lookups as lists;
use crate::vars::VarScope;
use crate::yaml::Span;

/// The items of a loop; `span` (the task's) is where errors point. `subdir` is the role folder that
/// `with_first_found` searches (vars for include_vars, files otherwise), as Ansible's search path does.
pub(crate) fn items(run: &Run, span: &Span, lp: &Loop, scope: &VarScope, role: Option<&RoleScope>, subdir: &str) -> Result<Vec<Value>, TaskError> {
    let v = run.templar.render_value(&lp.expr, scope, span)?;
    if let LoopKind::WithLookup(name) = lp.kind {
        // `with_<lookup>` is `query('<lookup>', terms)`, run in the task's scope (search paths, variables).
        let mut terms = crate::vars::Vars::new();
        terms.insert("__hlprov_loop_terms".into(), v);
        let s = scope.with_layer(crate::vars::LayerKind::TaskVars, "loop terms", std::sync::Arc::new(terms));
        let out = run.templar.eval_expression(&format!("query('{name}', __hlprov_loop_terms)"), &s, span)?;
        return Ok(out.as_array().cloned().unwrap_or_default());
    }
    items_of(run, span, lp, v, role, subdir).map_err(TaskError::Msg)
}

/// The items the rendered loop expression `v` stands for.
fn items_of(run: &Run, span: &Span, lp: &Loop, v: Value, role: Option<&RoleScope>, subdir: &str) -> Result<Vec<Value>, String> {
    match lp.kind {
        LoopKind::Loop => match v {
            Value::Array(a) => Ok(a),
            other => Err(format!("{}: 'loop' needs a list, got {}: {other}", span, kind_of(&other))),
        },
        LoopKind::WithItems => Ok(lists::items(v)),
        LoopKind::WithList => Ok(lists::list(v)),
        LoopKind::WithDict => lists::dict(v).map_err(|e| format!("{span}: with_dict {e}")),
        LoopKind::WithIndexedItems => lists::indexed_items(v).map_err(|e| format!("{span}: with_indexed_items {e}")),
        LoopKind::WithFileglob => {
            let patterns: Vec<String> = match v {
                Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
                Value::String(s) => vec![s],
                other => return Err(format!("{}: with_fileglob needs a pattern, got {}", span, kind_of(&other))),
            };
            let mut out = Vec::new();
            for p in patterns {
                out.extend(fileglob(&p, role, &run.playbook.dir).into_iter().map(|f| Value::String(f.display().to_string())));
            }
            Ok(out)
        }
        LoopKind::WithSequence => lists::sequence(&match v {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .map_err(|e| format!("{}: with_sequence: {e}", span)),
        LoopKind::WithFirstFound => {
            let dirs: Vec<PathBuf> = role.map(|r| r.path.clone()).into_iter().chain([run.playbook.dir.clone()]).collect();
            lists::first_found(v, &dirs, subdir).map_err(|e| format!("{}: with_first_found: {e}", span))
        }
        LoopKind::WithTogether => Ok(lists::together(lists::terms(v))),
        LoopKind::WithNested => Ok(lists::nested(lists::terms(v))),
        LoopKind::WithSubelements => lists::subelements(v).map_err(|e| format!("{}: with_subelements: {e}", span)),
        LoopKind::WithFlattened => Ok(lists::flatten(v)),
        LoopKind::WithRandomChoice => Ok(lists::random_choice(v)),
        LoopKind::WithLookup(name) => Err(format!("{span}: with_{name} is run as a lookup, not here")),
    }
}

fn kind_of(v: &Value) -> &'static str {
    crate::modules::args::type_name(v)
}

/// Files on the controller matching a glob in the last path component, searched like `copy src:`.
fn fileglob(pattern: &str, role: Option<&RoleScope>, playbook_dir: &Path) -> Vec<PathBuf> {
    let p = Path::new(pattern);
    let (dir_part, file_pat) = (p.parent().unwrap_or(Path::new("")), p.file_name().and_then(|f| f.to_str()).unwrap_or(""));
    let mut bases: Vec<PathBuf> = Vec::new();
    if p.is_absolute() {
        bases.push(dir_part.to_path_buf());
    } else {
        if let Some(r) = role {
            bases.push(r.path.join("files").join(dir_part));
        }
        bases.push(playbook_dir.join("files").join(dir_part));
        bases.push(playbook_dir.join(dir_part));
    }
    for base in bases {
        let Ok(rd) = std::fs::read_dir(&base) else { continue };
        let mut found: Vec<PathBuf> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file() && crate::transport::known_hosts::wildcard(file_pat, &e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        if !found.is_empty() {
            found.sort();
            return found;
        }
    }
    Vec::new()
}
