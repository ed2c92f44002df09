//! The processes of a VM lab (one QEMU per VM, one switch), found without trusting any pid file: each is
//! started with `HLPROV_LAB_DIR=<the lab folder>` in its environment, and `/proc/PID/environ` says whose it is.
//! So `down` finds them after a crash or Ctrl-C of `up`, and never touches anything else.

use rustix::process::{Pid, Signal, kill_process};
use std::path::Path;
use std::time::{Duration, Instant};

/// The environment variable that marks a process as belonging to a lab folder.
pub const MARKER: &str = "HLPROV_LAB_DIR";

/// A running process of a lab.
#[derive(Clone, Debug)]
pub struct LabProcess {
    pub pid: i32,
    pub ppid: i32,
    pub argv: Vec<String>,
}

impl LabProcess {
    /// QEMU's `-name guest=NAME,…`, or "switch" for the switch.
    pub fn label(&self) -> String {
        if let Some(i) = self.argv.iter().position(|a| a == "-name") {
            if let Some(v) = self.argv.get(i + 1) {
                let guest = v.split(',').find_map(|p| p.strip_prefix("guest=")).unwrap_or(v);
                return guest.to_string();
            }
        }
        if self.is_switch() { "switch".into() } else { format!("pid {}", self.pid) }
    }
    pub fn is_switch(&self) -> bool {
        self.argv.windows(2).any(|w| w[0] == "lab" && w[1] == "switch")
    }
}

/// Every live process whose environment carries the lab's marker.
pub fn of_lab(lab_dir: &Path) -> Vec<LabProcess> {
    let want = format!("{MARKER}={}", lab_dir.display());
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return found };
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
        if !environ.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) || !is_alive(pid) {
            continue;
        }
        let argv = std::fs::read(entry.path().join("cmdline"))
            .map(|c| c.split(|b| *b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect())
            .unwrap_or_default();
        found.push(LabProcess { pid, ppid: stat_field(pid, 1).and_then(|s| s.parse().ok()).unwrap_or(0), argv });
    }
    found.sort_by_key(|p| p.pid);
    found
}

/// Running (a zombie has ended; only its parent's bookkeeping is left).
pub fn is_alive(pid: i32) -> bool {
    matches!(stat_field(pid, 0).as_deref(), Some(state) if state != "Z" && state != "X")
}

/// Field `n` after the command name in /proc/PID/stat (0 = state, 1 = ppid).
fn stat_field(pid: i32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(n).map(str::to_string)
}

/// Stop processes: SIGTERM (QEMU quits at once, as a power cut; the switch exits), then SIGKILL for any still
/// alive after `grace`. Returns the ones that would not go.
pub fn stop(procs: &[LabProcess], grace: Duration) -> Vec<LabProcess> {
    for p in procs {
        signal(p.pid, Signal::TERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && procs.iter().any(|p| is_alive(p.pid)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in procs.iter().filter(|p| is_alive(p.pid)) {
        signal(p.pid, Signal::KILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && procs.iter().any(|p| is_alive(p.pid)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    procs.iter().filter(|p| is_alive(p.pid)).cloned().collect()
}

fn signal(pid: i32, sig: Signal) {
    // A pid that has gone meanwhile only yields ESRCH, which is what we want anyway.
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = kill_process(pid, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_stops_and_labels_only_the_labs_processes() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let spawn = |lab: &Path| std::process::Command::new("sleep").arg("300").env(MARKER, lab).spawn().unwrap();
        let mut ours = spawn(dir.path());
        let mut theirs = spawn(other.path());
        // Until the children have exec'd, /proc shows the test's own environment: wait for that, not longer.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut found = of_lab(dir.path());
        while found.is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            found = of_lab(dir.path());
        }
        assert_eq!(found.iter().map(|p| p.pid).collect::<Vec<_>>(), [ours.id() as i32]);
        assert_eq!(found[0].ppid, std::process::id() as i32);
        assert_eq!(found[0].label(), format!("pid {}", ours.id()));
        assert!(stop(&found, Duration::from_secs(5)).is_empty());
        ours.wait().unwrap();
        assert!(of_lab(dir.path()).is_empty());
        assert!(is_alive(theirs.id() as i32), "another lab's process is left alone");
        theirs.kill().unwrap();
        theirs.wait().unwrap();
    }

    #[test]
    fn labels_name_the_vm_or_the_switch() {
        let qemu =
            LabProcess { pid: 1, ppid: 0, argv: ["qemu-system-x86_64", "-name", "guest=hlprov-t-h1,process=hlprov-t-h1"].map(String::from).to_vec() };
        let switch = LabProcess { pid: 2, ppid: 0, argv: ["hlprov", "lab", "switch", "--dir", "/x"].map(String::from).to_vec() };
        assert_eq!(qemu.label(), "hlprov-t-h1");
        assert_eq!(switch.label(), "switch");
    }
}
