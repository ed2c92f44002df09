//! How a task (or one loop item) ended on one host: one typed record, from which the registered result, the
//! event, the recap counters and the run record are derived. Nothing else keeps a task's status.

use serde_json::{Map, Value};

use crate::modules::{Diff, Outcome};
use crate::playbook::MetaAction;
use crate::report::Status;
use crate::vars::Vars;

/// Why a task could not even reach its module: a template (typed, so that an offline render can tell "only a
/// host would know" from a real mistake), or anything else.
#[derive(Debug)]
pub(crate) enum TaskError {
    Template(crate::template::TemplateError),
    Msg(String),
}

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskError::Template(e) => write!(f, "{e}"),
            TaskError::Msg(m) => f.write_str(m),
        }
    }
}

impl From<crate::template::TemplateError> for TaskError {
    fn from(e: crate::template::TemplateError) -> TaskError {
        TaskError::Template(e)
    }
}

impl From<String> for TaskError {
    fn from(m: String) -> TaskError {
        TaskError::Msg(m)
    }
}

/// How the task's run ended, before `ignore_errors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// It ran (ok or changed).
    Done,
    Failed,
    /// Not run: a condition, check mode, or a skip a module asked for.
    Skipped,
    /// The host could not be reached.
    Unreachable,
}

/// The one record of a task's result on a host.
#[derive(Clone, Debug)]
pub(crate) struct TaskOutcome {
    pub end: End,
    pub changed: bool,
    /// A failure that `ignore_errors` (or a gate in check mode) lets pass.
    pub ignored: bool,
    pub msg: Option<String>,
    /// The module's result keys (rc, stdout, path …) and the engine's (attempts, skip_reason, results …).
    pub data: Map<String, Value>,
    pub diffs: Vec<Diff>,
    /// Facts from `setup` (gathered) or `set_fact`.
    pub facts: Option<Vars>,
    pub gathered: bool,
    pub control: Option<MetaAction>,
    pub delegated_to: Option<String>,
    /// Offline (`hlprov render`): skipped because only a host could tell; what it registers is unknown.
    pub needs_host: bool,
    /// What it registers is unknown: shown offline from its arguments alone, or planned in check mode without
    /// what it needs (a cluster not there yet). What reads it is not decided either.
    pub result_unknown: bool,
}

impl TaskOutcome {
    fn new(end: End) -> TaskOutcome {
        TaskOutcome {
            end,
            changed: false,
            ignored: false,
            msg: None,
            data: Map::new(),
            diffs: Vec::new(),
            facts: None,
            gathered: false,
            control: None,
            delegated_to: None,
            needs_host: false,
            result_unknown: false,
        }
    }

    /// A task that failed for a reason outside its module (a template error, a bad argument).
    pub fn failed(msg: impl Into<String>) -> TaskOutcome {
        TaskOutcome { msg: Some(msg.into()), ..TaskOutcome::new(End::Failed) }
    }

    pub fn unreachable(msg: impl Into<String>) -> TaskOutcome {
        TaskOutcome { msg: Some(msg.into()), ..TaskOutcome::new(End::Unreachable) }
    }

    /// Skipped because a condition did not hold.
    pub fn skipped_by(expr: &str) -> TaskOutcome {
        let mut o = TaskOutcome::new(End::Skipped);
        o.data.insert("skip_reason".into(), "Conditional result was False".into());
        o.data.insert("false_condition".into(), expr.into());
        o
    }

    /// Skipped with a message (check mode).
    pub fn skipped(msg: impl Into<String>) -> TaskOutcome {
        TaskOutcome { msg: Some(msg.into()), ..TaskOutcome::new(End::Skipped) }
    }

    /// A task that ran.
    pub fn done(changed: bool) -> TaskOutcome {
        TaskOutcome { changed, ..TaskOutcome::new(End::Done) }
    }

    /// What a module reported.
    pub fn from_module(o: Outcome) -> TaskOutcome {
        let gathered = o.facts.is_some();
        TaskOutcome { changed: o.changed, msg: o.msg, data: o.data, diffs: o.diffs, facts: o.facts, gathered, ..TaskOutcome::new(End::Done) }
    }

    pub fn status(&self) -> Status {
        match self.end {
            End::Failed if self.ignored => Status::Ignored,
            End::Failed => Status::Failed,
            End::Unreachable => Status::Unreachable,
            End::Skipped => Status::Skipped,
            End::Done if self.changed => Status::Changed,
            End::Done => Status::Ok,
        }
    }

    pub fn is_failure(&self) -> bool {
        matches!(self.end, End::Failed | End::Unreachable)
    }

    /// The result as a task registers it (`register: r` → `r.rc`, `r.changed`, `r.failed` …), as Ansible
    /// shapes it.
    pub fn registered(&self) -> Value {
        let mut m = self.data.clone();
        m.insert("changed".into(), Value::Bool(self.changed));
        m.insert("failed".into(), Value::Bool(self.end == End::Failed));
        if self.end == End::Skipped {
            m.insert("skipped".into(), Value::Bool(true));
        }
        if self.end == End::Unreachable {
            m.insert("unreachable".into(), Value::Bool(true));
        }
        if let Some(msg) = &self.msg {
            m.insert("msg".into(), Value::String(msg.clone()));
        }
        if !self.diffs.is_empty() {
            let d: Vec<Value> = self.diffs.iter().map(|d| serde_json::to_value(d).unwrap_or_default()).collect();
            m.insert("diff".into(), if d.len() == 1 { d[0].clone() } else { Value::Array(d) });
        }
        if let Some(f) = &self.facts {
            m.insert("ansible_facts".into(), Value::Object(f.clone()));
        }
        Value::Object(m)
    }

    /// As `no_log` shows it: whether it changed or failed, nothing else.
    pub fn censored(&self) -> Value {
        serde_json::json!({
            "censored": "the output has been hidden due to the fact that 'no_log: true' was specified for this result",
            "changed": self.changed,
            "failed": self.end == End::Failed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_registered_result_come_from_one_record() {
        let mut o = TaskOutcome::done(true);
        o.data.insert("rc".into(), 0.into());
        assert_eq!(o.status(), Status::Changed);
        assert_eq!(o.registered(), serde_json::json!({"rc": 0, "changed": true, "failed": false}));
        o.end = End::Failed;
        o.msg = Some("non-zero return code".into());
        assert_eq!(o.status(), Status::Failed);
        assert_eq!(o.registered()["failed"], true, "a command that failed still changed the host");
        assert_eq!(o.registered()["changed"], true);
        o.ignored = true;
        assert_eq!(o.status(), Status::Ignored);
        assert_eq!(o.registered()["failed"], true, "ignore_errors does not make the result a success");
        let s = TaskOutcome::skipped_by("x is defined");
        assert_eq!(s.status(), Status::Skipped);
        assert_eq!(s.registered()["false_condition"], "x is defined");
        assert_eq!(TaskOutcome::unreachable("gone").registered()["unreachable"], true);
    }
}
