//! Python's `%` string formatting as Ansible users write it: `'%02d' % n`, `'%s-%s' % (a, b)`,
//! `'%(name)s' % d`. minijinja's `%` is only the remainder of numbers, so before compiling, a string literal
//! followed by `%` is rewritten into a call of the `hlprov_percent` filter, which formats with Python's rules
//! (minijinja's printf formatter). A format held in a variable (`fmt % x`) is not rewritten: it stays a
//! remainder, and fails on a string as minijinja says (docs/compat.md).

use std::borrow::Cow;

use minijinja::formatting::{FormatStyle, format};
use minijinja::value::{Rest, Value, ValueKind};
use minijinja::{Environment, Error};

/// Register the filters the rewrite calls.
pub fn register(env: &mut Environment<'static>) {
    env.add_filter("hlprov_percent", |fmt: &str, v: Value| percent(fmt, &[v], false));
    env.add_filter("hlprov_percent_tuple", |fmt: &str, args: Rest<Value>| percent(fmt, &args, true));
}

/// `fmt % args`: a tuple spreads into the fields; a single mapping feeds `%(key)s` fields; anything else is
/// the one value (a list is not spread, as in Python).
fn percent(fmt: &str, args: &[Value], tuple: bool) -> Result<String, Error> {
    // An undefined value is an error here too, naming what was undefined.
    if let Some(u) = args.iter().find(|a| a.is_undefined()) {
        return Err(super::filters::undefined_error(u));
    }
    if !tuple && args.len() == 1 && args[0].kind() == ValueKind::Map && fmt.contains("%(") {
        return format(FormatStyle::Printf, fmt, args);
    }
    // `%s` of a list, dict or None prints Python's str() of it.
    let args: Vec<Value> = args
        .iter()
        .map(|a| match a.kind() {
            ValueKind::Seq | ValueKind::Map | ValueKind::Iterable => Value::from(super::filters::python_repr(a)),
            ValueKind::None => Value::from("None"),
            _ => a.clone(),
        })
        .collect();
    format(FormatStyle::Printf, fmt, &args)
}

/// Rewrite `%` formatting in a bare expression (a condition, the inside of `{{ }}`).
pub fn rewrite_expr(src: &str) -> Cow<'_, str> {
    if !src.contains('%') {
        return Cow::Borrowed(src);
    }
    match rewrite(src, false) {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(src),
    }
}

/// Rewrite `%` formatting in the code parts (`{{ }}`, `{% %}`) of a template; text stays as it is.
pub fn rewrite_template(src: &str) -> Cow<'_, str> {
    if !src.contains("' %") && !src.contains("\" %") && !src.contains("'%") && !src.contains("\"%") {
        return Cow::Borrowed(src);
    }
    match rewrite(src, true) {
        Some(s) => Cow::Owned(s),
        None => Cow::Borrowed(src),
    }
}

/// The rewritten source, or None when there was nothing to rewrite. In a template (`template`), only code
/// between `{{`/`{%` and their ends is looked at.
fn rewrite(src: &str, template: bool) -> Option<String> {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 16);
    let (mut i, mut copied, mut changed) = (0usize, 0usize, false);
    let mut in_code = !template;
    while i < b.len() {
        if template && !in_code {
            if b[i] == b'{' && b.get(i + 1) == Some(&b'%') && is_raw_start(&src[i + 2..]) {
                // `{% raw %}…{% endraw %}` is text, whatever it holds.
                i = src[i..].find("endraw").map_or(b.len(), |e| i + e + 6);
            } else if b[i] == b'{' && matches!(b.get(i + 1), Some(b'{' | b'%')) {
                in_code = true;
                i += 2;
            } else if b[i] == b'{' && b.get(i + 1) == Some(&b'#') {
                // A comment: skip to its end.
                i = src[i..].find("#}").map_or(b.len(), |e| i + e + 2);
            } else {
                i += 1;
            }
            continue;
        }
        match b[i] {
            b'}' if template && b.get(i + 1) == Some(&b'}') => {
                in_code = false;
                i += 2;
            }
            b'%' if template && b.get(i + 1) == Some(&b'}') => {
                in_code = false;
                i += 2;
            }
            q @ (b'\'' | b'"') => {
                let lit_end = string_end(b, i, q)?;
                i = lit_end;
                // A literal followed by `%` (not `%}`, the end of a block tag) is a format.
                let mut j = lit_end;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                if j < b.len() && b[j] == b'%' && b.get(j + 1) != Some(&b'}') {
                    let op_start = j + 1;
                    let op_end = operand_end(b, op_start)?;
                    let operand = src[op_start..op_end].trim();
                    let inner = rewrite_expr(operand);
                    out.push_str(&src[copied..lit_end]);
                    match tuple_items(&inner) {
                        Some(items) => {
                            out.push_str("|hlprov_percent_tuple(");
                            out.push_str(items);
                        }
                        None => {
                            out.push_str("|hlprov_percent(");
                            out.push_str(&inner);
                        }
                    }
                    out.push(')');
                    copied = op_end;
                    i = op_end;
                    changed = true;
                }
            }
            _ => i += 1,
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&src[copied..]);
    Some(out)
}

/// Whether a block tag's inside (after `{%`) is `raw`.
fn is_raw_start(rest: &str) -> bool {
    rest.trim_start_matches(['-', '+']).trim_start().strip_prefix("raw").is_some_and(|r| r.trim_start().starts_with(['-', '%']))
}

/// Index just past the string literal opening at `start` with quote `q`.
fn string_end(b: &[u8], start: usize, q: u8) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == q {
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// Index just past the matching close of the bracket at `start`.
fn group_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i = string_end(b, i, q)?;
                continue;
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The end of the right operand of `%`: as Jinja parses it, a unary expression with its attributes,
/// subscripts, calls and filters (`x.y[0] | default(1)`), but not `~`, `+` or tests.
fn operand_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = skip_ws(b, start);
    if i < b.len() && b[i] == b'-' {
        i = skip_ws(b, i + 1);
    }
    // The primary.
    match b.get(i)? {
        q @ (b'\'' | b'"') => i = string_end(b, i, *q)?,
        b'(' | b'[' | b'{' => i = group_end(b, i)?,
        c if is_name(*c) || *c == b'.' => {
            while i < b.len() && (is_name(b[i]) || (b[i] == b'.' && b.get(i + 1).is_some_and(|c| c.is_ascii_digit()))) {
                i += 1;
            }
        }
        _ => return None,
    }
    // Attributes, subscripts, calls, then filters.
    loop {
        let j = skip_ws(b, i);
        match b.get(j) {
            Some(b'.') if b.get(j + 1).is_some_and(|c| is_name(*c)) => {
                i = j + 1;
                while i < b.len() && is_name(b[i]) {
                    i += 1;
                }
            }
            Some(b'[' | b'(') => i = group_end(b, j)?,
            Some(b'|') if b.get(j + 1) != Some(&b'|') => {
                let mut k = skip_ws(b, j + 1);
                let name_start = k;
                while k < b.len() && (is_name(b[k]) || b[k] == b'.') {
                    k += 1;
                }
                if k == name_start {
                    return Some(i);
                }
                i = k;
                let after = skip_ws(b, i);
                if b.get(after) == Some(&b'(') {
                    i = group_end(b, after)?;
                }
            }
            _ => return Some(i),
        }
    }
}

/// The items of a parenthesized tuple (`(a, b)`, `(a,)`, `()`), or None for anything else.
fn tuple_items(operand: &str) -> Option<&str> {
    let inner = operand.strip_prefix('(')?.strip_suffix(')')?;
    if group_end(operand.as_bytes(), 0)? != operand.len() {
        return None;
    }
    if inner.trim().is_empty() {
        return Some(inner);
    }
    // A top-level comma makes a tuple; `(x)` is only grouping.
    let b = inner.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"') => {
                i = string_end(b, i, q)?;
                continue;
            }
            b'(' | b'[' | b'{' => {
                i = group_end(b, i)?;
                continue;
            }
            b',' => return Some(inner.trim_end().strip_suffix(',').unwrap_or(inner)),
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_only_a_literal_followed_by_percent() {
        assert_eq!(rewrite_expr("'%02d' % n"), "'%02d'|hlprov_percent(n)");
        assert_eq!(rewrite_expr("'%s-%s' % (a, b) ~ 'x'"), "'%s-%s'|hlprov_percent_tuple(a, b) ~ 'x'");
        assert_eq!(rewrite_expr("'%s' % (a,)"), "'%s'|hlprov_percent_tuple(a)");
        assert_eq!(rewrite_expr("'%s' % x.y[0] | default(1) + 2"), "'%s'|hlprov_percent(x.y[0] | default(1)) + 2");
        assert_eq!(rewrite_expr("'%s' % ('%d' % n)"), "'%s'|hlprov_percent(('%d'|hlprov_percent(n)))");
        assert_eq!(rewrite_expr("n % 2 == 0"), "n % 2 == 0");
        assert_eq!(rewrite_template("{% set a = 'x' %}{{ '%03d' % 7 }} 50 % 'text'"), "{% set a = 'x' %}{{ '%03d'|hlprov_percent(7) }} 50 % 'text'");
        let raw = "{% raw %}{{ '%s' % x }}{% endraw %}{{ '%s' % y }}";
        assert_eq!(rewrite_template(raw), "{% raw %}{{ '%s' % x }}{% endraw %}{{ '%s'|hlprov_percent(y) }}");
    }
}
