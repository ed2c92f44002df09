//! ping: proves the host is reachable and can run a shell (Ansible's ping proves Python; hlprov needs none).

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};

pub struct Ping;

static SPEC: ModuleSpec =
    ModuleSpec::new(&[ArgSpec::new("data", ArgKind::Str).default("pong").help("What to answer with; 'crash' fails on purpose.")]);

#[async_trait::async_trait]
impl Module for Ping {
    fn name(&self) -> &'static str {
        "ping"
    }
    fn summary(&self) -> &'static str {
        "Check that the host answers over the transport and runs a POSIX shell"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let data = args.req("data")?;
        if data == "crash" {
            return Err(ModuleError::failed("boom (ping asked to crash)"));
        }
        let out = ctx.read_ok("echo pong", "the ping command").await?;
        if out.stdout_text().trim() != "pong" {
            return Err(ModuleError::failed(format!("unexpected answer from the host's shell: {:?}", out.stdout_text())));
        }
        Ok(Plan::unchanged().with("ping", data))
    }
}
