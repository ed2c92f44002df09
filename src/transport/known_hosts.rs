//! known_hosts: OpenSSH's file format, read and (for accept-new) appended to.
//!
//! Supports plain and hashed (`|1|salt|hash`) host entries, `*`/`?` wildcards, `!` negation, `[host]:port`,
//! and the `@revoked` marker. `@cert-authority` lines are skipped (hlprov does not verify host certificates).
//! This module decides whether a presented key is trusted; it does not open connections.

use std::path::{Path, PathBuf};

use base64::Engine;
use hmac::{Hmac, Mac};
use russh::keys::{HashAlg, PublicKey};
use sha1::Sha1;

/// How strictly to check a server's host key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HostKeyPolicy {
    /// Only keys already in known_hosts are accepted (OpenSSH's StrictHostKeyChecking=yes).
    #[default]
    Strict,
    /// Unknown hosts are trusted on first use and recorded; a changed key is still refused.
    AcceptNew,
    /// No checking at all. Only for throw-away hosts on a trusted network.
    Off,
}

/// Why a host key was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeyProblem {
    /// No entry for this host (strict mode).
    Unknown { host: String, presented: String, files: Vec<PathBuf> },
    /// An entry exists with the same key type but another key.
    Changed { host: String, expected: String, presented: String, file: PathBuf, line: usize },
    /// The key is marked `@revoked`.
    Revoked { host: String, presented: String, file: PathBuf, line: usize },
    /// Recording a new key failed.
    Record { host: String, error: String },
}

impl std::fmt::Display for HostKeyProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostKeyProblem::Unknown { host, presented, files } => write!(
                f,
                "host key of {host} is not known (presented {presented}; not in {}). Add it to known_hosts, or use --host-key-checking accept-new to trust it on first use",
                files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            ),
            HostKeyProblem::Changed { host, expected, presented, file, line } => write!(
                f,
                "HOST KEY MISMATCH for {host}: expected {expected} ({}:{line}), presented {presented}. Someone may be intercepting the connection, or the host was rebuilt; if so, remove the old entry",
                file.display()
            ),
            HostKeyProblem::Revoked { host, presented, file, line } => {
                write!(f, "host key {presented} of {host} is marked @revoked in {}:{line}", file.display())
            }
            HostKeyProblem::Record { host, error } => write!(f, "cannot record the host key of {host}: {error}"),
        }
    }
}

/// The name a host has in known_hosts: `host` for port 22, else `[host]:port`.
pub fn host_entry_name(host: &str, port: u16) -> String {
    if port == 22 { host.to_string() } else { format!("[{host}]:{port}") }
}

/// The SHA256 fingerprint OpenSSH prints, e.g. `SHA256:abc…`.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// Decide whether `key`, presented by `host:port`, is trusted under `policy` with the given files.
/// In accept-new mode an unknown key is appended to the first file.
pub fn verify(host: &str, port: u16, key: &PublicKey, files: &[PathBuf], policy: HostKeyPolicy) -> Result<(), HostKeyProblem> {
    if policy == HostKeyPolicy::Off {
        return Ok(());
    }
    let name = host_entry_name(host, port);
    let presented = fingerprint(key);
    let mut changed = None;
    for file in files {
        let Ok(text) = std::fs::read_to_string(file) else { continue };
        for (idx, line) in text.lines().enumerate() {
            let Some(entry) = parse_line(line) else { continue };
            if !entry.matches(&name) {
                continue;
            }
            let Ok(recorded) = PublicKey::from_openssh(&format!("{} {}", entry.key_type, entry.key_b64)) else { continue };
            let same = recorded.key_data() == key.key_data();
            match entry.marker {
                Marker::Revoked if same => {
                    return Err(HostKeyProblem::Revoked { host: name, presented, file: file.clone(), line: idx + 1 });
                }
                Marker::None if same => return Ok(()),
                Marker::None if recorded.algorithm() == key.algorithm() && changed.is_none() => {
                    changed = Some((fingerprint(&recorded), file.clone(), idx + 1));
                }
                _ => {}
            }
        }
    }
    if let Some((expected, file, line)) = changed {
        return Err(HostKeyProblem::Changed { host: name, expected, presented, file, line });
    }
    match policy {
        HostKeyPolicy::AcceptNew => {
            let file = files.first().cloned().unwrap_or_else(default_known_hosts);
            append(&file, &name, key).map_err(|e| HostKeyProblem::Record { host: name.clone(), error: e.to_string() })
        }
        _ => Err(HostKeyProblem::Unknown { host: name, presented, files: files.to_vec() }),
    }
}

/// `~/.ssh/known_hosts`.
pub fn default_known_hosts() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root")).join(".ssh/known_hosts")
}

/// Append `name key` to a known_hosts file, creating it (and its directory) if needed.
pub fn append(file: &Path, name: &str, key: &PublicKey) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let existing = std::fs::read(file).unwrap_or_default();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(file)?;
    if !existing.is_empty() && !existing.ends_with(b"\n") {
        f.write_all(b"\n")?;
    }
    let line = format!("{name} {}\n", key.to_openssh().map_err(std::io::Error::other)?);
    f.write_all(line.as_bytes())
}

#[derive(Debug, PartialEq)]
enum Marker {
    None,
    Revoked,
    CertAuthority,
}

struct Entry<'a> {
    marker: Marker,
    hosts: &'a str,
    key_type: &'a str,
    key_b64: &'a str,
}

fn parse_line(line: &str) -> Option<Entry<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let marker = match first {
        "@revoked" => Marker::Revoked,
        "@cert-authority" => Marker::CertAuthority,
        _ => Marker::None,
    };
    if marker != Marker::None {
        first = fields.next()?;
    }
    if marker == Marker::CertAuthority {
        return None;
    }
    Some(Entry { marker, hosts: first, key_type: fields.next()?, key_b64: fields.next()? })
}

impl Entry<'_> {
    /// OpenSSH rules: any negated pattern that matches excludes the line; otherwise any positive match includes it.
    fn matches(&self, name: &str) -> bool {
        host_matches(self.hosts, name)
    }
}

/// Whether a known_hosts line's host field (patterns, or a hashed `|1|salt|hash`) names `name`, by OpenSSH's
/// rules: a matching negated pattern excludes the line; otherwise any positive match includes it.
pub fn host_matches(hosts: &str, name: &str) -> bool {
    if let Some(hashed) = hosts.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    let mut hit = false;
    for pat in hosts.split(',') {
        if let Some(neg) = pat.strip_prefix('!') {
            if wildcard(neg, name) {
                return false;
            }
        } else if wildcard(pat, name) {
            hit = true;
        }
    }
    hit
}

/// `name` hashed as `ssh-keygen -H` hashes it (`|1|salt|hash`, HMAC-SHA1 with a random salt).
pub fn hash_name(name: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD;
    let salt: [u8; 20] = rand::random();
    let mut mac = Hmac::<Sha1>::new_from_slice(&salt).expect("HMAC takes any key length");
    mac.update(name.as_bytes());
    format!("|1|{}|{}", b64.encode(salt), b64.encode(mac.finalize().into_bytes()))
}

fn hashed_matches(hashed: &str, name: &str) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = hashed.split_once('|') else { return false };
    let (Ok(salt), Ok(hash)) = (b64.decode(salt), b64.decode(hash)) else { return false };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else { return false };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// Glob match with `*` and `?`, case-insensitively (host names are).
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    fn key() -> PublicKey {
        crate::transport::keys::generate_ed25519("test").public_key().clone()
    }

    fn hashed_name(name: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let salt = [7u8; 20];
        let mut mac = Hmac::<Sha1>::new_from_slice(&salt).unwrap();
        mac.update(name.as_bytes());
        format!("|1|{}|{}", b64.encode(salt), b64.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn strict_accepts_known_and_refuses_unknown_and_changed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        let (k1, k2) = (key(), key());
        std::fs::write(&file, format!("# comment\n[127.0.0.1]:2222 {}\n", k1.to_openssh().unwrap())).unwrap();
        let files = vec![file.clone()];
        assert_eq!(verify("127.0.0.1", 2222, &k1, &files, HostKeyPolicy::Strict), Ok(()));
        match verify("127.0.0.1", 2222, &k2, &files, HostKeyPolicy::Strict) {
            Err(HostKeyProblem::Changed { expected, presented, line, .. }) => {
                assert_eq!(expected, fingerprint(&k1));
                assert_eq!(presented, fingerprint(&k2));
                assert_eq!(line, 2);
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
        assert!(matches!(verify("127.0.0.1", 2223, &k1, &files, HostKeyPolicy::Strict), Err(HostKeyProblem::Unknown { .. })));
        // A changed key is refused even when trusting new hosts.
        assert!(matches!(verify("127.0.0.1", 2222, &k2, &files, HostKeyPolicy::AcceptNew), Err(HostKeyProblem::Changed { .. })));
    }

    #[test]
    fn hashed_wildcard_negated_and_revoked_entries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kh");
        let (k1, k2, k3) = (key(), key(), key());
        std::fs::write(
            &file,
            format!(
                "{} {}\n*.lab,!bad.lab {}\n@revoked * {}\n",
                hashed_name("node1"),
                k1.to_openssh().unwrap(),
                k2.to_openssh().unwrap(),
                k3.to_openssh().unwrap()
            ),
        )
        .unwrap();
        let files = vec![file];
        assert_eq!(verify("node1", 22, &k1, &files, HostKeyPolicy::Strict), Ok(()));
        assert_eq!(verify("w1.lab", 22, &k2, &files, HostKeyPolicy::Strict), Ok(()));
        assert!(verify("bad.lab", 22, &k2, &files, HostKeyPolicy::Strict).is_err());
        assert!(matches!(verify("any", 22, &k3, &files, HostKeyPolicy::Off), Ok(())));
        assert!(matches!(verify("any", 22, &k3, &files, HostKeyPolicy::AcceptNew), Err(HostKeyProblem::Revoked { .. })));
    }

    #[test]
    fn accept_new_records_then_trusts() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![dir.path().join("sub/known_hosts")];
        let k = key();
        assert_eq!(verify("10.0.0.5", 22, &k, &files, HostKeyPolicy::AcceptNew), Ok(()));
        assert_eq!(verify("10.0.0.5", 22, &k, &files, HostKeyPolicy::Strict), Ok(()));
    }
}
