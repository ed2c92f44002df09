//! Kubernetes manifests on the controller: multi-document YAML read into objects that remember the file and line
//! they came from, and checked against the real schemas ([`schema`]) before anything reaches a cluster. No
//! cluster, no host: this layer only reads text.

pub mod schema;

use serde_json::Value;

use crate::yaml::{self, Span};

/// One Kubernetes object as written in a manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub value: Value,
    /// Where its document starts.
    pub span: Span,
}

impl Object {
    pub fn api_version(&self) -> &str {
        self.value.get("apiVersion").and_then(Value::as_str).unwrap_or_default()
    }
    pub fn kind(&self) -> &str {
        self.value.get("kind").and_then(Value::as_str).unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value.pointer("/metadata/namespace").and_then(Value::as_str)
    }
    /// `Kind/name` (with `namespace/` first when it has one), for messages.
    pub fn id(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{}/{ns}/{}", self.kind(), self.name()),
            None => format!("{}/{}", self.kind(), self.name()),
        }
    }
}

/// A manifest that is not a list of Kubernetes objects.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{span}: {msg}")]
pub struct ManifestError {
    pub span: Span,
    pub msg: String,
}

/// Read every object of a (multi-document) manifest. Empty documents are skipped, a `kind: List` is opened, and
/// a document that is not an object with apiVersion and kind is an error naming its line.
pub fn parse(text: &str, origin: &str) -> Result<Vec<Object>, ManifestError> {
    let docs = yaml::load_all(text, origin).map_err(|e| ManifestError { span: e.span, msg: e.msg })?;
    let mut out = Vec::new();
    for doc in docs {
        if doc.is_null() {
            continue;
        }
        let value = doc.to_value();
        push_objects(value, &doc.span, &mut out)?;
    }
    Ok(out)
}

/// Objects given as values (a module's `definition:`), with where they were written.
pub fn from_value(value: Value, span: &Span) -> Result<Vec<Object>, ManifestError> {
    let mut out = Vec::new();
    match value {
        Value::Array(items) => {
            for item in items {
                push_objects(item, span, &mut out)?;
            }
        }
        other => push_objects(other, span, &mut out)?,
    }
    Ok(out)
}

fn push_objects(value: Value, span: &Span, out: &mut Vec<Object>) -> Result<(), ManifestError> {
    let err = |msg: String| ManifestError { span: span.clone(), msg };
    let Value::Object(m) = &value else {
        return Err(err(format!(
            "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
            crate::modules::args::type_name(&value)
        )));
    };
    if m.get("kind").and_then(Value::as_str) == Some("List") {
        for item in m.get("items").and_then(Value::as_array).cloned().unwrap_or_default() {
            push_objects(item, span, out)?;
        }
        return Ok(());
    }
    for key in ["apiVersion", "kind"] {
        if !m.get(key).is_some_and(Value::is_string) {
            return Err(err(format!("a Kubernetes object needs `{key}` (a string)")));
        }
    }
    out.push(Object { value, span: span.clone() });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_lists_and_their_lines() {
        let text = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\n# empty\n---\napiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: apps}}\n";
        let objs = parse(text, "apps.yaml").unwrap();
        assert_eq!(objs.iter().map(Object::id).collect::<Vec<_>>(), ["Namespace/apps", "ConfigMap/apps/a"]);
        assert_eq!(objs[0].span.line, 2);
        let err = parse("apiVersion: v1\nmetadata: {name: x}\n", "bad.yaml").unwrap_err();
        assert_eq!(err.to_string(), "bad.yaml:1:1: a Kubernetes object needs `kind` (a string)");
        let err = parse("- a\n- b\n", "list.yaml").unwrap_err();
        assert!(err.to_string().contains("expected a Kubernetes object"), "{err}");
    }
}
