//! timezone: the system's time zone on Debian (/etc/localtime linked into /usr/share/zoneinfo, and
//! /etc/timezone), read with one probe and set the way timedatectl sets it, without needing its D-Bus service.

use super::{ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::transport::quote::quote;

pub struct Timezone;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The time zone, as in /usr/share/zoneinfo (e.g. Etc/UTC, Europe/Berlin)."),
    ArgSpec::new("hwclock", ArgKind::Str).choices(&["UTC", "local"]).help("Not supported (a hardware clock is the machine's, not a container's)."),
])
.changes(&["timezone"]);

/// A zone name that is a path below /usr/share/zoneinfo, not out of it.
fn valid(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('/') && !name.split('/').any(|p| p.is_empty() || p == "." || p == "..")
}

#[async_trait::async_trait]
impl Module for Timezone {
    fn name(&self) -> &'static str {
        "timezone"
    }
    fn summary(&self) -> &'static str {
        "Set the system's time zone"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Debian-family hosts; `hwclock` is refused. Results carry `diff` as before/after names only."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?;
        if args.has("hwclock") {
            return Err(ModuleError::Unsupported("timezone: hwclock is not supported".into()));
        }
        if !valid(name) {
            return Err(ModuleError::Args(format!("'{name}' is not a valid time zone name")));
        }
        let zone = format!("/usr/share/zoneinfo/{name}");
        let script = format!(
            "test -f {z} || exit 3; l=$(readlink /etc/localtime 2>/dev/null); echo \"${{l#*zoneinfo/}}\"; cat /etc/timezone 2>/dev/null || echo",
            z = quote(&zone)
        );
        let out = ctx.read(&script).await?;
        if out.rc() == 3 {
            return Err(ModuleError::failed(format!("given timezone \"{name}\" is not available")));
        }
        let text = out.stdout_text();
        let mut lines = text.lines();
        let (link, file) = (lines.next().unwrap_or("").trim().to_string(), lines.next().unwrap_or("").trim().to_string());
        let plan = Plan::unchanged().with("name", name);
        if link == name && file == name {
            return Ok(plan);
        }
        let before = if link.is_empty() { file.clone() } else { link.clone() };
        let d = Diff {
            before_header: "timezone".into(),
            after_header: "timezone".into(),
            before: format!("name: {before}\n"),
            after: format!("name: {name}\n"),
        };
        let script = format!("ln -sfn {} /etc/localtime && echo {} > /etc/timezone", quote(&zone), quote(name));
        Ok(plan.change(Change::new("timezone", d, Step::run(script, format!("setting the time zone to {name}")))))
    }
}
