//! State shared by everything in one run: inventory, playbook, options, the connection pool, and what each
//! host has learned so far (facts, set_fact, registered results) and how it did (stats).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use indexmap::IndexMap;
use serde_json::Value;

use super::connections::Pool;
use super::{PreflightError, RunOptions};
use crate::inventory::{Inventory, LayerSource};
use crate::playbook::{Node, Playbook};
use crate::report::{HostStats, Reporter};
use crate::template::Templar;
use crate::vars::{HostVarsSource, LayerKind, VarScope, Vars, facts_layer};

/// What a host has learned during the run; lives across plays.
#[derive(Clone, Default)]
pub(crate) struct HostKnowledge {
    pub facts: Arc<Vars>,
    pub facts_layer: Arc<Vars>,
    /// Facts a module other than setup returned (service_facts' `services`, package_facts' `packages`): Ansible
    /// injects them under their own names too, not only as `ansible_<name>`.
    pub plain_facts: Arc<Vec<String>>,
    pub set_facts: Arc<Vars>,
    pub registered: Arc<Vars>,
}

/// One inventory layer, ready to push onto a scope.
pub(crate) type InvLayer = (LayerKind, Arc<str>, Arc<Vars>);

pub(crate) struct Run {
    /// The inventory, as group_by and add_host leave it (replaced whole, so readers keep a consistent one).
    inventory: RwLock<Arc<Inventory>>,
    pub playbook: Arc<Playbook>,
    pub opts: RunOptions,
    pub templar: Templar,
    pub reporter: Reporter,
    pub pool: Pool,
    pub extra_vars: Arc<Vars>,
    /// The `groups` magic variable of the current inventory.
    groups: RwLock<Arc<Vars>>,
    knowledge: Mutex<HashMap<String, HostKnowledge>>,
    stats: Mutex<IndexMap<String, HostStats>>,
    inv_layers: Mutex<HashMap<String, Arc<Vec<InvLayer>>>>,
    task_files: Mutex<HashMap<PathBuf, Arc<Vec<Node>>>>,
    /// Set once --start-at-task found its task.
    pub started: AtomicBool,
    /// Results that could not be known (offline: registered by tasks that needed a host; check mode: by tasks
    /// missing what an earlier phase would set up). Their registered values are `vars::host_only` markers.
    pub unknown_results: Mutex<std::collections::HashSet<String>>,
    /// The phases this run applies (a playbook of phases only): `hlprov_phases` in templates.
    pub phases_to_apply: OnceLock<Vec<String>>,
    hostvars: OnceLock<Arc<dyn HostVarsSource>>,
}

impl Run {
    pub fn new(playbook: Arc<Playbook>, inventory: Arc<Inventory>, opts: RunOptions, reporter: Reporter) -> Result<Arc<Run>, PreflightError> {
        let groups: Vars = inventory.groups().into_iter().map(|(g, hosts)| (g, Value::from(hosts))).collect();
        let started = AtomicBool::new(opts.start_at_task.is_none());
        let extra_vars = Arc::new(opts.extra_vars.clone());
        let run = Arc::new(Run {
            inventory: RwLock::new(inventory),
            playbook,
            templar: Templar::new(),
            reporter,
            pool: Pool::default(),
            unknown_results: Mutex::default(),
            phases_to_apply: OnceLock::new(),
            extra_vars,
            groups: RwLock::new(Arc::new(groups)),
            knowledge: Mutex::default(),
            stats: Mutex::default(),
            inv_layers: Mutex::default(),
            task_files: Mutex::default(),
            started,
            hostvars: OnceLock::new(),
            opts,
        });
        let source: Arc<dyn HostVarsSource> = Arc::new(RunHostVars(Arc::downgrade(&run)));
        let _ = run.hostvars.set(source);
        run.register_inventory_passwords();
        Ok(run)
    }

    /// Passwords written in the inventory (not only in SOPS files) are masked from the start, before a task
    /// that prints them (`debug: var=hostvars`) runs ahead of any connection.
    fn register_inventory_passwords(&self) {
        const NAMES: &[&str] = &["ansible_become_password", "ansible_become_pass", "ansible_sudo_pass", "ansible_password", "ansible_ssh_pass"];
        for host in self.inventory().host_names() {
            for (_, _, vars) in self.inventory_layers(&host).iter() {
                for name in NAMES {
                    if let Some(Value::String(p)) = vars.get(*name) {
                        if !p.contains("{{") {
                            crate::redact::register(p);
                        }
                    }
                }
            }
        }
    }

    pub fn hostvars(&self) -> Arc<dyn HostVarsSource> {
        self.hostvars.get().cloned().expect("set in Run::new")
    }

    pub fn knowledge(&self, host: &str) -> HostKnowledge {
        self.knowledge.lock().unwrap_or_else(|p| p.into_inner()).get(host).cloned().unwrap_or_default()
    }

    /// Facts a module returned; `plain` (any module but setup): also visible under their own names.
    pub fn set_facts_gathered(&self, host: &str, facts: Vars, plain: bool) {
        let mut k = self.knowledge.lock().unwrap_or_else(|p| p.into_inner());
        let e = k.entry(host.to_string()).or_default();
        if plain {
            let names = Arc::make_mut(&mut e.plain_facts);
            names.extend(facts.keys().filter(|n| !n.starts_with("ansible_") && !names.contains(n)).cloned().collect::<Vec<_>>());
        }
        let mut merged = (*e.facts).clone();
        merged.extend(facts);
        let mut layer = facts_layer(&merged);
        for n in e.plain_facts.iter() {
            if let Some(v) = merged.get(n) {
                layer.insert(n.clone(), v.clone());
            }
        }
        e.facts_layer = Arc::new(layer);
        e.facts = Arc::new(merged);
    }

    pub fn clear_facts(&self, host: &str) {
        let mut k = self.knowledge.lock().unwrap_or_else(|p| p.into_inner());
        let e = k.entry(host.to_string()).or_default();
        e.facts = Arc::default();
        e.facts_layer = Arc::default();
        e.plain_facts = Arc::default();
        e.set_facts = Arc::default();
    }

    /// `set_fact`: later assignments win over earlier `register`s of the same name.
    pub fn set_fact(&self, host: &str, name: &str, value: Value) {
        let mut k = self.knowledge.lock().unwrap_or_else(|p| p.into_inner());
        let e = k.entry(host.to_string()).or_default();
        Arc::make_mut(&mut e.registered).remove(name);
        Arc::make_mut(&mut e.set_facts).insert(name.to_string(), value);
    }

    pub fn register(&self, host: &str, name: &str, value: Value) {
        let mut k = self.knowledge.lock().unwrap_or_else(|p| p.into_inner());
        let e = k.entry(host.to_string()).or_default();
        Arc::make_mut(&mut e.set_facts).remove(name);
        Arc::make_mut(&mut e.registered).insert(name.to_string(), value);
    }

    pub fn stats_mut<R>(&self, host: &str, f: impl FnOnce(&mut HostStats) -> R) -> R {
        let mut s = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        f(s.entry(host.to_string()).or_default())
    }

    pub fn touch_stats(&self, host: &str) {
        self.stats_mut(host, |_| ());
    }

    pub fn stats(&self) -> Vec<(String, HostStats)> {
        let mut v: Vec<(String, HostStats)> =
            self.stats.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(h, s)| (h.clone(), s.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The inventory as it is now.
    pub fn inventory(&self) -> Arc<Inventory> {
        self.inventory.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The `groups` magic variable as it is now.
    pub fn groups(&self) -> Arc<Vars> {
        self.groups.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Change the inventory (group_by, add_host): `change` works on a copy, which replaces the inventory if it
    /// says something changed; `groups` and the cached layers follow.
    pub fn change_inventory(&self, change: impl FnOnce(&mut Inventory) -> Result<bool, String>) -> Result<bool, String> {
        let mut slot = self.inventory.write().unwrap_or_else(|p| p.into_inner());
        let mut inv = (**slot).clone();
        if !change(&mut inv)? {
            return Ok(false);
        }
        let groups: Vars = inv.groups().into_iter().map(|(g, hosts)| (g, Value::from(hosts))).collect();
        *self.groups.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(groups);
        *slot = Arc::new(inv);
        self.inv_layers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(true)
    }

    /// The host's inventory layers, computed once.
    pub fn inventory_layers(&self, host: &str) -> Arc<Vec<InvLayer>> {
        let mut cache = self.inv_layers.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(host.to_string())
            .or_insert_with(|| {
                Arc::new(
                    self.inventory()
                        .host_var_layers(host)
                        .into_iter()
                        .map(|l| {
                            let kind = match l.source {
                                LayerSource::InventoryHost { .. } | LayerSource::HostVarsFile { .. } | LayerSource::ImplicitLocalhost => {
                                    LayerKind::InventoryHost
                                }
                                _ => LayerKind::InventoryGroup,
                            };
                            (kind, Arc::from(l.label()), Arc::new(l.vars))
                        })
                        .collect(),
                )
            })
            .clone()
    }

    /// A tasks file for include_tasks, loaded once per run.
    pub fn cached_task_file(&self, path: &PathBuf, load: impl FnOnce() -> Result<Vec<Node>, String>) -> Result<Arc<Vec<Node>>, String> {
        if let Some(n) = self.task_files.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
            return Ok(n.clone());
        }
        let nodes = Arc::new(load()?);
        self.task_files.lock().unwrap_or_else(|p| p.into_inner()).insert(path.clone(), nodes.clone());
        Ok(nodes)
    }

    /// Ctrl-C was pressed: no new tasks start.
    pub fn is_interrupted(&self) -> bool {
        self.opts.interrupt.is_stopped()
    }

    /// The variables another host exposes through `hostvars`: inventory, facts, set_fact, registered, magic.
    pub fn host_scope(&self, host: &str) -> VarScope {
        let mut s = VarScope::new();
        for (kind, label, vars) in self.inventory_layers(host).iter() {
            s.push(*kind, label.clone(), vars.clone());
        }
        let k = self.knowledge(host);
        s.push(LayerKind::Facts, "facts", k.facts_layer);
        s.push(LayerKind::SetFact, "set_fact", k.set_facts);
        s.push(LayerKind::Registered, "registered", k.registered);
        s.push(LayerKind::ExtraVars, "extra vars", self.extra_vars.clone());
        let mut magic = self.inventory().magic_vars(host);
        magic.insert("groups".into(), Value::Object((*self.groups()).clone()));
        magic.insert("playbook_dir".into(), Value::from(self.playbook.dir.display().to_string()));
        s.push(LayerKind::Magic, "magic", Arc::new(magic));
        s.set_hostvars(self.hostvars());
        s
    }
}

struct RunHostVars(Weak<Run>);

impl HostVarsSource for RunHostVars {
    fn host_scope(&self, host: &str) -> Option<VarScope> {
        let run = self.0.upgrade()?;
        let inv = run.inventory();
        (inv.has_host(host) || inv.is_implicit_localhost(host)).then(|| run.host_scope(host))
    }
    fn hosts(&self) -> Vec<String> {
        self.0.upgrade().map(|r| r.inventory().host_names()).unwrap_or_default()
    }
    fn select(&self, pattern: &str) -> Result<Vec<String>, String> {
        let run = self.0.upgrade().ok_or("the run has ended")?;
        run.inventory().select(pattern).map(|s| s.hosts).map_err(|e| e.to_string())
    }
}
