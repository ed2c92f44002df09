//! user: local accounts with useradd, usermod, userdel and chage. One probe reads the passwd and shadow entries,
//! the groups that list the user, and every group the task names; the decisions (which usermod flags, when
//! `changed`), the registered keys and the messages follow Ansible's user module on Linux.

use std::collections::BTreeSet;

use super::helpers::host::Probe;
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::{join, quote};

pub struct User;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().aliases(&["user"]).help("The account's name."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Whether the account should exist."),
    ArgSpec::new("uid", ArgKind::Int).help("The numeric user id."),
    ArgSpec::new("non_unique", ArgKind::Bool).default("no").help("Allow a uid another account already has."),
    ArgSpec::new("group", ArgKind::Str).help("The primary group (name or gid); it must exist."),
    ArgSpec::new("groups", ArgKind::List)
        .help("Supplementary groups; the user is removed from others unless append is set. An empty list removes all."),
    ArgSpec::new("append", ArgKind::Bool).default("no").help("Add the groups to the user's current ones instead of replacing them."),
    ArgSpec::new("comment", ArgKind::Str).help("The GECOS field (full name)."),
    ArgSpec::new("home", ArgKind::Path).help("The home folder."),
    ArgSpec::new("move_home", ArgKind::Bool).default("no").help("When home changes, move the old home's contents there."),
    ArgSpec::new("shell", ArgKind::Path).help("The login shell."),
    ArgSpec::new("password", ArgKind::Str)
        .help("A password HASH as crypt(3) makes it (e.g. from `mkpasswd -m sha-512`); never a clear-text password."),
    ArgSpec::new("update_password", ArgKind::Str)
        .choices(&["always", "on_create"])
        .default("always")
        .help("always: set the hash when it differs; on_create: only for new accounts."),
    ArgSpec::new("password_lock", ArgKind::Bool).help("Lock (yes) or unlock (no) the password."),
    ArgSpec::new("create_home", ArgKind::Bool)
        .aliases(&["createhome"])
        .default("yes")
        .help("Create the home folder (from /etc/skel) if it is missing."),
    ArgSpec::new("skeleton", ArgKind::Str).help("Skeleton folder to copy into a new home."),
    ArgSpec::new("system", ArgKind::Bool).default("no").help("Create a system account (uid from the system range); only on creation."),
    ArgSpec::new("expires", ArgKind::Raw).help("Account expiry as seconds since the epoch (a number); negative removes the expiry."),
    ArgSpec::new("password_expire_min", ArgKind::Int).help("Minimum days between password changes (chage -m)."),
    ArgSpec::new("password_expire_max", ArgKind::Int).help("Maximum days a password is valid (chage -M)."),
    ArgSpec::new("password_expire_warn", ArgKind::Int).help("Days of warning before a password expires (chage -W)."),
    ArgSpec::new("remove", ArgKind::Bool).default("no").help("With state=absent, also remove the home folder and mail spool (userdel -r)."),
    ArgSpec::new("force", ArgKind::Bool).default("no").help("With state=absent, remove even if the user is logged in (userdel -f)."),
    ArgSpec::new("uid_min", ArgKind::Int).help("Lowest uid to pick from when creating."),
    ArgSpec::new("uid_max", ArgKind::Int).help("Highest uid to pick from when creating."),
])
.changes(&["create", "remove", "modify", "home", "password ageing"]);

/// A passwd entry, with the shadow fields Ansible looks at.
#[derive(Clone, Debug, Default)]
struct Account {
    uid: i64,
    gid: i64,
    comment: String,
    home: String,
    shell: String,
    /// The password hash (from shadow when passwd holds only `x`).
    hash: String,
    /// Shadow's min, max, warn and expire fields (None when empty).
    min: Option<i64>,
    max: Option<i64>,
    warn: Option<i64>,
    expire: Option<i64>,
}

/// A group as `getent group` answers for a name or gid the task gave.
#[derive(Clone, Debug)]
struct GroupInfo {
    name: String,
    gid: i64,
}

struct Observed {
    account: Option<Account>,
    /// Groups whose member list names the user.
    member_of: BTreeSet<String>,
    /// Each group the task named (and one named like the user), as asked → what exists.
    groups: Vec<(String, Option<GroupInfo>)>,
    home_exists: bool,
    home_parent_exists: bool,
}

impl Observed {
    fn group(&self, asked: &str) -> Option<&GroupInfo> {
        self.groups.iter().find(|(a, _)| a == asked).and_then(|(_, g)| g.as_ref())
    }
}

fn parse_account(passwd: &str, shadow: &str) -> Option<Account> {
    let f: Vec<&str> = passwd.trim_end_matches('\n').split(':').collect();
    if f.len() < 7 {
        return None;
    }
    let s: Vec<&str> = shadow.trim_end_matches('\n').split(':').collect();
    let num = |i: usize| s.get(i).and_then(|v| v.trim().parse::<i64>().ok());
    let hash = if f[1].len() <= 1 { s.get(1).copied().unwrap_or("").to_string() } else { f[1].to_string() };
    Some(Account {
        uid: f[2].parse().ok()?,
        gid: f[3].parse().ok()?,
        comment: f[4].to_string(),
        home: f[5].to_string(),
        shell: f[6].to_string(),
        hash,
        min: num(3),
        max: num(4),
        warn: num(5),
        expire: num(7),
    })
}

async fn observe(ctx: &ModuleCtx<'_>, name: &str, asked_groups: &[String], home: Option<&str>) -> Result<Observed, ModuleError> {
    let n = quote(name);
    let mut p = Probe::new();
    p.add(format!("getent passwd {n}"));
    p.add(format!("getent shadow {n}"));
    p.add(format!("getent group | awk -F: -v u={n} '{{ c = split($4, m, \",\"); for (i = 1; i <= c; i++) if (m[i] == u) {{ print $1; break }} }}'"));
    p.add(format!("for g in {}; do printf '%s\\t%s\\n' \"$g\" \"$(getent group \"$g\")\"; done", join(asked_groups)));
    let h = match home {
        Some(h) => quote(h),
        None => format!("\"$(getent passwd {n} | cut -d: -f6)\""),
    };
    p.add(format!("h={h}; [ -n \"$h\" ] && [ -e \"$h\" ] && echo home; [ -n \"$h\" ] && [ -d \"$(dirname -- \"$h\")\" ] && echo parent; true"));
    let s = p.run(ctx).await?;
    let account = if s[0].ok() { parse_account(&s[0].out, &s[1].out) } else { None };
    let groups = s[3]
        .out
        .lines()
        .filter_map(|l| {
            let (asked, entry) = l.split_once('\t')?;
            let f: Vec<&str> = entry.split(':').collect();
            let info = (f.len() >= 3).then(|| GroupInfo { name: f[0].to_string(), gid: f[2].parse().unwrap_or(-1) });
            Some((asked.to_string(), info))
        })
        .collect();
    Ok(Observed {
        account,
        member_of: s[2].out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect(),
        groups,
        home_exists: s[4].out.contains("home"),
        home_parent_exists: s[4].out.contains("parent"),
    })
}

/// `expires` as Ansible takes it: seconds since the epoch; negative means "never".
fn expires_arg(args: &Args) -> Result<Option<f64>, ModuleError> {
    match args.get("expires") {
        None => Ok(None),
        Some(v) => {
            let f = match v {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            f.map(Some).ok_or_else(|| ModuleError::Args(format!("argument 'expires' must be a number of seconds since the epoch, not {v}")))
        }
    }
}

/// Days since the epoch → the YYYY-MM-DD useradd/usermod take.
fn epoch_day(secs: f64) -> String {
    let ts = jiff::Timestamp::from_second(secs.floor() as i64).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m-%d").to_string()
}

#[async_trait::async_trait]
impl Module for User {
    fn name(&self) -> &'static str {
        "user"
    }
    fn summary(&self) -> &'static str {
        "Create, change or remove a local user account (groups, shell, home, password hash, expiry)"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Linux shadow-utils only (useradd, usermod, userdel, chage). Not supported: generate_ssh_key and the ssh_key_* \
         arguments, local (luseradd), seuser, login_class, hidden, profile/authorization/role, umask, \
         password_expire_account_disable. `password` must be a crypt hash, as in Ansible; it is registered as a \
         secret and never shown. When home's parent folder is missing, hlprov creates the parent and lets \
         useradd make the home from the skeleton."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?;
        if !super::group::valid_name(name) {
            return Err(ModuleError::Args(format!("'{name}' is not a valid user name")));
        }
        if let Some(pw) = args.str("password") {
            crate::redact::register(pw);
            if pw.contains(':') || pw.contains('\n') {
                return Err(ModuleError::Args("password must be a crypt hash; it cannot contain ':' or a newline".into()));
            }
        }
        let state = args.req("state")?;
        let expires = expires_arg(args)?;
        let wanted_groups: Option<Vec<String>> = args.has("groups").then(|| args.list("groups").into_iter().filter(|g| !g.is_empty()).collect());
        let mut asked: Vec<String> = vec![name.to_string()];
        asked.extend(args.str("group").map(str::to_string));
        asked.extend(wanted_groups.iter().flatten().cloned());
        let obs = observe(ctx, name, &asked, args.str("home")).await?;

        let mut plan = Plan::unchanged().with("name", name).with("state", state);
        if state == "absent" {
            let Some(acct) = &obs.account else {
                return Ok(plan);
            };
            let mut cmd = vec!["userdel".to_string()];
            if args.bool("force") {
                cmd.push("-f".into());
            }
            if args.bool("remove") {
                cmd.push("-r".into());
            }
            cmd.push(name.into());
            let mut before = vec![("user", "present".to_string()), ("uid", acct.uid.to_string())];
            if args.bool("remove") {
                before.push(("home folder", acct.home.clone()));
            }
            let after: Vec<(&str, String)> = before.iter().map(|(k, _)| (*k, "absent".to_string())).collect();
            let d = super::helpers::remote_file::property_diff(name, &before, &after);
            return Ok(plan.with("force", args.bool("force")).with("remove", args.bool("remove")).change(Change::new(
                "remove",
                d,
                Step::run(join(&cmd), "userdel"),
            )));
        }

        // Every named group must exist before anything runs.
        for g in args.str("group").into_iter().chain(wanted_groups.iter().flatten().map(String::as_str)) {
            if obs.group(g).is_none() {
                return Err(ModuleError::failed(format!("Group {g} does not exist")).with("name", name));
            }
        }

        let password = args
            .str("password")
            .map(|p| if args.get("password_lock").and_then(super::args::to_bool) == Some(true) { format!("!{p}") } else { p.to_string() });
        let mut before: Vec<(&str, String)> = Vec::new();
        let mut after: Vec<(&str, String)> = Vec::new();
        let mut cmd: Vec<String> = Vec::new();
        let kind = match &obs.account {
            None => {
                cmd.push("useradd".into());
                if let Some(uid) = args.int("uid") {
                    cmd.extend(["-u".into(), uid.to_string()]);
                    if args.bool("non_unique") {
                        cmd.push("-o".into());
                    }
                }
                if let Some(g) = args.str("group") {
                    cmd.extend(["-g".into(), g.to_string()]);
                } else if obs.group(name).is_some() {
                    // A group named like the user exists: useradd would fail trying to create it.
                    cmd.push("-N".into());
                }
                if let Some(groups) = wanted_groups.as_ref().filter(|g| !g.is_empty()) {
                    cmd.extend(["-G".into(), groups.join(",")]);
                }
                if let Some(c) = args.str("comment") {
                    cmd.extend(["-c".into(), c.to_string()]);
                }
                if let Some(h) = args.str("home") {
                    cmd.extend(["-d".into(), h.to_string()]);
                }
                if let Some(s) = args.str("shell") {
                    cmd.extend(["-s".into(), s.to_string()]);
                }
                if let Some(e) = expires {
                    cmd.extend(["-e".into(), if e < 0.0 { String::new() } else { epoch_day(e) }]);
                }
                if let Some(p) = &password {
                    cmd.extend(["-p".into(), p.clone()]);
                }
                if args.bool("create_home") {
                    cmd.push("-m".into());
                    if let Some(k) = args.str("skeleton") {
                        cmd.extend(["-k".into(), k.to_string()]);
                    }
                } else {
                    cmd.push("-M".into());
                }
                if args.bool("system") {
                    cmd.push("-r".into());
                }
                for (arg, key) in [("uid_min", "UID_MIN"), ("uid_max", "UID_MAX")] {
                    if let Some(v) = args.int(arg) {
                        cmd.extend(["-K".into(), format!("{key}={v}")]);
                    }
                }
                before.push(("user", "absent".into()));
                after.push(("user", "present".into()));
                for (key, arg) in [("uid", "uid"), ("group", "group"), ("comment", "comment"), ("home", "home"), ("shell", "shell")] {
                    if let Some(v) = args.get(arg) {
                        after.push((key, super::args::value_text(v)));
                    }
                }
                if let Some(g) = &wanted_groups {
                    after.push(("groups", g.join(",")));
                }
                plan = plan.with("system", args.bool("system")).with("create_home", args.bool("create_home"));
                "create"
            }
            Some(acct) => {
                cmd.push("usermod".into());
                if let Some(uid) = args.int("uid").filter(|u| *u != acct.uid) {
                    cmd.extend(["-u".into(), uid.to_string()]);
                    if args.bool("non_unique") {
                        cmd.push("-o".into());
                    }
                    before.push(("uid", acct.uid.to_string()));
                    after.push(("uid", uid.to_string()));
                }
                if let Some(g) = args.str("group").and_then(|g| obs.group(g)).filter(|g| g.gid != acct.gid) {
                    cmd.extend(["-g".into(), g.gid.to_string()]);
                    before.push(("group", acct.gid.to_string()));
                    after.push(("group", g.gid.to_string()));
                }
                if let Some(wanted) = &wanted_groups {
                    let desired: BTreeSet<String> = wanted.iter().filter_map(|g| obs.group(g)).map(|g| g.name.clone()).collect();
                    let current = &obs.member_of;
                    let diff: BTreeSet<&String> = current.symmetric_difference(&desired).collect();
                    let needs = if wanted.is_empty() {
                        !current.is_empty() && !args.bool("append")
                    } else if args.bool("append") {
                        desired.iter().any(|g| diff.contains(g))
                    } else {
                        !diff.is_empty()
                    };
                    if needs {
                        if args.bool("append") {
                            cmd.push("-a".into());
                        }
                        cmd.extend(["-G".into(), desired.iter().cloned().collect::<Vec<_>>().join(",")]);
                        before.push(("groups", current.iter().cloned().collect::<Vec<_>>().join(",")));
                        let shown: BTreeSet<String> = if args.bool("append") { current.union(&desired).cloned().collect() } else { desired.clone() };
                        after.push(("groups", shown.into_iter().collect::<Vec<_>>().join(",")));
                    }
                }
                for (arg, flag, have) in [("comment", "-c", &acct.comment), ("home", "-d", &acct.home), ("shell", "-s", &acct.shell)] {
                    if let Some(v) = args.str(arg).filter(|v| v != have) {
                        cmd.extend([flag.to_string(), v.to_string()]);
                        if arg == "home" && args.bool("move_home") {
                            cmd.push("-m".into());
                        }
                        before.push((arg, have.clone()));
                        after.push((arg, v.to_string()));
                    }
                }
                if let Some(e) = expires {
                    let current = acct.expire.unwrap_or(-1);
                    if e < 0.0 {
                        if current >= 0 {
                            cmd.extend(["-e".into(), String::new()]);
                            before.push(("expires", epoch_day(current as f64 * 86400.0)));
                            after.push(("expires", "never".into()));
                        }
                    } else if current < 0 || epoch_day(current as f64 * 86400.0) != epoch_day(e) {
                        cmd.extend(["-e".into(), epoch_day(e)]);
                        before.push(("expires", if current < 0 { "never".into() } else { epoch_day(current as f64 * 86400.0) }));
                        after.push(("expires", epoch_day(e)));
                    }
                }
                match args.get("password_lock").and_then(super::args::to_bool) {
                    Some(true) if !acct.hash.starts_with('!') => {
                        cmd.push("-L".into());
                        before.push(("password", "unlocked".into()));
                        after.push(("password", "locked".into()));
                    }
                    Some(false) if acct.hash.starts_with('!') => {
                        cmd.push("-U".into());
                        before.push(("password", "locked".into()));
                        after.push(("password", "unlocked".into()));
                    }
                    _ => {}
                }
                if let Some(pw) = args.str("password") {
                    if args.req("update_password")? == "always" && acct.hash.trim_start_matches('!') != pw.trim_start_matches('!') {
                        cmd.retain(|c| c != "-L" && c != "-U");
                        cmd.extend(["-p".into(), password.clone().unwrap_or_default()]);
                        before.retain(|(k, _)| *k != "password");
                        after.retain(|(k, _)| *k != "password");
                        before.push(("password", "(a different hash)".into()));
                        after.push(("password", "(the given hash)".into()));
                    }
                }
                if cmd.len() == 1 {
                    cmd.clear();
                }
                plan = plan.with("append", args.bool("append")).with("move_home", args.bool("move_home"));
                "modify"
            }
        };
        if args.has("password") {
            plan = plan.with("password", "NOT_LOGGING_PASSWORD");
        }
        if let Some(acct) = &obs.account {
            plan = account_keys(plan, acct, &wanted_groups);
        }
        let diff = |b: &[(&str, String)], a: &[(&str, String)]| super::helpers::remote_file::property_diff(name, b, a);
        if !cmd.is_empty() {
            let mut script = String::new();
            if obs.account.is_none() && args.bool("create_home") && !obs.home_parent_exists {
                if let Some(h) = args.str("home") {
                    script.push_str(&format!("mkdir -p -- \"$(dirname -- {})\" && ", quote(h)));
                }
            }
            cmd.push(name.to_string());
            script.push_str(&join(&cmd));
            plan = plan.change(Change::new(kind, diff(&before, &after), Step::run(script, cmd[0].clone())));
        }

        // A home folder that went missing is made again (from the skeleton), as Ansible does.
        if let Some(acct) = obs.account.as_ref().filter(|_| !obs.home_exists && args.bool("create_home")) {
            let skel = quote(args.str("skeleton").unwrap_or("/etc/skel"));
            let home = args.str("home").unwrap_or(&acct.home);
            let h = quote(home);
            let script = format!(
                "u=$(id -u {n}) && g=$(id -g {n}) && mkdir -p -- {h} && {{ [ ! -d {skel} ] || cp -a {skel}/. {h}/; }} && chown -R \"$u:$g\" -- {h} && chmod 0700 -- {h}",
                n = quote(name)
            );
            let d = diff(&[("home folder", "absent".into())], &[("home folder", home.to_string())]);
            plan = plan.change(Change::new("home", d, Step::run(script, "creating the home folder")));
        }

        // Password ageing with chage.
        let mut chage = vec!["chage".to_string()];
        let (mut before, mut after) = (Vec::new(), Vec::new());
        let have = |f: fn(&Account) -> Option<i64>| obs.account.as_ref().and_then(f);
        for (arg, flag, have) in [
            ("password_expire_min", "-m", have(|a| a.min)),
            ("password_expire_max", "-M", have(|a| a.max)),
            ("password_expire_warn", "-W", have(|a| a.warn)),
        ] {
            if let Some(v) = args.int(arg).filter(|v| Some(*v) != have) {
                chage.extend([flag.to_string(), v.to_string()]);
                before.push((arg, have.map(|h| h.to_string()).unwrap_or_default()));
                after.push((arg, v.to_string()));
            }
        }
        if chage.len() > 1 {
            chage.push(name.to_string());
            plan = plan.change(Change::new("password ageing", diff(&before, &after), Step::run(join(&chage), "chage")));
        }
        Ok(plan)
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        let name = args.req("name")?;
        let mut o = Outcome::from_plan(&plan);
        for c in &plan.changes {
            let Step::Run { script, .. } = &c.step else { continue };
            let out = ctx.write(script, None).await?;
            if !out.success() {
                return Err(ModuleError::failed(out.stderr_text().trim().to_string()).with("name", name).with("rc", out.rc()));
            }
            if c.kind != "home" && c.kind != "password ageing" {
                o = with_output(o, &out);
            }
        }
        // The account as it is now.
        if args.req("state")? == "present" {
            if let Some(acct) = observe(ctx, name, &[], args.str("home")).await?.account {
                let groups = args.has("groups").then(|| args.list("groups").into_iter().filter(|g| !g.is_empty()).collect());
                let p = account_keys(Plan::unchanged(), &acct, &groups);
                o.data.extend(p.result);
            }
        }
        Ok(o)
    }
}

/// The account's keys in a result, as Ansible reports them.
fn account_keys(plan: Plan, acct: &Account, groups: &Option<Vec<String>>) -> Plan {
    let plan = plan
        .with("uid", acct.uid)
        .with("group", acct.gid)
        .with("comment", acct.comment.clone())
        .with("home", acct.home.clone())
        .with("shell", acct.shell.clone());
    match groups {
        Some(g) => plan.with("groups", g.join(",")),
        None => plan,
    }
}

fn with_output(mut o: Outcome, out: &crate::transport::Output) -> Outcome {
    if !out.stdout.is_empty() {
        o = o.with("stdout", out.stdout_text());
    }
    if !out.stderr.is_empty() {
        o = o.with("stderr", out.stderr_text());
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_and_shadow_entries_parse() {
        let a = parse_account("alice:x:1001:1001:Alice A,,,:/home/alice:/bin/bash\n", "alice:$6$salt$hash:20000:0:99999:7:::\n").unwrap();
        assert_eq!((a.uid, a.gid, a.comment.as_str(), a.home.as_str()), (1001, 1001, "Alice A,,,", "/home/alice"));
        assert_eq!(a.hash, "$6$salt$hash");
        assert_eq!((a.min, a.max, a.warn, a.expire), (Some(0), Some(99999), Some(7), None));
        assert!(parse_account("garbage", "").is_none());
    }

    #[test]
    fn expiry_days_are_utc_dates() {
        assert_eq!(epoch_day(0.0), "1970-01-01");
        assert_eq!(epoch_day(1_767_225_600.0), "2026-01-01");
    }
}
