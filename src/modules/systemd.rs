//! systemd (alias systemd_service): start, stop, restart, reload, enable, disable, mask and unmask units with
//! systemctl. One probe (`systemctl show` plus `systemctl is-enabled`) gives everything a no-op needs; the
//! decisions and the registered `status` follow Ansible's systemd_service module.

use serde_json::{Map, Value};

use super::host::{Probe, SYSTEMD_SNIPPET};
use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome};
use crate::transport::quote::quote;

/// The module under one of its names (`systemd`, `systemd_service`).
pub struct Systemd(pub &'static str);

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).aliases(&["service", "unit"]).help("The unit, e.g. `nginx` or `nginx.service` (no glob patterns)."),
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["started", "stopped", "restarted", "reloaded"])
        .help("started/stopped only act when needed; restarted and reloaded always act (reloaded starts a stopped unit)."),
    ArgSpec::new("enabled", ArgKind::Bool).help("Start the unit at boot."),
    ArgSpec::new("masked", ArgKind::Bool).help("Mask the unit so nothing can start it (or unmask it)."),
    ArgSpec::new("daemon_reload", ArgKind::Bool)
        .aliases(&["daemon-reload"])
        .default("no")
        .help("Run `systemctl daemon-reload` first, to pick up changed unit files."),
    ArgSpec::new("daemon_reexec", ArgKind::Bool).aliases(&["daemon-reexec"]).default("no").help("Run `systemctl daemon-reexec` first."),
    ArgSpec::new("force", ArgKind::Bool).help("Pass --force to systemctl (e.g. to override existing symlinks when enabling)."),
    ArgSpec::new("no_block", ArgKind::Bool).default("no").help("Do not wait for start/stop jobs to finish (--no-block)."),
    ArgSpec::new("scope", ArgKind::Str)
        .choices(&["system", "user", "global"])
        .default("system")
        .help("Which systemd manager: the system's, the connecting user's (user), or defaults for all users (global)."),
])
.required_one_of(&[&["state", "enabled", "masked", "daemon_reload", "daemon_reexec"]]);

/// What the probe learned about the unit.
#[derive(Clone, Debug, Default)]
struct UnitState {
    status: Map<String, Value>,
    /// `systemctl is-enabled` output and exit status.
    enabled_out: String,
    enabled_rc: i32,
    systemd_running: bool,
}

impl UnitState {
    fn prop(&self, k: &str) -> &str {
        self.status.get(k).and_then(Value::as_str).unwrap_or("")
    }
    fn found(&self) -> bool {
        !self.status.is_empty() && self.prop("LoadState") != "not-found"
    }
    fn masked(&self) -> bool {
        self.enabled_out == "masked"
    }
    /// Ansible's reading of is-enabled: success means enabled, except states that enable only for now or by way
    /// of something else.
    fn enabled(&self) -> bool {
        self.enabled_rc == 0 && !matches!(self.enabled_out.as_str(), "enabled-runtime" | "indirect" | "alias")
    }
    fn running(&self) -> bool {
        matches!(self.prop("ActiveState"), "active" | "activating")
    }
}

/// `systemctl show` output as Ansible parses it: key=value, with multi-line values only for Exec* keys in braces.
fn parse_show(text: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut multi: Option<(String, Vec<String>)> = None;
    for line in text.lines() {
        if let Some((k, mut lines)) = multi.take() {
            lines.push(line.to_string());
            if line.trim_end().ends_with('}') {
                out.insert(k, Value::String(lines.join("\n").trim().to_string()));
            } else {
                multi = Some((k, lines));
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        if k.starts_with("Exec") && v.trim_start().starts_with('{') && !v.trim_end().ends_with('}') {
            multi = Some((k.to_string(), vec![v.to_string()]));
            continue;
        }
        out.insert(k.to_string(), Value::String(v.trim().to_string()));
    }
    out
}

/// The systemctl command line prefix for the chosen scope and flags.
fn systemctl(args: &Args) -> String {
    let mut s = String::from("systemctl");
    match args.req("scope") {
        "user" => s.push_str(" --user"),
        "global" => s.push_str(" --global"),
        _ => {}
    }
    if args.bool("no_block") {
        s.push_str(" --no-block");
    }
    if args.bool("force") {
        s.push_str(" --force");
    }
    s
}

/// A user manager needs its runtime dir, which a non-login SSH session may not have set.
fn env_prefix(args: &Args) -> &'static str {
    if args.req("scope") == "user" { "[ -n \"$XDG_RUNTIME_DIR\" ] || export XDG_RUNTIME_DIR=/run/user/$(id -u); " } else { "" }
}

async fn probe(ctx: &ModuleCtx<'_>, args: &Args, unit: &str) -> Result<UnitState, ModuleError> {
    let sc = format!("{}{}", env_prefix(args), systemctl(args));
    let u = quote(unit);
    let mut p = Probe::new();
    p.add(SYSTEMD_SNIPPET);
    p.add(format!("{sc} show -- {u} 2>/dev/null"));
    p.add(format!("{sc} is-enabled -- {u} 2>/dev/null"));
    let s = p.run(ctx).await?;
    Ok(UnitState {
        systemd_running: s[0].ok(),
        status: if s[1].ok() { parse_show(&s[1].out) } else { Map::new() },
        enabled_out: s[2].trimmed().to_string(),
        enabled_rc: s[2].rc,
    })
}

/// Run the module's logic; `service` calls this with its own name for messages.
pub async fn run_systemd(ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
    let unit = args.str("name");
    for needs in ["state", "enabled", "masked"] {
        if args.has(needs) && unit.is_none() {
            return Err(ModuleError::Args(format!("missing parameter(s) required by '{needs}': name")));
        }
    }
    if let Some(u) = unit {
        if u.contains(['*', '?', '[']) {
            return Err(ModuleError::Args(format!(
                "This module does not currently support using glob patterns, found a glob character in service name: {u}"
            )));
        }
    }
    let sc = format!("{}{}", env_prefix(args), systemctl(args));
    let mut result = Outcome::ok();
    for (flag, verb) in [("daemon_reload", "daemon-reload"), ("daemon_reexec", "daemon-reexec")] {
        if args.bool(flag) && !ctx.check {
            let out = ctx.write(&format!("{sc} {verb}"), None).await?;
            if !out.success() {
                return Err(ModuleError::Failed(format!("failure {} during {verb}: {}", out.rc(), out.stderr_text().trim())));
            }
        }
    }
    let Some(unit) = unit else {
        return Ok(result.with("name", Value::Null).with("status", Value::Object(Map::new())));
    };
    let u = quote(unit);
    let mut st = probe(ctx, args, unit).await?;
    if !st.systemd_running && args.req("scope") == "system" {
        return Err(ModuleError::Unsupported(format!(
            "{unit}: systemd is not running on this host (no /run/systemd/system), so systemctl cannot manage units"
        )));
    }
    let found = st.found();
    if found && !st.masked() {
        if let Some(Value::String(err)) = st.status.get("LoadError").filter(|e| e.as_str().is_some_and(|s| !s.is_empty())) {
            return Err(ModuleError::Failed(format!("Error loading unit file '{unit}': {err}")));
        }
    }
    let missing = || ModuleError::Failed(format!("Could not find the requested service {unit}: host"));
    let (mut before, mut after) = (Vec::new(), Vec::new());

    if let Some(want) = args.get("masked").and_then(super::args::to_bool) {
        if st.masked() != want {
            result.changed = true;
            before.push(("masked", st.masked().to_string()));
            after.push(("masked", want.to_string()));
            if !ctx.check {
                let action = if want { "mask" } else { "unmask" };
                let out = ctx.write(&format!("{sc} {action} -- {u}"), None).await?;
                if !out.success() {
                    if !found {
                        return Err(missing());
                    }
                    return Err(ModuleError::Failed(format!("Failed to {action} the service ({unit}): {}", out.stderr_text().trim())));
                }
                // Enabling below must see the unit as it is now.
                st = probe(ctx, args, unit).await?;
            }
        }
    }

    if let Some(want) = args.get("enabled").and_then(super::args::to_bool) {
        if !found && !st.found() {
            return Err(missing());
        }
        let enabled = st.enabled();
        result = result.with("enabled", enabled);
        if enabled != want {
            result.changed = true;
            before.push(("enabled", enabled.to_string()));
            after.push(("enabled", want.to_string()));
            if !ctx.check {
                let action = if want { "enable" } else { "disable" };
                let out = ctx.write(&format!("{sc} {action} -- {u}"), None).await?;
                if !out.success() {
                    return Err(ModuleError::Failed(format!("Unable to {action} service {unit}: {}{}", out.stdout_text(), out.stderr_text().trim())));
                }
            }
            result = result.with("enabled", want);
        }
    }

    if let Some(state) = args.str("state") {
        if !found && !st.found() {
            return Err(missing());
        }
        let mut reported = state;
        let action = match state {
            "started" => (!st.running()).then_some("start"),
            "stopped" => (st.running() || st.prop("ActiveState") == "deactivating").then_some("stop"),
            _ => {
                reported = "started";
                Some(if !st.running() {
                    "start"
                } else if state == "restarted" {
                    "restart"
                } else {
                    "reload"
                })
            }
        };
        result = result.with("state", reported);
        if let Some(action) = action {
            result.changed = true;
            before.push(("state", st.prop("ActiveState").to_string()));
            after.push(("state", format!("{action} requested")));
            if !ctx.check {
                let out = ctx.write(&format!("{sc} {action} -- {u}"), None).await?;
                if !out.success() {
                    return Err(ModuleError::Failed(format!("Unable to {action} service {unit}: {}", out.stderr_text().trim())));
                }
            }
        }
    }
    if result.changed && ctx.diff {
        result = result.diff(super::remote_file::property_diff(unit, &before, &after));
    }
    Ok(result.with("name", unit).with("status", Value::Object(st.status)))
}

#[async_trait::async_trait]
impl Module for Systemd {
    fn name(&self) -> &'static str {
        self.0
    }
    fn summary(&self) -> &'static str {
        "Manage systemd units: start, stop, restart, reload, enable at boot, mask, daemon-reload"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "SysV init scripts without a unit are not handled (systemd's generator normally provides units for them). \
         A host without systemd running fails with a message saying so."
    }
    async fn run(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        run_systemd(ctx, args).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_output_parses_like_ansible() {
        let text = "Id=x.service\nDescription={weird\nExecStart={ path=/bin/sleep ; argv[]=/bin/sleep\n 1 ; ignore_errors=no }\nActiveState=active\n";
        let m = parse_show(text);
        assert_eq!(m["Description"], "{weird", "only Exec* values span lines");
        assert_eq!(m["ExecStart"], "{ path=/bin/sleep ; argv[]=/bin/sleep\n 1 ; ignore_errors=no }");
        assert_eq!(m["ActiveState"], "active");
    }

    #[test]
    fn enabled_reading_follows_ansible() {
        let st = |out: &str, rc| UnitState { enabled_out: out.into(), enabled_rc: rc, ..Default::default() };
        assert!(st("enabled", 0).enabled());
        assert!(st("static", 0).enabled());
        assert!(!st("enabled-runtime", 0).enabled());
        assert!(!st("disabled", 1).enabled());
        assert!(st("masked", 1).masked());
    }
}
