//! What a module is given: [`ModuleCtx`] to look at a host (reads only) while planning, and [`ApplyCtx`] to make
//! the planned changes. Only the engine can make an `ApplyCtx` (it needs an [`EngineToken`]), so a module cannot
//! change a host while planning, and nothing is changed in check mode.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::ModuleError;
use crate::template::{FileSyntax, TemplateError, TemplateErrorKind};
use crate::transport::{Cmd, Connection, Output};
use crate::yaml::Span;

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
    fn render(&self, text: &str, origin: &str) -> Result<String, TemplateError>;
    /// Render a template file (the template module: `src` as written, found at `path`, going to `dest`) with its
    /// own delimiters and Ansible's template variables (`template_path`, …); its `{% include %}` and
    /// `{% import %}` are looked up as Ansible's template module does (the engine adds the folders).
    fn render_file(&self, text: &str, path: &Path, syntax: FileSyntax, src: &str, dest: &str) -> Result<String, TemplateError> {
        let _ = (syntax, src, dest);
        self.render(text, &path.display().to_string())
    }
    /// Evaluate a bare Jinja expression (debug var=, assert that=) with the task's variables.
    fn eval(&self, expr: &str) -> Result<Value, TemplateError>;
    /// Evaluate a condition (assert).
    fn condition(&self, expr: &str) -> Result<bool, TemplateError>;
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
    fn render(&self, text: &str, _: &str) -> Result<String, TemplateError> {
        Ok(text.to_string())
    }
    fn eval(&self, expr: &str) -> Result<Value, TemplateError> {
        Err(no_variables(expr))
    }
    fn condition(&self, expr: &str) -> Result<bool, TemplateError> {
        Err(no_variables(expr))
    }
    fn fact(&self, _: &str) -> Option<Value> {
        None
    }
}

/// What a module is given to look at one host. It can only read.
pub struct ModuleCtx<'a> {
    pub host: &'a str,
    pub conn: Option<&'a Connection>,
    /// A diff will be shown: fetch what it needs (a file's old content). Whether it is shown is not the
    /// module's business.
    pub diff: bool,
    pub become_user: Option<String>,
    pub env: Vec<(String, String)>,
    pub timeout: Option<Duration>,
    /// `async: N` with `poll: 0`: start the command as a background job limited to N seconds and return at
    /// once (only command, shell and script can; see `commands::start_job`).
    pub background: Option<u64>,
    pub task: &'a dyn TaskEnv,
}

impl<'a> ModuleCtx<'a> {
    pub fn new(host: &'a str, conn: Option<&'a Connection>, task: &'a dyn TaskEnv) -> ModuleCtx<'a> {
        ModuleCtx { host, conn, diff: false, become_user: None, env: Vec::new(), timeout: None, background: None, task }
    }

    fn conn(&self) -> Result<&'a Connection, ModuleError> {
        self.conn.ok_or_else(|| ModuleError::Internal("this module needs a connection to the host".into()))
    }

    async fn exec(&self, script: &str, stdin: Option<&[u8]>, probe: bool) -> Result<Output, ModuleError> {
        let cmd = Cmd { script, stdin, become_user: self.become_user.as_deref(), env: &self.env, timeout: self.timeout, probe };
        self.conn()?.exec(&cmd).await.map_err(ModuleError::Transport)
    }

    /// Run a script that only reads the host. It must not start anything that outlives it: reads may share one
    /// long-lived shell on the host (see `transport::probe_shell`).
    pub async fn read(&self, script: &str) -> Result<Output, ModuleError> {
        self.exec(script, None, true).await
    }

    /// Run a script that only reads the host, feeding it `stdin` (an archive to compare, a request body).
    /// (A read with stdin gets a channel of its own: the connection sends only stdin-less probes to the shell.)
    pub async fn read_input(&self, script: &str, stdin: Option<&[u8]>) -> Result<Output, ModuleError> {
        self.exec(script, stdin, true).await
    }

    /// A read that must succeed; its stderr becomes the error otherwise.
    pub async fn read_ok(&self, script: &str, what: &str) -> Result<Output, ModuleError> {
        let out = self.read(script).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!("{what} failed (rc={}): {}", out.rc(), out.stderr_text().trim())));
        }
        Ok(out)
    }

    /// The same context with another time limit per command (waiting for a reboot, polling a port).
    pub fn with_timeout(&self, timeout: Option<Duration>) -> ModuleCtx<'a> {
        ModuleCtx {
            host: self.host,
            conn: self.conn,
            diff: self.diff,
            become_user: self.become_user.clone(),
            env: self.env.clone(),
            timeout,
            background: self.background,
            task: self.task,
        }
    }
}

/// Proof that the engine, and only the engine, is making an [`ApplyCtx`]: its field is private to `exec`'s
/// `module_step`, which makes one only outside check mode.
pub struct EngineToken(pub(crate) ());

/// What a module is given to make its planned changes: a [`ModuleCtx`] that can also write.
pub struct ApplyCtx<'a> {
    inner: ModuleCtx<'a>,
}

impl<'a> std::ops::Deref for ApplyCtx<'a> {
    type Target = ModuleCtx<'a>;
    fn deref(&self) -> &ModuleCtx<'a> {
        &self.inner
    }
}

impl<'a> ApplyCtx<'a> {
    /// The engine's way in (see [`EngineToken`]).
    pub fn new(ctx: ModuleCtx<'a>, _: &EngineToken) -> ApplyCtx<'a> {
        ApplyCtx { inner: ctx }
    }

    /// Run a script that changes the host.
    pub async fn write(&self, script: &str, stdin: Option<&[u8]>) -> Result<Output, ModuleError> {
        self.inner.exec(script, stdin, false).await
    }

    /// Run a script that changes the host as a critical section that outlives the SSH session (a package
    /// manager run): a lost connection is followed by collecting its result through a new one, or by an error
    /// saying the result is unknown (see `transport::detached`).
    pub async fn write_detached(&self, script: &str) -> Result<Output, ModuleError> {
        let c = &self.inner;
        let cmd = Cmd { script, stdin: None, become_user: c.become_user.as_deref(), env: &c.env, timeout: c.timeout, probe: false };
        c.conn()?.exec_detached(&cmd).await.map_err(ModuleError::Transport)
    }

    /// Run a script that changes the host and must succeed; its stderr becomes the error otherwise.
    pub async fn write_ok(&self, script: &str, stdin: Option<&[u8]>, what: &str) -> Result<Output, ModuleError> {
        let out = self.write(script, stdin).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!("{what} failed (rc={}): {}", out.rc(), out.stderr_text().trim())));
        }
        Ok(out)
    }

    /// The same context with another time limit per command.
    pub fn with_timeout(&self, timeout: Option<Duration>) -> ApplyCtx<'a> {
        ApplyCtx { inner: self.inner.with_timeout(timeout) }
    }
}

/// What a [`PlainEnv`] answers when asked to evaluate: there are no variables.
fn no_variables(expr: &str) -> TemplateError {
    TemplateError::new(TemplateErrorKind::Runtime, &Span::synthetic("ad hoc"), format!("no variables here to evaluate '{expr}'"))
}
