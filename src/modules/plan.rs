//! What a module returns: the changes it would make, each with its before/after for `--diff` and the step that
//! makes it. The engine (not the module) decides whether to apply them, to report them (check mode), and
//! whether to show their diffs; see `exec::module_step`.

use std::any::Any;

use serde_json::{Map, Value};

use super::Diff;
use super::helpers::remote_file::WriteSpec;

/// What a module found on the host and what it would change to reach the state asked for.
#[derive(Default)]
pub struct Plan {
    /// Result keys that hold whether or not the changes are made (dest, path, name, state …).
    pub result: Map<String, Value>,
    pub msg: Option<String>,
    /// The changes, in the order they must be made. None: the host already is as asked.
    pub changes: Vec<Change>,
    /// Steps a real run makes before the changes even when nothing changes, which do not count as changes
    /// (systemd's `daemon_reload`, apt's cache update when packages are named), as Ansible does.
    pub preliminary: Vec<Step>,
    /// Facts learnt about the host (`setup`): they become `ansible_facts`.
    pub facts: Option<Map<String, Value>>,
    /// Nothing to do, and Ansible reports the task as skipped (unarchive's `creates`): the message says why.
    pub skip: Option<String>,
    /// What the module needs on this host is not there yet (a cluster an earlier phase would start): in check
    /// mode the plan is reported with this note and its results count as unknown; in a real run it fails.
    pub undecided: Option<String>,
    /// The changes cannot be predicted (a command with no `creates`/`removes` to decide): in check mode the
    /// task is skipped rather than reported as a change. Only modules whose spec says so may set it.
    pub unpredictable: bool,
    /// What the module learnt while planning, for its own `apply` (see [`super::Module::apply`]).
    found: Option<Box<dyn Any + Send + Sync>>,
}

impl Plan {
    /// No change: the host already is as asked.
    pub fn unchanged() -> Plan {
        Plan::default()
    }

    /// Nothing to do, reported as skipped with this message.
    pub fn skipped(msg: impl Into<String>) -> Plan {
        Plan { skip: Some(msg.into()), ..Default::default() }
    }

    /// What it needs is not there yet (see `undecided`): skipped in check mode, failed in a real run.
    pub fn undecided(why: impl Into<String>) -> Plan {
        Plan { undecided: Some(why.into()), ..Default::default() }
    }

    /// The same, with what the module can still tell from its arguments alone (objects it would create).
    pub fn undecided_because(mut self, why: impl Into<String>) -> Plan {
        self.undecided = Some(why.into());
        self
    }

    /// A plan of these changes.
    pub fn of(changes: Vec<Change>) -> Plan {
        Plan { changes, ..Default::default() }
    }

    /// Add a change.
    pub fn change(mut self, c: Change) -> Plan {
        self.changes.push(c);
        self
    }

    /// Add a result key.
    pub fn with(mut self, key: &str, v: impl Into<Value>) -> Plan {
        self.result.insert(key.to_string(), v.into());
        self
    }

    /// Facts learnt about the host.
    pub fn facts(mut self, facts: Map<String, Value>) -> Plan {
        self.facts = Some(facts);
        self
    }

    pub fn msg(mut self, m: impl Into<String>) -> Plan {
        self.msg = Some(m.into());
        self
    }

    /// Keep what the module learnt for its `apply`.
    pub fn keep<T: Any + Send + Sync>(mut self, found: T) -> Plan {
        self.found = Some(Box::new(found));
        self
    }

    /// Take back what [`Plan::keep`] kept (for `apply`).
    pub fn take_found<T: Any + Send + Sync>(&mut self) -> Option<T> {
        self.found.take()?.downcast::<T>().ok().map(|b| *b)
    }

    /// Add a preliminary step.
    pub fn before(mut self, step: Step) -> Plan {
        self.preliminary.push(step);
        self
    }

    /// No change planned.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether applying it does anything (changes or preliminary steps).
    pub fn has_work(&self) -> bool {
        !self.changes.is_empty() || !self.preliminary.is_empty()
    }

    /// The diffs of every change, in order.
    pub fn diffs(&self) -> Vec<Diff> {
        self.changes.iter().map(|c| c.diff.clone()).collect()
    }
}

/// One change a module would make.
pub struct Change {
    /// The kind of change, one of those the module's spec declares (`create`, `remove`, `attributes`, `install`,
    /// `content` …): tests check that each kind shows a diff in check mode.
    pub kind: &'static str,
    /// Before and after, for `--diff`.
    pub diff: Diff,
    /// How the change is made.
    pub step: Step,
}

impl Change {
    pub fn new(kind: &'static str, diff: Diff, step: Step) -> Change {
        Change { kind, diff, step }
    }
}

/// How a change is made. The plain steps are carried out by [`super::apply_steps`]; `Module` steps by the
/// module's own `apply`.
pub enum Step {
    /// Run a script that must exit 0; `what` and its stderr make the error otherwise.
    Run { script: String, stdin: Option<Vec<u8>>, what: String },
    /// Run a script that changes `path` and read the path's state afterwards in the same round trip; the
    /// result gains the path's attributes (uid, mode, state …).
    RunAndProbe { path: String, script: String, what: String },
    /// Write a file atomically (see `remote_file::write_atomic`); the result gains the file's attributes and
    /// `backup_file` when a backup was made.
    Write(WriteSpec),
    /// Made by the step of the change before it: several changes made in one round trip (a folder copy's
    /// folders and links).
    Joined,
    /// Carried out by the module's own `apply`.
    Module,
}

impl Step {
    pub fn run(script: impl Into<String>, what: impl Into<String>) -> Step {
        Step::Run { script: script.into(), stdin: None, what: what.into() }
    }
    pub fn run_and_probe(path: impl Into<String>, script: impl Into<String>, what: impl Into<String>) -> Step {
        Step::RunAndProbe { path: path.into(), script: script.into(), what: what.into() }
    }
}
