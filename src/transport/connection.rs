//! A host's connection as tasks see it: a transport plus privilege escalation (sudo) and environment.
//!
//! Every command carries a random tag in its environment (`HLPROV_CMD`), inherited by everything it starts.
//! A command that timed out, lost its connection or was abandoned (Ctrl-C) may still be running on the host:
//! sshd does not stop a session's processes when the connection goes. The tag lets hlprov find and stop
//! them through a fresh connection, so a task reported as failed does not go on changing the host.

use std::sync::{Arc, Mutex as StdMutex};
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
    /// Tags (and become user) of commands whose caller went away before they ended: stopped before the next command.
    abandoned: StdMutex<Vec<(String, Option<String>)>>,
}

/// How long stopping leftover commands may take (connecting again included); the host may be unreachable,
/// so this is best effort.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl Connection {
    pub fn new(transport: Arc<dyn Transport>, login_user: String, become_password: Option<String>) -> Connection {
        if let Some(p) = &become_password {
            crate::redact::register(p);
        }
        Connection { transport, login_user, become_password, sudo_needs_password: OnceCell::new(), abandoned: StdMutex::default() }
    }

    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    pub fn login_user(&self) -> &str {
        &self.login_user
    }

    /// Run a command, escalating privileges if asked. Escalating to the user we already are is skipped.
    /// If it times out or its connection drops, what it started on the host is stopped before this returns.
    pub async fn exec(&self, cmd: &Cmd<'_>) -> Result<Output, TransportError> {
        self.stop_abandoned().await;
        let tag = format!("{:016x}", rand::random::<u64>());
        let mut running = Running { conn: self, tag: Some(tag.clone()), become_user: cmd.become_user.map(str::to_string) };
        let result = self.exec_tagged(cmd, &tag).await;
        if matches!(result, Err(TransportError::Timeout(_) | TransportError::ConnectionLost { .. })) {
            // Still marked running: if the caller gives up during this too, the stop is retried later.
            self.stop_tagged(std::slice::from_ref(&tag), cmd.become_user).await;
        }
        running.tag = None;
        result
    }

    /// Stop what commands abandoned by their callers (a task cancelled by Ctrl-C or its time limit) left
    /// running. Best effort and bounded: the host may be unreachable.
    pub async fn stop_abandoned(&self) {
        let list = std::mem::take(&mut *self.abandoned.lock().unwrap_or_else(|p| p.into_inner()));
        // One round trip per become user (usually one).
        let mut users: Vec<Option<String>> = list.iter().map(|(_, u)| u.clone()).collect();
        users.dedup();
        for user in users {
            let tags: Vec<String> = list.iter().filter(|(_, u)| *u == user).map(|(t, _)| t.clone()).collect();
            self.stop_tagged(&tags, user.as_deref()).await;
        }
    }

    /// Terminate (then kill) every process on the host whose environment carries one of `tags`.
    async fn stop_tagged(&self, tags: &[String], become_user: Option<&str>) {
        if tags.is_empty() {
            return;
        }
        let script = stop_script(tags);
        let cmd = Cmd { script: &script, become_user, timeout: Some(STOP_TIMEOUT), ..Default::default() };
        let _ = tokio::time::timeout(STOP_TIMEOUT, self.exec_plain(&cmd)).await;
    }

    async fn exec_tagged(&self, cmd: &Cmd<'_>, tag: &str) -> Result<Output, TransportError> {
        let mut script = format!("HLPROV_CMD={tag}; export HLPROV_CMD; ");
        script.push_str(cmd.script);
        self.exec_plain(&Cmd { script: &script, ..cmd.clone() }).await
    }

    async fn exec_plain(&self, cmd: &Cmd<'_>) -> Result<Output, TransportError> {
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
            let out =
                if probe { self.transport.run_probe(&line, cmd.timeout).await? } else { self.transport.run(&line, cmd.stdin, cmd.timeout).await? };
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

/// Remembers a running command; if its caller drops the future before it ends, the tag is kept for stopping.
struct Running<'a> {
    conn: &'a Connection,
    tag: Option<String>,
    become_user: Option<String>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(tag) = self.tag.take() {
            self.conn.abandoned.lock().unwrap_or_else(|p| p.into_inner()).push((tag, self.become_user.take()));
        }
    }
}

/// POSIX sh: find processes by tag, TERM them (traps clean up temp files), then KILL. A command's children carry
/// the tag in their environment; the shell running the command's script has it only in its command line (the
/// script exports it), and must be stopped too or the script's next statements would run. The tag is spelled
/// `"$v=…"` here so that this script's own command line (and sudo's) never matches.
fn stop_script(tags: &[String]) -> String {
    let pattern: Vec<String> = tags.iter().map(|t| format!("*\"$v={t}\"*")).collect();
    format!(
        "v=HLPROV_; v=${{v}}CMD; pids=; for d in /proc/[0-9]*; do \
         case \"$(tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null) $(tr '\\0' ' ' < \"$d/cmdline\" 2>/dev/null)\" in {}) pids=\"$pids ${{d#/proc/}}\";; esac; done; \
         [ -n \"$pids\" ] || exit 0; kill -TERM $pids 2>/dev/null; sleep 1; kill -KILL $pids 2>/dev/null; exit 0",
        pattern.join("|")
    )
}

fn is_env_name(k: &str) -> bool {
    !k.is_empty() && !k.starts_with(|c: char| c.is_ascii_digit()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::local::LocalTransport;

    /// Whether a process still runs (a zombie waiting for its reaper has ended).
    fn running(pid: &str) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')))
    }

    #[tokio::test]
    async fn a_timed_out_command_and_what_it_started_are_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let conn = Connection::new(Arc::new(LocalTransport::new()), "me".into(), None);
        // A background child that outlives its shell unless something stops it.
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let cmd = Cmd { script: &script, timeout: Some(Duration::from_millis(500)), ..Default::default() };
        assert!(matches!(conn.exec(&cmd).await, Err(TransportError::Timeout(_))));
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
        assert!(!running(&pid), "sleep {pid} survived the timeout");
    }

    struct NotExec(LocalTransport);

    #[async_trait::async_trait]
    impl Transport for NotExec {
        async fn run(&self, command: &str, stdin: Option<&[u8]>, timeout: Option<Duration>) -> Result<Output, TransportError> {
            self.0.run(&format!("{command}; exit $?"), stdin, timeout).await
        }
        fn target(&self) -> &str {
            self.0.target()
        }
        fn connections_opened(&self) -> usize {
            0
        }
        async fn close(&self) {}
    }

    #[tokio::test]
    async fn a_timed_out_script_does_not_go_on_to_its_next_statements() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("next-statement-ran");
        // Like sshd, the transport's own process is not the script's shell (here it runs the command line and
        // then `exit`, so /bin/sh cannot exec it in place): stopping the transport's process leaves the script's
        // shell running unless the stop finds it too.
        let conn = Connection::new(Arc::new(NotExec(LocalTransport::new())), "me".into(), None);
        // (Its stderr goes to a file: a shell writing "Terminated" to the dropped pipe would die of SIGPIPE.)
        let script = format!("exec 2>/dev/null; sleep 2; touch {}", marker.display());
        let cmd = Cmd { script: &script, timeout: Some(Duration::from_millis(500)), ..Default::default() };
        assert!(matches!(conn.exec(&cmd).await, Err(TransportError::Timeout(_))));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!marker.exists(), "the script's shell survived the stop and ran its next statement");
    }

    #[tokio::test]
    async fn an_abandoned_command_is_stopped_before_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let conn = Connection::new(Arc::new(LocalTransport::new()), "me".into(), None);
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        // The caller gives up (as a task cut off by Ctrl-C does): the future is dropped mid-command.
        let _ = tokio::time::timeout(Duration::from_millis(500), conn.exec(&Cmd::new(&script))).await;
        let pid = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
        assert!(running(&pid));
        assert_eq!(conn.exec(&Cmd::new("echo next")).await.unwrap().stdout_text(), "next\n");
        assert!(!running(&pid), "sleep {pid} survived its abandoned command");
    }
}
