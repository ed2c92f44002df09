//! Options shared by the commands that reach hosts, and turning them into library settings.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::exec::ConnectOptions;
use crate::inventory::Inventory;
use crate::report::{Reporter, json::JsonLines, junit::Junit, text::Text};
use crate::transport::HostKeyPolicy;
use crate::vars::Vars;

#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Inventory file, folder or comma-separated host list (repeatable); default $HLPROV_INVENTORY
    #[arg(short = 'i', long = "inventory", value_name = "SOURCE", env = "HLPROV_INVENTORY", value_delimiter = None)]
    pub inventory: Vec<PathBuf>,
    /// Narrow the hosts further with a pattern (e.g. 'k3s_servers:!w3', or @file)
    #[arg(short = 'l', long, value_name = "PATTERN")]
    pub limit: Option<String>,
    /// How many hosts to work on at once
    #[arg(short = 'f', long, default_value_t = 100, value_name = "N")]
    pub forks: usize,
    /// Login user when the inventory does not set ansible_user
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// SSH private key when the inventory does not set ansible_ssh_private_key_file
    #[arg(long = "private-key", value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// Escalate privileges with sudo (like Ansible's --become)
    #[arg(short = 'b', long = "become")]
    pub escalate: bool,
    /// User to become (default root)
    #[arg(long = "become-user", value_name = "USER")]
    pub become_user: Option<String>,
    /// Extra variables: key=value, JSON/YAML, or @file (repeatable; they win over everything)
    #[arg(short = 'e', long = "extra-vars", value_name = "VARS")]
    pub extra_vars: Vec<String>,
    /// Host key checking: strict (default), accept-new (trust on first use, recorded) or off
    #[arg(long = "host-key-checking", value_enum, value_name = "MODE")]
    pub host_key_checking: Option<HostKeyPolicy>,
    /// known_hosts file(s) to check host keys against (default ~/.ssh/known_hosts)
    #[arg(long = "known-hosts", value_name = "FILE")]
    pub known_hosts: Vec<PathBuf>,
    /// Seconds to wait for an SSH connection
    #[arg(long = "connect-timeout", value_name = "SECONDS")]
    pub connect_timeout: Option<u64>,
    /// Time limit for each task, in seconds (a task's own `timeout:` wins)
    #[arg(long = "timeout", value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// More output: -v shows results, -vv task paths and connection counts
    #[arg(short = 'v', long = "verbose", action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// Output format: text for people, json for CI (one JSON event per line)
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Also write a JUnit XML report to FILE
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

impl ConnArgs {
    pub fn connect_options(&self) -> ConnectOptions {
        ConnectOptions {
            user: self.user.clone(),
            private_key: self.private_key.clone(),
            host_key_checking: self.host_key_checking,
            known_hosts: self.known_hosts.clone(),
            connect_timeout: self.connect_timeout.map(Duration::from_secs),
            connect_retries: None,
            become_password: std::env::var("HLPROV_BECOME_PASSWORD").ok().filter(|p| !p.is_empty()).map(crate::redact::Secret::new),
        }
    }

    pub fn load_inventory(&self) -> Result<Inventory, String> {
        let sources: Vec<PathBuf> = self
            .inventory
            .iter()
            .flat_map(|p| {
                // HLPROV_INVENTORY may hold several sources separated by ':' like a PATH.
                let s = p.to_string_lossy();
                if s.contains(':') && !p.exists() && !s.contains(',') { s.split(':').map(PathBuf::from).collect::<Vec<_>>() } else { vec![p.clone()] }
            })
            .collect();
        Inventory::load(&sources).map_err(|e| e.to_string())
    }

    pub fn extra_vars(&self) -> Result<Vars, String> {
        let mut out = Vars::new();
        for raw in &self.extra_vars {
            let raw = raw.trim();
            let doc = if let Some(file) = raw.strip_prefix('@') {
                let path = PathBuf::from(file);
                crate::vars_file::load(&path).map_err(|e| format!("-e @{file}: {e}"))?.vars
            } else if raw.starts_with('{') || raw.starts_with("---") {
                crate::vars_file::from_node(&crate::yaml::load_one(raw, "-e").map_err(|e| e.to_string())?).map_err(|e| e.to_string())?.vars
            } else {
                let mut m = Vars::new();
                for (k, v) in crate::modules::args::parse_kv(raw).map_err(|e| format!("-e {raw}: {e}"))? {
                    m.insert(k, serde_json::Value::String(v));
                }
                m
            };
            out.extend(doc);
        }
        Ok(out)
    }
}

/// Sinks for the chosen output.
pub fn reporter(out: &OutputArgs, verbosity: u8) -> Reporter {
    let mut r = Reporter::default();
    match out.output {
        Output::Text => r.add(Arc::new(Text::new(verbosity))),
        Output::Json => r.add(Arc::new(JsonLines::stdout())),
    }
    if let Some(path) = &out.junit {
        r.add(Arc::new(Junit::new(path.clone())));
    }
    r
}

/// Print an error for bad input and return exit code 4.
pub fn bad_input(msg: impl std::fmt::Display) -> i32 {
    eprintln!("error: {}", crate::redact::redact(&msg.to_string()));
    crate::exec::exit::BAD_INPUT
}

/// Ctrl-C: the first starts no new task and lets running ones finish; the second abandons running tasks except
/// critical sections (package installs, file writes, restarts, reboots), which finish; a third exits at once.
pub fn install_interrupt(interrupt: crate::exec::Interrupt) {
    use crate::exec::describe_running;
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        interrupt.stop();
        eprintln!(
            "\nInterrupted: no new tasks will start; running tasks finish: {}. Ctrl-C again to abort (critical sections still finish).",
            describe_running(&interrupt.running())
        );
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        interrupt.kill();
        let left = interrupt.left_running();
        if left.is_empty() {
            eprintln!("Aborted.");
        } else {
            eprintln!(
                "Aborting: tasks safe to stop are stopped; critical sections finish first: {}. Ctrl-C a third time to exit now.",
                describe_running(&left)
            );
        }
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Exited: critical sections may still be running on their hosts.");
            std::process::exit(crate::exec::exit::INTERRUPTED);
        }
    });
}
