//! hostname: the host's name, both the running one (the kernel's) and the permanent one (/etc/hostname). One
//! probe reads both; /etc/hostname is written atomically, or in place when a container engine bind-mounts it
//! (a rename onto a mount point fails). Results and `changed` follow Ansible's hostname module.

use serde_json::{Map, Value};

use super::helpers::host::{Probe, SYSTEMD_SNIPPET};
use super::helpers::remote_file::{self, Want, WriteSpec};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct Hostname;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The host name (a short name or a fully qualified one, up to 64 characters)."),
    ArgSpec::new("use", ArgKind::Str)
        .choices(&["systemd", "debian"])
        .help("systemd: set the running and the permanent name (the default when systemd runs); debian: only /etc/hostname."),
])
.changes(&["name"]);

/// A name the kernel and resolvers accept: dot-separated labels of letters, digits and inner hyphens.
fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("name cannot be longer than 64 characters on systemd servers, try a shorter name ('{name}' has {})", name.len()));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(format!("'{name}' is not a valid host name: each dot-separated part must be 1-63 letters, digits or inner hyphens"));
        }
    }
    Ok(())
}

/// The permanent name as /etc/hostname holds it: the first line that is not a comment, trimmed.
fn permanent_from(text: &str) -> String {
    text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("").to_string()
}

fn facts(name: &str, fqdn: &str) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("ansible_hostname".into(), Value::String(name.split('.').next().unwrap_or(name).to_string()));
    f.insert("ansible_nodename".into(), Value::String(name.to_string()));
    f.insert("ansible_fqdn".into(), Value::String(fqdn.to_string()));
    f.insert("ansible_domain".into(), Value::String(fqdn.split_once('.').map(|(_, d)| d.to_string()).unwrap_or_default()));
    f
}

#[async_trait::async_trait]
impl Module for Hostname {
    fn name(&self) -> &'static str {
        "hostname"
    }
    fn summary(&self) -> &'static str {
        "Set the host's name: the running (kernel) name and /etc/hostname"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Strategies systemd (default when systemd runs) and debian only. hlprov writes /etc/hostname and sets the \
         kernel name with `hostname` instead of calling hostnamectl, so it works without dbus and on containers \
         whose /etc/hostname is bind-mounted (written in place there); the pretty hostname is left alone. \
         Names are checked (labels of letters, digits, hyphens; at most 64 characters). /etc/hosts is not touched."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?;
        valid_name(name).map_err(ModuleError::Args)?;
        let mut p = Probe::new();
        p.add("cat /proc/sys/kernel/hostname");
        p.add(remote_file::probe_script("/etc/hostname", Want { content_up_to: 64 * 1024, ..Default::default() }));
        p.add(SYSTEMD_SNIPPET);
        p.add("awk '$5 == \"/etc/hostname\" { found = 1 } END { exit !found }' /proc/self/mountinfo");
        p.add("hostname -f 2>/dev/null || cat /proc/sys/kernel/hostname");
        let s = p.run(ctx).await?;
        let current = s[0].trimmed().to_string();
        let file = remote_file::parse_probe(&s[1].out).map_err(|e| ModuleError::Internal(format!("inspecting /etc/hostname: {e}")))?;
        let permanent = permanent_from(&file.text());
        let strategy = args.str("use").unwrap_or(if s[2].ok() { "systemd" } else { "debian" });
        let bind_mounted = s[3].ok();

        // The file strategy knows only the permanent name; it is also its "current" one.
        let current = if strategy == "systemd" { current } else { permanent.clone() };
        let set_permanent = permanent != name;
        let set_current = strategy == "systemd" && current != name;
        let name_before = if name != current { current.clone() } else { permanent.clone() };
        let changed = set_permanent || set_current;
        let fqdn = if changed { name.to_string() } else { s[4].trimmed().to_string() };
        let plan = Plan::unchanged().with("name", name).facts(facts(name, &fqdn));
        if !changed {
            return Ok(plan);
        }
        let d = Diff {
            before_header: "hostname".into(),
            after_header: "hostname".into(),
            before: format!("hostname = {name_before}\n"),
            after: format!("hostname = {name}\n"),
        };
        let rename = Rename { set_permanent, set_current, bind_mounted, file_sha256: file.sha256.clone() };
        Ok(plan.change(Change::new("name", d, Step::Module)).keep(rename))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let name = args.req("name")?;
        let r: Rename = plan.take_found().ok_or_else(|| ModuleError::Internal("hostname: plan without its findings".into()))?;
        if r.set_permanent {
            let content = format!("{name}\n");
            if r.bind_mounted {
                // A container engine owns this mount point: renaming onto it fails, writing into it works.
                ctx.write_ok("cat > /etc/hostname", Some(content.as_bytes()), "writing /etc/hostname").await?;
            } else {
                remote_file::write_atomic(ctx, &WriteSpec::new("/etc/hostname", content, r.file_sha256.as_deref())).await?;
            }
        }
        if r.set_current {
            let n = quote(name);
            let out = ctx.write(&format!("hostname {n} 2>&1 || printf %s {n} > /proc/sys/kernel/hostname"), None).await?;
            if !out.success() {
                return Err(ModuleError::failed(format!("Command failed: cannot set the running host name to {name}: {}", out.stdout_text().trim())));
            }
        }
        let fqdn = ctx.read("hostname -f 2>/dev/null || cat /proc/sys/kernel/hostname").await?.stdout_text().trim().to_string();
        let mut o = Outcome::from_plan(&plan);
        o.facts = Some(facts(name, &fqdn));
        Ok(o)
    }
}

/// What a rename must do, as planned.
struct Rename {
    set_permanent: bool,
    set_current: bool,
    bind_mounted: bool,
    file_sha256: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("nas").is_ok());
        assert!(valid_name("nas-01.home.arpa").is_ok());
        assert!(valid_name("-nas").is_err());
        assert!(valid_name("nas_01").is_err());
        assert!(valid_name("a..b").is_err());
        assert!(valid_name(&"a".repeat(65)).unwrap_err().contains("longer than 64"));
    }

    #[test]
    fn permanent_name_skips_comments() {
        assert_eq!(permanent_from("# set by cloud-init\n\n  nas \n"), "nas");
        assert_eq!(permanent_from(""), "");
    }
}
