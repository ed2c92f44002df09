//! Which values of a SOPS file are encrypted: `unencrypted_suffix` (default `_unencrypted`), `encrypted_suffix`,
//! `unencrypted_regex`, `encrypted_regex` and the comment-based `unencrypted_comment_regex` /
//! `encrypted_comment_regex`, evaluated per value over every key on its path exactly as sops does.
//!
//! The same rules are stored in the file's metadata, so decryption applies what encryption used. This module
//! must not touch values or keys.

use regex::Regex;

/// The sops default when no rule is given.
pub const DEFAULT_UNENCRYPTED_SUFFIX: &str = "_unencrypted";

/// Selection rules as written in `.sops.yaml` or a file's metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub unencrypted_suffix: Option<String>,
    pub encrypted_suffix: Option<String>,
    pub unencrypted_regex: Option<String>,
    pub encrypted_regex: Option<String>,
    pub unencrypted_comment_regex: Option<String>,
    pub encrypted_comment_regex: Option<String>,
    /// The MAC covers only encrypted values (and starts from SHA-256("sops")).
    pub mac_only_encrypted: bool,
}

/// Rules with their regexes compiled.
#[derive(Clone, Debug)]
pub struct Selector {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unencrypted_regex: Option<Regex>,
    encrypted_regex: Option<Regex>,
    unencrypted_comment_regex: Option<Regex>,
    encrypted_comment_regex: Option<Regex>,
}

impl Rules {
    /// sops allows at most one rule; with none, `_unencrypted` applies (and is written down).
    pub fn normalized(mut self) -> Result<Rules, String> {
        let set = [
            &self.unencrypted_suffix,
            &self.encrypted_suffix,
            &self.unencrypted_regex,
            &self.encrypted_regex,
            &self.unencrypted_comment_regex,
            &self.encrypted_comment_regex,
        ]
        .iter()
        .filter(|r| r.as_deref().is_some_and(|s| !s.is_empty()))
        .count();
        if set > 1 {
            return Err("use at most one of unencrypted_suffix, encrypted_suffix, unencrypted_regex, encrypted_regex, \
                 unencrypted_comment_regex, encrypted_comment_regex"
                .into());
        }
        for r in [
            &mut self.unencrypted_suffix,
            &mut self.encrypted_suffix,
            &mut self.unencrypted_regex,
            &mut self.encrypted_regex,
            &mut self.unencrypted_comment_regex,
            &mut self.encrypted_comment_regex,
        ] {
            if r.as_deref() == Some("") {
                *r = None;
            }
        }
        if set == 0 {
            self.unencrypted_suffix = Some(DEFAULT_UNENCRYPTED_SUFFIX.into());
        }
        Ok(self)
    }

    pub fn selector(&self) -> Result<Selector, String> {
        let re = |name: &str, r: &Option<String>| -> Result<Option<Regex>, String> {
            r.as_deref().map(|s| Regex::new(s).map_err(|e| format!("{name} is not a valid regular expression: {e}"))).transpose()
        };
        Ok(Selector {
            unencrypted_suffix: self.unencrypted_suffix.clone(),
            encrypted_suffix: self.encrypted_suffix.clone(),
            unencrypted_regex: re("unencrypted_regex", &self.unencrypted_regex)?,
            encrypted_regex: re("encrypted_regex", &self.encrypted_regex)?,
            unencrypted_comment_regex: re("unencrypted_comment_regex", &self.unencrypted_comment_regex)?,
            encrypted_comment_regex: re("encrypted_comment_regex", &self.encrypted_comment_regex)?,
        })
    }
}

impl Selector {
    /// Is the value at `path` encrypted? `comments` holds, per nesting level, the comments seen since the last
    /// value at that level; `is_comment` says the value is itself the last of those comments.
    /// (sops `Tree.shouldBeEncrypted`; Go's regexp.Match is an unanchored search, as is `Regex::is_match`.)
    pub fn should_encrypt(&self, path: &[String], comments: &[Vec<String>], is_comment: bool) -> bool {
        let mut encrypted = true;
        if let Some(s) = &self.unencrypted_suffix {
            if path.iter().any(|p| p.ends_with(s.as_str())) {
                encrypted = false;
            }
        }
        if let Some(s) = &self.encrypted_suffix {
            encrypted = path.iter().any(|p| p.ends_with(s.as_str()));
        }
        if let Some(re) = &self.unencrypted_regex {
            if path.iter().any(|p| re.is_match(p)) {
                encrypted = false;
            }
        }
        if let Some(re) = &self.encrypted_regex {
            encrypted = path.iter().any(|p| re.is_match(p));
        }
        if let Some(re) = &self.unencrypted_comment_regex {
            if comments.iter().flatten().any(|c| re.is_match(c)) {
                encrypted = false;
            }
        }
        if let Some(re) = &self.encrypted_comment_regex {
            // A comment matching the regex marks what follows; the matching comment line itself stays clear.
            let last_level = comments.len().saturating_sub(1);
            let last_idx = comments.last().map_or(0, |c| c.len().saturating_sub(1));
            encrypted = comments
                .iter()
                .enumerate()
                .any(|(i, level)| level.iter().enumerate().any(|(j, c)| !(is_comment && i == last_level && j == last_idx) && re.is_match(c)));
        }
        encrypted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn suffix_and_regex_rules_apply_to_any_path_component() {
        let default = Rules::default().normalized().unwrap().selector().unwrap();
        assert!(default.should_encrypt(&path(&["db", "password"]), &[], false));
        assert!(!default.should_encrypt(&path(&["hosts_unencrypted", "a"]), &[], false));

        let k8s = Rules { encrypted_regex: Some("^(data|stringData)$".into()), ..Default::default() };
        let k8s = k8s.normalized().unwrap().selector().unwrap();
        assert!(k8s.should_encrypt(&path(&["stringData", "KEY"]), &[], false));
        assert!(!k8s.should_encrypt(&path(&["metadata", "name"]), &[], false));
        assert!(!k8s.should_encrypt(&path(&["metadataX"]), &[], false));
        // Top-level comments have an empty path: nothing matches, so they stay clear under encrypted_regex.
        assert!(!k8s.should_encrypt(&[], &[], true));

        let suffix = Rules { encrypted_suffix: Some("_secret".into()), ..Default::default() };
        let suffix = suffix.normalized().unwrap().selector().unwrap();
        assert!(suffix.should_encrypt(&path(&["db_secret", "x"]), &[], false));
        assert!(!suffix.should_encrypt(&path(&["db", "x"]), &[], false));
    }

    #[test]
    fn comment_regexes() {
        let r = Rules { encrypted_comment_regex: Some("sops:enc".into()), ..Default::default() };
        let s = r.normalized().unwrap().selector().unwrap();
        let marked = vec![vec!["sops:enc".to_string()]];
        assert!(s.should_encrypt(&path(&["a"]), &marked, false));
        assert!(!s.should_encrypt(&path(&["a"]), &marked, true), "the marker comment itself stays clear");
        assert!(!s.should_encrypt(&path(&["b"]), &[vec![]], false));
    }

    #[test]
    fn two_key_rules_are_refused() {
        let r = Rules { encrypted_regex: Some("x".into()), unencrypted_suffix: Some("_u".into()), ..Default::default() };
        assert!(r.normalized().is_err());
    }
}
