//! wait_for: wait, from the host, until a TCP port opens or closes, a file appears or goes, text shows up in a
//! file or a port's greeting, or a port's connections drain. The waiting loop runs here; each look is one short
//! exec on the host (bash's /dev/tcp for ports, so no nc is needed). Results follow Ansible's wait_for.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Map, Value};

use super::{ArgKind, ArgSpec, Args, CheckMode, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};
use crate::transport::quote::quote;

pub struct WaitFor;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("host", ArgKind::Str).default("127.0.0.1").help("Host to connect to, as seen from the managed host."),
    ArgSpec::new("port", ArgKind::Int).help("TCP port to wait for."),
    ArgSpec::new("path", ArgKind::Path).help("File to wait for (on the host)."),
    ArgSpec::new("search_regex", ArgKind::Str).help("A regular expression that must match the file's content or the port's greeting."),
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["started", "present", "stopped", "absent", "drained"])
        .default("started")
        .help("started/present: port open or file there; stopped/absent: port closed or file gone; drained: no active connections on the port."),
    ArgSpec::new("timeout", ArgKind::Int).default("300").help("Seconds to wait at most."),
    ArgSpec::new("connect_timeout", ArgKind::Int).default("5").help("Seconds for each connection attempt (and for reading a greeting)."),
    ArgSpec::new("delay", ArgKind::Int).default("0").help("Seconds to wait before the first look."),
    ArgSpec::new("sleep", ArgKind::Int).default("1").help("Seconds between looks."),
    ArgSpec::new("msg", ArgKind::Str).help("Message on timeout, instead of the default."),
    ArgSpec::new("exclude_hosts", ArgKind::List).help("With state=drained: peers whose connections do not count."),
    ArgSpec::new("active_connection_states", ArgKind::List)
        .default("ESTABLISHED,FIN_WAIT1,FIN_WAIT2,SYN_RECV,SYN_SENT,TIME_WAIT")
        .help("With state=drained: which TCP states count as active."),
])
.check_mode(CheckMode::None);

/// Largest amount of a file (its end) or a greeting read per look.
const MAX_READ: u64 = 16 * 1024 * 1024;

/// Ansible's connection state names → `ss`'s.
fn ss_state(name: &str) -> Option<&'static str> {
    Some(match name {
        "ESTABLISHED" => "ESTAB",
        "SYN_SENT" => "SYN-SENT",
        "SYN_RECV" => "SYN-RECV",
        "FIN_WAIT1" => "FIN-WAIT-1",
        "FIN_WAIT2" => "FIN-WAIT-2",
        "TIME_WAIT" => "TIME-WAIT",
        "CLOSE" => "UNCONN",
        "CLOSE_WAIT" => "CLOSE-WAIT",
        "LAST_ACK" => "LAST-ACK",
        "LISTEN" => "LISTEN",
        "CLOSING" => "CLOSING",
        _ => return None,
    })
}

/// What one look found.
enum Look {
    /// Port open / file there (with the data to search, if asked for).
    Present(Option<Vec<u8>>),
    Absent,
    /// Active connections on the port.
    Connections(usize),
}

fn valid_host(h: &str) -> bool {
    !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:_".contains(c))
}

/// The script for one look.
fn look_script(args: &Args, read_secs: u64) -> String {
    let host = args.str("host").unwrap_or("127.0.0.1");
    if let (Some(port), Some("drained")) = (args.int("port"), args.str("state")) {
        return format!("ss -Htan 2>/dev/null | awk '{{ n = split($4, a, \":\"); if (a[n] == \"{port}\") print $1, $5 }}'");
    }
    if let Some(port) = args.int("port") {
        let read = if args.has("search_regex") { format!("; timeout {read_secs} cat <&3 | head -c {MAX_READ} | base64 -w0") } else { String::new() };
        let inner = format!("exec 3<>/dev/tcp/{host}/{port} || exit 7{read}");
        return format!(
            "command -v bash >/dev/null || {{ echo 'wait_for needs bash on the host to test ports' >&2; exit 3; }}; \
             d=$(timeout {} bash -c {} 2>/dev/null); rc=$?; if [ $rc = 0 ]; then echo open; printf '%s' \"$d\"; else echo closed; fi",
            args.int("connect_timeout").unwrap_or(5).max(1) as u64 + read_secs,
            quote(&inner)
        );
    }
    let p = quote(args.str("path").unwrap_or(""));
    if args.has("search_regex") {
        format!("if [ -e {p} ]; then echo open; tail -c {MAX_READ} {p} | base64 -w0; else echo closed; fi")
    } else {
        format!("if [ -e {p} ]; then echo open; else echo closed; fi")
    }
}

async fn look(ctx: &ModuleCtx<'_>, args: &Args, read_secs: u64) -> Result<Look, ModuleError> {
    let per_look = Duration::from_secs(args.int("connect_timeout").unwrap_or(5).max(1) as u64 + read_secs + 30);
    let out = ctx.with_timeout(Some(per_look)).read(&look_script(args, read_secs)).await?;
    if out.rc() == 3 {
        return Err(ModuleError::failed(out.stderr_text().trim().to_string()));
    }
    let text = out.stdout_text();
    if args.req("state")? == "drained" && args.has("port") {
        let active: Vec<&str> = args.list("active_connection_states").iter().filter_map(|s| ss_state(s)).collect();
        let excluded = args.list("exclude_hosts");
        let count = text
            .lines()
            .filter(|l| {
                let mut f = l.split_whitespace();
                let (state, peer) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
                let peer_host = peer.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']'])).unwrap_or(peer);
                active.contains(&state) && !excluded.iter().any(|e| e == peer_host)
            })
            .count();
        return Ok(Look::Connections(count));
    }
    let mut lines = text.splitn(2, '\n');
    match lines.next().unwrap_or("").trim() {
        "open" => {
            let data = lines.next().map(|b| base64::engine::general_purpose::STANDARD.decode(b.trim().as_bytes()).unwrap_or_default());
            Ok(Look::Present(data.filter(|_| args.has("search_regex"))))
        }
        _ => Ok(Look::Absent),
    }
}

#[async_trait::async_trait]
impl Module for WaitFor {
    fn name(&self) -> &'static str {
        "wait_for"
    }
    fn summary(&self) -> &'static str {
        "Wait for a port, a file, a text in either, or drained connections, as seen from the host"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Ports are tested with bash's /dev/tcp and coreutils' timeout (both in a minimal Debian); drained uses ss. \
         search_regex uses Rust's regex syntax (no look-around or back-references) with multi-line mode, on the last \
         16 MiB of a file; for a port, the greeting is read for up to connect_timeout seconds per look. \
         Like Ansible, wait_for is skipped in check mode."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let state = args.req("state")?;
        let (port, path) = (args.int("port"), args.str("path"));
        if port.is_some() && path.is_some() {
            return Err(ModuleError::Args("port and path parameter can not both be passed to wait_for".into()));
        }
        if path.is_some() && (state == "stopped" || state == "drained") {
            return Err(ModuleError::Args(format!("state={state} should only be used for checking a port in the wait_for module")));
        }
        if args.has("exclude_hosts") && state != "drained" {
            return Err(ModuleError::Args("exclude_hosts should only be with state=drained".into()));
        }
        for s in args.list("active_connection_states") {
            if ss_state(&s).is_none() {
                return Err(ModuleError::Args(format!("unknown active_connection_state ({s}) defined")));
            }
        }
        if let Some(p) = port {
            if !(1..=65535).contains(&p) {
                return Err(ModuleError::Args(format!("port must be 1-65535, not {p}")));
            }
        }
        if !valid_host(args.req("host")?) {
            return Err(ModuleError::Args(format!("'{}' is not a host name or address", args.req("host")?)));
        }
        let regex = match args.str("search_regex") {
            Some(r) => Some(
                regex::bytes::RegexBuilder::new(r)
                    .multi_line(true)
                    .build()
                    .map_err(|e| ModuleError::Args(format!("Invalid regular expression: {e}")))?,
            ),
            None => None,
        };
        let timeout = Duration::from_secs(args.int("timeout").unwrap_or(300).max(0) as u64);
        let sleep = Duration::from_secs(args.int("sleep").unwrap_or(1).max(0) as u64);
        let connect_timeout = args.int("connect_timeout").unwrap_or(5).max(1) as u64;
        let start = Instant::now();
        tokio::time::sleep(Duration::from_secs(args.int("delay").unwrap_or(0).max(0) as u64)).await;
        let end = start + timeout;
        let host = args.req("host")?;
        let mut groups: Vec<Value> = Vec::new();
        let mut groupdict = Map::new();

        if port.is_none() && path.is_none() && state != "drained" {
            tokio::time::sleep(end.saturating_duration_since(Instant::now())).await;
        } else {
            let want_present = matches!(state, "started" | "present");
            let done = loop {
                let remaining = end.saturating_duration_since(Instant::now()).as_secs();
                let read_secs = if regex.is_some() && port.is_some() { connect_timeout.min(remaining.max(1)) } else { 0 };
                let seen = look(ctx, args, read_secs).await?;
                let satisfied = match (&seen, state) {
                    (Look::Connections(n), _) => *n == 0,
                    (Look::Present(data), _) if want_present => match (&regex, data) {
                        (None, _) => true,
                        (Some(re), Some(bytes)) => match re.captures(bytes) {
                            Some(c) => {
                                groups = c
                                    .iter()
                                    .skip(1)
                                    .map(|m| m.map(|m| Value::String(String::from_utf8_lossy(m.as_bytes()).into_owned())).unwrap_or(Value::Null))
                                    .collect();
                                for name in re.capture_names().flatten() {
                                    let v = c
                                        .name(name)
                                        .map(|m| Value::String(String::from_utf8_lossy(m.as_bytes()).into_owned()))
                                        .unwrap_or(Value::Null);
                                    groupdict.insert(name.to_string(), v);
                                }
                                true
                            }
                            None => false,
                        },
                        (Some(_), None) => false,
                    },
                    (Look::Present(_), _) => false,
                    (Look::Absent, _) => !want_present,
                };
                if satisfied {
                    break true;
                }
                if Instant::now() + sleep >= end {
                    break false;
                }
                tokio::time::sleep(sleep).await;
            };
            if !done {
                let elapsed = start.elapsed().as_secs();
                let default = match (state, port, path, args.str("search_regex")) {
                    ("drained", Some(p), _, _) => format!("Timeout when waiting for {host}:{p} to drain"),
                    ("stopped" | "absent", Some(p), _, _) => format!("Timeout when waiting for {host}:{p} to stop."),
                    ("absent", None, Some(f), _) => format!("Timeout when waiting for {f} to be absent."),
                    (_, Some(p), _, Some(r)) => format!("Timeout when waiting for search string {r} in {host}:{p}"),
                    (_, Some(p), _, None) => format!("Timeout when waiting for {host}:{p}"),
                    (_, None, Some(f), Some(r)) => format!("Timeout when waiting for search string {r} in {f}"),
                    (_, None, Some(f), None) => format!("Timeout when waiting for file {f}"),
                    _ => "Timeout".to_string(),
                };
                return Err(ModuleError::failed(args.str("msg").map(str::to_string).unwrap_or(default)).with("elapsed", elapsed));
            }
        }
        Ok(Plan::unchanged()
            .with("state", state)
            .with("port", port.map(Value::from).unwrap_or(Value::Null))
            .with("search_regex", args.str("search_regex").map(Value::from).unwrap_or(Value::Null))
            .with("match_groups", Value::Array(groups))
            .with("match_groupdict", Value::Object(groupdict))
            .with("path", path.map(Value::from).unwrap_or(Value::Null))
            .with("elapsed", start.elapsed().as_secs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_states_map_to_ss_names() {
        assert_eq!(ss_state("ESTABLISHED"), Some("ESTAB"));
        assert_eq!(ss_state("FIN_WAIT1"), Some("FIN-WAIT-1"));
        assert_eq!(ss_state("BOGUS"), None);
    }

    #[test]
    fn hosts_are_checked_before_they_reach_a_shell() {
        assert!(valid_host("127.0.0.1") && valid_host("db.home.arpa") && valid_host("::1"));
        assert!(!valid_host("x; rm -rf /") && !valid_host(""));
    }
}
