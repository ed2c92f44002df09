//! `hlprov sops doctor`: checks a git repository's secrets hygiene.
//!
//! 1. the available age key decrypts every SOPS file in the work tree (MAC checked);
//! 2. the age key file (if inside the repository) and `*.dec.*` files are ignored by git, and were never
//!    committed (the whole history is scanned, including for `AGE-SECRET-KEY-` text);
//! 3. no file matching a `.sops.yaml` creation rule (one with a `path_regex`) is tracked, or was ever
//!    committed, unencrypted.
//!
//! Findings name files and commits, never secret contents. It reads only; it changes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::config::{self, Config};
use super::format::Format;
use super::keys::Keyring;
use super::sops_file;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    pub message: String,
}

fn ok(m: impl Into<String>) -> Finding {
    Finding { ok: true, message: m.into() }
}
fn bad(m: impl Into<String>) -> Finding {
    Finding { ok: false, message: m.into() }
}

/// Whether `ring` decrypts every SOPS file among `files` (paths relative to `top`): one finding per file that
/// does not, else one that says how many did.
pub fn decrypts_all<'a>(top: &Path, files: impl Iterator<Item = &'a String>, ring: &Keyring) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut count = 0;
    for rel in files {
        let path = top.join(rel);
        let Ok(text) = crate::yaml::read_text_file(&path) else { continue };
        let format = Format::from_path(&path);
        if !sops_file::looks_encrypted(&text, format) {
            continue;
        }
        let Ok(Some(enc)) = sops_file::parse(&text, format, rel) else { continue };
        count += 1;
        if let Err(e) = enc.decrypt(ring) {
            out.push(bad(e.to_string()));
        }
    }
    if out.is_empty() {
        out.push(ok(format!("the age key decrypts all {count} SOPS file(s)")));
    }
    out
}

/// The files git tracks or would track in the work tree at `top`.
pub fn work_tree_files(top: &Path) -> Result<Vec<String>, String> {
    let mut files = lines(git(top, &["ls-files", "-z"])?);
    files.extend(lines(git(top, &["ls-files", "-z", "--others", "--exclude-standard"])?));
    Ok(files)
}

/// The top of the git work tree holding `dir`.
pub fn work_tree_top(dir: &Path) -> Result<PathBuf, String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|e| format!("{}: not a git repository ({e})", dir.display()))?;
    Ok(PathBuf::from(top.trim()))
}

/// Run every check in the repository at `repo`. `key_files` are the key files in use (to check they are not in
/// git). Errors only when `repo` is not a git work tree.
pub fn run(repo: &Path, ring: &Keyring, key_files: &[PathBuf]) -> Result<Vec<Finding>, String> {
    let top = git(repo, &["rev-parse", "--show-toplevel"]).map_err(|e| format!("{}: not a git repository ({e})", repo.display()))?;
    let top = PathBuf::from(top.trim());
    let mut out = Vec::new();
    let tracked = lines(git(&top, &["ls-files", "-z"])?);
    let untracked = lines(git(&top, &["ls-files", "-z", "--others", "--exclude-standard"])?);

    // 1. every encrypted file decrypts.
    out.extend(decrypts_all(&top, tracked.iter().chain(&untracked), ring));

    // 2. key files and *.dec.* files stay out of git.
    for key in key_files {
        let Ok(abs) = std::path::absolute(key) else { continue };
        let Ok(rel) = abs.strip_prefix(&top) else {
            out.push(ok(format!("age key file {} is outside the repository", key.display())));
            continue;
        };
        let rel = rel.to_string_lossy().into_owned();
        if !ignored(&top, &rel) {
            out.push(bad(format!("age key file {rel} is inside the repository and not ignored by git: add it to .gitignore")));
        }
        let commits = lines(git(&top, &["log", "--all", "-z", "--format=%h", "--", &rel])?);
        if !commits.is_empty() {
            out.push(bad(format!("age key file {rel} was committed (in {}): rotate the key", commits.join(", "))));
        }
    }
    if !ignored(&top, "hlprov-doctor-probe.dec.yaml") {
        out.push(bad("*.dec.* files are not ignored by git: add '*.dec.*' to .gitignore"));
    }
    for rel in untracked.iter().chain(&tracked).filter(|p| is_dec_name(p)) {
        out.push(bad(format!("{rel} is a decrypted file visible to git: remove it or ignore it")));
    }
    let all_names = lines(git(&top, &["log", "--all", "-z", "--name-only", "--format="])?);
    for name in dedup(all_names.iter().filter(|n| is_dec_name(n)).cloned().collect()) {
        let commits = lines(git(&top, &["log", "--all", "-z", "--format=%h", "--", &name])?);
        out.push(bad(format!("{name} (a decrypted file) is in git history (in {}): rotate what it held", commits.join(", "))));
    }
    let key_commits = lines(git(&top, &["log", "--all", "-z", "--format=%h", "-S", "AGE-SECRET-KEY-"])?);
    if !key_commits.is_empty() {
        out.push(bad(format!("an age secret key (AGE-SECRET-KEY-…) appears in git history, in {}: rotate it", key_commits.join(", "))));
    }

    // 3. files matching a creation rule are encrypted, now and in history.
    match config::find_from(&top).filter(|p| p.parent() == Some(top.as_path())) {
        None => out.push(ok("no .sops.yaml at the repository root; creation-rule check skipped")),
        Some(cfg_path) => {
            let cfg = Config::load(&cfg_path).map_err(|e| e.to_string())?;
            let mut plain = Vec::new();
            for rel in &tracked {
                if rel == config::CONFIG_NAME || !matches_rule(&cfg, &top.join(rel)) {
                    continue;
                }
                if !blob_encrypted(&top, &format!(":{rel}"), rel) {
                    plain.push(rel.clone());
                    out.push(bad(format!("{rel} matches a creation rule in .sops.yaml but is tracked unencrypted")));
                }
            }
            for name in dedup(all_names.iter().filter(|n| *n != config::CONFIG_NAME && matches_rule(&cfg, &top.join(n))).cloned().collect()) {
                if plain.contains(&name) {
                    continue;
                }
                for c in lines(git(&top, &["log", "--all", "-z", "--format=%h", "--diff-filter=AM", "--", &name])?) {
                    if !blob_encrypted(&top, &format!("{c}:{name}"), &name) {
                        out.push(bad(format!("{name} was committed unencrypted in {c}: rotate what it held")));
                        break;
                    }
                }
            }
        }
    }
    if out.iter().all(|f| f.ok) {
        out.push(ok("key file and decrypted files are kept out of git; files matching creation rules are encrypted"));
    }
    Ok(out)
}

/// Does a creation rule of `cfg` name `path`?
pub fn matches_rule(cfg: &Config, path: &Path) -> bool {
    let rel = cfg.relative(path);
    cfg.creation_rules.iter().any(|r| r.path_regex.as_deref().and_then(|re| regex::Regex::new(re).ok()).is_some_and(|re| re.is_match(&rel)))
}

/// Is the blob `spec` (`:path` for the index, `commit:path`) a SOPS-encrypted file?
fn blob_encrypted(top: &Path, spec: &str, name: &str) -> bool {
    let Ok(text) = git(top, &["show", spec]) else { return true };
    let format = Format::from_path(Path::new(name));
    sops_file::looks_encrypted(&text, format) && matches!(sops_file::parse(&text, format, name), Ok(Some(_)))
}

fn is_dec_name(p: &str) -> bool {
    Path::new(p).file_name().is_some_and(|n| n.to_string_lossy().contains(".dec."))
}

fn ignored(top: &Path, rel: &str) -> bool {
    Command::new("git").arg("-C").arg(top).args(["check-ignore", "-q", "--no-index", rel]).status().is_ok_and(|s| s.success())
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().map_err(|e| format!("cannot run git: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn lines(s: String) -> Vec<String> {
    s.split(['\0', '\n']).map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect()
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}
