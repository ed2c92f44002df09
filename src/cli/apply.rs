//! `hlprov apply`, `hlprov verify` and `hlprov graph`: a playbook and its phase graph.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::common::{self, ConnArgs, OutputArgs};
use crate::exec::{self, PhaseSelection, RunOptions};
use crate::graph::{self, Format};
use crate::playbook::{self, LoadOptions};

#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// Playbook file, or a name in playbooks/ (`site` is playbooks/site.yml)
    pub playbook: String,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Change nothing; report what would change
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Show what changes in files (unified diffs) and properties
    #[arg(short = 'D', long)]
    pub diff: bool,
    /// Only run tasks with these tags (comma-separated or repeated)
    #[arg(short = 't', long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Skip tasks with these tags
    #[arg(long = "skip-tags", value_delimiter = ',')]
    pub skip_tags: Vec<String>,
    /// Start at the task with this name (glob), skipping the ones before it
    #[arg(long = "start-at-task", value_name = "NAME")]
    pub start_at_task: Option<String>,
    /// Run only this phase
    #[arg(long, value_name = "NAME", conflicts_with_all = ["from", "resume"])]
    pub phase: Option<String>,
    /// With --phase: also run everything the phase needs
    #[arg(long = "with-deps", requires = "phase")]
    pub with_deps: bool,
    /// Start at this phase: earlier phases are skipped if their gates pass
    #[arg(long, value_name = "NAME", conflicts_with = "resume")]
    pub from: Option<String>,
    /// Re-run the phases that did not pass in the last run (and what depends on them)
    #[arg(long)]
    pub resume: bool,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Do not write a run record under .hlprov/runs/
    #[arg(long = "no-record")]
    pub no_record: bool,
}

/// How a playbook is read (every command that reads one).
#[derive(Args, Debug, Clone)]
pub struct LoadArgs {
    /// Extra folders to find roles in
    #[arg(long = "roles-path", value_name = "DIR", env = "HLPROV_ROLES_PATH", value_delimiter = ':')]
    pub roles_path: Vec<PathBuf>,
    /// Refuse a playbook that names a module hlprov does not have (by default: a warning, and the task fails
    /// only if it runs on a host)
    #[arg(long, env = "HLPROV_STRICT")]
    pub strict: bool,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// Playbook file, or a name in playbooks/ (`site` is playbooks/site.yml)
    pub playbook: String,
    /// Run only this phase's gate
    #[arg(long, value_name = "NAME")]
    pub phase: Option<String>,
    /// With --phase: also the gates of everything the phase needs
    #[arg(long, requires = "phase")]
    pub with_deps: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// Playbook file, or a name in playbooks/ (`site` is playbooks/site.yml)
    pub playbook: String,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub out: OutputArgs,
    /// Show the content of every file and manifest
    #[arg(short = 'D', long)]
    pub diff: bool,
    #[command(flatten)]
    pub load: LoadArgs,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    /// Playbook file, or a name in playbooks/ (`site` is playbooks/site.yml)
    pub playbook: String,
    /// Inventory, to show which hosts each phase touches
    #[arg(short = 'i', long = "inventory", value_name = "SOURCE", env = "HLPROV_INVENTORY")]
    pub inventory: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    #[command(flatten)]
    pub load: LoadArgs,
}

/// `site` → playbooks/site.yml; a path stays a path.
pub fn resolve_playbook(name: &str) -> PathBuf {
    let p = PathBuf::from(name);
    if p.exists() {
        return p;
    }
    for candidate in [format!("playbooks/{name}.yml"), format!("playbooks/{name}.yaml"), format!("playbooks/{name}"), format!("{name}.yml")] {
        let c = PathBuf::from(&candidate);
        if c.is_file() {
            return c;
        }
    }
    p
}

pub(super) fn load(name: &str, l: &LoadArgs) -> Result<playbook::Playbook, String> {
    let path = resolve_playbook(name);
    playbook::load(&path, &LoadOptions { roles_path: l.roles_path.clone(), strict: l.strict }).map_err(|e| e.to_string())
}

pub async fn apply(a: ApplyArgs) -> i32 {
    let phases = match (&a.phase, &a.from, a.resume) {
        (Some(p), _, _) => PhaseSelection::Only { phase: p.clone(), with_deps: a.with_deps },
        (_, Some(f), _) => PhaseSelection::From(f.clone()),
        (_, _, true) => PhaseSelection::Resume,
        _ => PhaseSelection::All,
    };
    execute(&a.playbook, &a.conn, &a.out, &a.load, phases, |o| {
        o.check = a.check;
        o.diff = a.diff;
        o.tags = a.tags.clone();
        o.skip_tags = a.skip_tags.clone();
        o.start_at_task = a.start_at_task.clone();
        o.record_dir = (!a.no_record).then(|| PathBuf::from(".hlprov/runs"));
    })
    .await
}

/// `hlprov render`: every file, manifest and value the playbook would write for the inventory, checked
/// (templates, manifests against their schemas), without any host.
pub async fn render(a: RenderArgs) -> i32 {
    execute(&a.playbook, &a.conn, &a.out, &a.load, PhaseSelection::All, |o| {
        o.check = true;
        o.offline = true;
        o.diff = a.diff;
    })
    .await
}

pub async fn verify(a: VerifyArgs) -> i32 {
    let phases = match &a.phase {
        Some(p) => PhaseSelection::VerifyPhase { phase: p.clone(), with_deps: a.with_deps },
        None => PhaseSelection::VerifyOnly,
    };
    execute(&a.playbook, &a.conn, &a.out, &a.load, phases, |_| {}).await
}

async fn execute(
    name: &str,
    conn: &ConnArgs,
    out: &OutputArgs,
    load_args: &LoadArgs,
    phases: PhaseSelection,
    tweak: impl FnOnce(&mut RunOptions),
) -> i32 {
    let pb = match load(name, load_args) {
        Ok(pb) => pb,
        Err(e) => return common::bad_input(e),
    };
    let mut inventory = match conn.load_inventory() {
        Ok(i) => i,
        Err(e) => return common::bad_input(e),
    };
    if let Err(e) = inventory.add_playbook_vars_dir(&pb.dir) {
        return common::bad_input(e);
    }
    let extra_vars = match conn.extra_vars() {
        Ok(v) => v,
        Err(e) => return common::bad_input(e),
    };
    let reporter = common::reporter(out, conn.verbose);
    for w in inventory.warnings() {
        reporter.warn(w);
    }
    for m in &pb.missing {
        reporter.warn(m.to_string());
    }
    let mut opts = RunOptions {
        forks: conn.forks.max(1),
        limit: conn.limit.clone(),
        extra_vars,
        verbosity: conn.verbose,
        connect: conn.connect_options(),
        escalate: conn.escalate,
        become_user: conn.become_user.clone(),
        task_timeout: conn.timeout,
        roles_path: load_args.roles_path.clone(),
        phases,
        ..Default::default()
    };
    tweak(&mut opts);
    common::install_interrupt(opts.interrupt.clone());
    match exec::run_playbook(Arc::new(pb), Arc::new(inventory), opts, reporter).await {
        Ok(summary) => {
            if conn.verbose >= 2 {
                let counts: Vec<String> = summary.connections.iter().map(|(h, n)| format!("{h}={n}")).collect();
                eprintln!("connections opened: {}", counts.join(" "));
            }
            summary.exit_code
        }
        Err(e) => common::bad_input(e),
    }
}

pub fn graph(a: GraphArgs) -> i32 {
    let pb = match load(&a.playbook, &a.load) {
        Ok(pb) => pb,
        Err(e) => return common::bad_input(e),
    };
    for m in &pb.missing {
        eprintln!("warning: {m}");
    }
    let g = match graph::build(&pb) {
        Ok(g) => g,
        Err(e) => return common::bad_input(e),
    };
    // Without its inventory the graph still shows; the host patterns stand in for the hosts, and why is said.
    let inventory = match crate::inventory::Inventory::load(&a.inventory) {
        Ok(inv) => Some(inv),
        Err(e) => {
            if !a.inventory.is_empty() {
                eprintln!("warning: the inventory could not be read, so phases show host patterns, not hosts: {e}");
            }
            None
        }
    };
    let hosts = |n: petgraph::graph::NodeIndex| -> Vec<String> {
        let play = &pb.plays[g.graph[n].play];
        match &inventory {
            Some(inv) if !play.hosts.contains("{{") => inv.select(&play.hosts).map(|s| s.hosts).unwrap_or_default(),
            _ => vec![format!("hosts: {}", play.hosts)],
        }
    };
    print!("{}", graph::render(&g, a.format, &hosts));
    0
}
