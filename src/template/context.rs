//! The template context: a lazy view of a [`VarScope`] that minijinja reads variables through.
//!
//! A variable is converted (and, if it holds `{{`/`{%`, rendered in the same scope) only when a template reads
//! it; results are cached for the rest of the render. Variables being resolved are tracked to report cycles
//! (`a` → `b` → `a`) instead of recursing forever, and nesting is bounded so the stack cannot overflow.
//! `hostvars` and `vars` are served from here too. This file must not define filters or parse YAML.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

use super::convert;
use super::engine::Engine;
use super::error::TemplateErrorKind;
use crate::vars::{HostVarsSource, VarScope, host_only, unsafe_text};
use crate::yaml::Value as Json;

/// The context key under which filters and lookups find the current [`ScopeObject`].
pub const SCOPE_KEY: &str = "__hlprov_scope__";

/// How deep variables may refer to variables that refer to variables... before hlprov gives up.
pub const MAX_VAR_DEPTH: usize = 40;

/// A failure inside a nested variable, kept so the top-level error can say what really went wrong.
#[derive(Clone, Debug)]
pub struct Failure {
    pub kind: TemplateErrorKind,
    pub message: String,
    pub undefined: Option<String>,
}

/// State shared by everything one top-level templating call does.
#[derive(Default, Debug)]
pub struct RenderCtx {
    /// Variables being resolved right now, outermost first (for cycle detection and messages).
    stack: Mutex<Vec<String>>,
    /// The first (innermost) failure in a nested variable.
    failure: Mutex<Option<Failure>>,
    /// Names of top-level variables that were looked up and not found, in order.
    misses: Mutex<Vec<String>>,
    /// The first variable read that only a host can tell (offline rendering; see `vars::host_only`).
    host_only: Mutex<Option<String>>,
    /// Variables that read something undefined and so are undefined themselves, with what to say if one is
    /// used (innermost first): Ansible templates variables lazily, so this is no error until then.
    deferred: Mutex<Vec<(String, Failure)>>,
}

impl RenderCtx {
    pub fn failure(&self) -> Option<Failure> {
        self.failure.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keep `f` unless an inner failure was already recorded.
    pub fn record_failure(&self, f: Failure) {
        let mut slot = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(f);
        }
    }

    /// The first variable read whose value only a host can tell, if any: the render must not be used.
    pub fn host_only(&self) -> Option<String> {
        self.host_only.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What to say when `name` is undefined because it read something undefined, or is that something (see
    /// `deferred`): the innermost variable's failure.
    pub fn deferred_failure(&self, name: &str) -> Option<Failure> {
        let deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        deferred.iter().find(|(var, f)| var == name || f.undefined.as_deref() == Some(name)).map(|(_, f)| f.clone())
    }

    pub fn last_miss(&self) -> Option<String> {
        self.misses.lock().unwrap_or_else(|e| e.into_inner()).last().cloned()
    }

    fn chain(&self) -> Vec<String> {
        self.stack.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A scope as seen by templates: the root context object, also returned for `vars` and `hostvars[h]`.
#[derive(Debug)]
pub struct ScopeObject {
    pub scope: VarScope,
    pub engine: Arc<Engine>,
    pub ctx: Arc<RenderCtx>,
    /// "" for the task's own scope, "hostvars['w1']." for another host's: prefixes names in messages.
    label: String,
    cache: Mutex<HashMap<String, Value>>,
}

impl ScopeObject {
    pub fn new(scope: VarScope, engine: Arc<Engine>, ctx: Arc<RenderCtx>, label: String) -> Arc<ScopeObject> {
        Arc::new(ScopeObject { scope, engine, ctx, label, cache: Mutex::new(HashMap::new()) })
    }

    /// The object as a template value.
    pub fn value(self: &Arc<Self>) -> Value {
        Value::from_dyn_object(self.clone())
    }

    /// The value of variable `name`, rendered if it holds a template; None if it is not defined.
    /// A failure is returned as an invalid value, which makes minijinja stop with that error.
    fn resolve(self: &Arc<Self>, name: &str) -> Option<Value> {
        if let Some(v) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
            return Some(v.clone());
        }
        let (raw, layer) = self.scope.lookup(name)?;
        if host_only::is_marker(raw) {
            let name = format!("{}{}", self.label, name);
            self.ctx.host_only.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(name.clone());
            return Some(Value::from(minijinja::Error::new(minijinja::ErrorKind::UndefinedError, format!("`{name}` is known only on a host"))));
        }
        let value = if layer.kind.is_unsafe() || !needs_templating(raw) {
            convert::to_mj(raw)
        } else {
            let key = format!("{}{}", self.label, name);
            if let Err(f) = self.enter(&key) {
                self.ctx.record_failure(f.clone());
                return Some(Value::from(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, f.message)));
            }
            let rendered = self.engine.render_json_lazy(raw, self);
            self.leave();
            match rendered {
                Ok(v) => v,
                Err(e) if e.kind() == minijinja::ErrorKind::UndefinedError => {
                    // Undefined itself, not an error yet: `default()` and `is defined` may handle it.
                    let from = format!("{} ({})", layer.label, layer.kind.describe());
                    let failure = self.engine.nested_failure(&e, &self.ctx, &key, &from);
                    // Undefined because a variable it read is: that one's failure tells the whole chain.
                    let inner = failure.undefined.as_deref().and_then(|n| self.ctx.deferred_failure(root_name(n)));
                    let failure = inner.unwrap_or(failure);
                    self.ctx.deferred.lock().unwrap_or_else(|e| e.into_inner()).push((key.clone(), failure));
                    Value::UNDEFINED
                }
                Err(e) => {
                    let from = format!("{} ({})", layer.label, layer.kind.describe());
                    self.ctx.record_failure(self.engine.nested_failure(&e, &self.ctx, &key, &from));
                    return Some(Value::from(e));
                }
            }
        };
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(name.to_string(), value.clone());
        Some(value)
    }

    /// Mark `key` as being resolved, refusing cycles and runaway nesting.
    pub fn enter(&self, key: &str) -> Result<(), Failure> {
        let mut stack = self.ctx.stack.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = stack.iter().position(|k| k == key) {
            let mut path: Vec<&str> = stack[pos..].iter().map(String::as_str).collect();
            path.push(key);
            let message = if path.len() == 2 {
                format!("variable '{key}' refers to itself")
            } else {
                format!("variable '{key}' refers to itself through {}", path[1..].join(" → "))
            };
            return Err(Failure { kind: TemplateErrorKind::Cycle, message, undefined: None });
        }
        if stack.len() >= MAX_VAR_DEPTH {
            return Err(Failure {
                kind: TemplateErrorKind::Runtime,
                message: format!(
                    "variables refer to each other more than {MAX_VAR_DEPTH} levels deep (at '{key}', from '{}')",
                    stack.first().map(String::as_str).unwrap_or_default()
                ),
                undefined: None,
            });
        }
        stack.push(key.to_string());
        Ok(())
    }

    /// Undo [`enter`](Self::enter).
    pub fn leave(&self) {
        self.ctx.stack.lock().unwrap_or_else(|e| e.into_inner()).pop();
    }

    /// Where a nested failure happened, for messages: "while templating 'b' used by 'a'".
    pub fn chain_text(ctx: &RenderCtx, innermost: &str) -> String {
        let mut chain = ctx.chain();
        chain.push(innermost.to_string());
        chain.reverse();
        chain.dedup();
        chain.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(" used by ")
    }
}

impl Object for ScopeObject {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        match name {
            SCOPE_KEY => return Some(self.value()),
            // hostvars and vars are Ansible's: a user variable of that name does not shadow them.
            "hostvars" => {
                if let Some(src) = self.scope.hostvars() {
                    return Some(Value::from_object(HostVarsObject {
                        source: src.clone(),
                        engine: self.engine.clone(),
                        ctx: self.ctx.clone(),
                        cache: Mutex::new(HashMap::new()),
                    }));
                }
            }
            "vars" if !self.scope.contains("vars") => return Some(self.value()),
            "omit" if !self.scope.contains("omit") => return Some(Value::from(self.engine.omit())),
            _ => {}
        }
        let found = self.resolve(name);
        if found.is_none() && self.label.is_empty() && !self.engine.is_global(name) {
            self.ctx.misses.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
        }
        found
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let names: Vec<Value> = self.scope.names().into_iter().map(Value::from).collect();
        Enumerator::Values(names)
    }
}

/// `hostvars`: a mapping of host name to that host's [`ScopeObject`], built only for hosts actually read.
struct HostVarsObject {
    source: Arc<dyn HostVarsSource>,
    engine: Arc<Engine>,
    ctx: Arc<RenderCtx>,
    cache: Mutex<HashMap<String, Value>>,
}

impl std::fmt::Debug for HostVarsObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("hostvars")
    }
}

impl Object for HostVarsObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let host = key.as_str()?;
        if let Some(v) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(host) {
            return Some(v.clone());
        }
        let scope = self.source.host_scope(host)?;
        let obj = ScopeObject::new(scope, self.engine.clone(), self.ctx.clone(), format!("hostvars['{host}']."));
        let v = obj.value();
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(host.to_string(), v.clone());
        Some(v)
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.source.hosts().into_iter().map(Value::from).collect())
    }
}

/// Does `v` hold a string that templating would change? Unsafe-wrapped strings never do.
/// The variable a path starts with: `a` of `a.b[0]`.
pub fn root_name(path: &str) -> &str {
    path.split(['.', '[']).next().unwrap_or(path)
}

pub fn needs_templating(v: &Json) -> bool {
    match v {
        Json::String(s) => is_template(s),
        Json::Array(a) => a.iter().any(needs_templating),
        Json::Object(m) => unsafe_text::as_unsafe(v).is_none() && m.iter().any(|(k, v)| is_template(k) || needs_templating(v)),
        _ => false,
    }
}

/// Does `s` contain Jinja markup?
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%") || s.contains("{#")
}
