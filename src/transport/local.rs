//! The local transport (`ansible_connection: local`): commands run on the controller through /bin/sh.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::{ExitStatus, Output, Transport, TransportError};

pub struct LocalTransport {
    target: String,
}

impl LocalTransport {
    pub fn new() -> LocalTransport {
        let user = std::env::var("USER").unwrap_or_else(|_| "local".into());
        LocalTransport { target: format!("{user}@localhost (local)") }
    }
}

impl Default for LocalTransport {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl Transport for LocalTransport {
    async fn run(&self, command: &str, stdin: Option<&[u8]>, timeout: Option<Duration>) -> Result<Output, TransportError> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| TransportError::Other(format!("cannot start /bin/sh: {e}")))?;
        let input = stdin.map(|s| s.to_vec());
        let mut pipe = child.stdin.take();
        let feed = async move {
            if let (Some(pipe), Some(data)) = (pipe.as_mut(), input) {
                let _ = pipe.write_all(&data).await;
            }
            drop(pipe);
        };
        let wait = async {
            let (_, out) = tokio::join!(feed, child.wait_with_output());
            out
        };
        let out = match timeout {
            Some(t) => tokio::time::timeout(t, wait).await.map_err(|_| TransportError::Timeout(t))?,
            None => wait.await,
        }
        .map_err(|e| TransportError::Other(e.to_string()))?;
        let status = match out.status.code() {
            Some(c) => ExitStatus::Code(c),
            None => {
                use std::os::unix::process::ExitStatusExt;
                ExitStatus::Signal(out.status.signal().map(|s| s.to_string()).unwrap_or_default())
            }
        };
        Ok(Output { status, stdout: out.stdout, stderr: out.stderr })
    }

    fn target(&self) -> &str {
        &self.target
    }

    fn connections_opened(&self) -> usize {
        0
    }

    async fn close(&self) {}
}
