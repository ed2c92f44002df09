//! Helpers shared by the system-module tests (packages, services, users, files of /etc, network): run a script
//! in a test host with docker exec (independently of hlprov), and unwrap module results with useful messages.
#![allow(dead_code)]

use hlprov::modules::ModuleError;

use crate::common::Ran as Outcome;

use crate::common::{TestEnv, TestLab};

/// A task environment whose controller files live in a fresh temporary folder.
pub fn env() -> (tempfile::TempDir, TestEnv) {
    let dir = tempfile::tempdir().unwrap();
    let env = TestEnv::new(dir.path());
    (dir, env)
}

/// Run a shell script in host h1 with docker exec; it must succeed. Returns its output (stdout and stderr).
pub async fn sh(lab: &TestLab, script: &str) -> String {
    let (rc, out) = lab.docker_exec("h1", script).await;
    assert_eq!(rc, 0, "docker exec failed: {script}\n{out}");
    out
}

/// The exit status of a script in h1 (for "is it there?" checks).
pub async fn status(lab: &TestLab, script: &str) -> i64 {
    lab.docker_exec("h1", script).await.0
}

/// A module result that must have succeeded.
pub fn ok(r: Result<Outcome, ModuleError>) -> Outcome {
    match r {
        Ok(o) => {
            assert!(!o.failed, "module failed: {:?}", o.to_value());
            o
        }
        Err(e) => panic!("module error: {e}"),
    }
}

/// The message of a module run that must have failed (as an error or a failed result).
pub fn failure(r: Result<Outcome, ModuleError>) -> String {
    match r {
        Ok(o) => {
            assert!(o.failed, "expected a failure, got {:?}", o.to_value());
            o.msg.unwrap_or_default()
        }
        Err(e) => e.to_string(),
    }
}

/// A transport that counts the commands it runs (round trips), around a real one.
pub struct Counting {
    pub inner: std::sync::Arc<dyn hlprov::transport::Transport>,
    pub runs: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl hlprov::transport::Transport for Counting {
    async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        timeout: Option<std::time::Duration>,
    ) -> Result<hlprov::transport::Output, hlprov::transport::TransportError> {
        self.runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.run(command, stdin, timeout).await
    }
    fn target(&self) -> &str {
        self.inner.target()
    }
    fn connections_opened(&self) -> usize {
        self.inner.connections_opened()
    }
    async fn close(&self) {
        self.inner.close().await
    }
}
