//! Reporting: the engine emits [`Event`]s; sinks turn them into terminal output, JSON lines, JUnit XML or run
//! records. Redaction of secrets happens once, in [`Reporter::emit`], so no sink can leak one. Nothing else in
//! hlprov prints results.

mod event;
pub mod json;
pub mod junit;
pub mod text;

use std::sync::Arc;

pub use event::{Event, HostStats, PhaseStatus, Status, TaskResult};

/// A destination for events.
pub trait Sink: Send + Sync {
    fn event(&self, e: &Event);
    /// Called once at the end of the run (write files, clear the live view).
    fn finish(&self) {}
}

/// Fans events out to sinks, redacted.
#[derive(Clone, Default)]
pub struct Reporter {
    sinks: Vec<Arc<dyn Sink>>,
}

impl Reporter {
    pub fn new(sinks: Vec<Arc<dyn Sink>>) -> Reporter {
        Reporter { sinks }
    }

    /// A reporter that drops everything (library use, tests).
    pub fn silent() -> Reporter {
        Reporter::default()
    }

    pub fn add(&mut self, sink: Arc<dyn Sink>) {
        self.sinks.push(sink);
    }

    pub fn emit(&self, e: Event) {
        if self.sinks.is_empty() {
            return;
        }
        let e = e.redacted();
        for s in &self.sinks {
            s.event(&e);
        }
    }

    pub fn warn(&self, msg: impl Into<String>) {
        self.emit(Event::Warning { msg: msg.into() });
    }

    pub fn finish(&self) {
        for s in &self.sinks {
            s.finish();
        }
    }
}

/// Collects events in memory (tests, and the run record).
#[derive(Default)]
pub struct Collector {
    pub events: std::sync::Mutex<Vec<Event>>,
}

impl Sink for Collector {
    fn event(&self, e: &Event) {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).push(e.clone());
    }
}

impl Collector {
    pub fn results(&self) -> Vec<TaskResult> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|e| match e {
                Event::TaskResult(r) => Some((**r).clone()),
                _ => None,
            })
            .collect()
    }
}
