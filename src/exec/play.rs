//! One play: pick its hosts, load its vars_files, split hosts into `serial` batches, gather facts, run
//! pre_tasks, roles and tasks, post_tasks (flushing handlers after each section), and say how it went.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::run::Run;
use super::walk::Inherited;
use crate::playbook::{Node, Play, RoleScope, Strategy};
use crate::report::Event;
use crate::vars::{LayerKind, VarScope, Vars};
use crate::yaml::Span;

/// How one host is doing in this play.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PlayHost {
    pub failed: bool,
    pub unreachable: bool,
    /// `meta: end_host` (or end_play).
    pub ended: bool,
}

/// The state of a running play, shared by every task in it.
pub(crate) struct PlayCtx {
    pub play: Arc<Play>,
    pub phase: Option<String>,
    pub play_vars: Arc<Vars>,
    /// Merged vars_files per host (file names may hold templates).
    pub vars_files: Mutex<HashMap<String, Arc<Vars>>>,
    pub hosts_all: Vec<String>,
    pub batch: Mutex<Vec<String>>,
    pub hosts: Mutex<HashMap<String, PlayHost>>,
    /// Handler names (and listen topics) notified, per host.
    pub notified: Mutex<HashMap<String, Vec<String>>>,
    pub handlers: Mutex<Vec<Node>>,
    /// The roles' handler files in `handlers`, so that a role included again does not add its handlers twice.
    pub role_handler_files: Mutex<std::collections::HashSet<std::path::PathBuf>>,
    /// Roles whose defaults and vars every task of the play sees, as in Ansible: the static ones (`roles:`,
    /// `import_role`), then per host those an `include_role` with `public: true` ran.
    pub static_roles: Vec<Arc<RoleScope>>,
    pub public_roles: Mutex<HashMap<String, Vec<Arc<RoleScope>>>>,
    /// any_errors_fatal or max_fail_percentage stopped the play.
    pub aborted: AtomicBool,
    /// Changed results in this play (for the phase record).
    pub changed: std::sync::atomic::AtomicU32,
    /// Offline: tasks that could not be decided without a host.
    pub needs_host: std::sync::atomic::AtomicU32,
    /// The last failed task of each host and its result: what a `rescue:` sees as `ansible_failed_task` and
    /// `ansible_failed_result`.
    pub last_failure: Mutex<HashMap<String, (Value, Value)>>,
    /// The strategy, once a templated `strategy:` is rendered when the play starts.
    pub strategy: std::sync::OnceLock<Strategy>,
}

impl PlayCtx {
    pub fn host(&self, h: &str) -> PlayHost {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).get(h).copied().unwrap_or_default()
    }
    pub fn update(&self, h: &str, f: impl FnOnce(&mut PlayHost)) {
        f(self.hosts.lock().unwrap_or_else(|p| p.into_inner()).entry(h.to_string()).or_default());
    }
    pub fn is_active(&self, h: &str) -> bool {
        let s = self.host(h);
        !s.failed && !s.unreachable && !s.ended
    }
    pub fn strategy(&self) -> Strategy {
        self.strategy.get().copied().unwrap_or(self.play.strategy)
    }
    pub fn aborted(&self) -> bool {
        self.aborted.load(Ordering::Relaxed)
    }
    pub fn notify(&self, host: &str, names: &[String]) {
        let mut n = self.notified.lock().unwrap_or_else(|p| p.into_inner());
        let list = n.entry(host.to_string()).or_default();
        for name in names {
            if !list.contains(name) {
                list.push(name.clone());
            }
        }
    }
}

/// How a play ended.
#[derive(Debug, Default, Clone)]
pub(crate) struct PlayOutcome {
    pub failed: Vec<String>,
    pub unreachable: Vec<String>,
    pub aborted: bool,
    pub changed: u32,
    /// Offline: tasks that could not be decided without a host.
    pub needs_host: u32,
    /// The play could not start (bad pattern, vars file): counts as failed.
    pub error: Option<String>,
}

impl PlayOutcome {
    pub fn bad_hosts(&self) -> Vec<String> {
        let mut v: Vec<String> = self.failed.iter().chain(&self.unreachable).cloned().collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Hosts a play targets: its pattern (templated with extra vars), narrowed by --limit, without `excluded`.
pub(crate) fn select_hosts(run: &Run, play: &Play, excluded: &HashSet<String>) -> Result<Vec<String>, String> {
    let pattern = if play.hosts.contains("{{") {
        let mut scope = VarScope::new();
        scope.push(LayerKind::PlayVars, "play vars", Arc::new(play.vars.clone()));
        scope.push(LayerKind::ExtraVars, "extra vars", run.extra_vars.clone());
        let v = run.templar.render_value(&Value::String(play.hosts.clone()), &scope, &play.span).map_err(|e| e.to_string())?;
        match v {
            Value::String(s) => s,
            Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(":"),
            other => other.to_string(),
        }
    } else {
        play.hosts.clone()
    };
    let sel = run.inventory().select_limited(&pattern, run.opts.limit.as_deref()).map_err(|e| format!("{}: {e}", play.span))?;
    for w in &sel.warnings {
        run.reporter.warn(w.clone());
    }
    Ok(sel.hosts.into_iter().filter(|h| !excluded.contains(h)).collect())
}

/// Split hosts into batches per `serial:` (numbers or percentages; the last size repeats).
pub(crate) fn batches(hosts: &[String], serial: &[Value]) -> Vec<Vec<String>> {
    if serial.is_empty() || hosts.is_empty() {
        return vec![hosts.to_vec()];
    }
    let size_of = |v: &Value| -> usize {
        let n = match v {
            Value::String(s) if s.trim().ends_with('%') => {
                let pct: f64 = s.trim().trim_end_matches('%').trim().parse().unwrap_or(100.0);
                ((hosts.len() as f64) * pct / 100.0) as usize
            }
            Value::String(s) => s.trim().parse().unwrap_or(hosts.len()),
            other => other.as_u64().unwrap_or(hosts.len() as u64) as usize,
        };
        n.max(1)
    };
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < hosts.len() {
        let size = size_of(&serial[k.min(serial.len() - 1)]);
        out.push(hosts[i..(i + size).min(hosts.len())].to_vec());
        i += size;
        k += 1;
    }
    out
}

/// The roles a play runs statically (`roles:` and `import_role`, nested too), each once.
fn static_roles(play: &Play) -> Vec<Arc<RoleScope>> {
    fn walk(nodes: &[Node], out: &mut Vec<Arc<RoleScope>>) {
        for n in nodes {
            if let Node::Block(b) = n {
                if let Some(r) = &b.role {
                    if !out.iter().any(|o| o.path == r.path) {
                        out.push(r.clone());
                    }
                }
                walk(&b.block, out);
                walk(&b.rescue, out);
                walk(&b.always, out);
            }
        }
    }
    let mut out = Vec::new();
    for section in [&play.pre_tasks, &play.tasks, &play.post_tasks] {
        walk(section, &mut out);
    }
    out
}

/// Which part of a play to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Its tasks (and handlers): the play itself.
    Tasks,
    /// Only its `verify:` gate; `gather` gathers facts first (when the play itself did not run).
    Gate { gather: bool },
}

/// Run one play (or its gate) on `hosts`.
pub(crate) async fn run_play(run: &Arc<Run>, play: Arc<Play>, phase: Option<String>, hosts: Vec<String>, part: Part) -> PlayOutcome {
    let pc = Arc::new(PlayCtx {
        phase,
        play_vars: Arc::new(play.vars.clone()),
        vars_files: Mutex::default(),
        hosts_all: hosts.clone(),
        batch: Mutex::new(Vec::new()),
        hosts: Mutex::default(),
        notified: Mutex::default(),
        handlers: Mutex::new(play.handlers.clone()),
        role_handler_files: Mutex::new(play.role_handler_files.clone()),
        static_roles: static_roles(&play),
        public_roles: Mutex::default(),
        aborted: AtomicBool::new(false),
        changed: Default::default(),
        needs_host: Default::default(),
        last_failure: Mutex::default(),
        strategy: std::sync::OnceLock::new(),
        play: play.clone(),
    });
    if part == Part::Tasks {
        run.reporter.emit(Event::PlayStart { play: play.name.clone(), phase: pc.phase.clone(), hosts: hosts.clone() });
    }
    for h in &hosts {
        run.touch_stats(h);
    }
    let mut outcome = PlayOutcome::default();
    if let Err(e) = load_vars_files(run, &pc, &hosts).and_then(|()| render_strategy(run, &pc, &hosts)) {
        run.reporter.warn(e.clone());
        outcome.error = Some(e);
        outcome.failed = hosts;
        return outcome;
    }
    if let Part::Gate { gather } = part {
        *pc.batch.lock().unwrap_or_else(|p| p.into_inner()) = hosts.clone();
        let mut base = Inherited::for_play(&play);
        base.gate = true;
        if gather && play.gather_facts {
            super::walk::gather_facts(run, &pc, &hosts, &base).await;
        }
        let active: Vec<String> = hosts.iter().filter(|h| pc.is_active(h)).cloned().collect();
        super::walk::run_nodes(run, &pc, &play.verify, &active, &base).await;
    } else {
        for batch in batches(&hosts, &play.serial) {
            *pc.batch.lock().unwrap_or_else(|p| p.into_inner()) = batch.clone();
            run_batch(run, &pc, &batch).await;
            if pc.aborted() || run.is_interrupted() {
                break;
            }
            // Ansible stops a serial play when a whole batch failed.
            if !play.serial.is_empty() && batch.iter().all(|h| !pc.is_active(h) && !pc.host(h).ended) {
                break;
            }
        }
    }
    let states = pc.hosts.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for h in &hosts {
        let s = states.get(h).copied().unwrap_or_default();
        if s.unreachable {
            outcome.unreachable.push(h.clone());
        } else if s.failed {
            outcome.failed.push(h.clone());
        }
    }
    outcome.aborted = pc.aborted();
    outcome.changed = pc.changed.load(Ordering::Relaxed);
    outcome.needs_host = pc.needs_host.load(Ordering::Relaxed);
    outcome
}

async fn run_batch(run: &Arc<Run>, pc: &Arc<PlayCtx>, batch: &[String]) {
    let base = Inherited::for_play(&pc.play);
    if pc.play.gather_facts {
        super::walk::gather_facts(run, pc, batch, &base).await;
    }
    for section in [&pc.play.pre_tasks, &pc.play.tasks, &pc.play.post_tasks] {
        let active: Vec<String> = batch.iter().filter(|h| pc.is_active(h)).cloned().collect();
        super::walk::run_nodes(run, pc, section, &active, &base).await;
        super::walk::flush_handlers(run, pc, batch, &base).await;
        if pc.aborted() || run.is_interrupted() {
            break;
        }
    }
}

/// `strategy: "{{ … }}"`, rendered with the play's variables (as the first host sees them) when it starts.
fn render_strategy(run: &Run, pc: &PlayCtx, hosts: &[String]) -> Result<(), String> {
    let (Some(t), Some(first)) = (&pc.play.strategy_template, hosts.first()) else { return Ok(()) };
    let scope = super::scope::play_scope(run, pc, first);
    let span = &pc.play.span;
    let name = run.templar.render_value(&Value::String(t.clone()), &scope, span).map_err(|e| format!("{span}: strategy: {e}"))?;
    let s = Strategy::parse(name.as_str()).map_err(|e| format!("{span}: {e}"))?;
    let _ = pc.strategy.set(s);
    Ok(())
}

/// Load the play's vars_files for every host (SOPS files decrypt here), before any task runs.
fn load_vars_files(run: &Run, pc: &PlayCtx, hosts: &[String]) -> Result<(), String> {
    if pc.play.vars_files.is_empty() {
        return Ok(());
    }
    let mut cache: HashMap<std::path::PathBuf, Arc<Vars>> = HashMap::new();
    for host in hosts {
        let mut merged = Vars::new();
        for (name, span) in &pc.play.vars_files {
            let name = if name.contains("{{") {
                let scope = super::scope::play_scope(run, pc, host);
                match run.templar.render_value(&Value::String(name.clone()), &scope, span) {
                    Ok(Value::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(e) => return Err(e.to_string()),
                }
            } else {
                name.clone()
            };
            let path = resolve(&run.playbook.dir, &name);
            let vars = match cache.get(&path) {
                Some(v) => v.clone(),
                None => {
                    let loaded = crate::vars_file::load(&path).map_err(|e| locate(e.to_string(), span))?;
                    let v = Arc::new(loaded.vars);
                    cache.insert(path.clone(), v.clone());
                    v
                }
            };
            merged.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        pc.vars_files.lock().unwrap_or_else(|p| p.into_inner()).insert(host.clone(), Arc::new(merged));
    }
    Ok(())
}

fn resolve(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(name);
    if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
}

fn locate(msg: String, span: &Span) -> String {
    format!("vars_files at {span}: {msg}")
}

/// Load every vars_files entry that has no template, for all plays: a missing file or a SOPS file that this
/// machine cannot decrypt is found before any host is touched.
pub(crate) fn preload_static_vars_files(run: &Run) -> Result<(), String> {
    for play in &run.playbook.plays {
        for (name, span) in &play.vars_files {
            if name.contains("{{") {
                continue;
            }
            let path = resolve(&run.playbook.dir, name);
            crate::vars_file::load(&path).map_err(|e| locate(e.to_string(), span))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serial_batches_like_ansible() {
        let hosts: Vec<String> = (1..=5).map(|i| format!("h{i}")).collect();
        let sizes = |s: Value| batches(&hosts, s.as_array().unwrap()).iter().map(|b| b.len()).collect::<Vec<_>>();
        assert_eq!(sizes(json!([2])), [2, 2, 1]);
        assert_eq!(sizes(json!([1, 2])), [1, 2, 2]);
        assert_eq!(sizes(json!(["40%"])), [2, 2, 1]);
        assert_eq!(sizes(json!(["10%"])), [1, 1, 1, 1, 1]);
        assert_eq!(sizes(json!([])), [5]);
    }
}
