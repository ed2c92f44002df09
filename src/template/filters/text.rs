//! String filters: regex_replace/regex_search/regex_findall/regex_escape (Python `re` syntax as far as the
//! `regex` crate allows: no look-around or back-references), quote (shlex.quote), basename/dirname/splitext/
//! expanduser (posixpath), b64encode/b64decode, comment (Ansible's, for `{{ ansible_managed | comment }}`).

use base64::Engine as _;
use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};

use super::{add, defined, fail};
use crate::template::convert::python_str;

pub fn register(env: &mut Environment<'static>) {
    add(env, "regex_replace", regex_replace);
    add(env, "regex_search", regex_search);
    add(env, "regex_findall", regex_findall);
    add(env, "regex_escape", regex_escape);
    add(env, "quote", quote);
    add(env, "basename", basename);
    add(env, "dirname", dirname);
    add(env, "splitext", splitext);
    add(env, "expanduser", expanduser);
    add(env, "b64encode", b64encode);
    add(env, "b64decode", b64decode);
    add(env, "comment", comment);
}

/// Ansible's `comment`: the text as a comment block in a style (plain `#`, erlang `%`, c `//`, cblock `/* */`,
/// xml `<!-- -->`), each part overridable by keyword as in ansible-core's filter.
fn comment(value: &Value, style: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let text = text_of(value)?;
    let style = style.unwrap_or_else(|| "plain".into());
    let (beginning, decoration, end) = match style.as_str() {
        "plain" => ("", "# ", ""),
        "erlang" => ("", "% ", ""),
        "c" => ("", "// ", ""),
        "cblock" => ("/*", " * ", " */"),
        "xml" => ("<!--", " - ", "-->"),
        other => return Err(fail(format!("comment: Invalid style '{other}' (available styles: plain, erlang, c, cblock, xml)"))),
    };
    let text_kw = |name: &str, default: &str| -> Result<String, Error> {
        Ok(kwargs.get::<Option<Value>>(name)?.map(|v| python_str(&v)).unwrap_or_else(|| default.to_string()))
    };
    let count_kw = |name: &str| -> Result<usize, Error> { Ok(kwargs.get::<Option<usize>>(name)?.unwrap_or(1)) };
    let decoration = text_kw("decoration", decoration)?;
    let prepostfix = decoration.trim_end().to_string();
    let newline = text_kw("newline", "\n")?;
    let beginning = text_kw("beginning", beginning)?;
    let prefix = text_kw("prefix", &prepostfix)?;
    let postfix = text_kw("postfix", &prepostfix)?;
    let end = text_kw("end", end)?;
    let (prefix_count, postfix_count) = (count_kw("prefix_count")?, count_kw("postfix_count")?);
    kwargs.assert_all_used()?;
    let mut out = String::new();
    if !beginning.is_empty() {
        out.push_str(&format!("{beginning}{newline}"));
    }
    if !prefix.is_empty() {
        let line = if prefix != newline { format!("{prefix}{newline}") } else { newline.clone() };
        out.push_str(&line.repeat(prefix_count));
    }
    let body = format!("{decoration}{}", text.replace(&newline, &format!("{newline}{decoration}")));
    out.push_str(&body.replace(&format!("{decoration}{newline}"), &format!("{}{newline}", decoration.trim_end())));
    for _ in 0..postfix_count {
        out.push_str(&format!("{newline}{postfix}"));
    }
    if !end.is_empty() {
        out.push_str(&format!("{newline}{end}"));
    }
    Ok(out)
}

/// The text a string filter works on: strings as they are, other scalars as Python prints them.
pub fn text_of(v: &Value) -> Result<String, Error> {
    defined(v)?;
    Ok(python_str(v))
}

fn flag(kwargs: &Kwargs, name: &str) -> Result<bool, Error> {
    Ok(kwargs.get::<Option<bool>>(name)?.unwrap_or(false))
}

/// Compile a Python-style pattern. Errors name the pattern (patterns are code, not data).
pub fn compile(pattern: &str, ignorecase: bool, multiline: bool) -> Result<regex::Regex, Error> {
    regex::RegexBuilder::new(pattern).case_insensitive(ignorecase).multi_line(multiline).size_limit(1 << 22).build().map_err(|e| {
        let hint = if pattern.contains("(?=") || pattern.contains("(?!") || pattern.contains("(?<=") || pattern.contains("(?<!") {
            " (look-around is not supported)"
        } else {
            ""
        };
        fail(format!("invalid regular expression '{pattern}'{hint}: {}", e.to_string().lines().last().unwrap_or_default()))
    })
}

/// Python's replacement syntax (`\1`, `\g<1>`, `\g<name>`, `\n`, `\\`) in the `regex` crate's (`${1}`, `$$`).
fn py_replacement(repl: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(repl.len());
    let mut chars = repl.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.next() {
                Some(d) if d.is_ascii_digit() => {
                    let mut num = d.to_string();
                    if let Some(&d2) = chars.peek().filter(|c| c.is_ascii_digit()) {
                        num.push(d2);
                        chars.next();
                    }
                    out.push_str(&format!("${{{num}}}"));
                }
                Some('g') => {
                    if chars.next() != Some('<') {
                        return Err(fail("regex_replace: expected \\g<name> in the replacement"));
                    }
                    let name: String = chars.by_ref().take_while(|c| *c != '>').collect();
                    out.push_str(&format!("${{{name}}}"));
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

fn regex_replace(value: &Value, pattern: String, replacement: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let text = text_of(value)?;
    let re = compile(&pattern, flag(&kwargs, "ignorecase")?, flag(&kwargs, "multiline")?)?;
    let repl = py_replacement(&replacement.unwrap_or_default())?;
    let count: usize = kwargs.get::<Option<usize>>("count")?.unwrap_or(0);
    let mandatory: usize = kwargs.get::<Option<usize>>("mandatory_count")?.unwrap_or(0);
    if mandatory > 0 {
        let found = re.find_iter(&text).count();
        if found != mandatory {
            return Err(fail(format!("'{pattern}' should match {mandatory} times, but matches {found} times")));
        }
    }
    Ok(re.replacen(&text, count, repl.as_str()).into_owned())
}

fn regex_search(value: &Value, pattern: String, groups: minijinja::value::Rest<String>, kwargs: Kwargs) -> Result<Value, Error> {
    let text = text_of(value)?;
    let re = compile(&pattern, flag(&kwargs, "ignorecase")?, flag(&kwargs, "multiline")?)?;
    let Some(caps) = re.captures(&text) else { return Ok(Value::from(())) };
    if groups.is_empty() {
        return Ok(Value::from(caps.get(0).map(|m| m.as_str()).unwrap_or_default()));
    }
    let mut out = Vec::new();
    for g in groups.iter() {
        let m = if let Some(name) = g.strip_prefix("\\g<").and_then(|r| r.strip_suffix('>')) {
            match name.parse::<usize>() {
                Ok(i) => caps.get(i),
                Err(_) => caps.name(name),
            }
        } else if let Some(num) = g.strip_prefix('\\') {
            caps.get(num.parse::<usize>().map_err(|_| fail("regex_search: unknown argument"))?)
        } else {
            return Err(fail("regex_search: unknown argument (expected '\\\\1' or '\\\\g<name>')"));
        };
        out.push(m.map(|m| Value::from(m.as_str())).unwrap_or(Value::from(())));
    }
    Ok(Value::from(out))
}

fn regex_findall(value: &Value, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    let text = text_of(value)?;
    let re = compile(&pattern, flag(&kwargs, "ignorecase")?, flag(&kwargs, "multiline")?)?;
    let groups = re.captures_len() - 1;
    let mut out = Vec::new();
    for caps in re.captures_iter(&text) {
        let g = |i: usize| Value::from(caps.get(i).map(|m| m.as_str()).unwrap_or_default());
        out.push(match groups {
            0 => g(0),
            1 => g(1),
            n => Value::from((1..=n).map(g).collect::<Vec<_>>()),
        });
    }
    Ok(Value::from(out))
}

/// Python's `re.escape`.
fn regex_escape(value: &Value) -> Result<String, Error> {
    let text = text_of(value)?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c.is_alphanumeric() || c == '_') && (c as u32) < 128 {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

/// `shlex.quote`.
pub fn shell_quote(s: &str) -> String {
    if s.is_empty() {
        return "''".to_string();
    }
    let safe = s.chars().all(|c| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c));
    if safe { s.to_string() } else { format!("'{}'", s.replace('\'', "'\"'\"'")) }
}

fn quote(value: &Value) -> Result<String, Error> {
    defined(value)?;
    Ok(if value.is_none() { shell_quote("") } else { shell_quote(&python_str(value)) })
}

fn basename(value: &Value) -> Result<String, Error> {
    let p = text_of(value)?;
    Ok(p[p.rfind('/').map_or(0, |i| i + 1)..].to_string())
}

fn dirname(value: &Value) -> Result<String, Error> {
    let p = text_of(value)?;
    let head = &p[..p.rfind('/').map_or(0, |i| i + 1)];
    Ok(if !head.is_empty() && !head.chars().all(|c| c == '/') { head.trim_end_matches('/').to_string() } else { head.to_string() })
}

/// `posixpath.splitext`, as a two-item list.
fn splitext(value: &Value) -> Result<Value, Error> {
    let p = text_of(value)?;
    let base_start = p.rfind('/').map_or(0, |i| i + 1);
    let base = &p[base_start..];
    let leading_dots = base.len() - base.trim_start_matches('.').len();
    let (root, ext) = match base.rfind('.') {
        Some(i) if i >= leading_dots && i > 0 => (&p[..base_start + i], &p[base_start + i..]),
        _ => (p.as_str(), ""),
    };
    Ok(Value::from(vec![Value::from(root), Value::from(ext)]))
}

fn expanduser(value: &Value) -> Result<String, Error> {
    let p = text_of(value)?;
    if p == "~" || p.starts_with("~/") {
        if let Ok(home) = std::env::var("HOME") {
            return Ok(format!("{}{}", home.trim_end_matches('/'), &p[1..]));
        }
    }
    Ok(p)
}

fn b64encode(value: &Value, _kw: Kwargs) -> Result<String, Error> {
    Ok(base64::engine::general_purpose::STANDARD.encode(text_of(value)?.as_bytes()))
}

fn b64decode(value: &Value, _kw: Kwargs) -> Result<String, Error> {
    let text = text_of(value)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim().as_bytes())
        .map_err(|e| fail(format!("b64decode: input is not valid base64 ({e})")))?;
    String::from_utf8(bytes).map_err(|_| fail("b64decode: decoded data is not UTF-8 text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_replacements_translate() {
        assert_eq!(py_replacement(r"\1-\g<name>-\g<2>$").unwrap(), "${1}-${name}-${2}$$");
        assert_eq!(shell_quote("it's"), r#"'it'"'"'s'"#);
        assert_eq!(shell_quote("a/b-c.d"), "a/b-c.d");
    }
}
