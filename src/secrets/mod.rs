//! SOPS + age secrets: reading and writing files in the format of the `sops` tool (YAML, JSON, dotenv, INI,
//! binary) with age recipients, so homelab credentials can live encrypted in git and be used by playbooks.
//!
//! Layers, bottom up: [`cipher`] (one value), [`tree`] (documents), [`rules`] (what is encrypted), [`crypt`]
//! (tree walk and MAC), [`metadata`] (the `sops` block), [`keys`] (age identities and recipients),
//! [`format`] (text in and out), [`sops_file`] (the whole file), then [`config`] (`.sops.yaml`),
//! [`k8s_secret`] (Kubernetes Secret manifests) and [`doctor`] (repository checks).
//!
//! Nothing in here prints decrypted values; whoever obtains them registers them with [`crate::redact`].

pub mod cipher;
pub mod config;
pub mod crypt;
pub mod doctor;
pub mod error;
pub mod format;
pub mod k8s_secret;
pub mod keys;
pub mod metadata;
pub mod paper;
pub mod rules;
pub mod sops_file;
pub mod tree;

pub use error::SopsError;
pub use format::Format;
pub use keys::Keyring;
pub use sops_file::{Decrypted, EncryptOptions, Encrypted};
