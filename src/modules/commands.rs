//! command, shell, raw and script: run something on the host. They always report changed (Ansible does the
//! same) unless `creates`/`removes` show there is nothing to do. What a command will do cannot be known ahead,
//! so their plans are "run it" (with only the guard checked while planning); check mode reports a run that a
//! guard decided, and skips the others.

use std::time::Instant;

use serde_json::Value;

use super::args::shell_words;
use super::helpers::host::output_marker;
use super::{
    ApplyCtx, ArgKind, ArgSpec, Args, Change, CheckMode, Diff, FileKind, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step, lines,
    timestamp,
};
use crate::transport::quote::{glob, join, quote};

pub struct Command;
pub struct Shell;
pub struct Raw;
pub struct Script;

const COMMON: [ArgSpec; 6] = [
    ArgSpec::new("chdir", ArgKind::Path).help("Change into this folder first."),
    ArgSpec::new("creates", ArgKind::Path).help("A path or glob; if it exists, do not run."),
    ArgSpec::new("removes", ArgKind::Path).help("A path or glob; if it does not exist, do not run."),
    ArgSpec::new("stdin", ArgKind::Str).help("Feed this text to the command's standard input."),
    ArgSpec::new("stdin_add_newline", ArgKind::Bool).default("yes").help("Append a newline to stdin."),
    ArgSpec::new("strip_empty_ends", ArgKind::Bool).default("yes").help("Strip trailing newlines from stdout and stderr."),
];

static COMMAND_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("cmd", ArgKind::Str).help("The command line, split into words like a shell would (no shell features)."),
    ArgSpec::new("argv", ArgKind::List).help("The command as a list of words (instead of cmd)."),
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    COMMON[5],
    ArgSpec::new("expand_argument_vars", ArgKind::Bool)
        .default("yes")
        .help("Accepted for Ansible compatibility; hlprov never expands variables in arguments."),
    ArgSpec::new("executable", ArgKind::Path)
        .help("Accepted and ignored with a warning, as Ansible does since 2.4 (command runs no shell; use shell for that)."),
])
.free_form("cmd")
.mutually_exclusive(&[&["cmd", "argv"]])
.required_one_of(&[&["cmd", "argv"]])
.check_mode(CheckMode::Guarded)
.changes(RUN);

/// The one kind of change these modules make.
const RUN: &[&str] = &["run"];

static SHELL_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("cmd", ArgKind::Str).required().help("A shell script line, run by /bin/sh (or `executable`)."),
    ArgSpec::new("executable", ArgKind::Path).help("The shell to run it with, e.g. /bin/bash."),
    COMMON[0],
    COMMON[1],
    COMMON[2],
    COMMON[3],
    COMMON[4],
    COMMON[5],
])
.free_form("cmd")
.check_mode(CheckMode::Guarded)
.changes(RUN);

static RAW_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("cmd", ArgKind::Str).required().help("Sent to the host as it is."),
    ArgSpec::new("executable", ArgKind::Path).help("The shell to run it with."),
])
.free_form("cmd")
.check_mode(CheckMode::None)
.changes(RUN);

static SCRIPT_SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("cmd", ArgKind::Str).required().help("A controller-side script path followed by its arguments."),
    ArgSpec::new("executable", ArgKind::Path).help("Run the script with this interpreter."),
    COMMON[0],
    COMMON[1],
    COMMON[2],
])
.free_form("cmd")
.check_mode(CheckMode::Guarded)
.changes(RUN);

/// Printed instead of running when `creates`/`removes` say there is nothing to do.
fn skip_marker() -> String {
    output_marker("skip")
}

/// The shell lines that stop early when `creates` exists or `removes` does not.
fn guard(args: &Args) -> String {
    let mut s = String::new();
    let skip = format!("{{ printf '%s' {}; exit 0; }}", skip_marker());
    if let Some(c) = args.str("creates") {
        s.push_str(&format!("for __f in {}; do [ -e \"$__f\" ] && {skip}; done; ", glob(c)));
    }
    if let Some(r) = args.str("removes") {
        s.push_str(&format!("__found=; for __f in {}; do [ -e \"$__f\" ] && __found=1; done; [ -z \"$__found\" ] && {skip}; ", glob(r)));
    }
    s
}

/// Printed when `chdir` fails, so that the failure is told apart from the command's own.
fn chdir_marker() -> String {
    output_marker("chdir")
}

fn chdir(args: &Args) -> String {
    match args.str("chdir") {
        Some(d) => format!("cd {} || {{ printf '%s' {}; exit 1; }}; ", quote(d), chdir_marker()),
        None => String::new(),
    }
}

fn skipped_reason(args: &Args) -> String {
    match (args.str("creates"), args.str("removes")) {
        (Some(c), _) => format!("Did not run command since '{c}' exists"),
        (_, Some(r)) => format!("Did not run command since '{r}' does not exist"),
        _ => "Did not run command".into(),
    }
}

/// What a command task runs, as planned.
struct Run {
    body: String,
    display: Value,
    stdin: Option<Vec<u8>>,
}

/// What Ansible says of a command in check mode.
const WOULD_RUN: &str = "Command would have run if not in check mode";

/// Plan running `body` under the creates/removes guard: nothing if the guard says so, otherwise one change
/// (decided by the guard, or unpredictable when there is none).
async fn plan_guarded(ctx: &ModuleCtx<'_>, args: &Args, body: String, display: Value, stdin: Option<Vec<u8>>) -> Result<Plan, ModuleError> {
    let guarded = args.has("creates") || args.has("removes");
    if guarded {
        // The guard alone first, as a probe: on a re-run it says skip, and the command needs no session of its own.
        let out = ctx.read(&format!("{}printf run", guard(args))).await?;
        if out.stdout_text() == skip_marker() {
            return Ok(skipped_plan(args, display));
        }
    }
    let shown = match &display {
        Value::String(s) => s.clone(),
        other => other.as_array().map(|a| a.iter().map(|w| w.as_str().unwrap_or_default()).collect::<Vec<_>>().join(" ")).unwrap_or_default(),
    };
    let d = Diff { before_header: "command".into(), after_header: "command".into(), before: String::new(), after: format!("run: {shown}\n") };
    let mut plan = Plan::unchanged().msg(WOULD_RUN).with("cmd", display.clone()).change(Change::new("run", d, Step::Module));
    plan.unpredictable = !guarded;
    Ok(plan.keep(Run { body, display, stdin }))
}

fn skipped_plan(args: &Args, display: Value) -> Plan {
    Plan::unchanged().msg(skipped_reason(args)).with("cmd", display).with("rc", 0).with("stdout", "").with("stderr", "")
}

/// Run the planned command, with the guard again (the path may have appeared since), chdir and stdin.
async fn run_planned(ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
    let run: Run = plan.take_found().ok_or_else(|| ModuleError::Internal("command: plan without its command".into()))?;
    if let Some(limit) = ctx.background {
        return start_job(ctx, args, run, limit).await;
    }
    let guarded = args.has("creates") || args.has("removes");
    let script = format!("{}{}{}", guard(args), chdir(args), run.body);
    let started = Instant::now();
    let start = timestamp();
    let out = ctx.write(&script, run.stdin.as_deref()).await?;
    if guarded && out.success() && out.stdout_text() == skip_marker() {
        return Ok(Outcome::from_plan(&skipped_plan(args, run.display)));
    }
    if out.rc() == 1 && out.stdout_text() == chdir_marker() {
        // As Ansible: nothing ran, so no rc; the shell's own words say why.
        let why = out.stderr_text().trim().to_string();
        return Err(ModuleError::failed(format!("Unable to change directory before execution: {why}"))
            .with("cmd", run.display)
            .with("stdout", "")
            .with("stderr", why));
    }
    command_result(out, run.display, started, start, args.bool("strip_empty_ends"))
}

/// Where background jobs keep their files on the host, as Ansible's async wrapper does.
pub const JOBS_DIR: &str = "\"$HOME/.ansible_async\"";

/// Start the command as a background job (`async: N`, `poll: 0`), killed after `limit` seconds: it runs
/// detached from the session, and leaves in JOBS_DIR/JID.rc its exit code and start and end times, beside
/// its output (JID.out, JID.err) and command (JID.cmd), for `async_status` to read.
async fn start_job(ctx: &ApplyCtx<'_>, args: &Args, run: Run, limit: u64) -> Result<Outcome, ModuleError> {
    if run.stdin.is_some() {
        return Err(ModuleError::Args("stdin cannot be given to a background job (async with poll: 0)".into()));
    }
    let jid = format!("j{}.{}", rand::random::<u32>() % 1_000_000_000, std::process::id());
    let cmd = match &run.display {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    };
    let now = "$(date '+%Y-%m-%d %H:%M:%S.%6N')";
    let job = format!(
        "f=\"$1\"; start=\"{now}\"; timeout {limit} /bin/sh -c {} > \"$f.out\" 2> \"$f.err\"; rc=$?; \
         printf '%s\\n%s\\n%s\\n' \"$rc\" \"$start\" \"{now}\" > \"$f.tmp\" && mv -f \"$f.tmp\" \"$f.rc\"",
        quote(&format!("{}{}{}", guard(args), chdir(args), run.body))
    );
    // Detached (its own session, no HLPROV_CMD tag) so that the end of this command does not end the job.
    let script = format!(
        "d={JOBS_DIR}; mkdir -p \"$d\" && chmod 0700 \"$d\" && f=\"$d/{jid}\" && printf '%s' {} > \"$f.cmd\" && \
         env -u HLPROV_CMD setsid /bin/sh -c {} job \"$f\" < /dev/null > /dev/null 2>&1 & printf '%s' \"$HOME/.ansible_async/{jid}\"",
        quote(&cmd),
        quote(&job)
    );
    let out = ctx.write(&script, None).await?;
    if !out.success() {
        return Err(ModuleError::failed(format!("could not start the background job: {}", out.stderr_text().trim())));
    }
    Ok(Outcome::changed(true).with("ansible_job_id", jid).with("started", true).with("finished", false).with("results_file", out.stdout_text()))
}

/// The result keys Ansible's command-like modules register; a non-zero exit is a failure (after a change).
pub fn command_result(out: crate::transport::Output, display: Value, started: Instant, start: String, strip: bool) -> Result<Outcome, ModuleError> {
    let strip_ends = |s: String| if strip { s.trim_end_matches(['\n', '\r']).to_string() } else { s };
    let (stdout, stderr) = (strip_ends(out.stdout_text()), strip_ends(out.stderr_text()));
    let rc = out.rc();
    let o = Outcome::changed(true)
        .with("cmd", display)
        .with("rc", rc)
        .with("stdout_lines", lines(&stdout))
        .with("stderr_lines", lines(&stderr))
        .with("stdout", stdout)
        .with("stderr", stderr)
        .with("start", start)
        .with("end", timestamp())
        .with("delta", format_delta(started.elapsed()));
    let failure = match &out.status {
        crate::transport::ExitStatus::Signal(sig) => format!("killed by signal {sig}"),
        _ if rc != 0 => "non-zero return code".into(),
        _ => return Ok(o.msg("")),
    };
    let mut err = ModuleError::failed(failure).after_change();
    if let ModuleError::Failed(f) = &mut err {
        f.data = o.data;
    }
    Err(err)
}

/// A duration as Ansible's command results give `delta`: `0:00:01.002345`.
pub(crate) fn format_delta(d: std::time::Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}:{:02}.{:06}", s / 3600, (s / 60) % 60, s % 60, d.subsec_micros())
}

/// Ansible's command ignores `executable` (it runs no shell) and says so in the result's warnings.
fn executable_ignored(args: &Args) -> Option<Value> {
    let exe = args.str("executable")?;
    let w = format!("As of Ansible 2.4, the parameter 'executable' is no longer supported with the 'command' module. Not using '{exe}'.");
    Some(Value::Array(vec![Value::String(w)]))
}

fn stdin_of(args: &Args) -> Option<Vec<u8>> {
    args.str("stdin").map(|s| {
        let mut v = s.as_bytes().to_vec();
        if args.bool("stdin_add_newline") {
            v.push(b'\n');
        }
        v
    })
}

#[async_trait::async_trait]
impl Module for Command {
    fn name(&self) -> &'static str {
        "command"
    }
    fn summary(&self) -> &'static str {
        "Run a program with arguments, without a shell (no pipes, redirections or variables)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &COMMAND_SPEC
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let argv = match args.str("cmd") {
            Some(cmd) => shell_words(cmd).map_err(|e| ModuleError::Args(format!("cannot split the command line: {e}")))?,
            None => args.list("argv"),
        };
        if argv.is_empty() {
            return Err(ModuleError::Args("no command given".into()));
        }
        let display = Value::Array(argv.iter().map(|a| Value::String(a.clone())).collect());
        let plan = plan_guarded(ctx, args, format!("exec {}", join(&argv)), display, stdin_of(args)).await?;
        Ok(match executable_ignored(args) {
            Some(w) => plan.with("warnings", w),
            None => plan,
        })
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        let warning = executable_ignored(args);
        let o = run_planned(ctx, args, plan).await?;
        Ok(match warning {
            Some(w) => o.with("warnings", w),
            None => o,
        })
    }
}

#[async_trait::async_trait]
impl Module for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }
    fn summary(&self) -> &'static str {
        "Run a command line through a shell (/bin/sh by default): pipes, redirections and variables work"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SHELL_SPEC
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let cmd = args.req("cmd")?;
        let shell = args.str("executable").unwrap_or("/bin/sh");
        plan_guarded(ctx, args, format!("exec {} -c {}", quote(shell), quote(cmd)), Value::String(cmd.to_string()), stdin_of(args)).await
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        run_planned(ctx, args, plan).await
    }
}

#[async_trait::async_trait]
impl Module for Raw {
    fn name(&self) -> &'static str {
        "raw"
    }
    fn summary(&self) -> &'static str {
        "Send a command line to the host as it is (for bootstrapping); always reports changed"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &RAW_SPEC
    }
    async fn plan(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let cmd = args.req("cmd")?;
        let d = Diff { before_header: "raw".into(), after_header: "raw".into(), before: String::new(), after: format!("run: {cmd}\n") };
        Ok(Plan::unchanged().change(Change::new("run", d, Step::Module)))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, _plan: Plan) -> Result<Outcome, ModuleError> {
        let cmd = args.req("cmd")?;
        let script = match args.str("executable") {
            Some(shell) => format!("exec {} -c {}", quote(shell), quote(cmd)),
            None => cmd.to_string(),
        };
        let started = Instant::now();
        let start = timestamp();
        let out = ctx.write(&script, None).await?;
        // raw reports rc != 0 as failed, like Ansible, but keeps output unstripped (and no msg on success).
        let mut o = command_result(out, Value::String(cmd.to_string()), started, start, false)?;
        o.msg = None;
        Ok(o)
    }
}

#[async_trait::async_trait]
impl Module for Script {
    fn name(&self) -> &'static str {
        "script"
    }
    fn summary(&self) -> &'static str {
        "Copy a controller-side script to the host, run it with arguments, and remove it"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SCRIPT_SPEC
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let words = shell_words(args.req("cmd")?).map_err(|e| ModuleError::Args(format!("cannot split the command line: {e}")))?;
        let Some((script, script_args)) = words.split_first() else {
            return Err(ModuleError::Args("no script given".into()));
        };
        let path = ctx.task.find_file(FileKind::Files, script).map_err(ModuleError::Args)?;
        let content = std::fs::read(&path).map_err(|e| ModuleError::Args(format!("cannot read {}: {e}", path.display())))?;
        let run = match args.str("executable") {
            Some(exe) => format!("{} \"$__t\" {}", quote(exe), join(script_args)),
            None => format!("\"$__t\" {}", join(script_args)),
        };
        // One round trip: the script arrives on stdin, runs from a private temp file, and is removed.
        let body = format!("__t=$(mktemp) || exit 1; trap 'rm -f \"$__t\"' EXIT; cat > \"$__t\" && chmod 700 \"$__t\" && {{ {run}; }}");
        plan_guarded(ctx, args, body, Value::String(args.req("cmd")?.to_string()), Some(content)).await
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        run_planned(ctx, args, plan).await
    }
}
