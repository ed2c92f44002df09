//! Python methods Ansible users call on values that minijinja-contrib's pycompat leaves out: `zfill`, `rsplit`,
//! `partition`, `rpartition`, `ljust`, `rjust`, `center`, `swapcase`, `casefold`, `istitle`, `index` and
//! `rindex` on strings; `index` and `copy` on lists; `copy` on dicts. Everything else goes to pycompat.

use minijinja::value::{ValueKind, from_args};
use minijinja::{Error, ErrorKind, State, Value};

/// minijinja's unknown-method callback: these methods, then pycompat's.
pub fn unknown_method(state: &mut State, value: &Value, method: &str, args: &[Value]) -> Result<Value, Error> {
    let ours = match value.kind() {
        ValueKind::String => string_method(value.as_str().unwrap_or_default(), method, args)?,
        ValueKind::Seq => seq_method(value, method, args)?,
        ValueKind::Map if method == "copy" => {
            from_args::<()>(args)?;
            Some(value.clone())
        }
        _ => None,
    };
    match ours {
        Some(v) => Ok(v),
        None => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args),
    }
}

fn fail(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// A padding character: one character, as Python requires.
fn fill_char(fill: Option<&str>) -> Result<char, Error> {
    let fill = fill.unwrap_or(" ");
    let mut chars = fill.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(fail("The fill character must be exactly one character long")),
    }
}

fn string_method(s: &str, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    let len = s.chars().count();
    let pad = |width: usize| width.saturating_sub(len);
    Ok(Some(match method {
        "zfill" => {
            let (width,): (usize,) = from_args(args)?;
            let (sign, digits) = match s.chars().next() {
                Some(c @ ('+' | '-')) => (c.to_string(), &s[1..]),
                _ => (String::new(), s),
            };
            Value::from(format!("{sign}{}{digits}", "0".repeat(pad(width))))
        }
        "ljust" | "rjust" | "center" => {
            let (width, fill): (usize, Option<&str>) = from_args(args)?;
            let c = fill_char(fill)?.to_string();
            let total = pad(width);
            let (left, right) = match method {
                "ljust" => (0, total),
                "rjust" => (total, 0),
                // Python's str.center puts the odd space on the left when the width is odd.
                _ => {
                    let left = total / 2 + (total & width & 1);
                    (left, total - left)
                }
            };
            Value::from(format!("{}{s}{}", c.repeat(left), c.repeat(right)))
        }
        "rsplit" => {
            let (sep, maxsplit): (Option<&str>, Option<i64>) = from_args(args)?;
            let max = maxsplit.filter(|m| *m >= 0).map(|m| m as usize);
            let mut parts: Vec<String> = match sep {
                Some("") => return Err(fail("empty separator")),
                Some(sep) => match max {
                    Some(m) => s.rsplitn(m + 1, sep).map(str::to_string).collect(),
                    None => s.rsplit(sep).map(str::to_string).collect(),
                },
                None => {
                    // Runs of whitespace separate; what is left after `maxsplit` splits keeps its leading space.
                    let mut parts = Vec::new();
                    let mut rest = s.trim_end();
                    while !rest.is_empty() && max.is_none_or(|m| parts.len() < m) {
                        match rest.char_indices().rev().find(|(_, c)| c.is_whitespace()) {
                            Some((i, c)) => {
                                parts.push(rest[i + c.len_utf8()..].to_string());
                                rest = rest[..i].trim_end();
                            }
                            None => break,
                        }
                    }
                    if !rest.is_empty() {
                        parts.push(rest.to_string());
                    }
                    parts
                }
            };
            parts.reverse();
            Value::from(parts)
        }
        "partition" | "rpartition" => {
            let (sep,): (&str,) = from_args(args)?;
            if sep.is_empty() {
                return Err(fail("empty separator"));
            }
            let found = if method == "partition" { s.find(sep) } else { s.rfind(sep) };
            let parts = match found {
                Some(i) => [&s[..i], sep, &s[i + sep.len()..]],
                None if method == "partition" => [s, "", ""],
                None => ["", "", s],
            };
            Value::from(parts.iter().map(|p| Value::from(*p)).collect::<Vec<_>>())
        }
        "swapcase" => {
            from_args::<()>(args)?;
            Value::from(
                s.chars()
                    .flat_map(|c| if c.is_uppercase() { c.to_lowercase().collect::<Vec<_>>() } else { c.to_uppercase().collect() })
                    .collect::<String>(),
            )
        }
        "casefold" => {
            from_args::<()>(args)?;
            Value::from(s.to_lowercase())
        }
        "istitle" => {
            from_args::<()>(args)?;
            Value::from(is_title(s))
        }
        "index" | "rindex" => {
            let (sub,): (&str,) = from_args(args)?;
            let found = if method == "index" { s.find(sub) } else { s.rfind(sub) };
            match found {
                Some(i) => Value::from(s[..i].chars().count()),
                None => return Err(fail("substring not found")),
            }
        }
        _ => return Ok(None),
    }))
}

/// Python's str.istitle: cased words start upper case and go on lower case; at least one cased character.
fn is_title(s: &str) -> bool {
    let (mut cased, mut previous_cased) = (false, false);
    for c in s.chars() {
        if c.is_uppercase() {
            if previous_cased {
                return false;
            }
            previous_cased = true;
            cased = true;
        } else if c.is_lowercase() {
            if !previous_cased {
                return false;
            }
            previous_cased = true;
            cased = true;
        } else {
            previous_cased = false;
        }
    }
    cased
}

fn seq_method(list: &Value, method: &str, args: &[Value]) -> Result<Option<Value>, Error> {
    Ok(Some(match method {
        "index" => {
            let (x,): (Value,) = from_args(args)?;
            match list.try_iter()?.position(|v| v == x) {
                Some(i) => Value::from(i),
                None => return Err(fail(format!("{x} is not in list"))),
            }
        }
        "copy" => {
            from_args::<()>(args)?;
            list.clone()
        }
        _ => return Ok(None),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(s: &str, method: &str, args: &[Value]) -> Value {
        string_method(s, method, args).unwrap().unwrap()
    }

    #[test]
    fn string_methods_as_python() {
        assert_eq!(call("42", "zfill", &[Value::from(5)]).as_str(), Some("00042"));
        assert_eq!(call("-42", "zfill", &[Value::from(5)]).as_str(), Some("-0042"));
        assert_eq!(call("ab", "ljust", &[Value::from(4), Value::from("*")]).as_str(), Some("ab**"));
        assert_eq!(call("ab", "rjust", &[Value::from(4)]).as_str(), Some("  ab"));
        // Python: 'ab'.center(5, '*') == '**ab*', 'abc'.center(6, '*') == '*abc**'.
        assert_eq!(call("ab", "center", &[Value::from(5), Value::from("*")]).as_str(), Some("**ab*"));
        assert_eq!(call("abc", "center", &[Value::from(6), Value::from("*")]).as_str(), Some("*abc**"));
        assert_eq!(call("a.b.c", "rsplit", &[Value::from("."), Value::from(1)]).to_string(), "['a.b', 'c']");
        assert_eq!(call(" a  b c ", "rsplit", &[Value::from(()), Value::from(1)]).to_string(), "[' a  b', 'c']");
        assert_eq!(call("k=v=w", "partition", &[Value::from("=")]).to_string(), "['k', '=', 'v=w']");
        assert_eq!(call("k=v=w", "rpartition", &[Value::from("=")]).to_string(), "['k=v', '=', 'w']");
        assert_eq!(call("abc", "rpartition", &[Value::from("=")]).to_string(), "['', '', 'abc']");
        assert_eq!(call("aBc", "swapcase", &[]).as_str(), Some("AbC"));
        assert_eq!(call("Hello World", "istitle", &[]), Value::from(true));
        assert_eq!(call("Hello world", "istitle", &[]), Value::from(false));
        assert_eq!(call("héllo", "index", &[Value::from("l")]), Value::from(2));
        assert!(string_method("abc", "index", &[Value::from("z")]).is_err());
        assert_eq!(string_method("abc", "nosuch", &[]).unwrap(), None);
    }
}
