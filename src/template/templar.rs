//! [`Templar`]: the public templating API (one per run). Renders module arguments deeply, text files for the
//! template module, and conditions; turns engine failures into [`TemplateError`]s that name the origin span,
//! the template line and the undefined variable. Filters and lookups live in their own files.

use std::sync::Arc;

use super::context::{RenderCtx, ScopeObject, is_template};
use super::convert::{self, ToJsonError};
use super::engine::{self, Engine, TextOptions};
use super::error::{TemplateError, TemplateErrorKind};
use super::file_syntax::FileSyntax;
use crate::vars::{VarScope, unsafe_text};
use crate::yaml::{Span, Value};

/// Renders templates with Ansible's semantics. Cheap to clone (an Arc).
#[derive(Clone, Debug)]
pub struct Templar {
    engine: Arc<Engine>,
}

impl Default for Templar {
    fn default() -> Self {
        Templar::new()
    }
}

impl Templar {
    /// A Templar with a fresh random `omit` placeholder.
    pub fn new() -> Templar {
        use rand::Rng;
        let bytes: [u8; 20] = rand::thread_rng().r#gen();
        Templar::with_omit_token(format!("__omit_place_holder__{}", hex::encode(bytes)))
    }

    /// A Templar with a given `omit` placeholder (tests, or reproducing a run).
    pub fn with_omit_token(token: String) -> Templar {
        Templar { engine: Arc::new(Engine::new(token)) }
    }

    /// The value `{{ omit }}` renders to; mapping keys and list items with this value are dropped.
    pub fn omit_token(&self) -> &str {
        self.engine.omit()
    }

    /// Render every string in `v` (keys included). A string that is exactly one `{{ expr }}` becomes the
    /// expression's value with its own type; other strings stay strings. Entries equal to `omit` are dropped
    /// from mappings and lists; `!unsafe` strings come out verbatim.
    pub fn render_value(&self, v: &Value, scope: &VarScope, origin: &Span) -> Result<Value, TemplateError> {
        let (obj, ctx) = self.root(scope);
        let v = self.render_deep(v, &obj).map_err(|e| self.error(e, &obj, origin, false))?;
        host_only_check(&ctx, origin)?;
        Ok(v)
    }

    /// Render a whole text (the template module's file). `origin` is where the text comes from; for a file
    /// pass `Span::new(path, 1, 1)` and errors read `path:LINE: ...`. A `#jinja2:` first line may override
    /// trim_blocks/lstrip_blocks.
    pub fn render_text(&self, text: &str, scope: &VarScope, origin: &Span) -> Result<String, TemplateError> {
        self.render_text_with(text, scope, origin, TextOptions::default())
    }

    /// [`render_text`](Self::render_text) with the template module's `trim_blocks`/`lstrip_blocks` options.
    pub fn render_text_with(&self, text: &str, scope: &VarScope, origin: &Span, opts: TextOptions) -> Result<String, TemplateError> {
        self.render_file(text, scope, origin, opts, &FileSyntax::default())
    }

    /// [`render_text_with`](Self::render_text_with) for a template file with its own delimiters and include
    /// folders (the template module).
    pub fn render_file(&self, text: &str, scope: &VarScope, origin: &Span, opts: TextOptions, syntax: &FileSyntax) -> Result<String, TemplateError> {
        let (opts, body) = opts.apply_header(text).map_err(|m| TemplateError::new(TemplateErrorKind::Syntax, origin, m))?;
        // A header line shifts every line below it.
        let shift = if body.len() != text.len() { 1 } else { 0 };
        let (obj, ctx) = self.root(scope);
        let text = self.engine.render_file(body, &obj, opts, syntax).map_err(|e| {
            let mut err = self.error(Fail::Engine(e, true), &obj, origin, true);
            err.template_line = err.template_line.map(|l| l + shift);
            err
        })?;
        host_only_check(&ctx, origin)?;
        Ok(text)
    }

    /// Evaluate a condition (`when`, `failed_when`, `changed_when`, `until`, assert `that`): a bare Jinja
    /// expression, or one wrapped in `{{ }}` (accepted, as Ansible does). Booleans are taken as they are;
    /// strings and other values by Python truthiness, except that the strings Ansible's `bool` accepts
    /// ("yes", "false", ...) mean what they say.
    pub fn eval_condition(&self, expr: &str, scope: &VarScope, origin: &Span) -> Result<bool, TemplateError> {
        let trimmed = expr.trim();
        let bare = engine::single_expression(trimmed).unwrap_or(trimmed);
        if bare.trim().is_empty() {
            return Err(TemplateError::new(TemplateErrorKind::Syntax, origin, "empty condition"));
        }
        let (obj, ctx) = self.root(scope);
        let bare = engine::escape_backslashes_expr(bare);
        let v = self.engine.eval_expr(&bare, &obj).map_err(|e| self.error(Fail::Engine(e, false), &obj, origin, false))?;
        host_only_check(&ctx, origin)?;
        // Ansible fails a condition that compares or reads an attribute of something undefined (`nope == 1`,
        // `deep.a.b.c == 1` with no `deep.a.b`); minijinja's chainable undefined lets it through as false. Checked
        // again strictly, unless the condition tests for definedness or gives a default (the chain is allowed there).
        let reads_past = bare.contains('.') || bare.contains('[') || ctx.last_miss().is_some();
        if reads_past && !["defined", "default", "d(", " is "].iter().any(|w| bare.contains(w)) {
            // The same scope object: variables already rendered for the first evaluation are not rendered again.
            if let Err(e) = self.engine.eval_expr_strict(&bare, &obj)
                && e.kind() == minijinja::ErrorKind::UndefinedError
            {
                return Err(self.error_in(Fail::Engine(e, false), &obj, origin, false, Some(&bare)));
            }
        }
        Ok(truthy(&v))
    }

    /// Evaluate a bare expression to a value (e.g. `loop:` given as an expression, `debug: var=`).
    pub fn eval_expression(&self, expr: &str, scope: &VarScope, origin: &Span) -> Result<Value, TemplateError> {
        let (obj, ctx) = self.root(scope);
        let v = self.engine.eval_expr(expr, &obj).map_err(|e| self.error(Fail::Engine(e, false), &obj, origin, false))?;
        host_only_check(&ctx, origin)?;
        to_json(&v).map_err(|e| self.error(e, &obj, origin, false))
    }

    /// Check a template (`expression: false`) or a condition (`true`) for Jinja syntax errors, without variables.
    pub fn check_syntax(&self, text: &str, expression: bool, origin: &Span) -> Result<(), TemplateError> {
        let trimmed = text.trim();
        let body = if expression { engine::single_expression(trimmed).unwrap_or(trimmed) } else { text };
        if expression && body.trim().is_empty() {
            return Err(TemplateError::new(TemplateErrorKind::Syntax, origin, "empty condition"));
        }
        let body = if expression { engine::escape_backslashes_expr(body) } else { body.to_string() };
        self.engine.check_syntax(&body, expression).map_err(|e| TemplateError::new(TemplateErrorKind::Syntax, origin, e.to_string()))
    }

    fn root(&self, scope: &VarScope) -> (Arc<ScopeObject>, Arc<RenderCtx>) {
        let ctx = Arc::new(RenderCtx::default());
        (ScopeObject::new(scope.clone(), self.engine.clone(), ctx.clone(), String::new()), ctx)
    }

    fn render_deep(&self, v: &Value, obj: &Arc<ScopeObject>) -> Result<Value, Fail> {
        let omit = self.engine.omit();
        Ok(match v {
            Value::String(s) => {
                if !is_template(s) {
                    return Ok(v.clone());
                }
                let rendered = self.engine.render_str(s, obj).map_err(|e| Fail::Engine(e, s.contains('\n')))?;
                strip_omit(to_json(&rendered)?, omit)
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    let r = self.render_deep(item, obj)?;
                    if r.as_str() != Some(omit) {
                        out.push(r);
                    }
                }
                Value::Array(out)
            }
            Value::Object(m) => {
                if let Some(text) = unsafe_text::as_unsafe(v) {
                    return Ok(Value::String(text.to_string()));
                }
                let mut out = serde_json::Map::with_capacity(m.len());
                for (k, item) in m {
                    let key = if is_template(k) {
                        let rk = self.engine.render_str(k, obj).map_err(|e| Fail::Engine(e, false))?;
                        convert::key_string(&rk)
                    } else {
                        k.clone()
                    };
                    let r = self.render_deep(item, obj)?;
                    if r.as_str() != Some(omit) {
                        out.insert(key, r);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    fn error(&self, fail: Fail, obj: &Arc<ScopeObject>, origin: &Span, is_file: bool) -> TemplateError {
        self.error_in(fail, obj, origin, is_file, None)
    }

    /// [`error`](Self::error) for the expression `source`, where a subscript by a variable can be named.
    fn error_in(&self, fail: Fail, obj: &Arc<ScopeObject>, origin: &Span, is_file: bool, source: Option<&str>) -> TemplateError {
        let ctx = &*obj.ctx;
        if let Err(e) = host_only_check(ctx, origin) {
            return e;
        }
        let (kind, message, undefined, line) = match fail {
            Fail::Engine(e, multiline) => {
                // Line numbers only help for templates of several lines (or whole files).
                let line = e.line().map(|l| l as u32).filter(|_| multiline);
                match ctx.failure() {
                    Some(f) => (f.kind, f.message, f.undefined, line),
                    None => {
                        let (k, m, u) = engine::describe(&e, ctx);
                        (k, m, u, line)
                    }
                }
            }
            Fail::UndefinedResult => {
                let name = ctx.last_miss();
                let msg = match &name {
                    Some(n) => format!("'{n}' is undefined"),
                    None => "the template's result is undefined".to_string(),
                };
                (TemplateErrorKind::Undefined, msg, name, None)
            }
        };
        // A variable that is undefined because it read something undefined: say what, through which variables.
        let deferred = match (&kind, &undefined) {
            (TemplateErrorKind::Undefined, Some(path)) if ctx.failure().is_none() => ctx.deferred_failure(super::context::root_name(path)),
            _ => None,
        };
        if let Some(f) = deferred {
            let mut err = TemplateError::new(f.kind, origin, f.message);
            err.undefined = f.undefined;
            err.is_file = is_file;
            err.template_line = line;
            return err;
        }
        // `deep.a.x` with `deep.a` defined: Ansible names the missing attribute or element, not the whole path.
        let message = match (&kind, &undefined) {
            (TemplateErrorKind::Undefined, Some(path)) => missing_part(&self.engine, obj, path, source).unwrap_or(message),
            _ => message,
        };
        let mut err = TemplateError::new(kind, origin, message);
        err.undefined = undefined;
        err.is_file = is_file;
        err.template_line = line;
        err
    }
}

/// Ansible's message for an undefined `path` whose start is defined: "object of type 'dict' has no attribute
/// 'x'", "object has no element 0". None when the root itself is undefined (the usual "'x' is undefined").
/// minijinja writes a subscript by a variable as `groups[...]`: `source`, the expression, tells which.
fn missing_part(engine: &engine::Engine, obj: &Arc<ScopeObject>, path: &str, source: Option<&str>) -> Option<String> {
    let mut cuts = Vec::new();
    let (mut depth, mut quote) = (0i32, None::<char>);
    for (i, c) in path.char_indices() {
        match (quote, c) {
            (Some(q), x) if x == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => {
                if depth == 0 {
                    cuts.push(i);
                }
                depth += 1;
            }
            (None, ']') => depth -= 1,
            (None, '.') if depth == 0 => cuts.push(i),
            (None, c) if !(c.is_alphanumeric() || c == '_') && depth == 0 => return None,
            _ => {}
        }
    }
    cuts.push(path.len());
    let quiet_ctx = Arc::new(RenderCtx::default());
    let quiet = ScopeObject::new(obj.scope.clone(), obj.engine.clone(), quiet_ctx.clone(), String::new());
    let mut parent = engine.eval_expr(&path[..*cuts.first()?], &quiet).ok()?;
    for w in cuts.windows(2) {
        let (seg, next) = (&path[w[0]..w[1]], &path[..w[1]]);
        match engine.eval_expr(next, &quiet) {
            Ok(v) => parent = v,
            Err(_) => {
                let raw = seg.trim_start_matches('.');
                let mut key = raw.trim_start_matches('[').trim_end_matches(']').trim_matches(|c| c == '\'' || c == '"').to_string();
                if key == "..." {
                    key = subscript_in(engine, &quiet, source?, &path[..w[0]])?;
                } else if raw.starts_with("[") && !raw[1..].starts_with(['\'', '"']) && key.parse::<i64>().is_err() {
                    // `groups[agent_group]`: a subscript by a variable names its value.
                    key = engine.eval_expr(&key, &quiet).ok().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))?;
                }
                use minijinja::value::ValueKind;
                // Present, but undefined because its template read something undefined: name that.
                let present = match parent.kind() {
                    ValueKind::Map => parent.try_iter().is_ok_and(|mut keys| keys.any(|k| k.as_str() == Some(key.as_str()))),
                    ValueKind::Seq => key.parse::<usize>().is_ok_and(|i| parent.len().is_some_and(|n| i < n)),
                    _ => false,
                };
                if present {
                    return quiet_ctx.last_miss().map(|n| format!("'{n}' is undefined"));
                }
                return Some(match parent.kind() {
                    ValueKind::Seq if key.parse::<i64>().is_ok() => format!("list object has no element {key}"),
                    ValueKind::Map => format!("object of type 'dict' has no attribute '{key}'"),
                    ValueKind::String => format!("object of type 'str' has no attribute '{key}'"),
                    ValueKind::None => format!("'None' has no attribute '{key}'"),
                    _ => format!("'{}' has no attribute '{key}'", &path[..w[0]]),
                });
            }
        }
    }
    None
}

/// The value of the subscript that follows `base` in `source` (`groups[agent_group]` → `agent`).
fn subscript_in(engine: &engine::Engine, obj: &Arc<ScopeObject>, source: &str, base: &str) -> Option<String> {
    let start = source.find(&format!("{base}["))? + base.len() + 1;
    let mut depth = 1;
    let end = source[start..].char_indices().find_map(|(i, c)| {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ => {}
        }
        (depth == 0).then_some(start + i)
    })?;
    match engine.eval_expr(&source[start..end], obj).ok()? {
        v if v.as_str().is_some() => v.as_str().map(str::to_string),
        v => Some(v.to_string()),
    }
}

/// A template that read a value only a host can tell fails, even where `default()` or a test hid the gap.
fn host_only_check(ctx: &RenderCtx, origin: &Span) -> Result<(), TemplateError> {
    match ctx.host_only() {
        None => Ok(()),
        Some(name) => {
            let mut err = TemplateError::new(TemplateErrorKind::Undefined, origin, format!("`{name}` is known only on a host"));
            err.undefined = Some(name);
            Err(err)
        }
    }
}

enum Fail {
    /// An engine error, and whether the failing template has more than one line.
    Engine(minijinja::Error, bool),
    UndefinedResult,
}

fn to_json(v: &minijinja::Value) -> Result<Value, Fail> {
    convert::to_json(v).map_err(|e| match e {
        ToJsonError::Undefined => Fail::UndefinedResult,
        ToJsonError::Invalid(e) => Fail::Engine(e, false),
    })
}

/// `v` without list items and mapping entries equal to the omit placeholder (at any depth), as Ansible removes
/// them from module arguments.
fn strip_omit(v: Value, omit: &str) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.into_iter().filter(|x| x.as_str() != Some(omit)).map(|x| strip_omit(x, omit)).collect()),
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, x)| x.as_str() != Some(omit)).map(|(k, x)| (k, strip_omit(x, omit))).collect()),
        other => other,
    }
}

/// Ansible's truthiness for conditions: Python's, but the strings `bool` understands count as booleans.
pub fn truthy(v: &minijinja::Value) -> bool {
    if let Some(s) = v.as_str() {
        match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "on" | "true" | "1" => return true,
            "no" | "off" | "false" | "0" | "" => return false,
            _ => return true,
        }
    }
    v.is_true()
}
