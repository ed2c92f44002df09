//! YAML loading with source positions, YAML 1.1 scalars and resource limits.
//!
//! Ansible reads YAML with PyYAML, i.e. YAML 1.1: `yes`/`no`/`on`/`off` are booleans, `0644` is the octal
//! integer 420, `1:30` is the sexagesimal integer 90, `1e3` (no dot) is a string. Users' files rely on that, so
//! plain scalars are resolved here the way PyYAML resolves them rather than by YAML 1.2 rules.
//!
//! Every node keeps its file, line and column so that later layers can say *where* something is wrong.
//! Hostile documents (alias bombs, absurd nesting, huge files) are refused with a clear error, in bounded memory.
//! This module must not know about inventories, playbooks or templating.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Number};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// The data model shared by variables, module arguments and facts.
pub type Value = serde_json::Value;

/// Ansible's boolean conversion (YAML 1.1's boolean words, 1 and 0), for arguments and options given as text.
pub fn to_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Value::String(s) => match s.to_lowercase().as_str() {
            "yes" | "on" | "1" | "true" | "y" | "t" => Some(true),
            "no" | "off" | "0" | "false" | "n" | "f" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// What kind of value `v` is, for messages ("a list", "a mapping").
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// How a value tagged `!unsafe` is represented once loaded: `{"__ansible_unsafe": "text"}`, the same encoding
/// Ansible's own JSON encoder uses. Templating hands such a string over verbatim and never renders it.
pub const UNSAFE_KEY: &str = "__ansible_unsafe";

/// Largest YAML file hlprov reads.
pub const MAX_FILE_BYTES: usize = 32 * 1024 * 1024;
/// Deepest nesting of sequences and mappings.
pub const MAX_DEPTH: usize = 256;
/// Most nodes one file may expand to (aliases count every node they copy): stops "billion laughs".
pub const MAX_NODES: usize = 2_000_000;

/// Where something is in a source file (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl Span {
    pub fn new(file: impl Into<Arc<str>>, line: u32, col: u32) -> Span {
        Span { file: file.into(), line, col }
    }
    /// A span for values that come from no file (command line, built-in defaults).
    pub fn synthetic(what: &str) -> Span {
        Span { file: Arc::from(what), line: 0, col: 0 }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 { write!(f, "{}", self.file) } else { write!(f, "{}:{}:{}", self.file, self.line, self.col) }
    }
}

/// A YAML problem with its position.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{span}: {msg}")]
pub struct YamlError {
    pub span: Span,
    pub msg: String,
}

impl YamlError {
    pub fn new(span: &Span, msg: impl Into<String>) -> YamlError {
        YamlError { span: span.clone(), msg: msg.into() }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// One YAML node and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    /// A local tag such as `!unsafe` or `!vault` (without the leading `!`).
    pub tag: Option<String>,
}

impl Node {
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(s) => Some(s),
            _ => None,
        }
    }
    /// The value of `key` in a mapping (the last one if the key repeats, as PyYAML does).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.iter().rev().find(|(k, _)| k.key_string().as_deref() == Some(key)).map(|(_, v)| v)
    }
    /// A mapping key as text: strings as they are, numbers and booleans the way Python would print them.
    pub fn key_string(&self) -> Option<String> {
        match &self.kind {
            NodeKind::Str(s) => Some(s.clone()),
            NodeKind::Int(i) => Some(i.to_string()),
            NodeKind::Float(f) => Some(f.to_string()),
            NodeKind::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
            NodeKind::Null => Some("None".into()),
            _ => None,
        }
    }
    /// What kind of node this is, in words, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) => "an integer",
            NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }
    /// Convert to the plain data model. Mapping keys become strings. Scalars tagged `!unsafe` (or inside a
    /// collection tagged `!unsafe`) become `{UNSAFE_KEY: "text"}` so templating can leave them alone.
    pub fn to_value(&self) -> Value {
        if self.tag.as_deref() == Some("unsafe") {
            return mark_unsafe(self.plain_value());
        }
        self.plain_value()
    }

    fn plain_value(&self) -> Value {
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Number((*i).into()),
            NodeKind::Float(f) => Number::from_f64(*f).map(Value::Number).unwrap_or_else(|| Value::String(f.to_string())),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(entries) => {
                let mut m = Map::new();
                for (k, v) in entries {
                    let key = k.key_string().unwrap_or_else(|| k.to_value().to_string());
                    // PyYAML keeps the last of repeated keys but at the first key's place: insert does exactly that.
                    m.insert(key, v.to_value());
                }
                Value::Object(m)
            }
        }
    }
}

/// Wrap every string leaf (not mapping keys) in the `!unsafe` representation.
pub(crate) fn mark_unsafe(v: Value) -> Value {
    match v {
        Value::String(s) => {
            let mut m = Map::new();
            m.insert(UNSAFE_KEY.to_string(), Value::String(s));
            Value::Object(m)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(mark_unsafe).collect()),
        Value::Object(m) if !(m.len() == 1 && m.contains_key(UNSAFE_KEY)) => Value::Object(m.into_iter().map(|(k, v)| (k, mark_unsafe(v))).collect()),
        other => other,
    }
}

/// Parse every document in `text`. `file` names the source in spans and errors.
pub fn load_all(text: &str, file: &str) -> Result<Vec<Node>, YamlError> {
    let file: Arc<str> = Arc::from(file);
    if text.len() > MAX_FILE_BYTES {
        return Err(YamlError::new(
            &Span::new(file, 1, 1),
            format!("file is {} bytes; hlprov reads YAML files up to {} bytes", text.len(), MAX_FILE_BYTES),
        ));
    }
    // The parser takes a NUL for the end of the text and would drop what follows without a word.
    if let Some(at) = text.find('\0') {
        let (line, col) = line_col(text.as_bytes(), at);
        return Err(YamlError::new(&Span::new(file, line, col), "a NUL byte; YAML text cannot hold one (is this a binary file?)"));
    }
    Builder::new(file).run(text)
}

/// 1-based line and column (in characters) of byte `at`.
fn line_col(bytes: &[u8], at: usize) -> (u32, u32) {
    let before = &bytes[..at];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let start = before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let col = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line as u32, col as u32)
}

/// Parse a file that must hold at most one document; an empty file gives a null node.
pub fn load_one(text: &str, file: &str) -> Result<Node, YamlError> {
    let mut docs = load_all(text, file)?;
    match docs.len() {
        0 => Ok(Node { kind: NodeKind::Null, span: Span::new(file, 1, 1), tag: None }),
        1 => Ok(docs.remove(0)),
        _ => Err(YamlError::new(&docs[1].span, "expected a single YAML document, found another one here")),
    }
}

/// Read and parse a file from disk (at most one document).
pub fn load_file(path: &std::path::Path) -> Result<Node, YamlError> {
    let name = path.display().to_string();
    let text = read_yaml_file(path)?;
    load_one(&text, &name)
}

/// Read a YAML file's text; an error points at the file, and at the line of an invalid byte.
pub fn read_yaml_file(path: &std::path::Path) -> Result<String, YamlError> {
    let name = path.display().to_string();
    read_text(path).map_err(|(at, msg)| YamlError::new(&Span::new(name.as_str(), at.map_or(0, |a| a.0), at.map_or(0, |a| a.1)), msg))
}

/// Read a UTF-8 text file, refusing anything larger than hlprov handles.
pub fn read_text_file(path: &std::path::Path) -> Result<String, String> {
    read_text(path).map_err(|(at, msg)| match at {
        Some((line, col)) => format!("{msg} (line {line}, column {col})"),
        None => msg,
    })
}

/// The size is checked before reading, so a huge file costs no memory.
fn read_text(path: &std::path::Path) -> Result<String, (Option<(u32, u32)>, String)> {
    let meta = std::fs::metadata(path).map_err(|e| (None, format!("cannot read: {e}")))?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err((None, format!("file is {} bytes; hlprov reads files up to {} bytes", meta.len(), MAX_FILE_BYTES)));
    }
    let bytes = std::fs::read(path).map_err(|e| (None, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let bytes = e.as_bytes();
        (Some(line_col(bytes, at)), format!("not UTF-8 text: invalid byte 0x{:02x}", bytes[at]))
    })
}

enum Frame {
    Seq { items: Vec<Node>, span: Span, anchor: usize, tag: Option<String>, start_nodes: usize },
    Map { entries: Vec<(Node, Node)>, key: Option<Node>, span: Span, anchor: usize, tag: Option<String>, start_nodes: usize },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    /// Anchored nodes and how many nodes each one expands to.
    anchors: std::collections::HashMap<usize, (Node, usize)>,
    nodes: usize,
    docs: Vec<Node>,
}

impl Builder {
    fn new(file: Arc<str>) -> Builder {
        Builder { file, stack: Vec::new(), anchors: Default::default(), nodes: 0, docs: Vec::new() }
    }

    fn span(&self, m: &Marker) -> Span {
        Span { file: self.file.clone(), line: m.line() as u32, col: m.col() as u32 + 1 }
    }

    fn run(mut self, text: &str) -> Result<Vec<Node>, YamlError> {
        let mut parser = Parser::new_from_str(text);
        loop {
            let (event, mark) = parser.next_token().map_err(|e| {
                let m = e.marker();
                let span = Span::new(self.file.clone(), m.line() as u32, m.col() as u32 + 1);
                if e.info().contains("recursion limit") {
                    YamlError::new(&span, "document nests deeper than the parser allows; refusing it")
                } else {
                    YamlError::new(&span, e.info().to_string())
                }
            })?;
            let span = self.span(&mark);
            match event {
                Event::StreamEnd => break,
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::DocumentStart => self.anchors.clear(),
                Event::Alias(id) => {
                    let (node, count) = self.anchors.get(&id).cloned().ok_or_else(|| YamlError::new(&span, "alias refers to an unknown anchor"))?;
                    self.count(count, &span)?;
                    self.push(Node { span, ..node })?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    self.count(1, &span)?;
                    let (kind, tag) = resolve_scalar(text, style, tag, &span)?;
                    let node = Node { kind, span, tag };
                    if anchor > 0 {
                        self.anchors.insert(anchor, (node.clone(), 1));
                    }
                    self.push(node)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    self.open(&span)?;
                    let start_nodes = self.nodes;
                    self.stack.push(Frame::Seq { items: Vec::new(), span, anchor, tag: local_tag(&tag), start_nodes });
                }
                Event::MappingStart(anchor, tag) => {
                    self.open(&span)?;
                    let start_nodes = self.nodes;
                    self.stack.push(Frame::Map { entries: Vec::new(), key: None, span, anchor, tag: local_tag(&tag), start_nodes });
                }
                Event::SequenceEnd | Event::MappingEnd => {
                    let (node, anchor, start_nodes) = match self.stack.pop() {
                        Some(Frame::Seq { items, span, anchor, tag, start_nodes }) => {
                            (Node { kind: NodeKind::Seq(items), span, tag }, anchor, start_nodes)
                        }
                        Some(Frame::Map { entries, span, anchor, tag, start_nodes, .. }) => {
                            (Node { kind: NodeKind::Map(merge_keys(entries)?), span, tag }, anchor, start_nodes)
                        }
                        None => return Err(YamlError::new(&span, "unbalanced YAML collection end")),
                    };
                    if anchor > 0 {
                        let size = self.nodes - start_nodes + 1;
                        self.anchors.insert(anchor, (node.clone(), size));
                    }
                    self.push(node)?;
                }
            }
        }
        Ok(self.docs)
    }

    fn open(&mut self, span: &Span) -> Result<(), YamlError> {
        self.count(1, span)?;
        if self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::new(span, format!("document nests deeper than {MAX_DEPTH} levels; refusing it")));
        }
        Ok(())
    }

    fn count(&mut self, n: usize, span: &Span) -> Result<(), YamlError> {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            return Err(YamlError::new(span, format!("document expands to more than {MAX_NODES} nodes (an alias bomb?); refusing it")));
        }
        Ok(())
    }

    fn push(&mut self, node: Node) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, span, .. }) => match key.take() {
                None => {
                    if matches!(node.kind, NodeKind::Seq(_) | NodeKind::Map(_)) {
                        return Err(YamlError::new(&node.span, "a mapping key must be a plain value, not a list or mapping"));
                    }
                    // The parser marks a block mapping after its first key; the mapping starts at that key.
                    if entries.is_empty() && (node.span.line, node.span.col) < (span.line, span.col) {
                        *span = node.span.clone();
                    }
                    *key = Some(node);
                }
                Some(k) => entries.push((k, node)),
            },
        }
        Ok(())
    }
}

/// Apply YAML merge keys (`<<: *base` or `<<: [*a, *b]`): explicit keys win over merged ones.
fn merge_keys(entries: Vec<(Node, Node)>) -> Result<Vec<(Node, Node)>, YamlError> {
    if !entries.iter().any(|(k, _)| is_merge_key(k)) {
        return Ok(entries);
    }
    let mut merged: Vec<(Node, Node)> = Vec::new();
    let mut own: Vec<(Node, Node)> = Vec::new();
    for (k, v) in entries {
        if !is_merge_key(&k) {
            own.push((k, v));
            continue;
        }
        let sources: Vec<Node> = match v.kind {
            NodeKind::Map(_) => vec![v],
            NodeKind::Seq(items) => items,
            _ => return Err(YamlError::new(&v.span, "a merge key (<<) needs a mapping or a list of mappings")),
        };
        for src in sources {
            let NodeKind::Map(pairs) = src.kind else {
                return Err(YamlError::new(&src.span, "a merge key (<<) needs a mapping or a list of mappings"));
            };
            for (k, v) in pairs {
                // Earlier sources win over later ones, as in PyYAML.
                if !merged.iter().any(|(mk, _)| mk.kind == k.kind) {
                    merged.push((k, v));
                }
            }
        }
    }
    merged.retain(|(mk, _)| !own.iter().any(|(ok, _)| ok.kind == mk.kind));
    merged.extend(own);
    Ok(merged)
}

fn is_merge_key(k: &Node) -> bool {
    k.tag.is_none() && k.as_str() == Some("<<")
}

fn local_tag(tag: &Option<Tag>) -> Option<String> {
    match tag {
        Some(t) if t.handle == "!" => Some(t.suffix.clone()),
        _ => None,
    }
}

/// The YAML core-schema tag (`!!str` etc.), whichever way the parser spelled it.
fn core_tag(tag: &Option<Tag>) -> Option<&str> {
    let t = tag.as_ref()?;
    if t.handle == "!!" || t.handle == "tag:yaml.org,2002:" { Some(&t.suffix) } else { t.suffix.strip_prefix("tag:yaml.org,2002:") }
}

fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<Tag>, span: &Span) -> Result<(NodeKind, Option<String>), YamlError> {
    if let Some(core) = core_tag(&tag) {
        let kind = match core {
            "str" | "binary" | "timestamp" => NodeKind::Str(text),
            "null" => NodeKind::Null,
            "bool" => resolve_bool(&text).map(NodeKind::Bool).ok_or_else(|| YamlError::new(span, format!("'{text}' is not a boolean")))?,
            "int" => resolve_int(&text).map(NodeKind::Int).ok_or_else(|| YamlError::new(span, format!("'{text}' is not an integer")))?,
            "float" => resolve_float(&text)
                .or_else(|| resolve_int(&text).map(|i| i as f64))
                .map(NodeKind::Float)
                .ok_or_else(|| YamlError::new(span, format!("'{text}' is not a number")))?,
            other => return Err(YamlError::new(span, format!("unsupported YAML tag !!{other}"))),
        };
        return Ok((kind, None));
    }
    let local = local_tag(&tag);
    if local.is_some() || style != TScalarStyle::Plain {
        return Ok((NodeKind::Str(text), local));
    }
    Ok((resolve_plain(text), None))
}

/// Resolve an untagged plain scalar the way PyYAML's YAML 1.1 resolver does.
pub fn resolve_plain(text: String) -> NodeKind {
    if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL") {
        return NodeKind::Null;
    }
    if let Some(b) = resolve_bool(&text) {
        return NodeKind::Bool(b);
    }
    if let Some(i) = resolve_int(&text) {
        return NodeKind::Int(i);
    }
    if let Some(f) = resolve_float(&text) {
        return NodeKind::Float(f);
    }
    NodeKind::Str(text)
}

fn resolve_bool(s: &str) -> Option<bool> {
    match s {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn resolve_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() || body.starts_with('_') {
        return None;
    }
    let digits = |b: &str, radix: u32| -> Option<i64> {
        let clean: String = b.chars().filter(|c| *c != '_').collect();
        if clean.is_empty() {
            return None;
        }
        i64::from_str_radix(&clean, radix).ok()
    };
    let magnitude = if let Some(b) = body.strip_prefix("0b") {
        digits(b, 2)?
    } else if let Some(h) = body.strip_prefix("0x") {
        digits(h, 16)?
    } else if body.len() > 1 && body.starts_with('0') && body.chars().all(|c| c.is_ascii_digit() || c == '_') {
        // YAML 1.1 octal: 0644 is 420.
        if body.chars().any(|c| c == '8' || c == '9') {
            return None;
        }
        digits(&body[1..], 8)?
    } else if body.contains(':') {
        // Sexagesimal (base 60), e.g. 1:30 is 90: [1-9][0-9_]*(:[0-5]?[0-9])+
        let mut parts = body.split(':');
        let first = parts.next()?;
        if !first.starts_with(|c: char| ('1'..='9').contains(&c)) || !first.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return None;
        }
        let mut acc = digits(first, 10)?;
        for p in parts {
            if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let v: i64 = p.parse().ok()?;
            if v > 59 {
                return None;
            }
            acc = acc.checked_mul(60)?.checked_add(v)?;
        }
        acc
    } else if body.chars().all(|c| c.is_ascii_digit() || c == '_') {
        if body == "0" {
            0
        } else if body.starts_with('0') {
            return None;
        } else {
            digits(body, 10)?
        }
    } else {
        return None;
    };
    Some(if neg { -magnitude } else { magnitude })
}

fn resolve_float(s: &str) -> Option<f64> {
    match s {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    // PyYAML: [-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?  (a dot is required; the exponent needs a sign)
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac) = mantissa.split_once('.')?;
    let ok_digits = |p: &str| p.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !ok_digits(int_part) || !ok_digits(frac) || int_part.starts_with('_') || (int_part.is_empty() && frac.is_empty()) {
        return None;
    }
    if let Some(e) = exponent {
        let digits = e.strip_prefix(['-', '+'])?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    s.replace('_', "").parse::<f64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(s: &str) -> Value {
        load_one(&format!("v: {s}\n"), "t.yml").unwrap().get("v").unwrap().to_value()
    }

    #[test]
    fn yaml11_scalars_resolve_like_pyyaml() {
        assert_eq!(scalar("yes"), Value::Bool(true));
        assert_eq!(scalar("Off"), Value::Bool(false));
        assert_eq!(scalar("'yes'"), Value::String("yes".into()));
        assert_eq!(scalar("0644"), serde_json::json!(420));
        assert_eq!(scalar("0x1F"), serde_json::json!(31));
        assert_eq!(scalar("1_000"), serde_json::json!(1000));
        assert_eq!(scalar("1:30"), serde_json::json!(90));
        assert_eq!(scalar("1e3"), Value::String("1e3".into()));
        assert_eq!(scalar("1.5e+3"), serde_json::json!(1500.0));
        assert_eq!(scalar("~"), Value::Null);
        assert_eq!(scalar("09"), Value::String("09".into()));
        assert_eq!(scalar("-12"), serde_json::json!(-12));
        assert_eq!(scalar("1.0"), serde_json::json!(1.0));
        assert_eq!(scalar("!!str 12"), Value::String("12".into()));
        assert_eq!(scalar("192.168.1.10"), Value::String("192.168.1.10".into()));
    }

    #[test]
    fn spans_point_at_the_node() {
        let doc = load_one("a: 1\nb:\n  - x\n  - y\n", "f.yml").unwrap();
        let b = doc.get("b").unwrap();
        assert_eq!(b.as_seq().unwrap()[1].span.to_string(), "f.yml:4:5");
    }

    #[test]
    fn merge_keys_and_aliases() {
        let doc = load_one("base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\n", "f.yml").unwrap();
        assert_eq!(doc.get("child").unwrap().to_value(), serde_json::json!({"x": 1, "y": 3}));
    }

    #[test]
    fn repeated_keys_keep_the_first_place_and_the_last_value() {
        // As PyYAML: yaml.safe_load("a: 1\nb: 2\na: 3") == {'a': 3, 'b': 2}, in that order.
        let v = load_one("a: 1\nb: 2\na: 3\n", "f.yml").unwrap().to_value();
        assert_eq!(v.as_object().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(), ["a=3", "b=2"]);
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for name in "bcdefghijk".chars() {
            s.push_str(&format!("{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = name;
        }
        let err = load_one(&s, "bomb.yml").unwrap_err();
        assert!(err.msg.contains("alias bomb"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let flow = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));
        let err = load_one(&flow, "deep.yml").unwrap_err();
        assert!(err.msg.contains("deeper"), "{err}");
        let mut block = String::new();
        for depth in 0..400 {
            block.push_str(&format!("{}- \n", "  ".repeat(depth)));
        }
        let err = load_one(&block, "deep.yml").unwrap_err();
        assert!(err.msg.contains("deeper"), "{err}");
    }

    #[test]
    fn nul_bytes_and_invalid_utf8_are_refused_at_their_line() {
        // Without the check, everything after the NUL would be dropped silently.
        let err = load_one("a: 1\nb: x\0y\nc: 3\n", "nul.yml").unwrap_err();
        assert_eq!(err.to_string(), "nul.yml:2:5: a NUL byte; YAML text cannot hold one (is this a binary file?)");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.yml");
        std::fs::write(&path, b"a: 1\nname: caf\xe9\n").unwrap();
        let err = load_file(&path).unwrap_err();
        assert_eq!(err.to_string(), format!("{}:2:10: not UTF-8 text: invalid byte 0xe9", path.display()));
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let err = load_one("a: 1\nb: [1, 2\n", "bad.yml").unwrap_err();
        assert!(err.to_string().starts_with("bad.yml:"), "{err}");
    }

    #[test]
    fn local_tags_are_kept() {
        let doc = load_one("a: !unsafe '{{ x }}'\n", "f.yml").unwrap();
        assert_eq!(doc.get("a").unwrap().tag.as_deref(), Some("unsafe"));
    }

    #[test]
    fn unsafe_values_load_wrapped() {
        let doc = load_one("a: !unsafe '{{ x }}'\nb: !unsafe ['{{ y }}', 3]\nc: '{{ z }}'\n", "f.yml").unwrap();
        assert_eq!(
            doc.to_value(),
            serde_json::json!({"a": {"__ansible_unsafe": "{{ x }}"}, "b": [{"__ansible_unsafe": "{{ y }}"}, 3], "c": "{{ z }}"})
        );
    }
}
