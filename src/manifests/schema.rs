//! Checking objects against the real schemas: the core kinds of the pinned Kubernetes version (the strict
//! JSON Schema that PyPI `kubernetes-validate` derives from Kubernetes' OpenAPI, vendored in schemas/kubernetes)
//! and custom resources against the CRDs of the pinned MetalLB, Longhorn, helm-controller, Flux and Intel
//! releases (schemas/crds), plus any CRD a user adds. Unknown fields are errors, as the API server's strict
//! field validation (kubectl's default) makes them. See schemas/SOURCES.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

use super::{ManifestError, Object};

/// The Kubernetes version whose core schemas are vendored (the one the pinned k3s runs).
pub const KUBERNETES_VERSION: &str = "1.36";

/// The vendored CRD files: (where they came from, their text).
const VENDORED_CRDS: &[(&str, &str)] = &[
    (
        "schemas/crds/prometheus-operator-v0.93.1/crd-prometheusrules.yaml",
        include_str!("../../schemas/crds/prometheus-operator-v0.93.1/crd-prometheusrules.yaml"),
    ),
    (
        "schemas/crds/prometheus-operator-v0.93.1/crd-servicemonitors.yaml",
        include_str!("../../schemas/crds/prometheus-operator-v0.93.1/crd-servicemonitors.yaml"),
    ),
    (
        "schemas/crds/metallb-v0.16.1/metallb.io_ipaddresspools.yaml",
        include_str!("../../schemas/crds/metallb-v0.16.1/metallb.io_ipaddresspools.yaml"),
    ),
    (
        "schemas/crds/metallb-v0.16.1/metallb.io_l2advertisements.yaml",
        include_str!("../../schemas/crds/metallb-v0.16.1/metallb.io_l2advertisements.yaml"),
    ),
    (
        "schemas/crds/metallb-v0.16.1/metallb.io_bgpadvertisements.yaml",
        include_str!("../../schemas/crds/metallb-v0.16.1/metallb.io_bgpadvertisements.yaml"),
    ),
    ("schemas/crds/metallb-v0.16.1/metallb.io_bgppeers.yaml", include_str!("../../schemas/crds/metallb-v0.16.1/metallb.io_bgppeers.yaml")),
    ("schemas/crds/metallb-v0.16.1/metallb.io_bfdprofiles.yaml", include_str!("../../schemas/crds/metallb-v0.16.1/metallb.io_bfdprofiles.yaml")),
    ("schemas/crds/metallb-v0.16.1/metallb.io_communities.yaml", include_str!("../../schemas/crds/metallb-v0.16.1/metallb.io_communities.yaml")),
    (
        "schemas/crds/longhorn-v1.12.1/longhorn-v1.12.1-all-crds.yaml",
        include_str!("../../schemas/crds/longhorn-v1.12.1/longhorn-v1.12.1-all-crds.yaml"),
    ),
    (
        "schemas/crds/k3s-helm-controller-v0.17.7/helm.cattle.io_helmcharts.yaml",
        include_str!("../../schemas/crds/k3s-helm-controller-v0.17.7/helm.cattle.io_helmcharts.yaml"),
    ),
    (
        "schemas/crds/k3s-helm-controller-v0.17.7/helm.cattle.io_helmchartconfigs.yaml",
        include_str!("../../schemas/crds/k3s-helm-controller-v0.17.7/helm.cattle.io_helmchartconfigs.yaml"),
    ),
    (
        "schemas/crds/flux-kustomize-controller-v1.9.4/kustomize.toolkit.fluxcd.io_kustomizations.yaml",
        include_str!("../../schemas/crds/flux-kustomize-controller-v1.9.4/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
    ),
    (
        "schemas/crds/node-feature-discovery-v0.19.0/nfd-api-crds.yaml",
        include_str!("../../schemas/crds/node-feature-discovery-v0.19.0/nfd-api-crds.yaml"),
    ),
    (
        "schemas/crds/intel-device-plugins-v0.36.0/deviceplugin.intel.com_gpudeviceplugins.yaml",
        include_str!("../../schemas/crds/intel-device-plugins-v0.36.0/deviceplugin.intel.com_gpudeviceplugins.yaml"),
    ),
];

/// The pinned charts that ship a values schema: (chart, version, `values.schema.json`, the chart's default
/// `values.yaml`). Helm checks the schema against the defaults merged with the given values, and so does hlprov.
const CHART_VALUES: &[(&str, &str, &str, &str)] = &[
    (
        "metallb",
        "0.16.1",
        include_str!("../../schemas/charts/metallb-0.16.1/values.schema.json"),
        include_str!("../../schemas/charts/metallb-0.16.1/values.yaml"),
    ),
    (
        "node-feature-discovery",
        "0.19.0",
        include_str!("../../schemas/charts/node-feature-discovery-0.19.0/values.schema.json"),
        include_str!("../../schemas/charts/node-feature-discovery-0.19.0/values.yaml"),
    ),
];

static CORE_GZ: &[u8] = include_bytes!("../../schemas/kubernetes/v1.36.0/_definitions.json.gz");

/// One problem found in an object: where in it (`spec.replicas`) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub msg: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() { write!(f, "{}", self.msg) } else { write!(f, "{}: {}", self.path, self.msg) }
    }
}

/// What checking one object found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    Valid,
    Invalid(Vec<Problem>),
    /// No schema is known for its apiVersion and kind (a CRD hlprov has no copy of).
    Unknown,
}

/// The core definitions: the `$defs` of every kind, and which definition each (apiVersion, kind) is.
struct Core {
    defs: Value,
    index: HashMap<(String, String), String>,
}

fn core() -> &'static Core {
    static CORE: OnceLock<Core> = OnceLock::new();
    CORE.get_or_init(|| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(CORE_GZ), &mut text).expect("vendored schema is gzip");
        let doc: Value = serde_json::from_str(&text).expect("vendored schema is JSON");
        let defs = doc.get("$defs").cloned().unwrap_or_default();
        let mut index = HashMap::new();
        for (name, def) in defs.as_object().into_iter().flatten() {
            for gvk in def.get("x-kubernetes-group-version-kind").and_then(Value::as_array).into_iter().flatten() {
                let (g, v, k) = (gvk["group"].as_str().unwrap_or(""), gvk["version"].as_str().unwrap_or(""), gvk["kind"].as_str().unwrap_or(""));
                let api_version = if g.is_empty() { v.to_string() } else { format!("{g}/{v}") };
                index.insert((api_version, k.to_string()), name.clone());
            }
        }
        Core { defs, index }
    })
}

/// The schemas objects are checked against.
pub struct Schemas {
    /// Converted CRD schemas by (apiVersion, kind).
    crds: HashMap<(String, String), Value>,
    compiled: Mutex<HashMap<(String, String), Arc<jsonschema::Validator>>>,
}

impl Schemas {
    /// The vendored schemas: core Kubernetes and the pinned projects' CRDs.
    pub fn builtin() -> Schemas {
        let mut s = Schemas { crds: HashMap::new(), compiled: Mutex::default() };
        for (origin, text) in VENDORED_CRDS {
            s.add_crds(text, origin).unwrap_or_else(|e| panic!("vendored CRD {origin}: {e}"));
        }
        s
    }

    /// Add the CRDs of a (multi-document) file; other kinds in it are ignored.
    pub fn add_crds(&mut self, text: &str, origin: &str) -> Result<usize, ManifestError> {
        let mut added = 0;
        for obj in super::parse(text, origin)? {
            if obj.kind() != "CustomResourceDefinition" {
                continue;
            }
            let spec = &obj.value["spec"];
            let (group, kind) = (spec["group"].as_str().unwrap_or(""), spec["names"]["kind"].as_str().unwrap_or(""));
            for version in spec["versions"].as_array().into_iter().flatten() {
                if version["served"] == Value::Bool(false) {
                    continue;
                }
                let Some(schema) = version.pointer("/schema/openAPIV3Schema") else { continue };
                let name = version["name"].as_str().unwrap_or("");
                self.crds.insert((format!("{group}/{name}"), kind.to_string()), convert_openapi(schema));
                added += 1;
            }
        }
        Ok(added)
    }

    /// Whether a schema is known for this apiVersion and kind.
    pub fn knows(&self, api_version: &str, kind: &str) -> bool {
        let key = (api_version.to_string(), kind.to_string());
        self.crds.contains_key(&key) || core().index.contains_key(&key)
    }

    /// Check one object (and, for a k3s HelmChart of a chart whose values schema is vendored, its values).
    pub fn check(&self, obj: &Object) -> Checked {
        let key = (obj.api_version().to_string(), obj.kind().to_string());
        let Some(validator) = self.validator(&key) else { return Checked::Unknown };
        let mut problems: Vec<Problem> =
            validator.iter_errors(&obj.value).map(|e| Problem { path: dotted(&e.instance_path().to_string()), msg: e.to_string() }).collect();
        if obj.api_version() == "helm.cattle.io/v1" && obj.kind() == "HelmChart" {
            problems.extend(chart_values_problems(&obj.value));
        }
        if problems.is_empty() { Checked::Valid } else { Checked::Invalid(problems) }
    }

    fn validator(&self, key: &(String, String)) -> Option<Arc<jsonschema::Validator>> {
        if let Some(v) = self.compiled.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Some(v.clone());
        }
        let schema = match self.crds.get(key) {
            Some(s) => s.clone(),
            None => {
                let core = core();
                let name = core.index.get(key)?;
                json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": core.defs, "$ref": format!("#/$defs/{name}")})
            }
        };
        let v = Arc::new(jsonschema::draft202012::new(&schema).ok()?);
        self.compiled.lock().unwrap_or_else(|p| p.into_inner()).insert(key.clone(), v.clone());
        Some(v)
    }
}

/// The chart and version a HelmChart installs: `spec.chart` + `spec.version`, or a chart URL ending in
/// `NAME-VERSION.tgz` (k3s' static charts).
pub fn helm_chart_of(obj: &Value) -> Option<(String, String)> {
    let chart = obj.pointer("/spec/chart")?.as_str()?;
    if let Some(file) = chart.rsplit('/').next().and_then(|f| f.strip_suffix(".tgz")) {
        if chart.contains('/') {
            let (name, version) = file.rsplit_once('-')?;
            return Some((name.to_string(), version.trim_start_matches('v').to_string()));
        }
    }
    let version = obj.pointer("/spec/version")?.as_str()?;
    Some((chart.to_string(), version.trim_start_matches('v').to_string()))
}

/// A HelmChart's `valuesContent` against its chart's values schema, where one is vendored.
fn chart_values_problems(obj: &Value) -> Vec<Problem> {
    let Some((name, version)) = helm_chart_of(obj) else { return Vec::new() };
    let Some((_, _, schema, defaults)) = CHART_VALUES.iter().find(|(n, v, _, _)| *n == name && *v == version) else { return Vec::new() };
    let text = obj.pointer("/spec/valuesContent").and_then(Value::as_str).unwrap_or("");
    let given = match crate::yaml::load_one(text, "valuesContent") {
        Ok(doc) if doc.is_null() => Value::Object(Map::new()),
        Ok(doc) => doc.to_value(),
        Err(e) => return vec![Problem { path: "spec.valuesContent".into(), msg: format!("not YAML: {e}") }],
    };
    let mut values = crate::yaml::load_one(defaults, "values.yaml").map(|d| d.to_value()).unwrap_or_default();
    merge_values(&mut values, given);
    let schema: Value = match serde_json::from_str(schema) {
        Ok(s) => s,
        Err(e) => {
            return vec![Problem {
                path: "spec.valuesContent".into(),
                msg: format!("the vendored values schema of {name} {version} is not JSON: {e}"),
            }];
        }
    };
    let Ok(validator) = jsonschema::validator_for(&schema) else { return Vec::new() };
    validator
        .iter_errors(&values)
        .map(|e| {
            let inner = dotted(&e.instance_path().to_string());
            Problem {
                path: if inner.is_empty() { "spec.valuesContent".into() } else { format!("spec.valuesContent: {inner}") },
                msg: format!("{e} (values schema of the {name} {version} chart)"),
            }
        })
        .collect()
}

/// Helm's merge of given values over a chart's defaults: mappings merge key by key, anything else replaces.
fn merge_values(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge_values(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// `/spec/template/0/name` → `spec.template[0].name` (how kubectl names fields).
fn dotted(pointer: &str) -> String {
    let mut out = String::new();
    for part in pointer.split('/').filter(|p| !p.is_empty()) {
        let part = part.replace("~1", "/").replace("~0", "~");
        if part.chars().all(|c| c.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&part);
        }
    }
    out
}

/// A CRD's openAPIV3Schema as strict JSON Schema (the API server's view): int-or-string and nullable spelled
/// out, objects that list their properties closed unless they keep unknown fields, and the Kubernetes
/// extensions and formats (which need the API server) dropped.
pub fn convert_openapi(schema: &Value) -> Value {
    let Value::Object(m) = schema else { return schema.clone() };
    let mut out = Map::new();
    let preserve = m.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    for (k, v) in m {
        match k.as_str() {
            "properties" | "patternProperties" | "definitions" => {
                let props: Map<String, Value> = v.as_object().into_iter().flatten().map(|(name, s)| (name.clone(), convert_openapi(s))).collect();
                out.insert(k.clone(), Value::Object(props));
            }
            "items" | "additionalProperties" | "not" if v.is_object() => {
                out.insert(k.clone(), convert_openapi(v));
            }
            "allOf" | "anyOf" | "oneOf" => {
                out.insert(k.clone(), Value::Array(v.as_array().into_iter().flatten().map(convert_openapi).collect()));
            }
            "nullable" | "format" => {}
            k if k.starts_with("x-kubernetes-") => {}
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if m.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        out.remove("type");
        out.insert("anyOf".into(), json!([{"type": "integer"}, {"type": "string"}]));
    }
    if m.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(Value::String(t)) = out.get("type").cloned() {
            out.insert("type".into(), json!([t, "null"]));
        }
    }
    if out.contains_key("properties") && !out.contains_key("additionalProperties") && !preserve {
        out.insert("additionalProperties".into(), Value::Bool(false));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Object {
        super::super::parse(text, "t.yaml").unwrap().remove(0)
    }

    #[test]
    fn core_kinds_are_checked_strictly() {
        let s = Schemas::builtin();
        let ok = one(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec:\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: w, image: x}]}\n",
        );
        assert_eq!(s.check(&ok), Checked::Valid);
        let typo = one("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w}\nspec: {replica: 2, selector: {}, template: {}}\n");
        let Checked::Invalid(p) = s.check(&typo) else { panic!("a misspelled field passed") };
        assert!(p.iter().any(|p| p.path == "spec" && p.msg.contains("replica")), "{p:?}");
        let bad = one("apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: eighty}]}\n");
        let Checked::Invalid(p) = s.check(&bad) else { panic!() };
        assert!(p.iter().any(|p| p.path == "spec.ports[0].port"), "{p:?}");
    }

    #[test]
    fn custom_resources_use_their_crds_and_unknown_kinds_say_so() {
        let s = Schemas::builtin();
        let pool = one(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [192.168.1.240-192.168.1.250]}\n",
        );
        assert_eq!(s.check(&pool), Checked::Valid);
        let job = one(
            "apiVersion: longhorn.io/v1beta2\nkind: RecurringJob\nmetadata: {name: b}\nspec: {task: snap, retain: '7', cron: '0 3 * * *', groups: [default], concurrency: 1}\n",
        );
        let Checked::Invalid(p) = s.check(&job) else { panic!() };
        assert!(p.iter().any(|p| p.path == "spec.task") && p.iter().any(|p| p.path == "spec.retain"), "{p:?}");
        let unknown = one("apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: {name: c}\n");
        assert_eq!(s.check(&unknown), Checked::Unknown);
    }

    #[test]
    fn helm_chart_values_follow_the_charts_schema() {
        let s = Schemas::builtin();
        let chart = |values: &str| {
            one(&format!(
                "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {{name: metallb, namespace: kube-system}}\nspec:\n  chart: metallb\n  repo: https://metallb.github.io/metallb\n  version: 0.16.1\n  valuesContent: |\n{}\n",
                values.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
            ))
        };
        assert_eq!(s.check(&chart("controller:\n  logLevel: info\n")), Checked::Valid);
        let got = s.check(&chart("controller:\n  logLevel: loud\n"));
        let Checked::Invalid(p) = got else { panic!("a bad logLevel passed: {got:?}") };
        assert!(p.iter().any(|p| p.path == "spec.valuesContent: controller.logLevel"), "{p:?}");
        assert_eq!(
            helm_chart_of(&json!({"spec": {"chart": "https://%{KUBERNETES_API}%/static/charts/metallb-0.16.1.tgz"}})),
            Some(("metallb".into(), "0.16.1".into()))
        );
    }

    #[test]
    fn openapi_extensions_become_json_schema() {
        let s = convert_openapi(&json!({"type": "object", "properties": {
            "port": {"x-kubernetes-int-or-string": true},
            "note": {"type": "string", "nullable": true, "format": "byte"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"a": {"type": "string"}}}}}));
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(s["properties"]["port"]["anyOf"], json!([{"type": "integer"}, {"type": "string"}]));
        assert_eq!(s["properties"]["note"], json!({"type": ["string", "null"]}));
        assert!(s["properties"]["free"].get("additionalProperties").is_none(), "unknown fields kept open");
    }
}
