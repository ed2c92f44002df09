//! ping: proves the host is reachable and can run a shell (Ansible's ping proves Python; hlprov needs none).

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome};

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
    async fn run(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        let data = args.req("data");
        if data == "crash" {
            return Ok(Outcome::failed("boom (ping asked to crash)"));
        }
        let out = ctx.read_ok("echo pong", "the ping command").await?;
        if out.stdout_text().trim() != "pong" {
            return Ok(Outcome::failed(format!("unexpected answer from the host's shell: {:?}", out.stdout_text())));
        }
        Ok(Outcome::ok().with("ping", data))
    }
}
