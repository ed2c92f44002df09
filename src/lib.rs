//! hlprov: an Ansible-style host and cluster provisioner. The binary (src/main.rs) is a thin shell around this
//! library; tests and benchmarks use the same library. See docs/architecture.md for the layers.

pub mod cli_sops;
pub mod redact;
pub mod secrets;
pub mod vars_file;
pub mod yaml;
