//! `hlprov inventory`: the inventory as ansible-inventory shows it.

use std::path::PathBuf;

use clap::Args;

use super::common;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("view").required(true).args(["list", "graph", "host"])))]
pub struct InventoryArgs {
    /// Inventory file, folder or host list (repeatable)
    #[arg(short = 'i', long = "inventory", value_name = "SOURCE", env = "HLPROV_INVENTORY")]
    pub inventory: Vec<PathBuf>,
    /// All groups and hosts with their variables, as JSON (ansible-inventory --list)
    #[arg(long)]
    pub list: bool,
    /// The group tree (optionally from GROUP)
    #[arg(long, value_name = "GROUP", num_args = 0..=1, default_missing_value = "all")]
    pub graph: Option<String>,
    /// One host's merged variables, as JSON
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Also read group_vars/ and host_vars/ beside this playbook folder
    #[arg(long = "playbook-dir", value_name = "DIR")]
    pub playbook_dir: Option<PathBuf>,
}

pub fn run(a: InventoryArgs) -> i32 {
    let mut inv = match crate::inventory::Inventory::load(&a.inventory) {
        Ok(i) => i,
        Err(e) => return common::bad_input(e),
    };
    if let Some(d) = &a.playbook_dir {
        if let Err(e) = inv.add_playbook_vars_dir(d) {
            return common::bad_input(e);
        }
    }
    for w in inv.warnings() {
        eprintln!("[WARNING]: {w}");
    }
    if a.list {
        println!("{}", crate::redact::redact(&crate::inventory::json_text(&inv.to_list_json())));
    } else if let Some(g) = &a.graph {
        match inv.to_graph(Some(g)) {
            Ok(text) => print!("{text}"),
            Err(e) => return common::bad_input(e),
        }
    } else if let Some(pattern) = &a.host {
        // Like ansible-inventory, --host takes a pattern that must name exactly one host.
        let hosts = match inv.select(pattern) {
            Ok(sel) => sel.hosts,
            Err(e) => return common::bad_input(e),
        };
        let [h] = hosts.as_slice() else {
            return common::bad_input(format!("--host {pattern}: expected one host, the pattern matches {}", hosts.len()));
        };
        let vars = serde_json::Value::Object(inv.host_vars(h));
        println!("{}", crate::redact::redact(&crate::inventory::json_text(&vars)));
    }
    0
}
