//! What the engine tells the world. Every event passes through redaction before any sink sees it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::modules::Diff;

/// How a task ended on one host (Ansible's vocabulary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Changed,
    Failed,
    Unreachable,
    Skipped,
    /// Failed, but `ignore_errors` said to go on.
    Ignored,
}

/// One task's result on one host (one loop item, or the loop as a whole).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskResult {
    pub host: String,
    pub play: String,
    pub phase: Option<String>,
    pub task: String,
    /// file:line of the task.
    pub location: String,
    pub status: Status,
    /// Loop item label, for per-item results.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    /// The registered result (rc, stdout, …).
    pub result: Value,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub diffs: Vec<Diff>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub handler: bool,
    /// Part of a phase's verification gate.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub gate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delegated_to: Option<String>,
    /// True for the summary of a loop (its items were reported one by one).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub loop_summary: bool,
}

/// Per-host counters, as in Ansible's PLAY RECAP.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct HostStats {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

/// How a phase ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    /// Ran and passed its gate.
    Passed,
    /// Some host failed (or the play aborted).
    Failed,
    /// Ran, but its verification gate failed.
    GateFailed,
    /// Did not run because a phase it needs did not pass.
    Blocked,
    /// Not selected for this run (--phase, --from, --resume).
    Skipped,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStart {
        playbook: String,
        check: bool,
        diff: bool,
        hosts: usize,
    },
    PlayStart {
        play: String,
        phase: Option<String>,
        hosts: Vec<String>,
    },
    TaskStart {
        play: String,
        task: String,
        location: String,
        handler: bool,
        gate: bool,
    },
    TaskResult(Box<TaskResult>),
    /// A host's block failed and its rescue section ran.
    Rescued {
        host: String,
        location: String,
    },
    PhaseStart {
        phase: String,
        hosts: Vec<String>,
    },
    GateStart {
        phase: String,
    },
    GateEnd {
        phase: String,
        passed: bool,
        failed_hosts: Vec<String>,
    },
    PhaseEnd {
        phase: String,
        status: PhaseStatus,
        duration_ms: u64,
        changed: u32,
        failed_hosts: Vec<String>,
    },
    PhaseBlocked {
        phase: String,
        by: String,
        reason: String,
    },
    Warning {
        msg: String,
    },
    RunEnd {
        stats: Vec<(String, HostStats)>,
        duration_ms: u64,
        exit_code: i32,
    },
}

impl Event {
    /// The same event with every registered secret masked, in every string it holds.
    pub fn redacted(&self) -> Event {
        let v = serde_json::to_value(self).unwrap_or(Value::Null);
        serde_json::from_value(crate::redact::redact_value(&v)).unwrap_or_else(|_| self.clone())
    }
}
