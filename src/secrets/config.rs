//! `.sops.yaml`: the creation rules that say which age recipients and which selection rules a new file gets.
//! The first rule whose `path_regex` matches the file's path (relative to the directory holding `.sops.yaml`,
//! as sops does) wins; a rule without `path_regex` matches every file. Recipients come from `age` (a
//! comma-separated string or a list) or from a single `key_groups` entry.
//!
//! Reading only: this module never writes `.sops.yaml` and never touches keys.

use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::Value as J;

use super::error::SopsError;
use super::rules::Rules;

pub const CONFIG_NAME: &str = ".sops.yaml";

#[derive(Clone, Debug)]
pub struct CreationRule {
    pub path_regex: Option<String>,
    pub recipients: Vec<String>,
    pub rules: Rules,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub path: PathBuf,
    pub creation_rules: Vec<CreationRule>,
}

/// The nearest `.sops.yaml` from `start` (a directory) upwards.
pub fn find_from(start: &Path) -> Option<PathBuf> {
    let start = std::path::absolute(start).ok()?;
    start.ancestors().map(|d| d.join(CONFIG_NAME)).find(|p| p.is_file())
}

/// The `.sops.yaml` that applies to `file`: searched from the file's directory, then from the working directory.
pub fn find_for(file: &Path) -> Option<PathBuf> {
    let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    find_from(dir).or_else(|| find_from(Path::new(".")))
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, SopsError> {
        let file = path.display().to_string();
        let node = crate::yaml::load_file(path).map_err(|e| SopsError::input(&file, e.msg.clone() + &format!(" (line {})", e.span.line)))?;
        let v = node.to_value();
        let bad = |msg: String| SopsError::input(&file, msg);
        let rules = match v.get("creation_rules") {
            None | Some(J::Null) => Vec::new(),
            Some(J::Array(rules)) => rules.iter().enumerate().map(|(i, r)| parse_rule(i, r).map_err(bad)).collect::<Result<_, _>>()?,
            Some(_) => return Err(bad("creation_rules must be a list".into())),
        };
        Ok(Config { path: path.to_path_buf(), creation_rules: rules })
    }

    /// The first rule matching `file`. `Ok(None)` if none matches.
    pub fn rule_for(&self, file: &Path) -> Result<Option<&CreationRule>, SopsError> {
        let rel = self.relative(file);
        for r in &self.creation_rules {
            match &r.path_regex {
                None => return Ok(Some(r)),
                Some(re) => {
                    let re = Regex::new(re).map_err(|e| SopsError::input(self.path.display(), format!("path_regex '{re}' is invalid: {e}")))?;
                    if re.is_match(&rel) {
                        return Ok(Some(r));
                    }
                }
            }
        }
        Ok(None)
    }

    /// `file` relative to the directory of `.sops.yaml` (what `path_regex` is matched against).
    pub fn relative(&self, file: &Path) -> String {
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_path_buf());
        let dir = self.path.parent().map(|d| std::path::absolute(d).unwrap_or_else(|_| d.to_path_buf())).unwrap_or_default();
        abs.strip_prefix(&dir).unwrap_or(&abs).to_string_lossy().into_owned()
    }
}

fn parse_rule(i: usize, r: &J) -> Result<CreationRule, String> {
    let at = format!("creation_rules[{i}]");
    let J::Object(m) = r else { return Err(format!("{at} must be a mapping")) };
    let text = |k: &str| -> Result<Option<String>, String> {
        match m.get(k) {
            None | Some(J::Null) => Ok(None),
            Some(J::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(format!("{at}.{k} must be a string")),
        }
    };
    let mut recipients = recipients_of(m.get("age")).map_err(|e| format!("{at}.age: {e}"))?;
    if let Some(groups) = m.get("key_groups") {
        let J::Array(groups) = groups else { return Err(format!("{at}.key_groups must be a list")) };
        if groups.len() > 1 {
            return Err(format!("{at}: several key_groups (Shamir secret sharing) are not supported by hlprov"));
        }
        for g in groups {
            recipients.extend(recipients_of(g.get("age")).map_err(|e| format!("{at}.key_groups[0].age: {e}"))?);
        }
    }
    if recipients.is_empty() {
        let other: Vec<&str> =
            ["pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri"].into_iter().filter(|k| m.contains_key(*k)).collect();
        if !other.is_empty() {
            return Err(format!("{at} uses {}; hlprov encrypts with age recipients only", other.join(", ")));
        }
    }
    for r in &recipients {
        super::keys::parse_recipient(r).map_err(|e| format!("{at}: {e}"))?;
    }
    let rules = Rules {
        unencrypted_suffix: text("unencrypted_suffix")?,
        encrypted_suffix: text("encrypted_suffix")?,
        unencrypted_regex: text("unencrypted_regex")?,
        encrypted_regex: text("encrypted_regex")?,
        unencrypted_comment_regex: text("unencrypted_comment_regex")?,
        encrypted_comment_regex: text("encrypted_comment_regex")?,
        mac_only_encrypted: matches!(m.get("mac_only_encrypted"), Some(J::Bool(true))),
    };
    rules.clone().normalized().map_err(|e| format!("{at}: {e}"))?.selector().map_err(|e| format!("{at}: {e}"))?;
    Ok(CreationRule { path_regex: text("path_regex")?, recipients, rules })
}

fn recipients_of(v: Option<&J>) -> Result<Vec<String>, String> {
    Ok(match v {
        None | Some(J::Null) => Vec::new(),
        Some(J::String(s)) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect(),
        Some(J::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map(|s| s.trim().to_string()).ok_or_else(|| "recipients must be strings".to_string()))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("expected a comma-separated string or a list of recipients".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_rule_wins_relative_to_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        let r1 = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29";
        let r2 = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";
        std::fs::write(
            dir.path().join(CONFIG_NAME),
            format!(
                "creation_rules:\n  - path_regex: ^k8s/.*\\.yaml$\n    encrypted_regex: ^(data|stringData)$\n    key_groups:\n      - age: [{r1}, {r2}]\n  - path_regex: group_vars/\n    age: {r1},{r2}\n  - age: {r1}\n"
            ),
        )
        .unwrap();
        let cfg = Config::load(&dir.path().join(CONFIG_NAME)).unwrap();
        let k8s = cfg.rule_for(&dir.path().join("k8s/secret.yaml")).unwrap().unwrap();
        assert_eq!(k8s.recipients, [r1, r2]);
        assert_eq!(k8s.rules.encrypted_regex.as_deref(), Some("^(data|stringData)$"));
        let gv = cfg.rule_for(&dir.path().join("inventory/group_vars/all.yaml")).unwrap().unwrap();
        assert_eq!(gv.recipients, [r1, r2]);
        assert_eq!(gv.rules.encrypted_regex, None);
        let other = cfg.rule_for(&dir.path().join("other.yaml")).unwrap().unwrap();
        assert_eq!(other.recipients, [r1]);
    }

    #[test]
    fn pgp_only_rules_and_shamir_are_refused_with_the_rule_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CONFIG_NAME);
        std::fs::write(&p, "creation_rules:\n  - pgp: FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4\n").unwrap();
        let err = Config::load(&p).unwrap_err().to_string();
        assert!(err.contains("creation_rules[0] uses pgp"), "{err}");
        std::fs::write(&p, "creation_rules:\n  - key_groups: [{age: [a]}, {age: [b]}]\n").unwrap();
        assert!(Config::load(&p).unwrap_err().to_string().contains("Shamir"));
    }
}
