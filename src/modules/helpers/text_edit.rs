//! What lineinfile, blockinfile and replace share: fetch the file with its content in one round trip, let
//! the module compute the new content on the controller, then plan writing it atomically (only if the file did
//! not change meanwhile) together with owner/group/mode in a second round trip — or none when nothing changes.

use serde_json::Map;

use super::remote_file::{self, Attrs, FileState, Want, WriteSpec};
use crate::modules::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, ModuleCtx, ModuleError, Outcome, Plan, Step, apply_step};

/// The kinds of change these modules make.
pub const CHANGES: &[&str] = &["content", "attributes"];

/// Largest file these modules edit: its content travels to the controller and back.
pub const MAX_EDIT_BYTES: u64 = 16 * 1024 * 1024;

/// Arguments every content-editing module takes besides its own.
pub const COMMON_ARGS: [ArgSpec; 5] = [
    ArgSpec::new("backup", ArgKind::Bool).default("no").help("Keep a copy of the old file, named PATH.PID.YYYY-MM-DD@HH:MM:SS~, when it changes."),
    ArgSpec::new("validate", ArgKind::Str)
        .help("A command that must accept the new file before it replaces the old one; %s is the new file (e.g. 'visudo -cf %s')."),
    ArgSpec::new("mode", ArgKind::Mode).help("Permissions of the file: octal ('0644') or symbolic ('u=rw,g=r,o=')."),
    ArgSpec::new("owner", ArgKind::Str).help("User that should own the file (name or uid)."),
    ArgSpec::new("group", ArgKind::Str).help("Group that should own the file (name or gid)."),
];

/// The file to edit, as probed.
pub struct Target {
    /// The path as the task gave it (for messages and diff headers).
    pub path: String,
    /// Where to write: a symlink is followed to the file it points to, as Ansible does.
    pub write_path: String,
    pub st: FileState,
}

impl Target {
    /// The current content (empty if the file does not exist).
    pub fn content(&self) -> &[u8] {
        self.st.content.as_deref().unwrap_or_default()
    }
}

/// Probe `path` with its content (one round trip). A folder, or a file too large or unreadable, is an error.
pub async fn load(ctx: &ModuleCtx<'_>, path: &str) -> Result<Target, ModuleError> {
    let st = remote_file::probe(ctx, path, Want { content_up_to: MAX_EDIT_BYTES, sha1: false, follow: true }).await?;
    if st.is_dir() {
        return Err(ModuleError::failed(format!("Path {path} is a directory !")));
    }
    if st.exists && !st.is_file() {
        return Err(ModuleError::failed(format!(
            "Path {path} is not a regular file (it is a {})",
            if st.is_link() { "symlink to nothing" } else { "special file" }
        )));
    }
    if st.exists && st.content.is_none() {
        return Err(ModuleError::failed(if st.sha256.is_none() {
            format!("cannot read {path}")
        } else {
            format!("{path} is {} bytes; hlprov edits files of at most {} MiB", st.size, MAX_EDIT_BYTES / 1024 / 1024)
        }));
    }
    let write_path = st.real_path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| path.to_string());
    Ok(Target { path: path.to_string(), write_path, st })
}

/// The changes that write `new` (if the content changes) and give the file the owner/group/mode asked for,
/// and whether the attributes change. `content_header` names the content diff as the module's Ansible
/// counterpart does.
pub fn changes(ctx: &ModuleCtx<'_>, args: &Args, t: &Target, new: Option<&[u8]>, content_header: &str) -> Result<(Vec<Change>, bool), ModuleError> {
    // A new file starts as 0644, owned by whoever runs the command.
    let base = if t.st.exists { t.st.clone() } else { new_file_state(ctx) };
    let attrs = remote_file::wanted_attrs(args, base.mode, false)?;
    let differ = remote_file::attrs_differ(&base, &attrs);
    let attrs_diff = (!differ.is_empty()).then(|| remote_file::attrs_diff(&format!("{} (file attributes)", t.path), &base, &attrs, &differ));
    let mut out = Vec::new();
    match new {
        Some(content) => {
            let d = Diff {
                before_header: content_header.to_string(),
                after_header: content_header.to_string(),
                before: t.st.text(),
                after: String::from_utf8_lossy(content).into_owned(),
            };
            let write = WriteSpec {
                path: t.write_path.clone(),
                content: content.to_vec(),
                attrs: attrs.clone(),
                backup: args.bool("backup"),
                validate: args.str("validate").map(str::to_string),
                expect_sha256: Some(t.st.sha256.clone()),
                create_parents: Some(Attrs::default()),
                replace_symlink: false,
            };
            out.push(Change::new("content", d, Step::Write(write)));
            // The write sets the attributes too; their diff is shown on its own.
            if let Some(d) = attrs_diff {
                out.push(Change::new("attributes", d, Step::Joined));
            }
        }
        None => {
            if let Some(d) = attrs_diff {
                let script = remote_file::attr_commands(&crate::transport::quote::quote(&t.write_path), &attrs);
                out.push(Change::new("attributes", d, Step::run_and_probe(&t.write_path, script, "setting owner, group or mode")));
            }
        }
    }
    Ok((out, !differ.is_empty()))
}

/// Carry out a plan of [`changes`]: the result keeps the module's keys, with `backup_key` naming the backup
/// file (`backup` for lineinfile, `backup_file` for the others, as in Ansible) rather than the written file's
/// attributes.
pub async fn apply(ctx: &ApplyCtx<'_>, plan: Plan, backup_key: &str) -> Result<Outcome, ModuleError> {
    let mut o = Outcome::from_plan(&plan);
    for c in &plan.changes {
        let mut scratch = Map::new();
        apply_step(ctx, &c.step, &mut scratch).await?;
        if let Some(b) = scratch.remove("backup_file") {
            o.data.insert(backup_key.into(), b);
        }
    }
    Ok(o)
}

/// How a file this task creates starts out: mode 0644, owned by the user commands run as.
pub fn new_file_state(ctx: &ModuleCtx<'_>) -> FileState {
    let user = ctx.become_user.clone().or_else(|| ctx.conn.map(|c| c.login_user().to_string())).unwrap_or_default();
    FileState { exists: false, mode: 0o644, owner: user.clone(), group: user, ..Default::default() }
}

/// Ansible's message when owner/group/mode changed too.
pub fn with_attrs_msg(msg: &str, attrs_changed: bool) -> String {
    match (msg.is_empty(), attrs_changed) {
        (_, false) => msg.to_string(),
        (true, true) => "ownership, perms or SE linux context changed".to_string(),
        (false, true) => format!("{msg} and ownership, perms or SE linux context changed"),
    }
}

/// Split bytes into lines that keep their line endings (Python's `readlines()`/`splitlines(True)` for `\n`).
pub fn split_lines(content: &[u8]) -> Vec<Vec<u8>> {
    content.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect()
}
