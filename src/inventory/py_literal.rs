//! Typing of INI inventory values the way Ansible does it: Python's `ast.literal_eval`, falling back to the raw
//! text when the value is not a Python literal. So `1` is an integer, `True` a boolean, `[1, 2]` and `80, 443`
//! lists, `'x'` a string without quotes, while `yes`, `0644` and `{{ x }}` stay strings.
//!
//! Only literals are recognised; anything else (names, calls, operators) is "not a literal" and the caller keeps
//! the text. This file must not know about INI syntax (comments, `key=value`); it sees one value.

use serde_json::{Map, Number, Value};

use super::py_repr::{py_complex_repr, py_float_repr};

/// Python's parser refuses more nesting than this ("too many nested parentheses"): such a value stays text.
const MAX_NESTING: usize = 200;

/// The outcome of evaluating one value.
#[derive(Debug, PartialEq)]
pub enum Literal {
    /// A Python literal, converted the way Ansible stores it (tuples and sets become lists, bytes become text,
    /// complex numbers and `...` become their text).
    Value(Value),
    /// Not a literal: Ansible keeps the original text.
    Text,
    /// A literal Python refuses to build (an unhashable dict key or set member): Ansible fails on it too.
    Invalid(String),
}

/// Evaluate `text` like `ast.literal_eval` does (leading spaces and tabs are ignored).
pub fn eval(text: &str) -> Literal {
    let text = text.trim_start_matches([' ', '\t']);
    let mut p = Parser { s: text.chars().collect(), i: 0, depth: 0 };
    let result = p.top();
    match result {
        Ok(v) => {
            p.skip_space();
            if p.i < p.s.len() {
                return Literal::Text;
            }
            match v.into_value() {
                Ok(v) => Literal::Value(v),
                Err(msg) => Literal::Invalid(msg),
            }
        }
        Err(Fail::NotLiteral) => Literal::Text,
    }
}

/// A parsed Python value before conversion.
#[derive(Debug, Clone)]
enum Py {
    None,
    Bool(bool),
    /// Integers that do not fit in i128 keep their digits.
    Int(i128),
    BigInt(String),
    Float(f64),
    Complex(f64, f64),
    Str(String),
    Bytes(Vec<u8>),
    Ellipsis,
    List(Vec<Py>),
    Tuple(Vec<Py>),
    Set(Vec<Py>),
    Dict(Vec<(Py, Py)>),
}

/// The part of Python's AST shape that literal_eval cares about.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Shape {
    Constant,
    /// A unary + or - applied to a numeric constant.
    Signed,
    Other,
}

enum Fail {
    NotLiteral,
}

type R<T> = Result<T, Fail>;

struct Parser {
    s: Vec<char>,
    i: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.s.get(self.i + n).copied()
    }

    /// Whitespace and a trailing `#` comment, as Python's tokenizer skips them.
    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\x0c' | '\r' | '\n') {
                self.i += 1;
            } else if c == '#' {
                self.i = self.s.len();
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// The whole input: an expression, or a bare tuple `1, 2`.
    fn top(&mut self) -> R<Py> {
        let first = self.expr()?;
        self.skip_space();
        if self.peek() != Some(',') {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat(',') {
            self.skip_space();
            if self.i >= self.s.len() {
                break;
            }
            items.push(self.expr()?);
        }
        Ok(Py::Tuple(items))
    }

    fn expr(&mut self) -> R<Py> {
        Ok(self.node()?.0)
    }

    /// One element and its AST shape: a constant, a signed number, `number ± complex`, or a container.
    fn node(&mut self) -> R<(Py, Shape)> {
        self.skip_space();
        let (left, shape) = self.signed()?;
        self.skip_space();
        let op = match self.peek() {
            Some(c @ ('+' | '-')) => c,
            _ => return Ok((left, shape)),
        };
        // literal_eval allows only a (signed) int/float constant plus or minus a complex constant.
        let lre = match (&left, shape) {
            (Py::Int(i), Shape::Constant | Shape::Signed) => *i as f64,
            (Py::Float(f), Shape::Constant | Shape::Signed) => *f,
            _ => return Err(Fail::NotLiteral),
        };
        self.i += 1;
        self.skip_space();
        let (right, rshape) = self.atom()?;
        let (Py::Complex(rre, rim), Shape::Constant) = (right, rshape) else { return Err(Fail::NotLiteral) };
        self.skip_space();
        if matches!(self.peek(), Some('+' | '-')) {
            return Err(Fail::NotLiteral);
        }
        let v = if op == '+' { Py::Complex(lre + rre, 0.0 + rim) } else { Py::Complex(lre - rre, 0.0 - rim) };
        Ok((v, Shape::Other))
    }

    fn signed(&mut self) -> R<(Py, Shape)> {
        let Some(c @ ('+' | '-')) = self.peek() else { return self.atom() };
        self.i += 1;
        self.skip_space();
        // The operand must be a numeric constant; parentheses vanish in Python's AST, so -(1) counts but -(-1) not.
        let (v, shape) = self.atom()?;
        if shape != Shape::Constant {
            return Err(Fail::NotLiteral);
        }
        let neg = c == '-';
        let v = match v {
            Py::Int(i) => Py::Int(if neg { -i } else { i }),
            Py::BigInt(d) => Py::BigInt(if neg { format!("-{d}") } else { d }),
            Py::Float(f) => Py::Float(if neg { -f } else { f }),
            Py::Complex(re, im) => {
                if neg {
                    Py::Complex(-re, -im)
                } else {
                    Py::Complex(re, im)
                }
            }
            _ => return Err(Fail::NotLiteral),
        };
        Ok((v, Shape::Signed))
    }

    fn nest(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth >= MAX_NESTING {
            return Err(Fail::NotLiteral);
        }
        Ok(())
    }

    fn atom(&mut self) -> R<(Py, Shape)> {
        self.skip_space();
        let Some(c) = self.peek() else { return Err(Fail::NotLiteral) };
        match c {
            '[' => {
                self.nest()?;
                self.i += 1;
                let items = self.items(']')?;
                self.depth -= 1;
                Ok((Py::List(items), Shape::Other))
            }
            '(' => {
                self.nest()?;
                self.i += 1;
                if self.eat(')') {
                    self.depth -= 1;
                    return Ok((Py::Tuple(Vec::new()), Shape::Other));
                }
                let (first, shape) = self.node()?;
                let v = if self.eat(')') {
                    // A parenthesised expression, not a tuple: it keeps its shape.
                    (first, shape)
                } else if self.eat(',') {
                    let mut items = vec![first];
                    items.extend(self.items(')')?);
                    (Py::Tuple(items), Shape::Other)
                } else {
                    return Err(Fail::NotLiteral);
                };
                self.depth -= 1;
                Ok(v)
            }
            '{' => {
                self.nest()?;
                self.i += 1;
                let v = self.brace()?;
                self.depth -= 1;
                Ok((v, Shape::Other))
            }
            '.' if self.peek_at(1) == Some('.') && self.peek_at(2) == Some('.') => {
                self.i += 3;
                Ok((Py::Ellipsis, Shape::Constant))
            }
            '0'..='9' | '.' => Ok((self.number()?, Shape::Constant)),
            _ if c.is_alphabetic() || c == '_' || c == '"' || c == '\'' => {
                let v = self.word_or_string()?;
                // set() is a call, not a constant; nothing may be signed or added to it anyway.
                let shape = if matches!(v, Py::Set(_)) { Shape::Other } else { Shape::Constant };
                Ok((v, shape))
            }
            _ => Err(Fail::NotLiteral),
        }
    }

    /// Comma-separated expressions up to `close` (a trailing comma is allowed).
    fn items(&mut self, close: char) -> R<Vec<Py>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.expr()?);
            if self.eat(close) {
                return Ok(items);
            }
            if !self.eat(',') {
                return Err(Fail::NotLiteral);
            }
        }
    }

    /// After `{`: a dict or a set.
    fn brace(&mut self) -> R<Py> {
        if self.eat('}') {
            return Ok(Py::Dict(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(':') {
            let mut pairs = vec![(first, self.expr()?)];
            loop {
                if self.eat('}') {
                    return Ok(Py::Dict(pairs));
                }
                if !self.eat(',') {
                    return Err(Fail::NotLiteral);
                }
                if self.eat('}') {
                    return Ok(Py::Dict(pairs));
                }
                let k = self.expr()?;
                if !self.eat(':') {
                    return Err(Fail::NotLiteral);
                }
                pairs.push((k, self.expr()?));
            }
        }
        let mut items = vec![first];
        if !self.eat('}') {
            if !self.eat(',') {
                return Err(Fail::NotLiteral);
            }
            items.extend(self.items('}')?);
        }
        Ok(Py::Set(items))
    }

    /// A keyword (`True`, `False`, `None`, `set()`), or a string literal with an optional prefix; adjacent
    /// string literals concatenate.
    fn word_or_string(&mut self) -> R<Py> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.i += 1;
        }
        let word: String = self.s[start..self.i].iter().collect();
        if !matches!(self.peek(), Some('"' | '\'')) {
            return match word.as_str() {
                "True" => Ok(Py::Bool(true)),
                "False" => Ok(Py::Bool(false)),
                "None" => Ok(Py::None),
                "set" => {
                    // `set()` is the one call literal_eval accepts.
                    if self.eat('(') && self.eat(')') { Ok(Py::Set(Vec::new())) } else { Err(Fail::NotLiteral) }
                }
                _ => Err(Fail::NotLiteral),
            };
        }
        self.i = start;
        let mut acc: Option<Py> = None;
        loop {
            self.skip_space();
            let at = self.i;
            while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some('"' | '\'')) {
                self.i = at;
                break;
            }
            let prefix: String = self.s[at..self.i].iter().collect::<String>().to_ascii_lowercase();
            let (raw, bytes) = match prefix.as_str() {
                "" | "u" => (false, false),
                "r" => (true, false),
                "b" => (false, true),
                "br" | "rb" => (true, true),
                // f-strings are not literals; anything else is a syntax error.
                _ => return Err(Fail::NotLiteral),
            };
            let body = self.quoted(raw, bytes)?;
            acc = Some(match (acc, bytes) {
                (None, false) => Py::Str(body.text),
                (None, true) => Py::Bytes(body.bytes),
                (Some(Py::Str(mut s)), false) => {
                    s.push_str(&body.text);
                    Py::Str(s)
                }
                (Some(Py::Bytes(mut b)), true) => {
                    b.extend(body.bytes);
                    Py::Bytes(b)
                }
                // Mixing bytes and text is a syntax error.
                _ => return Err(Fail::NotLiteral),
            });
        }
        acc.ok_or(Fail::NotLiteral)
    }

    /// A quoted string body starting at the opening quote.
    fn quoted(&mut self, raw: bool, bytes: bool) -> R<Quoted> {
        let q = self.peek().ok_or(Fail::NotLiteral)?;
        let triple = self.peek_at(1) == Some(q) && self.peek_at(2) == Some(q);
        self.i += if triple { 3 } else { 1 };
        let mut out = Quoted::default();
        loop {
            let c = self.peek().ok_or(Fail::NotLiteral)?;
            if c == q {
                if !triple {
                    self.i += 1;
                    return Ok(out);
                }
                if self.peek_at(1) == Some(q) && self.peek_at(2) == Some(q) {
                    self.i += 3;
                    return Ok(out);
                }
            }
            if c == '\n' && !triple {
                return Err(Fail::NotLiteral);
            }
            if bytes && !c.is_ascii() {
                return Err(Fail::NotLiteral);
            }
            self.i += 1;
            if c != '\\' {
                out.push_char(c);
                continue;
            }
            let e = self.peek().ok_or(Fail::NotLiteral)?;
            if raw {
                // Raw strings keep the backslash; it still stops the quote from closing the string.
                out.push_char('\\');
                out.push_char(e);
                self.i += 1;
                continue;
            }
            self.i += 1;
            match e {
                '\n' => {}
                '\\' | '\'' | '"' => out.push_char(e),
                'a' => out.push_char('\x07'),
                'b' => out.push_char('\x08'),
                'f' => out.push_char('\x0c'),
                'n' => out.push_char('\n'),
                'r' => out.push_char('\r'),
                't' => out.push_char('\t'),
                'v' => out.push_char('\x0b'),
                '0'..='7' => {
                    let mut v = e.to_digit(8).unwrap_or(0);
                    for _ in 0..2 {
                        match self.peek().and_then(|d| d.to_digit(8)) {
                            Some(d) => {
                                v = v * 8 + d;
                                self.i += 1;
                            }
                            None => break,
                        }
                    }
                    out.push_code(v, bytes)?;
                }
                'x' => {
                    let v = self.hex_digits(2)?;
                    out.push_code(v, bytes)?;
                }
                'u' | 'U' if !bytes => {
                    let v = self.hex_digits(if e == 'u' { 4 } else { 8 })?;
                    out.push_code(v, false)?;
                }
                // \N{NAME} needs the Unicode name table; treat the value as text rather than guess.
                'N' if !bytes => return Err(Fail::NotLiteral),
                _ => {
                    // Unknown escapes keep their backslash.
                    out.push_char('\\');
                    out.push_char(e);
                }
            }
        }
    }

    fn hex_digits(&mut self, n: usize) -> R<u32> {
        let mut v: u32 = 0;
        for _ in 0..n {
            let d = self.peek().and_then(|c| c.to_digit(16)).ok_or(Fail::NotLiteral)?;
            v = v.checked_mul(16).and_then(|v| v.checked_add(d)).ok_or(Fail::NotLiteral)?;
            self.i += 1;
        }
        Ok(v)
    }

    /// A number token: int (decimal, 0x, 0o, 0b), float, or imaginary.
    fn number(&mut self) -> R<Py> {
        let start = self.i;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
            // An exponent sign belongs to the number.
            let c = self.peek().unwrap_or(' ');
            self.i += 1;
            if matches!(c, 'e' | 'E') && matches!(self.peek(), Some('+' | '-')) && !self.s[start..self.i - 1].iter().any(|c| matches!(c, 'x' | 'X')) {
                self.i += 1;
            }
        }
        let tok: String = self.s[start..self.i].iter().collect();
        parse_number(&tok).ok_or(Fail::NotLiteral)
    }
}

#[derive(Default)]
struct Quoted {
    text: String,
    bytes: Vec<u8>,
}

impl Quoted {
    fn push_char(&mut self, c: char) {
        self.text.push(c);
        let mut buf = [0u8; 4];
        self.bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    fn push_code(&mut self, v: u32, bytes: bool) -> R<()> {
        if bytes {
            let b = u8::try_from(v).map_err(|_| Fail::NotLiteral)?;
            self.bytes.push(b);
            self.text.push(b as char);
        } else {
            // Lone surrogates cannot be held in Rust text; they become U+FFFD.
            let c = char::from_u32(v).unwrap_or('\u{fffd}');
            if v > 0x10ffff {
                return Err(Fail::NotLiteral);
            }
            self.push_char(c);
        }
        Ok(())
    }
}

/// `digitpart`: digits with single underscores between them.
fn is_digitpart(s: &str, radix: u32) -> bool {
    !s.is_empty() && !s.starts_with('_') && !s.ends_with('_') && !s.contains("__") && s.chars().all(|c| c == '_' || c.is_digit(radix))
}

fn parse_number(tok: &str) -> Option<Py> {
    let lower = tok.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            // Python allows one underscore right after the prefix: 0x_ff.
            let rest = rest.strip_prefix('_').unwrap_or(rest);
            if !is_digitpart(rest, radix) {
                return None;
            }
            return Some(int_from_digits(&rest.replace('_', ""), radix));
        }
    }
    if let Some(body) = lower.strip_suffix('j') {
        let f = parse_float_or_digits(body)?;
        return Some(Py::Complex(0.0, f));
    }
    if is_digitpart(&lower, 10) {
        let digits = lower.replace('_', "");
        // Leading zeros are a syntax error unless the number is all zeros.
        if digits.len() > 1 && digits.starts_with('0') && digits.chars().any(|c| c != '0') {
            return None;
        }
        return Some(int_from_digits(&digits, 10));
    }
    let (mantissa, exp) = match lower.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (lower.as_str(), None),
    };
    if let Some(e) = exp {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        if !is_digitpart(e, 10) {
            return None;
        }
    }
    let ok = match mantissa.split_once('.') {
        Some((a, b)) => (a.is_empty() || is_digitpart(a, 10)) && (b.is_empty() || is_digitpart(b, 10)) && !(a.is_empty() && b.is_empty()),
        // "digitpart exponent" is a float too: 1e3, 09e1.
        None => exp.is_some() && is_digitpart(mantissa, 10),
    };
    if !ok {
        return None;
    }
    lower.replace('_', "").parse::<f64>().ok().map(Py::Float)
}

/// The body of an imaginary literal: a float or a digitpart (leading zeros allowed).
fn parse_float_or_digits(body: &str) -> Option<f64> {
    if is_digitpart(body, 10) {
        return body.replace('_', "").parse::<f64>().ok();
    }
    match parse_number(body)? {
        Py::Float(f) => Some(f),
        _ => None,
    }
}

fn int_from_digits(digits: &str, radix: u32) -> Py {
    match i128::from_str_radix(digits, radix) {
        Ok(v) => Py::Int(v),
        Err(_) if radix == 10 => Py::BigInt(digits.trim_start_matches('0').to_string()),
        // A huge hex/octal/binary number: keep the text Ansible would print as a number.
        Err(_) => Py::BigInt(digits.to_string()),
    }
}

impl Py {
    /// Python's equality for dict keys and set members (1 == 1.0 == True).
    fn py_eq(&self, other: &Py) -> bool {
        fn num(p: &Py) -> Option<(f64, f64)> {
            match p {
                Py::Bool(b) => Some((*b as i64 as f64, 0.0)),
                Py::Int(i) => Some((*i as f64, 0.0)),
                Py::Float(f) => Some((*f, 0.0)),
                Py::Complex(re, im) => Some((*re, *im)),
                _ => None,
            }
        }
        match (self, other) {
            (Py::Int(a), Py::Int(b)) => a == b,
            (Py::None, Py::None) | (Py::Ellipsis, Py::Ellipsis) => true,
            (Py::Str(a), Py::Str(b)) => a == b,
            (Py::Bytes(a), Py::Bytes(b)) => a == b,
            (Py::BigInt(a), Py::BigInt(b)) => a == b,
            (Py::Tuple(a), Py::Tuple(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.py_eq(y)),
            _ => match (num(self), num(other)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }

    fn check_hashable(&self) -> Result<(), String> {
        match self {
            Py::List(_) => Err("unhashable type: 'list'".into()),
            Py::Dict(_) => Err("unhashable type: 'dict'".into()),
            Py::Set(_) => Err("unhashable type: 'set'".into()),
            Py::Tuple(items) => items.iter().try_for_each(Py::check_hashable),
            _ => Ok(()),
        }
    }

    /// How a dict key reads once Ansible's output turns it into JSON text.
    fn key_text(&self) -> String {
        match self {
            Py::Str(s) => s.clone(),
            Py::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Py::Int(i) => i.to_string(),
            Py::BigInt(d) => d.clone(),
            Py::Float(f) => py_float_repr(*f, true),
            Py::Bool(b) => b.to_string(),
            Py::None => "null".into(),
            other => other.clone().into_value().map(|v| v.to_string()).unwrap_or_default(),
        }
    }

    fn into_value(self) -> Result<Value, String> {
        Ok(match self {
            Py::None => Value::Null,
            Py::Bool(b) => Value::Bool(b),
            Py::Int(i) => match (i64::try_from(i), u64::try_from(i)) {
                (Ok(v), _) => Value::Number(v.into()),
                (_, Ok(v)) => Value::Number(v.into()),
                // Beyond 64 bits: keep the digits (serde_json numbers stop at 64 bits).
                _ => Value::String(i.to_string()),
            },
            Py::BigInt(d) => Value::String(d),
            Py::Float(f) => Number::from_f64(f).map(Value::Number).unwrap_or_else(|| Value::String(py_float_repr(f, true))),
            Py::Complex(re, im) => Value::String(py_complex_repr(re, im)),
            Py::Str(s) => Value::String(s),
            Py::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
            Py::Ellipsis => Value::String("...".into()),
            Py::List(items) | Py::Tuple(items) => Value::Array(items.into_iter().map(Py::into_value).collect::<Result<_, _>>()?),
            Py::Set(items) => {
                let mut uniq: Vec<Py> = Vec::new();
                for it in items {
                    it.check_hashable()?;
                    if !uniq.iter().any(|u| u.py_eq(&it)) {
                        uniq.push(it);
                    }
                }
                // CPython iterates small non-negative int sets in ascending order (their hash is the value);
                // other sets come out in hash order, which we cannot reproduce, so they keep source order.
                if uniq.iter().all(|p| matches!(p, Py::Int(i) if *i >= 0)) {
                    uniq.sort_by_key(|p| if let Py::Int(i) = p { *i } else { 0 });
                }
                Value::Array(uniq.into_iter().map(Py::into_value).collect::<Result<_, _>>()?)
            }
            Py::Dict(pairs) => {
                // Python keeps the first key's place and the last value.
                let mut uniq: Vec<(Py, Py)> = Vec::new();
                for (k, v) in pairs {
                    k.check_hashable()?;
                    match uniq.iter_mut().find(|(u, _)| u.py_eq(&k)) {
                        Some(slot) => slot.1 = v,
                        None => uniq.push((k, v)),
                    }
                }
                let mut m = Map::new();
                for (k, v) in uniq {
                    m.insert(k.key_text(), v.into_value()?);
                }
                Value::Object(m)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(s: &str) -> Value {
        match eval(s) {
            Literal::Value(v) => v,
            other => panic!("{s:?} gave {other:?}"),
        }
    }

    #[test]
    fn literals_match_python_literal_eval() {
        // Each expectation was checked with python3 -c 'import ast; print(ast.literal_eval(...))'.
        assert_eq!(v("1"), json!(1));
        assert_eq!(v("-3"), json!(-3));
        assert_eq!(v("-(1)"), json!(-1));
        assert_eq!(v("00"), json!(0));
        assert_eq!(v("0x10"), json!(16));
        assert_eq!(v("0o17"), json!(15));
        assert_eq!(v("1_000"), json!(1000));
        assert_eq!(v("1.5"), json!(1.5));
        assert_eq!(v("1e3"), json!(1000.0));
        assert_eq!(v("09.5"), json!(9.5));
        assert_eq!(v("1_0.5e-1_0"), json!(1.05e-9));
        assert_eq!(v("True"), json!(true));
        assert_eq!(v("None"), Value::Null);
        assert_eq!(v("'x' # c"), json!("x"));
        assert_eq!(v("\"a\" 'b'"), json!("ab"));
        assert_eq!(v(r#""\x41\u00e9\n""#), json!("Aé\n"));
        assert_eq!(v(r#"r"\x41""#), json!("\\x41"));
        assert_eq!(v("b'by'"), json!("by"));
        assert_eq!(v("[1, 'a', (2, 3), {4: [5]}]"), json!([1, "a", [2, 3], {"4": [5]}]));
        assert_eq!(v("80, 443"), json!([80, 443]));
        assert_eq!(v("(1,)"), json!([1]));
        assert_eq!(v("()"), json!([]));
        assert_eq!(v("{3, 1, 3}"), json!([1, 3]));
        assert_eq!(v("set()"), json!([]));
        assert_eq!(v("{1: 'a', True: 2, None: 3, 1.5: 4}"), json!({"1": 2, "null": 3, "1.5": 4}));
        assert_eq!(v("1+2j"), json!("(1+2j)"));
        assert_eq!(v("-1j"), json!("(-0-1j)"));
        assert_eq!(v("2.5j"), json!("2.5j"));
        assert_eq!(v("..."), json!("..."));
        assert_eq!(v("  7"), json!(7));
        assert_eq!(v("(-1)+2j"), json!("(-1+2j)"));
    }

    #[test]
    fn non_literals_stay_text() {
        for s in [
            "yes",
            "0644",
            "09",
            "1e",
            "1__0",
            "abc # c",
            "--1",
            "1+2",
            "1 if 1 else 2",
            "{{ x }}",
            "f'x'",
            "ur'x'",
            "a b",
            "",
            "[1, 2",
            "{1: 2, 3}",
            "x()",
            "'abc",
            "1abc",
            "'a' b'b'",
            "-True",
            "1j+1",
            "-(-1)",
            "1+(-2j)",
            "-(1+2j)",
            "spaced value",
            "{k:1}",
        ] {
            assert_eq!(eval(s), Literal::Text, "{s:?}");
        }
        let deep = format!("{}1{}", "[".repeat(250), "]".repeat(250));
        assert_eq!(eval(&deep), Literal::Text);
    }

    #[test]
    fn unhashable_keys_fail_like_python() {
        assert!(matches!(eval("{[1]: 2}"), Literal::Invalid(_)));
        assert!(matches!(eval("{(1, [2])}"), Literal::Invalid(_)));
    }
}
