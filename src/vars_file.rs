//! Reading variable files (group_vars, host_vars, vars_files, role defaults/vars): YAML or JSON, a mapping at
//! the top. This is the one place a vars file is read, so decryption of SOPS files plugs in here.

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
pub fn load(path: &Path) -> Result<VarsFile, YamlError> {
    let node = yaml::load_file(path)?;
    from_node(&node)
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
