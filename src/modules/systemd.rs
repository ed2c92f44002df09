//! systemd (alias systemd_service): start, stop, restart, reload, enable, disable, mask and unmask units with
//! systemctl. One probe (`systemctl show` plus `systemctl is-enabled`) gives everything a no-op needs; the
//! decisions and the registered `status` follow Ansible's systemd_service module.

use serde_json::{Map, Value};

use super::helpers::host::{Probe, SYSTEMD_SNIPPET};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
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
.required_one_of(&[&["state", "enabled", "masked", "daemon_reload", "daemon_reexec"]])
.changes(CHANGES)
.critical();

/// The kinds of change systemd (and service) make.
pub const CHANGES: &[&str] = &["masked", "enabled", "state"];

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
    match args.str("scope").unwrap_or("system") {
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
    if args.str("scope") == Some("user") { "[ -n \"$XDG_RUNTIME_DIR\" ] || export XDG_RUNTIME_DIR=/run/user/$(id -u); " } else { "" }
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

/// Plan the module's work: daemon-reload/reexec first (preliminary: Ansible does not count them as changes),
/// then mask, enable and state, each a change when the unit differs.
async fn plan_units(ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
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
    let mut plan = Plan::unchanged();
    for (flag, verb) in [("daemon_reload", "daemon-reload"), ("daemon_reexec", "daemon-reexec")] {
        if args.bool(flag) {
            plan = plan.before(Step::run(format!("{sc} {verb}"), verb.to_string()));
        }
    }
    let Some(unit) = unit else {
        return Ok(plan.with("name", Value::Null).with("status", Value::Object(Map::new())));
    };
    let u = quote(unit);
    let st = probe(ctx, args, unit).await?;
    if !st.systemd_running && args.req("scope")? == "system" {
        return Err(ModuleError::Unsupported(format!(
            "{unit}: systemd is not running on this host (no /run/systemd/system), so systemctl cannot manage units"
        )));
    }
    let found = st.found();
    if found && !st.masked() {
        if let Some(Value::String(err)) = st.status.get("LoadError").filter(|e| e.as_str().is_some_and(|s| !s.is_empty())) {
            return Err(ModuleError::failed(format!("Error loading unit file '{unit}': {err}")));
        }
    }
    let missing = || ModuleError::failed(format!("Could not find the requested service {unit}: host"));
    let diff = |k: &str, b: String, a: String| super::helpers::remote_file::property_diff(unit, &[(k, b)], &[(k, a)]);
    // A unit that is not found may still be masked or unmasked; an enable or a start then needs it found.
    let mut masked_now = st.masked();
    if let Some(want) = args.get("masked").and_then(super::args::to_bool) {
        if st.masked() != want {
            let action = if want { "mask" } else { "unmask" };
            let what =
                if found { format!("Failed to {action} the service ({unit})") } else { format!("Could not find the requested service {unit}: host") };
            plan = plan.change(Change::new(
                "masked",
                diff("masked", st.masked().to_string(), want.to_string()),
                Step::run(format!("{sc} {action} -- {u}"), what),
            ));
            masked_now = want;
        }
    }
    if let Some(want) = args.get("enabled").and_then(super::args::to_bool) {
        if !found {
            return Err(missing());
        }
        // After an unmask, is-enabled no longer says "masked": the unit is then as disabled.
        let enabled = st.enabled() && (!st.masked() || masked_now);
        plan = plan.with("enabled", want);
        if enabled != want {
            let action = if want { "enable" } else { "disable" };
            let step = Step::run(format!("{sc} {action} -- {u}"), format!("Unable to {action} service {unit}"));
            plan = plan.change(Change::new("enabled", diff("enabled", enabled.to_string(), want.to_string()), step));
        }
    }
    if let Some(state) = args.str("state") {
        if !found {
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
        plan = plan.with("state", reported);
        if let Some(action) = action {
            let step = Step::run(format!("{sc} {action} -- {u}"), format!("Unable to {action} service {unit}"));
            plan = plan.change(Change::new("state", diff("state", st.prop("ActiveState").to_string(), format!("{action} requested")), step));
        }
    }
    Ok(plan.with("name", unit).with("status", Value::Object(st.status)))
}

/// Carry out a plan of [`plan_units`], with Ansible's messages when systemctl fails.
async fn apply_units(ctx: &ApplyCtx<'_>, plan: Plan) -> Result<Outcome, ModuleError> {
    let steps = plan.preliminary.iter().map(|s| (true, s)).chain(plan.changes.iter().map(|c| (false, &c.step)));
    for (preliminary, step) in steps {
        let Step::Run { script, what, .. } = step else { continue };
        let out = ctx.write(script, None).await?;
        if !out.success() {
            return Err(ModuleError::failed(if preliminary {
                format!("failure {} during {what}: {}", out.rc(), out.stderr_text().trim())
            } else {
                format!("{what}: {}{}", out.stdout_text(), out.stderr_text().trim())
            }));
        }
    }
    Ok(Outcome::from_plan(&plan))
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
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        plan_units(ctx, args).await
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, _args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        apply_units(ctx, plan).await
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
