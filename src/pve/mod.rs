//! Proxmox VE: what hlprov's Proxmox modules share. An HTTPS client for the PVE API ([`client`]: token or
//! root@pam ticket, pinned or CA-checked TLS, tasks followed to their end, PVE's error messages kept), the
//! trust it uses ([`tls`]), property strings as PVE writes them back ([`props`]), and the raw `lxc.*` lines of
//! /etc/pve/lxc/VMID.conf ([`conf`], a pure text editor). The generated request and response types come from the
//! `proxmox-api` crate; the transport is this folder's (docs/decisions.md says why).
//!
//! It must not know tasks, inventories or the engine, and it never prints: modules turn its errors into theirs.

pub mod client;
pub mod conf;
pub mod props;
pub mod tls;

pub use client::{Credentials, Endpoint, PveClient, PveError};
pub use tls::Trust;
