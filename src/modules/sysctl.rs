//! sysctl: kernel parameters in a sysctl file (/etc/sysctl.conf or a file in /etc/sysctl.d), optionally applied
//! to the running kernel. One probe reads the running value, the file, and whether /proc/sys can be written;
//! the file is rewritten the way Ansible's module rewrites it. A container's /proc/sys is read-only: applying
//! there fails with a message that says so, after the file was written (the same order as Ansible).

use super::helpers::host::{CONTAINER_SNIPPET, Probe, container_kind};
use super::helpers::remote_file::{self, Want, WriteSpec};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct Sysctl;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().aliases(&["key"]).help("The parameter, e.g. net.ipv4.ip_forward."),
    ArgSpec::new("value", ArgKind::Raw).aliases(&["val"]).help("Its value; yes/no and true/false become 1/0. Required with state=present."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Whether the parameter should be in the file."),
    ArgSpec::new("reload", ArgKind::Bool).default("yes").help("After changing the file, apply it (`sysctl -p FILE`)."),
    ArgSpec::new("sysctl_set", ArgKind::Bool).default("no").help("Also set the running value with `sysctl -w` when it differs."),
    ArgSpec::new("ignoreerrors", ArgKind::Bool).default("no").help("Ignore unknown keys when setting or reloading (sysctl -e)."),
    ArgSpec::new("sysctl_file", ArgKind::Path)
        .default("/etc/sysctl.conf")
        .help("The file to keep the parameter in, e.g. /etc/sysctl.d/99-homelab.conf."),
])
.changes(&["running value", "file", "reload"]);

/// Ansible's _parse_value: booleans become 1/0, strings are trimmed.
fn parse_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Bool(b) => if *b { "1" } else { "0" }.to_string(),
        serde_json::Value::String(s) => match s.to_lowercase().as_str() {
            "y" | "yes" | "on" | "1" | "true" | "t" => "1".into(),
            "n" | "no" | "off" | "0" | "false" | "f" => "0".into(),
            _ => s.trim().to_string(),
        },
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Values compare word by word, so "4096  87380" equals "4096\t87380".
fn same_value(a: &str, b: &str) -> bool {
    a.split_whitespace().eq(b.split_whitespace())
}

/// The file's values (last one wins) and its lines rewritten as Ansible rewrites them: every `k = v` becomes
/// `k=v`, a key's later duplicates go, the parameter is replaced in place (or appended, or dropped).
fn rewrite(text: &str, name: &str, value: Option<&str>) -> (Option<String>, String) {
    let mut current = None;
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        let is_setting = !line.is_empty() && !line.starts_with('#') && !line.starts_with(';') && line.contains('=');
        if !is_setting {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or((line, ""));
        let (k, v) = (k.trim(), v.trim());
        if k == name {
            current = Some(v.to_string());
        }
        if seen.iter().any(|s| s == k) {
            continue;
        }
        seen.push(k.to_string());
        if k == name {
            if let Some(want) = value {
                out.push_str(&format!("{k}={want}\n"));
            }
        } else {
            out.push_str(&format!("{k}={v}\n"));
        }
    }
    if let (Some(want), false) = (value, seen.iter().any(|s| s == name)) {
        out.push_str(&format!("{name}={want}\n"));
    }
    (current, out)
}

/// sysctl's own failures that still exit 0 (or that Ansible looks for in stderr).
fn stderr_failed(err: &str) -> bool {
    err.lines().any(|l| {
        l.starts_with("sysctl: setting key") && (l.ends_with(": Invalid argument") || l.ends_with(": Read-only file system"))
            || l.starts_with("sysctl: permission denied on key")
    })
}

#[async_trait::async_trait]
impl Module for Sysctl {
    fn name(&self) -> &'static str {
        "sysctl"
    }
    fn summary(&self) -> &'static str {
        "Set a kernel parameter in a sysctl file and (optionally) in the running kernel"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "The value in the file is compared word by word like the running value (Ansible compares the file's text \
         exactly), so `4096 87380` and `4096  87380` are the same. \"permission denied on key\" from sysctl counts as \
         a failure even when sysctl exits 0. In a container /proc/sys is read-only: sysctl_set or reload fails with \
         a message naming the container, never a false ok (the file itself is still written, as Ansible would)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?.trim().to_string();
        if name.is_empty() {
            return Err(ModuleError::Args("name cannot be blank".into()));
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-/*:@".contains(c)) {
            return Err(ModuleError::Args(format!("'{name}' is not a sysctl parameter name")));
        }
        let state = args.req("state")?;
        let value = args.get("value").map(parse_value);
        if state == "present" {
            match &value {
                None => return Err(ModuleError::Args("state is present but all of the following are missing: value".into())),
                Some(v) if v.is_empty() => return Err(ModuleError::Args("value cannot be blank".into())),
                Some(v) if v.contains('\n') => return Err(ModuleError::Args("value cannot span lines".into())),
                _ => {}
            }
        }
        let file = args.req("sysctl_file")?;
        let mut p = Probe::new();
        p.add(format!("LANG=C LC_ALL=C sysctl -e -n {}", quote(&name)));
        p.add(remote_file::probe_script(file, Want { content_up_to: 16 * 1024 * 1024, follow: true, ..Default::default() }));
        p.add(CONTAINER_SNIPPET);
        p.add("awk '$2 == \"/proc/sys\" { print $4 }' /proc/self/mounts");
        p.add(format!("readlink -m -- {}", quote(file)));
        let s = p.run(ctx).await?;
        // Like Ansible, write through a symlink to the real file.
        let real_file = if s[4].ok() && !s[4].trimmed().is_empty() { s[4].trimmed().to_string() } else { file.to_string() };
        let proc_value = s[0].ok().then(|| s[0].out.trim_end_matches('\n').to_string());
        let st = remote_file::parse_probe(&s[1].out).map_err(|e| ModuleError::Internal(format!("inspecting {file}: {e}")))?;
        if st.exists && !st.is_file() {
            return Err(ModuleError::failed(format!("{file} is not a regular file")));
        }
        let container = container_kind(&s[2]);
        let proc_sys_ro = s[3].trimmed().split(',').any(|o| o == "ro");

        let want = if state == "present" { value.as_deref() } else { None };
        let (in_file, new_text) = rewrite(&st.text(), &name, want);
        let (reload, sysctl_set) = (args.bool("reload"), args.bool("sysctl_set"));
        let mut changed = false;
        let mut write_file = false;
        let proc_matches = proc_value.as_deref().is_some_and(|p| value.as_deref().is_some_and(|v| same_value(p, v)));
        match (&in_file, state) {
            (None, "present") => (changed, write_file) = (true, true),
            (None, _) => {}
            (Some(_), "absent") => (changed, write_file) = (true, true),
            (Some(cur), _) if !same_value(cur, value.as_deref().unwrap_or("")) => (changed, write_file) = (true, true),
            _ if reload && !proc_matches => changed = true,
            _ => {}
        }
        let mut set_proc = false;
        if sysctl_set && state == "present" && !proc_matches {
            changed = true;
            set_proc = proc_value.is_some();
        }

        let running = |v: Option<&str>| {
            super::helpers::remote_file::property_diff(
                &name,
                &[("running value", proc_value.clone().unwrap_or_default())],
                &[("running value", v.unwrap_or_default().to_string())],
            )
        };
        let mut plan = Plan::unchanged();
        if !changed {
            return Ok(plan);
        }
        if set_proc {
            plan = plan.change(Change::new("running value", running(value.as_deref()), Step::Module));
        }
        if write_file {
            plan = plan.change(Change::new("file", remote_file::content_diff(file, &st, new_text.as_bytes()), Step::Module));
        }
        if reload {
            plan = plan.change(Change::new("reload", running(value.as_deref().filter(|_| state == "present")), Step::Module));
        }
        let found = Found {
            name,
            value: value.unwrap_or_default(),
            set_proc,
            write_file,
            reload,
            real_file,
            new_text,
            sha256: st.sha256,
            container,
            proc_sys_ro,
        };
        Ok(plan.keep(found))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let f: Found = plan.take_found().ok_or_else(|| ModuleError::Internal("sysctl: plan without its findings".into()))?;
        let file = args.req("sysctl_file")?;
        let name = &f.name;
        // Where the kernel's parameters cannot be written, say so instead of trying.
        let refuse = |what: String| match (&f.container, f.proc_sys_ro) {
            (Some(kind), _) => ModuleError::Unsupported(format!(
                "{what}: /proc/sys is read-only inside this container ({kind}); kernel parameters belong to the machine that runs it{}",
                if f.write_file { format!(" ({file} was written)") } else { String::new() }
            )),
            (None, true) => ModuleError::Unsupported(format!("{what}: /proc/sys is mounted read-only on this host")),
            (None, false) => ModuleError::failed(what),
        };
        let ignore = if args.bool("ignoreerrors") { "-e " } else { "" };
        if f.set_proc {
            if f.proc_sys_ro {
                return Err(refuse(format!("setting {name} failed")));
            }
            let out = ctx.write(&format!("LANG=C LC_ALL=C sysctl {ignore}-w {}", quote(&format!("{name}={}", f.value))), None).await?;
            if !out.success() || stderr_failed(&out.stderr_text()) {
                return Err(ModuleError::failed(format!("setting {name} failed: {}{}", out.stdout_text(), out.stderr_text().trim())));
            }
        }
        if f.write_file {
            remote_file::write_atomic(ctx, &WriteSpec::new(&f.real_file, f.new_text.as_bytes(), f.sha256.as_deref())).await?;
        }
        if f.reload {
            let cmd = format!("LANG=C LC_ALL=C sysctl {ignore}-p {}", quote(file));
            let out = ctx.write(&cmd, None).await?;
            let err = out.stderr_text();
            if !out.success() || stderr_failed(&err) {
                let what = format!("Failed to reload sysctl: {}{}", out.stdout_text(), err.trim());
                if f.proc_sys_ro || f.container.is_some() {
                    return Err(refuse(what));
                }
                return Err(ModuleError::failed(what));
            }
        }
        Ok(Outcome::from_plan(&plan))
    }
}

/// What sysctl planned, for its apply.
struct Found {
    name: String,
    value: String,
    set_proc: bool,
    write_file: bool,
    reload: bool,
    real_file: String,
    new_text: String,
    sha256: Option<String>,
    container: Option<String>,
    proc_sys_ro: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_normalised_like_ansible() {
        assert_eq!(parse_value(&serde_json::json!(true)), "1");
        assert_eq!(parse_value(&serde_json::json!("yes")), "1");
        assert_eq!(parse_value(&serde_json::json!(" 4096 87380 ")), "4096 87380");
        assert_eq!(parse_value(&serde_json::json!(10)), "10");
        assert!(same_value("4096\t87380", "4096 87380"));
        assert!(!same_value("1", "10"));
    }

    #[test]
    fn the_file_is_rewritten_like_ansible_does() {
        let text = "# comment\n  net.ipv4.ip_forward = 0\nvm.swappiness=60\nvm.swappiness = 10\n\n";
        let (cur, out) = rewrite(text, "net.ipv4.ip_forward", Some("1"));
        assert_eq!(cur.as_deref(), Some("0"));
        assert_eq!(out, "# comment\nnet.ipv4.ip_forward=1\nvm.swappiness=60\n\n");
        let (cur, out) = rewrite(text, "vm.swappiness", None);
        assert_eq!(cur.as_deref(), Some("10"), "the last value counts");
        assert_eq!(out, "# comment\nnet.ipv4.ip_forward=0\n\n");
        let (cur, out) = rewrite("", "kernel.panic", Some("10"));
        assert_eq!((cur, out.as_str()), (None, "kernel.panic=10\n"));
    }

    #[test]
    fn sysctl_errors_that_exit_zero_are_failures() {
        assert!(stderr_failed("sysctl: permission denied on key \"net.ipv4.ip_forward\"\n"));
        assert!(stderr_failed("sysctl: setting key \"vm.x\": Invalid argument\n"));
        assert!(!stderr_failed("net.ipv4.ip_forward = 1\n"));
    }
}
