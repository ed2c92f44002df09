//! file: the state of a path (file, directory, symlink, hard link, touched, absent) and its owner, group and
//! mode, recursively for a directory if asked. One round trip learns everything needed (the path, what a link
//! leads to, the link source); each change is then one more.

use super::helpers::remote_file::{self, Attrs, FileState, Want, attrs_differ, path_info, property_diff};
use super::{ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step, helpers::mode};
use crate::transport::quote::quote;

pub struct File;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("path", ArgKind::Path).required().aliases(&["dest", "name"]).help("The path to manage."),
    ArgSpec::new("state", ArgKind::Str).choices(&["absent", "directory", "file", "hard", "link", "touch"]).help(
        "file: only set attributes of an existing file (never creates one); directory: create it with its parents; \
         link/hard: a symbolic/hard link to src; touch: create an empty file or update the times of an existing one \
         (always changed); absent: remove it (a directory with everything in it). Default: the path's current state, \
         or file.",
    ),
    ArgSpec::new("src", ArgKind::Path)
        .help("What a link points to (state=link or hard). A relative src of a symlink is relative to the link's folder."),
    ArgSpec::new("recurse", ArgKind::Bool).default("no").help("With state=directory, set owner, group and mode on everything inside too."),
    ArgSpec::new("force", ArgKind::Bool)
        .default("no")
        .help("For links: replace a file or empty directory at path, and create a symlink to a src that does not exist."),
    ArgSpec::new("follow", ArgKind::Bool).default("yes").help("If path is a symlink, set attributes on what it points to."),
    ArgSpec::new("mode", ArgKind::Mode).help("Permissions: octal ('0755') or symbolic ('u=rwx,g=rx,o=' or 'u+x')."),
    ArgSpec::new("owner", ArgKind::Str).help("User that should own the path (name or uid)."),
    ArgSpec::new("group", ArgKind::Str).help("Group that should own the path (name or gid)."),
])
.changes(&["remove", "create", "attributes", "touch", "link"]);

const PLAIN: Want = Want { content_up_to: 0, sha1: false, follow: false };
const FOLLOW: Want = Want { content_up_to: 0, sha1: false, follow: true };

#[async_trait::async_trait]
impl Module for File {
    fn name(&self) -> &'static str {
        "file"
    }
    fn summary(&self) -> &'static str {
        "Manage files, directories, symlinks and hard links, and their owner, group and mode"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Not supported: modification_time/access_time (touch always sets both to now), SELinux arguments, \
         `attributes`, `unsafe_writes`. A symbolic mode for a directory being created is applied to 0755 (the \
         mode of a new folder under umask 022). recurse does not follow symlinks inside the tree. The mode of a \
         symlink itself (follow=no) is not managed: Linux has none. The diff shows path, state, owner, group and \
         mode, not the list of files an absent directory held."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let path = args.req("path")?.to_string();
        let src = args.str("src").map(str::to_string);
        let follow = args.bool("follow");
        // One round trip: the path, what it leads to, and both places a relative symlink src may be.
        let mut probes = vec![(path.clone(), PLAIN), (path.clone(), FOLLOW)];
        if let Some(s) = &src {
            probes.push((join(&remote_file::parent_dir(&path), s), FOLLOW));
            probes.push((join(&path, s), FOLLOW));
            probes.push((s.clone(), FOLLOW));
        }
        // With recurse, the stat line of everything inside comes in the same round trip.
        let mut script = remote_file::probe_many_script(&probes);
        if args.bool("recurse") {
            script.push_str(&walk_script(&path));
        }
        let out = ctx.read(&script).await?;
        if !out.success() {
            return Err(ModuleError::failed(format!("cannot inspect {path}: {}", out.stderr_text().trim())));
        }
        let text = out.stdout_text();
        let (sts, inside) = remote_file::parse_probe_many(&text, probes.len())?;
        let here = Here { path, st: sts[0].clone(), followed: sts[1].clone(), rest: sts[2..].to_vec(), inside: inside.to_string() };

        let prev = here.st.state_name();
        let state = match args.str("state") {
            Some(s) => s,
            None if prev != "absent" => prev,
            None if args.bool("recurse") => "directory",
            None => "file",
        };
        if args.bool("recurse") && state != "directory" {
            return Err(ModuleError::Args("recurse option requires state to be 'directory'".into()));
        }
        if src.is_some() && state != "link" && state != "hard" {
            return Err(ModuleError::Args("src option requires state to be 'link' or 'hard'".into()));
        }
        match state {
            "absent" => Ok(absent(&here)),
            "file" => file(args, &here, follow),
            "directory" => directory(args, &here, follow),
            "touch" => touch(args, &here, follow),
            "link" => link(args, &here, src.as_deref(), follow),
            _ => hard(args, &here, src.as_deref()),
        }
    }
    fn render(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Option<Result<Plan, ModuleError>> {
        render_state(args)
    }
}

/// What `file` would make on a host that has nothing at the path yet (`hlprov render`): the plan of each state
/// against an absent path. Attributes of an existing file (state=file) can only be planned on a host.
fn render_state(args: &Args) -> Option<Result<Plan, ModuleError>> {
    let path = args.str("path")?.to_string();
    let state = args.str("state").unwrap_or(if args.bool("recurse") { "directory" } else { "file" });
    let here = Here {
        path: path.clone(),
        st: FileState::default(),
        followed: FileState::default(),
        // A link's src, as if it were there (offline nothing can be checked).
        rest: vec![FileState { exists: true, kind: Some(remote_file::Kind::File), ..Default::default() }; 3],
        inside: String::new(),
    };
    Some(match state {
        "absent" => Ok(absent(&here)),
        "directory" => directory(args, &here, false),
        "touch" => touch(args, &here, false),
        "link" => link(args, &here, args.str("src"), false),
        "hard" => hard(args, &here, args.str("src")),
        _ => return None,
    })
}

/// What the probe found.
struct Here {
    path: String,
    /// The path itself (a symlink is described as a link).
    st: FileState,
    /// The path with symlinks followed.
    followed: FileState,
    /// With src: src relative to path's folder, src relative to path, src as given.
    rest: Vec<FileState>,
    /// With recurse: a stat line for every entry under path.
    inside: String,
}

fn join(dir: &str, name: &str) -> String {
    if name.starts_with('/') { name.to_string() } else { format!("{}/{name}", dir.trim_end_matches('/')) }
}

/// A plan's result naming `key` (path or dest), with the path's attributes as Ansible adds them (the state
/// after the change replaces them when a change probes it).
fn result(key: &str, path: &str, st: &FileState) -> Plan {
    let mut p = Plan::unchanged().with(key, path);
    p.result.extend(path_info(st));
    p
}

/// Ansible's file diff: path and state, plus the attributes that change.
fn diff(path: &str, prev: &str, state: &str, st: &FileState, attrs: &Attrs, changing: &[&str]) -> Diff {
    let (mut before, mut after) = (vec![("path", path.to_string())], vec![("path", path.to_string())]);
    if prev != state {
        before.push(("state", prev.to_string()));
        after.push(("state", state.to_string()));
    }
    let d = remote_file::attrs_diff(path, st, attrs, changing);
    let mut out = property_diff(path, &before, &after);
    out.before.push_str(&d.before);
    out.after.push_str(&d.after);
    out
}

fn failed(msg: String, path: &str) -> ModuleError {
    ModuleError::failed(msg).with("path", path)
}

fn absent(h: &Here) -> Plan {
    let prev = h.st.state_name();
    let plan = Plan::unchanged().with("path", h.path.as_str()).with("state", "absent");
    if prev == "absent" {
        return plan;
    }
    let cmd = if h.st.is_dir() { "rm -rf --" } else { "rm -f --" };
    let step = Step::run(format!("{cmd} {}", quote(&h.path)), format!("removing {}", h.path));
    plan.change(Change::new("remove", diff(&h.path, prev, "absent", &h.st, &Attrs::default(), &[]), step))
}

/// The owner, group and mode asked for, and which of them differ from `st`; a symlink itself has no mode.
fn wanted(args: &Args, st: &FileState, link_itself: bool) -> Result<(Attrs, Vec<&'static str>), ModuleError> {
    let mut attrs = remote_file::wanted_attrs(args, st.mode, st.is_dir())?;
    if link_itself {
        // A symlink has no mode of its own on Linux; chmod would change what it points to.
        attrs.mode = None;
    }
    let changing = attrs_differ(st, &attrs);
    Ok((attrs, changing))
}

/// The change that gives `path` (now `st`) the attributes asked for, if any differ.
fn attrs_change(diff: Diff, path: &str, attrs: &Attrs, changing: &[&str]) -> Option<Change> {
    (!changing.is_empty()).then(|| {
        let step = Step::run_and_probe(path, remote_file::attr_commands(&quote(path), attrs), "setting owner, group or mode");
        Change::new("attributes", diff, step)
    })
}

fn file(args: &Args, h: &Here, follow: bool) -> Result<Plan, ModuleError> {
    let (path, st) =
        if follow && h.st.is_link() { (h.st.real_path.clone().unwrap_or_else(|| h.path.clone()), &h.followed) } else { (h.path.clone(), &h.st) };
    let prev = st.state_name();
    if prev != "file" && prev != "hard" {
        return Err(failed(format!("file ({path}) is {prev}, cannot continue"), &path).with("state", prev));
    }
    let (attrs, changing) = wanted(args, st, false)?;
    let mut plan = result("path", &path, st);
    plan.changes.extend(attrs_change(diff(&path, prev, "file", st, &attrs, &changing), &path, &attrs, &changing));
    Ok(plan)
}

fn directory(args: &Args, h: &Here, follow: bool) -> Result<Plan, ModuleError> {
    let (path, st) =
        if follow && h.st.is_link() { (h.st.real_path.clone().unwrap_or_else(|| h.path.clone()), &h.followed) } else { (h.path.clone(), &h.st) };
    let prev = st.state_name();
    if prev == "absent" {
        // Like mkdir -p, but every folder created gets the owner, group and mode asked for.
        let attrs = remote_file::wanted_attrs(args, 0o755, true)?;
        let new_dir = FileState { mode: 0o755, ..Default::default() };
        let d = diff(&path, "absent", "directory", &new_dir, &attrs, &attrs_differ(&new_dir, &attrs));
        let step = Step::run_and_probe(&path, remote_file::mkdirs_script(&path, &attrs), format!("There was an issue creating {path} as requested"));
        return Ok(Plan::unchanged().with("path", path.as_str()).change(Change::new("create", d, step)));
    }
    if prev != "directory" {
        return Err(failed(format!("{path} already exists as a {prev}"), &path));
    }
    let (attrs, changing) = wanted(args, st, false)?;
    let mut plan = result("path", &path, st);
    plan.changes.extend(attrs_change(diff(&path, prev, "directory", st, &attrs, &changing), &path, &attrs, &changing));
    if args.bool("recurse") && (args.has("mode") || args.has("owner") || args.has("group")) {
        plan.changes.extend(recurse(args, &path, &h.inside)?);
    }
    Ok(plan)
}

/// Print `%a %u %g %U %G %F` for every entry under `dir` (names are not needed: only whether any differs).
fn walk_script(dir: &str) -> String {
    format!(
        "w() {{ for e in \"$1\"/* \"$1\"/.[!.]* \"$1\"/..?*; do [ -e \"$e\" ] || [ -L \"$e\" ] || continue; \
         stat -c '%a %u %g %U %G %F' -- \"$e\" || exit 1; if [ -d \"$e\" ] && [ ! -L \"$e\" ]; then w \"$e\"; fi; done; }}; w {}",
        quote(dir)
    )
}

/// Owner, group and mode on everything under `dir` (its entries' stat lines were probed): one change with
/// chown -R / chmod -R if any entry differs.
fn recurse(args: &Args, dir: &str, inside: &str) -> Result<Option<Change>, ModuleError> {
    let wanted_mode = args.str("mode").map(mode::parse).transpose().map_err(ModuleError::Args)?;
    let mut differing = 0;
    for line in inside.lines() {
        let f: Vec<&str> = line.splitn(6, ' ').collect();
        if f.len() < 6 {
            continue;
        }
        let is_link = f[5] == "symbolic link";
        let st = FileState {
            exists: true,
            mode: u32::from_str_radix(f[0], 8).unwrap_or(0),
            uid: f[1].parse().unwrap_or(0),
            gid: f[2].parse().unwrap_or(0),
            owner: f[3].to_string(),
            group: f[4].to_string(),
            ..Default::default()
        };
        let mode = if is_link { None } else { wanted_mode.as_ref().map(|m| m.apply(st.mode, f[5] == "directory")) };
        let attrs = Attrs { owner: args.str("owner").map(str::to_string), group: args.str("group").map(str::to_string), mode };
        differing += usize::from(!attrs_differ(&st, &attrs).is_empty());
    }
    if differing == 0 {
        return Ok(None);
    }
    let mut s = String::from("set -e; ");
    let q = quote(dir);
    let (mut before, mut after) = (Vec::new(), Vec::new());
    match (args.str("owner"), args.str("group")) {
        (Some(o), Some(g)) => s.push_str(&format!("chown -R -h {} {q}; ", quote(&format!("{o}:{g}")))),
        (Some(o), None) => s.push_str(&format!("chown -R -h {} {q}; ", quote(o))),
        (None, Some(g)) => s.push_str(&format!("chgrp -R -h {} {q}; ", quote(g))),
        (None, None) => {}
    }
    for key in ["owner", "group", "mode"] {
        if let Some(v) = args.str(key) {
            before.push((key, "(differs on some entries)".to_string()));
            after.push((key, v.to_string()));
        }
    }
    if let Some(m) = args.str("mode") {
        // chmod -R skips symlinks inside the tree; a symbolic mode is computed per entry, as Ansible does.
        let spec = match mode::parse(m).map_err(ModuleError::Args)? {
            mode::Mode::Octal(v) => format!("{v:04o}"),
            other => other.to_chmod(),
        };
        s.push_str(&format!("chmod -R -- {} {q}; ", quote(&spec)));
    }
    let d = property_diff(&format!("{dir}/* ({differing} entries)"), &before, &after);
    Ok(Some(Change::new("attributes", d, Step::run(s, format!("setting owner, group or mode under {dir}")))))
}

fn touch(args: &Args, h: &Here, follow: bool) -> Result<Plan, ModuleError> {
    let prev = h.st.state_name();
    let base = if prev == "absent" { FileState { mode: 0o644, ..Default::default() } } else { h.followed.clone() };
    let attrs = remote_file::wanted_attrs(args, base.mode, base.is_dir())?;
    let changing = if prev == "absent" { Vec::new() } else { attrs_differ(&base, &attrs) };
    let d = diff(&h.path, prev, "touch", &base, &attrs, &changing);
    // touch follows a symlink; owner, group and mode go where it leads too (unless follow=no).
    let target = if follow && h.st.is_link() { h.st.real_path.clone().unwrap_or_else(|| h.path.clone()) } else { h.path.clone() };
    let script = format!("touch -- {}; {}", quote(&h.path), remote_file::attr_commands(&quote(&target), &attrs));
    // Touching always changes the times, so Ansible always reports changed.
    let step = Step::run_and_probe(&h.path, script, "Error, could not touch target");
    Ok(result("dest", &h.path, &h.st).change(Change::new("touch", d, step)))
}

fn link(args: &Args, h: &Here, src: Option<&str>, follow: bool) -> Result<Plan, ModuleError> {
    let path = h.path.as_str();
    let prev = h.st.state_name();
    let force = args.bool("force");
    // Where a relative src leads from the link (relative to path itself if path is a real directory).
    let target = src.map(|s| if h.st.is_dir() { (join(path, s), &h.rest[1]) } else { (join(&remote_file::parent_dir(path), s), &h.rest[0]) });
    if let (Some(s), Some((abs, st))) = (src, &target) {
        // A followed probe describes a link to nothing as a link: that src does not exist.
        if !force && (!st.exists || st.is_link()) {
            return Err(failed(format!("src file does not exist, use 'force=yes' if you really want to create the link: {abs}"), path).with("src", s));
        }
    }
    // With no src, an existing link keeps pointing where it does.
    let src: Option<String> = src.map(str::to_string).or_else(|| if follow && h.st.is_link() { h.st.link_target.clone() } else { None });
    if matches!(prev, "directory" | "file" | "hard") && !force {
        return Err(failed(format!("refusing to convert from {prev} to symlink for {path}"), path));
    }
    let Some(src) = src else {
        return Err(ModuleError::Args("src is required for creating new symlinks".into()));
    };
    let old = h.st.link_target.clone().unwrap_or_default();
    let relinks = prev != "link" || old != src;
    let mut plan = result("dest", path, &h.st).with("src", src.as_str());
    let with_attrs = args.has("owner") || args.has("group") || args.has("mode");
    // Owner/group/mode go on what the link leads to (follow) or on the link itself; never on a link to nothing.
    let leads_to: Option<(String, FileState)> = if relinks {
        target.filter(|(_, st)| st.exists && !st.is_link()).map(|(abs, st)| (st.real_path.clone().unwrap_or(abs), st.clone()))
    } else {
        Some(&h.followed).filter(|st| st.exists && !st.is_link()).map(|st| (st.real_path.clone().unwrap_or_else(|| path.to_string()), st.clone()))
    };
    if relinks {
        let mut d = diff(path, prev, "link", &h.st, &Attrs::default(), &[]);
        if prev == "link" {
            d.before.push_str(&format!("src: {old}\n"));
            d.after.push_str(&format!("src: {src}\n"));
        }
        let (q, s) = (quote(path), quote(&src));
        let mut script = match prev {
            "absent" => format!("ln -s -- {s} {q}; "),
            "directory" => format!(
                "rmdir -- {q} 2>/dev/null || {{ echo 'the directory {} is not empty, refusing to convert it' >&2; exit 1; }}; ln -s -- {s} {q}; ",
                path.replace('\'', "")
            ),
            // Replace atomically: a new link beside the old path, renamed over it.
            _ => format!("t={}/.hlprov-link.$$; ln -s -- {s} \"$t\"; mv -f -T -- \"$t\" {q}; ", quote(&remote_file::parent_dir(path))),
        };
        // A new link's own owner and group are set with it (it has no mode).
        if with_attrs && !follow {
            let (attrs, _) = wanted(args, &FileState::default(), true)?;
            script.push_str(&remote_file::attr_commands(&q, &attrs));
        }
        plan.changes.push(Change::new("link", d, Step::run_and_probe(path, script, "Error while linking")));
    }
    if with_attrs {
        if follow {
            if let Some((real, st)) = leads_to {
                let (attrs, changing) = wanted(args, &st, false)?;
                let d = diff(&real, st.state_name(), st.state_name(), &st, &attrs, &changing);
                if !changing.is_empty() {
                    let step = Step::run(remote_file::attr_commands(&quote(&real), &attrs), "setting owner, group or mode");
                    plan.changes.push(Change::new("attributes", d, step));
                }
            }
        } else if !relinks {
            let (attrs, changing) = wanted(args, &h.st, true)?;
            plan.changes.extend(attrs_change(diff(path, prev, "link", &h.st, &attrs, &changing), path, &attrs, &changing));
        }
    }
    Ok(plan)
}

fn hard(args: &Args, h: &Here, src: Option<&str>) -> Result<Plan, ModuleError> {
    let path = h.path.as_str();
    let prev = h.st.state_name();
    let Some(src) = src else {
        if prev != "hard" {
            return Err(ModuleError::Args("src is required for creating new hardlinks".into()));
        }
        // An existing hard link without src: only its attributes.
        let (attrs, changing) = wanted(args, &h.st, false)?;
        let mut plan = result("dest", path, &h.st);
        plan.changes.extend(attrs_change(diff(path, prev, "hard", &h.st, &attrs, &changing), path, &attrs, &changing));
        return Ok(plan);
    };
    let src_st = &h.rest[2];
    let fail = |msg: String| ModuleError::failed(msg).with("dest", path).with("src", src);
    if !src_st.exists || src_st.is_link() {
        return Err(fail("src does not exist".into()));
    }
    let relinks = match prev {
        "absent" | "link" => true,
        "directory" => return Err(fail(format!("Cannot link: {path} is a directory"))),
        _ if h.st.inode == src_st.inode => false,
        other if !args.bool("force") => {
            let msg = if other == "hard" {
                "Cannot link, different hard link exists at destination".to_string()
            } else {
                format!("Cannot link, {other} exists at destination")
            };
            return Err(fail(msg));
        }
        _ => true,
    };
    // After linking, path is src's inode: compare the attributes with those.
    let base = if relinks { src_st } else { &h.st };
    let (attrs, changing) = wanted(args, base, false)?;
    let mut d = diff(path, prev, "hard", base, &attrs, &changing);
    if prev == "link" {
        d.before.push_str(&format!("src: {}\n", h.st.link_target.clone().unwrap_or_default()));
        d.after.push_str(&format!("src: {src}\n"));
    }
    let mut plan = result("dest", path, &h.st).with("src", src);
    if relinks {
        let (q, s) = (quote(path), quote(src));
        let mut script = if prev == "absent" {
            format!("ln -L -- {s} {q}; ")
        } else {
            format!("t={}/.hlprov-link.$$; ln -L -- {s} \"$t\"; mv -f -T -- \"$t\" {q}; ", quote(&remote_file::parent_dir(path)))
        };
        script.push_str(&remote_file::attr_commands(&q, &Attrs { mode: attrs.mode.filter(|_| changing.contains(&"mode")), ..attrs.clone() }));
        plan.changes.push(Change::new("link", d, Step::run_and_probe(path, script, "Error while linking")));
    } else {
        plan.changes.extend(attrs_change(d, path, &attrs, &changing));
    }
    Ok(plan)
}
