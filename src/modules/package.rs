//! package: the generic package module. It picks the host's package manager (the `os_family` fact when facts
//! were gathered, else one probe) and hands the task to that module; hlprov implements apt, so other families
//! get a plain "not supported" rather than a guess.

use serde_json::{Map, Value};

use super::helpers::host::{PKG_MGR_SNIPPET, Probe};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan};

pub struct Package;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::List).required().help("Package name(s), or `name=version` as the package manager spells it."),
    ArgSpec::new("state", ArgKind::Str).required().help("present or absent (latest too, since apt supports it)."),
    ArgSpec::new("use", ArgKind::Str).default("auto").help("The package module to use (apt); auto picks it from facts or the host."),
    ArgSpec::new("enablerepo", ArgKind::List).help("dnf/yum only: accepted so that a task for RHEL hosts loads; refused on an apt host."),
    ArgSpec::new("disablerepo", ArgKind::List).help("dnf/yum only: accepted so that a task for RHEL hosts loads; refused on an apt host."),
])
.changes(&["install", "remove"])
.critical();

/// The package module for an Ansible os_family.
fn module_for_family(family: &str) -> Option<&'static str> {
    match family {
        "Debian" => Some("apt"),
        _ => None,
    }
}

#[async_trait::async_trait]
impl Module for Package {
    fn name(&self) -> &'static str {
        "package"
    }
    fn summary(&self) -> &'static str {
        "Install or remove packages with the host's package manager (apt on Debian-family hosts)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Only apt is implemented: a host of another family (or with use: dnf, …) fails with a message naming its \
         package manager. Only name, state and use are accepted, and dnf's enablerepo/disablerepo so that tasks for RHEL hosts load \
         (refused on an apt host; Ansible passes any further argument through to the package manager's module)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let chosen = match args.req("use")? {
            "auto" => match ctx.task.fact("os_family").as_ref().and_then(Value::as_str) {
                Some(family) => module_for_family(family).map(str::to_string).ok_or_else(|| {
                    ModuleError::Unsupported(format!("package: hlprov manages packages with apt only; this host's os_family is {family}"))
                })?,
                None => {
                    let mut p = Probe::new();
                    p.add(PKG_MGR_SNIPPET);
                    p.run(ctx).await?[0].trimmed().to_string()
                }
            },
            other => other.to_string(),
        };
        if chosen != "apt" {
            return Err(ModuleError::Unsupported(format!("package: hlprov manages packages with apt only; this host's package manager is {chosen}")));
        }
        // Multi-distribution roles pass dnf's arguments in tasks for RHEL (geerlingguy.security: enablerepo: epel).
        if let Some(arg) = ["enablerepo", "disablerepo"].into_iter().find(|a| args.has(a)) {
            return Err(ModuleError::Args(format!("package: {arg} applies to dnf and yum; this host's package manager is apt")));
        }
        let (apt, apt_args) = apt_with(args)?;
        apt.plan(ctx, &apt_args).await
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        let (apt, apt_args) = apt_with(args)?;
        apt.apply(ctx, &apt_args, plan).await
    }
}

/// The apt module and the arguments `package`'s become for it.
fn apt_with(args: &Args) -> Result<(&'static dyn Module, Args), ModuleError> {
    let apt = super::registry::find("apt").ok_or_else(|| ModuleError::Internal("apt module missing".into()))?;
    let mut raw = Map::new();
    raw.insert("name".into(), args.get("name").cloned().unwrap_or(Value::Null));
    raw.insert("state".into(), Value::String(args.req("state")?.to_string()));
    Ok((apt, apt.spec().check(&raw, false).map_err(ModuleError::Args)?))
}
