//! `hlprov run` and `hlprov ping`: one module against hosts, ad hoc. This is a one-task play run by the same
//! executor as playbooks, printed the way `ansible HOSTS -m MODULE -a ARGS` prints.

use std::io::Write;
use std::sync::{Arc, Mutex};

use clap::Args;
use serde_json::Value;

use super::common::{self, ConnArgs, Output, OutputArgs};
use crate::exec::{self, RunOptions};
use crate::report::{Event, Reporter, Sink, Status, json::JsonLines};

#[derive(Args, Debug)]
pub struct RunArgs {
    /// Host pattern (e.g. all, k3s_servers, 'w*:!w3')
    pub pattern: String,
    /// Module to run
    #[arg(short = 'm', long = "module-name", default_value = "command", value_name = "MODULE")]
    pub module: String,
    /// Module arguments: free form for command/shell ('uname -a'), key=value, or JSON
    #[arg(short = 'a', long = "args", default_value = "", value_name = "ARGS")]
    pub args: String,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Change nothing; report what would change
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show differences
    #[arg(short = 'D', long)]
    pub diff: bool,
}

#[derive(Args, Debug)]
pub struct PingArgs {
    /// Host pattern
    #[arg(default_value = "all")]
    pub pattern: String,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn ping(a: PingArgs) -> i32 {
    run(RunArgs { pattern: a.pattern, module: "ping".into(), args: String::new(), conn: a.conn, out: a.out, check: false, diff: false }).await
}

/// The one-task playbook, as YAML (JSON strings are valid YAML scalars).
fn adhoc_playbook(pattern: &str, module: &str, args: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let args_yaml = if args.trim().starts_with('{') { args.to_string() } else { q(args) };
    format!(
        "- name: ad hoc\n  hosts: {}\n  gather_facts: false\n  tasks:\n    - name: {}\n      {}: {}\n",
        q(pattern),
        q(module),
        module,
        if args.trim().is_empty() { "{}".into() } else { args_yaml }
    )
}

pub async fn run(a: RunArgs) -> i32 {
    if crate::modules::registry::find(&a.module).is_none() {
        return common::bad_input(format!("unknown module '{}' (see `hlprov modules`)", a.module));
    }
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return common::bad_input(e),
    };
    let path = dir.path().join("adhoc.yml");
    if let Err(e) = std::fs::write(&path, adhoc_playbook(&a.pattern, &a.module, &a.args)) {
        return common::bad_input(e);
    }
    let pb = match crate::playbook::load(&path, &Default::default()) {
        Ok(pb) => pb,
        Err(e) => return common::bad_input(format!("-m {} -a {:?}: {}", a.module, a.args, e.msg)),
    };
    let inventory = match a.conn.load_inventory() {
        Ok(i) => i,
        Err(e) => return common::bad_input(e),
    };
    let extra_vars = match a.conn.extra_vars() {
        Ok(v) => v,
        Err(e) => return common::bad_input(e),
    };
    let mut reporter = Reporter::default();
    match a.out.output {
        Output::Text => reporter.add(Arc::new(AdhocText::new(a.conn.verbose))),
        Output::Json => reporter.add(Arc::new(JsonLines::stdout())),
    }
    if let Some(p) = &a.out.junit {
        reporter.add(Arc::new(crate::report::junit::Junit::new(p.clone())));
    }
    for w in inventory.warnings() {
        reporter.warn(w);
    }
    let opts = RunOptions {
        check: a.check,
        diff: a.diff,
        forks: a.conn.forks.max(1),
        limit: a.conn.limit.clone(),
        extra_vars,
        verbosity: a.conn.verbose,
        connect: a.conn.connect_options(),
        escalate: a.conn.escalate,
        become_user: a.conn.become_user.clone(),
        task_timeout: a.conn.timeout,
        ..Default::default()
    };
    common::install_interrupt(opts.interrupt.clone());
    match exec::run_playbook(Arc::new(pb), Arc::new(inventory), opts, reporter).await {
        Ok(summary) => {
            if a.conn.verbose >= 2 {
                let counts: Vec<String> = summary.connections.iter().map(|(h, n)| format!("{h}={n}")).collect();
                eprintln!("connections opened: {}", counts.join(" "));
            }
            summary.exit_code
        }
        Err(e) => common::bad_input(e),
    }
}

/// Ad-hoc output in Ansible's shape: `host | CHANGED | rc=0 >>` + output for commands, JSON otherwise.
struct AdhocText {
    verbosity: u8,
    out: Mutex<std::io::Stdout>,
}

impl AdhocText {
    fn new(verbosity: u8) -> AdhocText {
        AdhocText { verbosity, out: Mutex::new(std::io::stdout()) }
    }
}

impl Sink for AdhocText {
    fn event(&self, e: &Event) {
        let text = match e {
            Event::TaskResult(r) => {
                let word = match r.status {
                    Status::Ok | Status::Skipped => "SUCCESS",
                    Status::Changed => "CHANGED",
                    Status::Failed | Status::Ignored => "FAILED",
                    Status::Unreachable => "UNREACHABLE!",
                };
                let is_command = r.result.get("rc").is_some() && r.result.get("stdout").is_some() && r.status != Status::Unreachable;
                if is_command {
                    let field = |k: &str| r.result.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                    let mut s = format!("{} | {} | rc={} >>\n{}", r.host, word, r.result["rc"], field("stdout"));
                    let err = field("stderr");
                    if !err.is_empty() {
                        s.push_str(&format!("\n{err}"));
                    }
                    if r.status == Status::Failed && r.result.get("rc").and_then(Value::as_i64) == Some(0) {
                        s.push_str(&format!("\n{}", r.msg.clone().unwrap_or_default()));
                    }
                    s
                } else {
                    let word = if r.status == Status::Failed { "FAILED!" } else { word };
                    format!("{} | {} => {}", r.host, word, serde_json::to_string_pretty(&r.result).unwrap_or_default())
                }
            }
            Event::Warning { msg } => {
                eprintln!("[WARNING]: {msg}");
                return;
            }
            Event::RunEnd { stats, duration_ms, .. } if self.verbosity >= 1 => {
                let failed = stats.iter().filter(|(_, s)| s.failed > 0).count();
                let unreachable = stats.iter().filter(|(_, s)| s.unreachable > 0).count();
                eprintln!("{} host(s): {failed} failed, {unreachable} unreachable, in {:.1}s", stats.len(), *duration_ms as f64 / 1000.0);
                return;
            }
            _ => return,
        };
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "{text}");
    }
}
