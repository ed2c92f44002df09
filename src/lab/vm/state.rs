//! What `lab up` made, in the lab folder (`vm.json`): enough for `status` to name and check every VM, for a
//! later `up` to restart a stopped VM as the same host (same disk, address and host key), and for `down` to know
//! the lab is a VM lab. Processes are not recorded here: `procs.rs` finds them by their marker.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const FILE: &str = "vm.json";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct VmLabState {
    /// "kvm" or "tcg": what the running VMs use.
    pub accel: String,
    pub accel_reason: String,
    /// The image folder the VMs' overlays are based on.
    pub image: PathBuf,
    pub hosts: Vec<VmHostState>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VmHostState {
    pub name: String,
    /// SSH on 127.0.0.1.
    pub port: u16,
    /// On the private segment.
    pub address: String,
    pub mac: String,
    pub memory_mib: u32,
    pub cpus: u32,
}

pub fn load(lab_dir: &Path) -> Result<Option<VmLabState>, String> {
    let path = lab_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).map(Some).map_err(|e| format!("{} is damaged ({e}); `hlprov lab down` removes the lab", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Written whole to a temporary file and renamed, so a crash never leaves half a state.
pub fn save(lab_dir: &Path, state: &VmLabState) -> Result<(), String> {
    let path = lab_dir.join(FILE);
    let tmp = lab_dir.join(format!(".{FILE}.tmp"));
    let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, text + "\n").map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
