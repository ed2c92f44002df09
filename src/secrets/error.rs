//! Errors of the SOPS layer. Every error names the file it is about and says what was expected; none may carry
//! a decrypted value (messages are built from key paths, recipients and positions only).

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SopsError {
    /// The file (or a `.sops.yaml`) is not what hlprov expects: syntax, metadata, unsupported feature.
    Input { file: String, msg: String },
    /// Reading or writing failed.
    Io { file: String, msg: String },
    /// None of the available age identities unwraps the data key.
    NoKey {
        file: String,
        /// Recipients the file is encrypted to (and other master keys, described).
        recipients: Vec<String>,
        /// Recipients of the identities that were tried, with where they came from.
        tried: Vec<String>,
        /// Identity sources that could not be used (unsupported key types, unreadable files).
        notes: Vec<String>,
    },
    /// The values do not match the MAC: the file was changed without the data key, or is corrupt.
    Mac { file: String },
    /// A key or key file problem that is not about one SOPS file.
    Key { msg: String },
}

impl SopsError {
    pub fn input(file: impl fmt::Display, msg: impl Into<String>) -> SopsError {
        SopsError::Input { file: file.to_string(), msg: msg.into() }
    }
    pub fn io(file: impl fmt::Display, e: impl fmt::Display) -> SopsError {
        SopsError::Io { file: file.to_string(), msg: e.to_string() }
    }
    /// Process exit code for the CLI: 4 for bad input, 1 for everything else.
    pub fn exit_code(&self) -> i32 {
        match self {
            SopsError::Input { .. } | SopsError::Mac { .. } => 4,
            _ => 1,
        }
    }
}

impl SopsError {
    /// The file the error is about, if any.
    pub fn file(&self) -> Option<&str> {
        match self {
            SopsError::Input { file, .. } | SopsError::Io { file, .. } | SopsError::Mac { file } | SopsError::NoKey { file, .. } => Some(file),
            SopsError::Key { .. } => None,
        }
    }

    /// The message without the file name (for callers that print the file themselves).
    pub fn detail(&self) -> String {
        match self {
            SopsError::Input { msg, .. } | SopsError::Io { msg, .. } | SopsError::Key { msg } => msg.clone(),
            SopsError::Mac { .. } => "MAC mismatch: the encrypted values do not match the file's message authentication code \
                 (the file was edited without sops/hlprov, or is corrupt); nothing from it was used"
                .into(),
            SopsError::NoKey { recipients, tried, notes, .. } => {
                let mut s = format!("cannot decrypt: the file is encrypted to {}", list_or(recipients, "no recipient"));
                if tried.is_empty() {
                    let default = crate::secrets::keys::default_key_file()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "~/.config/sops/age/keys.txt".into());
                    s.push_str(&format!("; no age identity was found (set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY, or put it in {default})"));
                } else {
                    s.push_str(&format!("; the available identities ({}) match none of them", tried.join(", ")));
                }
                for n in notes {
                    s.push_str("; ");
                    s.push_str(n);
                }
                s
            }
        }
    }
}

impl fmt::Display for SopsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.file() {
            Some(file) => write!(f, "{file}: {}", self.detail()),
            None => f.write_str(&self.detail()),
        }
    }
}

fn list_or(items: &[String], none: &str) -> String {
    if items.is_empty() { none.to_string() } else { items.join(", ") }
}

impl std::error::Error for SopsError {}
