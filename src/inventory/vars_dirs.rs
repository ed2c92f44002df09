//! `group_vars/` and `host_vars/` directories beside an inventory source or a playbook: which files Ansible reads
//! for a group or host name, and loading them (through [`crate::vars_file`], the one reader of vars files).
//!
//! For a name `web` Ansible reads the first of `web`, `web.yml`, `web.yaml`, `web.json` that exists; if it is a
//! directory, every file in it (sorted, recursively, skipping hidden files, backups `~` and other extensions).
//! This file must not decide precedence between layers; see `layers.rs`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::error::InventoryError;
use crate::vars_file;

/// One vars file that was read, with a non-empty mapping.
#[derive(Debug, Clone)]
pub struct LoadedFile {
    pub path: String,
    pub vars: Map<String, Value>,
}

/// The group_vars/host_vars files of one directory, for the names in the inventory.
#[derive(Debug, Clone, Default)]
pub struct VarsRoot {
    pub groups: HashMap<String, Vec<Arc<LoadedFile>>>,
    pub hosts: HashMap<String, Vec<Arc<LoadedFile>>>,
}

/// Reads vars roots, parsing each file once even when several sources share a directory.
#[derive(Clone, Default)]
pub struct Loader {
    cache: HashMap<PathBuf, Option<Arc<LoadedFile>>>,
}

impl Loader {
    /// Read `dir/group_vars/<g>` for each group and `dir/host_vars/<h>` for each host name.
    pub fn load_root<'a>(
        &mut self,
        dir: &Path,
        groups: impl Iterator<Item = &'a str>,
        hosts: impl Iterator<Item = &'a str>,
    ) -> Result<VarsRoot, InventoryError> {
        let mut root = VarsRoot::default();
        let group_dir = subdir(dir, "group_vars");
        let host_dir = subdir(dir, "host_vars");
        if let Some(gd) = &group_dir {
            for g in groups {
                let files = self.load_entity(gd, g)?;
                if !files.is_empty() {
                    root.groups.insert(g.to_string(), files);
                }
            }
        }
        if let Some(hd) = &host_dir {
            for h in hosts {
                let files = self.load_entity(hd, h)?;
                if !files.is_empty() {
                    root.hosts.insert(h.to_string(), files);
                }
            }
        }
        Ok(root)
    }

    fn load_entity(&mut self, dir: &Path, name: &str) -> Result<Vec<Arc<LoadedFile>>, InventoryError> {
        // Ansible skips names that look like absolute paths (chroot-style host names).
        if name.starts_with('/') || name.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for path in find_vars_files(dir, name) {
            let loaded = match self.cache.get(&path) {
                Some(hit) => hit.clone(),
                None => {
                    let vf = vars_file::load(&path)?;
                    let loaded = (!vf.vars.is_empty()).then(|| Arc::new(LoadedFile { path: path.display().to_string(), vars: vf.vars }));
                    self.cache.insert(path.clone(), loaded.clone());
                    loaded
                }
            };
            // Empty files are skipped, as in Ansible.
            out.extend(loaded);
        }
        Ok(out)
    }
}

/// `dir/name` if it is a directory; a file of that name is ignored (Ansible warns), anything else is absent.
fn subdir(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    p.is_dir().then_some(p)
}

/// The files Ansible's `find_vars_files` returns for `name` in `dir`, in reading order.
pub fn find_vars_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    for ext in ["", ".yml", ".yaml", ".json"] {
        let p = dir.join(format!("{name}{ext}"));
        match std::fs::metadata(&p) {
            Ok(m) if m.is_dir() => return dir_vars_files(&p),
            Ok(_) => return vec![p],
            Err(_) => continue,
        }
    }
    Vec::new()
}

fn dir_vars_files(dir: &Path) -> Vec<PathBuf> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).filter_map(|e| e.file_name().into_string().ok()).collect(),
        Err(_) => return Vec::new(),
    };
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let p = dir.join(&name);
        let Ok(meta) = std::fs::metadata(&p) else { continue };
        if meta.is_dir() {
            // Only extension-less directories are searched, and hidden/backup ones are skipped.
            if !name.starts_with('.') && !name.ends_with('~') && !has_extension(&name) {
                out.extend(dir_vars_files(&p));
            }
        } else if meta.is_file() && vars_file::is_vars_file_name(&name) {
            out.push(p);
        }
    }
    out
}

/// Python's `os.path.splitext(name)[1] != ''` for a file name (leading dots do not start an extension).
fn has_extension(name: &str) -> bool {
    let trimmed = name.trim_start_matches('.');
    trimmed.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(p: &Path, text: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn finds_files_like_ansible() {
        let t = tempfile::tempdir().unwrap();
        let gv = t.path().join("group_vars");
        touch(&gv.join("web.yml"), "a: 1\n");
        touch(&gv.join("web.yaml"), "a: 2\n");
        touch(&gv.join("db/main.yml"), "a: 1\n");
        touch(&gv.join("db/z/extra"), "b: 1\n");
        touch(&gv.join("db/secrets.json"), "{\"c\": 1}\n");
        touch(&gv.join("db/.hidden.yml"), "d: 1\n");
        touch(&gv.join("db/old.yml~"), "d: 1\n");
        touch(&gv.join("db/notes.txt"), "d\n");
        touch(&gv.join("db/sub.d/x.yml"), "d: 1\n");
        let names = |v: Vec<PathBuf>| v.iter().map(|p| p.strip_prefix(&gv).unwrap().display().to_string()).collect::<Vec<_>>();
        assert_eq!(names(find_vars_files(&gv, "web")), ["web.yml"]);
        assert_eq!(names(find_vars_files(&gv, "db")), ["db/main.yml", "db/secrets.json", "db/z/extra"]);
        assert!(find_vars_files(&gv, "none").is_empty());
    }

    #[test]
    fn bad_file_is_an_error_with_its_place() {
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("host_vars/h1.yml"), "a: 1\nb: [1, 2\n");
        let err = Loader::default().load_root(t.path(), std::iter::empty(), ["h1"].into_iter()).unwrap_err();
        assert!(err.to_string().contains("host_vars/h1.yml:"), "{err}");
        touch(&t.path().join("host_vars/h2.yml"), "- a\n");
        let err = Loader::default().load_root(t.path(), std::iter::empty(), ["h2"].into_iter()).unwrap_err();
        assert!(err.to_string().contains("h2.yml:1:1: expected a mapping"), "{err}");
    }

    #[test]
    fn empty_files_are_skipped() {
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("group_vars/all.yml"), "# nothing\n");
        let root = Loader::default().load_root(t.path(), ["all"].into_iter(), std::iter::empty()).unwrap();
        assert!(root.groups.is_empty());
    }
}
