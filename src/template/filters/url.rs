//! URL filters: urldecode (Python's `unquote_plus`) and urlsplit (Python's `urlsplit`, as a dict or one part).
//! Also the split itself for the `uri`/`url`/`urn` tests.

use minijinja::value::Value;
use minijinja::{Environment, Error};

use super::text::text_of;
use super::{add, fail};

pub fn register(env: &mut Environment<'static>) {
    add(env, "urldecode", |v: &Value| text_of(v).map(|s| unquote_plus(&s)));
    add(env, "urlsplit", |v: &Value, query: Option<String>| -> Result<Value, Error> {
        let parts = UrlParts::split(&text_of(v)?);
        let all = parts.to_value();
        match query {
            None => Ok(all),
            Some(q) => all.get_attr(&q).ok().filter(|v| !v.is_undefined()).ok_or_else(|| fail(format!("urlsplit: unknown URL component: {q}"))),
        }
    });
}

/// `unquote_plus`: `+` is a space, `%XX` a byte; the bytes are read as UTF-8 (bad sequences replaced).
fn unquote_plus(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() && s.is_char_boundary(i + 3) && u8::from_str_radix(&s[i + 1..i + 3], 16).is_ok() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'%'));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a URL as Python's `urlsplit` gives them.
pub struct UrlParts {
    pub scheme: String,
    pub netloc: String,
    pub path: String,
    pub query: String,
    pub fragment: String,
}

impl UrlParts {
    pub fn split(url: &str) -> UrlParts {
        let (rest, fragment) = url.split_once('#').map_or((url, ""), |(a, b)| (a, b));
        let (rest, query) = rest.split_once('?').map_or((rest, ""), |(a, b)| (a, b));
        // A scheme is letters, digits, + - . starting with a letter, before the first ':'.
        let (scheme, rest) = match rest.split_once(':') {
            Some((s, r))
                if s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                (s.to_ascii_lowercase(), r)
            }
            _ => (String::new(), rest),
        };
        let (netloc, path) = match rest.strip_prefix("//") {
            Some(r) => r.find('/').map_or((r, ""), |i| (&r[..i], &r[i..])),
            None => ("", rest),
        };
        UrlParts { scheme, netloc: netloc.into(), path: path.into(), query: query.into(), fragment: fragment.into() }
    }

    fn to_value(&self) -> Value {
        let (userinfo, hostport) = self.netloc.rsplit_once('@').map_or((None, self.netloc.as_str()), |(u, h)| (Some(u), h));
        let (username, password) = match userinfo {
            None => (Value::from(()), Value::from(())),
            Some(u) => match u.split_once(':') {
                Some((n, p)) => (Value::from(n), Value::from(p)),
                None => (Value::from(u), Value::from(())),
            },
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => {
                let (h, rest) = v6.split_once(']').unwrap_or((v6, ""));
                (h.to_string(), rest.strip_prefix(':').unwrap_or(""))
            }
            None => hostport.rsplit_once(':').map_or((hostport.to_string(), ""), |(h, p)| (h.to_string(), p)),
        };
        let hostname = if host.is_empty() { Value::from(()) } else { Value::from(host.to_lowercase()) };
        let port = port.parse::<u16>().map(Value::from).unwrap_or(Value::from(()));
        Value::from(std::collections::BTreeMap::from([
            ("fragment", Value::from(self.fragment.clone())),
            ("hostname", hostname),
            ("netloc", Value::from(self.netloc.clone())),
            ("password", password),
            ("path", Value::from(self.path.clone())),
            ("port", port),
            ("query", Value::from(self.query.clone())),
            ("scheme", Value::from(self.scheme.clone())),
            ("username", username),
        ]))
    }
}
