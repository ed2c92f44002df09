//! A YAML emitter that writes what PyYAML's `yaml.dump` writes (Ansible's to_yaml/to_nice_yaml): sorted
//! keys, flow style for collections of scalars when `default_flow_style` is None, PyYAML's choice between
//! plain, single- and double-quoted scalars, indentless sequences under mapping keys, lines folded at 80
//! columns. Block literals (`|`) are never chosen, as PyYAML does not choose them either.

use crate::yaml::{NodeKind, Value as Json, resolve_plain};

use super::serialize::python_number;

pub struct Style {
    pub indent: usize,
    pub default_flow_style: Option<bool>,
    pub sort_keys: bool,
}

const BEST_WIDTH: usize = 80;

/// `yaml.dump(v, allow_unicode=True, ...)`.
pub fn dump(v: &Json, style: &Style) -> String {
    let indent = if (2..10).contains(&style.indent) { style.indent } else { 2 };
    let mut e = Emitter { out: String::new(), column: 0, style, indent_step: indent, whitespace: true, indention: true };
    e.node(v, Ctx::Root, 0);
    // PyYAML ends a plain root scalar with "...", which Ansible's output does not show.
    e.out.push('\n');
    e.out
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Root,
    Block,
    Flow,
    Key,
    FlowKey,
}

struct Emitter<'s> {
    out: String,
    column: usize,
    style: &'s Style,
    indent_step: usize,
    /// The last thing written was whitespace (no separating space needed).
    whitespace: bool,
    /// Only indentation has been written on this line.
    indention: bool,
}

fn is_flow(v: &Json, style: &Style) -> bool {
    match v {
        Json::Array(a) => a.is_empty() || (style.default_flow_style.is_none() && a.iter().all(is_scalar)) || style.default_flow_style == Some(true),
        Json::Object(m) => {
            m.is_empty() || (style.default_flow_style.is_none() && m.values().all(is_scalar)) || style.default_flow_style == Some(true)
        }
        _ => false,
    }
}

fn is_scalar(v: &Json) -> bool {
    !matches!(v, Json::Array(_) | Json::Object(_))
}

impl Emitter<'_> {
    fn write(&mut self, s: &str) {
        self.column += s.chars().count();
        self.out.push_str(s);
    }

    fn write_indent(&mut self, indent: usize) {
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.out.push('\n');
            self.column = 0;
        }
        let pad = indent - self.column.min(indent);
        self.write(&" ".repeat(pad));
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(&mut self, ind: &str, need_space: bool, indention: bool) {
        if !self.whitespace && need_space {
            self.write(" ");
        }
        self.write(ind);
        // After an opening bracket the next token needs no separating space (PyYAML's whitespace=True).
        self.whitespace = ind == "[" || ind == "{";
        self.indention = self.indention && indention;
    }

    fn entries<'a>(&self, m: &'a serde_json::Map<String, Json>) -> Vec<(&'a String, &'a Json)> {
        let mut e: Vec<_> = m.iter().collect();
        if self.style.sort_keys {
            e.sort_by(|a, b| a.0.cmp(b.0));
        }
        e
    }

    fn node(&mut self, v: &Json, ctx: Ctx, indent: usize) {
        match v {
            Json::Array(a) if is_flow(v, self.style) || matches!(ctx, Ctx::Flow) => {
                self.indicator("[", true, true);
                let inner = indent + self.indent_step;
                for (i, item) in a.iter().enumerate() {
                    if i > 0 {
                        self.indicator(",", false, false);
                    }
                    if self.column > BEST_WIDTH {
                        self.write_indent(inner);
                    }
                    self.node(item, Ctx::Flow, inner);
                }
                self.indicator("]", false, false);
            }
            Json::Object(m) if is_flow(v, self.style) || matches!(ctx, Ctx::Flow) => {
                self.indicator("{", true, true);
                let inner = indent + self.indent_step;
                for (i, (k, item)) in self.entries(m).into_iter().enumerate() {
                    if i > 0 {
                        self.indicator(",", false, false);
                    }
                    if self.column > BEST_WIDTH {
                        self.write_indent(inner);
                    }
                    self.scalar_str(k, Ctx::FlowKey, inner);
                    self.indicator(":", false, false);
                    self.node(item, Ctx::Flow, inner);
                }
                self.indicator("}", false, false);
            }
            Json::Array(a) => {
                for item in a {
                    self.write_indent(indent);
                    self.indicator("-", true, true);
                    self.node(item, Ctx::Block, indent + self.indent_step);
                }
            }
            Json::Object(m) => {
                for (k, item) in self.entries(m) {
                    self.write_indent(indent);
                    self.scalar_str(k, Ctx::Key, indent);
                    self.indicator(":", false, false);
                    match item {
                        // Sequences under a key are "indentless": their dashes line up with the key.
                        Json::Array(_) if !is_flow(item, self.style) => self.node(item, Ctx::Block, indent),
                        _ => self.node(item, Ctx::Block, indent + self.indent_step),
                    }
                }
            }
            Json::String(s) => self.scalar_str(s, ctx, indent),
            Json::Null => self.plain("null", ctx, indent),
            Json::Bool(b) => self.plain(if *b { "true" } else { "false" }, ctx, indent),
            Json::Number(n) => {
                let mut s = python_number(n);
                if n.is_f64() {
                    s = match s.as_str() {
                        "inf" => ".inf".into(),
                        "-inf" => "-.inf".into(),
                        "nan" => ".nan".into(),
                        _ if s.contains('e') && !s.contains('.') => s.replacen('e', ".0e", 1),
                        _ => s,
                    };
                }
                self.plain(&s, ctx, indent)
            }
        }
    }

    fn plain(&mut self, text: &str, ctx: Ctx, indent: usize) {
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.write(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let split = !matches!(ctx, Ctx::Key | Ctx::FlowKey);
        let words: Vec<&str> = text.split(' ').collect();
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                // Fold at a single space once past the width, as PyYAML does.
                if split && self.column > BEST_WIDTH && !w.is_empty() && !words[i - 1].is_empty() {
                    self.write_indent(indent);
                    self.whitespace = false;
                    self.indention = false;
                } else {
                    self.write(" ");
                }
            }
            self.write(w);
        }
    }

    fn scalar_str(&mut self, s: &str, ctx: Ctx, indent: usize) {
        let a = analyze(s);
        let key = matches!(ctx, Ctx::Key | Ctx::FlowKey);
        let flow = matches!(ctx, Ctx::Flow | Ctx::FlowKey);
        let implicit = resolves_to_str(s);
        let plain_ok = implicit && !(key && (a.empty || a.multiline)) && if flow { a.allow_flow_plain } else { a.allow_block_plain };
        if plain_ok {
            return self.plain(s, ctx, indent);
        }
        if a.allow_single_quoted && !(key && a.multiline) {
            return self.single_quoted(s, !key, indent);
        }
        self.double_quoted(s, indent)
    }

    fn single_quoted(&mut self, text: &str, split: bool, indent: usize) {
        self.indicator("'", true, false);
        let chars: Vec<char> = text.chars().collect();
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0usize, 0usize);
        while end <= chars.len() {
            let ch = chars.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > BEST_WIDTH && split && start != 0 && end != chars.len() {
                        self.write_indent(indent);
                    } else {
                        let s: String = chars[start..end].iter().collect();
                        self.write(&s);
                    }
                    start = end;
                }
            } else if breaks {
                if ch != Some('\n') {
                    if chars[start] == '\n' {
                        self.line_break();
                    }
                    for _ in start..end {
                        self.line_break();
                    }
                    self.write_indent(indent);
                    start = end;
                }
            } else if (ch.is_none() || ch == Some(' ') || ch == Some('\n') || ch == Some('\'')) && start < end {
                let s: String = chars[start..end].iter().collect();
                self.write(&s);
                start = end;
            }
            if ch == Some('\'') {
                self.write("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = c == '\n';
            }
            end += 1;
        }
        self.indicator("'", false, false);
    }

    fn line_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
        self.whitespace = true;
        self.indention = true;
    }

    fn double_quoted(&mut self, text: &str, indent: usize) {
        self.indicator("\"", true, false);
        let mut buf = String::new();
        for c in text.chars() {
            let esc = match c {
                '\0' => Some("\\0".to_string()),
                '\x07' => Some("\\a".into()),
                '\x08' => Some("\\b".into()),
                '\t' => Some("\\t".into()),
                '\n' => Some("\\n".into()),
                '\x0b' => Some("\\v".into()),
                '\x0c' => Some("\\f".into()),
                '\r' => Some("\\r".into()),
                '\x1b' => Some("\\e".into()),
                '"' => Some("\\\"".into()),
                '\\' => Some("\\\\".into()),
                '\u{85}' => Some("\\N".into()),
                '\u{a0}' => Some("\\_".into()),
                '\u{2028}' => Some("\\L".into()),
                '\u{2029}' => Some("\\P".into()),
                c if (' '..='~').contains(&c)
                    || ('\u{a0}'..='\u{d7ff}').contains(&c)
                    || ('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}' =>
                {
                    None
                }
                c if (c as u32) <= 0xff => Some(format!("\\x{:02X}", c as u32)),
                c if (c as u32) <= 0xffff => Some(format!("\\u{:04X}", c as u32)),
                c => Some(format!("\\U{:08X}", c as u32)),
            };
            match esc {
                Some(e) => buf.push_str(&e),
                None => buf.push(c),
            }
        }
        let _ = indent;
        self.write(&buf);
        self.indicator("\"", false, false);
    }
}

/// Would PyYAML read `s`, written plain, back as a string (not a bool, number, null, date, `=` or `<<`)?
fn resolves_to_str(s: &str) -> bool {
    if s == "=" || s == "<<" || is_timestamp(s) {
        return false;
    }
    matches!(resolve_plain(s.to_string()), NodeKind::Str(_))
}

fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[0..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && regex_lite_date(s)
}

fn regex_lite_date(s: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(r"^(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)$")
            .expect("valid")
    })
    .is_match(s)
}

struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

/// PyYAML's `Emitter.analyze_scalar` (allow_unicode=True).
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis { empty: true, multiline: false, allow_flow_plain: false, allow_block_plain: true, allow_single_quoted: true };
    }
    let chars: Vec<char> = s.chars().collect();
    let ws = |c: Option<&char>| matches!(c, None | Some('\0' | ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}'));
    let is_break = |c: char| matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}');
    let (mut block_ind, mut flow_ind, mut line_breaks, mut special) = (false, false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_ind = true;
        flow_ind = true;
    }
    let mut preceded_ws = true;
    let (mut prev_space, mut prev_break) = (false, false);
    for (i, &ch) in chars.iter().enumerate() {
        let followed_ws = ws(chars.get(i + 1));
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_ind = true;
                block_ind = true;
            }
            if ch == '?' || ch == ':' {
                flow_ind = true;
                if followed_ws {
                    block_ind = true;
                }
            }
            if ch == '-' && followed_ws {
                flow_ind = true;
                block_ind = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_ind = true;
            }
            if ch == ':' {
                flow_ind = true;
                if followed_ws {
                    block_ind = true;
                }
            }
            if ch == '#' && preceded_ws {
                flow_ind = true;
                block_ind = true;
            }
        }
        if is_break(ch) {
            line_breaks = true;
        }
        if !(ch == '\n' || (' '..='~').contains(&ch)) {
            let unicode_ok =
                (ch == '\u{85}' || ('\u{a0}'..='\u{d7ff}').contains(&ch) || ('\u{e000}'..='\u{fffd}').contains(&ch) || ch >= '\u{10000}')
                    && ch != '\u{feff}';
            if !unicode_ok {
                special = true;
            }
        }
        if ch == ' ' {
            leading_space |= i == 0;
            trailing_space |= i == chars.len() - 1;
            break_space |= prev_break;
            prev_space = true;
            prev_break = false;
        } else if is_break(ch) {
            leading_break |= i == 0;
            trailing_break |= i == chars.len() - 1;
            space_break |= prev_space;
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = ws(Some(&ch));
    }
    let mut a = Analysis { empty: false, multiline: line_breaks, allow_flow_plain: true, allow_block_plain: true, allow_single_quoted: true };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if break_space {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if space_break || special {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if line_breaks {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if flow_ind {
        a.allow_flow_plain = false;
    }
    if block_ind {
        a.allow_block_plain = false;
    }
    a
}
