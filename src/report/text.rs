//! Terminal output in Ansible's shape (PLAY / TASK headers, `ok: [host]` lines, PLAY RECAP), plus a live
//! indicatif view of what each host and phase is doing when stdout is a terminal.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use console::style;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Event, HostStats, PhaseStatus, Sink, Status, TaskResult};

pub struct Text {
    verbosity: u8,
    color: bool,
    live: Option<MultiProgress>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Live lines: per host while a play runs, per phase while phases run.
    host_bars: HashMap<String, ProgressBar>,
    phase_bars: HashMap<String, ProgressBar>,
    running_phases: usize,
    check: bool,
    phase_summaries: BTreeMap<String, (PhaseStatus, u64, u32)>,
    last_header: String,
}

/// Most hosts that get a live line of their own.
const MAX_HOST_LINES: usize = 20;

impl Text {
    pub fn new(verbosity: u8) -> Text {
        let tty = std::io::stdout().is_terminal();
        let live = if tty && std::env::var_os("HLPROV_NO_LIVE").is_none() {
            Some(MultiProgress::with_draw_target(ProgressDrawTarget::stdout()))
        } else {
            None
        };
        Text { verbosity, color: tty, live, state: Mutex::new(State::default()) }
    }

    fn print(&self, text: &str) {
        let write = || {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        };
        match &self.live {
            Some(m) => m.suspend(write),
            None => write(),
        }
    }

    fn paint(&self, text: &str, status: Status) -> String {
        if !self.color {
            return text.to_string();
        }
        match status {
            Status::Ok => style(text).green().to_string(),
            Status::Changed => style(text).yellow().to_string(),
            Status::Failed | Status::Unreachable => style(text).red().to_string(),
            Status::Skipped => style(text).cyan().to_string(),
            Status::Ignored => style(text).cyan().to_string(),
        }
    }

    fn header(&self, title: &str) -> String {
        let stars = 80usize.saturating_sub(title.chars().count() + 1).max(3);
        format!("\n{title} {}", "*".repeat(stars))
    }

    fn result_line(&self, r: &TaskResult, concurrent: bool) -> String {
        let (word, status) = match r.status {
            Status::Ok => ("ok", Status::Ok),
            Status::Changed => ("changed", Status::Changed),
            Status::Skipped => ("skipping", Status::Skipped),
            Status::Failed | Status::Ignored => ("fatal", Status::Failed),
            Status::Unreachable => ("fatal", Status::Unreachable),
        };
        let target = match &r.delegated_to {
            Some(d) => format!("[{} -> {d}]", r.host),
            None => format!("[{}]", r.host),
        };
        let mut line = format!("{word}: {target}");
        if concurrent {
            line.push_str(&format!(" <{}>", r.phase.clone().unwrap_or_else(|| r.play.clone())));
        }
        if let Some(item) = &r.item {
            line.push_str(&format!(" => (item={item})"));
        }
        // A loop's items were shown one by one; its summary only matters when it failed.
        if r.loop_summary && !matches!(r.status, Status::Failed | Status::Unreachable | Status::Ignored) {
            return String::new();
        }
        let show_result = matches!(r.status, Status::Failed | Status::Unreachable | Status::Ignored) || self.verbosity >= 1;
        if show_result {
            let label = match r.status {
                Status::Failed | Status::Ignored => ": FAILED!",
                Status::Unreachable => ": UNREACHABLE!",
                _ => "",
            };
            let body = if self.verbosity >= 1 { serde_json::to_string_pretty(&r.result) } else { serde_json::to_string(&r.result) };
            line = format!("{line}{label} => {}", body.unwrap_or_default());
        } else if let Some(why) = r.msg.as_deref().filter(|m| r.status == Status::Skipped && m.starts_with("needs a host")) {
            // An offline render says why it could not show a task.
            line = format!("{line} ({why})");
        }
        let mut out = self.paint(&line, status);
        if r.status == Status::Ignored {
            out.push_str(&format!("\n{}", self.paint("...ignoring", Status::Ignored)));
        }
        for d in &r.diffs {
            out.push('\n');
            out.push_str(&render_diff(d, self.color));
        }
        out
    }

    fn recap(&self, stats: &[(String, HostStats)], duration_ms: u64, phases: &BTreeMap<String, (PhaseStatus, u64, u32)>) {
        let mut out = self.header("PLAY RECAP");
        let width = stats.iter().map(|(h, _)| h.len()).max().unwrap_or(0).max(26);
        for (host, s) in stats {
            let status = if s.failed > 0 || s.unreachable > 0 {
                Status::Failed
            } else if s.changed > 0 {
                Status::Changed
            } else {
                Status::Ok
            };
            let host_col = self.paint(&format!("{host:<width$}"), status);
            out.push_str(&format!(
                "\n{host_col} : ok={:<4} changed={:<4} unreachable={:<4} failed={:<4} skipped={:<4} rescued={:<4} ignored={}",
                s.ok, s.changed, s.unreachable, s.failed, s.skipped, s.rescued, s.ignored
            ));
        }
        if !phases.is_empty() {
            out.push_str(&self.header("PHASES"));
            for (name, (status, ms, changed)) in phases {
                let word = match status {
                    PhaseStatus::Passed => "passed",
                    PhaseStatus::Failed => "FAILED",
                    PhaseStatus::GateFailed => "GATE FAILED",
                    PhaseStatus::Blocked => "blocked",
                    PhaseStatus::Skipped => "skipped",
                };
                out.push_str(&format!("\n{name:<width$} : {word:<11} {:>8.1}s  changed={changed}", *ms as f64 / 1000.0));
            }
        }
        out.push_str(&format!("\n\nFinished in {:.1}s", duration_ms as f64 / 1000.0));
        self.print(&out);
    }

    fn live_bar(&self, prefix: &str) -> Option<ProgressBar> {
        let m = self.live.as_ref()?;
        let bar = m.add(ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner} {prefix:<20.bold} {wide_msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        bar.set_prefix(prefix.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(bar)
    }
}

/// A unified diff of one change, as `--diff` shows it.
pub fn render_diff(d: &crate::modules::Diff, color: bool) -> String {
    let diff = similar::TextDiff::from_lines(&d.before, &d.after);
    let text =
        diff.unified_diff().context_radius(3).header(&format!("before: {}", d.before_header), &format!("after: {}", d.after_header)).to_string();
    if !color {
        return text;
    }
    text.lines()
        .map(|l| {
            if l.starts_with('+') && !l.starts_with("+++") {
                style(l).green().to_string()
            } else if l.starts_with('-') && !l.starts_with("---") {
                style(l).red().to_string()
            } else if l.starts_with("@@") {
                style(l).cyan().to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Sink for Text {
    fn event(&self, e: &Event) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::RunStart { check, .. } => {
                st.check = *check;
                if *check {
                    self.print("Check mode: nothing will be changed; changed means \"would change\".");
                }
            }
            Event::PlayStart { play, phase, hosts } => {
                let title = match phase {
                    Some(p) if p != play => format!("PLAY [{play}] (phase {p})"),
                    _ => format!("PLAY [{play}]"),
                };
                self.print(&self.header(&title));
                if st.running_phases <= 1 {
                    for h in hosts.iter().take(MAX_HOST_LINES) {
                        if !st.host_bars.contains_key(h) {
                            if let Some(b) = self.live_bar(h) {
                                st.host_bars.insert(h.clone(), b);
                            }
                        }
                    }
                }
            }
            Event::TaskStart { play, task, location, handler, gate } => {
                let kind = if *handler {
                    "RUNNING HANDLER"
                } else if *gate {
                    "VERIFY"
                } else {
                    "TASK"
                };
                let title = if st.running_phases > 1 { format!("{kind} [{play} ▸ {task}]") } else { format!("{kind} [{task}]") };
                if title != st.last_header {
                    let mut text = self.header(&title);
                    if self.verbosity >= 2 {
                        text.push_str(&format!("\ntask path: {location}"));
                    }
                    self.print(&text);
                    st.last_header = title;
                }
                for bar in st.host_bars.values() {
                    bar.set_message(task.clone());
                }
            }
            Event::TaskResult(r) => {
                let line = self.result_line(r, st.running_phases > 1);
                if !line.is_empty() {
                    self.print(&line);
                }
                if let Some(bar) = st.host_bars.get(&r.host) {
                    bar.set_message(format!("{} {:?}", r.task, r.status).to_lowercase());
                }
            }
            Event::Rescued { .. } => {}
            Event::PhaseStart { phase, hosts } => {
                st.running_phases += 1;
                let text = format!("PHASE [{phase}] started on {}", hosts.join(", "));
                self.print(&self.header(&text));
                if let Some(b) = self.live_bar(&format!("phase {phase}")) {
                    b.set_message("running");
                    st.phase_bars.insert(phase.clone(), b);
                }
            }
            Event::GateStart { phase } => {
                if let Some(b) = st.phase_bars.get(phase) {
                    b.set_message("verifying");
                }
            }
            Event::GateEnd { phase, passed, failed_hosts, needs_host } => {
                let msg = match (*passed, st.check) {
                    (true, _) if *needs_host > 0 => format!(
                        "gate of phase {phase}: nothing failed that could be checked without hosts; {needs_host} check(s) need the hosts or the cluster"
                    ),
                    (true, _) => format!("gate of phase {phase} passed"),
                    (false, false) => format!("gate of phase {phase} FAILED on {}", failed_hosts.join(", ")),
                    (false, true) => format!(
                        "gate of phase {phase} does not hold yet on {} (check mode: nothing was applied, so it does not stop the plan)",
                        failed_hosts.join(", ")
                    ),
                };
                self.print(&self.paint(&msg, if *passed { Status::Ok } else { Status::Failed }));
            }
            Event::PhaseEnd { phase, status, duration_ms, changed, failed_hosts } => {
                st.running_phases = st.running_phases.saturating_sub(1);
                if let Some(b) = st.phase_bars.remove(phase) {
                    b.finish_and_clear();
                }
                st.phase_summaries.insert(phase.clone(), (*status, *duration_ms, *changed));
                let mut msg = format!("PHASE [{phase}] {status:?} in {:.1}s, changed={changed}", *duration_ms as f64 / 1000.0)
                    .replace("GateFailed", "gate failed");
                if !failed_hosts.is_empty() {
                    msg.push_str(&format!(" (failed: {})", failed_hosts.join(", ")));
                }
                let s = if *status == PhaseStatus::Passed { Status::Ok } else { Status::Failed };
                self.print(&self.paint(&msg, s));
            }
            Event::PhaseBlocked { phase, by, reason } => {
                st.phase_summaries.insert(phase.clone(), (PhaseStatus::Blocked, 0, 0));
                self.print(&self.paint(&format!("\nPHASE [{phase}] blocked by {by}: {reason}"), Status::Skipped));
            }
            Event::Warning { msg } => {
                let text = format!("[WARNING]: {msg}");
                let text = if self.color { style(text).magenta().to_string() } else { text };
                let write = || eprintln!("{text}");
                match &self.live {
                    Some(m) => m.suspend(write),
                    None => write(),
                }
            }
            Event::RunEnd { stats, duration_ms, .. } => {
                for (_, b) in st.host_bars.drain() {
                    b.finish_and_clear();
                }
                for (_, b) in st.phase_bars.drain() {
                    b.finish_and_clear();
                }
                let phases = std::mem::take(&mut st.phase_summaries);
                drop(st);
                self.recap(stats, *duration_ms, &phases);
            }
        }
    }

    fn finish(&self) {
        if let Some(m) = &self.live {
            let _ = m.clear();
        }
    }
}
