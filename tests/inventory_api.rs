//! The inventory API the rest of hlprov uses: error messages for bad files, variable layers and where they come
//! from, magic variables, the implicit localhost, several sources, and source-format handling.

use std::path::{Path, PathBuf};

use hlprov::inventory::{Beside, Inventory, LayerSource};
use serde_json::json;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory").join(rel)
}

/// Write files into a fresh temporary directory.
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = t.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    t
}

fn load_err(sources: &[PathBuf]) -> String {
    match Inventory::load(sources) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_ini_names_file_line_column_and_expectation() {
    let t = dir_with(&[("hosts.ini", "[web]\nw1 ansible_port=22\nw2 oops\n")]);
    let err = load_err(&[t.path().join("hosts.ini")]);
    assert!(err.ends_with("hosts.ini:3:4: expected key=value host variable assignment, got 'oops'"), "{err}");
}

#[test]
fn bad_yaml_inventory_names_the_node() {
    let t = dir_with(&[("inv.yml", "all:\n  children:\n    web:\n      hosts: [w1, w2]\n")]);
    let err = load_err(&[t.path().join("inv.yml")]);
    assert!(err.ends_with("inv.yml:4:14: invalid \"hosts\" entry for group \"web\": expected a mapping, found a list"), "{err}");
    let t = dir_with(&[("inv.yml", "all:\n  hosts:\n    w1: {a: 1\n")]);
    let err = load_err(&[t.path().join("inv.yml")]);
    assert!(err.contains("inv.yml:4:"), "{err}");
}

#[test]
fn bad_group_vars_file_names_its_place() {
    let t = dir_with(&[("hosts", "[web]\nw1\n"), ("group_vars/web.yml", "ok: 1\nlist:\n  - a\n bad: indent\n")]);
    let err = load_err(&[t.path().join("hosts")]);
    assert!(err.contains("group_vars/web.yml:4:"), "{err}");
    let t = dir_with(&[("hosts", "[web]\nw1\n"), ("host_vars/w1.yml", "- not\n- a mapping\n")]);
    let err = load_err(&[t.path().join("hosts")]);
    assert!(err.contains("host_vars/w1.yml:1:1: expected a mapping of variable names to values, found a list"), "{err}");
}

#[test]
fn group_vars_of_groups_not_in_the_inventory_are_not_read() {
    // Ansible only reads group_vars for groups it knows, so a broken file for another group is harmless.
    let t = dir_with(&[("hosts", "[web]\nw1\n"), ("group_vars/other.yml", ": broken: [\n")]);
    Inventory::load(&[t.path().join("hosts")]).unwrap();
}

#[test]
fn missing_and_unsupported_sources_are_errors() {
    let t = dir_with(&[("inv.toml", "[web]\n"), ("script", "#!/bin/sh\necho '{}'\n")]);
    assert!(load_err(&[t.path().join("nope.ini")]).contains("nope.ini: cannot read inventory source"));
    assert!(load_err(&[t.path().join("inv.toml")]).contains("TOML inventories are not supported"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(t.path().join("script"), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(load_err(&[t.path().join("script")]).contains("dynamic inventory scripts are not supported"));
    }
}

#[test]
fn yml_file_holding_ini_is_read_as_ini_with_a_warning() {
    let t = dir_with(&[("hosts.yml", "[web]\nw1 x=1\n")]);
    let inv = Inventory::load(&[t.path().join("hosts.yml")]).unwrap();
    assert_eq!(inv.select("web").unwrap().hosts, ["w1"]);
    assert!(inv.warnings().iter().any(|w| w.contains("read as INI")), "{:?}", inv.warnings());
}

#[test]
fn non_utf8_bytes_are_tolerated_on_ini_comment_lines_only() {
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("ok"), b"# caf\xe9\n[web]\nw1\n").unwrap();
    std::fs::write(t.path().join("bad"), b"[web]\nw\xe91\n").unwrap();
    Inventory::load(&[t.path().join("ok")]).unwrap();
    assert!(load_err(&[t.path().join("bad")]).contains("bad:2:2: not UTF-8"));
}

#[test]
fn later_sources_override_earlier_ones() {
    let t = dir_with(&[("a.ini", "[web]\nh x=1 y=1\n[web:vars]\ng=1\n"), ("b.yml", "web:\n  hosts:\n    h: {x: 2}\n  vars: {g: 2}\n")]);
    let inv = Inventory::load(&[t.path().join("a.ini"), t.path().join("b.yml")]).unwrap();
    let vars = inv.host_vars("h");
    assert_eq!((&vars["x"], &vars["y"], &vars["g"]), (&json!(2), &json!(1), &json!(2)));
}

#[test]
fn layers_come_lowest_first_with_their_origin() {
    let mut inv = Inventory::load(&[fixture("homelab-yaml")]).unwrap();
    inv.add_playbook_vars_dir(&fixture("playbook")).unwrap();
    let layers = inv.host_var_layers("w1");
    let kinds: Vec<String> = layers
        .iter()
        .map(|l| match &l.source {
            LayerSource::InventoryGroup { group, .. } => format!("inv-group:{group}"),
            LayerSource::GroupVarsFile { group, beside, path } => {
                format!("group_vars:{group}:{beside:?}:{}", Path::new(path).file_name().unwrap().to_string_lossy())
            }
            LayerSource::InventoryHost { .. } => "inv-host".into(),
            LayerSource::HostVarsFile { beside, .. } => format!("host_vars:{beside:?}"),
            LayerSource::ImplicitLocalhost => "implicit".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "inv-group:all",
            "inv-group:k3s",
            "inv-group:k3s_agents",
            "group_vars:all:Inventory:all.yml",
            "group_vars:all:Playbook:all.yml",
            "group_vars:k3s:Inventory:main.yml",
            "group_vars:k3s:Inventory:network.yaml",
            "group_vars:k3s_agents:Inventory:k3s_agents.json",
            "group_vars:k3s:Playbook:k3s.yml",
            "inv-host",
            "host_vars:Inventory",
            "host_vars:Playbook",
        ]
    );
    assert!(layers[0].label().contains("01-proxmox.yml"), "{}", layers[0].label());
    assert!(matches!(&layers[11].source, LayerSource::HostVarsFile { beside: Beside::Playbook, .. }));
    assert_eq!(inv.host_vars("w1")["probe_host_vs_host_vars"], json!("from playbook host_vars/w1.yml"));
}

#[test]
fn magic_vars_and_group_names() {
    let inv = Inventory::load(&[fixture("homelab-yaml")]).unwrap();
    let m = inv.magic_vars("w3");
    assert_eq!(m["group_names"], json!(["backup", "gpu_agents", "k3s", "k3s_agents", "lxc"]));
    assert!(m["inventory_file"].as_str().unwrap().ends_with("homelab-yaml/02-k3s.yaml"), "{m:?}");
    assert!(m["inventory_dir"].as_str().unwrap().ends_with("homelab-yaml"), "{m:?}");
    assert_eq!(inv.group_names("router"), ["ungrouped"]);
    let t = dir_with(&[("h", "[x]\npve1.lab.lan\n10.0.0.7\n")]);
    let inv = Inventory::load(&[t.path().join("h")]).unwrap();
    assert_eq!(inv.magic_vars("pve1.lab.lan")["inventory_hostname_short"], json!("pve1"));
    assert_eq!(inv.magic_vars("10.0.0.7")["inventory_hostname_short"], json!("10.0.0.7"));
}

#[test]
fn implicit_localhost_is_not_part_of_all() {
    let inv = Inventory::load(&[fixture("homelab-yaml")]).unwrap();
    assert!(inv.is_implicit_localhost("localhost"));
    assert_eq!(inv.select("localhost").unwrap().hosts, ["localhost"]);
    assert!(!inv.select("all").unwrap().hosts.contains(&"localhost".to_string()));
    assert!(!inv.groups()["all"].contains(&"localhost".to_string()));
    assert!(inv.group_names("localhost").is_empty());
    assert_eq!(inv.host_vars("localhost")["ansible_connection"], json!("local"));
    // An inventory that defines localhost uses that host, with no implicit defaults.
    let t = dir_with(&[("h", "[ctl]\nlocalhost\n")]);
    let inv = Inventory::load(&[t.path().join("h")]).unwrap();
    assert!(!inv.is_implicit_localhost("localhost"));
    assert!(!inv.host_vars("localhost").contains_key("ansible_connection"));
}

#[test]
fn no_sources_leaves_only_implicit_localhost() {
    let inv = Inventory::load(&[]).unwrap();
    assert!(inv.host_names().is_empty());
    assert_eq!(inv.select("localhost").unwrap().hosts, ["localhost"]);
    assert_eq!(inv.select("all").unwrap().hosts, Vec::<String>::new());
    assert!(inv.warnings()[0].contains("only implicit localhost"));
}

#[test]
fn pattern_lists_and_bad_patterns() {
    let inv = Inventory::load(&[fixture("homelab-yaml")]).unwrap();
    assert_eq!(inv.select_any(&["k3s_servers[0]", "nas1", "!w1"]).unwrap().hosts, ["k3s-server01", "nas1"]);
    assert!(inv.select("~(unclosed").unwrap_err().to_string().contains("invalid regular expression"));
    assert!(inv.select("k3s_servers[7]").unwrap_err().to_string().contains("no hosts matched the subscripted pattern"));
    assert!(inv.select_limited("all", Some("@/no/such/file")).is_err());
    assert!(inv.to_graph(Some("w1")).is_err());
    assert!(inv.to_graph(Some("k3s_agents")).unwrap().starts_with("@k3s_agents:\n  |--@storage_agents:"));
}

#[test]
fn a_name_used_for_host_and_group_is_warned_about() {
    let t = dir_with(&[("h", "[web]\nweb\n")]);
    let inv = Inventory::load(&[t.path().join("h")]).unwrap();
    assert!(inv.warnings().iter().any(|w| w == "Found both group and host with same name: web"), "{:?}", inv.warnings());
}
