//! apt: Debian packages with apt-get and dpkg (no python-apt on the host). One probe reads the cache age, every
//! named package's dpkg status, apt's candidates and auto-installed marks; installs, removals and upgrades run
//! apt-get, and check mode asks apt-get to simulate. Results and `changed` follow Ansible's apt module.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::helpers::host::Probe;
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::{join, quote};

pub struct Apt;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::List)
        .aliases(&["package", "pkg"])
        .help("Packages to manage: `name`, `name=version` (a glob like `1.2*` is allowed), `name>=version`, or `name:arch`."),
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["present", "absent", "latest"])
        .default("present")
        .help("present: installed (any version); latest: the candidate version; absent: removed."),
    ArgSpec::new("update_cache", ArgKind::Bool)
        .aliases(&["update-cache"])
        .help("Run `apt-get update` first (only when the cache is older than cache_valid_time, if that is set)."),
    ArgSpec::new("cache_valid_time", ArgKind::Int)
        .default("0")
        .help("Seconds the package lists count as fresh; an older cache is updated (this implies update_cache)."),
    ArgSpec::new("update_cache_retries", ArgKind::Int).default("5").help("Attempts at `apt-get update` before failing."),
    ArgSpec::new("update_cache_retry_max_delay", ArgKind::Int).default("12").help("Longest pause between those attempts, in seconds."),
    ArgSpec::new("deb", ArgKind::Path).help("Install this .deb file, a path on the host; its dependencies come from the archive."),
    ArgSpec::new("install_recommends", ArgKind::Bool)
        .aliases(&["install-recommends"])
        .help("Install recommended packages too (yes) or not (no); unset follows the host's apt configuration."),
    ArgSpec::new("purge", ArgKind::Bool)
        .default("no")
        .help("With state=absent, also remove configuration files (and purge packages that left only those)."),
    ArgSpec::new("autoremove", ArgKind::Bool).default("no").help("Remove packages installed as dependencies that nothing needs any more."),
    ArgSpec::new("autoclean", ArgKind::Bool).default("no").help("Remove package files that can no longer be downloaded from the local cache."),
    ArgSpec::new("clean", ArgKind::Bool).default("no").help("Run `apt-get clean` (empties the local package cache)."),
    ArgSpec::new("upgrade", ArgKind::Str)
        .choices(&["no", "yes", "safe", "full", "dist"])
        .help("Upgrade installed packages (default no): yes/safe run `apt-get upgrade --with-new-pkgs`, full/dist run `apt-get dist-upgrade`."),
    ArgSpec::new("default_release", ArgKind::Str).aliases(&["default-release"]).help("Prefer this release (`apt-get -t`)."),
    ArgSpec::new("only_upgrade", ArgKind::Bool).default("no").help("Only upgrade packages that are already installed; never install new ones."),
    ArgSpec::new("force", ArgKind::Bool)
        .default("no")
        .help("Pass --force-yes to apt-get (dangerous: installs unauthenticated or downgraded packages)."),
    ArgSpec::new("allow_unauthenticated", ArgKind::Bool)
        .aliases(&["allow-unauthenticated"])
        .default("no")
        .help("Install packages that cannot be authenticated."),
    ArgSpec::new("allow_downgrade", ArgKind::Bool)
        .aliases(&["allow-downgrade", "allow_downgrades", "allow-downgrades"])
        .default("no")
        .help("Allow installing an older version than the one installed."),
    ArgSpec::new("allow_change_held_packages", ArgKind::Bool).default("no").help("Allow changing packages that are on hold."),
    ArgSpec::new("dpkg_options", ArgKind::Str)
        .default("force-confdef,force-confold")
        .help("Comma-separated dpkg options, each passed as `-o Dpkg::Options::=--OPTION`."),
    ArgSpec::new("force_apt_get", ArgKind::Bool)
        .default("no")
        .help("Accepted for Ansible compatibility and changes nothing: hlprov always uses apt-get (never aptitude)."),
    ArgSpec::new("lock_timeout", ArgKind::Int)
        .default("60")
        .help("Seconds to wait for the dpkg lock held by another apt process (also before repairing an interrupted dpkg)."),
])
.mutually_exclusive(&[&["deb", "name", "upgrade"]])
.required_one_of(&[&["name", "deb", "update_cache", "upgrade", "autoremove", "autoclean", "clean"]])
.changes(CHANGES)
.critical();

/// apt-get's summary line when it did nothing.
const APT_GET_ZERO: &str = "\n0 upgraded, 0 newly installed, 0 to remove";

/// Environment for every apt command: no prompts, and output apt's parsers (and ours) understand.
const APT_ENV: &str = "export DEBIAN_FRONTEND=noninteractive DEBIAN_PRIORITY=critical LANG=C LC_ALL=C LC_MESSAGES=C LC_CTYPE=C LANGUAGE=C; ";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VersionOp {
    /// `name=glob`
    Eq,
    /// `name>=version`
    Ge,
}

/// One `name[:arch][=version|>=version]` as the task gives it.
#[derive(Clone, Debug, PartialEq)]
struct PkgSpec {
    name: String,
    want: Option<(VersionOp, String)>,
}

fn parse_spec(raw: &str) -> Result<PkgSpec, String> {
    let raw = raw.trim();
    if raw.matches('=').count() > 1 {
        return Err(format!("invalid package spec: {raw}"));
    }
    let (name, want) = if let Some((n, v)) = raw.split_once(">=") {
        (n, Some((VersionOp::Ge, v.to_string())))
    } else if let Some((n, v)) = raw.split_once('=') {
        (n, Some((VersionOp::Eq, v.to_string())))
    } else {
        (raw, None)
    };
    if name.contains(['*', '?', '[', ']', '!']) {
        return Err(format!("package name patterns are not supported by hlprov's apt ('{name}'): list the packages by name"));
    }
    let (base, arch) = name.split_once(':').unwrap_or((name, ""));
    let good_base = base.len() >= 2
        && base.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && base.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
    if !good_base || !arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') || name.ends_with(':') {
        return Err(format!("'{name}' is not a valid Debian package name"));
    }
    if let Some((_, v)) = &want {
        if v.is_empty() || v.contains(char::is_whitespace) {
            return Err(format!("invalid package spec: {raw}"));
        }
    }
    Ok(PkgSpec { name: name.to_string(), want })
}

/// What the host knows about one package.
#[derive(Clone, Debug, Default, PartialEq)]
struct PkgState {
    /// Installed version (dpkg status `?i`).
    installed: Option<String>,
    /// Removed but configuration files remain (dpkg status `rc`).
    config_files: bool,
    /// apt-cache policy printed a section for it (it is known, maybe only as a virtual package).
    known: bool,
    candidate: Option<String>,
    /// Every version apt could install, best first.
    versions: Vec<String>,
}

/// dpkg-query lines `Package\tArchitecture\tStatus-Abbrev\tVersion`, matched to what was asked.
fn parse_dpkg_query(out: &str, specs: &[PkgSpec], states: &mut HashMap<String, PkgState>) {
    for line in out.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 4 {
            continue;
        }
        let (pkg, arch, status, version) = (f[0], f[1], f[2].trim(), f[3]);
        for spec in specs {
            let (base, want_arch) = spec.name.split_once(':').unwrap_or((&spec.name, ""));
            if base != pkg || (!want_arch.is_empty() && want_arch != arch) {
                continue;
            }
            let st = states.entry(spec.name.clone()).or_default();
            // Status-Abbrev: desired, current, error flags; current 'i' is "installed", 'c' is "config-files".
            // Unpacked (U), half-configured (F) and trigger states (W, t) count as installed: the repair that
            // comes first (`dpkg --configure -a`) finishes them at this version.
            match status.chars().nth(1) {
                Some('i' | 'U' | 'F' | 'W' | 't') => st.installed = Some(version.to_string()),
                Some('c') => st.config_files = true,
                _ => {}
            }
        }
    }
}

/// `apt-cache policy` output (LC_ALL=C): installed, candidate, and the version table for each package.
fn parse_policy(out: &str, states: &mut HashMap<String, PkgState>) {
    let mut current: Option<String> = None;
    for line in out.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            let name = line.trim_end_matches(':').to_string();
            states.entry(name.clone()).or_default().known = true;
            current = Some(name);
            continue;
        }
        let Some(name) = &current else { continue };
        let st = states.entry(name.clone()).or_default();
        let t = line.trim();
        if let Some(c) = t.strip_prefix("Candidate:") {
            let c = c.trim();
            st.candidate = (c != "(none)").then(|| c.to_string());
        } else if (line.starts_with("     ") || line.starts_with(" *** ")) && !line.starts_with("        ") {
            // A version table entry: "     1.2-3 500" or " *** 1.2-3 500".
            let parts: Vec<&str> = t.trim_start_matches("***").split_whitespace().collect();
            if parts.len() == 2 && parts[1].parse::<i64>().is_ok() {
                st.versions.push(parts[0].to_string());
            }
        }
    }
}

/// A shell glob (`*`, `?`) as Python's fnmatch applies it to versions.
fn glob_match(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], t) || (!t.is_empty() && go(p, &t[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    go(&p, &t)
}

/// Debian version comparison (dpkg's algorithm: epoch, then upstream and revision by verrevcmp).
pub fn deb_version_cmp(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        let (up, rev) = rest.rsplit_once('-').unwrap_or((rest, ""));
        (epoch, up, rev)
    }
    fn order(c: Option<u8>) -> i32 {
        match c {
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => c as i32,
            Some(b'~') => -1,
            Some(c) => c as i32 + 256,
        }
    }
    fn verrevcmp(a: &str, b: &str) -> Ordering {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let mut first_diff = 0i32;
            while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
                let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
                if ac != bc {
                    return ac.cmp(&bc);
                }
                i += 1;
                j += 1;
            }
            while i < a.len() && a[i] == b'0' {
                i += 1;
            }
            while j < b.len() && b[j] == b'0' {
                j += 1;
            }
            while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
                if first_diff == 0 {
                    first_diff = a[i] as i32 - b[j] as i32;
                }
                i += 1;
                j += 1;
            }
            if i < a.len() && a[i].is_ascii_digit() {
                return Ordering::Greater;
            }
            if j < b.len() && b[j].is_ascii_digit() {
                return Ordering::Less;
            }
            if first_diff != 0 {
                return first_diff.cmp(&0);
            }
        }
        Ordering::Equal
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb).then_with(|| verrevcmp(ua, ub)).then_with(|| verrevcmp(ra, rb))
}

/// What to do with one package for state present/latest: nothing, install a version, or fail.
#[derive(Debug, PartialEq)]
enum Decision {
    Keep,
    /// `name` or `name=version` for apt-get.
    Install(String),
    NoCandidate,
}

/// Ansible's package_status + install decision for one spec.
fn plan_install(spec: &PkgSpec, st: &PkgState, latest: bool, only_upgrade: bool) -> Decision {
    let name = &spec.name;
    if st.installed.is_none() && only_upgrade {
        return Decision::Keep;
    }
    // The best installable version meeting the spec (apt's candidate, or for `=glob` the best match).
    let best = match &spec.want {
        Some((VersionOp::Eq, glob)) => st.versions.iter().find(|v| glob_match(glob, v)).cloned(),
        _ => st.candidate.clone(),
    };
    let (version_ok, installable) = match (&st.installed, &spec.want) {
        (Some(inst), Some((VersionOp::Eq, glob))) => (glob_match(glob, inst), best.filter(|b| b != inst)),
        (Some(inst), Some((VersionOp::Ge, min))) => {
            (deb_version_cmp(inst, min) != Ordering::Less, best.filter(|b| b != inst && deb_version_cmp(b, min) != Ordering::Less))
        }
        (Some(inst), None) => (true, best.filter(|b| b != inst)),
        (None, Some((VersionOp::Ge, min))) => (false, best.filter(|b| deb_version_cmp(b, min) != Ordering::Less)),
        (None, _) => (false, best),
    };
    if !version_ok && installable.is_none() {
        return Decision::NoCandidate;
    }
    match installable {
        Some(v) if st.installed.is_none() || latest || !version_ok => Decision::Install(format!("{name}={v}")),
        _ => Decision::Keep,
    }
}

/// Everything the probe learned.
#[derive(Debug, Default)]
struct Observed {
    now: i64,
    cache_time: i64,
    pkgs: HashMap<String, PkgState>,
    auto: HashSet<String>,
    /// Why dpkg needs `dpkg --configure -a` before apt can act (an interrupted run), if it does.
    dpkg_broken: Option<String>,
}

/// dpkg's health, read with the other snippets: apt refuses to run ("dpkg was interrupted") while its journal,
/// /var/lib/dpkg/updates/, holds a file named by digits (apt's debSystem::CheckUpdates); packages left
/// unpacked, half-configured or awaiting triggers are what `dpkg --configure -a` finishes. Half-installed
/// ones need a reinstall, which the install itself does. The journal's entries (whole paragraphs, in order)
/// override the status file, as dpkg reads them.
/// On a healthy host this costs one `grep` (no journal file: the glob is the shell's own; no unfinished status
/// line: awk does not run), so the no-op path stays as cheap as before the check.
const DPKG_HEALTH: &str = "(set -- /var/lib/dpkg/updates/[0-9]*; [ -e \"$1\" ] || set --; [ $# -eq 0 ] || echo journal; \
    if [ $# -gt 0 ] || grep -qE '^Status: .* (unpacked|half-configured|triggers-awaited|triggers-pending)$' /var/lib/dpkg/status 2>/dev/null; then \
    awk '/^Package: /{p=$2} /^Status: /{s[p]=$NF} END{for (p in s) if (s[p] ~ /^(unpacked|half-configured|triggers-awaited|triggers-pending)$/) print p \" (\" s[p] \")\"}' \
    /var/lib/dpkg/status \"$@\" 2>/dev/null; fi); true";

/// The reason for a repair, from DPKG_HEALTH's output; None when dpkg is healthy.
fn dpkg_broken(out: &str) -> Option<String> {
    let mut journal = false;
    let mut pkgs = Vec::new();
    for l in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if l == "journal" { journal = true } else { pkgs.push(l) }
    }
    let mut why = Vec::new();
    if journal {
        why.push("dpkg was interrupted (its journal in /var/lib/dpkg/updates is not empty)".to_string());
    }
    if !pkgs.is_empty() {
        why.push(format!("packages left unfinished: {}", pkgs.join(", ")));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Read the cache age, the packages' dpkg status and auto marks in one probe. apt's candidates (`apt-cache
/// policy`, which loads the whole package cache) are read in a second probe, and only when the decision needs
/// them: to install, to upgrade, or to match a version. A re-run of `state: present` costs one cheap probe.
async fn observe(ctx: &ModuleCtx<'_>, specs: &[PkgSpec], state: &str) -> Result<Observed, ModuleError> {
    let mut p = Probe::new();
    p.add("date +%s");
    p.add("stat -c %Y /var/lib/apt/periodic/update-success-stamp 2>/dev/null || stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0");
    p.add(DPKG_HEALTH);
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let has = !names.is_empty();
    let list = join(&names);
    if has {
        p.add(format!("dpkg-query -W -f='${{Package}}\\t${{Architecture}}\\t${{db:Status-Abbrev}}\\t${{Version}}\\n' {list} 2>/dev/null; true"));
        // apt-mark showauto builds the whole dependency cache (0.2 s); its answer is in this file.
        p.add(format!("[ ! -r {EXTENDED_STATES} ] || {}", auto_marks_script(&names, EXTENDED_STATES)));
    }
    let s = p.run(ctx).await?;
    let mut obs = Observed {
        now: s[0].trimmed().parse().unwrap_or(0),
        cache_time: s[1].trimmed().parse().unwrap_or(0),
        dpkg_broken: dpkg_broken(&s[2].out),
        ..Default::default()
    };
    if has {
        parse_dpkg_query(&s[3].out, specs, &mut obs.pkgs);
        obs.auto = s[4].out.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        let settled = |spec: &PkgSpec| spec.want.is_none() && obs.pkgs.get(&spec.name).is_some_and(|st| st.installed.is_some());
        let needs_policy = match state {
            "absent" => false,
            "latest" => true,
            _ => !specs.iter().all(settled),
        };
        if needs_policy {
            let out = ctx.read_ok(&format!("{APT_ENV}apt-cache policy {list} 2>/dev/null; true"), "apt-cache policy").await?;
            parse_policy(&out.stdout_text(), &mut obs.pkgs);
        }
    }
    Ok(obs)
}

const EXTENDED_STATES: &str = "/var/lib/apt/extended_states";

/// The named packages apt holds as automatically installed, from /var/lib/apt/extended_states (paragraphs
/// of `Package:`, `Architecture:`, `Auto-Installed: 1`), one per line; `name:arch` matches its architecture.
fn auto_marks_script(names: &[&str], file: &str) -> String {
    let want: String = names.iter().map(|n| format!(" {n}")).collect::<String>() + " ";
    format!(
        "awk -v RS= -v want={} '{{ p = \"\"; a = \"\"; auto = 0; n = split($0, l, \"\\n\"); \
         for (i = 1; i <= n; i++) {{ if (l[i] ~ /^Package: /) p = substr(l[i], 10); \
         else if (l[i] ~ /^Architecture: /) a = substr(l[i], 15); else if (l[i] == \"Auto-Installed: 1\") auto = 1 }} \
         if (!auto) next; if (index(want, \" \" p \" \")) print p; if (index(want, \" \" p \":\" a \" \")) print p \":\" a }}' \
         {}",
        quote(&want),
        quote(file)
    )
}

/// Waits up to `timeout` seconds for another process to release dpkg's locks (naming it, from /proc/locks,
/// when it does not: targets may lack fuser and lsof), then finishes an interrupted dpkg run, unless the
/// holder's own run left dpkg healthy (prints HEALTHY then).
fn repair_script(args: &Args) -> String {
    let timeout = args.int("lock_timeout").unwrap_or(60).max(0);
    let force: String = args
        .str("dpkg_options")
        .unwrap_or("force-confdef,force-confold")
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| format!(" {}", quote(&format!("--{o}"))))
        .collect();
    format!(
        "{APT_ENV}holder() {{ for f in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock; do i=$(stat -c %i $f 2>/dev/null) || continue; \
         awk -v i=\":$i\" '$2 != \"->\" && substr($6, length($6) - length(i) + 1) == i {{ print $5; exit }}' /proc/locks; done | head -n 1; }}; \
         n=0; while p=$(holder); [ -n \"$p\" ]; do \
         if [ $n -ge {timeout} ]; then echo \"the dpkg lock is still held by process $p ($(tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null)) after {timeout}s\" >&2; exit 75; fi; \
         sleep 1; n=$((n + 1)); done; \
         [ -n \"$( {DPKG_HEALTH})\" ] || {{ echo HEALTHY; exit 0; }}; \
         dpkg{force} --configure -a"
    )
}

/// The apt-get options every operation shares.
fn common_opts(args: &Args) -> Vec<String> {
    let mut o = vec!["-y".to_string()];
    for opt in args.str("dpkg_options").unwrap_or("force-confdef,force-confold").split(',').map(str::trim).filter(|o| !o.is_empty()) {
        o.push("-o".into());
        o.push(format!("Dpkg::Options::=--{opt}"));
    }
    o.push("-o".into());
    o.push(format!("DPkg::Lock::Timeout={}", args.int("lock_timeout").unwrap_or(60)));
    if args.bool("force") {
        o.push("--force-yes".into());
    }
    if let Some(r) = args.str("default_release") {
        o.push("-t".into());
        o.push(r.to_string());
    }
    if args.bool("allow_unauthenticated") {
        o.push("--allow-unauthenticated".into());
    }
    if args.bool("allow_downgrade") {
        o.push("--allow-downgrades".into());
    }
    if args.bool("allow_change_held_packages") {
        o.push("--allow-change-held-packages".into());
    }
    o
}

fn recommends(args: &Args) -> Vec<String> {
    match args.get("install_recommends") {
        Some(v) if super::args::to_bool(v) == Some(true) => vec!["-o".into(), "APT::Install-Recommends=yes".into()],
        Some(_) => vec!["-o".into(), "APT::Install-Recommends=no".into()],
        None => Vec::new(),
    }
}

/// `apt-get OPTIONS... ACTION ITEMS...` as a command line, and as a simulation (`--simulate`, which only reads).
fn apt_get_cmd(opts: &[String], action: &str, items: &[String], simulate: bool) -> String {
    let mut argv = vec!["apt-get".to_string()];
    argv.extend(opts.iter().cloned());
    if simulate {
        argv.push("--simulate".into());
    }
    argv.push(action.to_string());
    argv.extend(items.iter().cloned());
    join(&argv)
}

/// Simulate an apt-get action while planning: its output says what it would do.
async fn simulate(ctx: &ModuleCtx<'_>, opts: &[String], action: &str, items: &[String]) -> Result<String, ModuleError> {
    let cmd = apt_get_cmd(opts, action, items, true);
    let out = ctx.read(&format!("{APT_ENV}{cmd}")).await?;
    if !out.success() {
        return Err(failed_run(&cmd, &out));
    }
    Ok(out.stdout_text())
}

/// Run an apt-get action for real; a failure carries apt-get's output.
async fn apt_get(ctx: &ApplyCtx<'_>, opts: &[String], action: &str, items: &[String]) -> Result<crate::transport::Output, ModuleError> {
    let cmd = apt_get_cmd(opts, action, items, false);
    let out = ctx.write_detached(&format!("{APT_ENV}{cmd}")).await?;
    if !out.success() {
        return Err(failed_run(&cmd, &out).after_change());
    }
    Ok(out)
}

fn failed_run(cmd: &str, out: &crate::transport::Output) -> ModuleError {
    ModuleError::failed(format!("'{cmd}' failed: {}", out.stderr_text().trim()))
        .with("stdout", out.stdout_text())
        .with("stderr", out.stderr_text())
        .with("rc", out.rc())
        .with("cmd", cmd)
}

/// `apt-get update` with Ansible's retries and backoff (apt_repository uses it too).
pub(crate) async fn update_cache(ctx: &ApplyCtx<'_>, args: &Args) -> Result<(), ModuleError> {
    let retries = args.int("update_cache_retries").unwrap_or(5).max(1);
    let max_delay = args.int("update_cache_retry_max_delay").unwrap_or(12).max(0) as f64;
    let mut last = String::new();
    // Ubuntu's apt hook touches this stamp after every successful update; Debian has no such hook, and the lists
    // folder's mtime does not move when nothing changed, so without it cache_valid_time could never be met.
    // Error-Mode=any makes a source that failed (unreachable, bad signature) an error, as python-apt does;
    // apt-get alone would warn and exit 0.
    let script = format!(
        "{APT_ENV}apt-get update -q -o APT::Update::Error-Mode=any && {{ [ ! -d /var/lib/apt/periodic ] || touch /var/lib/apt/periodic/update-success-stamp; }}"
    );
    for attempt in 0..retries {
        let out = ctx.write_detached(&script).await?;
        let failed_item = out.stdout_text().lines().any(|l| l.starts_with("Err:"));
        if out.success() && !failed_item {
            return Ok(());
        }
        last = out.stderr_text().trim().to_string();
        if attempt + 1 < retries {
            let delay = (2f64.powi(attempt as i32)).min(max_delay) + rand::random::<f64>();
            tokio::time::sleep(Duration::from_secs_f64(delay)).await;
        }
    }
    Err(ModuleError::failed(format!("Failed to update apt cache after {retries} retries: {last}")))
}

fn version_diff(before: &[(String, String)], after: &[(String, String)]) -> Diff {
    let render = |v: &[(String, String)]| v.iter().map(|(k, v)| format!("{k}: {v}\n")).collect::<String>();
    Diff { before_header: "packages".into(), after_header: "packages".into(), before: render(before), after: render(after) }
}

/// The kinds of change apt (and package) make.
pub const CHANGES: &[&str] = &["repair", "clean", "update cache", "install", "remove", "upgrade", "autoremove", "autoclean"];

/// One piece of apt's work, in the order it is done.
#[derive(Clone, Debug)]
enum Work {
    /// `dpkg --configure -a` for the reason given; the package decisions after it are made again.
    Repair(String),
    Clean,
    /// `apt-get update`; the package decisions after it are made again with the new lists.
    UpdateCache,
    /// Mark named packages as manually installed (Ansible does so without calling it a change).
    MarkManual(Vec<String>),
    Install(Vec<String>),
    Remove(Vec<String>),
    InstallDeb(String),
    Upgrade(&'static str),
    /// autoremove or autoclean.
    Tidy(&'static str),
}

/// What `apply` needs: the work, and when the lists were last updated.
struct AptPlan {
    work: Vec<Work>,
    cache_time: i64,
}

/// The packages to install (or remove) and their versions before and after, as the lists now say.
struct Decided {
    items: Vec<String>,
    /// Named packages apt holds as automatically installed.
    to_mark: Vec<String>,
    before: Vec<(String, String)>,
    after: Vec<(String, String)>,
}

#[async_trait::async_trait]
impl Module for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }
    fn summary(&self) -> &'static str {
        "Install, upgrade and remove Debian packages with apt-get (update the cache, .deb files, autoremove)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Needs no python3-apt: the host's apt-get, apt-cache, apt-mark and dpkg do the work. Package name patterns \
         (`apt*`) and `name: '*'` are refused with a message; list packages by name (or use upgrade). \
         state build-dep and fixed, policy_rc_d, fail_on_autoremove are not supported; force_apt_get is accepted and changes nothing (hlprov always uses apt-get). \
         `deb:` takes a path on the host (fetch a URL with get_url first); apt-get resolves its dependencies. \
         --diff shows package versions before and after rather than apt-get's output. After a successful \
         `apt-get update` hlprov touches /var/lib/apt/periodic/update-success-stamp (as Ubuntu's apt hook does), \
         so cache_valid_time works on Debian too and cache_updated is true after every real update. When the \
         cache is to be updated first, the plan's package versions are those of the current lists; the real \
         run decides again after the update. Before it acts, apt finishes an interrupted dpkg run (dpkg's journal \
         in /var/lib/dpkg/updates, packages left unpacked, half-configured or awaiting triggers) with \
         `dpkg --configure -a`, a change of kind `repair` whose diff and `repaired` result say why; it first waits \
         up to lock_timeout for another process holding dpkg's lock, and names that process if it stays."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let state = args.req("state")?;
        let specs = args.list("name").iter().map(|n| parse_spec(n)).collect::<Result<Vec<_>, _>>().map_err(ModuleError::Args)?;
        let upgrade = args.str("upgrade").filter(|u| *u != "no");
        let deb = args.str("deb");
        if deb.is_some() && state != "present" {
            return Err(ModuleError::Args("deb only supports state=present".into()));
        }
        let only_cache = specs.is_empty() && upgrade.is_none() && deb.is_none();
        let mut plan = Plan::unchanged();
        let mut work = Vec::new();
        let note = |what: &str| Diff { before_header: "apt".into(), after_header: "apt".into(), before: String::new(), after: format!("{what}\n") };

        if args.bool("clean") {
            if only_cache {
                let step = Change::new("clean", note("apt-get clean"), Step::Module);
                return Ok(plan.change(step).keep(AptPlan { work: vec![Work::Clean], cache_time: 0 }));
            }
            plan = plan.before(Step::Module);
            work.push(Work::Clean);
        }

        let obs = observe(ctx, &specs, state).await?;
        // An interrupted dpkg makes every apt-get run fail: finish it first, whatever the task asks.
        if let Some(why) = &obs.dpkg_broken {
            plan = plan.change(Change::new("repair", note(&format!("dpkg --configure -a ({why})")), Step::Module));
            work.push(Work::Repair(why.clone()));
        }
        let cache_valid_time = args.int("cache_valid_time").unwrap_or(0);
        let mut cache_pending = false;
        if args.bool("update_cache") || cache_valid_time > 0 {
            let stale = obs.cache_time + cache_valid_time < obs.now || cache_valid_time == 0;
            if only_cache && !args.bool("autoremove") && !args.bool("autoclean") {
                plan = plan.with("cache_updated", stale).with("cache_update_time", obs.cache_time);
                if !stale {
                    return Ok(plan.keep(AptPlan { work, cache_time: obs.cache_time }));
                }
                let d = note(&format!("apt-get update (lists from {})", fmt_time(obs.cache_time)));
                work.push(Work::UpdateCache);
                return Ok(plan.change(Change::new("update cache", d, Step::Module)).keep(AptPlan { work, cache_time: obs.cache_time }));
            }
            if stale {
                plan = plan.before(Step::Module);
                work.push(Work::UpdateCache);
                cache_pending = true;
            }
        }

        if let Some(mode) = upgrade {
            let (action, mut opts) = upgrade_opts(args, mode);
            opts.push("-q".into());
            let out = simulate(ctx, &opts, action, &[]).await?;
            if out.contains(APT_GET_ZERO) && !cache_pending {
                return Ok(plan.msg(out.clone()).with("stdout", out).keep(AptPlan { work, cache_time: obs.cache_time }));
            }
            work.push(Work::Upgrade(action));
            return Ok(plan
                .change(Change::new("upgrade", note(&simulated_changes(&out)), Step::Module))
                .keep(AptPlan { work, cache_time: obs.cache_time }));
        }
        if let Some(deb) = deb {
            let Some((pkg, installed, version)) = deb_versions(ctx, deb).await? else {
                return Ok(plan.with("stdout", "").with("stderr", "").keep(AptPlan { work, cache_time: obs.cache_time }));
            };
            work.push(Work::InstallDeb(deb_path(deb)));
            let d = version_diff(&[(pkg.clone(), installed.unwrap_or_else(|| "absent".into()))], &[(pkg, version)]);
            return Ok(plan.change(Change::new("install", d, Step::Module)).keep(AptPlan { work, cache_time: obs.cache_time }));
        }
        if specs.is_empty() && (args.bool("autoremove") || args.bool("autoclean")) {
            let op = if args.bool("autoclean") { "autoclean" } else { "autoremove" };
            let out = simulate(ctx, &tidy_opts(args), op, &[]).await?;
            let marker = if op == "autoremove" { "The following packages will be REMOVED" } else { "Del " };
            if !out.contains(marker) {
                return Ok(plan.with("stdout", out).with("stderr", "").keep(AptPlan { work, cache_time: obs.cache_time }));
            }
            work.push(Work::Tidy(op));
            return Ok(plan.change(Change::new(op, note(&simulated_changes(&out)), Step::Module)).keep(AptPlan { work, cache_time: obs.cache_time }));
        }

        if state != "absent" {
            plan = plan.with("cache_updated", cache_pending).with("cache_update_time", obs.cache_time);
        }
        let decided = if state == "absent" {
            decide_remove(args, &specs, &obs)
        } else {
            decide_install(ctx, args, &specs, &obs, state == "latest", cache_pending).await?
        };
        if !decided.to_mark.is_empty() {
            plan = plan.before(Step::Module);
            work.push(Work::MarkManual(decided.to_mark.clone()));
        }
        if decided.items.is_empty() {
            return Ok(plan.keep(AptPlan { work, cache_time: obs.cache_time }));
        }
        // Without a cache update pending, apt-get's own simulation checks the plan (dependencies, conflicts).
        let (kind, action, opts) =
            if state == "absent" { ("remove", "remove", remove_opts(args)) } else { ("install", "install", install_opts(args)) };
        if !cache_pending {
            let out = simulate(ctx, &opts, action, &decided.items).await?;
            plan = plan.with("stdout", out).with("stderr", "");
        }
        work.push(if state == "absent" { Work::Remove(decided.items.clone()) } else { Work::Install(decided.items.clone()) });
        Ok(plan
            .change(Change::new(kind, version_diff(&decided.before, &decided.after), Step::Module))
            .keep(AptPlan { work, cache_time: obs.cache_time }))
    }

    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let AptPlan { work, cache_time } = plan.take_found().ok_or_else(|| ModuleError::Internal("apt: plan without its work".into()))?;
        let state = args.req("state")?;
        let specs = args.list("name").iter().map(|n| parse_spec(n)).collect::<Result<Vec<_>, _>>().map_err(ModuleError::Args)?;
        let mut o = Outcome::from_plan(&plan);
        o.changed = false;
        let mut work: std::collections::VecDeque<Work> = work.into();
        let mut repaired = false;
        while let Some(w) = work.pop_front() {
            match w {
                Work::Repair(why) => {
                    let out = ctx.write_detached(&repair_script(args)).await?;
                    if !out.success() {
                        let msg = format!("dpkg needed repair ({why}) and 'dpkg --configure -a' failed: {}", out.stderr_text().trim());
                        return Err(ModuleError::failed(msg)
                            .with("stdout", out.stdout_text())
                            .with("stderr", out.stderr_text())
                            .with("rc", out.rc()));
                    }
                    if out.stdout_text().trim() != "HEALTHY" {
                        repaired = true;
                        o = o.with("repaired", format!("dpkg --configure -a: {why}"));
                    }
                    // Packages it finished may now be installed: decide them again.
                    let obs = observe(ctx, &specs, state).await?;
                    redecide(ctx, args, &specs, state, &obs, &mut work).await?;
                }
                Work::Clean => {
                    let out = ctx.write(&format!("{APT_ENV}apt-get clean"), None).await?;
                    if !out.success() {
                        return Err(failed_run("apt-get clean", &out));
                    }
                    if plan.changes.iter().any(|c| c.kind == "clean") {
                        o = o.msg(out.stdout_text()).with("stdout", out.stdout_text()).with("stderr", out.stderr_text());
                        o.changed = true;
                    }
                }
                Work::UpdateCache => {
                    let before = cache_time;
                    update_cache(ctx, args).await?;
                    // Candidates may have changed with the new lists: decide the packages again.
                    let obs = observe(ctx, &specs, state).await?;
                    let updated = obs.cache_time != before;
                    if plan.changes.iter().any(|c| c.kind == "update cache") {
                        o.changed = updated;
                    }
                    if o.data.contains_key("cache_updated") {
                        o = o.with("cache_updated", updated).with("cache_update_time", obs.cache_time);
                    }
                    redecide(ctx, args, &specs, state, &obs, &mut work).await?;
                }
                Work::MarkManual(names) => {
                    ctx.write_ok(&format!("apt-mark manual {} >/dev/null", join(&names)), None, "apt-mark manual").await?;
                }
                Work::Install(items) => {
                    let out = apt_get(ctx, &install_opts(args), "install", &items).await?;
                    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
                    ctx.write_ok(&format!("apt-mark manual {} >/dev/null", join(&names)), None, "apt-mark manual").await?;
                    o = o.with("stdout", out.stdout_text()).with("stderr", out.stderr_text());
                    o.changed = true;
                }
                Work::Remove(items) => {
                    let out = apt_get(ctx, &remove_opts(args), "remove", &items).await?;
                    o = o.with("stdout", out.stdout_text()).with("stderr", out.stderr_text());
                    o.changed = true;
                }
                Work::InstallDeb(path) => {
                    let mut opts = common_opts(args);
                    opts.extend(recommends(args));
                    let out = apt_get(ctx, &opts, "install", &[path]).await?;
                    o = o.with("stdout", out.stdout_text()).with("stderr", out.stderr_text());
                    o.changed = true;
                }
                Work::Upgrade(action) => {
                    let (_, opts) = upgrade_opts(args, args.str("upgrade").unwrap_or("safe"));
                    let out = apt_get(ctx, &opts, action, &[]).await?;
                    let stdout = out.stdout_text();
                    o.changed = !stdout.contains(APT_GET_ZERO);
                    o = o.msg(stdout.clone()).with("stdout", stdout).with("stderr", out.stderr_text());
                }
                Work::Tidy(op) => {
                    let out = apt_get(ctx, &tidy_opts(args), op, &[]).await?;
                    let marker = if op == "autoremove" { "The following packages will be REMOVED" } else { "Del " };
                    o.changed = out.stdout_text().contains(marker);
                    o = o.with("stdout", out.stdout_text()).with("stderr", out.stderr_text());
                }
            }
        }
        o.changed |= repaired;
        if !o.changed {
            o.diffs.clear();
        }
        Ok(o)
    }
}

/// After a step that changes what is installed or known (an update, a repair), the package work still ahead is
/// decided again from a new observation. A pending cache update decides after itself.
async fn redecide(
    ctx: &ApplyCtx<'_>,
    args: &Args,
    specs: &[PkgSpec],
    state: &str,
    obs: &Observed,
    work: &mut std::collections::VecDeque<Work>,
) -> Result<(), ModuleError> {
    let redo = work.iter().any(|w| matches!(w, Work::Install(_) | Work::Remove(_) | Work::MarkManual(_))) || (work.is_empty() && !specs.is_empty());
    if !redo || work.iter().any(|w| matches!(w, Work::UpdateCache)) {
        return Ok(());
    }
    work.retain(|w| !matches!(w, Work::Install(_) | Work::Remove(_) | Work::MarkManual(_)));
    let decided =
        if state == "absent" { decide_remove(args, specs, obs) } else { decide_install(ctx, args, specs, obs, state == "latest", false).await? };
    if !decided.to_mark.is_empty() {
        work.push_back(Work::MarkManual(decided.to_mark));
    }
    if !decided.items.is_empty() {
        work.push_back(if state == "absent" { Work::Remove(decided.items) } else { Work::Install(decided.items) });
    }
    Ok(())
}

/// A time in seconds since the epoch, for messages.
fn fmt_time(secs: i64) -> String {
    jiff::Timestamp::from_second(secs).map(|t| t.to_string()).unwrap_or_else(|_| secs.to_string())
}

/// What an apt-get simulation says it would do: its Inst/Remv/Purg/Del lines.
fn simulated_changes(out: &str) -> String {
    let lines: Vec<&str> = out.lines().filter(|l| ["Inst ", "Remv ", "Purg ", "Del ", "Conf "].iter().any(|p| l.starts_with(p))).collect();
    if lines.is_empty() { "(apt-get would act; see its output)".to_string() } else { lines.join("\n") }
}

fn install_opts(args: &Args) -> Vec<String> {
    let mut opts = common_opts(args);
    if args.bool("autoremove") {
        opts.push("--auto-remove".into());
    }
    if args.bool("only_upgrade") {
        opts.push("--only-upgrade".into());
    }
    opts.extend(recommends(args));
    opts
}

fn remove_opts(args: &Args) -> Vec<String> {
    let mut opts = vec!["-q".to_string()];
    opts.extend(common_opts(args));
    if args.bool("purge") {
        opts.push("--purge".into());
    }
    if args.bool("autoremove") {
        opts.push("--auto-remove".into());
    }
    opts
}

fn tidy_opts(args: &Args) -> Vec<String> {
    let mut opts = common_opts(args);
    if args.bool("purge") {
        opts.push("--purge".into());
    }
    opts
}

/// The apt-get action for `upgrade: MODE` and its options.
fn upgrade_opts(args: &Args, mode: &str) -> (&'static str, Vec<String>) {
    let mut opts = common_opts(args);
    let action = match mode {
        "dist" | "full" => "dist-upgrade",
        _ => {
            opts.push("--with-new-pkgs".into());
            "upgrade"
        }
    };
    if args.bool("autoremove") {
        opts.push("--auto-remove".into());
    }
    (action, opts)
}

/// A name apt cannot install: a virtual package provided by an installed one counts as present; one that
/// something else provides is left to apt-get; anything else is an error, as in Ansible.
async fn resolve_virtual(ctx: &ModuleCtx<'_>, name: &str) -> Result<Option<bool>, ModuleError> {
    let base = name.split(':').next().unwrap_or(name);
    let script = format!(
        "{APT_ENV}dpkg-query -W -f='${{db:Status-Abbrev}} ${{Provides}}\\n' 2>/dev/null | grep '^.i' | tr ',' '\\n' | sed 's/^.i *//; s/ *(.*//; s/^ *//' | grep -qx {b} && echo installed && exit 0; \
         apt-cache showpkg {n} 2>/dev/null | sed -n '/^Reverse Provides:/,$p' | sed 1d | grep -q . && echo provided; true",
        b = quote(base),
        n = quote(name)
    );
    let out = ctx.read_ok(&script, "looking up a virtual package").await?;
    Ok(match out.stdout_text().trim() {
        "installed" => Some(true),
        "provided" => Some(false),
        _ => None,
    })
}

/// Which packages to install for state present/latest. With a cache update pending, a package the current
/// lists do not know is left for the decision after the update.
async fn decide_install(
    ctx: &ModuleCtx<'_>,
    args: &Args,
    specs: &[PkgSpec],
    obs: &Observed,
    latest: bool,
    cache_pending: bool,
) -> Result<Decided, ModuleError> {
    let mut d = Decided { items: Vec::new(), to_mark: Vec::new(), before: Vec::new(), after: Vec::new() };
    for spec in specs {
        let st = obs.pkgs.get(&spec.name).cloned().unwrap_or_default();
        if st.installed.is_none() && st.candidate.is_none() && spec.want.is_none() {
            if !st.known && cache_pending {
                d.items.push(spec.name.clone());
                d.before.push((spec.name.clone(), "absent".to_string()));
                d.after.push((spec.name.clone(), "(from the updated package lists)".to_string()));
                continue;
            }
            if !st.known {
                return Err(ModuleError::failed(format!("No package matching '{}' is available", spec.name)));
            }
            match resolve_virtual(ctx, &spec.name).await? {
                Some(true) => continue,
                Some(false) => {
                    d.items.push(spec.name.clone());
                    d.before.push((spec.name.clone(), "absent".to_string()));
                    d.after.push((spec.name.clone(), "(a package providing it)".to_string()));
                    continue;
                }
                None => return Err(ModuleError::failed(format!("No package matching '{}' is available", spec.name))),
            }
        }
        match plan_install(spec, &st, latest, args.bool("only_upgrade")) {
            Decision::Keep => {}
            Decision::NoCandidate if cache_pending => {
                d.items.push(spec.name.clone());
                d.before.push((spec.name.clone(), st.installed.clone().unwrap_or_else(|| "absent".into())));
                d.after.push((spec.name.clone(), "(from the updated package lists)".to_string()));
            }
            Decision::NoCandidate => {
                let raw = match &spec.want {
                    Some((VersionOp::Eq, v)) => format!("{}={v}", spec.name),
                    Some((VersionOp::Ge, v)) => format!("{}>={v}", spec.name),
                    None => spec.name.clone(),
                };
                return Err(ModuleError::failed(format!("no available installation candidate for {raw}")));
            }
            Decision::Install(item) => {
                d.before.push((spec.name.clone(), st.installed.clone().unwrap_or_else(|| "absent".into())));
                d.after.push((spec.name.clone(), item.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default()));
                d.items.push(item);
            }
        }
    }
    // Ansible marks the named packages as manually installed; only those apt holds as automatic need it (an
    // install marks every named package itself).
    if d.items.is_empty() {
        d.to_mark = specs.iter().map(|s| s.name.clone()).filter(|n| obs.auto.contains(n)).collect();
    }
    Ok(d)
}

/// Which packages to remove for state absent.
fn decide_remove(args: &Args, specs: &[PkgSpec], obs: &Observed) -> Decided {
    let purge = args.bool("purge");
    let mut d = Decided { items: Vec::new(), to_mark: Vec::new(), before: Vec::new(), after: Vec::new() };
    for spec in specs {
        let st = obs.pkgs.get(&spec.name).cloned().unwrap_or_default();
        let version_matches = match (&st.installed, &spec.want) {
            (Some(inst), Some((VersionOp::Eq, glob))) => glob_match(glob, inst),
            (Some(inst), Some((VersionOp::Ge, min))) => deb_version_cmp(inst, min) != Ordering::Less,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if version_matches || (purge && st.config_files) {
            d.before.push((spec.name.clone(), st.installed.clone().unwrap_or_else(|| "config files".into())));
            d.after.push((spec.name.clone(), "absent".to_string()));
            d.items.push(spec.name.clone());
        }
    }
    d
}

/// The path apt-get is given for a .deb (a bare name is made relative, or apt would look it up by name).
fn deb_path(deb: &str) -> String {
    if deb.contains('/') { deb.to_string() } else { format!("./{deb}") }
}

/// A .deb's package, its installed version and its own version; None when that version is installed.
async fn deb_versions(ctx: &ModuleCtx<'_>, deb: &str) -> Result<Option<(String, Option<String>, String)>, ModuleError> {
    let p = quote(&deb_path(deb));
    let script = format!(
        "[ -f {p} ] || {{ echo 'missing'; exit 0; }}; dpkg-deb -f {p} Package Version || exit 3; \
         printf 'Installed: %s\\n' \"$(dpkg-query -W -f='${{db:Status-Abbrev}}\\t${{Version}}' \"$(dpkg-deb -f {p} Package)\" 2>/dev/null)\""
    );
    let out = ctx.read(&script).await?;
    let text = out.stdout_text();
    if text.trim() == "missing" {
        return Err(ModuleError::failed(format!("Unable to install package: {deb} does not exist on the host")));
    }
    if !out.success() {
        return Err(ModuleError::failed(format!("Unable to install package: {deb} is not a Debian package: {}", out.stderr_text().trim())));
    }
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}: ")).map(str::trim)).unwrap_or("").to_string();
    let (pkg, version, installed) = (field("Package"), field("Version"), field("Installed"));
    let installed_version = installed.split_once('\t').filter(|(st, _)| st.chars().nth(1) == Some('i')).map(|(_, v)| v.to_string());
    if installed_version.as_deref().is_some_and(|v| deb_version_cmp(v, &version) == Ordering::Equal) {
        return Ok(None);
    }
    Ok(Some((pkg, installed_version, version)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_needs_repair_for_its_journal_or_unfinished_packages_only() {
        assert_eq!(dpkg_broken(""), None);
        assert_eq!(dpkg_broken("\n"), None);
        let why = dpkg_broken("journal\nfoo (half-configured)\nbar (unpacked)\n").unwrap();
        assert!(why.starts_with("dpkg was interrupted") && why.ends_with("foo (half-configured), bar (unpacked)"), "{why}");
        assert_eq!(dpkg_broken("baz (triggers-pending)").unwrap(), "packages left unfinished: baz (triggers-pending)");
    }

    #[test]
    fn auto_marks_come_from_extended_states_as_apt_mark_showauto_says() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("extended_states");
        std::fs::write(
            &file,
            "Package: libfoo1\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: sudo\nArchitecture: amd64\nAuto-Installed: 0\n\n\
             Package: libbar\nArchitecture: i386\nAuto-Installed: 1\n\nPackage: libfoo\nArchitecture: amd64\nAuto-Installed: 1\n",
        )
        .unwrap();
        let script = auto_marks_script(&["libfoo1", "sudo", "libbar:i386", "libbar:amd64", "libfoo1x"], file.to_str().unwrap());
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), "libfoo1\nlibbar:i386\n");
    }

    #[test]
    fn specs_parse_like_ansibles_package_split() {
        assert_eq!(parse_spec("tree").unwrap(), PkgSpec { name: "tree".into(), want: None });
        assert_eq!(parse_spec("tree=2.1*").unwrap().want, Some((VersionOp::Eq, "2.1*".into())));
        assert_eq!(parse_spec("libc6:amd64>=2.36").unwrap(), PkgSpec { name: "libc6:amd64".into(), want: Some((VersionOp::Ge, "2.36".into())) });
        assert!(parse_spec("a=1=2").unwrap_err().contains("invalid package spec"));
        assert!(parse_spec("apt*").unwrap_err().contains("patterns are not supported"));
        assert!(parse_spec("Tree; rm -rf /").unwrap_err().contains("not a valid Debian package name"));
    }

    #[test]
    fn debian_versions_compare_like_dpkg() {
        // Checked against `dpkg --compare-versions` when dpkg is around; the table stands on its own otherwise.
        let cases = [
            ("1.0", "1.0", Ordering::Equal),
            ("1.0", "1.0-0", Ordering::Equal),
            ("0:1.0", "1.0", Ordering::Equal),
            ("1.0~rc1", "1.0", Ordering::Less),
            ("1.0", "1.0+b1", Ordering::Less),
            ("1:0.1", "2.0", Ordering::Greater),
            ("2.10", "2.9", Ordering::Greater),
            ("1.0-1", "1.0-1ubuntu1", Ordering::Less),
            ("1.2.3a", "1.2.3", Ordering::Greater),
            ("1.0~~", "1.0~", Ordering::Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(deb_version_cmp(a, b), want, "{a} vs {b}");
            if std::path::Path::new("/usr/bin/dpkg").exists() {
                let op = match want {
                    Ordering::Less => "lt",
                    Ordering::Equal => "eq",
                    Ordering::Greater => "gt",
                };
                let ok = std::process::Command::new("dpkg").args(["--compare-versions", a, op, b]).status().unwrap().success();
                assert!(ok, "dpkg disagrees: {a} {op} {b}");
            }
        }
    }

    #[test]
    fn policy_and_dpkg_output_parse() {
        let policy = "tree:\n  Installed: (none)\n  Candidate: 2.1.0-1\n  Version table:\n     2.1.0-1 500\n        500 http://deb.debian.org/debian bookworm/main amd64 Packages\n\
                      jq:\n  Installed: 1.6-2.1\n  Candidate: 1.6-2.1\n  Version table:\n *** 1.6-2.1 500\n        500 http://x bookworm/main amd64 Packages\n        100 /var/lib/dpkg/status\n     1.5-1 100\n";
        let specs = vec![parse_spec("tree").unwrap(), parse_spec("jq").unwrap()];
        let mut st = HashMap::new();
        parse_dpkg_query("jq\tamd64\tii \t1.6-2.1\ntree\tamd64\trc \t2.0-1\n", &specs, &mut st);
        parse_policy(policy, &mut st);
        assert_eq!(st["tree"].candidate.as_deref(), Some("2.1.0-1"));
        assert!(st["tree"].config_files && st["tree"].installed.is_none());
        assert_eq!(st["jq"].installed.as_deref(), Some("1.6-2.1"));
        assert_eq!(st["jq"].versions, ["1.6-2.1", "1.5-1"]);
    }

    #[test]
    fn install_plans_follow_ansible() {
        let st = |inst: Option<&str>, cand: Option<&str>, vers: &[&str]| PkgState {
            installed: inst.map(String::from),
            candidate: cand.map(String::from),
            known: true,
            versions: vers.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        };
        let tree = parse_spec("tree").unwrap();
        assert_eq!(plan_install(&tree, &st(None, Some("2.1"), &["2.1"]), false, false), Decision::Install("tree=2.1".into()));
        assert_eq!(plan_install(&tree, &st(Some("2.0"), Some("2.1"), &["2.1", "2.0"]), false, false), Decision::Keep);
        assert_eq!(plan_install(&tree, &st(Some("2.0"), Some("2.1"), &["2.1", "2.0"]), true, false), Decision::Install("tree=2.1".into()));
        assert_eq!(plan_install(&tree, &st(Some("2.1"), Some("2.1"), &["2.1"]), true, false), Decision::Keep);
        assert_eq!(plan_install(&tree, &st(None, Some("2.1"), &["2.1"]), false, true), Decision::Keep, "only_upgrade skips new packages");
        let pinned = parse_spec("tree=2.0*").unwrap();
        assert_eq!(plan_install(&pinned, &st(Some("2.1"), Some("2.1"), &["2.1", "2.0-1"]), false, false), Decision::Install("tree=2.0-1".into()));
        assert_eq!(plan_install(&pinned, &st(None, Some("2.1"), &["2.1"]), false, false), Decision::NoCandidate);
        let min = parse_spec("tree>=2.1").unwrap();
        assert_eq!(plan_install(&min, &st(Some("2.0"), Some("2.2"), &["2.2", "2.0"]), false, false), Decision::Install("tree=2.2".into()));
        assert_eq!(plan_install(&min, &st(Some("2.3"), Some("2.3"), &["2.3"]), false, false), Decision::Keep);
    }
}
