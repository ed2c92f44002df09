//! dpkg_selections: a package's selection state (install, hold, deinstall, purge), read with
//! `dpkg --get-selections` and set with `dpkg --set-selections`, as Ansible's module does. Holding a package
//! keeps apt from upgrading it (a pinned kernel, a k3s dependency).

use super::{ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::transport::quote::quote;

pub struct DpkgSelections;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The package."),
    ArgSpec::new("selection", ArgKind::Str).required().choices(&["install", "hold", "deinstall", "purge"]).help("The selection state to set."),
])
.changes(&["selection"])
.critical();

#[async_trait::async_trait]
impl Module for DpkgSelections {
    fn name(&self) -> &'static str {
        "dpkg_selections"
    }
    fn summary(&self) -> &'static str {
        "Hold a package, or set another dpkg selection state"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?;
        let selection = args.req("selection")?;
        let out = ctx.read_ok(&format!("LC_ALL=C dpkg --get-selections {}", quote(name)), "dpkg --get-selections").await?;
        if out.stderr_text().contains("no packages found matching") {
            return Err(ModuleError::failed(format!("Failed to find package '{name}' to perform selection '{selection}'.")));
        }
        let text = out.stdout_text();
        let current = text.split_whitespace().nth(1).unwrap_or("not present").to_string();
        let plan = Plan::unchanged().with("before", current.as_str()).with("after", selection);
        if current == selection {
            return Ok(plan);
        }
        let d = super::helpers::remote_file::property_diff(name, &[("selection", current)], &[("selection", selection.to_string())]);
        let step = Step::Run {
            script: "LC_ALL=C dpkg --set-selections".into(),
            stdin: Some(format!("{name} {selection}\n").into_bytes()),
            what: format!("setting the selection of {name} to {selection}"),
        };
        Ok(plan.change(Change::new("selection", d, step)))
    }
}
