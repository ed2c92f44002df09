//! file: the state of a path (file, directory, symlink, hard link, touched, absent) and its owner, group and
//! mode, recursively for a directory if asked. One round trip learns everything needed (the path, what a link
//! leads to, the link source); a second one makes the change.

use serde_json::Value;

use super::remote_file::{self, Attrs, FileState, Want, attrs_differ, change_and_probe, path_info, property_diff};
use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, mode};
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
]);

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
    async fn run(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        let path = args.req("path").to_string();
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
            return Err(ModuleError::Failed(format!("cannot inspect {path}: {}", out.stderr_text().trim())));
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
        let mut o = match state {
            "absent" => absent(ctx, &here).await?,
            "file" => file(ctx, args, &here, follow).await?,
            "directory" => directory(ctx, args, &here, follow).await?,
            "touch" => touch(ctx, args, &here, follow).await?,
            "link" => link(ctx, args, &here, src.as_deref(), follow).await?,
            _ => hard(ctx, args, &here, src.as_deref()).await?,
        };
        if !ctx.diff {
            o.diffs.clear();
        }
        Ok(o)
    }
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

/// A result naming `key` (path or dest), with the path's attributes as Ansible adds them.
fn result(key: &str, path: &str, changed: bool, st: &FileState) -> Outcome {
    let mut o = Outcome::changed(changed).with(key, path);
    o.data.extend(path_info(st));
    o
}

/// Ansible's file diff: path and state, plus the attributes that change.
fn diff(path: &str, prev: &str, state: &str, st: &FileState, attrs: &Attrs, changing: &[&str]) -> super::Diff {
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

async fn absent(ctx: &ModuleCtx<'_>, h: &Here) -> Result<Outcome, ModuleError> {
    let prev = h.st.state_name();
    if prev == "absent" {
        return Ok(Outcome::ok().with("path", h.path.as_str()).with("state", "absent"));
    }
    if !ctx.check {
        let cmd = if h.st.is_dir() { "rm -rf --" } else { "rm -f --" };
        ctx.write_ok(&format!("{cmd} {}", quote(&h.path)), None, &format!("removing {}", h.path)).await?;
    }
    Ok(Outcome::changed(true).with("path", h.path.as_str()).with("state", "absent").diff(diff(
        &h.path,
        prev,
        "absent",
        &h.st,
        &Attrs::default(),
        &[],
    )))
}

/// Set owner/group/mode on an existing path if they differ: the shared tail of every state.
async fn set_attrs(
    ctx: &ModuleCtx<'_>,
    args: &Args,
    path: &str,
    st: &FileState,
    link_itself: bool,
) -> Result<(Vec<&'static str>, Attrs, Option<FileState>), ModuleError> {
    let mut attrs = remote_file::wanted_attrs(args, st.mode, st.is_dir())?;
    if link_itself {
        // A symlink has no mode of its own on Linux; chmod would change what it points to.
        attrs.mode = None;
    }
    let changing = attrs_differ(st, &attrs);
    if changing.is_empty() || ctx.check {
        return Ok((changing, attrs, None));
    }
    let after = change_and_probe(ctx, path, &remote_file::attr_commands(&quote(path), &attrs), "setting owner, group or mode").await?;
    Ok((changing, attrs, Some(after)))
}

async fn file(ctx: &ModuleCtx<'_>, args: &Args, h: &Here, follow: bool) -> Result<Outcome, ModuleError> {
    let (path, st) =
        if follow && h.st.is_link() { (h.st.real_path.clone().unwrap_or_else(|| h.path.clone()), &h.followed) } else { (h.path.clone(), &h.st) };
    let prev = st.state_name();
    if prev != "file" && prev != "hard" {
        return Ok(Outcome::failed(format!("file ({path}) is {prev}, cannot continue")).with("path", path.as_str()).with("state", prev));
    }
    let (changing, attrs, after) = set_attrs(ctx, args, &path, st, false).await?;
    let after = after.unwrap_or_else(|| st.clone());
    Ok(result("path", &path, !changing.is_empty(), &after).diff(diff(&path, prev, "file", st, &attrs, &changing)))
}

async fn directory(ctx: &ModuleCtx<'_>, args: &Args, h: &Here, follow: bool) -> Result<Outcome, ModuleError> {
    let (path, st) =
        if follow && h.st.is_link() { (h.st.real_path.clone().unwrap_or_else(|| h.path.clone()), &h.followed) } else { (h.path.clone(), &h.st) };
    let prev = st.state_name();
    if prev == "absent" {
        // Like mkdir -p, but every folder created gets the owner, group and mode asked for.
        let attrs = remote_file::wanted_attrs(args, 0o755, true)?;
        let new_dir = FileState { mode: 0o755, ..Default::default() };
        let d = diff(&path, "absent", "directory", &new_dir, &attrs, &attrs_differ(&new_dir, &attrs));
        if ctx.check {
            return Ok(Outcome::changed(true).with("path", path.as_str()).diff(d));
        }
        let script = remote_file::mkdirs_script(&path, &attrs);
        let after = change_and_probe(ctx, &path, &script, &format!("There was an issue creating {path} as requested")).await?;
        return Ok(result("path", &path, true, &after).diff(d));
    }
    if prev != "directory" {
        return Ok(Outcome::failed(format!("{path} already exists as a {prev}")).with("path", path.as_str()));
    }
    let (changing, attrs, after) = set_attrs(ctx, args, &path, st, false).await?;
    let mut changed = !changing.is_empty();
    if args.bool("recurse") && (args.has("mode") || args.has("owner") || args.has("group")) {
        changed |= recurse(ctx, args, &path, &h.inside).await?;
    }
    let after = after.unwrap_or_else(|| st.clone());
    Ok(result("path", &path, changed, &after).diff(diff(&path, prev, "directory", st, &attrs, &changing)))
}

/// Print `%a %u %g %U %G %F` for every entry under `dir` (names are not needed: only whether any differs).
fn walk_script(dir: &str) -> String {
    format!(
        "w() {{ for e in \"$1\"/* \"$1\"/.[!.]* \"$1\"/..?*; do [ -e \"$e\" ] || [ -L \"$e\" ] || continue; \
         stat -c '%a %u %g %U %G %F' -- \"$e\" || exit 1; if [ -d \"$e\" ] && [ ! -L \"$e\" ]; then w \"$e\"; fi; done; }}; w {}",
        quote(dir)
    )
}

/// Owner, group and mode on everything under `dir` (its entries' stat lines were probed): changed with
/// chown -R / chmod -R in one round trip if any entry differs.
async fn recurse(ctx: &ModuleCtx<'_>, args: &Args, dir: &str, inside: &str) -> Result<bool, ModuleError> {
    let wanted_mode = args.str("mode").map(mode::parse).transpose().map_err(ModuleError::Args)?;
    let mut differs = false;
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
        differs |= !attrs_differ(&st, &attrs).is_empty();
    }
    if differs && !ctx.check {
        let mut s = String::new();
        let q = quote(dir);
        match (args.str("owner"), args.str("group")) {
            (Some(o), Some(g)) => s.push_str(&format!("chown -R -h {} {q}; ", quote(&format!("{o}:{g}")))),
            (Some(o), None) => s.push_str(&format!("chown -R -h {} {q}; ", quote(o))),
            (None, Some(g)) => s.push_str(&format!("chgrp -R -h {} {q}; ", quote(g))),
            (None, None) => {}
        }
        if let Some(m) = args.str("mode") {
            // chmod -R skips symlinks inside the tree; a symbolic mode is computed per entry, as Ansible does.
            let spec = match mode::parse(m).map_err(ModuleError::Args)? {
                mode::Mode::Octal(v) => format!("{v:04o}"),
                other => other.to_chmod(),
            };
            s.push_str(&format!("chmod -R -- {} {q}; ", quote(&spec)));
        }
        ctx.write_ok(&format!("set -e; {s}"), None, &format!("setting owner, group or mode under {dir}")).await?;
    }
    Ok(differs)
}

async fn touch(ctx: &ModuleCtx<'_>, args: &Args, h: &Here, follow: bool) -> Result<Outcome, ModuleError> {
    let prev = h.st.state_name();
    if prev == "absent" && ctx.check {
        return Ok(Outcome::changed(true).with("dest", h.path.as_str()));
    }
    let base = if prev == "absent" { FileState { mode: 0o644, ..Default::default() } } else { h.followed.clone() };
    let attrs = remote_file::wanted_attrs(args, base.mode, base.is_dir())?;
    let changing = if prev == "absent" { Vec::new() } else { attrs_differ(&base, &attrs) };
    let d = diff(&h.path, prev, "touch", &base, &attrs, &changing);
    if ctx.check {
        return Ok(result("dest", &h.path, true, &h.st).diff(d));
    }
    // touch follows a symlink; owner, group and mode go where it leads too (unless follow=no).
    let target = if follow && h.st.is_link() { h.st.real_path.clone().unwrap_or_else(|| h.path.clone()) } else { h.path.clone() };
    let script = format!("touch -- {}; {}", quote(&h.path), remote_file::attr_commands(&quote(&target), &attrs));
    let after = change_and_probe(ctx, &h.path, &script, "Error, could not touch target").await?;
    // Touching always changes the times, so Ansible always reports changed.
    Ok(result("dest", &h.path, true, &after).diff(d))
}

async fn link(ctx: &ModuleCtx<'_>, args: &Args, h: &Here, src: Option<&str>, follow: bool) -> Result<Outcome, ModuleError> {
    let path = h.path.as_str();
    let prev = h.st.state_name();
    let force = args.bool("force");
    if let Some(s) = src {
        // A relative src is relative to the link's folder (to path itself if path is a real directory).
        let (abs, st) = if h.st.is_dir() { (join(path, s), &h.rest[1]) } else { (join(&remote_file::parent_dir(path), s), &h.rest[0]) };
        // A followed probe describes a link to nothing as a link: that src does not exist.
        let exists = st.exists && !st.is_link();
        if !force && !exists {
            return Ok(Outcome::failed(format!("src file does not exist, use 'force=yes' if you really want to create the link: {abs}"))
                .with("path", path)
                .with("src", s));
        }
    }
    // With no src, an existing link keeps pointing where it does.
    let src: Option<String> = src.map(str::to_string).or_else(|| if follow && h.st.is_link() { h.st.link_target.clone() } else { None });
    if matches!(prev, "directory" | "file" | "hard") && !force {
        return Ok(Outcome::failed(format!("refusing to convert from {prev} to symlink for {path}")).with("path", path));
    }
    let Some(src) = src else {
        return Err(ModuleError::Args("src is required for creating new symlinks".into()));
    };
    let old = h.st.link_target.clone().unwrap_or_default();
    let changed = prev != "link" || old != src;
    let mut d = diff(path, prev, "link", &h.st, &Attrs::default(), &[]);
    if prev == "link" && changed {
        d.before.push_str(&format!("src: {old}\n"));
        d.after.push_str(&format!("src: {src}\n"));
    }
    let mut after = h.st.clone();
    if changed && !ctx.check {
        let (q, s) = (quote(path), quote(&src));
        let script = match prev {
            "absent" => format!("ln -s -- {s} {q}; "),
            "directory" => format!(
                "rmdir -- {q} 2>/dev/null || {{ echo 'the directory {} is not empty, refusing to convert it' >&2; exit 1; }}; ln -s -- {s} {q}; ",
                path.replace('\'', "")
            ),
            // Replace atomically: a new link beside the old path, renamed over it.
            _ => format!("t={}/.hlprov-link.$$; ln -s -- {s} \"$t\"; mv -f -T -- \"$t\" {q}; ", quote(&remote_file::parent_dir(path))),
        };
        after = change_and_probe(ctx, path, &script, "Error while linking").await?;
    }
    // Owner/group/mode go on what the link leads to (follow) or on the link itself; never on a link to
    // nothing. In check mode a link that would change has no target yet to compare.
    let mut attrs_changed = false;
    if (args.has("owner") || args.has("group") || args.has("mode")) && !(ctx.check && changed) {
        if follow {
            let target = if changed { remote_file::probe(ctx, path, FOLLOW).await? } else { h.followed.clone() };
            if target.exists && !target.is_link() {
                let real = target.real_path.clone().unwrap_or_else(|| path.to_string());
                attrs_changed = !set_attrs(ctx, args, &real, &target, false).await?.0.is_empty();
            }
        } else {
            let (changing, _, new_after) = set_attrs(ctx, args, path, &after, true).await?;
            attrs_changed = !changing.is_empty();
            after = new_after.unwrap_or(after);
        }
    }
    let mut o = result("dest", path, changed || attrs_changed, &after).diff(d);
    o.data.insert("src".into(), Value::String(src));
    Ok(o)
}

async fn hard(ctx: &ModuleCtx<'_>, args: &Args, h: &Here, src: Option<&str>) -> Result<Outcome, ModuleError> {
    let path = h.path.as_str();
    let prev = h.st.state_name();
    let Some(src) = src else {
        if prev != "hard" {
            return Err(ModuleError::Args("src is required for creating new hardlinks".into()));
        }
        // An existing hard link without src: only its attributes.
        let (changing, attrs, after) = set_attrs(ctx, args, path, &h.st, false).await?;
        let after = after.unwrap_or_else(|| h.st.clone());
        return Ok(result("dest", path, !changing.is_empty(), &after).diff(diff(path, prev, "hard", &h.st, &attrs, &changing)));
    };
    let src_st = &h.rest[2];
    if !src_st.exists || src_st.is_link() {
        return Ok(Outcome::failed("src does not exist").with("dest", path).with("src", src));
    }
    let changed = match prev {
        "absent" | "link" => true,
        "directory" => return Ok(Outcome::failed(format!("Cannot link: {path} is a directory")).with("dest", path).with("src", src)),
        _ if h.st.inode == src_st.inode => false,
        other if !args.bool("force") => {
            let msg = if other == "hard" {
                "Cannot link, different hard link exists at destination".to_string()
            } else {
                format!("Cannot link, {other} exists at destination")
            };
            return Ok(Outcome::failed(msg).with("dest", path).with("src", src));
        }
        _ => true,
    };
    let mut after = h.st.clone();
    if changed && !ctx.check {
        let (q, s) = (quote(path), quote(src));
        let script = if prev == "absent" {
            format!("ln -L -- {s} {q}; ")
        } else {
            format!("t={}/.hlprov-link.$$; ln -L -- {s} \"$t\"; mv -f -T -- \"$t\" {q}; ", quote(&remote_file::parent_dir(path)))
        };
        after = change_and_probe(ctx, path, &script, "Error while linking").await?;
    }
    // After linking, path is src's inode: compare the attributes with those.
    let base = if changed && ctx.check { src_st.clone() } else { after.clone() };
    let (changing, attrs, new_after) = set_attrs(ctx, args, path, &base, false).await?;
    let mut d = diff(path, prev, "hard", &base, &attrs, &changing);
    if prev == "link" {
        d.before.push_str(&format!("src: {}\n", h.st.link_target.clone().unwrap_or_default()));
        d.after.push_str(&format!("src: {src}\n"));
    }
    let after = new_after.unwrap_or(after);
    let mut o = result("dest", path, changed || !changing.is_empty(), &after).diff(d);
    o.data.insert("src".into(), Value::String(src.to_string()));
    Ok(o)
}
