//! SSH key material: loading the user's private keys and generating new ones (for the lab).

use std::path::{Path, PathBuf};

use rand::RngCore;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, ssh_key::LineEnding};

/// A fresh ed25519 key pair.
pub fn generate_ed25519(comment: &str) -> PrivateKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    key.set_comment(comment);
    key
}

/// The private key in OpenSSH format and the public key line (`ssh-ed25519 AAAA… comment`).
pub fn encode(key: &PrivateKey) -> (String, String) {
    let private = key.to_openssh(LineEnding::LF).expect("encoding an in-memory key cannot fail").to_string();
    let public = key.public_key().to_openssh().expect("encoding an in-memory key cannot fail");
    (private, public)
}

/// Load an unencrypted private key file; encrypted keys must go through ssh-agent.
pub fn load_private_key(path: &Path) -> Result<PrivateKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read private key {}: {e}", path.display()))?;
    let key = PrivateKey::from_openssh(text.as_bytes()).map_err(|e| format!("{} is not an OpenSSH private key: {e}", path.display()))?;
    if key.is_encrypted() {
        return Err(format!("{} is encrypted with a passphrase; load it into ssh-agent (ssh-add) instead", path.display()));
    }
    Ok(key)
}

/// The default identities OpenSSH tries, in its order, that exist.
pub fn default_identity_files() -> Vec<PathBuf> {
    let Some(home) = std::env::var_os("HOME").map(PathBuf::from) else { return Vec::new() };
    ["id_ed25519", "id_ecdsa", "id_rsa"].iter().map(|n| home.join(".ssh").join(n)).filter(|p| p.exists()).collect()
}
