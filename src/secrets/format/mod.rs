//! File formats SOPS files come in — YAML, JSON, dotenv, INI and "binary" (any other file, stored as JSON) —
//! each turning text into document trees and back, with and without the `sops` metadata.
//!
//! Formats only parse and print; they must not decrypt or decide what gets encrypted.

mod binary;
mod dotenv;
mod ini;
mod json;
mod yaml;
mod yaml_emit;

use std::path::Path;

use super::metadata::Metadata;
use super::tree::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Yaml,
    Json,
    Dotenv,
    Ini,
    Binary,
}

impl Format {
    /// The format sops would pick for `path` (by extension; anything unknown is binary).
    pub fn from_path(path: &Path) -> Format {
        let name = path.file_name().map(|n| n.to_string_lossy().to_lowercase()).unwrap_or_default();
        if name.ends_with(".yaml") || name.ends_with(".yml") {
            Format::Yaml
        } else if name.ends_with(".json") {
            Format::Json
        } else if name.ends_with(".env") {
            Format::Dotenv
        } else if name.ends_with(".ini") {
            Format::Ini
        } else {
            Format::Binary
        }
    }

    /// A format named on the command line (`--input-type`), as sops spells them.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" | "yml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" | "env" => Format::Dotenv,
            "ini" => Format::Ini,
            "binary" => Format::Binary,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Dotenv => "dotenv",
            Format::Ini => "ini",
            Format::Binary => "binary",
        }
    }

    /// Read a plaintext file into documents. `file` names it in errors.
    pub fn parse_plain(self, text: &str, file: &str) -> Result<Vec<Value>, String> {
        match self {
            Format::Yaml => yaml::parse(text, file),
            Format::Json => json::parse(text).map(|v| vec![v]),
            Format::Dotenv => dotenv::parse(text).map(|v| vec![v]),
            Format::Ini => ini::parse(text).map(|v| vec![v]),
            Format::Binary => Ok(vec![binary::wrap(text)]),
        }
    }

    /// Print documents as plaintext.
    pub fn emit_plain(self, docs: &[Value]) -> Result<String, String> {
        match self {
            Format::Yaml => Ok(yaml_emit::emit(docs)),
            Format::Json => json::emit(first(docs)?),
            Format::Dotenv => dotenv::emit(first(docs)?),
            Format::Ini => ini::emit(first(docs)?),
            Format::Binary => binary::unwrap(first(docs)?),
        }
    }

    /// Read an encrypted file: its documents (values still `ENC[…]`) and the metadata.
    /// `Ok(None)` if the text parses but has no `sops` metadata (a plain file).
    pub fn parse_encrypted(self, text: &str, file: &str) -> Result<Option<(Vec<Value>, Metadata)>, String> {
        match self {
            Format::Yaml => split_tree_metadata(yaml::parse(text, file)?),
            Format::Json | Format::Binary => split_tree_metadata(vec![json::parse(text)?]),
            Format::Dotenv => dotenv::parse_encrypted(text),
            Format::Ini => ini::parse_encrypted(text),
        }
    }

    /// Print encrypted documents with their metadata.
    pub fn emit_encrypted(self, docs: &[Value], md: &Metadata) -> Result<String, String> {
        match self {
            Format::Yaml => Ok(yaml_emit::emit(&docs.iter().map(|d| with_metadata(d, md)).collect::<Vec<_>>())),
            Format::Json | Format::Binary => json::emit(&with_metadata(first(docs)?, md)),
            Format::Dotenv => dotenv::emit_encrypted(first(docs)?, md),
            Format::Ini => ini::emit_encrypted(first(docs)?, md),
        }
    }
}

fn first(docs: &[Value]) -> Result<&Value, String> {
    match docs {
        [one] => Ok(one),
        [] => Err("the file has no document".into()),
        _ => Err("only YAML files can hold several documents".into()),
    }
}

/// Take the `sops` key out of every document (sops repeats the same block in each YAML document).
fn split_tree_metadata(mut docs: Vec<Value>) -> Result<Option<(Vec<Value>, Metadata)>, String> {
    let mut md = None;
    for d in docs.iter_mut() {
        if !matches!(d, Value::Map(_)) {
            continue;
        }
        let comments_before = sops_key_comments(d);
        if let Some(block) = d.take("sops") {
            if md.is_none() {
                md = Some(Metadata::from_tree(&block)?);
            }
            // Comments written just before `sops:` belong to the end of the document.
            if let Value::Map(entries) = d {
                entries.extend(comments_before);
            }
        }
    }
    Ok(md.map(|m| (docs, m)))
}

/// Remove the comments directly preceding the `sops` key, returning them.
fn sops_key_comments(d: &mut Value) -> Vec<super::tree::Entry> {
    use super::tree::Entry;
    let Value::Map(entries) = d else { return Vec::new() };
    let Some(i) = entries.iter().position(|e| matches!(e, Entry::Pair(k, _) if k == "sops")) else { return Vec::new() };
    let mut start = i;
    while start > 0 && matches!(entries[start - 1], Entry::Comment(_)) {
        start -= 1;
    }
    entries.drain(start..i).collect()
}

fn with_metadata(doc: &Value, md: &Metadata) -> Value {
    let mut d = doc.clone();
    if let Value::Map(entries) = &mut d {
        entries.push(super::tree::Entry::Pair("sops".into(), md.to_tree()));
    }
    d
}
