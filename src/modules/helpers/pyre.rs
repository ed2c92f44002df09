//! Python-compatible regular expressions for the modules whose arguments are Python `re` patterns
//! (lineinfile, blockinfile, replace). Patterns run on bytes, as Ansible's modules do, through fancy-regex
//! (lookaround and backreferences work); the few places where Python's syntax means something else are
//! translated: `$` without MULTILINE also matches before a final newline, `\Z` is the very end. Replacement
//! templates (`\1`, `\g<name>`, `\n`) are expanded by Python's rules.

use fancy_regex::{BytesMode, Captures, Regex, RegexBuilder};

/// A compiled Python pattern.
#[derive(Debug)]
pub struct PyRegex {
    re: Regex,
    /// Whether the pattern turns MULTILINE on itself (`(?m)` at its start); blockinfile cares.
    pub inline_multiline: bool,
}

/// Compile a Python pattern; `multiline` is Python's re.MULTILINE. Errors name the argument.
pub fn compile(arg: &str, pattern: &str, multiline: bool) -> Result<PyRegex, String> {
    let inline_multiline = leading_flags(pattern).contains('m');
    let translated = translate(pattern, multiline || inline_multiline);
    let re = RegexBuilder::new(&translated)
        .multi_line(multiline)
        .bytes_mode(BytesMode::UnicodeBytes)
        .build()
        .map_err(|e| format!("{arg}: '{pattern}' is not a valid regular expression: {e}"))?;
    Ok(PyRegex { re, inline_multiline })
}

impl PyRegex {
    /// The first match in `text`, with its groups.
    pub fn captures<'t>(&self, text: &'t [u8]) -> Result<Option<Captures<'t, [u8]>>, String> {
        self.re.captures(text).map_err(|e| format!("regular expression failed: {e}"))
    }

    pub fn is_match(&self, text: &[u8]) -> Result<bool, String> {
        self.re.is_match(text).map_err(|e| format!("regular expression failed: {e}"))
    }

    /// Python's `re.subn(pattern, template, text)`: the new text and the number of replacements.
    pub fn subn(&self, text: &[u8], template: &str) -> Result<(Vec<u8>, usize), String> {
        let tpl = Template::parse(template, self)?;
        let mut out = Vec::with_capacity(text.len());
        let (mut last, mut n) = (0, 0);
        for caps in self.re.captures_iter(text) {
            let caps = caps.map_err(|e| format!("regular expression failed: {e}"))?;
            let m = caps.get(0).expect("group 0 always matches");
            out.extend_from_slice(&text[last..m.start()]);
            tpl.expand(&caps, &mut out);
            last = m.end();
            n += 1;
        }
        out.extend_from_slice(&text[last..]);
        Ok((out, n))
    }

    /// Python's `match.expand(template)`.
    pub fn expand(&self, caps: &Captures<'_, [u8]>, template: &str) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        Template::parse(template, self)?.expand(caps, &mut out);
        Ok(out)
    }

    fn group_index(&self, name: &str) -> Option<usize> {
        self.re.capture_names().position(|n| n == Some(name))
    }
}

/// The global flags a Python pattern starts with (`(?mi)` → "mi").
fn leading_flags(pattern: &str) -> &str {
    pattern
        .strip_prefix("(?")
        .and_then(|rest| rest.split_once(')'))
        .map(|(flags, _)| flags)
        .filter(|f| !f.is_empty() && f.chars().all(|c| "aiLmsux".contains(c)))
        .unwrap_or("")
}

/// Rewrite the parts of Python's syntax that fancy-regex reads differently.
fn translate(pattern: &str, multiline: bool) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                match chars.next() {
                    // Python's \Z is the very end of the text (Oniguruma's allows trailing newlines).
                    Some('Z') if !in_class => out.push_str("\\z"),
                    Some(n) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => out.push('\\'),
                }
                class_start = false;
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push(c);
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap());
                }
                continue;
            }
            // A `]` first in a class is a literal in Python.
            ']' if in_class && class_start => out.push_str("\\]"),
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            // Without MULTILINE, Python's `$` also matches just before a newline that ends the text.
            '$' if !in_class && !multiline => out.push_str("(?=\\n?\\z)"),
            _ => out.push(c),
        }
        class_start = false;
    }
    out
}

/// A parsed Python replacement template.
struct Template {
    parts: Vec<Part>,
}

enum Part {
    Lit(Vec<u8>),
    Group(usize),
}

impl Template {
    fn parse(tpl: &str, re: &PyRegex) -> Result<Template, String> {
        let groups = re.re.captures_len();
        let bad = |what: String| format!("invalid replacement '{tpl}': {what}");
        let check = |i: usize| if i < groups { Ok(Part::Group(i)) } else { Err(bad(format!("invalid group reference {i}"))) };
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let b = tpl.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                lit.push(b[i]);
                i += 1;
                continue;
            }
            let Some(&c) = b.get(i + 1) else { return Err(bad("bad escape (end of pattern)".into())) };
            i += 2;
            let part = match c {
                b'g' => {
                    let rest = &tpl[i..];
                    let Some(inner) = rest.strip_prefix('<').and_then(|r| r.split_once('>')).map(|(n, _)| n) else {
                        return Err(bad("missing < or > in \\g<...>".into()));
                    };
                    i += inner.len() + 2;
                    match inner.parse::<usize>() {
                        Ok(n) => check(n)?,
                        Err(_) => Part::Group(re.group_index(inner).ok_or_else(|| bad(format!("unknown group name '{inner}'")))?),
                    }
                }
                b'0' => {
                    // \0 starts an octal escape of up to three digits.
                    let mut v = 0u32;
                    let mut n = 0;
                    while n < 2 && i < b.len() && (b'0'..=b'7').contains(&b[i]) {
                        v = v * 8 + u32::from(b[i] - b'0');
                        i += 1;
                        n += 1;
                    }
                    Part::Lit(char_bytes(v))
                }
                b'1'..=b'9' => {
                    let octal3 = i + 1 < b.len() && (b'0'..=b'7').contains(&c) && (b'0'..=b'7').contains(&b[i]) && (b'0'..=b'7').contains(&b[i + 1]);
                    if octal3 {
                        let v = u32::from(c - b'0') * 64 + u32::from(b[i] - b'0') * 8 + u32::from(b[i + 1] - b'0');
                        i += 2;
                        if v > 0o377 {
                            return Err(bad(format!("octal escape value \\{:o} outside of range 0-0o377", v)));
                        }
                        Part::Lit(char_bytes(v))
                    } else {
                        let mut n = usize::from(c - b'0');
                        if i < b.len() && b[i].is_ascii_digit() {
                            n = n * 10 + usize::from(b[i] - b'0');
                            i += 1;
                        }
                        check(n)?
                    }
                }
                b'a' => Part::Lit(vec![7]),
                b'b' => Part::Lit(vec![8]),
                b'f' => Part::Lit(vec![12]),
                b'n' => Part::Lit(vec![b'\n']),
                b'r' => Part::Lit(vec![b'\r']),
                b't' => Part::Lit(vec![b'\t']),
                b'v' => Part::Lit(vec![11]),
                b'\\' => Part::Lit(vec![b'\\']),
                c if c.is_ascii_alphabetic() => return Err(bad(format!("bad escape \\{}", c as char))),
                // Other escapes stay as written (Python keeps `\.` as backslash-dot).
                c => Part::Lit(vec![b'\\', c]),
            };
            match part {
                Part::Lit(l) => lit.extend(l),
                g => {
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(g);
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    fn expand(&self, caps: &Captures<'_, [u8]>, out: &mut Vec<u8>) {
        for p in &self.parts {
            match p {
                Part::Lit(l) => out.extend_from_slice(l),
                // An unmatched group expands to nothing (Python 3.5+).
                Part::Group(i) => out.extend_from_slice(caps.get(*i).map(|m| m.as_bytes()).unwrap_or_default()),
            }
        }
    }
}

/// The UTF-8 bytes of a code point from an octal escape (Python templates are text).
fn char_bytes(v: u32) -> Vec<u8> {
    char::from_u32(v).map(|c| c.to_string().into_bytes()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(p: &str, t: &str, text: &str, ml: bool) -> (String, usize) {
        let (o, n) = compile("regexp", p, ml).unwrap().subn(text.as_bytes(), t).unwrap();
        (String::from_utf8(o).unwrap(), n)
    }

    #[test]
    fn dollar_matches_before_a_final_newline_like_python() {
        let re = compile("regexp", "^foo$", false).unwrap();
        assert!(re.is_match(b"foo\n").unwrap());
        assert!(re.is_match(b"foo").unwrap());
        assert!(!re.is_match(b"foo\n\n").unwrap());
        assert!(!re.is_match(b"foox\n").unwrap());
        // In a class and escaped, `$` is a literal.
        assert!(compile("r", "a[$]", false).unwrap().is_match(b"a$").unwrap());
        assert!(compile("r", r"a\$", false).unwrap().is_match(b"a$").unwrap());
        assert!(!compile("r", r"a\Z", false).unwrap().is_match(b"a\n").unwrap());
    }

    #[test]
    fn python_syntax_lookaround_and_named_groups() {
        let re = compile("regexp", r"^(?!#)(?P<key>\w+)=(?P=key)$", false).unwrap();
        assert!(re.is_match(b"a=a\n").unwrap());
        assert!(!re.is_match(b"#a=a\n").unwrap());
        assert!(compile("regexp", "[]a]", false).unwrap().is_match(b"]").unwrap());
        assert!(compile("regexp", "(unclosed", false).unwrap_err().contains("not a valid regular expression"));
    }

    #[test]
    fn templates_follow_python_rules() {
        assert_eq!(sub(r"(\w+)=(\w+)", r"\2=\1", "a=b c=d", true), ("b=a d=c".into(), 2));
        assert_eq!(sub(r"(?P<k>\w+)=", r"\g<k>:\g<0>\n", "a=", true), ("a:a=\n".into(), 1));
        assert_eq!(sub(r"x", r"\.\\", "x", true), (r"\.\".into(), 1));
        assert_eq!(sub(r"(a)|(b)", r"[\2]", "a", true), ("[]".into(), 1));
        assert_eq!(sub(r"^#\s*", "", "#a\n# b\nc", true), ("a\nb\nc".into(), 2));
        let re = compile("regexp", "(a)", true).unwrap();
        assert!(re.subn(b"a", r"\2").unwrap_err().contains("invalid group reference 2"));
        assert!(re.subn(b"a", r"\q").unwrap_err().contains("bad escape"));
        assert!(re.subn(b"a", r"\g<nope>").unwrap_err().contains("unknown group name"));
    }

    #[test]
    fn non_utf8_bytes_pass_through() {
        let re = compile("regexp", "b", true).unwrap();
        let (out, n) = re.subn(b"a\xffb\xfe", "c").unwrap();
        assert_eq!((out, n), (b"a\xffc\xfe".to_vec(), 1));
    }
}
