//! Reading variable files (group_vars, host_vars, vars_files, role defaults/vars): YAML or JSON, a mapping at
//! the top. This is the one place a vars file is read, so decryption of SOPS files plugs in here: a file with
//! `sops` metadata is decrypted in memory (MAC checked before any value is used) and every value that was
//! encrypted is registered for redaction. A missing or wrong key fails here, before any host is touched.

use std::path::Path;

use serde_json::Map;

use crate::yaml::{self, Span, Value, YamlError};

/// The variables of one file.
#[derive(Debug, Clone)]
pub struct VarsFile {
    pub vars: Map<String, Value>,
    /// Where each top-level variable was defined, for error messages.
    pub spans: Vec<(String, Span)>,
}

/// Read a vars file. An empty file is an empty mapping; anything but a mapping at the top is an error.
/// SOPS-encrypted files are decrypted with the age identities sops would use (see `crate::secrets::keys`).
pub fn load(path: &Path) -> Result<VarsFile, YamlError> {
    let name = path.display().to_string();
    let text = yaml::read_yaml_file(path)?;
    let node = yaml::load_one(&text, &name)?;
    if is_sops(&node) {
        return load_sops(path, &text, &node);
    }
    from_node(&node)
}

/// Does the document carry SOPS metadata (a top-level `sops` mapping with a `mac` or `lastmodified`)?
fn is_sops(node: &yaml::Node) -> bool {
    node.get("sops").is_some_and(|s| s.get("mac").is_some() || s.get("lastmodified").is_some())
}

fn load_sops(path: &Path, text: &str, node: &yaml::Node) -> Result<VarsFile, YamlError> {
    use crate::secrets::{Format, Keyring, sops_file};
    let name = path.display().to_string();
    let fail = |e: crate::secrets::SopsError| YamlError::new(&Span::new(name.as_str(), 0, 0), crate::redact::redact(&e.detail()).into_owned());
    // JSON vars files are SOPS JSON files; anything else hlprov reads as vars is YAML.
    let format = if Format::from_path(path) == Format::Json { Format::Json } else { Format::Yaml };
    let enc = sops_file::parse(text, format, &name).map_err(fail)?.ok_or_else(|| YamlError::new(&node.span, "malformed 'sops' metadata"))?;
    let plain = enc.decrypt(&Keyring::from_env().map_err(fail)?).map_err(fail)?;
    plain.register_secrets();
    let serde_json::Value::Object(vars) = plain.data() else {
        return Err(YamlError::new(&node.span, "expected a mapping of variable names to values"));
    };
    let spans = node
        .as_map()
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, _)| Some((k.key_string()?, k.span.clone())))
        .filter(|(k, _)| vars.contains_key(k))
        .collect();
    Ok(VarsFile { vars, spans })
}

/// The variables in an already parsed document.
pub fn from_node(node: &yaml::Node) -> Result<VarsFile, YamlError> {
    if node.is_null() {
        return Ok(VarsFile { vars: Map::new(), spans: Vec::new() });
    }
    let Some(entries) = node.as_map() else {
        return Err(YamlError::new(&node.span, format!("expected a mapping of variable names to values, found {}", node.type_name())));
    };
    let mut vars = Map::new();
    let mut spans = Vec::new();
    for (k, v) in entries {
        let Some(name) = k.key_string() else {
            return Err(YamlError::new(&k.span, "a variable name must be a string"));
        };
        vars.insert(name.clone(), v.to_value());
        spans.push((name, k.span.clone()));
    }
    Ok(VarsFile { vars, spans })
}

/// Is `name` a file hlprov reads as variables (inside group_vars/ host_vars/ directories)? Ansible skips hidden
/// files and editor backups (`name~`), and reads files with no extension or a .yml/.yaml/.json one.
pub fn is_vars_file_name(name: &str) -> bool {
    !name.starts_with('.')
        && !name.ends_with('~')
        && (name.ends_with(".yml") || name.ends_with(".yaml") || name.ends_with(".json") || !name.contains('.'))
}
