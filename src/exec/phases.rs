//! The phase scheduler: a phase starts as soon as every phase it requires has passed (its play succeeded and
//! its verification gate held); phases with no path between them run at the same time. A failed phase or
//! gate blocks what depends on it, and only that. Also: `--phase`, `--with-deps`, `--from`, `--resume`,
//! and verify-only runs (`hlprov verify`).

use std::collections::HashSet;

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use petgraph::graph::NodeIndex;

use super::play::{self, Part, PlayOutcome};
use super::record::{PhaseRecord, RunRecord, new_id};
use super::run::Run;
use super::{PreflightError, RunSummary, exit};
use crate::graph::{self, PhaseGraph};
use crate::report::{Event, PhaseStatus};

/// Which phases a run covers.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum PhaseSelection {
    #[default]
    All,
    /// Only this phase (`--phase`), or it and everything it needs (`--with-deps`).
    Only { phase: String, with_deps: bool },
    /// This phase and everything after it; phases before it are skipped if their gates pass (`--from`).
    From(String),
    /// Phases that did not pass in the last run, and what depends on them (`--resume`).
    Resume,
    /// Only the verification gates (`hlprov verify`).
    VerifyOnly,
    /// Only the gate of this phase, or of it and everything it needs (`hlprov verify --phase`).
    VerifyPhase { phase: String, with_deps: bool },
}

/// What to do with one phase in this run.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Run,
    /// Run only the gate; run the phase fully if the gate fails (`--from`).
    GateThenRunIfFailed,
    GateOnly,
    /// Passed in the last run (`--resume`), or not selected.
    Skip(PhaseStatus),
}

struct Done {
    node: NodeIndex,
    status: PhaseStatus,
    bad_hosts: Vec<String>,
    record: PhaseRecord,
}

pub(crate) async fn run_all(run: Arc<Run>) -> Result<RunSummary, PreflightError> {
    let graph = graph::build(&run.playbook).map_err(|e| PreflightError(e.msg))?;
    super::preflight::check(&run)?;
    let modes = plan(&run, &graph)?;
    let applied = graph.graph.node_indices().filter(|i| matches!(modes[i.index()], Mode::Run | Mode::GateThenRunIfFailed));
    let _ = run.phases_to_apply.set(applied.map(|i| graph.graph[i].name.clone()).collect());
    let show_phases = graph.graph.node_weights().any(|p| p.explicit);
    let record_id = new_id();
    let t0 = Instant::now();
    run.reporter.emit(crate::report::Event::RunStart {
        playbook: run.playbook.path.display().to_string(),
        check: run.opts.check,
        diff: run.opts.diff,
        hosts: run.inventory().host_names().len(),
    });

    let n = graph.graph.node_count();
    let mut done: Vec<Option<Done>> = (0..n).map(|_| None).collect();
    let mut started = vec![false; n];
    let mut running = FuturesUnordered::new();
    loop {
        for &node in &graph.order {
            if started[node.index()] {
                continue;
            }
            let reqs = graph.requires(node);
            if reqs.iter().any(|r| done[r.index()].is_none()) {
                continue;
            }
            started[node.index()] = true;
            let phase = &graph.graph[node];
            let blocker = reqs.iter().find(|r| done[r.index()].as_ref().is_some_and(|d| blocks(d.status, run.opts.check)));
            if let (Some(b), false) = (blocker, modes[node.index()] == Mode::GateOnly) {
                let by = graph.graph[*b].name.clone();
                let why = match done[b.index()].as_ref().map(|d| d.status) {
                    Some(PhaseStatus::GateFailed) => "its verification gate failed",
                    Some(PhaseStatus::Blocked) => "it was blocked itself",
                    _ => "it failed",
                };
                run.reporter.emit(Event::PhaseBlocked { phase: phase.name.clone(), by: by.clone(), reason: why.to_string() });
                let record = PhaseRecord { name: phase.name.clone(), status: Some(PhaseStatus::Blocked), blocked_by: Some(by), ..Default::default() };
                done[node.index()] = Some(Done { node, status: PhaseStatus::Blocked, bad_hosts: vec![], record });
                continue;
            }
            // Hosts that failed in a phase this one depends on are left out, as Ansible leaves them out of later plays.
            let excluded: HashSet<String> =
                graph.ancestors(node).iter().filter_map(|a| done[a.index()].as_ref()).flat_map(|d| d.bad_hosts.iter().cloned()).collect();
            running.push(run_phase(run.clone(), &graph, node, modes[node.index()], excluded, show_phases, t0));
        }
        let Some(d) = running.next().await else { break };
        let idx = d.node.index();
        done[idx] = Some(d);
    }

    let stats = run.stats();
    let phases: Vec<PhaseRecord> = graph.order.iter().filter_map(|n| done[n.index()].as_ref().map(|d| d.record.clone())).collect();
    // A phase that failed only because its hosts were unreachable is an unreachable run (3), not a failed one
    // (2). Blocked phases add nothing: what blocked them is counted itself. In check mode a gate reports, it
    // does not fail the run.
    let only_unreachable =
        |hosts: &[String]| !hosts.is_empty() && hosts.iter().all(|h| stats.iter().any(|(n, s)| n == h && s.unreachable > 0 && s.failed == 0));
    let any_failed_phase = phases.iter().any(|p| match p.status {
        Some(PhaseStatus::GateFailed) => blocks(PhaseStatus::GateFailed, run.opts.check),
        Some(PhaseStatus::Failed) => !only_unreachable(&p.failed_hosts),
        _ => false,
    });
    let exit_code = if run.is_interrupted() {
        exit::INTERRUPTED
    } else if stats.iter().any(|(_, s)| s.failed > 0) || any_failed_phase {
        exit::FAILED
    } else if stats.iter().any(|(_, s)| s.unreachable > 0) {
        exit::UNREACHABLE
    } else {
        exit::OK
    };
    let duration_ms = t0.elapsed().as_millis() as u64;
    run.reporter.emit(Event::RunEnd { stats: stats.clone(), duration_ms, exit_code });
    run.reporter.finish();
    let record = RunRecord {
        id: record_id,
        playbook: run.playbook.path.display().to_string(),
        started: jiff::Timestamp::now().to_string(),
        duration_ms,
        check: run.opts.check,
        exit_code,
        interrupted: run.is_interrupted(),
        left_running: run.opts.interrupt.left_running(),
        phases,
        hosts: stats.clone(),
    };
    if let Some(dir) = &run.opts.record_dir {
        if !matches!(run.opts.phases, PhaseSelection::VerifyOnly | PhaseSelection::VerifyPhase { .. }) {
            if let Err(e) = record.save(dir) {
                run.reporter.warn(e);
            }
        }
    }
    let connections = run.pool.connections_opened();
    run.pool.close_all().await;
    Ok(RunSummary { stats, exit_code, record, connections })
}

/// Whether a phase that ended so stops its dependents (and fails the run). In check mode nothing was applied,
/// so a gate that does not hold yet is reported but does not stop the rest of the plan from being shown.
fn blocks(status: PhaseStatus, check: bool) -> bool {
    match status {
        PhaseStatus::Failed | PhaseStatus::Blocked => true,
        PhaseStatus::GateFailed => !check,
        PhaseStatus::Passed | PhaseStatus::Skipped => false,
    }
}

/// Decide what each phase does in this run.
fn plan(run: &Run, g: &PhaseGraph) -> Result<Vec<Mode>, PreflightError> {
    let n = g.graph.node_count();
    let err = |e: graph::GraphError| PreflightError(e.msg);
    Ok(match &run.opts.phases {
        PhaseSelection::All => vec![Mode::Run; n],
        PhaseSelection::VerifyOnly => vec![Mode::GateOnly; n],
        PhaseSelection::VerifyPhase { phase, with_deps } => {
            let target = g.find_or_err(phase).map_err(err)?;
            let mut modes = vec![Mode::Skip(PhaseStatus::Skipped); n];
            modes[target.index()] = Mode::GateOnly;
            if *with_deps {
                for a in g.ancestors(target) {
                    modes[a.index()] = Mode::GateOnly;
                }
            }
            modes
        }
        PhaseSelection::Only { phase, with_deps } => {
            let target = g.find_or_err(phase).map_err(err)?;
            let mut modes = vec![Mode::Skip(PhaseStatus::Skipped); n];
            modes[target.index()] = Mode::Run;
            if *with_deps {
                for a in g.ancestors(target) {
                    modes[a.index()] = Mode::Run;
                }
            }
            modes
        }
        PhaseSelection::From(phase) => {
            let target = g.find_or_err(phase).map_err(err)?;
            let pos = g.order.iter().position(|x| *x == target).unwrap_or(0);
            let mut modes = vec![Mode::Run; n];
            for node in &g.order[..pos] {
                if !g.descendants(target).contains(node) {
                    modes[node.index()] = Mode::GateThenRunIfFailed;
                }
            }
            modes
        }
        PhaseSelection::Resume => {
            let dir = run.opts.record_dir.clone().ok_or_else(|| PreflightError("--resume needs run records (.hlprov/runs)".into()))?;
            let last = RunRecord::latest(&dir, &run.playbook.path.display().to_string()).ok_or_else(|| {
                PreflightError(format!("--resume: no earlier run of {} recorded in {}", run.playbook.path.display(), dir.display()))
            })?;
            g.graph
                .node_indices()
                .map(|i| match last.phase(&g.graph[i].name).and_then(|p| p.status) {
                    Some(PhaseStatus::Passed) => Mode::Skip(PhaseStatus::Passed),
                    _ => Mode::Run,
                })
                .collect()
        }
    })
}

async fn run_phase(run: Arc<Run>, g: &PhaseGraph, node: NodeIndex, mode: Mode, excluded: HashSet<String>, show: bool, t0: Instant) -> Done {
    let phase = g.graph[node].clone();
    let play = run.playbook.plays[phase.play].clone();
    let started_ms = t0.elapsed().as_millis() as u64;
    let phase_name = if phase.explicit { Some(phase.name.clone()) } else { None };
    let mut record = PhaseRecord { name: phase.name.clone(), started_ms, ..Default::default() };
    if let Mode::Skip(status) = mode {
        record.status = Some(status);
        record.ended_ms = started_ms;
        return Done { node, status, bad_hosts: vec![], record };
    }
    let hosts = match play::select_hosts(&run, &play, &excluded) {
        Ok(h) => h,
        Err(e) => {
            run.reporter.warn(e);
            record.status = Some(PhaseStatus::Failed);
            return Done { node, status: PhaseStatus::Failed, bad_hosts: vec![], record };
        }
    };
    record.hosts = hosts.clone();
    if show {
        run.reporter.emit(Event::PhaseStart { phase: phase.name.clone(), hosts: hosts.clone() });
    }
    if hosts.is_empty() {
        // Nothing to run and nothing for a gate to prove (a lab without a Proxmox node and the proxmox_lxc phase):
        // skipped, as Ansible skips a play whose hosts match nothing, and the phases after it go on.
        run.reporter.warn(format!("phase {}: no hosts matched '{}'; skipped", phase.name, play.hosts));
        record.status = Some(PhaseStatus::Skipped);
        record.ended_ms = t0.elapsed().as_millis() as u64;
        if show {
            let duration_ms = record.ended_ms - record.started_ms;
            run.reporter.emit(Event::PhaseEnd {
                phase: phase.name.clone(),
                status: PhaseStatus::Skipped,
                duration_ms,
                changed: 0,
                failed_hosts: vec![],
            });
        }
        return Done { node, status: PhaseStatus::Skipped, bad_hosts: vec![], record };
    }
    let mut status = PhaseStatus::Passed;
    let mut outcome = PlayOutcome::default();
    let has_gate = !play.verify.is_empty();
    let mut gate_first_failed = false;
    if mode == Mode::GateThenRunIfFailed && has_gate {
        let gate = gate(&run, &play, &phase_name, &hosts, true).await;
        if gate.bad_hosts().is_empty() {
            record.gate_passed = Some(true);
        } else {
            gate_first_failed = true;
        }
    }
    let run_tasks = matches!(mode, Mode::Run) || (mode == Mode::GateThenRunIfFailed && (gate_first_failed || !has_gate));
    if run_tasks {
        outcome = play::run_play(&run, play.clone(), phase_name.clone(), hosts.clone(), Part::Tasks).await;
        let bad = outcome.bad_hosts();
        let failed = outcome.error.is_some()
            || outcome.aborted
            || (phase.explicit && !bad.is_empty() && play.max_fail_percentage.is_none())
            || (!hosts.is_empty() && bad.len() == hosts.len());
        if failed {
            status = PhaseStatus::Failed;
        }
    }
    let mut bad_hosts = outcome.bad_hosts();
    if status == PhaseStatus::Passed && has_gate && (run_tasks || mode == Mode::GateOnly) && !run.is_interrupted() {
        let gate_hosts: Vec<String> = hosts.iter().filter(|h| !bad_hosts.contains(h)).cloned().collect();
        run.reporter.emit(Event::GateStart { phase: phase.name.clone() });
        let g_out = gate(&run, &play, &phase_name, &gate_hosts, mode == Mode::GateOnly).await;
        let failed_hosts = g_out.bad_hosts();
        let passed = failed_hosts.is_empty() && g_out.error.is_none();
        run.reporter.emit(Event::GateEnd { phase: phase.name.clone(), passed, failed_hosts: failed_hosts.clone(), needs_host: g_out.needs_host });
        record.gate_passed = Some(passed);
        if !passed {
            status = PhaseStatus::GateFailed;
            // In check mode nothing was applied: the gate's verdict is a report, not a reason to leave hosts out.
            if !run.opts.check {
                bad_hosts.extend(failed_hosts);
            }
        }
    } else if mode == Mode::GateOnly && !has_gate {
        status = PhaseStatus::Skipped;
    }
    if run.is_interrupted() && status == PhaseStatus::Passed && run_tasks {
        status = PhaseStatus::Failed;
    }
    record.status = Some(status);
    record.failed_hosts = bad_hosts.clone();
    record.changed = outcome.changed;
    record.ended_ms = t0.elapsed().as_millis() as u64;
    if show {
        run.reporter.emit(Event::PhaseEnd {
            phase: phase.name.clone(),
            status,
            duration_ms: record.ended_ms - record.started_ms,
            changed: outcome.changed,
            failed_hosts: bad_hosts.clone(),
        });
    }
    Done { node, status, bad_hosts, record }
}

async fn gate(run: &Arc<Run>, play: &Arc<crate::playbook::Play>, phase: &Option<String>, hosts: &[String], gather: bool) -> PlayOutcome {
    play::run_play(run, play.clone(), phase.clone(), hosts.to_vec(), Part::Gate { gather }).await
}
