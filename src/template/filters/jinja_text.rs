//! Jinja2's text filters that minijinja leaves out: center, truncate, wordcount (Jinja2's own algorithms), and
//! filesizeformat, striptags (from minijinja-contrib, written to Jinja2's behaviour).

use minijinja::value::{Kwargs, Value};
use minijinja::{Environment, Error};

use super::text::text_of;
use super::{add, fail};

pub fn register(env: &mut Environment<'static>) {
    add(env, "center", |v: &Value, width: Option<usize>| text_of(v).map(|s| center(&s, width.unwrap_or(80))));
    add(env, "truncate", truncate);
    add(env, "wordcount", |v: &Value| text_of(v).map(|s| regex::Regex::new(r"\w+").expect("valid").find_iter(&s).count()));
    add(env, "filesizeformat", |v: f64, binary: Option<bool>| minijinja_contrib::filters::filesizeformat(v, binary));
    add(env, "striptags", |v: &Value| text_of(v).map(minijinja_contrib::filters::striptags));
}

/// Python's `str.center`: the odd space goes left when the width is odd.
fn center(s: &str, width: usize) -> String {
    let len = s.chars().count();
    if width <= len {
        return s.to_string();
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    format!("{}{s}{}", " ".repeat(left), " ".repeat(marg - left))
}

/// Jinja2's `truncate(length=255, killwords=False, end='...', leeway=5)`, positional or by name.
fn truncate(v: &Value, length: Option<usize>, killwords: Option<bool>, end: Option<String>, kw: Kwargs) -> Result<String, Error> {
    let s = text_of(v)?;
    let length = kw.get::<Option<usize>>("length")?.or(length).unwrap_or(255);
    let killwords = kw.get::<Option<bool>>("killwords")?.or(killwords).unwrap_or(false);
    let end = kw.get::<Option<String>>("end")?.or(end).unwrap_or_else(|| "...".into());
    let leeway = kw.get::<Option<usize>>("leeway")?.unwrap_or(5);
    kw.assert_all_used()?;
    let chars: Vec<char> = s.chars().collect();
    let end_len = end.chars().count();
    if length < end_len {
        return Err(fail(format!("truncate: expected length >= {end_len}, got {length}")));
    }
    if chars.len() <= length + leeway {
        return Ok(s);
    }
    let head: String = chars[..length - end_len].iter().collect();
    if killwords {
        return Ok(head + &end);
    }
    let cut = head.rsplit_once(' ').map_or(head.as_str(), |(a, _)| a);
    Ok(format!("{cut}{end}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn center_places_the_odd_space_as_python_does() {
        // Python 3.11: 'ab'.center(5) == '  ab ', 'abc'.center(6) == ' abc  '.
        assert_eq!(center("ab", 5), "  ab ");
        assert_eq!(center("abc", 6), " abc  ");
        assert_eq!(center("abc", 2), "abc");
    }
}
