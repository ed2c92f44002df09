//! The command line: argument parsing (clap) and choosing outputs. Each subcommand lives in its own file;
//! the work itself is done by the library layers below. Exit codes: 0 ok, 2 a task or gate failed,
//! 3 a host was unreachable, 4 bad input or usage, 130 interrupted.

mod adhoc;
mod apply;
mod common;
mod inventory_cmd;
mod lab_cmd;
mod modules_cmd;
mod panic;

pub use modules_cmd::markdown as modules_markdown;
pub mod sops;

use clap::{Parser, Subcommand};

pub use common::{ConnArgs, OutputArgs};

const ABOUT: &str = "Ansible-style provisioning for homelabs: inventories, playbooks and roles you already know, \
run agentlessly over SSH as a graph of verified phases, with SOPS secrets built in.";

const AFTER_HELP: &str = "\
Examples:
  hlprov lab up --hosts 3                 start three disposable Debian hosts (prints their inventory)
  hlprov lab up --driver vm --hosts 2     the same as VMs with their own kernel (QEMU; KVM or TCG)
  hlprov ping -i .hlprov/lab/default/inventory.yml
  hlprov run all -m command -a 'uname -r' -i inventory/example
  hlprov apply site -i inventory/example --check --diff
  hlprov graph site
  hlprov verify site -i inventory/example

Exit codes: 0 ok, 2 a task or gate failed, 3 a host was unreachable, 4 bad input or usage, 130 interrupted.";

#[derive(Parser, Debug)]
#[command(name = "hlprov", version, about = ABOUT, after_help = AFTER_HELP, propagate_version = true, max_term_width = 110)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Converge hosts to a playbook: `hlprov apply site` runs playbooks/site.yml
    Apply(apply::ApplyArgs),
    /// Run only the verification gates of a playbook's phases: a health check of the whole lab
    Verify(apply::VerifyArgs),
    /// Render what a playbook would write for an inventory (files, manifests, values) and check it, with no host
    Render(apply::RenderArgs),
    /// Show a playbook's phase graph (text, Graphviz dot or Mermaid) with the hosts each phase touches
    Graph(apply::GraphArgs),
    /// Run one module against hosts, ad hoc (like `ansible HOSTS -m MODULE -a ARGS`)
    Run(adhoc::RunArgs),
    /// Check that hosts answer over SSH and can run a shell
    Ping(adhoc::PingArgs),
    /// Show the inventory as ansible-inventory does (--list, --graph, --host)
    Inventory(inventory_cmd::InventoryArgs),
    /// Disposable Debian hosts (containers, or QEMU VMs with their own kernel), to try hlprov on and to test it
    #[command(subcommand)]
    Lab(lab_cmd::LabCommand),
    /// Encrypt, decrypt and check secrets (SOPS files with age keys, compatible with the sops tool)
    #[command(subcommand)]
    Sops(sops::SopsCommand),
    /// List the modules hlprov has, or describe one
    Modules(modules_cmd::ModulesArgs),
    /// Print version information
    Version,
}

/// Parse the command line and run; returns the process exit code.
pub fn main() -> i32 {
    panic::install();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 4 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    rt.block_on(dispatch(cli.command))
}

async fn dispatch(cmd: Command) -> i32 {
    match cmd {
        Command::Apply(a) => apply::apply(a).await,
        Command::Verify(a) => apply::verify(a).await,
        Command::Render(a) => apply::render(a).await,
        Command::Graph(a) => apply::graph(a),
        Command::Run(a) => adhoc::run(a).await,
        Command::Ping(a) => adhoc::ping(a).await,
        Command::Inventory(a) => inventory_cmd::run(a),
        Command::Lab(c) => lab_cmd::run(c).await,
        Command::Sops(c) => tokio::task::spawn_blocking(move || sops::run(c)).await.unwrap_or(1),
        Command::Modules(a) => modules_cmd::run(a),
        Command::Version => {
            println!("hlprov {}", env!("CARGO_PKG_VERSION"));
            println!("ssh: russh {}; templating: minijinja; secrets: SOPS + age", russh_version());
            0
        }
    }
}

fn russh_version() -> &'static str {
    "0.65"
}
