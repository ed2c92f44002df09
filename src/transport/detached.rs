//! Critical sections that outlive their SSH session: a package manager run must not stop halfway because the
//! connection went (a laptop's Wi-Fi, a cancelled CI job, sshd restarted). Such a command runs as a *job*:
//! detached from the session (`setsid`, without the `HLPROV_CMD` tag that hlprov uses to stop what a lost
//! command left behind), with its output and exit status kept on the host in a job folder. On a healthy
//! connection the caller waits for it as for any command (a few forks more). If the connection is lost, hlprov
//! connects again and collects the job's result; if it cannot (the host rebooted, the job is gone, no new
//! connection in time), the result is *unknown*: an error, never ok.

use std::time::{Duration, Instant};

use super::quote::quote;
use super::{Cmd, Connection, Output, TransportError};

/// How long hlprov keeps trying to connect again to collect a job after its connection was lost.
const RECONNECT_FOR: Duration = Duration::from_secs(180);
/// Pause between attempts to connect again.
const RECONNECT_PAUSE: Duration = Duration::from_secs(2);

/// Where jobs are kept: root's under /var/lib (survives a reboot, so a rebooted host is told apart from a lost
/// job), another user's under their home; `HLPROV_JOBS_DIR` in the task's environment overrides both.
const JOBS_DIR: &str = "${HLPROV_JOBS_DIR:-$(if [ \"$(id -u)\" = 0 ]; then echo /var/lib/hlprov/jobs; else echo \"${HOME:-/tmp}/.hlprov/jobs\"; fi)}";

/// What the launcher writes after the job's stdout. Writing it fails on a dead connection, and only a launcher
/// that delivered everything removes the job's folder: otherwise the collector finds it.
const DELIVERED: &str = "hlprov-job-delivered\n";

/// Job folders older than this are removed when the next job starts (what an unknown result left behind).
const KEEP_DAYS: u32 = 7;

impl Connection {
    /// Run `cmd` as a job that survives its SSH session (see the module docs). On a lost connection the result
    /// is collected through a new one, or the error says it is unknown and where the job was kept. A job is a
    /// critical section: it is never stopped, not by a time limit either (the error then says it goes on).
    pub async fn exec_detached(&self, cmd: &Cmd<'_>) -> Result<Output, TransportError> {
        let job = format!("job-{:016x}", rand::random::<u64>());
        let launch = launch_script(&job, cmd.script, cmd.stdin.is_some());
        let started = Instant::now();
        match self.exec(&Cmd { script: &launch, probe: false, ..cmd.clone() }).await {
            Err(TransportError::ConnectionLost { target, reason }) => self.collect(&job, cmd, started, &target, &reason).await,
            Err(TransportError::Timeout(after)) => Err(TransportError::Other(format!(
                "command timed out after {}s; it is a critical section, so it was left to finish on the host (job {job} in {})",
                after.as_secs_f64(),
                jobs_dir_text(cmd)
            ))),
            Ok(mut out) => {
                if !out.stdout.ends_with(DELIVERED.as_bytes()) {
                    return Err(TransportError::Other(format!("job {job}: its output came back incomplete")));
                }
                out.stdout.truncate(out.stdout.len() - DELIVERED.len());
                Ok(out)
            }
            Err(e) => Err(e),
        }
    }

    /// Connect again and wait for the job's result (within the command's time limit, counted from its start).
    async fn collect(&self, job: &str, cmd: &Cmd<'_>, started: Instant, target: &str, reason: &str) -> Result<Output, TransportError> {
        let unknown = |why: String| TransportError::ConnectionLost {
            target: target.to_string(),
            reason: format!("the result of the command is unknown: {why} (the connection had dropped: {reason})"),
        };
        let reconnect_until = Instant::now() + RECONNECT_FOR;
        let state = loop {
            let remaining = cmd.timeout.map(|t| t.saturating_sub(started.elapsed()));
            if remaining == Some(Duration::ZERO) {
                return Err(unknown(format!("it was still running when the time limit ended (job {job} in {})", jobs_dir_text(cmd))));
            }
            let wait = Cmd { script: &wait_script(job), stdin: None, timeout: remaining, probe: false, ..cmd.clone() };
            match self.exec(&wait).await {
                Ok(out) if out.success() => break out.stdout_text().trim().to_string(),
                Ok(out) => return Err(unknown(format!("reading job {job} failed: {}", out.stderr_text().trim()))),
                Err(TransportError::Timeout(_)) => {
                    return Err(unknown(format!("it was still running when the time limit ended (job {job} in {})", jobs_dir_text(cmd))));
                }
                Err(e) if is_connection_problem(&e) && Instant::now() < reconnect_until => tokio::time::sleep(RECONNECT_PAUSE).await,
                Err(e) => return Err(unknown(format!("no new connection to collect it ({e}); job {job} is kept in {}", jobs_dir_text(cmd)))),
            }
        };
        match state.as_str() {
            "done" => {
                let take = Cmd { script: &take_script(job), stdin: None, timeout: Some(Duration::from_secs(60)), probe: false, ..cmd.clone() };
                self.exec(&take).await.map_err(|e| unknown(format!("its output could not be read ({e})")))
            }
            "rebooted" => Err(unknown("the host rebooted before it ended".into())),
            "gone" => Err(unknown("it never started (the connection went first)".into())),
            _ => Err(unknown(format!("it ended without an exit status: stopped, or never started (job {job})"))),
        }
    }
}

fn is_connection_problem(e: &TransportError) -> bool {
    e.is_unreachable() || matches!(e, TransportError::ConnectionLost { .. })
}

/// For messages: the folder jobs are kept in for this command's user.
fn jobs_dir_text(cmd: &Cmd<'_>) -> &'static str {
    match cmd.become_user {
        Some("root") => "/var/lib/hlprov/jobs",
        _ => "/var/lib/hlprov/jobs (root) or ~/.hlprov/jobs",
    }
}

/// Start the job detached, wait for it, hand back its output and exit status, and remove its folder (only if
/// all of that reached the caller: see [`DELIVERED`]).
/// The job writes its pid (for the collector to see it alive) and, last, its exit status (rc, by rename, so a
/// collector never reads half a number). stdin, if any, is kept in the folder first so the job owns it.
fn launch_script(job: &str, script: &str, stdin: bool) -> String {
    let body = format!("echo $$ > \"$j/pid\"; /bin/sh -c {}; rc=$?; echo $rc > \"$j/rc.new\"; mv \"$j/rc.new\" \"$j/rc\"; exit $rc", quote(script));
    let input = if stdin { "cat > \"$j/in\"" } else { ": > \"$j/in\"" };
    format!(
        "d={JOBS_DIR}; j=\"$d/{job}\"; umask 077; \
         mkdir -p \"$d\" && mkdir \"$j\" || {{ echo \"hlprov: cannot keep a job in $d\" >&2; exit 125; }}; \
         find \"$d\" -mindepth 1 -maxdepth 1 -mtime +{KEEP_DAYS} -exec rm -rf {{}} + 2>/dev/null; \
         cat /proc/sys/kernel/random/boot_id > \"$j/boot\" 2>/dev/null; {input}; \
         s=; command -v setsid >/dev/null 2>&1 && s=setsid; export j; \
         env -u HLPROV_CMD HLPROV_JOB={job} $s /bin/sh -c {} < \"$j/in\" > \"$j/out\" 2> \"$j/err\" & wait $!; \
         rc=$(cat \"$j/rc\" 2>/dev/null || echo 255); \
         cat \"$j/out\" && printf %s {} && cat \"$j/err\" >&2 && rm -rf \"$j\"; exit $rc",
        quote(&body),
        quote(DELIVERED)
    )
}

/// Wait until the job has ended and say how: `done` (its status is kept), `rebooted` (the host booted since it
/// started), `gone` (no folder: it never started) or `stopped` (no process of it for 5 s and no status).
fn wait_script(job: &str) -> String {
    format!(
        "d={JOBS_DIR}; j=\"$d/{job}\"; [ -d \"$j\" ] || {{ echo gone; exit 0; }}; \
         [ \"$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)\" = \"$(cat \"$j/boot\" 2>/dev/null)\" ] || {{ echo rebooted; exit 0; }}; \
         n=0; while [ ! -e \"$j/rc\" ]; do \
           p=$(cat \"$j/pid\" 2>/dev/null); \
           case \"$([ -n \"$p\" ] && tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null)\" in \
             *HLPROV_JOB={job}*) n=0;; \
             *) n=$((n + 1)); if [ $n -gt 5 ] && [ ! -e \"$j/rc\" ]; then echo stopped; exit 0; fi;; \
           esac; sleep 1; \
         done; echo done"
    )
}

/// The ended job's output and exit status, as if it had run on the connection; then its folder is removed.
fn take_script(job: &str) -> String {
    format!("d={JOBS_DIR}; j=\"$d/{job}\"; cat \"$j/out\"; cat \"$j/err\" >&2; rc=$(cat \"$j/rc\"); rm -rf \"$j\"; exit $rc")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::transport::local::LocalTransport;

    fn conn() -> Connection {
        Connection::new(Arc::new(LocalTransport::new()), "me".into(), None)
    }

    #[tokio::test]
    async fn a_job_gives_its_output_status_and_stdin_and_leaves_no_folder() {
        let jobs = tempfile::tempdir().unwrap();
        let env = [("HLPROV_JOBS_DIR".to_string(), jobs.path().display().to_string()), ("X".to_string(), "x y".to_string())];
        let script = "echo out $X; echo err >&2; read line; echo \"in $line\"; exit 3";
        let cmd = Cmd { script, stdin: Some(b"fed\n"), env: &env, ..Default::default() };
        let out = conn().exec_detached(&cmd).await.unwrap();
        assert_eq!((out.rc(), out.stdout_text().as_str(), out.stderr_text().as_str()), (3, "out x y\nin fed\n", "err\n"));
        assert_eq!(std::fs::read_dir(jobs.path()).unwrap().count(), 0, "the job's folder is removed");
    }

    #[tokio::test]
    async fn a_job_outlives_its_stopped_launcher_and_is_collected_later() {
        let jobs = tempfile::tempdir().unwrap();
        let env = [("HLPROV_JOBS_DIR".to_string(), jobs.path().display().to_string())];
        let mark = jobs.path().join("ended");
        let script = format!("sleep 2; touch {}; echo finished", mark.display());
        let job = "job-00000000000000aa";
        let c = conn();
        let launch = launch_script(job, &script, false);
        let cmd = Cmd { script: &launch, env: &env, ..Default::default() };
        // Once the job runs, its launcher is stopped and its caller goes away (as on a lost connection). The job
        // must go on, and its result be there to collect.
        let mut launched = Box::pin(c.exec(&cmd));
        loop {
            tokio::select! {
                r = &mut launched => panic!("the launcher ended before the job started: {r:?}"),
                _ = tokio::time::sleep(Duration::from_millis(50)) => if jobs.path().join(job).join("pid").exists() { break },
            }
        }
        // The launcher (the job's parent) is stopped, as hlprov stops a lost command's processes.
        let pid = std::fs::read_to_string(jobs.path().join(job).join("pid")).unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap();
        let launcher = stat.rsplit_once(") ").unwrap().1.split(' ').nth(1).unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-KILL", &launcher]).status().unwrap().success());
        drop(launched);
        let wait = Cmd { script: &wait_script(job), env: &env, ..Default::default() };
        assert_eq!(c.exec(&wait).await.unwrap().stdout_text().trim(), "done");
        assert!(mark.exists(), "the job ran to its end");
        let take = Cmd { script: &take_script(job), env: &env, ..Default::default() };
        let out = c.exec(&take).await.unwrap();
        assert_eq!((out.rc(), out.stdout_text().as_str()), (0, "finished\n"));
        assert_eq!(c.exec(&wait).await.unwrap().stdout_text().trim(), "gone", "collected once, then removed");
    }

    #[tokio::test]
    async fn a_job_from_another_boot_or_killed_without_a_status_is_unknown() {
        let jobs = tempfile::tempdir().unwrap();
        let env = [("HLPROV_JOBS_DIR".to_string(), jobs.path().display().to_string())];
        let c = conn();
        let j = jobs.path().join("job-00000000000000bb");
        std::fs::create_dir(&j).unwrap();
        std::fs::write(j.join("boot"), "another-boot\n").unwrap();
        let wait = Cmd { script: &wait_script("job-00000000000000bb"), env: &env, ..Default::default() };
        assert_eq!(c.exec(&wait).await.unwrap().stdout_text().trim(), "rebooted");
        // Same boot, a pid that is not the job's (this test's own shell has no HLPROV_JOB), no status.
        std::fs::copy("/proc/sys/kernel/random/boot_id", j.join("boot")).unwrap();
        std::fs::write(j.join("pid"), "1\n").unwrap();
        assert_eq!(c.exec(&wait).await.unwrap().stdout_text().trim(), "stopped");
    }
}
