//! One SOPS value: AES-256-GCM with the file's data key, a random 32-byte IV and the value's path as
//! authenticated data, written as `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`.
//!
//! This module knows nothing about trees, files or keys other than the 32-byte data key. It must never log or
//! format a plaintext: errors say what failed, not what was inside.

use std::collections::HashMap;

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::{U12, U32};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// sops uses a 256-bit IV (Go's `NewGCMWithNonceSize(…, 32)`), not the usual 96-bit one.
const IV_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The per-file symmetric key. Zeroed when dropped; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct DataKey([u8; 32]);

impl DataKey {
    pub fn generate() -> DataKey {
        let mut k = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut k);
        DataKey(k)
    }
    /// A key from raw bytes (an unwrapped age payload); `None` unless exactly 32 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<DataKey> {
        Some(DataKey(b.try_into().ok()?))
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(********)")
    }
}

/// The type tag sops stores next to each ciphertext so a value decrypts to what it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    Str,
    Int,
    Float,
    Bool,
    Bytes,
    Time,
    Comment,
}

impl ValueType {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Bytes => "bytes",
            ValueType::Time => "time",
            ValueType::Comment => "comment",
        }
    }
    fn parse(s: &str) -> Option<ValueType> {
        Some(match s {
            "str" => ValueType::Str,
            // Older sops wrote Go's int64 separately; it is the same thing to us.
            "int" | "int64" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "bytes" => ValueType::Bytes,
            "time" => ValueType::Time,
            "comment" => ValueType::Comment,
            _ => return None,
        })
    }
}

/// Why one value could not be decrypted. Carries no plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    #[error("not a SOPS encrypted value (expected ENC[AES256_GCM,data:…,iv:…,tag:…,type:…])")]
    Malformed,
    #[error("unknown value type '{0}'")]
    UnknownType(String),
    #[error("authentication failed (wrong data key, or the value or its key path was changed)")]
    Auth,
}

/// Is `s` an `ENC[…]` value (a cheap check, not a full parse)?
pub fn looks_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,data:") && s.ends_with(']')
}

/// The parts of an `ENC[…]` string.
struct Parsed {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    typ: ValueType,
}

fn parse(s: &str) -> Result<Parsed, CipherError> {
    let body = s.strip_prefix("ENC[AES256_GCM,").and_then(|r| r.strip_suffix(']')).ok_or(CipherError::Malformed)?;
    let mut fields = HashMap::new();
    for part in body.split(',') {
        let (k, v) = part.split_once(':').ok_or(CipherError::Malformed)?;
        fields.insert(k, v);
    }
    let b64 =
        |k: &str| -> Result<Vec<u8>, CipherError> { B64.decode(fields.get(k).ok_or(CipherError::Malformed)?).map_err(|_| CipherError::Malformed) };
    let typ_text = *fields.get("type").ok_or(CipherError::Malformed)?;
    let typ = ValueType::parse(typ_text).ok_or_else(|| CipherError::UnknownType(typ_text.to_string()))?;
    let (data, iv, tag) = (b64("data")?, b64("iv")?, b64("tag")?);
    if tag.len() != TAG_LEN {
        return Err(CipherError::Malformed);
    }
    Ok(Parsed { data, iv, tag, typ })
}

/// Decrypt one `ENC[…]` value with `aad` (the key path, e.g. `db:password:`).
/// Returns the plaintext bytes, the stored type and the IV (for reuse when re-encrypting unchanged values).
pub fn decrypt(value: &str, key: &DataKey, aad: &str) -> Result<(Vec<u8>, ValueType, Vec<u8>), CipherError> {
    let p = parse(value)?;
    let mut sealed = p.data;
    sealed.extend_from_slice(&p.tag);
    let payload = Payload { msg: &sealed, aad: aad.as_bytes() };
    // sops always writes 32-byte IVs; accept the standard 12-byte size too, as Go's GCM would.
    let plain = match p.iv.len() {
        IV_LEN => AesGcm::<Aes256, U32>::new(key.as_bytes().into()).decrypt(p.iv.as_slice().into(), payload),
        12 => AesGcm::<Aes256, U12>::new(key.as_bytes().into()).decrypt(p.iv.as_slice().into(), payload),
        _ => return Err(CipherError::Malformed),
    }
    .map_err(|_| CipherError::Auth)?;
    Ok((plain, p.typ, p.iv))
}

/// Encrypt `plain` as a value of type `typ` under `aad`. `iv` reuses a previous IV (so an unchanged value keeps
/// its ciphertext and git diffs stay small); `None` draws a fresh one.
pub fn encrypt(plain: &[u8], typ: ValueType, key: &DataKey, aad: &str, iv: Option<&[u8]>) -> String {
    let iv: Vec<u8> = match iv {
        Some(iv) if iv.len() == IV_LEN => iv.to_vec(),
        _ => {
            let mut fresh = vec![0u8; IV_LEN];
            rand::thread_rng().fill_bytes(&mut fresh);
            fresh
        }
    };
    let sealed = AesGcm::<Aes256, U32>::new(key.as_bytes().into())
        .encrypt(iv.as_slice().into(), Payload { msg: plain, aad: aad.as_bytes() })
        .expect("AES-GCM encryption cannot fail for in-memory inputs");
    let (data, tag) = sealed.split_at(sealed.len() - TAG_LEN);
    format!("ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]", B64.encode(data), B64.encode(&iv), B64.encode(tag), typ.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_value_to_its_path() {
        let key = DataKey::generate();
        let enc = encrypt(b"hunter2", ValueType::Str, &key, "db:password:", None);
        assert!(looks_encrypted(&enc), "{enc}");
        let (plain, typ, iv) = decrypt(&enc, &key, "db:password:").unwrap();
        assert_eq!((plain.as_slice(), typ, iv.len()), (&b"hunter2"[..], ValueType::Str, 32));
        // The same ciphertext moved to another key path must not decrypt.
        assert_eq!(decrypt(&enc, &key, "db:user:").unwrap_err(), CipherError::Auth);
        assert_eq!(decrypt(&enc, &DataKey::generate(), "db:password:").unwrap_err(), CipherError::Auth);
        // Reusing the IV reproduces the ciphertext exactly.
        assert_eq!(encrypt(b"hunter2", ValueType::Str, &key, "db:password:", Some(&iv)), enc);
    }

    #[test]
    fn malformed_values_are_refused() {
        let key = DataKey::generate();
        assert_eq!(decrypt("hunter2", &key, "a:").unwrap_err(), CipherError::Malformed);
        assert_eq!(decrypt("ENC[AES256_GCM,data:!!,iv:AA==,tag:AA==,type:str]", &key, "a:").unwrap_err(), CipherError::Malformed);
        let enc = encrypt(b"x", ValueType::Str, &key, "a:", None).replace("type:str", "type:blob");
        assert_eq!(decrypt(&enc, &key, "a:").unwrap_err(), CipherError::UnknownType("blob".into()));
    }
}
