//! Kubernetes objects on the controller side: reading manifests (a mapping, a list, YAML text with several
//! documents, `kind: List`), checking that each names what it is, the comparison that tells whether the server
//! would change an object, and showing objects to people with Secret values hidden. Pure: no host, no kubectl.

use serde_json::{Map, Value};

/// One object of a manifest and where it came from (for errors: "pool.yaml, document 2").
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    pub obj: Value,
    pub origin: String,
}

/// What names an object: apiVersion, kind, name and (when the manifest or the task says) namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

impl ObjRef {
    /// The API group (`apps` for `apps/v1`, empty for the core group `v1`).
    pub fn group(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
    }

    pub fn version(&self) -> &str {
        self.api_version.rsplit_once('/').map(|(_, v)| v).unwrap_or(&self.api_version)
    }

    /// As kubectl names it: `deployment.apps/nginx`, `service/web`, `ipaddresspool.metallb.io/homelab`.
    pub fn kubectl_name(&self) -> String {
        let kind = self.kind.to_lowercase();
        if self.group().is_empty() { format!("{kind}/{}", self.name) } else { format!("{kind}.{}/{}", self.group(), self.name) }
    }

    /// `deployment.apps/nginx in namespace web` (cluster-scoped or namespace not known: the name alone).
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} in namespace {ns}", self.kubectl_name()),
            None => self.kubectl_name(),
        }
    }

    /// The resource argument `kubectl get` takes for this kind: `deployment.v1.apps`, `node` (core group).
    pub fn resource_arg(&self) -> String {
        resource_arg(&self.api_version, &self.kind)
    }

    pub fn is_crd(&self) -> bool {
        self.kind == "CustomResourceDefinition" && self.group() == "apiextensions.k8s.io"
    }

    pub fn is_namespace(&self) -> bool {
        self.kind == "Namespace" && self.api_version == "v1"
    }

    pub fn is_secret(&self) -> bool {
        self.kind == "Secret" && self.api_version == "v1"
    }
}

/// The resource argument of `kubectl get` for a kind: the lower-case kind (its singular resource name),
/// qualified with version and group outside the core group (`TYPE.VERSION.GROUP`, as kubectl parses it).
pub fn resource_arg(api_version: &str, kind: &str) -> String {
    let kind = kind.to_lowercase();
    match api_version.rsplit_once('/') {
        Some((group, version)) => format!("{kind}.{version}.{group}"),
        None => kind,
    }
}

/// The object's identity, or what is missing, named with its origin.
pub fn identify(m: &Manifest) -> Result<ObjRef, String> {
    let Value::Object(obj) = &m.obj else {
        return Err(format!("{}: a Kubernetes object must be a mapping, not {}", m.origin, super::super::args::type_name(&m.obj)));
    };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let api_version = text(obj.get("apiVersion")).ok_or_else(|| format!("{}: apiVersion is missing", m.origin))?;
    let kind = text(obj.get("kind")).ok_or_else(|| format!("{}: kind is missing", m.origin))?;
    let meta = obj.get("metadata");
    let name = match text(meta.and_then(|md| md.get("name"))) {
        Some(n) => n,
        None if meta.and_then(|md| md.get("generateName")).is_some() => {
            return Err(format!("{}: {kind} has only metadata.generateName; server-side apply needs metadata.name", m.origin));
        }
        None => return Err(format!("{}: {kind} has no metadata.name", m.origin)),
    };
    let namespace = text(meta.and_then(|md| md.get("namespace")));
    Ok(ObjRef { api_version, kind, name, namespace })
}

/// Objects from a `definition`: a mapping, a list of them, or YAML text (several documents allowed). A
/// `kind: List` is opened into its items; empty documents are skipped.
pub fn from_definition(v: &Value, origin: &str) -> Result<Vec<Manifest>, String> {
    match v {
        Value::String(text) => from_yaml(text, origin),
        Value::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                out.extend(expand(item.clone(), &format!("{origin}, item {}", i + 1)));
            }
            Ok(out)
        }
        Value::Object(_) => Ok(expand(v.clone(), origin)),
        Value::Null => Ok(Vec::new()),
        other => Err(format!("{origin}: expected Kubernetes objects (a mapping, a list or YAML text), not {}", super::super::args::type_name(other))),
    }
}

/// Objects from YAML text with any number of documents; each is named by its document number and line.
pub fn from_yaml(text: &str, origin: &str) -> Result<Vec<Manifest>, String> {
    let docs = crate::yaml::load_all(text, origin).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        if doc.is_null() {
            continue;
        }
        out.extend(expand(doc.to_value(), &format!("{origin}, document {} (line {})", i + 1, doc.span.line)));
    }
    Ok(out)
}

fn expand(v: Value, origin: &str) -> Vec<Manifest> {
    let is_list = v.get("kind").and_then(Value::as_str) == Some("List") && v.get("items").is_some_and(Value::is_array);
    if is_list {
        let items = v.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        return items.into_iter().enumerate().map(|(i, obj)| Manifest { obj, origin: format!("{origin}, item {}", i + 1) }).collect();
    }
    if v.is_null() {
        return Vec::new();
    }
    vec![Manifest { obj: v, origin: origin.to_string() }]
}

/// What the server keeps about an object that is not what a manifest asks for: metadata it writes itself and
/// the status. Two objects equal after this are the same object as far as applying goes.
const SERVER_METADATA: &[&str] = &["managedFields", "resourceVersion", "generation", "creationTimestamp", "uid", "selfLink"];

/// The object without what the server writes by itself (see [`SERVER_METADATA`]) and without `status`.
pub fn normalize(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Value::Object(m) = &mut v {
        m.remove("status");
        if let Some(Value::Object(md)) = m.get_mut("metadata") {
            for k in SERVER_METADATA {
                md.remove(*k);
            }
        }
    }
    v
}

/// The fields `manager` owns through server-side apply (its `Apply` entry of `metadata.managedFields`,
/// without the time it was written), or None if it owns none.
pub fn owned_fields(obj: &Value, manager: &str) -> Option<Value> {
    obj.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|e| {
            e.get("manager").and_then(Value::as_str) == Some(manager)
                && e.get("operation").and_then(Value::as_str) == Some("Apply")
                && e.get("subresource").is_none()
        })
        .map(|e| serde_json::json!({"apiVersion": e.get("apiVersion"), "fieldsV1": e.get("fieldsV1")}))
}

/// How the live object compares with what applying the manifest would make of it (a server-side dry run).
#[derive(Clone, Debug, PartialEq)]
pub enum Comparison {
    /// Nothing would change.
    Same,
    /// Field values would change.
    Values,
    /// Only which fields `manager` owns would change (the server would still write the object).
    Ownership,
}

/// Compare the live object with the server's dry run of the apply. Server-written metadata and status are
/// left out; the fields the manager owns count, because taking them over is a write on the server.
pub fn compare(live: &Value, dry_run: &Value, manager: &str) -> Comparison {
    if normalize(live) != normalize(dry_run) {
        Comparison::Values
    } else if owned_fields(live, manager) != owned_fields(dry_run, manager) {
        Comparison::Ownership
    } else {
        Comparison::Same
    }
}

/// Whether an object is a Secret (only core v1 Secrets hold secret data).
pub fn is_secret(obj: &Value) -> bool {
    obj.get("kind").and_then(Value::as_str) == Some("Secret") && obj.get("apiVersion").and_then(Value::as_str) == Some("v1")
}

/// Register the values of a Secret (data decoded from base64, and stringData) so no output shows them.
pub fn register_secret_values(obj: &Value) {
    use base64::Engine;
    if !is_secret(obj) {
        return;
    }
    for key in ["data", "stringData"] {
        let Some(Value::Object(m)) = obj.get(key) else { continue };
        for v in m.values() {
            let Some(s) = v.as_str() else { continue };
            if key == "data" {
                match base64::engine::general_purpose::STANDARD.decode(s) {
                    Ok(bytes) => match String::from_utf8(bytes) {
                        Ok(text) => crate::redact::register(&text),
                        Err(_) => crate::redact::register(s),
                    },
                    Err(_) => crate::redact::register(s),
                }
            } else {
                crate::redact::register(s);
            }
        }
    }
}

/// What a Secret's value shows as, as `kubectl diff` does.
pub const HIDDEN: &str = "***";

/// The two sides of a diff with Secret values hidden as `kubectl diff` hides them: `***` where a key's value
/// is the same on both sides, `*** (before)` / `*** (after)` where it differs. Other objects are unchanged.
pub fn hide_secret_values(before: &Value, after: &Value) -> (Value, Value) {
    let (mut b, mut a) = (before.clone(), after.clone());
    if !is_secret(before) && !is_secret(after) {
        return (b, a);
    }
    for key in ["data", "stringData"] {
        let bm = before.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
        let am = after.get(key).and_then(Value::as_object).cloned().unwrap_or_default();
        let mark = |side: &mut Value, own: &Map<String, Value>, other: &Map<String, Value>, label: &str| {
            if let Some(Value::Object(m)) = side.get_mut(key) {
                for (k, v) in m.iter_mut() {
                    *v = Value::String(if other.get(k) == own.get(k) { HIDDEN.to_string() } else { format!("{HIDDEN} ({label})") });
                }
            }
        };
        mark(&mut b, &bm, &am, "before");
        mark(&mut a, &am, &bm, "after");
    }
    (b, a)
}

/// One object with Secret values hidden (for results and single-sided diffs).
pub fn hide_secret(obj: &Value) -> Value {
    hide_secret_values(obj, obj).0
}

/// An object as people read it in a diff: YAML, server-written metadata and status left out.
pub fn show(obj: &Value) -> String {
    crate::template::nice_yaml(&normalize(obj))
}

/// The CRD's group and kind, and the versions it serves (from its spec).
pub fn crd_serves(crd: &Value) -> Option<(String, String, Vec<String>)> {
    let group = crd.pointer("/spec/group")?.as_str()?.to_string();
    let kind = crd.pointer("/spec/names/kind")?.as_str()?.to_string();
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("served").and_then(Value::as_bool) != Some(false))
                .filter_map(|v| v.get("name")?.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    Some((group, kind, versions))
}

/// The status of a condition of `type_` (`True`, `False`, `Unknown`), with its reason and message.
pub fn condition<'a>(obj: &'a Value, type_: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")?.as_array()?.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resource_args_qualify_non_core_kinds() {
        assert_eq!(resource_arg("apps/v1", "Deployment"), "deployment.v1.apps");
        assert_eq!(resource_arg("v1", "Node"), "node");
        assert_eq!(resource_arg("apiextensions.k8s.io/v1", "CustomResourceDefinition"), "customresourcedefinition.v1.apiextensions.k8s.io");
    }

    #[test]
    fn identify_names_what_is_missing_and_where() {
        let m = |v: Value| Manifest { obj: v, origin: "pool.yaml, document 2 (line 7)".into() };
        assert_eq!(
            identify(&m(json!({"kind": "X", "metadata": {"name": "a"}}))).unwrap_err(),
            "pool.yaml, document 2 (line 7): apiVersion is missing"
        );
        assert!(identify(&m(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "p-"}}))).unwrap_err().contains("generateName"));
        let r = identify(&m(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"}}))).unwrap();
        assert_eq!(r.display(), "deployment.apps/web in namespace apps");
        assert_eq!((r.group(), r.version()), ("apps", "v1"));
    }

    #[test]
    fn yaml_text_gives_every_document_and_opens_lists() {
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\nkind: List\napiVersion: v1\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}\n";
        let ms = from_definition(&Value::String(text.into()), "definition").unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[1].obj["kind"], "ConfigMap");
        assert!(ms[1].origin.starts_with("definition, document 3 (line 6), item 1"), "{}", ms[1].origin);
    }

    #[test]
    fn secrets_are_hidden_like_kubectl_diff() {
        let before = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA==", "b": "eQ=="}});
        let after = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"a": "eA==", "b": "eg=="}});
        let (b, a) = hide_secret_values(&before, &after);
        assert_eq!(b["data"], json!({"a": "***", "b": "*** (before)"}));
        assert_eq!(a["data"], json!({"a": "***", "b": "*** (after)"}));
    }
}
