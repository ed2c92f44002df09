//! wait_for_connection: wait until the host answers over its connection (a VM or LXC container just created,
//! a host coming back from elsewhere), as Ansible's action does: try to connect and run a command, each try
//! with its own time limit, until one works or the timeout passes. Skipped in check mode, as in Ansible.

use std::time::{Duration, Instant};

use super::{ApplyCtx, ArgKind, ArgSpec, Args, CheckMode, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};

pub struct WaitForConnection;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("connect_timeout", ArgKind::Int).default("5").help("Seconds one try may take."),
    ArgSpec::new("delay", ArgKind::Int).default("0").help("Seconds to wait before the first try."),
    ArgSpec::new("sleep", ArgKind::Int).default("1").help("Seconds between tries."),
    ArgSpec::new("timeout", ArgKind::Int).default("600").help("Seconds to keep trying."),
])
.check_mode(CheckMode::None);

#[async_trait::async_trait]
impl Module for WaitForConnection {
    fn name(&self) -> &'static str {
        "wait_for_connection"
    }
    fn summary(&self) -> &'static str {
        "Wait until the host can be reached and runs a command"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "The test is a command run through the host's connection (`echo pong`), where Ansible runs its ping module."
    }
    async fn plan(&self, _ctx: &ModuleCtx<'_>, _args: &Args) -> Result<Plan, ModuleError> {
        // Nothing is read here: the host may not answer yet. The waiting is a step that changes nothing.
        Ok(Plan::unchanged().before(Step::Module))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, _plan: Plan) -> Result<Outcome, ModuleError> {
        let secs = |k: &str, d: i64| Duration::from_secs(args.int(k).unwrap_or(d).max(0) as u64);
        let (try_limit, sleep, timeout) = (secs("connect_timeout", 5).max(Duration::from_secs(1)), secs("sleep", 1), secs("timeout", 600));
        let start = Instant::now();
        tokio::time::sleep(secs("delay", 0)).await;
        let end = Instant::now() + timeout;
        let quick = ctx.with_timeout(Some(try_limit));
        let mut last = String::from("no try was made");
        while Instant::now() < end {
            // Each try's command has `try_limit` as its own time limit (the connection cleans up after it);
            // this outer limit only guards connecting, which has a limit of its own too.
            match tokio::time::timeout(try_limit + Duration::from_secs(15), quick.read("echo pong")).await {
                Ok(Ok(out)) if out.stdout_text().trim() == "pong" => return Ok(Outcome::ok().with("elapsed", start.elapsed().as_secs())),
                Ok(Ok(out)) => last = format!("the test command failed (rc={}): {}", out.rc(), out.stderr_text().trim()),
                Ok(Err(e)) => last = e.to_string(),
                Err(_) => last = format!("no answer within {} s", try_limit.as_secs()),
            }
            tokio::time::sleep(sleep.min(end.saturating_duration_since(Instant::now()))).await;
        }
        Err(ModuleError::failed(format!("timed out waiting for ping module test: {last}")).with("elapsed", start.elapsed().as_secs()))
    }
}
