//! Reading YAML SOPS files, comments included.
//!
//! Values come from hlprov's YAML loader (YAML 1.1 scalars, like every other file hlprov reads). The loader
//! drops comments, but sops keeps them as items of the tree (and encrypts them), so this module finds comment
//! lines in the text and places each before the next map entry or list item, which is where sops puts them
//! too (a comment at the end of a line goes before that line's entry). Text inside block scalars and quoted
//! strings is never taken for a comment. Must not decrypt anything.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use crate::secrets::tree::{Entry, Value};
use crate::yaml::{self as loader, Node, NodeKind};

/// Parse every document of `text`.
pub fn parse(text: &str, file: &str) -> Result<Vec<Value>, String> {
    let nodes = loader::load_all(text, file).map_err(|e| e.to_string())?;
    let lines: Vec<&str> = text.split('\n').collect();
    let mut comments = Comments { items: find_comments(text, &lines), next: 0 };
    let doc_markers: Vec<u32> = lines.iter().enumerate().filter(|(_, l)| *l == &"---" || l.starts_with("--- ")).map(|(i, _)| i as u32 + 1).collect();
    let mut docs = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        // Comments after the last entry belong to this document, up to the next document's `---`.
        let end = match nodes.get(i + 1) {
            Some(next) => doc_markers.iter().rev().find(|&&m| m < next.span.line && m > node.span.line).copied().unwrap_or(next.span.line),
            None => u32::MAX,
        };
        let mut v = convert(node, &mut comments, end);
        let trailing = comments.take(|line, _| line < end);
        match &mut v {
            Value::Map(entries) => entries.extend(trailing.into_iter().map(Entry::Comment)),
            Value::Seq(items) => items.extend(trailing.into_iter().map(Value::Comment)),
            _ => {}
        }
        docs.push(v);
    }
    Ok(docs)
}

struct Comment {
    line: u32,
    indent: usize,
    text: String,
}

struct Comments {
    /// In line order.
    items: Vec<Comment>,
    next: usize,
}

impl Comments {
    /// Take comments from the front while `pred(line, indent)` holds.
    fn take(&mut self, pred: impl Fn(u32, usize) -> bool) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(c) = self.items.get(self.next) {
            if !pred(c.line, c.indent) {
                break;
            }
            out.push(c.text.clone());
            self.next += 1;
        }
        out
    }
}

/// Convert a node; `limit` is the line where the next entry outside this node starts. Comments after the
/// node's last entry that are indented at least as deep as its entries stay inside it (sops keeps them there).
fn convert(node: &Node, comments: &mut Comments, limit: u32) -> Value {
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i) => Value::Int(*i),
        NodeKind::Float(f) => Value::Float(*f),
        NodeKind::Str(s) => Value::Str(s.clone()),
        NodeKind::Seq(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                out.extend(comments.take(|l, _| l <= item.span.line).into_iter().map(Value::Comment));
                let next = items.get(i + 1).map_or(limit, |n| n.span.line);
                out.push(convert(item, comments, next));
            }
            let dash = node.span.col.saturating_sub(1) as usize;
            out.extend(comments.take(|l, ind| l < limit && ind >= dash).into_iter().map(Value::Comment));
            Value::Seq(out)
        }
        NodeKind::Map(pairs) => {
            let mut out = Vec::new();
            for (i, (k, v)) in pairs.iter().enumerate() {
                out.extend(comments.take(|l, _| l <= k.span.line).into_iter().map(Entry::Comment));
                let key = k.key_string().unwrap_or_else(|| k.to_value().to_string());
                let next = pairs.get(i + 1).map_or(limit, |(n, _)| n.span.line);
                out.push(Entry::Pair(key, convert(v, comments, next)));
            }
            if let Some((first, _)) = pairs.first() {
                let indent = first.span.col.saturating_sub(1) as usize;
                out.extend(comments.take(|l, ind| l < limit && ind >= indent).into_iter().map(Entry::Comment));
            }
            Value::Map(out)
        }
    }
}

/// Every comment in the text, in line order.
fn find_comments(text: &str, lines: &[&str]) -> Vec<Comment> {
    let inside = scalar_lines(text, lines);
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if inside[i] {
            continue;
        }
        if let Some(pos) = comment_start(line) {
            let indent = line[..pos].chars().count();
            out.push(Comment { line: i as u32 + 1, indent, text: line[pos + 1..].trim_end().to_string() });
        }
    }
    out
}

/// Which lines (0-based) are the continuation of a block scalar or a multi-line quoted string.
fn scalar_lines(text: &str, lines: &[&str]) -> Vec<bool> {
    let mut inside = vec![false; lines.len()];
    let mut parser = Parser::new_from_str(text);
    while let Ok((event, mark)) = parser.next_token() {
        let Event::Scalar(value, style, ..) = event else {
            if matches!(event, Event::StreamEnd) {
                break;
            }
            continue;
        };
        let (line, col) = (mark.line().saturating_sub(1), mark.col());
        match style {
            // The mark is at the first content character; content goes on while lines are blank or indented as far.
            TScalarStyle::Literal | TScalarStyle::Folded if !value.is_empty() => {
                for (j, l) in lines.iter().enumerate().skip(line) {
                    if !l.trim().is_empty() && indent(l) < col {
                        break;
                    }
                    inside[j] = true;
                }
            }
            TScalarStyle::DoubleQuoted | TScalarStyle::SingleQuoted => {
                let end = closing_quote_line(lines, line, col, style == TScalarStyle::DoubleQuoted);
                for flag in inside.iter_mut().take(end + 1).skip(line + 1) {
                    *flag = true;
                }
            }
            _ => {}
        }
    }
    inside
}

fn indent(line: &str) -> usize {
    line.chars().take_while(|c| *c == ' ').count()
}

/// The line holding the quote that closes the string opened at (`line`, `col`).
fn closing_quote_line(lines: &[&str], line: usize, col: usize, double: bool) -> usize {
    let q = if double { '"' } else { '\'' };
    let mut first = true;
    for (j, l) in lines.iter().enumerate().skip(line) {
        let chars: Vec<char> = l.chars().collect();
        let mut k = if first { col + 1 } else { 0 };
        first = false;
        while k < chars.len() {
            let c = chars[k];
            if double && c == '\\' {
                k += 2;
                continue;
            }
            if c == q {
                if !double && chars.get(k + 1) == Some(&'\'') {
                    k += 2;
                    continue;
                }
                return j;
            }
            k += 1;
        }
    }
    lines.len().saturating_sub(1)
}

/// Byte offset of the `#` that starts a comment on this line, if any: at the start or after whitespace, and not
/// inside a quoted string.
fn comment_start(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev: Option<char> = None;
    let mut prev_non_space: Option<char> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => {
                if q == '\'' && chars.peek().map(|(_, n)| *n) == Some('\'') {
                    chars.next();
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => {
                let at_token_start = prev.is_none_or(|p| p.is_whitespace() || "[{,".contains(p));
                let after_indicator = prev_non_space.is_none_or(|p| ":-[{,?".contains(p));
                if (c == '"' || c == '\'') && at_token_start && after_indicator {
                    quote = Some(c);
                } else if c == '#' && prev.is_none_or(char::is_whitespace) {
                    return Some(i);
                }
            }
        }
        prev = Some(c);
        if !c.is_whitespace() {
            prev_non_space = Some(c);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_go_before_the_next_entry_like_sops() {
        let text = "# top\na: 1 # after a\n# before b\nb:\n  # inside b\n  c: 'it''s # not'\n  l:\n    # item\n    - x\n    - y # trail\n  lit: |\n    line\n    # content\n# end\n";
        let docs = parse(text, "t.yaml").unwrap();
        let expected = Value::Map(vec![
            Entry::Comment(" top".into()),
            Entry::Comment(" after a".into()),
            Entry::Pair("a".into(), Value::Int(1)),
            Entry::Comment(" before b".into()),
            Entry::Pair(
                "b".into(),
                Value::Map(vec![
                    Entry::Comment(" inside b".into()),
                    Entry::Pair("c".into(), Value::Str("it's # not".into())),
                    Entry::Pair(
                        "l".into(),
                        Value::Seq(vec![
                            Value::Comment(" item".into()),
                            Value::Str("x".into()),
                            Value::Comment(" trail".into()),
                            Value::Str("y".into()),
                        ]),
                    ),
                    Entry::Pair("lit".into(), Value::Str("line\n# content\n".into())),
                ]),
            ),
            Entry::Comment(" end".into()),
        ]);
        assert_eq!(docs, vec![expected]);
    }

    #[test]
    fn hash_inside_values_is_not_a_comment() {
        assert_eq!(comment_start("url: http://x/#frag"), None);
        assert_eq!(comment_start("a: \"x # y\" # z"), Some(11));
        assert_eq!(comment_start("a: it's # z"), Some(8));
        assert_eq!(comment_start("#ENC[AES256_GCM,data:x]"), Some(0));
    }

    #[test]
    fn multi_document_comments_stay_in_their_document() {
        let docs = parse("a: 1\n# end of one\n---\n# head of two\nb: 2\n", "t.yaml").unwrap();
        assert_eq!(docs[0], Value::Map(vec![Entry::Pair("a".into(), Value::Int(1)), Entry::Comment(" end of one".into())]));
        assert_eq!(docs[1], Value::Map(vec![Entry::Comment(" head of two".into()), Entry::Pair("b".into(), Value::Int(2))]));
    }
}
