//! JSON SOPS files: a top-level object, key order kept, printed with tab indentation as sops does.
//! Must not decrypt anything.

use crate::secrets::tree::Value;

pub fn parse(text: &str) -> Result<Value, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON at line {} column {}: {}", e.line(), e.column(), e.classify_kind()))?;
    if !v.is_object() {
        return Err("a SOPS JSON file must hold an object at the top".into());
    }
    Ok(Value::from_json(&v))
}

pub fn emit(doc: &Value) -> Result<String, String> {
    use serde::Serialize;
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b"\t"));
    doc.to_json().serialize(&mut ser).map_err(|e| e.to_string())?;
    let mut s = String::from_utf8(out).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
}

/// Words for a serde_json error category (its Display would quote the offending text, which may be secret).
trait Kind {
    fn classify_kind(&self) -> &'static str;
}

impl Kind for serde_json::Error {
    fn classify_kind(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end of file",
        }
    }
}
