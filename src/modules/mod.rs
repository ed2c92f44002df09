//! Modules: the units of work a task names (`command`, `copy`, `apt`, …). Each module is one file with one
//! struct implementing [`Module`]; [`registry`] lists them. A module gathers the host's state, compares it
//! with what the arguments ask for, changes the host only if needed (never in check mode), and reports an
//! [`Outcome`]. Modules need only a POSIX shell and coreutils on the target.
//!
//! Generic task keywords (when, loop, become, register, …) are the executor's business, not a module's.

mod apt;
mod apt_repository;
pub mod args;
mod authorized_key;
mod blockinfile;
mod commands;
mod copy;
mod deb822_repository;
mod fetch;
mod file;
mod flow;
mod get_url;
mod group;
pub mod host;
mod hostname;
mod http;
mod k8s_secret;
mod lineinfile;
pub mod mode;
mod modprobe;
mod mount;
mod package;
mod ping;
pub mod pyre;
mod reboot;
pub mod registry;
pub mod remote_file;
mod replace;
mod service;
mod setup;
mod slurp;
mod stat;
mod sysctl;
mod systemd;
mod template;
mod text_edit;
mod unarchive;
mod uri;
mod user;
mod wait_for;

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::transport::{Cmd, Connection, Output, TransportError};
pub use args::{ArgKind, ArgSpec, Args, ModuleSpec};

/// A unit of work.
#[async_trait::async_trait]
pub trait Module: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line for `hlprov doc` and docs/modules.md.
    fn summary(&self) -> &'static str;
    fn spec(&self) -> &'static ModuleSpec;
    /// Where the module differs from Ansible's module of the same name (for docs/modules.md); empty if it does not.
    fn notes(&self) -> &'static str {
        ""
    }
    /// Whether the module needs a connection to the host (debug, set_fact, assert … run on the controller).
    fn needs_host(&self) -> bool {
        true
    }
    /// Whether a run in check mode is meaningful: modules that cannot predict (command without creates,
    /// raw) are skipped in check mode instead.
    fn supports_check_mode(&self) -> bool {
        true
    }
    async fn run(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError>;
}

/// Where a controller-side file for a task is looked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// `copy src:`, `script`, `lookup('file')`: a role's files/, then the playbook's files/ and folder.
    Files,
    /// `template src:`: a role's templates/, then the playbook's templates/ and folder.
    Templates,
}

/// What the executor provides to modules beyond the connection: files, variables, templating.
pub trait TaskEnv: Send + Sync {
    /// Find a file on the controller for `name` (relative names are searched; absolute ones are taken as given).
    fn find_file(&self, kind: FileKind, name: &str) -> Result<PathBuf, String>;
    /// Render Jinja2 text (template module) with the task's variables. `origin` names the source for errors.
    fn render(&self, text: &str, origin: &str) -> Result<String, String>;
    /// Evaluate a bare Jinja expression (debug var=, assert that=) with the task's variables.
    fn eval(&self, expr: &str) -> Result<Value, String>;
    /// Evaluate a condition (assert).
    fn condition(&self, expr: &str) -> Result<bool, String>;
    /// A gathered fact (`os_family`, …) if facts were gathered.
    fn fact(&self, name: &str) -> Option<Value>;
    /// The folder relative controller paths are taken from (the playbook's folder; `fetch dest`).
    fn base_dir(&self) -> PathBuf {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    }
}

/// A [`TaskEnv`] with no playbook behind it (ad-hoc commands): files relative to the working folder,
/// templates rendered as they are.
pub struct PlainEnv;

impl TaskEnv for PlainEnv {
    fn find_file(&self, _: FileKind, name: &str) -> Result<PathBuf, String> {
        let p = PathBuf::from(name);
        if p.exists() { Ok(p) } else { Err(format!("could not find '{name}' on the controller")) }
    }
    fn render(&self, text: &str, _: &str) -> Result<String, String> {
        Ok(text.to_string())
    }
    fn eval(&self, expr: &str) -> Result<Value, String> {
        Err(format!("no variables here to evaluate '{expr}'"))
    }
    fn condition(&self, expr: &str) -> Result<bool, String> {
        Err(format!("no variables here to evaluate '{expr}'"))
    }
    fn fact(&self, _: &str) -> Option<Value> {
        None
    }
}

/// What a module is given to do its work on one host.
pub struct ModuleCtx<'a> {
    pub host: &'a str,
    pub conn: Option<&'a Connection>,
    pub check: bool,
    pub diff: bool,
    pub become_user: Option<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    pub task: &'a dyn TaskEnv,
}

impl<'a> ModuleCtx<'a> {
    pub fn new(host: &'a str, conn: Option<&'a Connection>, task: &'a dyn TaskEnv) -> ModuleCtx<'a> {
        ModuleCtx { host, conn, check: false, diff: false, become_user: None, env: Vec::new(), timeout: None, task }
    }

    fn conn(&self) -> Result<&'a Connection, ModuleError> {
        self.conn.ok_or_else(|| ModuleError::Internal("this module needs a connection to the host".into()))
    }

    async fn exec(&self, script: &str, stdin: Option<&[u8]>, probe: bool) -> Result<Output, ModuleError> {
        let cmd = Cmd { script, stdin, become_user: self.become_user.as_deref(), env: &self.env, timeout: self.timeout, probe };
        self.conn()?.exec(&cmd).await.map_err(ModuleError::Transport)
    }

    /// Run a script that only reads the host (allowed in check mode). It must not start anything that outlives
    /// it: reads may share one long-lived shell on the host (see `transport::probe_shell`).
    pub async fn read(&self, script: &str) -> Result<Output, ModuleError> {
        self.exec(script, None, true).await
    }

    /// Run a script that only reads the host, feeding it `stdin` (an archive to compare, a request body).
    /// (A read with stdin gets a channel of its own: the connection sends only stdin-less probes to the shell.)
    pub async fn read_input(&self, script: &str, stdin: Option<&[u8]>) -> Result<Output, ModuleError> {
        self.exec(script, stdin, true).await
    }

    /// The same context with another time limit per command (waiting for a reboot, polling a port).
    pub fn with_timeout(&self, timeout: Option<Duration>) -> ModuleCtx<'a> {
        ModuleCtx {
            host: self.host,
            conn: self.conn,
            check: self.check,
            diff: self.diff,
            become_user: self.become_user.clone(),
            env: self.env.clone(),
            timeout,
            task: self.task,
        }
    }

    /// Run a script that changes the host. Refused in check mode: a module that gets here in check mode is a bug.
    pub async fn write(&self, script: &str, stdin: Option<&[u8]>) -> Result<Output, ModuleError> {
        if self.check {
            return Err(ModuleError::Internal(format!("refusing to change {} in check mode (module bug)", self.host)));
        }
        self.exec(script, stdin, false).await
    }

    /// Run a script that changes the host and must succeed; its stderr becomes the error otherwise.
    pub async fn write_ok(&self, script: &str, stdin: Option<&[u8]>, what: &str) -> Result<Output, ModuleError> {
        let out = self.write(script, stdin).await?;
        if !out.success() {
            return Err(ModuleError::Failed(format!("{what} failed (rc={}): {}", out.rc(), out.stderr_text().trim())));
        }
        Ok(out)
    }

    /// A read that must succeed.
    pub async fn read_ok(&self, script: &str, what: &str) -> Result<Output, ModuleError> {
        let out = self.read(script).await?;
        if !out.success() {
            return Err(ModuleError::Failed(format!("{what} failed (rc={}): {}", out.rc(), out.stderr_text().trim())));
        }
        Ok(out)
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

/// What the executor must do after a `meta` task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    FlushHandlers,
    EndPlay,
    EndHost,
    ClearFacts,
    ClearHostErrors,
    Noop,
}

/// The result of running a module on one host.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: Option<String>,
    pub diffs: Vec<Diff>,
    /// Module-specific result keys (rc, stdout, path, …), as Ansible registers them.
    pub data: Map<String, Value>,
    /// Facts gathered about the host (setup): they become `ansible_facts` and `ansible_*` variables.
    pub facts: Option<Map<String, Value>>,
    /// Host variables to set for the rest of the run (set_fact).
    pub set_vars: Option<Map<String, Value>>,
    pub control: Option<Control>,
}

impl Outcome {
    pub fn ok() -> Outcome {
        Outcome::default()
    }
    pub fn changed(changed: bool) -> Outcome {
        Outcome { changed, ..Default::default() }
    }
    pub fn failed(msg: impl Into<String>) -> Outcome {
        Outcome { failed: true, msg: Some(msg.into()), ..Default::default() }
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

    /// The result as a task registers it (`register: r` → `r.rc`, `r.changed`, …).
    pub fn to_value(&self) -> Value {
        let mut m = self.data.clone();
        m.insert("changed".into(), Value::Bool(self.changed));
        if self.failed {
            m.insert("failed".into(), Value::Bool(true));
        } else {
            m.entry("failed").or_insert(Value::Bool(false));
        }
        if self.skipped {
            m.insert("skipped".into(), Value::Bool(true));
        }
        if let Some(msg) = &self.msg {
            m.insert("msg".into(), Value::String(msg.clone()));
        }
        if !self.diffs.is_empty() {
            let d: Vec<Value> = self.diffs.iter().map(|d| serde_json::to_value(d).unwrap_or_default()).collect();
            m.insert("diff".into(), if d.len() == 1 { d[0].clone() } else { Value::Array(d) });
        }
        if let Some(f) = self.facts.as_ref().or(self.set_vars.as_ref()) {
            m.insert("ansible_facts".into(), Value::Object(f.clone()));
        }
        Value::Object(m)
    }
}

/// Why a module could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The arguments are wrong (found before or while running).
    #[error("{0}")]
    Args(String),
    /// The host could not be reached, or the connection broke.
    #[error("{0}")]
    Transport(TransportError),
    /// The module ran and could not reach the wanted state.
    #[error("{0}")]
    Failed(String),
    /// The host cannot do this at all (a kernel module inside a container, …), said plainly.
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Internal(String),
}

/// Split command output into lines as Ansible's `stdout_lines` does.
pub fn lines(text: &str) -> Value {
    Value::Array(text.lines().map(|l| Value::String(l.to_string())).collect())
}

/// A timestamp in Ansible's `start`/`end` format.
pub fn timestamp() -> String {
    jiff::ZonedDateTime::now().strftime("%Y-%m-%d %H:%M:%S%.6f").to_string()
}
