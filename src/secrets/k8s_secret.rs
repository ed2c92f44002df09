//! Kubernetes Secret manifests from decrypted values, e.g. the Flux `sops-age` Secret (namespace
//! `flux-system`, key `age.agekey`) that lets Flux decrypt the repository's SOPS files in the cluster.
//!
//! Renders YAML only (`data:` base64 or `stringData:`); it does not talk to a cluster. Every value and its
//! base64 form are registered for redaction, so the manifest's secrets never show in hlprov's own output even
//! though the manifest itself (written to a target file) holds them.

use base64::Engine;

use super::tree::{Entry, Value};

/// The sops selection rule for Kubernetes Secrets committed to git: encrypt only `data` and `stringData`.
pub const K8S_ENCRYPTED_REGEX: &str = "^(data|stringData)$";

/// How the values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// `data:` with base64 values (any bytes).
    Data,
    /// `stringData:` with the values as text (UTF-8 only).
    StringData,
}

#[derive(Clone, Debug)]
pub struct SecretManifest {
    pub name: String,
    pub namespace: String,
    /// `Opaque` unless set.
    pub secret_type: Option<String>,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub encoding: Encoding,
    /// Keys and values, in order.
    pub entries: Vec<(String, Vec<u8>)>,
}

impl SecretManifest {
    /// The YAML manifest. Errors name the field that Kubernetes would reject.
    pub fn render(&self) -> Result<String, String> {
        check_subdomain("metadata.name", &self.name)?;
        check_label("metadata.namespace", &self.namespace)?;
        if self.entries.is_empty() {
            return Err("a Secret needs at least one key".into());
        }
        let mut values = Vec::new();
        for (k, v) in &self.entries {
            check_key(k)?;
            if values.iter().any(|e| matches!(e, Entry::Pair(x, _) if x == k)) {
                return Err(format!("key '{k}' appears twice"));
            }
            let text = match self.encoding {
                Encoding::Data => base64::engine::general_purpose::STANDARD.encode(v),
                Encoding::StringData => {
                    String::from_utf8(v.clone()).map_err(|_| format!("key '{k}': stringData values must be UTF-8 text; use data (base64)"))?
                }
            };
            if let Ok(plain) = std::str::from_utf8(v) {
                crate::redact::register(plain);
            }
            crate::redact::register(&text);
            values.push(Entry::Pair(k.clone(), Value::Str(text)));
        }
        let s = |x: &str| Value::Str(x.to_string());
        let pairs = |kv: &[(String, String)]| Value::Map(kv.iter().map(|(k, v)| Entry::Pair(k.clone(), s(v))).collect());
        let mut metadata = vec![Entry::Pair("name".into(), s(&self.name)), Entry::Pair("namespace".into(), s(&self.namespace))];
        if !self.labels.is_empty() {
            metadata.push(Entry::Pair("labels".into(), pairs(&self.labels)));
        }
        if !self.annotations.is_empty() {
            metadata.push(Entry::Pair("annotations".into(), pairs(&self.annotations)));
        }
        let field = match self.encoding {
            Encoding::Data => "data",
            Encoding::StringData => "stringData",
        };
        let doc = Value::Map(vec![
            Entry::Pair("apiVersion".into(), s("v1")),
            Entry::Pair("kind".into(), s("Secret")),
            Entry::Pair("metadata".into(), Value::Map(metadata)),
            Entry::Pair("type".into(), s(self.secret_type.as_deref().unwrap_or("Opaque"))),
            Entry::Pair(field.into(), Value::Map(values)),
        ]);
        super::format::Format::Yaml.emit_plain(&[doc])
    }
}

/// The Secret Flux's kustomize-controller reads to decrypt SOPS files: `sops-age` in `flux-system`, key
/// `age.agekey` holding the age identity file.
pub fn flux_sops_age(identity_file_text: &str) -> SecretManifest {
    SecretManifest {
        name: "sops-age".into(),
        namespace: "flux-system".into(),
        secret_type: None,
        labels: Vec::new(),
        annotations: Vec::new(),
        encoding: Encoding::Data,
        entries: vec![("age.agekey".into(), identity_file_text.as_bytes().to_vec())],
    }
}

fn check_subdomain(field: &str, v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 253
        && v.split('.').all(|p| {
            !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') && !p.starts_with('-') && !p.ends_with('-')
        });
    if ok { Ok(()) } else { Err(format!("{field} '{v}' must be a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253)")) }
}

fn check_label(field: &str, v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 63
        && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !v.starts_with('-')
        && !v.ends_with('-');
    if ok { Ok(()) } else { Err(format!("{field} '{v}' must be a DNS label (lowercase letters, digits and '-', at most 63)")) }
}

fn check_key(k: &str) -> Result<(), String> {
    let ok = !k.is_empty() && k.len() <= 253 && k != "." && k != ".." && k.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if ok { Ok(()) } else { Err(format!("key '{k}' may only hold letters, digits, '-', '_' and '.'")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_secret_has_base64_agekey_and_registers_it() {
        let key = "# public key: age1x\nAGE-SECRET-KEY-1TESTONLYNOTAREALKEY\n";
        let y = flux_sops_age(key).render().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        assert!(y.contains("name: sops-age\n    namespace: flux-system\n"), "{y}");
        assert!(y.contains(&format!("data:\n    age.agekey: {b64}\n")), "{y}");
        assert_eq!(crate::redact::redact(&b64), crate::redact::MASK);
    }

    #[test]
    fn invalid_names_and_keys_are_refused() {
        let mut m = flux_sops_age("x");
        m.name = "Sops_Age".into();
        assert!(m.render().unwrap_err().contains("metadata.name"));
        let mut m = flux_sops_age("x");
        m.entries.push(("bad key".into(), b"v".to_vec()));
        assert!(m.render().unwrap_err().contains("bad key"));
    }
}
