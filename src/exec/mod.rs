//! The executor: runs a loaded playbook against an inventory with Ansible's semantics. Phases (plays) run as
//! soon as what they require has passed; within a play, hosts run in parallel (bounded by `forks`) and each
//! host runs its tasks in order. The executor never prints: it emits events to the [`Reporter`].
//!
//! Layout: `run` (shared run state), `scope` (variables for a host and task), `walk` (task lists, blocks,
//! includes, handlers), `task` (one task on one host), `loops`, `play` (batches and sections), `phases`
//! (the phase scheduler and gates), `env` (what modules may ask of the engine), `connections`.

pub mod connections;
mod env;
mod loops;
pub mod module_step;
mod outcome;
mod phases;
mod play;
mod preflight;
pub mod record;
mod run;
mod scope;
mod task;
mod walk;

use std::path::PathBuf;
use std::sync::Arc;

pub use connections::ConnectOptions;
pub use phases::PhaseSelection;
pub use record::RunRecord;

use crate::inventory::Inventory;
use crate::playbook::Playbook;
use crate::report::{HostStats, Reporter};
use crate::vars::Vars;

/// How to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub check: bool,
    pub diff: bool,
    pub forks: usize,
    pub tags: Vec<String>,
    pub skip_tags: Vec<String>,
    pub limit: Option<String>,
    pub extra_vars: Vars,
    pub start_at_task: Option<String>,
    pub verbosity: u8,
    pub connect: ConnectOptions,
    /// `-b`: escalate privileges unless a play or task says otherwise.
    pub escalate: bool,
    pub become_user: Option<String>,
    /// Time limit for every task, in seconds (a task's own `timeout:` wins).
    pub task_timeout: Option<u64>,
    pub roles_path: Vec<PathBuf>,
    pub phases: PhaseSelection,
    /// Where run records go (`.hlprov/runs`); None writes none.
    pub record_dir: Option<PathBuf>,
    /// Ctrl-C handling: stop starting tasks, then abandon running ones.
    pub interrupt: Interrupt,
    /// Render without hosts (`hlprov render`): modules show what they would make from their arguments alone
    /// (`Module::render`), nothing connects, and what only a host can tell is reported as such.
    pub offline: bool,
}

/// Shared with the Ctrl-C handler: `stop` lets running tasks finish but starts no new ones; `kill` abandons
/// running tasks (reported as failed, "interrupted") except critical sections, which are never stopped
/// halfway. It also knows which tasks run where, for the messages and the run record.
#[derive(Clone, Debug, Default)]
pub struct Interrupt(Arc<InterruptState>);

#[derive(Debug, Default)]
struct InterruptState {
    stop: std::sync::atomic::AtomicBool,
    kill: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
    /// (id, host, task, critical) of the tasks running now.
    running: std::sync::Mutex<Vec<(u64, String, String, bool)>>,
    next_id: std::sync::atomic::AtomicU64,
    /// The critical tasks that were running when `kill` came (the record's `left_running`).
    at_kill: std::sync::Mutex<Vec<RunningTask>>,
}

/// A task running on a host.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunningTask {
    pub host: String,
    pub task: String,
    pub critical: bool,
}

/// Removes its task from the running list when the task ends.
pub struct RunningGuard(Interrupt, u64);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if let Ok(mut r) = self.0.0.running.lock() {
            r.retain(|t| t.0 != self.1);
        }
    }
}

impl Interrupt {
    pub fn stop(&self) {
        self.0.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn kill(&self) {
        self.stop();
        let critical: Vec<RunningTask> = self.running().into_iter().filter(|t| t.critical).collect();
        if let Ok(mut k) = self.0.at_kill.lock() {
            *k = critical;
        }
        self.0.kill.store(true, std::sync::atomic::Ordering::SeqCst);
        self.0.notify.notify_waiters();
    }
    pub fn is_stopped(&self) -> bool {
        self.0.stop.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Resolves once `kill` was called.
    pub async fn killed(&self) {
        loop {
            let notified = self.0.notify.notified();
            if self.0.kill.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
    /// Note a task as running on a host until the guard is dropped.
    pub fn enter(&self, host: &str, task: &str, critical: bool) -> RunningGuard {
        let id = self.0.next_id.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut r) = self.0.running.lock() {
            r.push((id, host.to_string(), task.to_string(), critical));
        }
        RunningGuard(self.clone(), id)
    }
    /// The tasks running now, by host.
    pub fn running(&self) -> Vec<RunningTask> {
        let mut v: Vec<RunningTask> = self
            .0
            .running
            .lock()
            .map(|r| r.iter().map(|(_, h, t, c)| RunningTask { host: h.clone(), task: t.clone(), critical: *c }).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.host.cmp(&b.host));
        v
    }
    /// The critical tasks that were running when the run was aborted: left to finish on their hosts.
    pub fn left_running(&self) -> Vec<RunningTask> {
        self.0.at_kill.lock().map(|k| k.clone()).unwrap_or_default()
    }
}

/// "h1: Install base packages (critical), h2: …" for messages.
pub fn describe_running(tasks: &[RunningTask]) -> String {
    if tasks.is_empty() {
        return "nothing".into();
    }
    tasks.iter().map(|t| format!("{}: {}{}", t.host, t.task, if t.critical { " (critical section)" } else { "" })).collect::<Vec<_>>().join(", ")
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            check: false,
            diff: false,
            forks: 100,
            tags: Vec::new(),
            skip_tags: Vec::new(),
            limit: None,
            extra_vars: Vars::new(),
            start_at_task: None,
            verbosity: 0,
            connect: ConnectOptions::default(),
            escalate: false,
            become_user: None,
            task_timeout: None,
            roles_path: Vec::new(),
            phases: PhaseSelection::All,
            record_dir: None,
            interrupt: Interrupt::default(),
            offline: false,
        }
    }
}

/// What a run ended with.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub stats: Vec<(String, HostStats)>,
    /// 0 ok, 2 a task or gate failed, 3 a host was unreachable.
    pub exit_code: i32,
    pub record: RunRecord,
    /// Connections opened per host (one per host on a healthy run).
    pub connections: Vec<(String, usize)>,
}

/// Something wrong with the input, found before any host was touched.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct PreflightError(pub String);

/// Exit codes, as documented in the README.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILED: i32 = 2;
    pub const UNREACHABLE: i32 = 3;
    pub const BAD_INPUT: i32 = 4;
    pub const INTERRUPTED: i32 = 130;
}

/// Run a playbook. Input problems (unknown phases, undecryptable vars files, …) are found before any host is
/// touched and returned as [`PreflightError`].
pub async fn run_playbook(
    playbook: Arc<Playbook>,
    inventory: Arc<Inventory>,
    opts: RunOptions,
    reporter: Reporter,
) -> Result<RunSummary, PreflightError> {
    let run = run::Run::new(playbook, inventory, opts, reporter)?;
    phases::run_all(run).await
}
