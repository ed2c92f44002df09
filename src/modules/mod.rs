//! Modules: the units of work a task names (`command`, `copy`, `apt`, …). Each module is one file with one
//! struct implementing [`Module`]; [`registry`] lists them. A module looks at the host and returns a [`Plan`]:
//! the changes it would make, each with its diff and the step that makes it. The engine (`exec::module_step`)
//! alone decides to apply them, or in check mode to report them, and whether diffs are shown. Modules need
//! only a POSIX shell and coreutils on the target; what several modules share is in [`helpers`].
//!
//! Generic task keywords (when, loop, become, register, …) and engine control (set_fact, meta) are the
//! executor's business, not a module's. CONTRIBUTING.md shows how to add a module.

mod alternatives;
mod apt;
mod apt_repository;
pub mod args;
mod assemble;
mod async_status;
mod authorized_key;
mod blockinfile;
mod commands;
mod copy;
mod cron;
mod ctx;
mod deb822_repository;
mod debconf;
mod dpkg_selections;
mod fetch;
mod file;
mod find;
mod flow;
mod get_url;
mod getent;
mod git;
mod group;
pub mod helpers;
mod hostname;
mod iptables;
pub mod k8s;
mod k8s_secret;
mod known_hosts;
mod lineinfile;
mod modprobe;
mod mount;
mod package;
mod package_facts;
mod pause;
mod ping;
pub mod plan;
mod proxmox_lxc;
mod proxmox_lxc_raw;
mod proxmox_template;
mod reboot;
pub mod registry;
mod replace;
mod service;
mod service_facts;
mod setup;
mod slurp;
mod stat;
mod sysctl;
mod systemd;
mod tempfile;
mod template;
mod timezone;
mod ufw;
mod unarchive;
mod uri;
mod user;
mod wait_for;
mod wait_for_connection;

use serde_json::{Map, Value};

use crate::transport::TransportError;
pub use args::{ArgKind, ArgSpec, Args, CheckMode, ModuleSpec};
pub use ctx::{ApplyCtx, EngineToken, FileKind, ModuleCtx, PlainEnv, TaskEnv};
pub use plan::{Change, Plan, Step};

/// A unit of work. A module looks at the host and says what it would change ([`Module::plan`]); the engine
/// decides whether the changes are made ([`Module::apply`]), only reported (check mode), and whether their
/// diffs are shown. A module cannot change a host while planning: its context can only read.
#[async_trait::async_trait]
pub trait Module: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for `hlprov modules` and docs/modules.md.
    fn summary(&self) -> &'static str;
    fn spec(&self) -> &'static ModuleSpec;
    /// Where the module differs from Ansible's module of the same name (for docs/modules.md); empty if it does not.
    fn notes(&self) -> &'static str {
        ""
    }
    /// Whether the module needs a connection to the host (debug, assert … run on the controller).
    fn needs_host(&self) -> bool {
        true
    }
    /// Look at the host and say what would change to reach the state the arguments ask for. Only reads.
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError>;
    /// What the module would make on a host that has nothing yet, known from its arguments alone, for
    /// `hlprov render` (no host, no connection: `ctx.conn` is None). None: only a host can tell (packages,
    /// services, commands). Modules that run on the controller are planned as usual instead.
    fn render(&self, _ctx: &ModuleCtx<'_>, _args: &Args) -> Option<Result<Plan, ModuleError>> {
        None
    }
    /// Make the planned changes, deciding nothing new. The engine calls this only outside check mode, and only
    /// when the plan has changes or preliminary steps. The default carries out each step in order.
    async fn apply(&self, ctx: &ApplyCtx<'_>, _args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        apply_steps(ctx, plan).await
    }
}

/// Content before and after a change, for `--diff`.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Diff {
    pub before_header: String,
    pub after_header: String,
    pub before: String,
    pub after: String,
}

/// What a module did on one host (or, in check mode, what the engine reports it would do).
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub changed: bool,
    pub msg: Option<String>,
    /// The diffs of the changes made (the engine drops them unless a diff was asked for).
    pub diffs: Vec<Diff>,
    /// Module-specific result keys (rc, stdout, path, …), as Ansible registers them.
    pub data: Map<String, Value>,
    /// Facts gathered about the host (setup): they become `ansible_facts` and `ansible_*` variables.
    pub facts: Option<Map<String, Value>>,
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome::default()
    }
    pub fn changed(changed: bool) -> Outcome {
        Outcome { changed, ..Default::default() }
    }
    pub fn with(mut self, key: &str, v: impl Into<Value>) -> Outcome {
        self.data.insert(key.to_string(), v.into());
        self
    }
    pub fn msg(mut self, m: impl Into<String>) -> Outcome {
        self.msg = Some(m.into());
        self
    }
    pub fn diff(mut self, d: Diff) -> Outcome {
        self.diffs.push(d);
        self
    }
    /// What a plan reports without being applied: its result keys, changed if it has changes.
    pub fn from_plan(plan: &Plan) -> Outcome {
        Outcome { changed: !plan.is_empty(), msg: plan.msg.clone(), diffs: plan.diffs(), data: plan.result.clone(), facts: plan.facts.clone() }
    }
}

/// A module that ran and could not reach the state asked for: Ansible's `fail_json`, with its extra keys.
#[derive(Clone, Debug, Default)]
pub struct Failure {
    pub msg: String,
    /// Result keys that go with the failure (rc, stdout, stderr, …).
    pub data: Map<String, Value>,
    /// Something changed before it failed (a command that ran and exited non-zero).
    pub changed: bool,
}

/// Why a module did not reach the state asked for. Every failure of a module is one of these (never an
/// `Outcome`): bad arguments, an unreachable or lost host, a failed change, a host that cannot do it.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The arguments are wrong (found before or while running).
    #[error("{0}")]
    Args(String),
    /// The host could not be reached, or the connection broke.
    #[error("{0}")]
    Transport(TransportError),
    /// The module ran and could not reach the wanted state.
    #[error("{}", .0.msg)]
    Failed(Box<Failure>),
    /// A template the module renders (its source file, a condition) failed, with its file and line.
    #[error("{0}")]
    Template(crate::template::TemplateError),
    /// The host cannot do this at all (a kernel module inside a container, …), said plainly.
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Internal(String),
}

impl ModuleError {
    /// A failure with this message.
    pub fn failed(msg: impl Into<String>) -> ModuleError {
        ModuleError::Failed(Box::new(Failure { msg: msg.into(), ..Default::default() }))
    }
    /// Add a result key to a failure (other errors are returned as they are).
    pub fn with(mut self, key: &str, v: impl Into<Value>) -> ModuleError {
        if let ModuleError::Failed(f) = &mut self {
            f.data.insert(key.to_string(), v.into());
        }
        self
    }
    /// Mark a failure as having changed the host first.
    pub fn after_change(mut self) -> ModuleError {
        if let ModuleError::Failed(f) = &mut self {
            f.changed = true;
        }
        self
    }
}

/// Carry out every preliminary step and change of `plan` in order, with the plain steps ([`Step::Run`],
/// [`Step::RunAndProbe`], [`Step::Write`]); the result is the plan's, plus what the steps report.
pub async fn apply_steps(ctx: &ApplyCtx<'_>, plan: Plan) -> Result<Outcome, ModuleError> {
    let mut data = plan.result.clone();
    for step in &plan.preliminary {
        apply_step(ctx, step, &mut data).await?;
    }
    for c in &plan.changes {
        apply_step(ctx, &c.step, &mut data).await?;
    }
    Ok(Outcome { changed: !plan.is_empty(), msg: plan.msg.clone(), diffs: plan.diffs(), data, facts: plan.facts.clone() })
}

/// Carry out one plain step; what it reports (a path's attributes after a write) goes into `result`.
pub async fn apply_step(ctx: &ApplyCtx<'_>, step: &Step, result: &mut Map<String, Value>) -> Result<(), ModuleError> {
    match step {
        Step::Run { script, stdin, what } => {
            ctx.write_ok(script, stdin.as_deref(), what).await?;
        }
        Step::RunAndProbe { path, script, what } => {
            let after = helpers::remote_file::change_and_probe(ctx, path, script, what).await?;
            result.extend(helpers::remote_file::path_info(&after));
        }
        Step::Write(w) => {
            let written = helpers::remote_file::write_atomic(ctx, w).await?;
            if let Some(b) = written.backup_file {
                result.insert("backup_file".into(), b.into());
            }
            result.extend(helpers::remote_file::path_info(&written.after));
        }
        Step::Joined => {}
        Step::Module => return Err(ModuleError::Internal("a module step reached the plain step runner (module bug)".into())),
    }
    Ok(())
}

/// Split command output into lines as Ansible's `stdout_lines` does.
pub fn lines(text: &str) -> Value {
    Value::Array(text.lines().map(|l| Value::String(l.to_string())).collect())
}

/// A timestamp in Ansible's `start`/`end` format.
pub fn timestamp() -> String {
    jiff::ZonedDateTime::now().strftime("%Y-%m-%d %H:%M:%S%.6f").to_string()
}
