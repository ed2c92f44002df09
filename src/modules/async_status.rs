//! async_status: read (or clean up) a background job that a command, shell or script task started with
//! `async: N` and `poll: 0` (see `commands::start_job`): its exit code, times and output, as Ansible's
//! async_status returns the job's result once it has finished.

use serde_json::Value;

use super::commands::JOBS_DIR;
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, CheckMode, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step, lines};
use crate::transport::quote::quote;

pub struct AsyncStatus;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("jid", ArgKind::Str).required().help("The job's id (`ansible_job_id` of the task that started it)."),
    ArgSpec::new("mode", ArgKind::Str).choices(&["status", "cleanup"]).default("status").help("Read the job, or remove its files."),
])
.check_mode(CheckMode::None)
.changes(&["cleanup", "finished"]);

/// `delta` from a job's `start` and `end` (both `%Y-%m-%d %H:%M:%S%.6f`, as command writes them).
fn job_delta(start: &str, end: &str) -> String {
    let parse = |s: &str| jiff::civil::DateTime::strptime("%Y-%m-%d %H:%M:%S%.f", s.trim()).ok();
    match (parse(start), parse(end)) {
        (Some(a), Some(b)) => super::commands::format_delta(b.duration_since(a).unsigned_abs()),
        _ => String::new(),
    }
}

/// Separates the parts of the status probe's output.
const SEP: &str = "--hlprov-job--";

/// A job id as start_job makes them (no '/' or shell characters reach a path).
fn valid_jid(jid: &str) -> bool {
    !jid.is_empty() && jid.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
}

#[async_trait::async_trait]
impl Module for AsyncStatus {
    fn name(&self) -> &'static str {
        "async_status"
    }
    fn summary(&self) -> &'static str {
        "Read the result of a background job (`async` with `poll: 0`), or clean it up"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Jobs are those of command, shell and script (the only modules hlprov runs in the background). A finished \
         job's result is the command's (rc, stdout, stderr, start, end, delta, cmd), changed=true as Ansible reports \
         it. Skipped in check mode, where no job was started."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let jid = args.req("jid")?;
        if !valid_jid(jid) {
            return Err(ModuleError::Args(format!("'{jid}' is not a job id")));
        }
        let base = |p: Plan| p.with("ansible_job_id", jid);
        if args.req("mode")? == "cleanup" {
            let d = Diff { before_header: "job".into(), after_header: "job".into(), before: format!("{jid}\n"), after: String::new() };
            return Ok(base(Plan::unchanged()).with("started", false).with("finished", false).change(Change::new("cleanup", d, Step::Module)));
        }
        let q = |ext: &str| format!("{JOBS_DIR}/{}", quote(&format!("{jid}.{ext}")));
        let script = format!(
            "[ -e {cmd} ] || exit 3; echo \"$HOME/.ansible_async/{j}\"; echo {SEP}; cat {cmd}; echo; echo {SEP}; \
             [ -f {rc} ] || exit 0; cat {rc}; echo {SEP}; base64 -w0 {out}; echo; echo {SEP}; base64 -w0 {err}",
            cmd = q("cmd"),
            rc = q("rc"),
            out = q("out"),
            err = q("err"),
            j = quote(jid)
        );
        let out = ctx.read(&script).await?;
        if out.rc() == 3 {
            return Err(ModuleError::failed(format!("could not find job {jid}"))
                .with("ansible_job_id", jid)
                .with("started", true)
                .with("finished", true));
        }
        let text = out.stdout_text();
        let parts: Vec<&str> = text.split(&format!("{SEP}\n")).collect();
        let results_file = parts.first().map(|s| s.trim_end()).unwrap_or_default();
        let cmd = parts.get(1).map(|s| s.strip_suffix('\n').unwrap_or(s)).unwrap_or_default();
        let cmd: Value = serde_json::from_str(cmd).unwrap_or_else(|_| Value::String(cmd.to_string()));
        let plan = base(Plan::unchanged()).with("results_file", results_file).with("started", true);
        let [_, _, rc_times, stdout, stderr] = parts.as_slice() else {
            // Still running: no result yet.
            return Ok(plan
                .with("finished", false)
                .with("stdout", "")
                .with("stderr", "")
                .with("stdout_lines", lines(""))
                .with("stderr_lines", lines("")));
        };
        let decode = |b: &str| -> String {
            use base64::Engine as _;
            let bytes = base64::engine::general_purpose::STANDARD.decode(b.trim()).unwrap_or_default();
            String::from_utf8_lossy(&bytes).trim_end_matches(['\n', '\r']).to_string()
        };
        let (stdout, stderr) = (decode(stdout), decode(stderr));
        let mut f = rc_times.lines();
        let rc: i64 = f.next().and_then(|r| r.trim().parse().ok()).unwrap_or(-1);
        let (start, end) = (f.next().unwrap_or_default().to_string(), f.next().unwrap_or_default().to_string());
        let delta = job_delta(&start, &end);
        let plan = plan
            .with("finished", true)
            .with("delta", delta)
            .with("cmd", cmd)
            .with("rc", rc)
            .with("stdout_lines", lines(&stdout))
            .with("stderr_lines", lines(&stderr))
            .with("stdout", stdout)
            .with("stderr", stderr)
            .with("start", start)
            .with("end", end);
        if rc != 0 {
            // timeout(1) ends a job over its time with 124.
            let msg = if rc == 124 { "async task did not complete within the requested time" } else { "non-zero return code" };
            let mut e = ModuleError::failed(msg).after_change();
            if let ModuleError::Failed(f) = &mut e {
                f.data = plan.result;
            }
            return Err(e);
        }
        // The job's own result, as Ansible reports it: a command that ran is a change.
        let d = Diff { before_header: "job".into(), after_header: "job".into(), before: String::new(), after: format!("{jid} finished\n") };
        Ok(plan.msg("").change(Change::new("finished", d, Step::Module)))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        if args.req("mode")? == "status" {
            // A finished job: its command made the change; reading it makes none.
            return Ok(Outcome::from_plan(&plan));
        }
        let jid = args.req("jid")?;
        let out = ctx.write_ok(&format!("rm -f -- {JOBS_DIR}/{jid}.*; printf '%s' \"$HOME/.ansible_async/{jid}\""), None, "removing the job").await?;
        // Removing a job's files is not a change of the host's state (Ansible reports changed=false).
        let mut o = Outcome::from_plan(&plan).with("erased", out.stdout_text());
        o.changed = false;
        Ok(o)
    }
}
