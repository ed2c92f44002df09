//! Inventory sources (`-i`): a file, a directory of files, or a comma-separated host list (`-i 'a,b,'`), and
//! which parser each file gets, following Ansible's plugin order: files named `.yml`/`.yaml`/`.json` or with no
//! extension are tried as YAML first and then as INI; any other file is INI. In a directory, files are read in
//! sorted order, recursively, skipping hidden files, group_vars/, host_vars/ and Ansible's ignored extensions
//! (`.md`, `.txt`, `.cfg`, `.retry`, `~`, ...).
//!
//! Where Ansible only warns that a source could not be parsed and carries on with less inventory, hlprov stops
//! with the parse error. This file must not read group_vars/host_vars or resolve host patterns.

use std::path::{Path, PathBuf};

use super::address::parse_address;
use super::error::InventoryError;
use super::graph::{Graph, UNGROUPED};
use super::{ini, yaml_inventory};
use crate::yaml;

/// File name endings Ansible ignores in an inventory directory (REJECT_EXTS + .orig, .cfg, .retry).
const IGNORED_SUFFIXES: [&str; 12] = [".pyc", ".pyo", ".swp", ".bak", "~", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry"];
const YAML_EXTENSIONS: [&str; 3] = [".yml", ".yaml", ".json"];

/// Read one `-i` source into `graph`.
pub fn load(source: &Path, graph: &mut Graph) -> Result<(), InventoryError> {
    let text = source.to_string_lossy();
    if text.contains(',') && !source.exists() {
        host_list(&text, graph);
        return Ok(());
    }
    let meta = std::fs::metadata(source).map_err(|e| InventoryError::in_file(&text, format!("cannot read inventory source: {e}")))?;
    if meta.is_dir() { load_dir(source, graph) } else { load_file(source, graph) }
}

/// The directory whose group_vars/ and host_vars/ belong to `source` (`None` for host lists).
pub fn vars_dir(source: &Path) -> Option<PathBuf> {
    if source.to_string_lossy().contains(',') && !source.exists() {
        return None;
    }
    if source.is_dir() {
        return Some(source.to_path_buf());
    }
    match source.parent() {
        Some(p) if !p.as_os_str().is_empty() => Some(p.to_path_buf()),
        _ => Some(PathBuf::from(".")),
    }
}

fn is_ignored(name: &str) -> bool {
    name.starts_with('.') || matches!(name, "host_vars" | "group_vars" | "vars_plugins") || IGNORED_SUFFIXES.iter().any(|s| name.ends_with(s))
}

fn load_dir(dir: &Path, graph: &mut Graph) -> Result<(), InventoryError> {
    let shown = dir.display().to_string();
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
        .map_err(|e| InventoryError::in_file(&shown, format!("cannot list inventory directory: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    // Ansible sorts the raw (byte) names.
    names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    for name in names {
        if is_ignored(&name.to_string_lossy()) {
            continue;
        }
        let path = dir.join(&name);
        if path.is_dir() {
            load_dir(&path, graph)?;
        } else {
            load_file(&path, graph)?;
        }
    }
    Ok(())
}

/// Python's `os.path.splitext(path)[1]` for the file name.
fn extension(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let trimmed = name.trim_start_matches('.');
    match trimmed.rfind('.') {
        Some(i) => trimmed[i..].to_string(),
        None => String::new(),
    }
}

fn load_file(path: &Path, graph: &mut Graph) -> Result<(), InventoryError> {
    let shown = path.display().to_string();
    let ext = extension(path);
    if ext == ".toml" {
        return Err(InventoryError::in_file(&shown, "TOML inventories are not supported; use YAML or INI"));
    }
    let text = read_text(path, &shown)?;
    if is_executable(path) && text.starts_with("#!") {
        return Err(InventoryError::in_file(&shown, "dynamic inventory scripts are not supported; use a static YAML or INI inventory"));
    }
    // Hosts remember the absolute path of the file that first defined them (Ansible's inventory_file).
    let source = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string();
    let yaml_named = YAML_EXTENSIONS.contains(&ext.as_str());
    if !(yaml_named || ext.is_empty()) {
        return ini::parse(&text, &shown, &source, graph);
    }
    let yaml_err = match yaml::load_one(&text, &shown) {
        Ok(doc) if yaml_inventory::accepts(&doc) => return yaml_inventory::parse(&doc, &shown, &source, graph),
        Ok(doc) if doc.is_null() => None,
        Ok(doc) => Some(InventoryError::new(
            doc.span.clone(),
            format!(
                "expected a YAML inventory (a mapping of group names), found {}",
                if doc.as_map().is_some() { "an empty mapping" } else { doc.type_name() }
            ),
        )),
        Err(e) => Some(InventoryError::from(e)),
    };
    // Ansible hands a file the YAML plugin refused to the INI plugin.
    match ini::parse(&text, &shown, &source, graph) {
        Ok(()) => {
            if let (true, Some(e)) = (yaml_named, &yaml_err) {
                graph.warnings.push(format!("{shown}: not a YAML inventory ({}); read as INI, as Ansible does", e.msg));
            }
            Ok(())
        }
        Err(ini_err) => match yaml_err {
            Some(y) if yaml_named => Err(y),
            Some(y) => Err(InventoryError::new(ini_err.span, format!("{} (nor is it a YAML inventory: {y})", ini_err.msg))),
            None => Err(ini_err),
        },
    }
}

/// Inventory text: UTF-8, except that Ansible tolerates other bytes on comment lines.
fn read_text(path: &Path, shown: &str) -> Result<String, InventoryError> {
    let meta = std::fs::metadata(path).map_err(|e| InventoryError::in_file(shown, format!("cannot read: {e}")))?;
    if meta.len() > yaml::MAX_FILE_BYTES as u64 {
        return Err(InventoryError::in_file(
            shown,
            format!("file is {} bytes; hlprov reads inventories up to {} bytes", meta.len(), yaml::MAX_FILE_BYTES),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| InventoryError::in_file(shown, format!("cannot read: {e}")))?;
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => {
            let bytes = e.into_bytes();
            let mut out = String::with_capacity(bytes.len());
            for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
                if n > 0 {
                    out.push('\n');
                }
                match std::str::from_utf8(line) {
                    Ok(l) => out.push_str(l),
                    Err(_) if line.trim_ascii_start().first().is_some_and(|b| *b == b'#' || *b == b';') => {}
                    Err(err) => {
                        return Err(InventoryError::new(
                            yaml::Span::new(shown, n as u32 + 1, err.valid_up_to() as u32 + 1),
                            "not UTF-8 text (only comment lines may hold other bytes)",
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

/// `-i 'host1,host2:2222,'`: hosts in `ungrouped` (Ansible's host_list plugin; no ranges).
fn host_list(text: &str, graph: &mut Graph) {
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (host, port) = match parse_address(item) {
            Some((h, p)) if !h.contains('[') => (h, p),
            _ => (item.to_string(), None),
        };
        if !graph.hosts.contains_key(&host) {
            graph.add_host(&host, Some(UNGROUPED), port, Some(text)).expect("host name is not empty and ungrouped exists");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_names_match_ansible_defaults() {
        for n in [".git", "group_vars", "host_vars", "README.md", "hosts.retry", "x.bak", "old~", "ansible.cfg", "notes.txt"] {
            assert!(is_ignored(n), "{n}");
        }
        for n in ["hosts", "01-pve.yml", "k3s.ini", "x.json"] {
            assert!(!is_ignored(n), "{n}");
        }
    }

    #[test]
    fn extensions_like_python_splitext() {
        assert_eq!(extension(Path::new("a/hosts")), "");
        assert_eq!(extension(Path::new("a/x.y.yml")), ".yml");
        assert_eq!(extension(Path::new(".hidden")), "");
    }

    #[test]
    fn host_lists_go_to_ungrouped() {
        let mut g = Graph::new();
        load(Path::new("10.0.0.5, pve1:2222,"), &mut g).unwrap();
        assert_eq!(g.groups["ungrouped"].hosts, ["10.0.0.5", "pve1"]);
        assert_eq!(g.hosts["pve1"].vars["ansible_port"], 2222);
    }
}
