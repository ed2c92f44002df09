//! group: local groups with groupadd, groupmod and groupdel. One `getent group` probe decides; results and
//! `changed` follow Ansible's group module.

use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::{join, quote};

pub struct Group;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The group's name."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Whether the group should exist."),
    ArgSpec::new("gid", ArgKind::Int).help("The group's numeric id (changed with groupmod if it differs)."),
    ArgSpec::new("system", ArgKind::Bool).default("no").help("Create a system group (id from the system range)."),
    ArgSpec::new("non_unique", ArgKind::Bool).default("no").help("Allow a gid another group already has (needs gid)."),
    ArgSpec::new("force", ArgKind::Bool).default("no").help("Delete the group even if it is some user's primary group (groupdel -f)."),
    ArgSpec::new("gid_min", ArgKind::Int).help("Lowest gid to pick from when creating (overrides /etc/login.defs)."),
    ArgSpec::new("gid_max", ArgKind::Int).help("Highest gid to pick from when creating (overrides /etc/login.defs)."),
])
.changes(&["create", "remove", "gid"]);

/// A name groupadd accepts (and that needs no quoting surprises in messages).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && !name.starts_with('-') && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-$".contains(c))
}

/// `getent group NAME` → gid.
async fn lookup(ctx: &ModuleCtx<'_>, name: &str) -> Result<Option<i64>, ModuleError> {
    let out = ctx.read(&format!("getent group {}", quote(name))).await?;
    match out.rc() {
        0 => Ok(out.stdout_text().split(':').nth(2).and_then(|g| g.trim().parse().ok())),
        2 => Ok(None),
        rc => Err(ModuleError::failed(format!("getent group failed (rc={rc}): {}", out.stderr_text().trim()))),
    }
}

#[async_trait::async_trait]
impl Module for Group {
    fn name(&self) -> &'static str {
        "group"
    }
    fn summary(&self) -> &'static str {
        "Create, change the gid of, or remove a local group"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "local: (luseradd tools) is not supported; groups are managed with groupadd/groupmod/groupdel."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?;
        if !valid_name(name) {
            return Err(ModuleError::Args(format!("'{name}' is not a valid group name")));
        }
        if args.bool("non_unique") && !args.has("gid") {
            return Err(ModuleError::Args("non_unique is True but all of the following are missing: gid".into()));
        }
        let state = args.req("state")?;
        let gid = args.int("gid");
        let current = lookup(ctx, name).await?;
        let mut plan = Plan::unchanged().with("name", name).with("state", state);
        if state == "present" {
            if let Some(g) = current.or(gid) {
                plan = plan.with("system", args.bool("system")).with("gid", g);
            }
        }
        let mut cmd: Vec<String> = Vec::new();
        let kind = match (state, current) {
            ("absent", None) => return Ok(plan),
            ("absent", Some(_)) => {
                cmd.push("groupdel".into());
                if args.bool("force") {
                    cmd.push("-f".into());
                }
                "remove"
            }
            (_, None) => {
                cmd.push("groupadd".into());
                if let Some(g) = gid {
                    cmd.extend(["-g".into(), g.to_string()]);
                    if args.bool("non_unique") {
                        cmd.push("-o".into());
                    }
                }
                if args.bool("system") {
                    cmd.push("-r".into());
                }
                for (arg, key) in [("gid_min", "GID_MIN"), ("gid_max", "GID_MAX")] {
                    if let Some(v) = args.int(arg) {
                        cmd.extend(["-K".into(), format!("{key}={v}")]);
                    }
                }
                "create"
            }
            (_, Some(have)) => match gid.filter(|g| *g != have) {
                Some(g) => {
                    cmd = vec!["groupmod".into(), "-g".into(), g.to_string()];
                    if args.bool("non_unique") {
                        cmd.push("-o".into());
                    }
                    "gid"
                }
                None => return Ok(plan),
            },
        };
        let before = current.map(|g| format!("gid {g}")).unwrap_or_else(|| "absent".into());
        let after = if state == "absent" { "absent".to_string() } else { gid.map(|g| format!("gid {g}")).unwrap_or_else(|| "present".into()) };
        let d = super::helpers::remote_file::property_diff(name, &[("group", before)], &[("group", after)]);
        cmd.push(name.to_string());
        Ok(plan.change(Change::new(kind, d, Step::Module)).keep(cmd))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let name = args.req("name")?;
        let cmd: Vec<String> = plan.take_found().unwrap_or_default();
        let out = ctx.write(&join(&cmd), None).await?;
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_text().trim().to_string()).with("name", name));
        }
        let mut o = Outcome::from_plan(&plan);
        if !out.stdout_text().is_empty() {
            o = o.with("stdout", out.stdout_text());
        }
        if !out.stderr_text().is_empty() {
            o = o.with("stderr", out.stderr_text());
        }
        if args.req("state")? == "present" {
            if let Some(g) = lookup(ctx, name).await? {
                o = o.with("system", args.bool("system")).with("gid", g);
            }
        }
        Ok(o)
    }
}
