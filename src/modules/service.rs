//! service: the generic service module. On a systemd host (the only kind hlprov manages) it is the systemd
//! module with name, state and enabled; the SysV-only arguments are accepted and ignored with a warning, as
//! Ansible does when it hands service over to systemd.

use serde_json::{Map, Value};

use super::{ApplyCtx, ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan};

pub struct Service;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The service (systemd unit) name."),
    ArgSpec::new("state", ArgKind::Str).choices(&["started", "stopped", "restarted", "reloaded"]).help("What the service should be doing."),
    ArgSpec::new("enabled", ArgKind::Bool).help("Start the service at boot."),
    ArgSpec::new("sleep", ArgKind::Int).help("SysV only: ignored on systemd hosts (with a warning)."),
    ArgSpec::new("pattern", ArgKind::Str).help("SysV only: ignored on systemd hosts (with a warning)."),
    ArgSpec::new("runlevel", ArgKind::Str).help("SysV only: ignored on systemd hosts (with a warning)."),
    ArgSpec::new("arguments", ArgKind::Str).aliases(&["args"]).help("SysV only: ignored on systemd hosts (with a warning)."),
    ArgSpec::new("use", ArgKind::Str).default("auto").help("The service manager module to use: auto or systemd."),
])
.required_one_of(&[&["state", "enabled"]])
.changes(&["enabled", "state"])
.critical();

#[async_trait::async_trait]
impl Module for Service {
    fn name(&self) -> &'static str {
        "service"
    }
    fn summary(&self) -> &'static str {
        "Start, stop, restart, reload or enable a service (systemd hosts)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Only systemd is implemented: a host whose init is not systemd fails with a message saying so, and use: \
         other than auto/systemd is refused."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let (systemd, checked, warnings) = systemd_with(args)?;
        let mut plan = systemd.plan(ctx, &checked).await?;
        if !warnings.is_empty() {
            plan = plan.with("warnings", Value::Array(warnings));
        }
        Ok(plan)
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        let (systemd, checked, _) = systemd_with(args)?;
        systemd.apply(ctx, &checked, plan).await
    }
}

/// The systemd module, the arguments `service`'s become for it, and warnings for those it ignores.
fn systemd_with(args: &Args) -> Result<(&'static dyn Module, Args, Vec<Value>), ModuleError> {
    let using = args.req("use")?;
    if using != "auto" && using != "systemd" {
        return Err(ModuleError::Unsupported(format!("service: hlprov manages services with systemd only, not {using}")));
    }
    let systemd = super::registry::find("systemd").ok_or_else(|| ModuleError::Internal("systemd module missing".into()))?;
    let mut raw = Map::new();
    let mut warnings = Vec::new();
    for (k, v) in &args.0 {
        match k.as_str() {
            "name" | "state" | "enabled" => {
                raw.insert(k.clone(), v.clone());
            }
            "sleep" | "pattern" | "runlevel" | "arguments" => {
                warnings.push(Value::String(format!("Ignoring \"{k}\" as it is not used in \"systemd\"")))
            }
            _ => {}
        }
    }
    let checked = systemd.spec().check(&raw, false).map_err(ModuleError::Args)?;
    Ok((systemd, checked, warnings))
}
