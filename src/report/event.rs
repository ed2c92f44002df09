//! What the engine tells the world. Every event passes through redaction before any sink sees it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::modules::Diff;
use crate::redact::Redact;

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
        /// Offline (`hlprov render`): checks that only a cluster or host could decide, left undecided.
        #[serde(default, skip_serializing_if = "is_zero")]
        needs_host: u32,
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

impl Redact for Diff {
    fn redact(&mut self) {
        self.before_header.redact();
        self.after_header.redact();
        self.before.redact();
        self.after.redact();
    }
}

impl Redact for TaskResult {
    fn redact(&mut self) {
        let TaskResult {
            host,
            play,
            phase,
            task,
            location,
            status: _,
            item,
            msg,
            result,
            diffs,
            duration_ms: _,
            handler: _,
            gate: _,
            delegated_to,
            loop_summary: _,
        } = self;
        host.redact();
        play.redact();
        phase.redact();
        task.redact();
        location.redact();
        item.redact();
        msg.redact();
        result.redact();
        diffs.redact();
        delegated_to.redact();
    }
}

/// Every field of every event, walked in place: no conversion that could fail and let a value through
/// unmasked. The destructuring names every field, so a new one cannot be forgotten silently.
impl Redact for Event {
    fn redact(&mut self) {
        match self {
            Event::RunStart { playbook, check: _, diff: _, hosts: _ } => playbook.redact(),
            Event::PlayStart { play, phase, hosts } => {
                play.redact();
                phase.redact();
                hosts.redact();
            }
            Event::TaskStart { play, task, location, handler: _, gate: _ } => {
                play.redact();
                task.redact();
                location.redact();
            }
            Event::TaskResult(r) => r.redact(),
            Event::Rescued { host, location } => {
                host.redact();
                location.redact();
            }
            Event::PhaseStart { phase, hosts } => {
                phase.redact();
                hosts.redact();
            }
            Event::GateStart { phase } => phase.redact(),
            Event::GateEnd { phase, passed: _, failed_hosts, needs_host: _ } => {
                phase.redact();
                failed_hosts.redact();
            }
            Event::PhaseEnd { phase, status: _, duration_ms: _, changed: _, failed_hosts } => {
                phase.redact();
                failed_hosts.redact();
            }
            Event::PhaseBlocked { phase, by, reason } => {
                phase.redact();
                by.redact();
                reason.redact();
            }
            Event::Warning { msg } => msg.redact(),
            Event::RunEnd { stats, duration_ms: _, exit_code: _ } => {
                for (host, _) in stats {
                    host.redact();
                }
            }
        }
    }
}

impl Event {
    /// The same event with every registered secret masked, in every string it holds.
    pub fn redacted(mut self) -> Event {
        self.redact();
        self
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every event kind, each string field holding the secret.
    fn every_event(s: &str) -> Vec<Event> {
        let result = TaskResult {
            host: s.into(),
            play: s.into(),
            phase: Some(s.into()),
            task: s.into(),
            location: s.into(),
            status: Status::Failed,
            item: Some(s.into()),
            msg: Some(s.into()),
            result: serde_json::json!({ s: [s, {"k": s}] }),
            diffs: vec![Diff { before_header: s.into(), after_header: s.into(), before: s.into(), after: s.into() }],
            duration_ms: 1,
            handler: false,
            gate: false,
            delegated_to: Some(s.into()),
            loop_summary: false,
        };
        vec![
            Event::RunStart { playbook: s.into(), check: false, diff: true, hosts: 1 },
            Event::PlayStart { play: s.into(), phase: Some(s.into()), hosts: vec![s.into()] },
            Event::TaskStart { play: s.into(), task: s.into(), location: s.into(), handler: false, gate: false },
            Event::TaskResult(Box::new(result)),
            Event::Rescued { host: s.into(), location: s.into() },
            Event::PhaseStart { phase: s.into(), hosts: vec![s.into()] },
            Event::GateStart { phase: s.into() },
            Event::GateEnd { phase: s.into(), passed: false, failed_hosts: vec![s.into()], needs_host: 0 },
            Event::PhaseEnd { phase: s.into(), status: PhaseStatus::Failed, duration_ms: 0, changed: 0, failed_hosts: vec![s.into()] },
            Event::PhaseBlocked { phase: s.into(), by: s.into(), reason: s.into() },
            Event::Warning { msg: s.into() },
            Event::RunEnd { stats: vec![(s.into(), HostStats::default())], duration_ms: 0, exit_code: 2 },
        ]
    }

    #[test]
    fn every_field_of_every_event_is_redacted() {
        let secret = "event-canary-7f3a";
        crate::redact::register(secret);
        for e in every_event(secret) {
            let text = serde_json::to_string(&e.redacted()).unwrap();
            assert!(!text.contains(secret), "{text}");
            assert!(text.contains(crate::redact::MASK), "{text}");
        }
    }
}
