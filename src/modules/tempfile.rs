//! tempfile: create a uniquely named file or folder (mktemp on the host) and return its path. Every run makes
//! a new one, so it always reports a change, and, as Ansible's module, it is skipped in check mode.

use super::helpers::remote_file::{self, Want};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, CheckMode, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct Tempfile;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("state", ArgKind::Str).choices(&["file", "directory"]).default("file").help("Create a file or a folder."),
    ArgSpec::new("path", ArgKind::Path).help("The folder to create it in (default: $TMPDIR or /tmp on the host)."),
    ArgSpec::new("prefix", ArgKind::Str).default("ansible.").help("Start of the name."),
    ArgSpec::new("suffix", ArgKind::Str).default("").help("End of the name."),
])
.check_mode(CheckMode::None)
.changes(&["create"]);

#[async_trait::async_trait]
impl Module for Tempfile {
    fn name(&self) -> &'static str {
        "tempfile"
    }
    fn summary(&self) -> &'static str {
        "Create a temporary file or folder with a unique name and return its path"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "The name is mktemp's: PREFIX, ten random characters, SUFFIX (Ansible's has eight)."
    }
    async fn plan(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let state = args.req("state")?;
        let (prefix, suffix) = (args.req("prefix")?, args.req("suffix")?);
        if prefix.contains('/') || suffix.contains('/') {
            return Err(ModuleError::Args("prefix and suffix must not contain '/'".into()));
        }
        let d = remote_file::property_diff("tempfile", &[("state", "absent".into())], &[("state", state.to_string())]);
        Ok(Plan::unchanged().change(Change::new("create", d, Step::Module)))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        let dir = match args.str("path") {
            Some(p) => quote(p),
            None => "\"${TMPDIR:-/tmp}\"".to_string(),
        };
        let flag = if args.req("state")? == "directory" { "-d " } else { "" };
        let template = format!("{}XXXXXXXXXX", args.req("prefix")?);
        let script = format!("mktemp {flag}--tmpdir={dir} --suffix={} {}", quote(args.req("suffix")?), quote(&template));
        let out = ctx.write(&script, None).await?;
        if !out.success() {
            return Err(ModuleError::failed(out.stderr_text().trim().to_string()));
        }
        let path = out.stdout_text().trim_end_matches('\n').to_string();
        let st = remote_file::probe(ctx, &path, Want::default()).await?;
        let mut o = Outcome::from_plan(&plan).with("path", path.as_str());
        o.data.extend(remote_file::path_info(&st));
        Ok(o)
    }
}
