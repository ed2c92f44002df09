//! age keys: finding the user's identities the way sops does, wrapping the data key for recipients, unwrapping
//! it, and generating a new X25519 identity.
//!
//! Lookup (all sources are combined, as in sops): `SOPS_AGE_KEY` (key text), `SOPS_AGE_KEY_FILE`,
//! `SOPS_AGE_KEY_CMD` (a command printing keys), then `$XDG_CONFIG_HOME/sops/age/keys.txt` (default
//! `~/.config/sops/age/keys.txt`). Secret key text never leaves this module except into a 0600 key file.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;

use super::cipher::DataKey;
use super::error::SopsError;
use super::metadata::AgeKey;

/// The identities available to this process.
pub struct Keyring {
    identities: Vec<(age::x25519::Identity, String)>,
    /// Sources that held keys hlprov cannot use, or could not be read.
    notes: Vec<String>,
}

impl Keyring {
    /// An empty keyring (nothing can be decrypted).
    pub fn empty() -> Keyring {
        Keyring { identities: Vec::new(), notes: Vec::new() }
    }

    /// Every identity from the sops lookup locations. A malformed key file is an error; a missing default file
    /// is not.
    pub fn from_env() -> Result<Keyring, SopsError> {
        let mut ring = Keyring::empty();
        if let Ok(text) = std::env::var("SOPS_AGE_KEY") {
            ring.add_text(&text, "SOPS_AGE_KEY")?;
        }
        if let Some(path) = std::env::var_os("SOPS_AGE_KEY_FILE").filter(|p| !p.is_empty()) {
            ring.add_file(Path::new(&path), "SOPS_AGE_KEY_FILE")?;
        }
        if let Some(cmd) = std::env::var("SOPS_AGE_KEY_CMD").ok().filter(|c| !c.trim().is_empty()) {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| SopsError::Key { msg: format!("SOPS_AGE_KEY_CMD: cannot run: {e}") })?;
            if !out.status.success() {
                return Err(SopsError::Key { msg: format!("SOPS_AGE_KEY_CMD exited with {}", out.status) });
            }
            let text = String::from_utf8(out.stdout).map_err(|_| SopsError::Key { msg: "SOPS_AGE_KEY_CMD printed non-UTF-8 output".into() })?;
            ring.add_text(&text, "SOPS_AGE_KEY_CMD")?;
        }
        if let Some(path) = default_key_file() {
            if path.exists() {
                ring.add_file(&path, &path.display().to_string())?;
            }
        }
        Ok(ring)
    }

    /// Add the identities in a keys.txt file.
    pub fn add_file(&mut self, path: &Path, source: &str) -> Result<(), SopsError> {
        let label = if source == path.display().to_string() { source.to_string() } else { format!("{source}={}", path.display()) };
        let text = std::fs::read_to_string(path).map_err(|e| SopsError::Key { msg: format!("{label}: cannot read age key file: {e}") })?;
        self.add_text(&text, &label)
    }

    /// Add identities from keys.txt-style text: one `AGE-SECRET-KEY-1…` per line, `#` comments.
    pub fn add_text(&mut self, text: &str, source: &str) -> Result<(), SopsError> {
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.starts_with("AGE-PLUGIN-") || line.starts_with("AGE-SECRET-KEY-PQ-") {
                self.notes.push(format!("{source} line {}: plugin and post-quantum age identities are not supported by hlprov", i + 1));
                continue;
            }
            // The parse error is not shown: it could echo part of the secret line.
            let id = age::x25519::Identity::from_str(line)
                .map_err(|_| SopsError::Key { msg: format!("{source} line {}: not an age identity (expected AGE-SECRET-KEY-1…)", i + 1) })?;
            let recipient = id.to_public().to_string();
            self.identities.push((id, format!("{recipient} from {source}")));
        }
        Ok(())
    }

    /// The public recipients of the identities, each with its source.
    pub fn describe(&self) -> Vec<String> {
        self.identities.iter().map(|(_, d)| d.clone()).collect()
    }

    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    pub fn is_empty(&self) -> bool {
        self.identities.is_empty()
    }

    /// Public recipients (`age1…`) of the identities.
    pub fn recipients(&self) -> Vec<String> {
        self.identities.iter().map(|(id, _)| id.to_public().to_string()).collect()
    }

    /// Unwrap the data key from any stanza one of our identities opens; stanzas addressed to our own recipients
    /// are tried first. `None` if none opens.
    pub fn unwrap(&self, stanzas: &[AgeKey]) -> Option<DataKey> {
        let mine = self.recipients();
        let (first, rest): (Vec<&AgeKey>, Vec<&AgeKey>) = stanzas.iter().partition(|s| mine.contains(&s.recipient));
        first.into_iter().chain(rest).find_map(|s| self.unwrap_one(&s.enc))
    }

    fn unwrap_one(&self, armored: &str) -> Option<DataKey> {
        let reader = age::armor::ArmoredReader::new(armored.trim_start().as_bytes());
        let decryptor = age::Decryptor::new(reader).ok()?;
        let ids = self.identities.iter().map(|(id, _)| id as &dyn age::Identity);
        let mut plain = zeroize::Zeroizing::new(Vec::new());
        decryptor.decrypt(ids).ok()?.read_to_end(&mut plain).ok()?;
        DataKey::from_bytes(&plain)
    }
}

/// Check that `r` is an age X25519 recipient (`age1…`).
pub fn parse_recipient(r: &str) -> Result<age::x25519::Recipient, String> {
    age::x25519::Recipient::from_str(r.trim()).map_err(|_| {
        if r.starts_with("ssh-") {
            format!("'{r}': SSH recipients are not supported by hlprov; use an age X25519 recipient (age1…)")
        } else {
            format!("'{r}' is not an age recipient (expected age1…)")
        }
    })
}

/// The data key wrapped for one recipient, ASCII-armored (what sops stores in `sops.age[].enc`).
pub fn wrap(key: &DataKey, recipient: &str) -> Result<AgeKey, String> {
    let r = parse_recipient(recipient)?;
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor).map_err(|e| e.to_string())?;
    let mut w = encryptor.wrap_output(armor).map_err(|e| e.to_string())?;
    w.write_all(key.as_bytes()).map_err(|e| e.to_string())?;
    w.finish().and_then(|a| a.finish()).map_err(|e| e.to_string())?;
    let mut enc = String::from_utf8(out).map_err(|e| e.to_string())?;
    if !enc.ends_with('\n') {
        enc.push('\n');
    }
    Ok(AgeKey { recipient: r.to_string(), enc })
}

/// Where sops looks for keys by default: `$XDG_CONFIG_HOME/sops/age/keys.txt`, else `~/.config/sops/age/keys.txt`.
pub fn default_key_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("sops").join("age").join("keys.txt"))
}

/// Generate an identity into `path` (mode 0600, parent directories 0700), refusing to overwrite.
/// Returns the public recipient.
pub fn keygen(path: &Path) -> Result<String, SopsError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public().to_string();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| SopsError::io(dir.display(), e))?;
    }
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            SopsError::input(path.display(), "already exists; refusing to overwrite an age key (choose another file with -o)")
        } else {
            SopsError::io(path.display(), e)
        }
    })?;
    let text = zeroize::Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        super::metadata::now_rfc3339(),
        id.to_string().expose_secret()
    ));
    f.write_all(text.as_bytes()).and_then(|_| f.sync_all()).map_err(|e| SopsError::io(path.display(), e))?;
    Ok(recipient)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_key_unwraps_only_with_the_right_identity() {
        let id = age::x25519::Identity::generate();
        let key = DataKey::generate();
        let stanza = wrap(&key, &id.to_public().to_string()).unwrap();
        assert!(stanza.enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"), "{}", stanza.enc);
        let mut ring = Keyring::empty();
        ring.add_text(id.to_string().expose_secret(), "test").unwrap();
        assert_eq!(ring.unwrap(std::slice::from_ref(&stanza)), Some(key));
        let mut other = Keyring::empty();
        other.add_text(age::x25519::Identity::generate().to_string().expose_secret(), "other").unwrap();
        assert_eq!(other.unwrap(&[stanza]), None);
    }

    #[test]
    fn bad_key_lines_name_the_source_and_line_but_not_the_text() {
        let mut ring = Keyring::empty();
        let err = ring.add_text("# c\nAGE-SECRET-KEY-1NOTAKEY\n", "keys.txt").unwrap_err().to_string();
        assert!(err.contains("keys.txt line 2"), "{err}");
        assert!(!err.contains("NOTAKEY"), "{err}");
    }

    #[test]
    fn keygen_writes_0600_and_refuses_to_overwrite() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/keys.txt");
        let r = keygen(&path).unwrap();
        assert!(r.starts_with("age1"));
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let mut ring = Keyring::empty();
        ring.add_file(&path, "f").unwrap();
        assert_eq!(ring.recipients(), vec![r]);
        assert!(keygen(&path).unwrap_err().to_string().contains("refusing to overwrite"));
    }
}
