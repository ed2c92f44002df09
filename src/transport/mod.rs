//! Transports: how hlprov runs a command on a host. One small trait ([`Transport`]) with an SSH implementation
//! (russh; one connection per host, one channel per command) and a local one (`ansible_connection: local`).
//! [`Connection`] adds what is the same for every transport: privilege escalation, environment, the one
//! quoting helper. This layer knows nothing of tasks, modules or inventories.

mod connection;
mod detached;
pub mod keys;
pub mod known_hosts;
pub mod local;
mod probe_shell;
pub mod quote;
pub mod ssh;

use std::time::Duration;

pub use connection::{Become, Cmd, Connection};
pub use known_hosts::HostKeyPolicy;

/// Largest stdout (or stderr) hlprov keeps from one command; more is an error rather than unbounded memory.
pub const MAX_OUTPUT_BYTES: usize = 256 * 1024 * 1024;

/// How a remote command ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    /// Killed by a signal (name without SIG, e.g. "KILL").
    Signal(String),
}

/// What one command produced; stdout and stderr are kept apart.
#[derive(Clone, Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    /// The exit code as Ansible reports it (`-N` for "killed by signal N" is approximated by -1).
    pub fn rc(&self) -> i32 {
        match self.status {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(_) => -1,
        }
    }
    pub fn success(&self) -> bool {
        self.status == ExitStatus::Code(0)
    }
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Why a command could not be run (as opposed to running and failing, which is an [`Output`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TransportError {
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("{0}")]
    HostKey(known_hosts::HostKeyProblem),
    #[error("authentication as {user} on {target} failed: {reason}")]
    Auth { target: String, user: String, reason: String },
    #[error("connection lost to {target}: {reason}")]
    ConnectionLost { target: String, reason: String },
    #[error("command timed out after {}s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("privilege escalation failed: {0}")]
    Become(String),
    #[error("{0}")]
    Other(String),
}

impl TransportError {
    /// The host could not be reached at all (Ansible's UNREACHABLE), as opposed to a command that failed.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, TransportError::Connect { .. } | TransportError::HostKey(_) | TransportError::Auth { .. })
    }
}

/// Runs command lines on one host. Commands are POSIX sh; implementations run them with `/bin/sh -c`.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Run `command` with `stdin` (then end-of-file), waiting at most `timeout`.
    async fn run(&self, command: &str, stdin: Option<&[u8]>, timeout: Option<Duration>) -> Result<Output, TransportError>;
    /// Run a POSIX sh script of hlprov's own that only reads the host (a probe): no stdin, and nothing started
    /// that outlives it. A transport may run it on a long-lived shell instead of a new session (SSH does).
    async fn run_probe(&self, script: &str, timeout: Option<Duration>) -> Result<Output, TransportError> {
        self.run(&format!("/bin/sh -c {}", quote::quote(script)), None, timeout).await
    }
    /// Who and where, for messages: `root@127.0.0.1:2201`.
    fn target(&self) -> &str;
    /// How many times a connection was opened (1 for a healthy host, however many commands ran).
    fn connections_opened(&self) -> usize;
    /// Close the connection, if one is open.
    async fn close(&self);
}
