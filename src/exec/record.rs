//! Run records: each apply writes a small JSON summary (phases, hosts, outcome, timings, changed counts) under
//! `.hlprov/runs/`, so `--resume` knows which phases passed and CI can keep a trace. Secrets are redacted.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::report::{HostStats, PhaseStatus};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: String,
    pub status: Option<PhaseStatus>,
    pub hosts: Vec<String>,
    pub failed_hosts: Vec<String>,
    /// Milliseconds from the start of the run.
    pub started_ms: u64,
    pub ended_ms: u64,
    pub changed: u32,
    /// Some(passed) when the phase has a gate that ran.
    pub gate_passed: Option<bool>,
    pub blocked_by: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: String,
    pub playbook: String,
    pub started: String,
    pub duration_ms: u64,
    pub check: bool,
    pub exit_code: i32,
    pub interrupted: bool,
    /// Critical sections that were running on their hosts when the run was aborted (second Ctrl-C).
    #[serde(default)]
    pub left_running: Vec<super::RunningTask>,
    pub phases: Vec<PhaseRecord>,
    pub hosts: Vec<(String, HostStats)>,
}

impl RunRecord {
    pub fn phase(&self, name: &str) -> Option<&PhaseRecord> {
        self.phases.iter().find(|p| p.name == name)
    }

    /// Write to `<dir>/<id>.json` (redacted); returns the path.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let path = dir.join(format!("{}.json", self.id));
        let v = serde_json::to_value(self).map_err(|e| e.to_string())?;
        let text = serde_json::to_string_pretty(&crate::redact::redact_value(&v)).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    }

    /// The newest record of a real (not check-mode) run of `playbook` in `dir`.
    pub fn latest(dir: &Path, playbook: &str) -> Option<RunRecord> {
        let mut records: Vec<RunRecord> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .filter_map(|e| serde_json::from_str::<RunRecord>(&std::fs::read_to_string(e.path()).ok()?).ok())
            .filter(|r| r.playbook == playbook && !r.check)
            .collect();
        records.sort_by(|a, b| a.id.cmp(&b.id));
        records.pop()
    }
}

/// A sortable, unique id from the current time: 20261123T120501.123Z-<random>.
pub fn new_id() -> String {
    let now = jiff::Timestamp::now();
    format!("{}-{:04x}", now.strftime("%Y%m%dT%H%M%S%.3fZ"), rand::random::<u16>())
}
