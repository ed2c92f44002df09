//! pause: wait a number of seconds or minutes on the controller, or until the user answers a prompt. A prompt
//! needs a terminal: without one (CI, a pipe) a prompt with no time to wait is refused with a clear error
//! rather than waiting forever. Changes nothing; check mode waits too, as Ansible does.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};

pub struct Pause;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("seconds", ArgKind::Int).help("How many seconds to wait."),
    ArgSpec::new("minutes", ArgKind::Int).help("How many minutes to wait."),
    ArgSpec::new("prompt", ArgKind::Str).help("Text to show; without seconds or minutes, wait until Enter is pressed (needs a terminal)."),
    ArgSpec::new("echo", ArgKind::Bool).default("yes").help("Accepted for compatibility; the answer is always echoed."),
])
.mutually_exclusive(&[&["seconds", "minutes"]]);

/// How long to wait, from the arguments (None: until the user answers).
fn duration(args: &Args) -> Result<Option<Duration>, ModuleError> {
    let (n, unit) = match (args.int("seconds"), args.int("minutes")) {
        (Some(s), _) => (s, 1),
        (_, Some(m)) => (m, 60),
        _ => return Ok(None),
    };
    if n < 0 {
        return Err(ModuleError::Args(format!("pause: the time to wait cannot be negative ({n})")));
    }
    Ok(Some(Duration::from_secs(n as u64 * unit)))
}

#[async_trait::async_trait]
impl Module for Pause {
    fn name(&self) -> &'static str {
        "pause"
    }
    fn summary(&self) -> &'static str {
        "Wait some seconds or minutes, or until the user answers a prompt (on a terminal)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Runs for each host rather than once per play (hosts run in parallel, so a timed pause still takes its time \
         once). A prompt without seconds or minutes needs a terminal on stdin, and is refused otherwise; a timed \
         pause is never cut short by a key press."
    }
    fn needs_host(&self) -> bool {
        false
    }
    async fn plan(&self, _ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let wait = duration(args)?;
        let prompt = args.str("prompt");
        let start = Instant::now();
        let started = jiff::Timestamp::now();
        let mut user_input = String::new();
        match wait {
            Some(d) => {
                if let Some(p) = prompt {
                    eprintln!("[pause] {p}");
                }
                tokio::time::sleep(d).await;
            }
            None if !std::io::stdin().is_terminal() => {
                return Err(ModuleError::Unsupported(
                    "pause: waiting for an answer needs a terminal, and stdin is not one (CI or a pipe); give seconds or minutes instead".into(),
                ));
            }
            None => {
                let p = prompt.unwrap_or("Press enter to continue, Ctrl+C to interrupt").to_string();
                user_input = tokio::task::spawn_blocking(move || {
                    eprint!("[pause]\n{p}:\n");
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line).map(|_| line.trim_end_matches(['\r', '\n']).to_string())
                })
                .await
                .map_err(|e| ModuleError::failed(format!("pause: {e}")))?
                .map_err(|e| ModuleError::failed(format!("pause: cannot read the answer: {e}")))?;
            }
        }
        let delta = start.elapsed().as_secs_f64();
        let stdout = match wait {
            Some(_) => format!("Paused for {} seconds", (delta * 100.0).round() / 100.0),
            None => "Paused".to_string(),
        };
        Ok(Plan::unchanged()
            .with("start", started.strftime("%Y-%m-%d %H:%M:%S%.6f").to_string())
            .with("stop", jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M:%S%.6f").to_string())
            .with("delta", delta.round() as i64)
            .with("echo", args.bool("echo"))
            .with("user_input", user_input)
            .with("stdout", stdout))
    }
}
