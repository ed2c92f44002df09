//! What the k3s tests share: stand-in release files (no k3s binary can be had on this machine; the stand-in is
//! a small script that says it is not k3s) with their own checksum file, and an inventory folder whose token
//! is in a SOPS-encrypted file, as users keep it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub const OLD: &str = "v1.36.3+k3s1";
pub const NEW: &str = "v1.36.4+k3s1";
pub const TOKEN: &str = "k3s-role-test-token-7f3a9c2e51d04b68";
pub const GRAFANA_PASSWORD: &str = "grafana-test-password-91c4";

pub fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Stand-in release files for `versions`, laid out as tools/fetch-k3s-artifacts lays out real ones:
/// `<dir>/<version>/{k3s, k3s-airgap-images-amd64.tar.zst, sha256sum-amd64.txt}`.
pub fn artifacts(dir: &Path, versions: &[&str]) {
    for v in versions {
        let d = dir.join(v);
        std::fs::create_dir_all(&d).unwrap();
        let bin = format!(
            "#!/bin/sh\n# A stand-in for the k3s {v} binary, for placement and checksum tests. It is not k3s.\necho 'stand-in, not k3s' >&2\nexit 1\n"
        );
        let images: Vec<u8> =
            (0..4096u32).map(|i| (i.wrapping_mul(2654435761).wrapping_add(v.len() as u32 * 7919) >> 13) as u8).chain(v.bytes()).collect();
        std::fs::write(d.join("k3s"), &bin).unwrap();
        std::fs::write(d.join("k3s-airgap-images-amd64.tar.zst"), &images).unwrap();
        std::fs::write(
            d.join("sha256sum-amd64.txt"),
            format!("{}  k3s\n{}  k3s-airgap-images-amd64.tar.zst\n", sha256(bin.as_bytes()), sha256(&images)),
        )
        .unwrap();
    }
}

pub fn file_sha(dir: &Path, version: &str, name: &str) -> String {
    sha256(&std::fs::read(dir.join(version).join(name)).unwrap())
}

/// An inventory folder with the cluster's token in a SOPS-encrypted group_vars file (a fresh age key, found
/// through SOPS_AGE_KEY_FILE as a user's would be), plus `plain` group vars and the `groups` file.
pub fn secret_inventory(dir: &Path, groups: &str, plain: &str) -> PathBuf {
    let inv = dir.join("inv");
    std::fs::create_dir_all(inv.join("group_vars/all")).unwrap();
    let key = dir.join("age.key");
    let recipient = hlprov::secrets::keys::keygen(&key).unwrap();
    // Each test runs in a process of its own (nextest): setting the variable here affects only this test.
    unsafe { std::env::set_var("SOPS_AGE_KEY_FILE", &key) };
    // The cluster phases' secrets too: the cluster's age key (this same key, whose recipient .sops.yaml lists)
    // and Grafana's admin password.
    std::fs::write(dir.join(".sops.yaml"), format!("creation_rules:\n  - age: {recipient}\n")).unwrap();
    let identity = std::fs::read_to_string(&key).unwrap().lines().find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap().to_string();
    let opts = hlprov::secrets::sops_file::EncryptOptions { recipients: vec![recipient], rules: Default::default() };
    let secrets = format!("k3s_token: {TOKEN}\nsops_age_key: {identity}\nmonitoring_grafana_admin_password: {GRAFANA_PASSWORD}\n");
    let enc = hlprov::secrets::sops_file::encrypt_text(&secrets, hlprov::secrets::Format::Yaml, "k3s.sops.yml", &opts).unwrap();
    assert!(!enc.contains(TOKEN));
    std::fs::write(inv.join("group_vars/all/k3s.sops.yml"), enc).unwrap();
    std::fs::write(inv.join("group_vars/all/main.yml"), plain).unwrap();
    std::fs::write(inv.join("groups.yml"), groups).unwrap();
    inv
}

/// inventory/lab (the example's groups: h1 server, h2 and h3 agents; lab settings) with the SOPS token of
/// `secret` (from [`secret_inventory`]) beside it, as one inventory folder.
pub fn lab_inventory(dir: &Path, secret: &Path) -> PathBuf {
    let d = dir.join("lab-inventory");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("group_vars/all")).unwrap();
    std::os::unix::fs::symlink(repo("inventory/lab/groups.yml"), d.join("groups.yml")).unwrap();
    std::os::unix::fs::symlink(repo("inventory/lab/group_vars/all.yml"), d.join("group_vars/all/lab.yml")).unwrap();
    std::os::unix::fs::symlink(secret.join("group_vars/all/k3s.sops.yml"), d.join("group_vars/all/k3s.sops.yml")).unwrap();
    d
}
