//! The hook through which templates reach other hosts' variables (`hostvars['w1'].ansible_host`).
//! The executor implements it; templating calls it lazily, only for the hosts a template actually reads.

use super::VarScope;

/// Gives the variable scope of any host of the run.
pub trait HostVarsSource: Send + Sync {
    /// The scope of `host` (as it would be seen by a task on that host), or None for an unknown host.
    fn host_scope(&self, host: &str) -> Option<VarScope>;
    /// Every host name, in inventory order.
    fn hosts(&self) -> Vec<String>;
    /// The hosts an Ansible host pattern selects, in inventory order (the `inventory_hostnames` lookup).
    fn select(&self, pattern: &str) -> Result<Vec<String>, String> {
        let _ = pattern;
        Err("no inventory here to select hosts from".into())
    }
}
