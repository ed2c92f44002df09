//! service_facts: the host's services as `ansible_facts.services`, in one round trip: SysV init scripts from
//! `service --status-all` (keyed by script name, e.g. `ufw`, as Ansible's first scanner does), then systemd's
//! loaded units with their state and every unit file with its enablement (keyed `ufw.service`). Never changes
//! anything.

use serde_json::{Map, Value, json};

use super::{Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};

pub struct ServiceFacts;

static SPEC: ModuleSpec = ModuleSpec::new(&[]);

const SCRIPT: &str = "if command -v service >/dev/null; then service --status-all 2>/dev/null; fi; echo '--' && \
                      systemctl list-units --type=service --all --no-legend --no-pager --plain && echo '--' && \
                      systemctl list-unit-files --type=service --no-legend --no-pager";

/// The two listings → `{unit: {name, state, status, source}}` as Ansible's systemd strategy reports: state
/// running or stopped for loaded units (inactive for unit files not loaded), status the unit file's state.
pub fn parse(out: &str) -> Map<String, Value> {
    let (sysv, rest) = out.split_once("--\n").unwrap_or(("", out));
    let (units, files) = rest.split_once("\n--\n").unwrap_or((rest, ""));
    let mut services: Map<String, Value> = Map::new();
    // ` [ + ]  ssh`: + running, - stopped, ? unknown.
    for line in sysv.lines() {
        let Some((mark, name)) = line.trim().strip_prefix('[').and_then(|l| l.split_once(']')) else { continue };
        let state = match mark.trim() {
            "+" => "running",
            "-" => "stopped",
            _ => "unknown",
        };
        let name = name.trim();
        services.insert(name.to_string(), json!({"name": name, "state": state, "status": "unknown", "source": "sysv"}));
    }
    // A unit that is not found (its package removed), masked or failed keeps that as its status, as Ansible's
    // scanner does; roles test `status != "not-found"` before touching a unit.
    const BAD: &[&str] = &["not-found", "masked", "failed"];
    for line in units.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, load, active, sub, ..] = f.as_slice() else { continue };
        let state = if *sub == "running" { "running" } else { "stopped" };
        let status = [load, active, sub].into_iter().find(|x| BAD.contains(x)).copied().unwrap_or(active);
        services.insert(name.to_string(), json!({"name": name, "state": state, "status": status, "source": "systemd"}));
    }
    for line in files.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, status, ..] = f.as_slice() else { continue };
        let entry =
            services.entry(name.to_string()).or_insert_with(|| json!({"name": name, "state": "inactive", "status": "unknown", "source": "systemd"}));
        if !entry["status"].as_str().is_some_and(|s| BAD.contains(&s)) {
            entry["status"] = json!(status);
        }
    }
    services
}

#[async_trait::async_trait]
impl Module for ServiceFacts {
    fn name(&self) -> &'static str {
        "service_facts"
    }
    fn summary(&self) -> &'static str {
        "Read the systemd services and their state into `ansible_facts.services`"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "systemd only (SysV, upstart and OpenRC hosts are not read). Services are keyed by unit name, e.g. `ssh.service`."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, _args: &Args) -> Result<Plan, ModuleError> {
        let out = ctx.read(SCRIPT).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!("Failed to list systemd services: {}", out.stderr_text().trim())));
        }
        let mut facts = Map::new();
        facts.insert("services".into(), Value::Object(parse(&out.stdout_text())));
        Ok(Plan::unchanged().facts(facts))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn loaded_units_have_a_state_and_unit_files_a_status() {
        let out = " [ + ]  ssh\n [ - ]  ufw\n--\nssh.service loaded active running OpenBSD Secure Shell server\n\
                   systemd-tmpfiles-setup.service loaded active exited Create Volatile Files\n\
                   systemd-timesyncd.service not-found inactive dead systemd-timesyncd.service\n\
                   --\n\
                   ssh.service enabled enabled\n\
                   ufw.service disabled enabled\n";
        let s = super::parse(out);
        assert_eq!(s["ssh.service"]["state"], "running");
        assert_eq!(s["ssh.service"]["status"], "enabled");
        assert_eq!(s["systemd-tmpfiles-setup.service"]["state"], "stopped");
        assert_eq!(s["ufw.service"]["state"], "inactive");
        assert_eq!(s["ufw.service"]["status"], "disabled");
        assert_eq!(s["ufw"]["state"], "stopped");
        assert_eq!(s["ssh"]["source"], "sysv");
        assert_eq!(s["systemd-timesyncd.service"]["status"], "not-found");
        assert_eq!(s["systemd-tmpfiles-setup.service"]["status"], "active");
    }
}
