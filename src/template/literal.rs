//! Python literals (`ast.literal_eval`'s subset: strings, numbers, True/False/None, lists, tuples, dicts), to
//! read back what a template printed. ansible-core 2.19 keeps the native value of a template whose only output
//! is one `{{ expr }}` among statements, so the common idiom `{%- for … -%}…{%- endfor -%}{{ ns.items }}`
//! gives a list, not its printout (recorded in src/template/testdata/ansible_oracle.json, `mixed_*`). minijinja
//! renders text only, so hlprov reads a printed list or dict back when the template has that shape.

use serde_json::{Map, Number, Value};

/// The value `text` spells, if it is a whole Python literal (surrounding whitespace allowed).
pub fn parse(text: &str) -> Option<Value> {
    let mut p = Parser { s: text.as_bytes(), i: 0, depth: 0 };
    let v = p.value()?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

/// Whether `rendered`, the output of template `source`, is read back as a list or dict: the source's only
/// output is one `{{ … }}` (everything else statements, comments or whitespace) and the text starts with `[`
/// or `{`.
pub fn read_back(source: &str, rendered: &str) -> bool {
    (rendered.starts_with('[') || rendered.starts_with('{')) && one_output_expression(source)
}

fn one_output_expression(source: &str) -> bool {
    let mut rest = source;
    let mut expressions = 0;
    while let Some(at) = rest.find('{') {
        if !rest[..at].trim().is_empty() {
            return false;
        }
        let close = match rest.get(at + 1..at + 2) {
            Some("{") => "}}",
            Some("%") => "%}",
            Some("#") => "#}",
            _ => return false,
        };
        if close == "}}" {
            expressions += 1;
        }
        // The expression's end is its last `}}` before the next tag opens (a dict literal inside holds `}`).
        let Some(end) = find_close(&rest[at + 2..], close) else { return false };
        rest = &rest[at + 2 + end + 2..];
    }
    rest.trim().is_empty() && expressions == 1
}

/// Where `close` ends the tag that starts `s`, skipping quoted strings.
fn find_close(s: &str, close: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), b'\\') => i += 1,
            (None, b'\'' | b'"') => quote = Some(b[i]),
            (None, _) if s[i..].starts_with(close) => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.ws();
        // Deep nesting is refused rather than recursed into without bound.
        if self.depth > 200 {
            return None;
        }
        match *self.s.get(self.i)? {
            b'[' => self.seq(b']'),
            b'(' => self.seq(b')'),
            b'{' => self.dict(),
            b'\'' | b'"' => self.string().map(Value::String),
            b'-' | b'+' | b'0'..=b'9' | b'.' => self.number(),
            _ => self.word(),
        }
    }

    fn seq(&mut self, close: u8) -> Option<Value> {
        self.i += 1;
        self.depth += 1;
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                break;
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                if !self.eat(close) {
                    return None;
                }
                break;
            }
        }
        self.depth -= 1;
        Some(Value::Array(items))
    }

    fn dict(&mut self) -> Option<Value> {
        self.i += 1;
        self.depth += 1;
        let mut m = Map::new();
        loop {
            if self.eat(b'}') {
                break;
            }
            let key = match self.value()? {
                Value::String(s) => s,
                Value::Bool(b) => if b { "True" } else { "False" }.to_string(),
                Value::Null => "None".to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None, // lists and dicts are not hashable in Python
            };
            if !self.eat(b':') {
                return None;
            }
            m.insert(key, self.value()?);
            if !self.eat(b',') {
                if !self.eat(b'}') {
                    return None;
                }
                break;
            }
        }
        self.depth -= 1;
        Some(Value::Object(m))
    }

    fn string(&mut self) -> Option<String> {
        let q = self.s[self.i];
        self.i += 1;
        let mut out = String::new();
        let start = self.i;
        let text = std::str::from_utf8(&self.s[start..]).ok()?;
        let mut chars = text.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                c if c as u32 == q as u32 => {
                    self.i = start + at + 1;
                    return Some(out);
                }
                '\\' => {
                    let (_, e) = chars.next()?;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0' => out.push('\0'),
                        '\\' | '\'' | '"' => out.push(e),
                        'x' | 'u' | 'U' => {
                            let n = match e {
                                'x' => 2,
                                'u' => 4,
                                _ => 8,
                            };
                            let hex: String = (0..n).map(|_| chars.next().map(|(_, h)| h)).collect::<Option<String>>()?;
                            out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                        }
                        other => {
                            out.push('\\');
                            out.push(other);
                        }
                    }
                }
                '\n' => return None,
                c => out.push(c),
            }
        }
        None
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while self.i < self.s.len() && matches!(self.s[self.i], b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E' | b'_') {
            self.i += 1;
        }
        let t = std::str::from_utf8(&self.s[start..self.i]).ok()?.replace('_', "");
        // Python literals have no leading zeros on integers ("0644" is a syntax error).
        let digits = t.trim_start_matches(['-', '+']);
        if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if let Ok(n) = t.parse::<i64>() {
            return Some(Value::Number(n.into()));
        }
        if let Ok(n) = t.parse::<u64>() {
            return Some(Value::Number(n.into()));
        }
        let f: f64 = t.parse().ok()?;
        Number::from_f64(f).map(Value::Number)
    }

    fn word(&mut self) -> Option<Value> {
        let start = self.i;
        while self.i < self.s.len() && (self.s[self.i].is_ascii_alphanumeric() || self.s[self.i] == b'_') {
            self.i += 1;
        }
        match &self.s[start..self.i] {
            b"True" => Some(Value::Bool(true)),
            b"False" => Some(Value::Bool(false)),
            b"None" => Some(Value::Null),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_reprs_read_back() {
        assert_eq!(parse("['a', None, True, 1.5, {'k': 'v'}]"), Some(json!(["a", null, true, 1.5, {"k": "v"}])));
        assert_eq!(parse("[]"), Some(json!([])));
        assert_eq!(parse(" {'a': [1, 2,], \"b\": (3,)} "), Some(json!({"a": [1, 2], "b": [3]})));
        assert_eq!(parse(r#"['it\'s', "say \"hi\"", 'tab\there', '\u00e9']"#), Some(json!(["it's", "say \"hi\"", "tab\there", "é"])));
        assert_eq!(parse("{1: 'one', None: 'n'}"), Some(json!({"1": "one", "None": "n"})));
        assert_eq!(parse("False"), Some(json!(false)));
    }

    #[test]
    fn what_is_not_a_literal_stays_text() {
        for t in ["[a, b]", "[1, 2", "{'a' 1}", "[true]", "['a'] and more", "{{ x }}", "[0644]", "['unterminated]", "[[[["] {
            assert_eq!(parse(t), None, "{t}");
        }
    }

    #[test]
    fn only_a_lone_output_expression_is_read_back() {
        assert!(read_back("{%- set ns = namespace(a=[]) -%}{{ ns.a }}", "[]"));
        assert!(read_back("{# c #}\n{% if x %}{{ {'a': '}}'} }}{% endif %}\n", "{'a': '}}'}"));
        assert!(!read_back("{{ '{' }}'a': 1{{ '}' }}", "{'a': 1}"), "three outputs");
        assert!(!read_back("[{{ x }}]", "[1]"), "text around the expression");
        assert!(!read_back("{% if x %}[1]{% endif %}", "[1]"), "no expression");
        assert!(!read_back(" {{ [1] }}", " [1]"));
    }
}
