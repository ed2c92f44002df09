//! slurp: read a file from the host and return its content base64-encoded (binary-safe), in one round trip.
//! Never changes anything.

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};
use crate::transport::quote::quote;

pub struct Slurp;

static SPEC: ModuleSpec = ModuleSpec::new(&[ArgSpec::new("src", ArgKind::Path).required().aliases(&["path"]).help("The file to read.")]);

#[async_trait::async_trait]
impl Module for Slurp {
    fn name(&self) -> &'static str {
        "slurp"
    }
    fn summary(&self) -> &'static str {
        "Read a file from the host, returned base64-encoded in `content`"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let src = args.req("src")?;
        // Exit codes tell the failures apart (Ansible's messages are per errno).
        let script = format!(
            "p={}; if [ -d \"$p\" ]; then exit 21; elif [ ! -e \"$p\" ]; then exit 2; elif [ ! -r \"$p\" ]; then exit 13; fi; base64 -w0 < \"$p\"",
            quote(src)
        );
        let out = ctx.read(&script).await?;
        let msg = match out.rc() {
            0 => return Ok(Plan::unchanged().with("content", out.stdout_text().trim()).with("source", src).with("encoding", "base64")),
            2 => format!("File not found: {src}"),
            13 => format!("File is not readable: {src}"),
            21 => format!("Source is a directory and must be a file: {src}"),
            _ => format!("Unable to slurp file: {src}: {}", out.stderr_text().trim()),
        };
        Err(ModuleError::failed(msg))
    }
}
