//! The variables a task sees on a host, stacked in Ansible's precedence order (see docs/variables.md):
//! role defaults < inventory < facts < play vars < vars_files < role vars < block vars < task vars
//! < set_fact/registered < role params < include params < extra vars < magic variables.

use std::sync::Arc;

use serde_json::Value;

use super::play::PlayCtx;
use super::run::Run;
use super::walk::Inherited;
use crate::playbook::{Node, RoleScope};
use crate::vars::{LayerKind, Magic, VarScope, Vars};

/// The scope for a host at play level (no role, block or task): host patterns, vars_files names.
pub(crate) fn play_scope(run: &Run, pc: &PlayCtx, host: &str) -> VarScope {
    task_scope(run, pc, host, &Inherited::default(), None)
}

fn push_role_chain(s: &mut VarScope, role: &RoleScope, kind: LayerKind) {
    for dep in &role.deps {
        push_role_chain(s, dep, kind);
    }
    let (vars, label) = match kind {
        LayerKind::RoleDefaults => (role.defaults.clone(), format!("role {} defaults", role.name)),
        _ => (role.vars.clone(), format!("role {} vars", role.name)),
    };
    if !vars.is_empty() {
        s.push(kind, label, vars);
    }
}

/// The play's public roles on `host` (see `PlayCtx::static_roles`), in the order they were met.
fn public_roles(pc: &PlayCtx, host: &str) -> Vec<Arc<RoleScope>> {
    let mut roles = pc.static_roles.clone();
    if let Some(dynamic) = pc.public_roles.lock().unwrap_or_else(|p| p.into_inner()).get(host) {
        roles.extend(dynamic.iter().cloned());
    }
    roles
}

/// The full scope for a task on a host.
pub(crate) fn task_scope(run: &Run, pc: &PlayCtx, host: &str, inh: &Inherited, task_vars: Option<&Vars>) -> VarScope {
    let mut s = VarScope::new();
    // A task sees `ansible_host` even where the inventory sets none (the host's name), as Ansible's connection
    // variables give it; anything the user sets wins.
    s.push(LayerKind::RoleDefaults, "connection", Arc::new(Vars::from_iter([("ansible_host".to_string(), Value::from(host))])));
    // Every public role's defaults and vars are the play's, as in Ansible; a task's own role's come on top
    // (so it is not pushed twice).
    let mut public = public_roles(pc, host);
    if let Some(own) = &inh.role {
        public.retain(|r| r.path != own.path);
    }
    for role in &public {
        push_role_chain(&mut s, role, LayerKind::RoleDefaults);
    }
    if let Some(role) = &inh.role {
        push_role_chain(&mut s, role, LayerKind::RoleDefaults);
    }
    for (kind, label, vars) in run.inventory_layers(host).iter() {
        s.push(*kind, label.clone(), vars.clone());
    }
    let k = run.knowledge(host);
    s.push(LayerKind::Facts, "facts", k.facts_layer);
    s.push(LayerKind::PlayVars, "play vars", pc.play_vars.clone());
    if let Some(vf) = pc.vars_files.lock().unwrap_or_else(|p| p.into_inner()).get(host) {
        s.push(LayerKind::VarsFiles, "vars_files", vf.clone());
    }
    for role in &public {
        push_role_chain(&mut s, role, LayerKind::RoleVars);
    }
    if let Some(role) = &inh.role {
        push_role_chain(&mut s, role, LayerKind::RoleVars);
    }
    for bv in &inh.block_vars {
        s.push(LayerKind::BlockVars, "block vars", bv.clone());
    }
    if let Some(tv) = task_vars {
        if !tv.is_empty() {
            s.push(LayerKind::TaskVars, "task vars", Arc::new(tv.clone()));
        }
    }
    s.push(LayerKind::SetFact, "set_fact", k.set_facts);
    s.push(LayerKind::Registered, "registered", k.registered);
    if let Some(role) = &inh.role {
        if !role.params.is_empty() {
            s.push(LayerKind::RoleParams, format!("role {} params", role.name), role.params.clone());
        }
    }
    for ip in &inh.include_params {
        s.push(LayerKind::IncludeParams, "include params", ip.clone());
    }
    s.push(LayerKind::ExtraVars, "extra vars", run.extra_vars.clone());
    s.push(LayerKind::Magic, "magic", Arc::new(magic(run, pc, host, inh)));
    s.set_hostvars(run.hostvars());
    let mut paths = Vec::new();
    if let Some(role) = &inh.role {
        paths.push(role.path.clone());
    }
    paths.push(run.playbook.dir.clone());
    s.set_search_paths(paths);
    s
}

fn magic(run: &Run, pc: &PlayCtx, host: &str, inh: &Inherited) -> Vars {
    let batch = pc.batch.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let m = Magic {
        inventory_hostname: host.to_string(),
        group_names: run.inventory().group_names(host),
        groups: (*run.groups()).clone(),
        play_hosts: batch.iter().filter(|h| pc.is_active(h)).cloned().collect(),
        play_hosts_all: pc.hosts_all.clone(),
        play_batch: batch,
        check_mode: run.opts.check,
        diff_mode: run.opts.diff,
        // Absolute, as Ansible gives it (a relative one would be looked up along the search path).
        playbook_dir: Some(std::path::absolute(&run.playbook.dir).unwrap_or_else(|_| run.playbook.dir.clone()).display().to_string()),
        inventory_dir: None,
        role_name: inh.role.as_ref().map(|r| r.name.clone()),
        role_path: inh.role.as_ref().map(|r| r.path.display().to_string()),
        play_name: Some(pc.play.name.clone()),
    };
    let mut vars = m.to_vars();
    for (k, v) in run.inventory().magic_vars(host) {
        if k == "inventory_file" || k == "inventory_dir" {
            vars.insert(k, v);
        }
    }
    // The play's roles (`roles:` and `import_role`, which become role blocks) and their dependencies.
    let (play_roles, deps) = play_roles(&pc.play.pre_tasks, &pc.play.tasks);
    // Ansible makes ansible_role_names from a set: hlprov sorts it.
    let mut all_roles = play_roles.clone();
    all_roles.extend(deps.iter().filter(|d| !play_roles.contains(d)).cloned());
    all_roles.sort();
    vars.insert("role_names".into(), Value::from(play_roles.clone()));
    vars.insert("ansible_play_role_names".into(), Value::from(play_roles));
    vars.insert("ansible_dependent_role_names".into(), Value::from(deps));
    vars.insert("ansible_role_names".into(), Value::from(all_roles));
    vars.insert("ansible_limit".into(), run.opts.limit.clone().map(Value::from).unwrap_or(Value::Null));
    vars.insert("ansible_verbosity".into(), Value::from(run.opts.verbosity));
    vars.insert("ansible_forks".into(), Value::from(run.opts.forks));
    let mut search = Vec::new();
    if let Some(role) = &inh.role {
        search.push(Value::from(role.path.display().to_string()));
        search.push(Value::from(role.path.join("tasks").display().to_string()));
    }
    search.push(Value::from(std::path::absolute(&run.playbook.dir).unwrap_or_else(|_| run.playbook.dir.clone()).display().to_string()));
    vars.insert("ansible_search_path".into(), Value::Array(search));
    vars.insert("ansible_run_tags".into(), Value::from(if run.opts.tags.is_empty() { vec!["all".to_string()] } else { run.opts.tags.clone() }));
    vars.insert("ansible_skip_tags".into(), Value::from(run.opts.skip_tags.clone()));
    vars.insert("hlprov_phase".into(), pc.phase.clone().map(Value::from).unwrap_or(Value::Null));
    if let Some(phases) = run.phases_to_apply.get() {
        vars.insert("hlprov_phases".into(), Value::from(phases.clone()));
    }
    vars
}

/// Names of the roles a play lists (in order, once each) and of the roles those depend on.
fn play_roles(pre_tasks: &[Node], tasks: &[Node]) -> (Vec<String>, Vec<String>) {
    fn deps_of(r: &RoleScope, out: &mut Vec<String>) {
        for d in &r.deps {
            if !out.contains(&d.name) {
                out.push(d.name.clone());
            }
            deps_of(d, out);
        }
    }
    let (mut names, mut deps) = (Vec::new(), Vec::new());
    for node in pre_tasks.iter().chain(tasks) {
        if let Node::Block(b) = node {
            if let Some(r) = &b.role {
                if !names.contains(&r.name) {
                    names.push(r.name.clone());
                }
                deps_of(r, &mut deps);
            }
        }
    }
    (names, deps)
}
