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

/// `text` with every registered secret replaced by [`MASK`]. It fails closed: if the fast matcher could not be
/// built, every secret is replaced one by one instead (slower, never skipped).
pub fn redact(text: &str) -> Cow<'_, str> {
    let (matcher, fallback) = {
        let reg = REGISTRY.read().unwrap_or_else(|e| e.into_inner());
        match &reg.matcher {
            Some(m) => (Some(m.clone()), Vec::new()),
            None if reg.secrets.is_empty() => return Cow::Borrowed(text),
            None => (None, reg.secrets.clone()),
        }
    };
    let Some(matcher) = matcher else {
        // Longest first (the registry keeps that order), so a secret holding another is masked whole.
        let mut out = Cow::Borrowed(text);
        for secret in &fallback {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        return out;
    };
    if !matcher.is_match(text) {
        return Cow::Borrowed(text);
    }
    let replacements = vec![MASK; matcher.patterns_len()];
    Cow::Owned(matcher.replace_all(text, &replacements))
}

/// Redact a string in place.
pub fn redact_string(s: &mut String) {
    if let Cow::Owned(masked) = redact(s) {
        *s = masked;
    }
}

/// Redact every string leaf (and key) of a value in place.
pub fn redact_value_mut(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => redact_string(s),
        Value::Array(a) => a.iter_mut().for_each(redact_value_mut),
        Value::Object(m) => {
            // Keys cannot be changed in place: the map is rebuilt only when a key holds a secret.
            if m.keys().any(|k| matches!(redact(k), Cow::Owned(_))) {
                let old = std::mem::take(m);
                for (k, mut val) in old {
                    redact_value_mut(&mut val);
                    m.insert(redact(&k).into_owned(), val);
                }
            } else {
                m.values_mut().for_each(redact_value_mut);
            }
        }
        _ => {}
    }
}

/// A value with every string leaf (and key) redacted.
pub fn redact_value(v: &serde_json::Value) -> serde_json::Value {
    let mut out = v.clone();
    redact_value_mut(&mut out);
    out
}

/// Things that can hide every registered secret they hold, in place. Each type lists its own fields, so a new
/// field that holds text must be added here (the events' implementation is next to them, in `report::event`).
pub trait Redact {
    fn redact(&mut self);
}

impl Redact for String {
    fn redact(&mut self) {
        redact_string(self);
    }
}

impl Redact for serde_json::Value {
    fn redact(&mut self) {
        redact_value_mut(self);
    }
}

impl<T: Redact> Redact for Option<T> {
    fn redact(&mut self) {
        if let Some(v) = self {
            v.redact();
        }
    }
}

impl<T: Redact> Redact for Vec<T> {
    fn redact(&mut self) {
        self.iter_mut().for_each(Redact::redact);
    }
}

impl<A: Redact, B: Redact> Redact for (A, B) {
    fn redact(&mut self) {
        self.0.redact();
        self.1.redact();
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
    fn without_its_fast_matcher_redaction_still_masks_everything() {
        register("canary-for-the-fallback");
        register("canary-for-the-fallback-longer");
        // The error path: the matcher could not be built (each test runs in a process of its own).
        REGISTRY.write().unwrap().matcher = None;
        assert_eq!(redact("a canary-for-the-fallback-longer b"), format!("a {MASK} b"), "the longer secret is masked whole");
        let mut v = serde_json::json!({"canary-for-the-fallback": ["x canary-for-the-fallback y"]});
        redact_value_mut(&mut v);
        assert_eq!(v, serde_json::json!({ MASK: [format!("x {MASK} y")] }));
    }

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
