//! reboot: reboot the host and wait until it is back. It reads the boot id, issues the reboot, then keeps asking
//! (each try with its own time limit, so a dead connection cannot hang it) until the answer comes from a new boot,
//! reconnecting as needed, and finally runs a test command. A container cannot reboot its kernel, so its boot id
//! never changes: that is refused up front with a message instead of waiting for a timeout.

use std::time::{Duration, Instant};

use super::helpers::host::{CONTAINER_SNIPPET, Probe, container_kind};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::{join, quote};

pub struct Reboot;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("reboot_timeout", ArgKind::Int)
        .aliases(&["reboot_timeout_sec"])
        .default("600")
        .help("Seconds to wait for the host to come back (and again for the test command)."),
    ArgSpec::new("connect_timeout", ArgKind::Int).aliases(&["connect_timeout_sec"]).help("Seconds each try may take while waiting (default 10)."),
    ArgSpec::new("pre_reboot_delay", ArgKind::Int)
        .aliases(&["pre_reboot_delay_sec"])
        .default("0")
        .help("Seconds before rebooting (shutdown takes whole minutes)."),
    ArgSpec::new("post_reboot_delay", ArgKind::Int)
        .aliases(&["post_reboot_delay_sec"])
        .default("0")
        .help("Seconds to wait after the host is back, before testing it."),
    ArgSpec::new("msg", ArgKind::Str).default("Reboot initiated by Ansible").help("Message shown to logged-in users."),
    ArgSpec::new("test_command", ArgKind::Str).default("whoami").help("Command that must succeed once the host is back."),
    ArgSpec::new("boot_time_command", ArgKind::Str)
        .default("cat /proc/sys/kernel/random/boot_id")
        .help("Command whose output changes with every boot."),
    ArgSpec::new("reboot_command", ArgKind::Str).help("Command (and arguments) that reboots; the default is `shutdown -r MINUTES \"MSG\"`."),
    ArgSpec::new("search_paths", ArgKind::List)
        .default("/sbin,/bin,/usr/sbin,/usr/bin,/usr/local/sbin")
        .help("Where to look for the reboot command."),
])
.changes(&["reboot"])
.critical();

const DEFAULT_BOOT_TIME_COMMAND: &str = "cat /proc/sys/kernel/random/boot_id";

/// Retry `what` until it returns Some or `timeout` passes, backing off like Ansible (2^n + jitter, at most 12 s).
async fn until<F, Fut, T>(timeout: Duration, mut what: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let end = Instant::now() + timeout;
    let mut fails = 0;
    let mut last = String::new();
    while Instant::now() < end {
        match what().await {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
        let pause = (2f64.powi(fails).min(12.0) + rand::random::<f64>()).min(end.saturating_duration_since(Instant::now()).as_secs_f64());
        fails += 1;
        tokio::time::sleep(Duration::from_secs_f64(pause.max(0.0))).await;
    }
    Err(last)
}

#[async_trait::async_trait]
impl Module for Reboot {
    fn name(&self) -> &'static str {
        "reboot"
    }
    fn summary(&self) -> &'static str {
        "Reboot the host and wait until it is back with a new boot (and a test command succeeds)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Linux hosts only (shutdown -r). In a container (docker, lxc, podman, …) the default boot id cannot change, \
         so hlprov refuses up front instead of timing out; give boot_time_command (and a reboot_command that fits \
         the container) to reboot one anyway. On the local connection it refuses, as Ansible does."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        for k in ["reboot_timeout", "pre_reboot_delay", "post_reboot_delay"] {
            if args.int(k).is_some_and(|v| v < 0) {
                return Err(ModuleError::Args(format!("{k} must not be negative")));
            }
        }
        let conn = ctx.conn.ok_or_else(|| ModuleError::Internal("reboot needs a connection".into()))?;
        if conn.transport().target().ends_with("(local)") {
            return Err(ModuleError::failed("Running reboot with local connection would reboot the control node.")
                .with("rebooted", false)
                .with("elapsed", 0));
        }
        // What the reboot will find (boot id, container, the command's path) is looked at when it runs: a
        // plan of a reboot is the reboot itself, as Ansible reports it in check mode.
        let d = super::helpers::remote_file::property_diff(ctx.host, &[("boot", "this boot".into())], &[("boot", "a new boot".into())]);
        Ok(Plan::unchanged().with("elapsed", 0).with("rebooted", true).change(Change::new("reboot", d, Step::Module)))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        let reboot_timeout = Duration::from_secs(args.int("reboot_timeout").unwrap_or(600) as u64);
        let boot_cmd = args.req("boot_time_command")?.to_string();
        let try_timeout = Duration::from_secs(args.int("connect_timeout").unwrap_or(10).max(1) as u64);

        // The boot id, whether this is a container, and the reboot command's full path, in one round trip.
        let (bin, rest) = match args.str("reboot_command") {
            Some(c) => {
                let c = c.trim();
                let (b, r) = c.split_once(' ').unwrap_or((c, ""));
                (b.to_string(), r.to_string())
            }
            None => {
                let delay_min = args.int("pre_reboot_delay").unwrap_or(0) / 60;
                ("shutdown".to_string(), format!("-r {delay_min} {}", quote(args.req("msg")?)))
            }
        };
        if bin.is_empty() {
            return Err(ModuleError::Args("reboot_command is empty".into()));
        }
        let mut p = Probe::new();
        p.add(boot_cmd.clone());
        p.add(CONTAINER_SNIPPET);
        p.add(if bin.starts_with('/') {
            format!("[ -x {b} ] && echo {b}", b = quote(&bin))
        } else {
            let dirs: Vec<String> = args.list("search_paths").iter().map(|d| format!("{}/{bin}", d.trim_end_matches('/'))).collect();
            format!("for f in {}; do if [ -x \"$f\" ]; then echo \"$f\"; exit 0; fi; done; exit 1", join(&dirs))
        });
        let s = p.run(&ctx.with_timeout(Some(try_timeout))).await?;
        if !s[0].ok() {
            return Err(ModuleError::failed(format!("reboot: failed to get host boot time info, rc: {}, stdout: {}", s[0].rc, s[0].trimmed()))
                .with("rebooted", false));
        }
        let before = s[0].trimmed().to_string();
        if let Some(kind) = container_kind(&s[1]) {
            if boot_cmd == DEFAULT_BOOT_TIME_COMMAND {
                return Err(ModuleError::Unsupported(format!(
                    "reboot: this host is a container ({kind}); rebooting it cannot start a new kernel, so its boot id \
                     ({before}) would never change and hlprov could not tell that it came back. Restart the container \
                     from the machine that runs it, or set boot_time_command (and reboot_command) to what fits the container."
                )));
            }
        }
        if !s[2].ok() {
            return Err(ModuleError::failed(format!("Unable to find command \"{bin}\" in search paths: {:?}", args.list("search_paths")))
                .with("rebooted", false));
        }
        let command = format!("{} {rest}", quote(s[2].trimmed()));
        // Issue the reboot; the connection may drop while it answers, which counts as success.
        let start = Instant::now();
        let quick = ctx.with_timeout(Some(try_timeout));
        match quick.write(&command, None).await {
            Ok(out) if !out.success() => {
                return Err(ModuleError::failed(format!(
                    "Reboot command failed. Error was: '{}, {}'",
                    out.stdout_text().trim(),
                    out.stderr_text().trim()
                ))
                .with("rebooted", false)
                .with("elapsed", start.elapsed().as_secs()));
            }
            Ok(_) | Err(ModuleError::Transport(_)) => {}
            Err(e) => return Err(e),
        }
        tokio::time::sleep(Duration::from_secs(args.int("post_reboot_delay").unwrap_or(0) as u64)).await;

        // A new boot id, then a working test command.
        let booted = until(reboot_timeout, || {
            let quick = ctx.with_timeout(Some(try_timeout));
            let boot_cmd = boot_cmd.clone();
            let before = before.clone();
            async move {
                let out = quick.read(&boot_cmd).await.map_err(|e| e.to_string())?;
                let now = out.stdout_text().trim().to_string();
                if out.success() && !now.is_empty() && now != before { Ok(()) } else { Err("boot time has not changed".to_string()) }
            }
        })
        .await;
        if let Err(last) = booted {
            return Err(ModuleError::failed(format!("Timed out waiting for last boot time check (timeout={}) ({last})", reboot_timeout.as_secs()))
                .with("rebooted", true)
                .with("elapsed", start.elapsed().as_secs()));
        }
        let test = args.req("test_command")?.to_string();
        let tested = until(reboot_timeout, || {
            let quick = ctx.with_timeout(Some(try_timeout));
            let test = test.clone();
            async move {
                let out = quick.write(&test, None).await.map_err(|e| e.to_string())?;
                if out.success() { Ok(()) } else { Err(format!("Test command failed: {} {}", out.stderr_text().trim(), out.stdout_text().trim())) }
            }
        })
        .await;
        if let Err(last) = tested {
            return Err(ModuleError::failed(format!(
                "Timed out waiting for post-reboot test command (timeout={}) ({last})",
                reboot_timeout.as_secs()
            ))
            .with("rebooted", true)
            .with("elapsed", start.elapsed().as_secs()));
        }
        Ok(Outcome::from_plan(&plan).with("rebooted", true).with("elapsed", start.elapsed().as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn until_retries_until_success_or_timeout() {
        let mut n = 0;
        let r = until(Duration::from_secs(10), || {
            n += 1;
            let ok = n >= 2;
            async move { if ok { Ok(n) } else { Err("not yet".to_string()) } }
        })
        .await;
        assert_eq!(r, Ok(2));
        let r: Result<(), String> = until(Duration::from_millis(300), || async { Err("never".to_string()) }).await;
        assert_eq!(r, Err("never".to_string()));
    }
}
