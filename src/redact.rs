//! Secret redaction: every string that reaches a user (terminal, JSON events, JUnit, run records, errors) passes
//! through [`redact`]. Secrets are registered once, where they enter hlprov (SOPS files, become passwords,
//! `no_log` results), so no output sink can forget to hide them.

use std::borrow::Cow;
use std::sync::{Arc, RwLock};

use aho_corasick::AhoCorasick;

/// What replaces a secret in output.
pub const MASK: &str = "********";

/// Secrets shorter than this are not registered: masking every "1" or "no" would garble output and hide nothing.
pub const MIN_SECRET_LEN: usize = 4;

#[derive(Default)]
struct Registry {
    secrets: Vec<String>,
    matcher: Option<Arc<AhoCorasick>>,
}

static REGISTRY: RwLock<Registry> = RwLock::new(Registry { secrets: Vec::new(), matcher: None });

/// Remember `secret` (and its base64 form, which templates often produce) so it is masked everywhere.
pub fn register(secret: &str) {
    use base64::Engine;
    let secret = secret.trim_end_matches('\n');
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let b64 = base64::engine::general_purpose::STANDARD.encode(secret.as_bytes());
    let mut reg = REGISTRY.write().unwrap_or_else(|e| e.into_inner());
    let mut added = false;
    for s in [secret.to_string(), b64] {
        if !reg.secrets.contains(&s) {
            reg.secrets.push(s);
            added = true;
        }
    }
    if added {
        // Longest first so a secret containing another is masked whole.
        reg.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        reg.matcher = AhoCorasick::builder().match_kind(aho_corasick::MatchKind::LeftmostLongest).build(&reg.secrets).ok().map(Arc::new);
    }
}

/// Register every string leaf of a value (a decrypted SOPS document, a `no_log` result).
pub fn register_value(v: &serde_json::Value) {
    match v {
        serde_json::Value::String(s) => register(s),
        serde_json::Value::Number(n) => register(&n.to_string()),
        serde_json::Value::Array(a) => a.iter().for_each(register_value),
        serde_json::Value::Object(m) => m.values().for_each(register_value),
        _ => {}
    }
}

/// `text` with every registered secret replaced by [`MASK`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let matcher = {
        let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
        match &reg.matcher {
            Some(m) => m.clone(),
            None => return Cow::Borrowed(text),
        }
    };
    if !matcher.is_match(text) {
        return Cow::Borrowed(text);
    }
    let replacements = vec![MASK; matcher.patterns_len()];
    Cow::Owned(matcher.replace_all(text, &replacements))
}

/// A value with every string leaf (and key) redacted.
pub fn redact_value(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::String(s) => Value::String(redact(s).into_owned()),
        Value::Array(a) => Value::Array(a.iter().map(redact_value).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (redact(k).into_owned(), redact_value(v))).collect()),
        other => other.clone(),
    }
}

/// A secret held in a struct (a become password): registered for redaction when made, and its `Debug` prints
/// the mask, so a `{:?}` of options in a log line or a panic cannot show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        register(&value);
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_and_their_base64_are_masked() {
        register("hunter2-canary");
        assert_eq!(redact("pw=hunter2-canary;"), format!("pw={MASK};"));
        assert_eq!(redact("aHVudGVyMi1jYW5hcnk="), MASK);
        assert_eq!(redact("nothing here"), "nothing here");
        register("no");
        assert_eq!(redact("no"), "no", "short strings are not treated as secrets");
    }

    #[test]
    fn a_secret_in_a_struct_never_prints() {
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Opts {
            password: Option<Secret>,
        }
        let o = Opts { password: Some(Secret::new("s3cr3t-in-options")) };
        assert_eq!(format!("{o:?}"), format!("Opts {{ password: Some({MASK}) }}"));
        assert_eq!(redact("oops s3cr3t-in-options"), format!("oops {MASK}"), "registered when made");
    }
}
