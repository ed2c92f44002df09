//! git: a checkout of a repository at a version (HEAD, a branch, a tag or a commit), cloned or brought up to
//! date as Ansible's git module does. One round trip decides: the checkout's state and the remote's refs
//! (`git ls-remote`); a change is cloning, or fetching and switching, in one script.

use std::collections::BTreeMap;

use super::helpers::host::Probe;
use super::helpers::remote_file::property_diff;
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::{join, quote};

pub struct Git;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("repo", ArgKind::Str).required().aliases(&["name"]).help("The repository's URL (or a path on the host)."),
    ArgSpec::new("dest", ArgKind::Path).help("Where the checkout lives (required unless clone=no)."),
    ArgSpec::new("version", ArgKind::Str).default("HEAD").help("What to check out: HEAD, a branch, a tag or a commit id."),
    ArgSpec::new("remote", ArgKind::Str).default("origin").help("The remote's name."),
    ArgSpec::new("force", ArgKind::Bool).default("no").help("Discard local modifications of tracked files."),
    ArgSpec::new("depth", ArgKind::Int).help("A shallow clone of this many commits (HEAD, branches and tags)."),
    ArgSpec::new("clone", ArgKind::Bool).default("yes").help("Clone when dest is not a checkout yet."),
    ArgSpec::new("update", ArgKind::Bool).default("yes").help("Bring an existing checkout to the version."),
    ArgSpec::new("bare", ArgKind::Bool).default("no").help("A bare repository (no working tree)."),
    ArgSpec::new("single_branch", ArgKind::Bool).default("no").help("Clone only the history of the version's branch."),
    ArgSpec::new("recursive", ArgKind::Bool).default("yes").help("Check out submodules too."),
    ArgSpec::new("accept_hostkey", ArgKind::Bool).default("no").help("ssh: accept any host key (StrictHostKeyChecking=no)."),
    ArgSpec::new("accept_newhostkey", ArgKind::Bool).default("no").help("ssh: accept a host key not seen before (accept-new)."),
    ArgSpec::new("key_file", ArgKind::Path).help("ssh: the private key on the host to fetch with."),
    ArgSpec::new("ssh_opts", ArgKind::Str).help("ssh: more options (e.g. `-o Port=2222`)."),
    ArgSpec::new("executable", ArgKind::Path).help("The git program (default: git on PATH)."),
    ArgSpec::new("umask", ArgKind::Str).help("The umask for the files written, as a quoted octal string (\"0022\")."),
])
.mutually_exclusive(&[&["accept_hostkey", "accept_newhostkey"]])
.changes(&["clone", "update"])
.critical();

/// What `version` names on the remote.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Version {
    Head,
    Branch,
    Tag,
    Commit,
}

/// The checkout as found.
#[derive(Debug, Default, PartialEq)]
struct Checkout {
    head: String,
    /// Tracked files changed (untracked ones do not count, as in Ansible).
    modified: bool,
    remote_url: Option<String>,
    /// The branch HEAD is on, or the remote's default branch when HEAD is detached.
    branch: Option<String>,
    /// `version` as a commit id known locally.
    local_commit: Option<String>,
}

/// Everything `apply` needs to make the change the plan decided.
struct Work {
    exists: bool,
    kind: Version,
    reset_first: bool,
    set_url: bool,
}

/// `git ls-remote` output → ref → commit id.
fn parse_refs(out: &str) -> BTreeMap<String, String> {
    out.lines().filter_map(|l| l.split_once('\t')).map(|(sha, r)| (r.trim().to_string(), sha.trim().to_string())).collect()
}

/// The commit the remote has for `version` and what kind of name it is (Ansible's get_remote_head).
fn remote_head(refs: &BTreeMap<String, String>, version: &str, checkout: Option<&Checkout>) -> (Version, Option<String>) {
    if version == "HEAD" {
        let on_branch = checkout.and_then(|c| c.branch.as_ref()).and_then(|b| refs.get(&format!("refs/heads/{b}")));
        return (Version::Head, on_branch.or_else(|| refs.get("HEAD")).cloned());
    }
    if let Some(sha) = refs.get(&format!("refs/heads/{version}")) {
        return (Version::Branch, Some(sha.clone()));
    }
    if let Some(sha) = refs.get(&format!("refs/tags/{version}^{{}}")).or_else(|| refs.get(&format!("refs/tags/{version}"))) {
        return (Version::Tag, Some(sha.clone()));
    }
    (Version::Commit, checkout.and_then(|c| c.local_commit.clone()).or_else(|| Some(version.to_string())))
}

/// A URL as Ansible compares remote URLs (a trailing slash and `.git` do not make another repository).
fn same_url(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.trim_end_matches('/').trim_end_matches(".git").to_string();
    a == b || norm(a) == norm(b)
}

/// The environment git runs in: never prompting (no terminal), ssh as asked.
fn env_prelude(args: &Args) -> Result<String, ModuleError> {
    let mut ssh = vec!["ssh".to_string(), "-o".into(), "BatchMode=yes".into()];
    if let Some(k) = args.str("key_file") {
        ssh.extend(["-i".into(), k.to_string(), "-o".into(), "IdentitiesOnly=yes".into()]);
    }
    let opts = args.str("ssh_opts").unwrap_or_default();
    if args.bool("accept_hostkey") && !opts.contains("StrictHostKeyChecking") {
        ssh.extend(["-o".into(), "StrictHostKeyChecking=no".into()]);
    }
    if args.bool("accept_newhostkey") && !opts.contains("StrictHostKeyChecking") {
        ssh.extend(["-o".into(), "StrictHostKeyChecking=accept-new".into()]);
    }
    let mut cmd = join(&ssh);
    if !opts.is_empty() {
        cmd.push(' ');
        cmd.push_str(opts);
    }
    // GIT_OPTIONAL_LOCKS=0: `git status` in a probe must not refresh (write) the index.
    let mut s = format!("export GIT_TERMINAL_PROMPT=0 GIT_OPTIONAL_LOCKS=0 LC_ALL=C GIT_SSH_COMMAND={}; ", quote(&cmd));
    if let Some(u) = args.str("umask") {
        if u.is_empty() || u.len() > 4 || !u.chars().all(|c| ('0'..='7').contains(&c)) {
            return Err(ModuleError::Args(format!("umask must be an octal integer, not '{u}'")));
        }
        s.push_str(&format!("umask {u}; "));
    }
    Ok(s)
}

fn git_bin(args: &Args) -> String {
    quote(args.str("executable").unwrap_or("git"))
}

/// A password or token in a URL (`https://user:TOKEN@host/…`) is a secret: it never reaches output. A user
/// name alone is not one.
fn register_url_secret(url: &str) {
    let Some((_, rest)) = url.split_once("://") else { return };
    let Some((userinfo, _)) = rest.split('/').next().unwrap_or_default().rsplit_once('@') else { return };
    if let Some((_, secret)) = userinfo.split_once(':').filter(|(_, p)| !p.is_empty()) {
        crate::redact::register(secret);
    }
}

/// The repository URL as git is given it (a path on the host becomes a file:// URL, as in Ansible).
fn repo_url(args: &Args) -> Result<String, ModuleError> {
    let repo = args.req("repo")?;
    register_url_secret(repo);
    Ok(if repo.starts_with('/') { format!("file://{repo}") } else { repo.to_string() })
}

#[async_trait::async_trait]
impl Module for Git {
    fn name(&self) -> &'static str {
        "git"
    }
    fn summary(&self) -> &'static str {
        "Clone a git repository, or bring a checkout to a version"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Decides from `git ls-remote` (as Ansible's check mode does): a checkout already at the version's commit is \
         left as it is, even on another branch. Not supported (refused at load time as unknown arguments): archive, \
         archive_prefix, separate_git_dir, reference, refspec, verify_commit, gpg_allowlist, track_submodules. \
         Submodules are updated with the checkout, but a change to them alone is not detected. ssh runs in batch \
         mode (it never prompts)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let repo = repo_url(args)?;
        let version = args.req("version")?;
        let remote = args.req("remote")?;
        let bare = args.bool("bare");
        let Some(dest) = args.str("dest") else {
            return Err(ModuleError::Args("the destination directory must be specified unless clone=no".into()));
        };
        let g = git_bin(args);
        let d = quote(dest);
        let config = if bare { format!("{dest}/config") } else { format!("{dest}/.git/config") };
        let mut p = Probe::new();
        p.add(format!("command -v {g}"));
        p.add(format!(
            "[ -f {c} ] || exit 3; cd {d} || exit 1; h=$({g} rev-parse -q --verify HEAD); m=$({g} status --porcelain | grep -vc '^??'); \
             u=$({g} config --get remote.{r}.url); \
             b=$({g} symbolic-ref --short -q HEAD || {g} symbolic-ref --short -q refs/remotes/{r}/HEAD | sed 's#^{rs}/##'); \
             c=$({g} rev-parse --verify -q {v}); printf '%s\\n' \"$h\" \"$m\" \"$u\" \"$b\" \"$c\"",
            c = quote(&config),
            r = quote(remote),
            rs = remote.replace(['#', '\'', '\\'], ""),
            v = quote(&format!("{version}^{{commit}}")),
        ));
        // With update: no, an existing checkout is left as it is: the remote is not asked (it may be offline).
        let skip_remote = if args.bool("update") { String::new() } else { format!("[ -f {} ] && exit 0; ", quote(&config)) };
        p.add(format!("{skip_remote}{g} ls-remote {} 2>&1", quote(&repo)));
        let s = p.run_input(ctx, &env_prelude(args)?, None).await?;
        if !s[0].ok() {
            return Err(ModuleError::failed(format!("Failed to find required executable \"{}\" in paths", args.str("executable").unwrap_or("git"))));
        }
        let checkout = match s[1].rc {
            3 => None,
            0 => {
                let mut l = s[1].out.lines().map(str::trim);
                let mut next = || l.next().filter(|x| !x.is_empty()).map(str::to_string);
                let head = next().unwrap_or_default();
                let modified_files = next().and_then(|n| n.parse::<u32>().ok()).unwrap_or(0);
                Some(Checkout { head, modified: !bare && modified_files > 0, remote_url: next(), branch: next(), local_commit: next() })
            }
            rc => return Err(ModuleError::failed(format!("cannot read the checkout at {dest} (rc={rc}): {}", s[1].trimmed()))),
        };
        let update = args.bool("update");
        if let (Some(co), false) = (&checkout, update) {
            return Ok(Plan::unchanged().with("before", co.head.as_str()).with("after", co.head.as_str()));
        }
        if !s[2].ok() {
            return Err(ModuleError::failed(format!("Failed to read the remote's refs ({repo}): {}", s[2].trimmed())).with("rc", s[2].rc));
        }
        let refs = parse_refs(&s[2].out);
        let (kind, target) = remote_head(&refs, version, checkout.as_ref());
        let Some(target) = target else {
            return Err(ModuleError::failed(format!("Could not determine remote revision for {version}")));
        };
        let mut plan = Plan::unchanged();
        let Some(co) = checkout else {
            if !args.bool("clone") {
                return Ok(plan.with("before", ()).with("after", target));
            }
            let d = property_diff(dest, &[("HEAD", "absent".into())], &[("HEAD", target.clone())]);
            let work = Work { exists: false, kind, reset_first: false, set_url: false };
            return Ok(plan.with("before", ()).with("after", target).change(Change::new("clone", d, Step::Module)).keep(work));
        };
        plan = plan.with("before", co.head.as_str());
        // The old URL's token stays out of the diff too.
        if let Some(old) = &co.remote_url {
            register_url_secret(old);
        }
        if co.modified && !args.bool("force") {
            return Err(
                ModuleError::failed(format!("Local modifications exist in the destination: {dest} (force=no).")).with("before", co.head.as_str())
            );
        }
        let url_changed = co.remote_url.as_deref().is_some_and(|u| !same_url(u, &repo));
        plan = plan.with("remote_url_changed", url_changed).with("after", target.as_str());
        // A bare repository's HEAD does not follow the version: its own ref of the version is what moves.
        let current = if bare { co.local_commit.clone().unwrap_or_default() } else { co.head.clone() };
        if current == target && !url_changed && !co.modified {
            return Ok(plan);
        }
        let mut before = vec![("HEAD", current.clone())];
        let mut after = vec![("HEAD", target.clone())];
        if url_changed {
            before.push(("remote", co.remote_url.clone().unwrap_or_default()));
            after.push(("remote", repo.clone()));
        }
        if co.modified {
            before.push(("local modifications", "yes".into()));
            after.push(("local modifications", "discarded".into()));
            plan = plan.msg(format!("Local modifications exist in the destination: {dest}"));
        }
        let work = Work { exists: true, kind, reset_first: co.modified, set_url: url_changed || co.remote_url.is_none() };
        Ok(plan.change(Change::new("update", property_diff(dest, &before, &after), Step::Module)).keep(work))
    }

    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let w: Work = plan.take_found().ok_or_else(|| ModuleError::Internal("git: nothing planned".into()))?;
        let g = git_bin(args);
        let dest = args.str("dest").unwrap_or_default();
        let (repo, version, remote) = (repo_url(args)?, args.req("version")?, args.req("remote")?);
        let (d, v, r) = (quote(dest), quote(version), quote(remote));
        let bare = args.bool("bare");
        let depth = args.int("depth").filter(|n| *n > 0);
        let named = matches!(w.kind, Version::Branch | Version::Tag);
        let mut s = env_prelude(args)?;
        s.push_str("die() { printf '%s\\n' \"$1\" >&2; exit 1; }; run() { what=$1; shift; out=$(\"$@\" 2>&1) || die \"Failed to $what: $out\"; }; ");
        if !w.exists {
            let mut clone = vec!["clone".to_string()];
            if bare {
                clone.push("--bare".into());
            } else {
                clone.extend(["--origin".into(), remote.to_string()]);
            }
            if let Some(n) = depth {
                if w.kind == Version::Head || named {
                    clone.extend(["--depth".into(), n.to_string()]);
                }
            }
            if args.bool("single_branch") {
                clone.push("--single-branch".into());
            }
            if named && (depth.is_some() || args.bool("single_branch")) {
                clone.extend(["--branch".into(), version.to_string()]);
            }
            clone.extend([repo.clone(), dest.to_string()]);
            s.push_str(&format!("mkdir -p -- {}; run clone {g} {}; ", quote(&super::helpers::remote_file::parent_dir(dest)), join(&clone)));
            if bare && remote != "origin" {
                s.push_str(&format!("run 'add the remote' {g} -C {d} remote add {r} {}; ", quote(&repo)));
            }
        } else {
            if w.reset_first {
                s.push_str(&format!("run 'discard local modifications' {g} -C {d} reset --hard HEAD; "));
            }
            if w.set_url {
                s.push_str(&format!(
                    "{g} -C {d} remote set-url {r} {u} 2>/dev/null || run 'set a new url {u0} for {r0}' {g} -C {d} remote add {r} {u}; ",
                    u = quote(&repo),
                    u0 = repo.replace(['\'', '"', '\\', '$', '`'], ""),
                    r0 = remote.replace(['\'', '"', '\\', '$', '`'], ""),
                ));
            }
            let mut fetch = vec!["fetch".to_string()];
            let mut refspecs: Vec<String> = Vec::new();
            if let Some(n) = depth {
                match w.kind {
                    Version::Branch => refspecs.push(format!("+refs/heads/{version}:refs/remotes/{remote}/{version}")),
                    Version::Tag => refspecs.push(format!("+refs/tags/{version}:refs/tags/{version}")),
                    _ => {}
                }
                if !refspecs.is_empty() {
                    fetch.extend(["--depth".into(), n.to_string()]);
                }
            }
            if refspecs.is_empty() {
                if bare {
                    refspecs = vec!["+refs/heads/*:refs/heads/*".into(), "+refs/tags/*:refs/tags/*".into()];
                } else {
                    fetch.push("--tags".into());
                }
            }
            if args.bool("force") {
                fetch.push("--force".into());
            }
            fetch.push(remote.to_string());
            fetch.extend(refspecs);
            s.push_str(&format!("run 'download remote objects and refs' {g} -C {d} {}; ", join(&fetch)));
        }
        if !bare {
            s.push_str(&match w.kind {
                Version::Head => format!(
                    "b=$({g} -C {d} symbolic-ref --short -q HEAD || {g} -C {d} symbolic-ref --short refs/remotes/{r}/HEAD | sed \"s#^$2/##\"); \
                     run \"checkout branch $b\" {g} -C {d} checkout --force \"$b\"; run \"checkout branch $b\" {g} -C {d} reset --hard {r}/\"$b\" --; "
                ),
                Version::Branch => format!(
                    "if {g} -C {d} show-ref --verify -q {rh}; then run 'checkout branch {v0}' {g} -C {d} checkout --force {v}; \
                     run 'checkout {v0}' {g} -C {d} reset --hard {rv}; else run 'checkout {v0}' {g} -C {d} checkout --track -b {v} {rv}; fi; ",
                    v0 = version.replace(['\'', '"', '\\', '$', '`'], ""),
                    rh = quote(&format!("refs/heads/{version}")),
                    rv = quote(&format!("{remote}/{version}")),
                ),
                _ => format!("run 'checkout {v0}' {g} -C {d} checkout --force {v}; ", v0 = version.replace(['\'', '"', '\\', '$', '`'], "")),
            });
            if args.bool("recursive") {
                let force = if args.bool("force") { " --force" } else { "" };
                s.push_str(&format!(
                    "if [ -f {d}/.gitmodules ]; then run 'update submodules' {g} -C {d} submodule update --init --recursive{force}; fi; "
                ));
            }
        }
        s.push_str(&format!("{g} -C {d} rev-parse HEAD"));
        // `set -- x remote` gives the HEAD case's sed its remote name without quoting it into the pattern.
        let script = format!("set -- x {r}; {s}");
        let out = ctx.write(&script, None).await?;
        if !out.success() {
            return Err(
                ModuleError::failed(out.stderr_text().trim().to_string()).with("before", plan.result.get("before").cloned().unwrap_or_default())
            );
        }
        let after = out.stdout_text().trim().to_string();
        Ok(Outcome::from_plan(&plan).with("after", after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFS: &str = "aaa\tHEAD\naaa\trefs/heads/main\nbbb\trefs/heads/dev\nccc\trefs/tags/v1\nddd\trefs/tags/v1^{}\neee\trefs/tags/light\n";

    #[test]
    fn the_version_is_resolved_as_ansibles_get_remote_head_does() {
        let refs = parse_refs(REFS);
        assert_eq!(remote_head(&refs, "HEAD", None), (Version::Head, Some("aaa".into())));
        let on_dev = Checkout { branch: Some("dev".into()), ..Default::default() };
        assert_eq!(remote_head(&refs, "HEAD", Some(&on_dev)), (Version::Head, Some("bbb".into())));
        assert_eq!(remote_head(&refs, "dev", None), (Version::Branch, Some("bbb".into())));
        // An annotated tag is its commit, a lightweight one its own id.
        assert_eq!(remote_head(&refs, "v1", None), (Version::Tag, Some("ddd".into())));
        assert_eq!(remote_head(&refs, "light", None), (Version::Tag, Some("eee".into())));
        // A commit id: the full id if the checkout knows it, else as given.
        let knows = Checkout { local_commit: Some("fff000".into()), ..Default::default() };
        assert_eq!(remote_head(&refs, "fff", Some(&knows)), (Version::Commit, Some("fff000".into())));
        assert_eq!(remote_head(&refs, "fff", None), (Version::Commit, Some("fff".into())));
    }

    #[test]
    fn a_token_in_the_repository_url_is_kept_out_of_output() {
        let args = Args(serde_json::json!({"repo": "https://deploy:glpat-Secret123@git.example.org/x.git"}).as_object().unwrap().clone());
        let url = repo_url(&args).unwrap();
        assert_eq!(crate::redact::redact(&url), "https://deploy:********@git.example.org/x.git");
    }

    #[test]
    fn remote_urls_differing_only_by_a_trailing_slash_or_dot_git_are_the_same() {
        assert!(same_url("https://h/x.git", "https://h/x"));
        assert!(same_url("https://h/x/", "https://h/x"));
        assert!(!same_url("https://h/x", "https://h/y"));
    }
}
