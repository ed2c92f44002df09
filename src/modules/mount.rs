//! mount: a file system's line in fstab and whether it is mounted. One probe reads fstab, the mount table entry
//! for the path, whether the path exists, whether the host is a container, and whether the kernel or a mount
//! helper knows the file system type. fstab is edited in place (other lines keep their order and text) exactly
//! as ansible.posix.mount edits it, and written atomically.

use serde_json::Value;

use super::helpers::host::{CONTAINER_SNIPPET, Probe, container_kind};
use super::helpers::remote_file::{self, Want, WriteSpec};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct Mount;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("path", ArgKind::Path).required().aliases(&["name"]).help("The mount point."),
    ArgSpec::new("src", ArgKind::Path).help("The device, `UUID=…`, `server:/export` (nfs) or folder (bind). Required for mounted and present."),
    ArgSpec::new("fstype", ArgKind::Str).help("The file system type: ext4, xfs, nfs, nfs4, cifs, tmpfs, none (with opts bind), …. Required for mounted and present."),
    ArgSpec::new("opts", ArgKind::Str).help("Mount options (default: defaults)."),
    ArgSpec::new("dump", ArgKind::Str).default("0").help("fstab's dump field."),
    ArgSpec::new("passno", ArgKind::Str).default("0").help("fstab's fsck order field."),
    ArgSpec::new("state", ArgKind::Str)
        .required()
        .choices(&["mounted", "present", "unmounted", "absent", "absent_from_fstab", "remounted"])
        .help("mounted: in fstab and mounted; present: in fstab only; unmounted: not mounted (fstab kept); absent: neither (and the empty mount point removed); absent_from_fstab: out of fstab only; remounted: remount now."),
    ArgSpec::new("fstab", ArgKind::Path).help("Another fstab file than /etc/fstab."),
    ArgSpec::new("boot", ArgKind::Bool).default("yes").help("Mount at boot; no adds `noauto` to the options."),
    ArgSpec::new("backup", ArgKind::Bool).default("no").help("Keep a timestamped copy of fstab before changing it."),
])
.changes(&["fstab", "mount"]);

/// fstab's escapes for space, ampersand and backslash.
fn escape(v: &str) -> String {
    v.replace('\\', "\\134").replace(' ', "\\040").replace('&', "\\046")
}

/// The mount table's escapes (space, tab, newline, backslash), to find a path in /proc/self/mountinfo.
fn mountinfo_escape(v: &str) -> String {
    v.replace('\\', "\\134").replace(' ', "\\040").replace('\t', "\\011").replace('\n', "\\012")
}

/// What the line for the mount point should hold.
#[derive(Clone, Debug)]
struct Wanted {
    src: String,
    name: String,
    fstype: String,
    opts: String,
    dump: String,
    passno: String,
}

/// ansible.posix.mount's _set_mount_save_old: (new fstab, changed).
fn set_mount(fstab: &str, w: &Wanted) -> (String, bool) {
    let esc = |v: &str| escape(v);
    let (name, src) = (esc(&w.name), esc(&w.src));
    let wanted = [esc(&w.src), esc(&w.fstype), esc(&w.opts), w.dump.clone(), w.passno.clone()];
    let mut out = String::new();
    let (mut exists, mut changed) = (false, false);
    for raw in fstab.split_inclusive('\n') {
        let line = if raw.ends_with('\n') { raw.to_string() } else { format!("{raw}\n") };
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            out.push_str(&line);
            continue;
        }
        let fields: Vec<&str> = line.split('#').next().unwrap_or("").split_whitespace().collect();
        if !(4..=6).contains(&fields.len()) {
            out.push_str(&line);
            continue;
        }
        // A missing dump/passno never equals the wanted text (Ansible compares the int 0 with "0").
        let field = |i: usize| fields.get(i).map(|s| s.to_string());
        let is_other_swap = fields[1] == "none" && fields[2] == "swap" && fields[0] != src;
        if fields[1] != name || is_other_swap {
            out.push_str(&line);
            continue;
        }
        exists = true;
        let have = [field(0), field(2), field(3), field(4), field(5)];
        if have.iter().zip(&wanted).any(|(h, w)| h.as_deref() != Some(w.as_str())) {
            changed = true;
        }
        if changed {
            out.push_str(&format!("{} {} {} {} {} {}\n", wanted[0], name, wanted[1], wanted[2], wanted[3], wanted[4]));
        } else {
            out.push_str(&line);
        }
    }
    if !exists {
        out.push_str(&format!("{} {} {} {} {} {}\n", wanted[0], name, wanted[1], wanted[2], wanted[3], wanted[4]));
        changed = true;
    }
    (out, changed)
}

/// ansible.posix.mount's unset_mount: drop six-field lines for the mount point.
fn unset_mount(fstab: &str, path: &str, src: Option<&str>) -> (String, bool) {
    let name = escape(path);
    let mut out = String::new();
    let mut changed = false;
    for line in fstab.split_inclusive('\n') {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || fields.len() != 6 {
            out.push_str(line);
            continue;
        }
        let is_other_swap = src.is_some_and(|s| fields[1] == "none" && fields[2] == "swap" && fields[0] != s);
        if fields[1] != name || is_other_swap {
            out.push_str(line);
            continue;
        }
        changed = true;
    }
    (out, changed)
}

#[async_trait::async_trait]
impl Module for Mount {
    fn name(&self) -> &'static str {
        "mount"
    }
    fn summary(&self) -> &'static str {
        "Mount file systems (nfs, cifs, bind, tmpfs, disks) and keep their fstab lines"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "state ephemeral and opts_no_log are not supported. Before mounting, hlprov checks that the kernel or a \
         mount helper (/sbin/mount.TYPE) knows the file system type and says what to install (nfs-common for nfs) \
         instead of passing on mount's \"bad option\"; inside a container a failed mount says so. As in Ansible, \
         a failed mount puts fstab back as it was."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let path = args.req("path")?.to_string();
        let state = args.req("state")?;
        if !path.starts_with('/') {
            return Err(ModuleError::Args(format!("path must be absolute, not '{path}'")));
        }
        if matches!(state, "mounted" | "present") {
            let missing: Vec<&str> = ["src", "fstype"].into_iter().filter(|k| !args.has(k)).collect();
            if !missing.is_empty() {
                return Err(ModuleError::Args(format!("state is {state} but all of the following are missing: {}", missing.join(", "))));
            }
        }
        let fstab = args.str("fstab").unwrap_or("/etc/fstab").to_string();
        let mut opts = args.str("opts").unwrap_or("defaults").to_string();
        let mut warnings = Vec::new();
        let boot = args.bool("boot");
        let has_noauto = opts.split(',').any(|o| o == "noauto");
        if boot && has_noauto {
            warnings.push(Value::String("Ignore the 'boot' due to 'opts' contains 'noauto'.".into()));
        } else if !boot {
            opts.push_str(",noauto");
        }
        let fstype = args.str("fstype").unwrap_or("").to_string();
        let wanted = Wanted {
            src: args.str("src").unwrap_or("").to_string(),
            name: path.clone(),
            fstype: fstype.clone(),
            opts: opts.clone(),
            dump: args.req("dump")?.to_string(),
            passno: args.req("passno")?.to_string(),
        };

        let mut p = Probe::new();
        p.add(remote_file::probe_script(&fstab, Want { content_up_to: 16 * 1024 * 1024, ..Default::default() }));
        p.add(format!("awk -v p={} '$5 == p {{ found = 1 }} END {{ exit !found }}' /proc/self/mountinfo", quote(&mountinfo_escape(&path))));
        p.add(format!("[ -e {} ]", quote(&path)));
        p.add(CONTAINER_SNIPPET);
        let known_type = !fstype.is_empty() && fstype.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if known_type {
            let t = quote(&fstype);
            p.add(format!(
                "[ {t} = none ] || [ {t} = swap ] || awk '{{ print $NF }}' /proc/filesystems | grep -qx {t} || [ -x /sbin/mount.{fstype} ] || [ -x /usr/sbin/mount.{fstype} ] || modprobe -n {t} 2>/dev/null"
            ));
        }
        let s = p.run(ctx).await?;
        let st = remote_file::parse_probe(&s[0].out).map_err(|e| ModuleError::Internal(format!("inspecting {fstab}: {e}")))?;
        if st.exists && !st.is_file() {
            return Err(ModuleError::failed(format!("{fstab} is not a regular file")));
        }
        let mounted = s[1].ok();
        let path_exists = s[2].ok();
        let container = container_kind(&s[3]);
        let type_available = !known_type || s[4].ok();
        let old = st.text();

        let mut result = Plan::unchanged()
            .with("name", path.clone())
            .with("opts", opts.clone())
            .with("dump", wanted.dump.clone())
            .with("passno", wanted.passno.clone())
            .with("fstab", fstab.clone())
            .with("boot", if boot { "yes" } else { "no" })
            .with("warnings", Value::Array(warnings))
            .with("backup_file", "");
        for k in ["src", "fstype"] {
            if let Some(v) = args.str(k) {
                result = result.with(k, v);
            }
        }
        let mut new_fstab: Option<String> = None;
        let mut changed = false;
        let mut commands: Vec<String> = Vec::new();
        let fstab_arg = if fstab != "/etc/fstab" { format!("-T {} ", quote(&fstab)) } else { String::new() };
        let mount_cmd = format!("mount {fstab_arg}{}", quote(&path));
        let remount_cmd = format!("mount -o remount {fstab_arg}{p} 2>/dev/null || {{ umount {p} && {mount_cmd}; }}", p = quote(&path));
        match state {
            "present" => {
                let (t, c) = set_mount(&old, &wanted);
                changed = c;
                new_fstab = c.then_some(t);
            }
            "absent" | "absent_from_fstab" => {
                let (t, c) = unset_mount(&old, &path, args.str("src"));
                changed = c;
                new_fstab = c.then_some(t);
                if c && state == "absent" {
                    if mounted {
                        commands.push(format!("umount {} || {{ echo \"Error unmounting {}\" >&2; exit 1; }}", quote(&path), path.replace('"', "")));
                    }
                    if path_exists {
                        commands.push(format!("rmdir -- {} || {{ echo \"Error rmdir {}\" >&2; exit 1; }}", quote(&path), path.replace('"', "")));
                    }
                }
            }
            "unmounted" => {
                if mounted {
                    changed = true;
                    commands.push(format!("umount {}", quote(&path)));
                }
            }
            "remounted" => {
                changed = true;
                commands.push(if opts != "defaults" && args.has("opts") {
                    format!("mount -o {} {fstab_arg}{}", quote(&format!("remount,{opts}")), quote(&path))
                } else {
                    remount_cmd.clone()
                });
            }
            _ => {
                // mounted
                let (t, c) = set_mount(&old, &wanted);
                if c {
                    new_fstab = Some(t);
                }
                if mounted {
                    if c {
                        changed = true;
                        commands.push(remount_cmd.clone());
                    }
                } else {
                    changed = true;
                    if !type_available {
                        let helper = match fstype.as_str() {
                            "nfs" | "nfs4" => " (apt-get install nfs-common)",
                            "cifs" | "smb3" => " (apt-get install cifs-utils)",
                            _ => "",
                        };
                        let inside = container
                            .as_ref()
                            .map(|k| format!("; inside a container ({k}) the machine that runs it must also support {fstype}"))
                            .unwrap_or_default();
                        return Err(ModuleError::failed(format!(
                            "Error mounting {path}: neither the kernel nor a mount helper (/sbin/mount.{fstype}) knows the file system type {fstype}{helper}{inside}"
                        )));
                    }
                    if !path_exists {
                        commands.push(format!("mkdir -p -- {}", quote(&path)));
                    }
                    commands.push(mount_cmd.clone());
                }
            }
        }
        if !changed {
            return Ok(result);
        }
        if let Some(t) = &new_fstab {
            result = result.change(Change::new("fstab", remote_file::content_diff(&fstab, &st, t.as_bytes()), Step::Module));
        }
        if !commands.is_empty() {
            let before = if mounted { "mounted" } else { "not mounted" };
            let after = match state {
                "remounted" => "remounted",
                "mounted" => "mounted",
                _ => "not mounted",
            };
            result = result.change(Change::new(
                "mount",
                remote_file::property_diff(&path, &[("state", before.into())], &[("state", after.into())]),
                Step::Module,
            ));
        }
        Ok(result.keep(Found { fstab, old_exists: st.exists, old_sha256: st.sha256.clone(), old, new_fstab, commands, path_exists, container }))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let f: Found = plan.take_found().ok_or_else(|| ModuleError::Internal("mount: plan without its findings".into()))?;
        let (path, state) = (args.req("path")?, args.req("state")?);
        let mut result = Outcome::from_plan(&plan);
        if let Some(t) = &f.new_fstab {
            if !f.old_exists {
                ctx.write_ok(&format!("mkdir -p -- \"$(dirname -- {fs})\" && touch -- {fs}", fs = quote(&f.fstab)), None, "creating the fstab file")
                    .await?;
            }
            // A file that did not exist was just created empty.
            let expect = if f.old_exists { f.old_sha256.clone() } else { Some(remote_file::sha256_hex(b"")) };
            let write = WriteSpec { backup: args.bool("backup"), ..WriteSpec::new(&f.fstab, t.as_bytes(), expect.as_deref()) };
            let written = remote_file::write_atomic(ctx, &write).await?;
            if let Some(b) = written.backup_file {
                result = result.with("backup_file", b);
            }
        }
        if !f.commands.is_empty() {
            let out = ctx.write(&f.commands.join(" && "), None).await?;
            if !out.success() {
                let msg = format!("{}{}", out.stdout_text(), out.stderr_text()).trim().to_string();
                if state == "mounted" {
                    // Like Ansible: put fstab back and remove the folders this run made.
                    if f.new_fstab.is_some() {
                        let restore = WriteSpec { expect_sha256: None, ..WriteSpec::new(&f.fstab, f.old.as_bytes(), None) };
                        remote_file::write_atomic(ctx, &restore).await?;
                    }
                    if !f.path_exists {
                        let _ = ctx.write(&format!("rmdir -p -- {} 2>/dev/null; true", quote(path)), None).await;
                    }
                    let inside = f
                        .container
                        .as_ref()
                        .map(|k| {
                            format!(" (this host is a container, {k}: its host's kernel and the container's capabilities decide what it may mount)")
                        })
                        .unwrap_or_default();
                    return Err(ModuleError::failed(format!("Error mounting {path}: {msg}{inside}")));
                }
                let what = match state {
                    "unmounted" => "Error unmounting",
                    "remounted" => "Error remounting",
                    _ => "Error",
                };
                return Err(ModuleError::failed(if msg.starts_with("Error") { msg } else { format!("{what} {path}: {msg}") }));
            }
        }
        Ok(result)
    }
}

/// What mount planned, for its apply.
struct Found {
    fstab: String,
    old_exists: bool,
    old_sha256: Option<String>,
    old: String,
    new_fstab: Option<String>,
    commands: Vec<String>,
    path_exists: bool,
    container: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(src: &str, name: &str, fstype: &str, opts: &str) -> Wanted {
        Wanted { src: src.into(), name: name.into(), fstype: fstype.into(), opts: opts.into(), dump: "0".into(), passno: "0".into() }
    }

    #[test]
    fn fstab_lines_are_replaced_in_place_and_appended_at_the_end() {
        let fstab = "# /etc/fstab\nUUID=1 / ext4 defaults 0 1\nnas:/old /mnt/media nfs ro 0 0\n/dev/sdb1 /data xfs defaults 0 2\n";
        let (out, changed) = set_mount(fstab, &w("nas:/media", "/mnt/media", "nfs", "rw,soft"));
        assert!(changed);
        assert_eq!(out, "# /etc/fstab\nUUID=1 / ext4 defaults 0 1\nnas:/media /mnt/media nfs rw,soft 0 0\n/dev/sdb1 /data xfs defaults 0 2\n");
        assert_eq!(set_mount(&out, &w("nas:/media", "/mnt/media", "nfs", "rw,soft")), (out.clone(), false));
        let (out2, changed) = set_mount(&out, &w("tmpfs", "/mnt/my scratch", "tmpfs", "size=1m"));
        assert!(changed);
        assert!(out2.ends_with("tmpfs /mnt/my\\040scratch tmpfs size=1m 0 0\n"), "{out2}");
    }

    #[test]
    fn a_four_field_line_is_completed_like_ansible_does() {
        let (out, changed) = set_mount("tmpfs /tmp tmpfs defaults\n", &w("tmpfs", "/tmp", "tmpfs", "defaults"));
        assert!(changed);
        assert_eq!(out, "tmpfs /tmp tmpfs defaults 0 0\n");
    }

    #[test]
    fn unset_removes_only_the_mount_points_lines() {
        let fstab = "a /x ext4 defaults 0 0\nb /y ext4 defaults 0 0\n# a /x comment\n";
        assert_eq!(unset_mount(fstab, "/x", None), ("b /y ext4 defaults 0 0\n# a /x comment\n".to_string(), true));
        assert!(!unset_mount(fstab, "/z", None).1);
    }
}
