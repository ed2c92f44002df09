//! A host-less harness for modules: a transport that answers each command with what a real host answered when
//! the scenario was recorded. A module's decision logic (what it plans, what a diff shows, which commands it
//! sends) is then tested in milliseconds, without a container.
//!
//! Recordings live in tests/fixtures/hostless/SCENARIO.json. They are made against a real host:
//! `HLPROV_RECORD=1 cargo nextest run --test modules_hostless` starts a throw-away container from the lab's host
//! image, runs each scenario's setup in it, and keeps every command's output. A command the recording does not
//! hold (a module whose scripts changed) fails the test, naming the command: record again.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hlprov::transport::{Connection, ExitStatus, Output, Transport, TransportError};
use serde_json::{Value, json};

/// One command as sent and what came back.
#[derive(Clone, Debug)]
pub struct Call {
    /// The script, with the per-run parts (command tag, output markers) made neutral.
    pub script: String,
    /// Sent as a read-only probe (allowed in check mode).
    pub probe: bool,
}

enum Source {
    /// Answers come from the recording; the n-th time a script is sent gets the n-th answer recorded for it.
    Replay(Vec<Value>, Mutex<std::collections::HashMap<String, usize>>),
    /// Commands run in this container; answers are kept for the recording.
    Record { container: String, kept: Mutex<Vec<Value>> },
}

/// The scripted transport.
pub struct Scripted {
    name: String,
    source: Source,
    pub calls: Mutex<Vec<Call>>,
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostless").join(format!("{name}.json"))
}

/// Whether this run records (HLPROV_RECORD=1) instead of replaying.
pub fn recording() -> bool {
    std::env::var("HLPROV_RECORD").is_ok_and(|v| v == "1")
}

/// Whether scenario `name` is recorded in this run: HLPROV_RECORD=1, and HLPROV_RECORD_ONLY (if set) is part of
/// its name, so that a new module's scenarios can be recorded without re-recording everyone else's.
pub fn records(name: &str) -> bool {
    recording() && std::env::var("HLPROV_RECORD_ONLY").map_or(true, |only| name.contains(&only))
}

/// This process's output-marker token (hlprov makes one random token per process).
fn token() -> String {
    let m = hlprov::modules::helpers::host::output_marker("x");
    m.trim_start_matches("__hlprov_x_").trim_end_matches("__").to_string()
}

/// The script without what changes from run to run: the command tag and this process's marker token.
fn neutral(script: &str) -> String {
    let tag = regex::Regex::new(r"^HLPROV_CMD=[0-9a-f]{16}; export HLPROV_CMD; ").unwrap();
    let job = regex::Regex::new(r"job-[0-9a-f]{16}").unwrap();
    job.replace_all(&tag.replace(script, ""), "job-ID").replace(&token(), "TOKEN")
}

/// The script inside `/bin/sh -c '…'` (hlprov's quoting: single quotes, `'\''` for a quote).
fn unquote_sh(command: &str) -> String {
    let Some(q) = command.strip_prefix("/bin/sh -c ") else { return command.to_string() };
    let mut out = String::new();
    let mut in_quotes = false;
    let mut chars = q.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => in_quotes = !in_quotes,
            '\\' if !in_quotes => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

impl Scripted {
    /// A transport for scenario `name`: replaying its recording, or (HLPROV_RECORD=1) recording it on a
    /// container where `setup` ran first.
    pub async fn scenario(name: &str, setup: &str) -> Arc<Scripted> {
        let source = if records(name) {
            let container = format!("hlprov-record-{name}-{:08x}", rand::random::<u32>());
            // A host like the lab's: systemd as PID 1 (see ../shared/README.md for the options).
            let ok = std::process::Command::new("docker")
                .args(["run", "-d", "--rm", "--name", &container, "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN"])
                .args(["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw"])
                .args(["--tmpfs", "/run", "--tmpfs", "/run/lock", "-e", "container=docker", "hlprov-host:bookworm", "/sbin/init"])
                .output()
                .is_ok_and(|o| o.status.success());
            assert!(ok, "recording needs docker and the lab's host image (hlprov lab image)");
            for _ in 0..60 {
                let out = std::process::Command::new("docker").args(["exec", &container, "systemctl", "is-system-running"]).output().unwrap();
                if matches!(String::from_utf8_lossy(&out.stdout).trim(), "running" | "degraded") {
                    break;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            let out = std::process::Command::new("docker").args(["exec", &container, "/bin/sh", "-c", setup]).output().unwrap();
            assert!(out.status.success(), "setup of {name} failed: {}", String::from_utf8_lossy(&out.stderr));
            Source::Record { container, kept: Mutex::new(Vec::new()) }
        } else {
            let text = std::fs::read_to_string(fixture(name))
                .unwrap_or_else(|e| panic!("no recording for scenario {name} ({e}); make it with HLPROV_RECORD=1"));
            let v: Value = serde_json::from_str(&text).unwrap();
            Source::Replay(v["calls"].as_array().cloned().unwrap_or_default(), Mutex::default())
        };
        Arc::new(Scripted { name: name.to_string(), source, calls: Mutex::new(Vec::new()) })
    }

    /// A connection through this transport, as root (as the lab hosts log in).
    pub fn connection(self: &Arc<Self>) -> Connection {
        Connection::new(self.clone(), "root".into(), None)
    }

    /// The commands sent so far.
    pub fn sent(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Write the recording (record mode) and remove the container; replay mode does nothing.
    pub fn finish(&self) {
        if let Source::Record { kept, .. } = &self.source {
            let calls = kept.lock().unwrap().clone();
            let doc = json!({
                "scenario": self.name,
                "recorded": "by tests/hostless (HLPROV_RECORD=1) on a container of the lab's host image hlprov-host:bookworm (Debian 12)",
                "calls": calls,
            });
            std::fs::create_dir_all(fixture(&self.name).parent().unwrap()).unwrap();
            std::fs::write(fixture(&self.name), serde_json::to_string_pretty(&doc).unwrap() + "\n").unwrap();
        }
    }

    async fn answer(&self, script: String, stdin: Option<&[u8]>, probe: bool) -> Result<Output, TransportError> {
        let key = neutral(&script);
        self.calls.lock().unwrap().push(Call { script: key.clone(), probe });
        match &self.source {
            Source::Replay(calls, seen) => {
                let nth = {
                    let mut seen = seen.lock().unwrap();
                    let n = seen.entry(key.clone()).or_insert(0);
                    *n += 1;
                    *n - 1
                };
                let found = calls.iter().filter(|c| c["script"].as_str() == Some(key.as_str())).nth(nth).unwrap_or_else(|| {
                    panic!("scenario {}: the recording has no answer for this command (record again with HLPROV_RECORD=1):\n{key}", self.name)
                });
                let text = |k: &str| found[k].as_str().unwrap_or_default().replace("TOKEN", &token()).into_bytes();
                Ok(Output { status: ExitStatus::Code(found["rc"].as_i64().unwrap_or(0) as i32), stdout: text("stdout"), stderr: text("stderr") })
            }
            Source::Record { container, kept } => {
                let mut cmd = tokio::process::Command::new("docker");
                cmd.args(["exec", "-i", container, "/bin/sh", "-c", &script]).stdin(std::process::Stdio::piped());
                cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
                let mut child = cmd.spawn().map_err(|e| TransportError::Other(e.to_string()))?;
                let mut input = child.stdin.take().unwrap();
                if let Some(data) = stdin {
                    tokio::io::AsyncWriteExt::write_all(&mut input, data).await.unwrap();
                }
                drop(input);
                let out = child.wait_with_output().await.map_err(|e| TransportError::Other(e.to_string()))?;
                let rc = out.status.code().unwrap_or(-1);
                let text = |b: &[u8]| String::from_utf8_lossy(b).replace(&token(), "TOKEN");
                kept.lock().unwrap().push(json!({"script": key, "rc": rc, "stdout": text(&out.stdout), "stderr": text(&out.stderr)}));
                Ok(Output { status: ExitStatus::Code(rc), stdout: out.stdout, stderr: out.stderr })
            }
        }
    }
}

impl Drop for Scripted {
    /// A recording container never outlives its scenario, even when the test fails.
    fn drop(&mut self) {
        if let Source::Record { container, .. } = &self.source {
            let _ = std::process::Command::new("docker").args(["rm", "-f", container]).output();
        }
    }
}

#[async_trait::async_trait]
impl Transport for Scripted {
    async fn run(&self, command: &str, stdin: Option<&[u8]>, _timeout: Option<Duration>) -> Result<Output, TransportError> {
        self.answer(unquote_sh(command), stdin, false).await
    }
    async fn run_probe(&self, script: &str, _timeout: Option<Duration>) -> Result<Output, TransportError> {
        self.answer(script.to_string(), None, true).await
    }
    fn target(&self) -> &str {
        "scripted"
    }
    fn connections_opened(&self) -> usize {
        1
    }
    async fn close(&self) {}
}
