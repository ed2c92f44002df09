//! The `sops` metadata block: age recipients with the wrapped data key, lastmodified, the encrypted MAC, the
//! selection rules and the version — read from and written to a tree (YAML, JSON) or a flat list of
//! `__map_`/`__list_` keys (dotenv, INI), field names and order as sops writes them.
//!
//! Other master-key kinds (pgp, kms, vault, …) are kept only as descriptions for error messages: hlprov
//! decrypts with age only. This module does no cryptography.

use super::rules::Rules;
use super::tree::{Entry, Value};

/// The version hlprov writes: the sops format release it is compatible with.
pub const SOPS_FORMAT_VERSION: &str = "3.11.0";

/// One age recipient and the data key wrapped for it (an ASCII-armored age file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgeKey {
    pub recipient: String,
    pub enc: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metadata {
    pub age: Vec<AgeKey>,
    /// RFC 3339 UTC, exactly as stored: it is the MAC's authenticated data.
    pub lastmodified: String,
    /// The encrypted MAC (`ENC[…]`); empty if the file has none.
    pub mac: String,
    pub rules: Rules,
    pub version: String,
    /// Master keys hlprov cannot use (pgp, kms, …), described for error messages.
    pub other_keys: Vec<String>,
    /// Number of key groups when the file uses Shamir key groups (more than one: unsupported).
    pub key_groups: usize,
}

const MASTER_KINDS: [(&str, &str); 6] =
    [("pgp", "fp"), ("kms", "arn"), ("gcp_kms", "resource_id"), ("azure_kv", "vault_url"), ("hc_vault", "vault_address"), ("hckms", "key_id")];

impl Metadata {
    /// Read the `sops` mapping. `Err` says which field is wrong.
    pub fn from_tree(v: &Value) -> Result<Metadata, String> {
        let Value::Map(_) = v else { return Err(format!("the 'sops' metadata must be a mapping, found {}", v.type_name())) };
        let text = |k: &str| -> Option<String> { v.get(k).and_then(scalar_text) };
        let mut md = Metadata {
            age: Vec::new(),
            lastmodified: text("lastmodified").ok_or("the 'sops' metadata has no 'lastmodified'")?,
            mac: text("mac").unwrap_or_default(),
            rules: Rules {
                unencrypted_suffix: text("unencrypted_suffix"),
                encrypted_suffix: text("encrypted_suffix"),
                unencrypted_regex: text("unencrypted_regex"),
                encrypted_regex: text("encrypted_regex"),
                unencrypted_comment_regex: text("unencrypted_comment_regex"),
                encrypted_comment_regex: text("encrypted_comment_regex"),
                mac_only_encrypted: matches!(v.get("mac_only_encrypted"), Some(Value::Bool(true)))
                    || text("mac_only_encrypted").is_some_and(|s| s == "true"),
            },
            version: text("version").unwrap_or_default(),
            other_keys: Vec::new(),
            key_groups: 0,
        };
        md.read_group(v)?;
        if let Some(Value::Seq(groups)) = v.get("key_groups") {
            md.key_groups = groups.len();
            for g in groups {
                md.read_group(g)?;
            }
        }
        md.rules = md.rules.clone().normalized().map_err(|e| format!("the 'sops' metadata is invalid: {e}"))?;
        Ok(md)
    }

    fn read_group(&mut self, v: &Value) -> Result<(), String> {
        if let Some(Value::Seq(items)) = v.get("age") {
            for (i, item) in items.iter().enumerate() {
                let field = |k: &str| item.get(k).and_then(scalar_text).ok_or(format!("sops.age[{i}] has no '{k}'"));
                self.age.push(AgeKey { recipient: field("recipient")?, enc: field("enc")? });
            }
        }
        for (kind, id) in MASTER_KINDS {
            if let Some(Value::Seq(items)) = v.get(kind) {
                for item in items {
                    let name = item.get(id).and_then(scalar_text).unwrap_or_default();
                    self.other_keys.push(format!("{kind} {name}").trim_end().to_string());
                }
            }
        }
        Ok(())
    }

    /// The mapping sops writes, fields in sops's order; empty lists and unset rules are left out.
    pub fn to_tree(&self) -> Value {
        let mut m = Vec::new();
        let s = |x: &str| Value::Str(x.to_string());
        if !self.age.is_empty() {
            let items = self
                .age
                .iter()
                .map(|k| Value::Map(vec![Entry::Pair("recipient".into(), s(&k.recipient)), Entry::Pair("enc".into(), s(&k.enc))]))
                .collect();
            m.push(Entry::Pair("age".into(), Value::Seq(items)));
        }
        m.push(Entry::Pair("lastmodified".into(), s(&self.lastmodified)));
        m.push(Entry::Pair("mac".into(), s(&self.mac)));
        let r = &self.rules;
        for (k, v) in [
            ("unencrypted_suffix", &r.unencrypted_suffix),
            ("encrypted_suffix", &r.encrypted_suffix),
            ("unencrypted_regex", &r.unencrypted_regex),
            ("encrypted_regex", &r.encrypted_regex),
            ("unencrypted_comment_regex", &r.unencrypted_comment_regex),
            ("encrypted_comment_regex", &r.encrypted_comment_regex),
        ] {
            if let Some(v) = v {
                m.push(Entry::Pair(k.into(), s(v)));
            }
        }
        if r.mac_only_encrypted {
            m.push(Entry::Pair("mac_only_encrypted".into(), Value::Bool(true)));
        }
        m.push(Entry::Pair("version".into(), s(&self.version)));
        Value::Map(m)
    }

    /// Flattened `key=value` pairs for dotenv and INI (`age__list_0__map_enc`), sorted like sops's dotenv store.
    /// Values are raw; the caller escapes newlines.
    pub fn flatten(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        flatten_into(&mut out, String::new(), &self.to_tree());
        out.sort();
        out
    }

    /// Read flattened pairs (prefix already removed, newlines already decoded).
    pub fn unflatten(pairs: &[(String, String)]) -> Result<Metadata, String> {
        let mut root = Value::Map(Vec::new());
        for (k, v) in pairs {
            insert_flat(&mut root, &tokenize(k), Value::Str(v.clone()))?;
        }
        Metadata::from_tree(&root)
    }

    /// All master keys, described: age recipients and the kinds hlprov cannot use.
    pub fn describe_recipients(&self) -> Vec<String> {
        self.age.iter().map(|k| k.recipient.clone()).chain(self.other_keys.iter().cloned()).collect()
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(super::tree::float_text(*f)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn flatten_into(out: &mut Vec<(String, String)>, prefix: String, v: &Value) {
    match v {
        Value::Map(entries) => {
            for e in entries {
                if let Entry::Pair(k, v) = e {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}__map_{k}") };
                    flatten_into(out, key, v);
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten_into(out, format!("{prefix}__list_{i}"), item);
            }
        }
        other => out.push((prefix, scalar_text(other).unwrap_or_default())),
    }
}

enum Token {
    Key(String),
    Index(usize),
}

/// Split `age__list_0__map_enc` into `age`, `[0]`, `enc` (sops `stores/flatten.go`).
fn tokenize(path: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = path;
    let mut current_is_index = false;
    loop {
        let next =
            [rest.find("__map_").map(|i| (i, 6, false)), rest.find("__list_").map(|i| (i, 7, true))].into_iter().flatten().min_by_key(|(i, _, _)| *i);
        let (piece, after) = match next {
            Some((i, len, is_index)) => (&rest[..i], Some((&rest[i + len..], is_index))),
            None => (rest, None),
        };
        tokens.push(if current_is_index { Token::Index(piece.parse().unwrap_or(usize::MAX)) } else { Token::Key(piece.to_string()) });
        match after {
            Some((r, is_index)) => {
                rest = r;
                current_is_index = is_index;
            }
            None => break,
        }
    }
    tokens
}

fn insert_flat(node: &mut Value, tokens: &[Token], leaf: Value) -> Result<(), String> {
    let Some((first, rest)) = tokens.split_first() else {
        *node = leaf;
        return Ok(());
    };
    let empty_child = || match rest.first() {
        Some(Token::Index(_)) => Value::Seq(Vec::new()),
        Some(Token::Key(_)) => Value::Map(Vec::new()),
        None => Value::Null,
    };
    match (first, node) {
        (Token::Key(k), Value::Map(entries)) => {
            let pos = entries.iter().position(|e| matches!(e, Entry::Pair(x, _) if x == k));
            let i = pos.unwrap_or_else(|| {
                entries.push(Entry::Pair(k.clone(), empty_child()));
                entries.len() - 1
            });
            let Entry::Pair(_, child) = &mut entries[i] else { unreachable!() };
            insert_flat(child, rest, leaf)
        }
        (Token::Index(i), Value::Seq(items)) => {
            if *i > 1000 {
                return Err("flattened sops metadata has an absurd list index".into());
            }
            while items.len() <= *i {
                items.push(empty_child());
            }
            insert_flat(&mut items[*i], rest, leaf)
        }
        _ => Err("flattened sops metadata mixes lists and mappings".into()),
    }
}

/// Now as RFC 3339 UTC (`2024-11-12T13:33:42Z`), without a date-time crate.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    rfc3339(secs as i64)
}

/// Seconds since the Unix epoch as RFC 3339 UTC (days-to-civil algorithm by Howard Hinnant).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", tod / 3600, tod % 3600 / 60, tod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_731_418_422), "2024-11-12T13:33:42Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn flatten_round_trips_like_sops_dotenv_keys() {
        let md = Metadata {
            age: vec![AgeKey { recipient: "age1x".into(), enc: "-----BEGIN\nabc\n".into() }],
            lastmodified: "2024-11-12T13:33:42Z".into(),
            mac: "ENC[x]".into(),
            rules: Rules { mac_only_encrypted: true, ..Default::default() }.normalized().unwrap(),
            version: "3.11.0".into(),
            other_keys: vec![],
            key_groups: 0,
        };
        let flat = md.flatten();
        let keys: Vec<&str> = flat.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["age__list_0__map_enc", "age__list_0__map_recipient", "lastmodified", "mac", "mac_only_encrypted", "unencrypted_suffix", "version"]
        );
        assert_eq!(Metadata::unflatten(&flat).unwrap(), md);
    }
}
