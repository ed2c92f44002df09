//! fetch: copy a file from the host to the controller, into DEST/HOSTNAME/PATH (or DEST itself with `flat`).
//! It only reads the host: one round trip compares checksums; the change (writing the controller's copy) brings
//! the content in a second.

use std::path::{Component, Path, PathBuf};

use super::helpers::remote_file::{self, Want, sha1_hex};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct Fetch;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("src", ArgKind::Path).required().help("The file on the host (not a folder)."),
    ArgSpec::new("dest", ArgKind::Path).required().help(
        "A folder on the controller: the file lands in DEST/INVENTORY_HOSTNAME/SRC. With flat, the file itself (or \
         DEST/NAME if dest ends in '/'). Relative to the playbook's folder.",
    ),
    ArgSpec::new("flat", ArgKind::Bool).default("no").help("Write to dest itself instead of DEST/HOSTNAME/SRC."),
    ArgSpec::new("fail_on_missing", ArgKind::Bool).default("yes").help("Fail when src does not exist (or is a folder); otherwise just say so."),
    ArgSpec::new("validate_checksum", ArgKind::Bool).default("yes").help("Check that the fetched file's checksum matches the host's."),
])
.changes(&["controller copy"]);

#[async_trait::async_trait]
impl Module for Fetch {
    fn name(&self) -> &'static str {
        "fetch"
    }
    fn summary(&self) -> &'static str {
        "Copy a file from the host to the controller"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Check mode is supported: it reports whether the controller's copy would change without writing it (Ansible \
         skips fetch in check mode). Results carry `checksum`/`remote_checksum` (sha1) but not the legacy md5 keys. \
         A src that would land outside DEST/HOSTNAME (through '..') is refused."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let src = args.req("src")?;
        let fail_on_missing = args.bool("fail_on_missing");
        // Fetch always follows symlinks.
        let st = remote_file::probe(ctx, src, Want { content_up_to: 0, sha1: true, follow: true }).await?;
        let problem = if !st.exists || st.is_link() {
            Some("the remote file does not exist, not transferring, ignored".to_string())
        } else if st.is_dir() {
            Some(format!(
                "remote file is a directory, fetch cannot work on directories{}",
                if fail_on_missing { "" } else { ", not transferring, ignored" }
            ))
        } else if st.sha1.is_none() {
            Some(format!("File is not readable: {src}"))
        } else {
            None
        };
        if let Some(msg) = problem {
            if fail_on_missing || st.sha1.is_none() && st.exists && !st.is_dir() {
                return Err(ModuleError::failed(msg).with("file", src));
            }
            return Ok(Plan::unchanged().msg(msg).with("file", src));
        }
        let remote_sum = st.sha1.clone().unwrap_or_default();
        let dest = local_dest(ctx, args, src)?;
        let local_sum = std::fs::read(&dest).ok().map(|b| sha1_hex(&b));
        let dest_s = dest.display().to_string();
        if local_sum.as_deref() == Some(remote_sum.as_str()) {
            return Ok(Plan::unchanged().with("file", src).with("dest", dest_s).with("checksum", remote_sum));
        }
        let d = Diff {
            before_header: dest_s.clone(),
            after_header: dest_s.clone(),
            before: local_sum.map(|s| format!("sha1: {s}\n")).unwrap_or_default(),
            after: format!("sha1: {remote_sum} (from {}:{src})\n", ctx.host),
        };
        Ok(Plan::unchanged().with("dest", dest_s.as_str()).with("remote_checksum", remote_sum.as_str()).change(Change::new(
            "controller copy",
            d,
            Step::Module,
        )))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        let src = args.req("src")?;
        let remote_sum = plan.result.get("remote_checksum").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let dest = local_dest(ctx, args, src)?;
        let dest_s = dest.display().to_string();
        let out = ctx.read_ok(&format!("cat -- {}", quote(src)), &format!("reading {src}")).await?;
        let new_sum = sha1_hex(&out.stdout);
        if args.bool("validate_checksum") && new_sum != remote_sum {
            return Err(ModuleError::failed("checksum mismatch")
                .with("file", src)
                .with("dest", dest_s)
                .with("checksum", new_sum)
                .with("remote_checksum", remote_sum));
        }
        write_local(&dest, &out.stdout).map_err(|e| ModuleError::failed(format!("Failed to fetch the file to {dest_s}: {e}")))?;
        Ok(Outcome::from_plan(&plan).with("checksum", new_sum))
    }
}

/// Where the file goes on the controller.
fn local_dest(ctx: &ModuleCtx<'_>, args: &Args, src: &str) -> Result<PathBuf, ModuleError> {
    let dest = args.req("dest")?;
    let base = |p: &str| -> PathBuf {
        let p = PathBuf::from(p);
        if p.is_absolute() { p } else { ctx.task.base_dir().join(p) }
    };
    if args.bool("flat") {
        let mut d = base(dest);
        if dest.ends_with('/') {
            d = d.join(src.trim_end_matches('/').rsplit('/').next().unwrap_or(src));
            if d.is_dir() {
                return Err(ModuleError::Args(format!(
                    "calculated dest '{}' is an existing directory, use another path that does not point to an existing directory",
                    d.display()
                )));
            }
        } else if d.is_dir() {
            return Err(ModuleError::Args("dest is an existing directory, use a trailing slash if you want to fetch src into that directory".into()));
        }
        return Ok(normalize(&d));
    }
    let root = normalize(&base(dest).join(ctx.host));
    let d = normalize(&root.join(src.trim_start_matches('/')));
    if !d.starts_with(&root) || d == root {
        return Err(ModuleError::Args(format!("src '{src}' would be written outside {}", root.display())));
    }
    Ok(d)
}

/// Lexical normalisation (Python's os.path.normpath): `.` and `..` resolved without touching the disk.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Write atomically on the controller too: a temp file beside dest, renamed over it.
fn write_local(dest: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, data)?;
    // A temp file is private; the fetched file gets the usual 0644.
    tmp.as_file().set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
    tmp.as_file().sync_all()?;
    tmp.persist(dest).map_err(|e| e.error)?;
    Ok(())
}
