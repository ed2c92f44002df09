//! proxmox_lxc_raw: the raw `lxc.*` lines of a container's /etc/pve/lxc/VMID.conf, on the Proxmox VE node over
//! SSH. The PVE API cannot write them (cgroup device rules, mount entries, the AppArmor profile, dropped
//! capabilities): they are owned here, exactly the list given, in the current section only. The `[pve:pending]`
//! and snapshot sections, and every other line, stay byte for byte as they were (pve/conf.rs does the editing).
//!
//! The file is read in one probe with the guest's power state (`pct status`); the write takes PVE's own config
//! lock (flock on /run/lock/lxc/pve-config-VMID.lock, as pve-container's lock_config does), refuses if the file
//! changed since it was read, and replaces it the way PVE does (a temp file beside it, renamed). PVE does not
//! track these lines as pending: a running guest is restarted (`pct reboot`) and that is reported.

use super::helpers::host::Probe;
use super::helpers::remote_file::sha256_hex;
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::pve::conf::{self, RawLine};
use crate::transport::quote::quote;
use serde_json::Value;

pub struct ProxmoxLxcRaw;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("vmid", ArgKind::Int).required().help("The container's id."),
    ArgSpec::new("lines", ArgKind::Raw)
        .required()
        .help("The raw lines, in order: strings (`lxc.cap.drop:`, `lxc.mount.auto = proc:rw sys:rw`) or one-key mappings (`lxc.cgroup2.devices.allow: c 226:* rwm`). Exactly these: other lxc.* lines of the current section are removed; [] removes all."),
    ArgSpec::new("conf_dir", ArgKind::Path).default("/etc/pve/lxc").help("Where the node keeps its containers' configs."),
    ArgSpec::new("restart", ArgKind::Bool).default("yes").help("Restart the guest (`pct reboot`) when it runs and the lines changed: LXC reads them only at start."),
])
.changes(&["lines", "restart"]);

/// The wanted lines, checked as pve-container would accept them.
fn wanted(v: &Value) -> Result<Vec<RawLine>, ModuleError> {
    let items = match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        other => return Err(ModuleError::Args(format!("lines must be a list, not {}", super::args::type_name(other)))),
    };
    let mut out = Vec::new();
    for item in items {
        let (k, v) = match &item {
            Value::String(s) => conf::parse_line(s).map_err(ModuleError::Args)?,
            Value::Object(m) if m.len() == 1 => {
                let (k, v) = m.iter().next().unwrap_or_else(|| unreachable!("one key"));
                let text = match v {
                    Value::Null => String::new(),
                    Value::String(s) => s.trim().to_string(),
                    other => other.to_string(),
                };
                (k.trim().to_string(), text)
            }
            other => return Err(ModuleError::Args(format!("each of lines must be 'lxc.key: value' or a one-key mapping, not {other}"))),
        };
        conf::check_line(&k, &v).map_err(ModuleError::Args)?;
        out.push((k, v));
    }
    Ok(out)
}

fn show(lines: &[RawLine]) -> Vec<String> {
    lines.iter().map(|(k, v)| conf::format_line(k, v)).collect()
}

/// What apply needs.
struct Found {
    path: String,
    sha256: String,
    new_text: String,
    restart: bool,
}

#[async_trait::async_trait]
impl Module for ProxmoxLxcRaw {
    fn name(&self) -> &'static str {
        "proxmox_lxc_raw"
    }
    fn summary(&self) -> &'static str {
        "Own the raw lxc.* lines of a Proxmox container's VMID.conf on the node (over SSH)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "hlprov's own (Ansible has no equivalent). Runs on the Proxmox node; touches only the lxc.* lines of the \
         current section; takes PVE's config lock; refuses while the guest is locked (backup, migration, snapshot)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let vmid = args.int("vmid").filter(|v| *v >= 100).ok_or_else(|| ModuleError::Args("vmid must be 100 or more".into()))?;
        let want = wanted(args.get("lines").unwrap_or(&Value::Null))?;
        let dir = args.req("conf_dir")?.trim_end_matches('/').to_string();
        let path = format!("{dir}/{vmid}.conf");
        let mut probe = Probe::new();
        let file = probe.add(format!("cat {}", quote(&path)));
        let status = probe.add(format!("if command -v pct >/dev/null 2>&1; then pct status {vmid}; else echo 'status: unknown'; fi"));
        let s = probe.run(ctx).await?;
        if !s[file].ok() {
            return Err(ModuleError::failed(format!("CT {vmid}: {path} cannot be read (does the container exist on this node?)")).with("path", path));
        }
        let text = s[file].out.clone();
        let state = s[status].trimmed().strip_prefix("status:").map(str::trim).unwrap_or("unknown").to_string();
        let have = conf::raw_lines(&text);
        let plan = Plan::unchanged().with("path", path.clone()).with("lines", show(&want)).with("status", state.clone());
        if have == want {
            return Ok(plan);
        }
        if let Some(lock) = conf::option(&text, "lock") {
            return Err(
                ModuleError::failed(format!("CT {vmid} is locked ({lock}); its raw lines are left alone until PVE has finished")).with("path", path)
            );
        }
        let new_text = conf::with_raw_lines(&text, &want);
        let diff = Diff { before_header: path.clone(), after_header: path.clone(), before: text.clone(), after: new_text.clone() };
        let mut plan = plan.with("before", show(&have)).change(Change::new("lines", diff, Step::Module));
        let restart = state == "running" && args.bool("restart");
        if restart {
            let header = format!("CT {vmid}");
            let d = Diff {
                before_header: header.clone(),
                after_header: header,
                before: "status: running\n".into(),
                after: "status: running (restarted: LXC reads raw lines at start)\n".into(),
            };
            plan = plan.change(Change::new("restart", d, Step::Module));
        }
        Ok(plan.keep(Found { path, sha256: sha256_hex(text.as_bytes()), new_text, restart }))
    }

    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let f: Found = plan.take_found().ok_or_else(|| ModuleError::Internal("proxmox_lxc_raw: apply without a plan".into()))?;
        let vmid = args.int("vmid").unwrap_or_default();
        let lock = format!("/run/lock/lxc/pve-config-{vmid}.lock");
        // PVE's lock_config: flock on this file, 10 s. The temp file is named as PVE's file_set_contents names it.
        let script = format!(
            "set -e; p={p}; l={l}; mkdir -p /run/lock/lxc; exec 9>>\"$l\"; \
             flock -w 10 9 || {{ echo \"could not take PVE's config lock $l within 10 s\" >&2; exit 5; }}; \
             [ \"$(sha256sum < \"$p\" | cut -c1-64)\" = {sum} ] || {{ echo \"$p changed while hlprov was working on it; not overwriting\" >&2; exit 4; }}; \
             t=\"$p.tmp.$$\"; trap 'rm -f -- \"$t\"' EXIT; cat > \"$t\"; mv -f -- \"$t\" \"$p\"; trap - EXIT",
            p = quote(&f.path),
            l = quote(&lock),
            sum = quote(&f.sha256),
        );
        ctx.write_ok(&script, Some(f.new_text.as_bytes()), &format!("writing {}", f.path)).await?;
        let mut out = Outcome::from_plan(&plan);
        if f.restart {
            ctx.write_ok(&format!("pct reboot {vmid}"), None, &format!("restarting CT {vmid}"))
                .await
                .map_err(|e| ModuleError::failed(format!("CT {vmid}: the raw lines were written, but the restart failed: {e}")).after_change())?;
            out = out.with("restarted", true).msg(format!("CT {vmid}: raw lines written, restarted to apply them"));
        } else {
            out = out.with("restarted", false);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lines_come_as_strings_or_one_key_mappings() {
        let got = wanted(
            &json!(["lxc.cap.drop:", {"lxc.cgroup2.devices.allow": "c 226:* rwm"}, "lxc.mount.auto = proc:rw sys:rw", {"lxc.cap.drop": null}]),
        )
        .unwrap();
        assert_eq!(show(&got), ["lxc.cap.drop: ", "lxc.cgroup2.devices.allow: c 226:* rwm", "lxc.mount.auto: proc:rw sys:rw", "lxc.cap.drop: "]);
        assert!(wanted(&json!(["lxc.cgroup.devices.allow: a"])).unwrap_err().to_string().contains("cgroup2"));
        assert!(wanted(&json!([{"a": 1, "b": 2}])).is_err());
        assert!(wanted(&json!("lxc.cap.drop:")).is_err());
    }
}
