//! A SOPS file as a whole: detect it, decrypt it (data key from an age identity, every value, then the MAC
//! check — nothing is handed out before the MAC matched), and encrypt plaintext into one.
//!
//! This is the API the CLI and the vars-file reader use. It must not print anything; decrypted values leave it
//! only inside [`Decrypted`], whose secrets the caller registers for redaction.

use std::path::Path;

use super::cipher::DataKey;
use super::crypt::{self, IvStash};
use super::error::SopsError;
use super::format::Format;
use super::keys::{self, Keyring};
use super::metadata::{Metadata, SOPS_FORMAT_VERSION, now_rfc3339};
use super::rules::Rules;
use super::tree::Value;

/// An encrypted file, parsed but not decrypted.
#[derive(Clone, Debug)]
pub struct Encrypted {
    pub file: String,
    pub format: Format,
    pub docs: Vec<Value>,
    pub metadata: Metadata,
}

/// A decrypted file whose MAC matched.
pub struct Decrypted {
    pub file: String,
    pub format: Format,
    /// Plaintext documents, comments included.
    pub docs: Vec<Value>,
    pub metadata: Metadata,
    data_key: DataKey,
    stash: IvStash,
    secrets: Vec<String>,
}

/// What to encrypt a new file to, and which values.
#[derive(Clone, Debug, Default)]
pub struct EncryptOptions {
    /// age recipients (`age1…`); at least one.
    pub recipients: Vec<String>,
    pub rules: Rules,
}

/// Read `path` and parse it as an encrypted file. `Ok(None)` if it is a plain (unencrypted) file.
pub fn read(path: &Path, format: Option<Format>) -> Result<Option<Encrypted>, SopsError> {
    let file = path.display().to_string();
    let text = crate::yaml::read_text_file(path).map_err(|e| SopsError::io(&file, e))?;
    parse(&text, format.unwrap_or_else(|| Format::from_path(path)), &file)
}

/// Parse encrypted text. `Ok(None)` if it has no `sops` metadata.
pub fn parse(text: &str, format: Format, file: &str) -> Result<Option<Encrypted>, SopsError> {
    let parsed = format.parse_encrypted(text, file).map_err(|e| in_file(file, e))?;
    Ok(parsed.map(|(docs, metadata)| Encrypted { file: file.to_string(), format, docs, metadata }))
}

/// Does `text` look like a SOPS file of this format? Cheap: a `sops` key with `mac` and `lastmodified`.
pub fn looks_encrypted(text: &str, format: Format) -> bool {
    match format {
        Format::Dotenv => text.lines().any(|l| l.starts_with("sops_lastmodified=")),
        Format::Ini => text.lines().any(|l| l.trim() == "[sops]"),
        _ => text.contains("sops") && text.contains("lastmodified") && text.contains("mac"),
    }
}

fn in_file(file: &str, msg: String) -> SopsError {
    // YAML loader errors already start with the file name.
    match msg.strip_prefix(file) {
        Some(rest) => SopsError::input(file, rest.trim_start_matches(':').trim_start()),
        None => SopsError::input(file, msg),
    }
}

impl Encrypted {
    /// Unwrap the data key with one of the keyring's identities.
    pub fn data_key(&self, ring: &Keyring) -> Result<DataKey, SopsError> {
        if self.metadata.key_groups > 1 {
            return Err(SopsError::input(&self.file, "the file splits its data key over several key groups (Shamir); hlprov does not support that"));
        }
        ring.unwrap(&self.metadata.age).ok_or_else(|| {
            let mut notes = ring.notes().to_vec();
            if self.metadata.age.is_empty() {
                notes.push("the file has no age recipient; hlprov decrypts with age keys only".into());
            }
            SopsError::NoKey { file: self.file.clone(), recipients: self.metadata.describe_recipients(), tried: ring.describe(), notes }
        })
    }

    /// Decrypt with a key from the keyring and check the MAC.
    pub fn decrypt(self, ring: &Keyring) -> Result<Decrypted, SopsError> {
        let key = self.data_key(ring)?;
        self.decrypt_with(key)
    }

    /// Decrypt with a known data key and check the MAC.
    pub fn decrypt_with(self, key: DataKey) -> Result<Decrypted, SopsError> {
        let Encrypted { file, format, mut docs, metadata } = self;
        let sel = metadata.rules.selector().map_err(|e| SopsError::input(&file, e))?;
        let out = crypt::decrypt_docs(&mut docs, &key, &sel, metadata.rules.mac_only_encrypted).map_err(|e| match e.err {
            // A value that fails authentication was changed or moved: report it like sops, as a MAC problem.
            super::cipher::CipherError::Auth => SopsError::Mac { file: file.clone() },
            err => SopsError::input(&file, format!("value at '{}': {err}", e.path.trim_end_matches(':'))),
        })?;
        if metadata.mac.is_empty() {
            return Err(SopsError::input(&file, "the file has no MAC; hlprov refuses unauthenticated SOPS files"));
        }
        let stored = crypt::open_mac(&metadata.mac, &key, &metadata.lastmodified).map_err(|_| SopsError::Mac { file: file.clone() })?;
        if !stored.eq_ignore_ascii_case(&out.mac) {
            return Err(SopsError::Mac { file });
        }
        Ok(Decrypted { file, format, docs, metadata, data_key: key, stash: out.stash, secrets: out.secrets })
    }
}

impl Decrypted {
    /// The first document as plain data (comments dropped): what a vars file contributes.
    pub fn data(&self) -> serde_json::Value {
        self.docs.first().map(Value::to_json).unwrap_or(serde_json::Value::Null)
    }

    /// Every value that was encrypted in the file, as text.
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// Register every value that was encrypted in the file with the redaction registry.
    pub fn register_secrets(&self) {
        for s in &self.secrets {
            crate::redact::register(s);
        }
    }

    /// The plaintext, in the file's format.
    pub fn emit_plain(&self) -> Result<String, SopsError> {
        self.format.emit_plain(&self.docs).map_err(|e| SopsError::input(&self.file, e))
    }

    pub fn data_key(&self) -> &DataKey {
        &self.data_key
    }

    /// Encrypt `docs` with this file's data key, recipients and rules; values unchanged since decryption keep
    /// their ciphertext (IV reuse, as sops does), so diffs stay small.
    pub fn reencrypt(&self, mut docs: Vec<Value>) -> Result<String, SopsError> {
        let mut md = self.metadata.clone();
        seal(&mut docs, &mut md, &self.data_key, self.stash.clone()).map_err(|e| SopsError::input(&self.file, e))?;
        self.format.emit_encrypted(&docs, &md).map_err(|e| SopsError::input(&self.file, e))
    }

    /// Re-wrap the data key for exactly `recipients` (sops updatekeys), keeping values and MAC as they are.
    pub fn rewrap(&self, recipients: &[String]) -> Result<Metadata, SopsError> {
        let mut md = self.metadata.clone();
        md.age = wrap_all(&self.data_key, recipients).map_err(|e| SopsError::input(&self.file, e))?;
        Ok(md)
    }
}

fn wrap_all(key: &DataKey, recipients: &[String]) -> Result<Vec<super::metadata::AgeKey>, String> {
    if recipients.is_empty() {
        return Err("no age recipient to encrypt to (give --age, or a .sops.yaml creation rule)".into());
    }
    recipients.iter().map(|r| keys::wrap(key, r)).collect()
}

/// Encrypt the tree and fill in lastmodified, MAC and version.
fn seal(docs: &mut [Value], md: &mut Metadata, key: &DataKey, stash: IvStash) -> Result<(), String> {
    let sel = md.rules.selector()?;
    let mac = crypt::encrypt_docs(docs, key, &sel, md.rules.mac_only_encrypted, stash);
    md.lastmodified = now_rfc3339();
    md.mac = crypt::seal_mac(&mac, key, &md.lastmodified);
    md.version = SOPS_FORMAT_VERSION.to_string();
    Ok(())
}

/// Encrypt plaintext `text` (in `format`) into a new SOPS file's text, with a fresh data key.
pub fn encrypt_text(text: &str, format: Format, file: &str, opts: &EncryptOptions) -> Result<String, SopsError> {
    if looks_encrypted(text, format) && parse(text, format, file).ok().flatten().is_some() {
        return Err(SopsError::input(file, "is already encrypted with SOPS"));
    }
    let mut docs = format.parse_plain(text, file).map_err(|e| in_file(file, e))?;
    if docs.iter().any(|d| !matches!(d, Value::Map(_))) {
        return Err(SopsError::input(file, "SOPS encrypts mappings; every document must have a mapping at the top"));
    }
    let rules = opts.rules.clone().normalized().map_err(|e| SopsError::input(file, e))?;
    let key = DataKey::generate();
    let mut md = Metadata {
        age: wrap_all(&key, &opts.recipients).map_err(|e| SopsError::input(file, e))?,
        lastmodified: String::new(),
        mac: String::new(),
        rules,
        version: String::new(),
        other_keys: Vec::new(),
        key_groups: 0,
    };
    seal(&mut docs, &mut md, &key, IvStash::default()).map_err(|e| SopsError::input(file, e))?;
    format.emit_encrypted(&docs, &md).map_err(|e| SopsError::input(file, e))
}
