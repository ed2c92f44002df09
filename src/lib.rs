//! hlprov: an Ansible-style host and cluster provisioner. The binary (src/main.rs) is a thin shell around this
//! library; tests and benchmarks use the same library. See docs/architecture.md for the layers.

#![cfg_attr(not(test), forbid(unsafe_code))]
// Unit tests may set environment variables (unsafe since Rust 2024; each test runs in a process of its own).
#![cfg_attr(test, deny(unsafe_code))]

pub mod cli;
pub mod exec;
pub mod graph;
pub mod inventory;
pub mod lab;
pub mod manifests;
pub mod modules;
pub mod playbook;
pub mod pve;
pub mod redact;
pub mod report;
pub mod secrets;
pub mod template;
pub mod transport;
pub mod vars;
pub mod vars_file;
pub mod yaml;
