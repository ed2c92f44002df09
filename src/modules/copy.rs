//! copy: put a file on the host from controller content (`content`) or a controller file or folder (`src`,
//! found in the role's files/), with owner, group and mode. Only what differs (by checksum) is sent, and each
//! file is written atomically. `template` renders its source and hands the text to [`put_file`].

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::helpers::remote_file::{self, Attrs, Want, WriteSpec, attrs_differ, path_info, sha1_hex};
use super::{ArgKind, ArgSpec, Args, Change, Diff, FileKind, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step, helpers::mode};
use crate::transport::quote::quote;

pub struct Copy;

/// Arguments copy and template share.
pub const DEST_ARGS: [ArgSpec; 8] = [
    ArgSpec::new("dest", ArgKind::Path)
        .required()
        .help("Where to put the file on the host. An existing folder, or a path ending in '/', receives the file under its source name."),
    ArgSpec::new("backup", ArgKind::Bool).default("no").help("Keep a copy of the old file, named DEST.PID.YYYY-MM-DD@HH:MM:SS~, when it changes."),
    ArgSpec::new("force", ArgKind::Bool)
        .default("yes")
        .help("Replace a file whose content differs; with 'no', only create the file if it does not exist."),
    ArgSpec::new("validate", ArgKind::Str)
        .help("A command that must accept the new file before it replaces the old one; %s is the new file (e.g. 'visudo -cf %s')."),
    ArgSpec::new("mode", ArgKind::Mode)
        .help("Permissions of the file: octal ('0644'), symbolic ('u=rw,g=r,o=') or 'preserve' (the source's). New files get 0644 otherwise."),
    ArgSpec::new("owner", ArgKind::Str).help("User that should own the file (name or uid)."),
    ArgSpec::new("group", ArgKind::Str).help("Group that should own the file (name or gid)."),
    ArgSpec::new("follow", ArgKind::Bool)
        .default("no")
        .help("If dest is a symlink, write the file it points to (otherwise the link is replaced by a file)."),
];

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("src", ArgKind::Path).help(
        "A file or folder on the controller (searched in the role's files/, then the playbook's). A folder is copied \
         recursively: with a trailing '/' its contents go into dest, without it the folder itself does.",
    ),
    ArgSpec::new("content", ArgKind::Raw).help("The file's content, instead of src (a mapping or list is written as JSON)."),
    DEST_ARGS[0],
    DEST_ARGS[1],
    DEST_ARGS[2],
    DEST_ARGS[3],
    DEST_ARGS[4],
    DEST_ARGS[5],
    DEST_ARGS[6],
    DEST_ARGS[7],
    ArgSpec::new("directory_mode", ArgKind::Mode).help("Mode of the folders a recursive copy (or a dest ending in '/') creates or manages."),
    ArgSpec::new("local_follow", ArgKind::Bool).default("yes").help("In a src folder, copy what symlinks point to (otherwise recreate the links)."),
    ArgSpec::new("remote_src", ArgKind::Bool)
        .default("no")
        .help("src is a file or folder on the host itself (a folder: its files keep their modes, its links stay links)."),
])
.changes(&["content", "attributes", "create", "link"])
.critical();

#[async_trait::async_trait]
impl Module for Copy {
    fn name(&self) -> &'static str {
        "copy"
    }
    fn summary(&self) -> &'static str {
        "Copy a file or folder from the controller, or given content, to the host"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Not supported: checksum, decrypt (hlprov decrypts SOPS files itself), SELinux arguments, \
         `attributes`, `unsafe_writes`. Results carry `checksum` (sha1) but not the legacy `md5sum`; `src` is the \
         controller path (Ansible reports its temporary copy on the host). A symbolic mode on a new file is applied \
         to 0644."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let dest = args.req("dest")?;
        match what_to_copy(ctx, args)? {
            What::File(source) => put_file(ctx, args, &source, dest).await,
            What::Tree(top, contents_only) => copy_tree(ctx, args, &top, contents_only, dest).await,
            What::Remote(src) => match remote_source(ctx, &src).await? {
                Remote::File(source) => put_file(ctx, args, &source, dest).await,
                Remote::Tree(tree) => put_tree(ctx, args, tree, &src, src.ends_with('/'), dest).await,
            },
        }
    }
    fn render(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Option<Result<Plan, ModuleError>> {
        if args.bool("remote_src") {
            return None; // the source is on the host
        }
        let render = || -> Result<Plan, ModuleError> {
            let dest = args.req("dest")?;
            match what_to_copy(ctx, args)? {
                What::File(source) => Ok(render_put(args, &source, dest)),
                What::Remote(_) => unreachable!("remote_src is not rendered"),
                What::Tree(top, contents_only) => {
                    let mut tree = Tree::default();
                    let prefix = if contents_only { String::new() } else { format!("{}/", file_name(&top.to_string_lossy())) };
                    let real_top = std::fs::canonicalize(&top).map_err(|e| ModuleError::Args(format!("cannot read {}: {e}", top.display())))?;
                    walk(&top, &prefix, args.bool("local_follow"), &mut tree, &mut vec![real_top])?;
                    let mut plan = Plan::unchanged().with("dest", dest).with("src", top.display().to_string());
                    for (from, rel) in &tree.files {
                        let FileSrc::Local(local) = from else { continue };
                        let file = render_put(args, &Source::from_file(local)?, &format!("{}/{rel}", dest.trim_end_matches('/')));
                        plan.changes.extend(file.changes);
                    }
                    Ok(plan)
                }
            }
        };
        Some(render())
    }
}

/// A single file (content or a controller file) or a controller folder.
enum What {
    File(Source),
    /// The folder, and whether only its contents go (src ended in '/').
    Tree(PathBuf, bool),
    /// A file on the host (`remote_src`), read when planning.
    Remote(String),
}

/// What `remote_src` names on the host.
enum Remote {
    File(Source),
    Tree(Tree),
}

/// Printed first when `remote_src` names a folder.
const REMOTE_DIR: &str = "hlprov-remote-dir";

/// A file or folder on the host as a source (`remote_src: true`), read in one round trip: a file's bytes and
/// mode, or a folder's entries (type, mode, path, link target) and its files' checksums.
async fn remote_source(ctx: &ModuleCtx<'_>, src: &str) -> Result<Remote, ModuleError> {
    let q = quote(src.trim_end_matches('/'));
    let q = if q.is_empty() || q == "''" { "/".to_string() } else { q };
    let script = format!(
        "if [ -d {q} ]; then cd {q} || exit 2; echo {REMOTE_DIR}; LC_ALL=C find . -mindepth 1 -printf '%y\\t%m\\t%P\\t%l\\n' && echo && \
         LC_ALL=C find . -mindepth 1 -type f -exec sha256sum -- {{}} +; exit $?; \
         elif [ ! -r {q} ]; then exit 2; fi; stat -L -c %a {q} && base64 -w0 < {q}"
    );
    let out = ctx.read(&script).await?;
    if out.rc() != 0 {
        return Err(ModuleError::failed(format!("Source {src} not found")));
    }
    let text = out.stdout_text();
    if let Some(listing) = text.strip_prefix(&format!("{REMOTE_DIR}\n")) {
        return Ok(Remote::Tree(remote_tree(src, listing)));
    }
    let (mode, data) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .map_err(|e| ModuleError::failed(format!("remote_src: could not read {src}: {e}")))?;
    let name = Path::new(src).file_name().map(|n| n.to_string_lossy().into_owned());
    Ok(Remote::File(Source { bytes, name, local_mode: u32::from_str_radix(mode.trim(), 8).ok(), display: Some(src.to_string()) }))
}

/// A host folder's listing (`find -printf '%y\t%m\t%P\t%l'`, a blank line, then `sha256sum` lines) as the
/// tree to copy: with a trailing '/' on `src` its contents, otherwise the folder itself. Links stay links.
fn remote_tree(src: &str, listing: &str) -> Tree {
    let (entries, sums) = listing.split_once("\n\n").unwrap_or((listing, ""));
    let sums: std::collections::HashMap<&str, &str> =
        sums.lines().filter_map(|l| l.split_once("  ")).map(|(sum, path)| (path.trim_start_matches("./"), sum)).collect();
    let top = src.trim_end_matches('/');
    let prefix = if src.ends_with('/') { String::new() } else { format!("{}/", file_name(top)) };
    let mut tree = Tree::default();
    let mut lines: Vec<&str> = entries.lines().collect();
    lines.sort_by_key(|l| l.split('\t').nth(2).unwrap_or_default());
    for line in lines {
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        let [kind, mode, rel, target] = f.as_slice() else { continue };
        let to = format!("{prefix}{rel}");
        match *kind {
            "d" => tree.dirs.push(to),
            "l" => tree.links.push((target.to_string(), to)),
            "f" => tree.files.push((
                FileSrc::Remote {
                    path: format!("{top}/{rel}"),
                    sha256: sums.get(rel).unwrap_or(&"").to_string(),
                    mode: u32::from_str_radix(mode, 8).unwrap_or(0o644),
                },
                to,
            )),
            _ => {} // sockets, fifos and devices are not copied
        }
    }
    tree
}

fn what_to_copy(ctx: &ModuleCtx<'_>, args: &Args) -> Result<What, ModuleError> {
    let dest = args.req("dest")?;
    let (src, content) = (args.str("src"), args.get("content"));
    match (src, content) {
        (None, None) => return Err(ModuleError::Args("src (or content) is required".into())),
        (Some(_), Some(_)) => return Err(ModuleError::Args("src and content are mutually exclusive".into())),
        (None, Some(_)) if dest.ends_with('/') => return Err(ModuleError::Args("can not use content with a dir as dest".into())),
        _ => {}
    }
    if let Some(c) = content {
        return Ok(What::File(Source { bytes: content_bytes(c), name: None, local_mode: None, display: None }));
    }
    let src = src.unwrap_or_default();
    if args.bool("remote_src") {
        return Ok(What::Remote(src.to_string()));
    }
    let found =
        ctx.task.find_file(FileKind::Files, src.trim_end_matches('/')).map_err(|e| ModuleError::Args(format!("could not find src={src}: {e}")))?;
    if found.is_dir() {
        return Ok(What::Tree(found, src.ends_with('/')));
    }
    Ok(What::File(Source::from_file(&found)?))
}

/// What putting `source` at `dest` would make on a host that has nothing there yet (`hlprov render`).
pub fn render_put(args: &Args, source: &Source, dest: &str) -> Plan {
    let path = if dest.ends_with('/') { format!("{dest}{}", source.name.as_deref().unwrap_or("")) } else { dest.to_string() };
    let d = Diff {
        before_header: "/dev/null".into(),
        after_header: path.clone(),
        before: String::new(),
        after: diff_text(Some(&source.bytes), source.bytes.len() as u64),
    };
    let mut plan = Plan::unchanged().with("dest", path.as_str()).with("checksum", sha1_hex(&source.bytes)).with("size", source.bytes.len());
    if let Some(m) = args.str("mode") {
        plan = plan.with("mode", m);
    }
    plan.change(Change::new("content", d, Step::Module))
}

/// What to put on the host.
pub struct Source {
    pub bytes: Vec<u8>,
    /// The source's file name, used when dest is a folder (None for `content`).
    pub name: Option<String>,
    /// The source's permission bits, for mode=preserve.
    pub local_mode: Option<u32>,
    /// The controller path, reported as `src`.
    pub display: Option<String>,
}

impl Source {
    pub fn from_file(path: &Path) -> Result<Source, ModuleError> {
        use std::os::unix::fs::PermissionsExt;
        let bytes = std::fs::read(path).map_err(|e| ModuleError::Args(format!("could not read {}: {e}", path.display())))?;
        let local_mode = std::fs::metadata(path).ok().map(|m| m.permissions().mode() & 0o7777);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        Ok(Source { bytes, name, local_mode, display: Some(path.display().to_string()) })
    }
}

/// `content` as Ansible writes it: strings as they are, anything else as Python would print it.
fn content_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(b) => if *b { "True" } else { "False" }.as_bytes().to_vec(),
        Value::Null => Vec::new(),
        other => crate::template::python_json(other).into_bytes(),
    }
}

/// The mode a file should get: `mode` resolved against its current (or new) mode, `preserve` from the source.
fn wanted_attrs(args: &Args, mode_arg: &str, source_mode: Option<u32>, current: u32, is_dir: bool) -> Result<Attrs, ModuleError> {
    let mode = match args.str(mode_arg) {
        None => None,
        Some(m) => match mode::parse(m).map_err(|e| ModuleError::Args(format!("{mode_arg}: {e}")))? {
            mode::Mode::Preserve => Some(source_mode.ok_or_else(|| ModuleError::Args(format!("{mode_arg}=preserve needs a source file")))?),
            parsed => Some(parsed.apply(current, is_dir)),
        },
    };
    Ok(Attrs { owner: args.str("owner").map(str::to_string), group: args.str("group").map(str::to_string), mode })
}

fn file_name(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or(path)
}

/// Text for `--diff`: the content, or a note for binary or large content.
pub fn diff_text(bytes: Option<&[u8]>, size: u64) -> String {
    match bytes {
        None if size > remote_file::MAX_DIFF_BYTES => format!("(file larger than {} bytes, not shown)\n", remote_file::MAX_DIFF_BYTES),
        None => String::new(),
        Some(b) if b.iter().take(8192).any(|c| *c == 0) => format!("(binary content, {} bytes)\n", b.len()),
        Some(b) => String::from_utf8_lossy(b).into_owned(),
    }
}

/// Put one file at `dest` (or inside it, if it is a folder): copy's and template's core.
pub async fn put_file(ctx: &ModuleCtx<'_>, args: &Args, source: &Source, dest: &str) -> Result<Plan, ModuleError> {
    let follow = args.bool("follow");
    let force = args.bool("force");
    let want = Want { content_up_to: if ctx.diff { remote_file::MAX_DIFF_BYTES } else { 0 }, sha1: false, follow };
    // One round trip covers both dest and dest/NAME, in case dest turns out to be a folder.
    let into_dir = dest.ends_with('/');
    let name = source.name.as_deref().unwrap_or("");
    let mut probes = vec![(if into_dir { format!("{dest}{name}") } else { dest.to_string() }, want)];
    if !into_dir && !name.is_empty() {
        probes.push((format!("{}/{name}", dest.trim_end_matches('/')), want));
    }
    let sts = remote_file::probe_many(ctx, &probes).await?;
    let (mut path, mut st) = (probes[0].0.clone(), sts[0].clone());
    if st.is_dir() {
        if source.name.is_none() {
            return Err(ModuleError::failed("can not use content with a dir as dest"));
        }
        (path, st) = (probes[1].0.clone(), sts[1].clone());
    }
    let sha1 = sha1_hex(&source.bytes);
    let base = |path: &str| -> Plan {
        let mut p = Plan::unchanged().with("dest", path).with("checksum", sha1.as_str());
        if let Some(d) = &source.display {
            p = p.with("src", d.as_str());
        }
        p
    };
    if st.exists && !force {
        return Ok(base(&path));
    }
    if st.is_dir() {
        return Err(ModuleError::failed(format!("{path} is a directory")).with("dest", path.as_str()));
    }
    // With follow, a symlink's target is what gets written; without, the link is replaced by a file.
    if follow && st.is_link() && st.real_path.is_some() {
        path = st.real_path.clone().unwrap_or_default();
    }
    let replace_link = st.is_link() && !follow;
    let same = !replace_link && st.sha256.as_deref() == Some(remote_file::sha256_hex(&source.bytes).as_str());
    let current = if st.exists && !replace_link { st.clone() } else { super::helpers::text_edit::new_file_state(ctx) };
    let attrs = wanted_attrs(args, "mode", source.local_mode, current.mode, false)?;
    let changing = attrs_differ(&current, &attrs);

    if same {
        // Only owner, group and mode may need setting (Ansible runs its file module here).
        let mut plan = base(&path).with("path", path.as_str());
        plan.result.extend(path_info(&st));
        if !changing.is_empty() {
            let step = Step::run_and_probe(&path, remote_file::attr_commands(&quote(&path), &attrs), "setting owner, group or mode");
            plan.changes.push(Change::new("attributes", remote_file::attrs_diff(&path, &st, &attrs, &changing), step));
        }
        return Ok(plan);
    }
    let d = Diff {
        before_header: if st.exists { path.clone() } else { "/dev/null".into() },
        after_header: path.clone(),
        before: if st.exists && !replace_link { diff_text(st.content.as_deref(), st.size) } else { String::new() },
        after: diff_text(Some(&source.bytes), source.bytes.len() as u64),
    };
    let write = WriteSpec {
        path: path.clone(),
        content: source.bytes.clone(),
        attrs,
        backup: args.bool("backup"),
        validate: args.str("validate").map(str::to_string),
        expect_sha256: Some(if replace_link { None } else { st.sha256.clone() }),
        // Folders a dest ending in '/' needs get directory_mode, owner and group, as in Ansible.
        create_parents: if into_dir { Some(wanted_attrs(args, "directory_mode", None, 0o755, true)?) } else { None },
        // Ansible removes the link and writes a file in its place.
        replace_symlink: replace_link,
    };
    Ok(base(&path).change(Change::new("content", d, Step::Write(write))))
}

/// A folder's content, with paths relative to the copy's destination.
#[derive(Default)]
struct Tree {
    files: Vec<(FileSrc, String)>,
    dirs: Vec<String>,
    /// (link target, relative path): symlinks recreated as they are.
    links: Vec<(String, String)>,
}

/// Where a file of a folder copy comes from.
enum FileSrc {
    /// A controller file.
    Local(PathBuf),
    /// A file on the host itself (`remote_src`), with what its listing said.
    Remote { path: String, sha256: String, mode: u32 },
}

/// Walk `top` like Ansible's copy: with local_follow, symlinks to files are copied as files and symlinks to
/// folders are walked (unless they loop back); other symlinks are recreated.
fn walk(top: &Path, base: &str, local_follow: bool, tree: &mut Tree, seen: &mut Vec<PathBuf>) -> Result<(), ModuleError> {
    let err = |e: std::io::Error| ModuleError::Args(format!("cannot read {}: {e}", top.display()));
    let mut entries: Vec<_> = std::fs::read_dir(top).map_err(err)?.collect::<Result<_, _>>().map_err(err)?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let rel = format!("{base}{}", e.file_name().to_string_lossy());
        let meta = std::fs::symlink_metadata(&p).map_err(err)?;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&p).map_err(err)?.to_string_lossy().into_owned();
            let real = std::fs::canonicalize(&p).ok();
            match real {
                Some(r) if local_follow && r.is_file() => tree.files.push((FileSrc::Local(r), rel)),
                Some(r) if local_follow && r.is_dir() && !seen.contains(&r) => {
                    tree.dirs.push(rel.clone());
                    seen.push(r.clone());
                    walk(&r, &format!("{rel}/"), local_follow, tree, seen)?;
                    seen.pop();
                }
                _ => tree.links.push((target, rel)),
            }
        } else if meta.is_dir() {
            tree.dirs.push(rel.clone());
            walk(&p, &format!("{rel}/"), local_follow, tree, seen)?;
        } else {
            tree.files.push((FileSrc::Local(p), rel));
        }
    }
    Ok(())
}

/// Copy a controller folder: one round trip to probe every destination path; then one to create folders, links
/// and set attributes, and one per file whose content changes.
async fn copy_tree(ctx: &ModuleCtx<'_>, args: &Args, top: &Path, contents_only: bool, dest: &str) -> Result<Plan, ModuleError> {
    let mut tree = Tree::default();
    let prefix = if contents_only { String::new() } else { format!("{}/", file_name(&top.to_string_lossy())) };
    let real_top = std::fs::canonicalize(top).map_err(|e| ModuleError::Args(format!("cannot read {}: {e}", top.display())))?;
    walk(top, &prefix, args.bool("local_follow"), &mut tree, &mut vec![real_top])?;
    put_tree(ctx, args, tree, &top.display().to_string(), contents_only, dest).await
}

/// Make `dest` hold `tree` (from the controller or the host itself): one round trip to probe every
/// destination path; then one to create folders, links and set attributes, and one per file whose content
/// changes.
async fn put_tree(ctx: &ModuleCtx<'_>, args: &Args, mut tree: Tree, src: &str, contents_only: bool, dest: &str) -> Result<Plan, ModuleError> {
    if !contents_only {
        tree.dirs.insert(0, file_name(src).to_string());
    }
    let dest = format!("{}/", dest.trim_end_matches('/'));
    let want = Want { content_up_to: if ctx.diff { remote_file::MAX_DIFF_BYTES } else { 0 }, sha1: false, follow: false };
    // The destination folder itself comes first: it may not exist yet.
    let mut probes = vec![(dest.trim_end_matches('/').to_string(), want)];
    probes.extend(tree.dirs.iter().map(|d| (format!("{dest}{d}"), want)));
    probes.extend(tree.files.iter().map(|(_, r)| (format!("{dest}{r}"), want)));
    probes.extend(tree.links.iter().map(|(_, r)| (format!("{dest}{r}"), want)));
    let sts = remote_file::probe_many(ctx, &probes).await?;
    let (dir_sts, rest) = sts.split_at(1 + tree.dirs.len());
    let (file_sts, link_sts) = rest.split_at(tree.files.len());

    let force = args.bool("force");
    // Folders, links and attributes: one script (one round trip), shown as one change each.
    let mut script = String::new();
    let mut joined: Vec<(&'static str, Diff)> = Vec::new();
    // Folders: created with directory_mode (and owner/group), or given them if they differ. dest itself and
    // the copied folder's own top are only created when missing, never changed (as in Ansible).
    let implicit = if contents_only { 1 } else { 2 };
    for (i, ((path, _), st)) in probes[..dir_sts.len()].iter().zip(dir_sts).enumerate() {
        if st.exists && !st.is_dir() {
            return Err(ModuleError::failed(format!("{path} already exists as a {}", st.state_name())).with("path", path.as_str()));
        }
        let current = if st.exists { st.mode } else { 0o755 };
        let attrs = wanted_attrs(args, "directory_mode", None, current, true)?;
        let q = quote(path);
        if !st.exists {
            joined.push(("create", remote_file::property_diff(path, &[("state", "absent".into())], &[("state", "directory".into())])));
            script.push_str(&format!("mkdir -p -- {q}; {}", remote_file::attr_commands(&q, &attrs)));
        } else if i >= implicit && !attrs_differ(st, &attrs).is_empty() {
            joined.push(("attributes", remote_file::attrs_diff(path, st, &attrs, &attrs_differ(st, &attrs))));
            script.push_str(&remote_file::attr_commands(&q, &attrs));
        }
    }
    // Symlinks: made to point where the source's do.
    for ((target, rel), st) in tree.links.iter().zip(link_sts) {
        if st.is_link() && st.link_target.as_deref() == Some(target.as_str()) {
            continue;
        }
        if st.is_dir() {
            return Err(ModuleError::failed(format!("{dest}{rel} is a directory; refusing to replace it with a symlink")));
        }
        let q = quote(&format!("{dest}{rel}"));
        joined.push((
            "link",
            remote_file::property_diff(&format!("{dest}{rel}"), &[("src", st.link_target.clone().unwrap_or_default())], &[("src", target.clone())]),
        ));
        script.push_str(&format!("rm -f -- {q}; ln -s -- {} {q}; ", quote(target)));
    }
    // Files: those whose content differs are written one by one; attribute changes join the script.
    let mut writes = Vec::new();
    let mut one_file: Option<Plan> = None;
    for ((from, rel), st) in tree.files.iter().zip(file_sts) {
        let path = format!("{dest}{rel}");
        if st.exists && !force {
            continue;
        }
        if st.is_dir() {
            return Err(ModuleError::failed(format!("{path} is a directory")).with("dest", path));
        }
        let local = match from {
            FileSrc::Local(local) => local,
            FileSrc::Remote { path: from, sha256, mode } => {
                let current = if st.is_file() { st.clone() } else { super::helpers::text_edit::new_file_state(ctx) };
                // A host file keeps its own mode unless `mode` says otherwise, as Ansible's copy does.
                let mut attrs = wanted_attrs(args, "mode", Some(*mode), current.mode, false)?;
                attrs.mode = attrs.mode.or(Some(*mode));
                one_file = Some(Plan::unchanged().with("dest", path.as_str()).with("src", from.as_str()));
                if st.is_file() && st.sha256.as_deref() == Some(sha256.as_str()) {
                    let differ = attrs_differ(st, &attrs);
                    if !differ.is_empty() {
                        joined.push(("attributes", remote_file::attrs_diff(&path, st, &attrs, &differ)));
                        script.push_str(&remote_file::attr_commands(&quote(&path), &attrs));
                    }
                    continue;
                }
                let d = Diff {
                    before_header: if st.exists { path.clone() } else { "/dev/null".into() },
                    after_header: path.clone(),
                    before: if st.is_file() { diff_text(st.content.as_deref(), st.size) } else { String::new() },
                    after: format!("(copy of {from} on the host, sha256 {sha256})\n"),
                };
                // Copied beside the destination and renamed over it: never a half-written file.
                let (qf, qt, qd) = (quote(from), quote(&format!("{path}.hlprov-tmp")), quote(&path));
                let cp = format!(
                    "set -e; mkdir -p -- {}; rm -f -- {qt}; cp -- {qf} {qt}; {}mv -f -- {qt} {qd}",
                    quote(&remote_file::parent_dir(&path)),
                    remote_file::attr_commands(&qt, &attrs)
                );
                writes.push(Change::new("content", d, Step::run(cp, format!("copying {from} to {path}"))));
                continue;
            }
        };
        let source = Source::from_file(local)?;
        let current = if st.is_file() { st.clone() } else { super::helpers::text_edit::new_file_state(ctx) };
        let attrs = wanted_attrs(args, "mode", source.local_mode, current.mode, false)?;
        let same = st.is_file() && st.sha256.as_deref() == Some(remote_file::sha256_hex(&source.bytes).as_str());
        one_file =
            Some(Plan::unchanged().with("dest", path.as_str()).with("checksum", sha1_hex(&source.bytes)).with("src", local.display().to_string()));
        if same {
            let differ = attrs_differ(st, &attrs);
            if !differ.is_empty() {
                joined.push(("attributes", remote_file::attrs_diff(&path, st, &attrs, &differ)));
                script.push_str(&remote_file::attr_commands(&quote(&path), &attrs));
            }
        } else {
            let d = Diff {
                before_header: if st.exists { path.clone() } else { "/dev/null".into() },
                after_header: path.clone(),
                before: if st.is_file() { diff_text(st.content.as_deref(), st.size) } else { String::new() },
                after: diff_text(Some(&source.bytes), source.bytes.len() as u64),
            };
            let write = WriteSpec {
                path: path.clone(),
                content: source.bytes,
                attrs,
                backup: args.bool("backup"),
                validate: args.str("validate").map(str::to_string),
                expect_sha256: Some(if st.is_file() { st.sha256.clone() } else { None }),
                create_parents: None,
                replace_symlink: st.is_link(),
            };
            writes.push(Change::new("content", d, Step::Write(write)));
        }
    }
    // A folder holding one file reports that file, as Ansible does.
    let mut plan = match (tree.files.len(), one_file) {
        (1, Some(p)) => p,
        _ => Plan::unchanged().with("dest", dest.as_str()).with("src", src),
    };
    let mut steps = std::iter::once(Step::run(format!("set -e; {script}"), format!("copying folders and links to {dest}")))
        .chain(std::iter::repeat_with(|| Step::Joined));
    for (kind, d) in joined {
        plan.changes.push(Change::new(kind, d, steps.next().unwrap_or(Step::Joined)));
    }
    plan.changes.extend(writes);
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_is_written_as_python_would() {
        assert_eq!(content_bytes(&json!("a\nb")), b"a\nb");
        assert_eq!(content_bytes(&json!({"a": [1, "é"], "b": true})), br#"{"a": [1, "\u00e9"], "b": true}"#);
        assert_eq!(content_bytes(&json!(true)), b"True");
        assert_eq!(content_bytes(&json!(42)), b"42");
    }

    #[test]
    fn walk_follows_links_like_ansible() {
        let d = tempfile::tempdir().unwrap();
        let top = d.path().join("site");
        std::fs::create_dir_all(top.join("sub")).unwrap();
        std::fs::write(top.join("sub/a.txt"), "a").unwrap();
        std::fs::write(d.path().join("outside.txt"), "o").unwrap();
        std::os::unix::fs::symlink(d.path().join("outside.txt"), top.join("ln.txt")).unwrap();
        std::os::unix::fs::symlink("nowhere", top.join("dangling")).unwrap();
        std::os::unix::fs::symlink("..", top.join("sub/loop")).unwrap();
        let mut t = Tree::default();
        walk(&top, "site/", true, &mut t, &mut vec![std::fs::canonicalize(&top).unwrap()]).unwrap();
        let files: Vec<&str> = t.files.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(files, ["site/ln.txt", "site/sub/a.txt"]);
        assert_eq!(t.dirs, ["site/sub"]);
        let links: Vec<&str> = t.links.iter().map(|(_, r)| r.as_str()).collect();
        assert_eq!(links, ["site/dangling", "site/sub/loop"]);
    }
}
