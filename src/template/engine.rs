//! The rendering core shared by the public [`Templar`](super::Templar) and by lazy variable resolution: the
//! minijinja environments (one per whitespace option set), and the functions that render a string (native
//! type for a lone `{{ expr }}`), a whole value, or a text file. Errors stay minijinja errors here; turning
//! them into `TemplateError`s is `templar.rs`'s job.

use std::sync::Arc;

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};

use super::context::{Failure, RenderCtx, ScopeObject, is_template};
use super::convert;
use super::error::TemplateErrorKind;
use super::file_syntax::FileSyntax;
use super::{filters, jinja_tests, literal, lookups, pyformat};
use crate::vars::unsafe_text;
use crate::yaml::Value as Json;

/// Fuel for one render (about one unit per instruction): stops runaway loops in well under a second.
pub const FUEL: u64 = 5_000_000;
/// Nesting limit for macros, loops and includes inside one template.
pub const RECURSION_LIMIT: usize = 100;

/// Jinja whitespace options. Defaults are Ansible's: trim_blocks on, lstrip_blocks off, and trailing newlines
/// of the source kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextOptions {
    pub trim_blocks: bool,
    pub lstrip_blocks: bool,
}

impl Default for TextOptions {
    fn default() -> Self {
        TextOptions { trim_blocks: true, lstrip_blocks: false }
    }
}

impl TextOptions {
    fn index(self) -> usize {
        (self.trim_blocks as usize) * 2 + self.lstrip_blocks as usize
    }

    /// Apply a `#jinja2: trim_blocks: False, lstrip_blocks: True` first line (Ansible's per-file override);
    /// returns the text without that line. Unknown keys are an error.
    pub fn apply_header(mut self, text: &str) -> Result<(TextOptions, &str), String> {
        let Some(rest) = text.strip_prefix("#jinja2:") else { return Ok((self, text)) };
        let (header, body) = rest.split_once('\n').unwrap_or((rest, ""));
        for part in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once(':').ok_or_else(|| format!("#jinja2 header: expected 'key: value', found '{part}'"))?;
            let v = match v.trim().trim_matches(|c| c == '"' || c == '\'') {
                "True" | "true" | "yes" => true,
                "False" | "false" | "no" => false,
                other => return Err(format!("#jinja2 header: '{}' must be True or False, found '{other}'", k.trim())),
            };
            match k.trim() {
                "trim_blocks" => self.trim_blocks = v,
                "lstrip_blocks" => self.lstrip_blocks = v,
                other => return Err(format!("#jinja2 header: hlprov supports trim_blocks and lstrip_blocks, not '{other}'")),
            }
        }
        Ok((self, body))
    }
}

/// Everything needed to render; shared (in an Arc) by the Templar and every lazy variable.
pub struct Engine {
    envs: Vec<Environment<'static>>,
    /// The same with strict undefined values: a condition is checked again in it (see `Templar::eval_condition`).
    strict: Environment<'static>,
    omit: String,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

impl Engine {
    pub fn new(omit: String) -> Engine {
        let envs = (0..4)
            .map(|i| {
                let opts = TextOptions { trim_blocks: i / 2 == 1, lstrip_blocks: i % 2 == 1 };
                build_env(opts)
            })
            .collect();
        let mut strict = build_env(TextOptions::default());
        strict.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        Engine { envs, strict, omit }
    }

    /// A function or value every template has (lookup, range, namespace…): not a variable, so a template that
    /// reads it from the scope first has not missed a variable.
    pub fn is_global(&self, name: &str) -> bool {
        self.envs[0].globals().any(|(n, _)| n == name)
    }

    pub fn omit(&self) -> &str {
        &self.omit
    }

    fn env(&self, opts: TextOptions) -> &Environment<'static> {
        &self.envs[opts.index()]
    }

    /// Render one string in `obj`'s scope. A string that is a single `{{ expr }}` yields the expression's own
    /// type; anything else yields a string, unless its only output is one `{{ }}` printing a list or dict, whose
    /// value Ansible keeps (see `literal`).
    pub fn render_str(&self, s: &str, obj: &Arc<ScopeObject>) -> Result<Value, Error> {
        if !is_template(s) {
            return Ok(Value::from(s));
        }
        let s = &*escape_backslashes(s);
        if let Some(expr) = single_expression(s) {
            return self.eval_expr(expr, obj);
        }
        let text = self.render_text(s, obj, TextOptions::default())?;
        if literal::read_back(s, &text)
            && let Some(v) = literal::parse(&text)
        {
            return Ok(convert::to_mj(&v));
        }
        Ok(Value::from(text))
    }

    /// Compile without rendering: a syntax error is found before anything runs.
    pub fn check_syntax(&self, text: &str, expression: bool) -> Result<(), Error> {
        let env = self.env(TextOptions::default());
        if expression {
            env.compile_expression(&pyformat::rewrite_expr(text)).map(|_| ())
        } else {
            env.template_from_str(&pyformat::rewrite_template(&escape_backslashes(text))).map(|_| ())
        }
    }

    /// Evaluate a bare expression. An undefined result is an error naming what was undefined.
    pub fn eval_expr(&self, expr: &str, obj: &Arc<ScopeObject>) -> Result<Value, Error> {
        let compiled = self.env(TextOptions::default()).compile_expression_owned(pyformat::rewrite_expr(expr).into_owned())?;
        let v = compiled.eval(obj.value())?;
        if v.is_undefined() {
            let e = expr.trim();
            let simple = e.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '[' | ']' | '\'' | '"'));
            let miss = obj.ctx.last_miss();
            // `nope.x` with `nope` missing: name the missing variable, as Ansible does.
            let root = e.split(['.', '[']).next().unwrap_or(e);
            let name = if simple && miss.as_deref() != Some(root) { Some(e.to_string()) } else { miss };
            return Err(match name {
                Some(n) => Error::new(ErrorKind::UndefinedError, format!("`{n}` is undefined")),
                None => Error::new(ErrorKind::UndefinedError, "the expression's value is undefined"),
            });
        }
        Ok(v)
    }

    /// Evaluate a bare expression where reading an attribute of an undefined value is an error.
    pub fn eval_expr_strict(&self, expr: &str, obj: &Arc<ScopeObject>) -> Result<Value, Error> {
        self.strict.compile_expression_owned(pyformat::rewrite_expr(expr).into_owned())?.eval(obj.value())
    }

    /// Render a text template; trailing newlines of the source are kept, as Ansible does.
    pub fn render_text(&self, text: &str, obj: &Arc<ScopeObject>, opts: TextOptions) -> Result<String, Error> {
        self.render_file(text, obj, opts, &FileSyntax::default())
    }

    /// [`render_text`](Self::render_text) with a file's own delimiters and include folders.
    pub fn render_file(&self, text: &str, obj: &Arc<ScopeObject>, opts: TextOptions, syntax: &FileSyntax) -> Result<String, Error> {
        let rewritten = pyformat::rewrite_template(text);
        let mut out = if syntax.is_default() {
            self.env(opts).render_named_str("template", &rewritten, obj.value())?
        } else {
            syntax.environment(self.env(opts), opts)?.render_named_str("template", &rewritten, obj.value())?
        };
        let want = trailing_newlines(text);
        let have = trailing_newlines(&out);
        if want > have {
            out.push_str(&"\n".repeat(want - have));
        }
        Ok(out)
    }

    /// Render every string inside a variable's value (keys too), for lazy resolution.
    pub fn render_json_lazy(&self, v: &Json, obj: &Arc<ScopeObject>) -> Result<Value, Error> {
        Ok(match v {
            Json::String(s) => self.render_str(s, obj)?,
            Json::Array(items) => Value::from(items.iter().map(|i| self.render_element(i, obj)).collect::<Vec<_>>()),
            Json::Object(m) => {
                if let Some(text) = unsafe_text::as_unsafe(v) {
                    return Ok(Value::from(text));
                }
                let mut pairs = Vec::with_capacity(m.len());
                for (k, v) in m {
                    let key = if is_template(k) { Value::from(convert::key_string(&self.render_str(k, obj)?)) } else { Value::from(k.as_str()) };
                    pairs.push((key, self.render_element(v, obj)));
                }
                Value::from_pairs(pairs)
            }
            other => convert::to_mj(other),
        })
    }

    /// One element of a mapping or list. As in Ansible's lazy containers, a failure stays with its element and
    /// the others can be used: an element that reads something undefined is undefined (`default()` and
    /// `is defined` work on it; using it fails, naming what is undefined); any other error fails where the
    /// element is used.
    fn render_element(&self, v: &Json, obj: &Arc<ScopeObject>) -> Value {
        match self.render_json_lazy(v, obj) {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::UndefinedError => Value::UNDEFINED,
            Err(e) => Value::from(e),
        }
    }

    /// Describe a failure of nested variable `key` (defined in `from`) for the top-level error.
    pub fn nested_failure(&self, e: &Error, ctx: &RenderCtx, key: &str, from: &str) -> Failure {
        let (kind, message, undefined) = describe(e, ctx);
        Failure { kind, message: format!("{message} (while templating {} from {from})", ScopeObject::chain_text(ctx, key)), undefined }
    }
}

/// Kind, message and undefined name of a minijinja error. Never quotes values: minijinja's details name
/// expressions and types, not contents.
pub fn describe(e: &Error, ctx: &RenderCtx) -> (TemplateErrorKind, String, Option<String>) {
    let detail = e.detail().unwrap_or_default();
    match e.kind() {
        ErrorKind::UndefinedError => {
            let name = backticked(detail).or_else(|| ctx.last_miss());
            match name {
                Some(n) => (TemplateErrorKind::Undefined, format!("'{n}' is undefined"), Some(n)),
                None => (TemplateErrorKind::Undefined, "an undefined value was used".to_string(), None),
            }
        }
        ErrorKind::SyntaxError => (TemplateErrorKind::Syntax, format!("template syntax error: {detail}"), None),
        #[allow(unreachable_patterns)]
        ErrorKind::OutOfFuel => (TemplateErrorKind::Runtime, "template did too much work (runaway loop?) and was stopped".to_string(), None),
        kind => {
            let msg = if detail.is_empty() { kind.to_string() } else { format!("{kind}: {detail}") };
            (TemplateErrorKind::Runtime, msg, None)
        }
    }
}

/// The first `name` in backticks in a minijinja detail ("`foo.bar` is undefined").
fn backticked(detail: &str) -> Option<String> {
    let start = detail.find('`')? + 1;
    let len = detail[start..].find('`')?;
    Some(detail[start..start + len].to_string())
}

/// If `s` is exactly one `{{ expr }}` (whitespace control allowed), the expression.
pub fn single_expression(s: &str) -> Option<&str> {
    let rest = s.strip_prefix("{{")?;
    let end = expression_end(rest)?;
    if end + 2 != rest.len() {
        return None;
    }
    let inner = &rest[..end];
    let inner = inner.strip_prefix('-').unwrap_or(inner);
    let inner = inner.strip_suffix('-').unwrap_or(inner);
    Some(inner)
}

/// For a bare expression (a condition): Ansible does not escape conditions, so Jinja's own escapes (`\n`, `\t`,
/// `\\`, quotes, …) mean what Python makes of them; any other backslash (`'\d+'` in a regex) stays literal, as
/// Python keeps an unknown escape.
pub fn escape_backslashes_expr(expr: &str) -> String {
    let wrapped = format!("{{{{{expr}}}}}");
    let escaped = escape_backslashes_with(&wrapped, true);
    escaped[2..escaped.len() - 2].to_string()
}

/// Byte offset of the `}}` closing an expression that starts at the beginning of `s`, skipping string
/// literals and nested brackets (so `{{ {'a': {'b': 1}} }}` ends at the last `}}`).
fn expression_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let (mut i, mut depth, mut quote) = (0usize, 0i32, None::<u8>);
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' => depth -= 1,
                b'}' if depth == 0 && b.get(i + 1) == Some(&b'}') => return Some(i),
                b'}' => depth -= 1,
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// Ansible's `escape_backslashes`: inside `{{ }}` of a template written in YAML, backslashes in string
/// literals are taken literally (`regex_replace('\\d', '\\1')` means what a regex author expects).
/// Template files are not changed.
pub fn escape_backslashes(s: &str) -> std::borrow::Cow<'_, str> {
    escape_backslashes_with(s, false)
}

/// The escapes both Python and minijinja process in a string literal.
const JINJA_ESCAPES: &[char] = &['n', 't', 'r', '\\', '\'', '"', 'u', 'b', 'f'];

fn escape_backslashes_with(s: &str, keep_jinja_escapes: bool) -> std::borrow::Cow<'_, str> {
    if !s.contains('\\') || !s.contains("{{") {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start + 2]);
        let body = &rest[start + 2..];
        let Some(end) = expression_end(body) else {
            out.push_str(body);
            return std::borrow::Cow::Owned(out);
        };
        let mut quote = None;
        let mut chars = body[..end].chars();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(_), '\\') if keep_jinja_escapes && chars.clone().next().is_some_and(|n| JINJA_ESCAPES.contains(&n)) => {
                    out.push('\\');
                    out.extend(chars.next());
                }
                (Some(_), '\\') => {
                    out.push_str("\\\\");
                    // An escaped quote stays part of the literal.
                    if let Some(n) = chars.next() {
                        if Some(n) == quote {
                            out.pop();
                        }
                        out.push(n);
                    }
                }
                (Some(q), c) if c == q => {
                    quote = None;
                    out.push(c);
                }
                (None, '\'' | '"') => {
                    quote = Some(c);
                    out.push(c);
                }
                (_, c) => out.push(c),
            }
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn trailing_newlines(s: &str) -> usize {
    s.bytes().rev().take_while(|b| *b == b'\n').count()
}

fn build_env(opts: TextOptions) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(opts.trim_blocks)
            .lstrip_blocks(opts.lstrip_blocks)
            .build()
            .expect("default delimiters are valid"),
    );
    // Chainable: `a.b.c | default(x)` works when `a` or `a.b` is missing, as in Ansible. Using an undefined
    // value (printing it, passing it to a filter) is still an error: see the formatter and filters::strict.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    env.set_debug(true); // undefined values remember their expression, so errors can name it
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(RECURSION_LIMIT);
    env.set_formatter(|out, state, value| {
        use minijinja::value::ValueKind;
        // Jinja prints values with Python's str(): True, None, ['a', 1], {'k': 'v'}.
        let text = match value.kind() {
            ValueKind::Undefined => return Err(filters::undefined_error(value)),
            // Ansible prints none as an empty string.
            ValueKind::None => String::new(),
            ValueKind::Seq | ValueKind::Map | ValueKind::Iterable | ValueKind::Bool => filters::python_repr(value),
            _ => return minijinja::escape_formatter(out, state, value),
        };
        out.write_str(&text).map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write template output"))
    });
    env.set_unknown_method_callback(super::pymethods::unknown_method);
    filters::register(&mut env);
    pyformat::register(&mut env);
    jinja_tests::register(&mut env);
    lookups::register(&mut env);
    env
}
