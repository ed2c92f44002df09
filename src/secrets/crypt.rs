//! Encrypting and decrypting a whole tree, and its MAC, exactly as sops does (`sops.go` Tree.Encrypt/Decrypt):
//! values are visited in document order, the key path (list indices excluded) joined by `:` plus a trailing
//! `:` is each value's authenticated data, and the MAC is SHA-512 over the plaintext of every non-null,
//! non-comment value (only encrypted ones with `mac_only_encrypted`), stored encrypted under `lastmodified`.
//!
//! This module must not read files or keys; it is given the data key.

use std::collections::HashMap;

use sha2::{Digest, Sha256, Sha512};

use super::cipher::{self, CipherError, DataKey, ValueType};
use super::rules::Selector;
use super::tree::{Entry, Value, float_text};

/// A value that failed to decrypt, with its key path (never its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub path: String,
    pub err: CipherError,
}

/// IVs of decrypted values, so re-encrypting an unchanged value yields the same ciphertext (sops's "stash").
#[derive(Default, Clone)]
pub struct IvStash(HashMap<(String, ValueType, Vec<u8>), Vec<u8>>);

impl Drop for IvStash {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for ((_, _, plain), _) in self.0.drain() {
            let mut plain = plain;
            plain.zeroize();
        }
    }
}

/// What a decryption produced besides the plaintext tree.
pub struct Decryption {
    /// The MAC computed over the plaintext (upper-case hex).
    pub mac: String,
    pub stash: IvStash,
    /// Plaintext of every value that was encrypted in the file (for the redaction registry).
    pub secrets: Vec<String>,
}

struct Walk<'a> {
    key: &'a DataKey,
    sel: &'a Selector,
    mac_only: bool,
    hash: Sha512,
    stash: IvStash,
    secrets: Vec<String>,
    path: Vec<String>,
    comments: Vec<Vec<String>>,
}

impl<'a> Walk<'a> {
    fn new(key: &'a DataKey, sel: &'a Selector, mac_only: bool, stash: IvStash) -> Walk<'a> {
        let mut hash = Sha512::new();
        if mac_only {
            // sops's MACOnlyEncryptedInitialization: a MAC in this mode never equals one in the default mode.
            hash.update(Sha256::digest(b"sops"));
        }
        Walk { key, sel, mac_only, hash, stash, secrets: Vec::new(), path: Vec::new(), comments: Vec::new() }
    }

    fn aad(&self) -> String {
        let mut s = self.path.join(":");
        s.push(':');
        s
    }

    fn hash_if(&mut self, encrypted: bool, bytes: &[u8]) {
        if !self.mac_only || encrypted {
            self.hash.update(bytes);
        }
    }

    fn finish_mac(self) -> (String, IvStash, Vec<String>) {
        (hex::encode_upper(self.hash.finalize()), self.stash, self.secrets)
    }

    // ---- encryption ----

    fn enc_map(&mut self, entries: &mut [Entry]) {
        self.comments.push(Vec::new());
        for e in entries.iter_mut() {
            match e {
                Entry::Comment(text) => {
                    self.comments.last_mut().unwrap().push(text.clone());
                    if let Some(enc) = self.enc_comment(text) {
                        *text = enc;
                    }
                }
                Entry::Pair(k, v) => {
                    self.path.push(k.clone());
                    self.enc_value(v);
                    self.path.pop();
                    self.comments.last_mut().unwrap().clear();
                }
            }
        }
        self.comments.pop();
    }

    fn enc_comment(&mut self, text: &str) -> Option<String> {
        if text.is_empty() || !self.sel.should_encrypt(&self.path, &self.comments, true) {
            return None;
        }
        Some(self.seal(text.as_bytes(), ValueType::Comment))
    }

    fn seal(&self, plain: &[u8], typ: ValueType) -> String {
        let aad = self.aad();
        let iv = self.stash.0.get(&(aad.clone(), typ, plain.to_vec())).cloned();
        cipher::encrypt(plain, typ, self.key, &aad, iv.as_deref())
    }

    fn enc_value(&mut self, v: &mut Value) {
        match v {
            Value::Map(entries) => self.enc_map(entries),
            Value::Seq(items) => {
                self.comments.push(Vec::new());
                for item in items.iter_mut() {
                    if let Value::Comment(text) = item {
                        self.comments.last_mut().unwrap().push(text.clone());
                        // An encrypted comment inside a list becomes a list item of type comment.
                        if let Some(enc) = self.enc_comment(text) {
                            *item = Value::Str(enc);
                        }
                    } else {
                        self.enc_value(item);
                        self.comments.last_mut().unwrap().clear();
                    }
                }
                self.comments.pop();
            }
            Value::Null | Value::Comment(_) => {}
            scalar => {
                let encrypted = self.sel.should_encrypt(&self.path, &self.comments, false);
                let (bytes, typ) = scalar_bytes(scalar);
                self.hash_if(encrypted, &bytes);
                if encrypted && !bytes.is_empty() {
                    *scalar = Value::Str(self.seal(&bytes, typ));
                }
            }
        }
    }

    // ---- decryption ----

    fn dec_map(&mut self, entries: &mut [Entry]) -> Result<(), ValueError> {
        self.comments.push(Vec::new());
        for e in entries.iter_mut() {
            match e {
                Entry::Comment(text) => {
                    self.comments.last_mut().unwrap().push(text.clone());
                    if let Some(plain) = self.dec_comment(text) {
                        *text = plain;
                    }
                }
                Entry::Pair(k, v) => {
                    self.path.push(k.clone());
                    self.dec_value(v)?;
                    self.path.pop();
                    self.comments.last_mut().unwrap().clear();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    /// Comments that do not decrypt are kept as they are: sops does the same (older files had clear comments).
    fn dec_comment(&mut self, text: &str) -> Option<String> {
        if !cipher::looks_encrypted(text) || !self.sel.should_encrypt(&self.path, &self.comments, true) {
            return None;
        }
        let (plain, _, _) = cipher::decrypt(text, self.key, &self.aad()).ok()?;
        Some(String::from_utf8_lossy(&plain).into_owned())
    }

    fn dec_value(&mut self, v: &mut Value) -> Result<(), ValueError> {
        match v {
            Value::Map(entries) => self.dec_map(entries),
            Value::Seq(items) => {
                self.comments.push(Vec::new());
                for item in items.iter_mut() {
                    self.dec_value(item)?;
                    if let Value::Comment(text) = item {
                        self.comments.last_mut().unwrap().push(text.clone());
                    } else {
                        self.comments.last_mut().unwrap().clear();
                    }
                }
                self.comments.pop();
                Ok(())
            }
            Value::Null | Value::Comment(_) => Ok(()),
            scalar => {
                let encrypted = self.sel.should_encrypt(&self.path, &self.comments, false);
                if !encrypted {
                    let (bytes, _) = scalar_bytes(scalar);
                    self.hash_if(false, &bytes);
                    return Ok(());
                }
                let Value::Str(text) = scalar else {
                    return Err(ValueError { path: self.aad(), err: CipherError::Malformed });
                };
                if text.is_empty() {
                    return Ok(()); // sops leaves empty strings unencrypted; they hash to nothing.
                }
                let aad = self.aad();
                let (plain, typ, iv) = cipher::decrypt(text, self.key, &aad).map_err(|err| ValueError { path: aad.clone(), err })?;
                let value = typed_value(&plain, typ).map_err(|err| ValueError { path: aad.clone(), err })?;
                if typ != ValueType::Comment {
                    // Hash what sops hashes: the decoded value re-encoded (e.g. bool "true" hashes as "True").
                    let (bytes, _) = scalar_bytes(&value);
                    self.hash_if(true, &bytes);
                    if let Value::Str(s) | Value::Comment(s) = &value {
                        self.secrets.push(s.clone());
                    } else if !matches!(value, Value::Bool(_)) {
                        self.secrets.push(String::from_utf8_lossy(&bytes).into_owned());
                    }
                }
                self.stash.0.insert((aad, typ, plain), iv);
                *scalar = value;
                Ok(())
            }
        }
    }
}

/// The bytes sops encrypts and hashes for a scalar (`sops.ToBytes`), and its type tag.
fn scalar_bytes(v: &Value) -> (Vec<u8>, ValueType) {
    match v {
        Value::Str(s) => (s.as_bytes().to_vec(), ValueType::Str),
        Value::Int(i) => (i.to_string().into_bytes(), ValueType::Int),
        Value::Float(f) => (float_text(*f).into_bytes(), ValueType::Float),
        Value::Bool(b) => ((if *b { "True" } else { "False" }).as_bytes().to_vec(), ValueType::Bool),
        Value::Comment(s) => (s.as_bytes().to_vec(), ValueType::Comment),
        Value::Null | Value::Seq(_) | Value::Map(_) => (Vec::new(), ValueType::Str),
    }
}

/// A decrypted plaintext as the value its type tag says.
fn typed_value(plain: &[u8], typ: ValueType) -> Result<Value, CipherError> {
    let text = || String::from_utf8(plain.to_vec()).map_err(|_| CipherError::Malformed);
    Ok(match typ {
        ValueType::Str | ValueType::Time => Value::Str(text()?),
        ValueType::Bytes => Value::Str(String::from_utf8_lossy(plain).into_owned()),
        ValueType::Comment => Value::Comment(text()?),
        ValueType::Int => Value::Int(text()?.trim().parse().map_err(|_| CipherError::Malformed)?),
        ValueType::Float => {
            let t = text()?;
            // sops writes whole floats without a fraction ("2" for 2.0) and its own output shows them as integers;
            // read them the same way so `port: 5432` from a JSON file stays usable as a number in templates.
            match t.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Float(go_parse_float(&t).ok_or(CipherError::Malformed)?),
            }
        }
        ValueType::Bool => Value::Bool(match text()?.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => true,
            "0" | "f" | "F" | "false" | "FALSE" | "False" => false,
            _ => return Err(CipherError::Malformed),
        }),
    })
}

fn go_parse_float(t: &str) -> Option<f64> {
    match t {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        "NaN" | "nan" => Some(f64::NAN),
        _ => t.parse().ok(),
    }
}

/// Encrypt every value of `docs` in place; returns the MAC (upper-case hex) over the plaintext.
pub fn encrypt_docs(docs: &mut [Value], key: &DataKey, sel: &Selector, mac_only: bool, stash: IvStash) -> String {
    let mut w = Walk::new(key, sel, mac_only, stash);
    for d in docs.iter_mut() {
        w.enc_value(d);
    }
    w.finish_mac().0
}

/// Decrypt every value of `docs` in place. The caller must compare the returned MAC with the stored one before
/// using anything.
pub fn decrypt_docs(docs: &mut [Value], key: &DataKey, sel: &Selector, mac_only: bool) -> Result<Decryption, ValueError> {
    let mut w = Walk::new(key, sel, mac_only, IvStash::default());
    for d in docs.iter_mut() {
        w.dec_value(d)?;
    }
    let (mac, stash, secrets) = w.finish_mac();
    Ok(Decryption { mac, stash, secrets })
}

/// The MAC as stored: encrypted with `lastmodified` as authenticated data.
pub fn seal_mac(mac: &str, key: &DataKey, lastmodified: &str) -> String {
    cipher::encrypt(mac.as_bytes(), ValueType::Str, key, lastmodified, None)
}

/// The stored MAC, decrypted.
pub fn open_mac(stored: &str, key: &DataKey, lastmodified: &str) -> Result<String, CipherError> {
    let (plain, _, _) = cipher::decrypt(stored, key, lastmodified)?;
    String::from_utf8(plain).map_err(|_| CipherError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::super::rules::Rules;
    use super::*;

    fn doc() -> Value {
        Value::Map(vec![
            Entry::Comment(" top".into()),
            Entry::Pair("pw".into(), Value::Str("hunter2".into())),
            Entry::Pair("port".into(), Value::Int(5432)),
            Entry::Pair("ratio".into(), Value::Float(1.5)),
            Entry::Pair("on".into(), Value::Bool(true)),
            Entry::Pair("empty".into(), Value::Str(String::new())),
            Entry::Pair("none".into(), Value::Null),
            Entry::Pair("list".into(), Value::Seq(vec![Value::Comment(" c".into()), Value::Str("a".into())])),
            Entry::Pair("name_unencrypted".into(), Value::Str("pve1".into())),
        ])
    }

    #[test]
    fn encrypt_then_decrypt_restores_types_comments_and_mac() {
        let key = DataKey::generate();
        let sel = Rules::default().normalized().unwrap().selector().unwrap();
        let mut docs = vec![doc()];
        let mac = encrypt_docs(&mut docs, &key, &sel, false, IvStash::default());
        let enc = &docs[0];
        assert!(cipher::looks_encrypted(enc.get("pw").unwrap().as_str().unwrap()));
        assert_eq!(enc.get("empty"), Some(&Value::Str(String::new())));
        assert_eq!(enc.get("name_unencrypted"), Some(&Value::Str("pve1".into())));
        let Value::Seq(items) = enc.get("list").unwrap() else { panic!() };
        assert!(items[0].as_str().unwrap().ends_with("type:comment]"));
        let out = decrypt_docs(&mut docs, &key, &sel, false).unwrap();
        assert_eq!(out.mac, mac);
        assert_eq!(docs[0], doc());
        assert!(out.secrets.contains(&"hunter2".to_string()) && !out.secrets.contains(&"pve1".to_string()));
    }

    #[test]
    fn mac_only_encrypted_ignores_clear_values() {
        let key = DataKey::generate();
        let sel = Rules::default().normalized().unwrap().selector().unwrap();
        let mut a = vec![doc()];
        let mac_a = encrypt_docs(&mut a, &key, &sel, true, IvStash::default());
        let mut changed = doc();
        let Value::Map(entries) = &mut changed else { panic!() };
        *entries.last_mut().unwrap() = Entry::Pair("name_unencrypted".into(), Value::Str("pve2".into()));
        let mut b = vec![changed];
        assert_eq!(encrypt_docs(&mut b, &key, &sel, true, IvStash::default()), mac_a);
        let mut c = vec![doc()];
        assert_ne!(encrypt_docs(&mut c, &key, &sel, false, IvStash::default()), mac_a);
    }
}
