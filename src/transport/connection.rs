//! A host's connection as tasks see it: a transport plus privilege escalation (sudo) and environment.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OnceCell;

use super::quote::quote;
use super::{Output, Transport, TransportError};

/// Privilege escalation for one command: `sudo` to `user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Become {
    pub user: String,
}

/// One command to run: a POSIX sh script plus how to run it.
#[derive(Clone, Debug, Default)]
pub struct Cmd<'a> {
    pub script: &'a str,
    pub stdin: Option<&'a [u8]>,
    pub become_user: Option<&'a str>,
    pub env: &'a [(String, String)],
    pub timeout: Option<Duration>,
    /// The script only reads the host (see [`Transport::run_probe`]); with no stdin it may go to a long-lived shell.
    pub probe: bool,
}

impl<'a> Cmd<'a> {
    pub fn new(script: &'a str) -> Cmd<'a> {
        Cmd { script, ..Default::default() }
    }
    pub fn stdin(mut self, data: &'a [u8]) -> Self {
        self.stdin = Some(data);
        self
    }
}

/// A host's transport with the login user and become settings.
pub struct Connection {
    transport: Arc<dyn Transport>,
    login_user: String,
    become_password: Option<String>,
    /// Whether sudo asks this host for a password (probed once, only when a password is configured).
    sudo_needs_password: OnceCell<bool>,
}

impl Connection {
    pub fn new(transport: Arc<dyn Transport>, login_user: String, become_password: Option<String>) -> Connection {
        if let Some(p) = &become_password {
            crate::redact::register(p);
        }
        Connection { transport, login_user, become_password, sudo_needs_password: OnceCell::new() }
    }

    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    pub fn login_user(&self) -> &str {
        &self.login_user
    }

    /// Run a command, escalating privileges if asked. Escalating to the user we already are is skipped.
    pub async fn exec(&self, cmd: &Cmd<'_>) -> Result<Output, TransportError> {
        let mut script = String::new();
        for (k, v) in cmd.env {
            if !is_env_name(k) {
                return Err(TransportError::Other(format!("'{k}' is not a valid environment variable name")));
            }
            script.push_str(&format!("export {k}={}; ", quote(v)));
        }
        script.push_str(cmd.script);
        let probe = cmd.probe && cmd.stdin.is_none();
        let inner = format!("/bin/sh -c {}", quote(&script));
        let Some(user) = cmd.become_user.filter(|u| *u != self.login_user) else {
            if probe {
                return self.transport.run_probe(&script, cmd.timeout).await;
            }
            return self.transport.run(&inner, cmd.stdin, cmd.timeout).await;
        };
        let needs_password = match &self.become_password {
            None => false,
            Some(_) => *self.sudo_needs_password.get_or_try_init(|| self.probe_sudo()).await?,
        };
        if !needs_password {
            let line = format!("sudo -H -n -u {} -- {inner}", quote(user));
            let out = if probe { self.transport.run_probe(&line, cmd.timeout).await? } else { self.transport.run(&line, cmd.stdin, cmd.timeout).await? };
            return check_sudo(out, user);
        }
        // sudo -S reads the password line from stdin, then the command gets the rest of stdin.
        let password = self.become_password.as_deref().unwrap_or_default();
        let mut input = Vec::with_capacity(password.len() + 1 + cmd.stdin.map_or(0, |s| s.len()));
        input.extend_from_slice(password.as_bytes());
        input.push(b'\n');
        input.extend_from_slice(cmd.stdin.unwrap_or_default());
        let line = format!("sudo -H -S -p '' -u {} -- {inner}", quote(user));
        let out = self.transport.run(&line, Some(&input), cmd.timeout).await?;
        check_sudo(out, user)
    }

    async fn probe_sudo(&self) -> Result<bool, TransportError> {
        let out = self.transport.run("sudo -n true", None, Some(Duration::from_secs(30))).await?;
        Ok(!out.success())
    }
}

/// sudo's own failures (exit 1 with its message) are escalation errors, not the command's.
fn check_sudo(out: Output, user: &str) -> Result<Output, TransportError> {
    let err = String::from_utf8_lossy(&out.stderr);
    if out.rc() == 1
        && (err.contains("a password is required")
            || err.contains("sudo: unknown user")
            || err.contains("is not in the sudoers file")
            || err.contains("incorrect password attempt")
            || err.contains("sudo: command not found")
            || err.starts_with("sudo: "))
    {
        return Err(TransportError::Become(format!("sudo to {user}: {}", err.trim())));
    }
    if out.rc() == 127 && err.contains("sudo") {
        return Err(TransportError::Become(format!("sudo is not installed on the host: {}", err.trim())));
    }
    Ok(out)
}

fn is_env_name(k: &str) -> bool {
    !k.is_empty() && !k.starts_with(|c: char| c.is_ascii_digit()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
