//! apt_repository: one-line APT sources (`deb [options] URI suite components`) in /etc/apt/sources.list and
//! /etc/apt/sources.list.d/*.list. One probe reads every such file; the edit is computed here exactly as
//! Ansible's module computes it (file naming, normalised lines, `changed`), changed files are written
//! atomically, and the cache is updated afterwards (put back as it was if that fails).

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::Value;

use super::helpers::remote_file::{self, Attrs, FileState, WriteSpec};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct AptRepository;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("repo", ArgKind::Str)
        .required()
        .help("The source line, e.g. `deb [signed-by=/etc/apt/keyrings/x.gpg] https://example.org/debian bookworm main`."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Whether the source should be there (enabled)."),
    ArgSpec::new("filename", ArgKind::Str).help("File name in /etc/apt/sources.list.d, without .list (default: made from the URI)."),
    ArgSpec::new("mode", ArgKind::Mode).help("Mode of a newly created sources file (default 0644)."),
    ArgSpec::new("update_cache", ArgKind::Bool).aliases(&["update-cache"]).default("yes").help("Run apt-get update after a change."),
    ArgSpec::new("update_cache_retries", ArgKind::Int).default("5").help("Attempts at `apt-get update` before failing."),
    ArgSpec::new("update_cache_retry_max_delay", ArgKind::Int).default("12").help("Longest pause between those attempts, in seconds."),
    ArgSpec::new("codename", ArgKind::Str).help("Only for PPAs, which hlprov does not support; accepted for compatibility."),
    ArgSpec::new("validate_certs", ArgKind::Bool).default("yes").help("Accepted for compatibility (only PPAs download anything)."),
    ArgSpec::new("install_python_apt", ArgKind::Bool).default("yes").help("Accepted for compatibility; hlprov needs no python-apt."),
])
.changes(&["sources"])
.critical();

const DEFAULT_FILE: &str = "/etc/apt/sources.list";
const SOURCES_DIR: &str = "/etc/apt/sources.list.d";
const VALID_TYPES: &[&str] = &["deb", "deb-src"];

/// One line of a sources file as Ansible's SourcesList keeps it.
#[derive(Clone, Debug, PartialEq)]
struct Line {
    valid: bool,
    enabled: bool,
    source: String,
    comment: String,
}

/// SourcesList._parse.
fn parse_line(raw: &str) -> Line {
    let mut line = raw.trim();
    let mut enabled = true;
    if let Some(rest) = line.strip_prefix('#') {
        enabled = false;
        line = rest;
    }
    let mut comment = String::new();
    let mut body = line;
    if let Some(i) = line.find('#').filter(|i| *i > 0) {
        comment = line[i + 1..].trim().to_string();
        body = &line[..i];
    }
    let mut source = body.trim().to_string();
    let mut valid = false;
    let chunks: Vec<&str> = source.split_whitespace().collect();
    if chunks.first().is_some_and(|c| VALID_TYPES.contains(c)) {
        valid = true;
        source = chunks.join(" ");
    }
    Line { valid, enabled, source, comment }
}

fn render(lines: &[Line]) -> String {
    let mut s = String::new();
    for l in lines {
        if !l.enabled {
            s.push_str("# ");
        }
        s.push_str(&l.source);
        if !l.comment.is_empty() {
            s.push_str(" # ");
            s.push_str(&l.comment);
        }
        s.push('\n');
    }
    s
}

/// SourcesList._suggest_filename (the `.list` name a repo line gets).
fn suggest_filename(source: &str, filename: Option<&str>) -> String {
    if let Some(f) = filename {
        return format!("{f}.list");
    }
    let no_opts = regex::Regex::new(r"\[[^\]]+\]").expect("static regex").replace_all(source, "");
    let no_scheme = regex::Regex::new(r"\w+://").expect("static regex").replace_all(&no_opts, "").into_owned();
    let parts: Vec<&str> = no_scheme.split_whitespace().filter(|p| !VALID_TYPES.contains(p)).collect();
    let first = parts.first().copied().unwrap_or("");
    let first = first.split_once('@').map(|(_, h)| h).unwrap_or(first);
    let cleaned: Vec<String> = first.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect();
    format!("{}.list", cleaned.join("_"))
}

fn expand_path(file: &str) -> String {
    if file.contains('/') { file.to_string() } else { format!("{SOURCES_DIR}/{file}") }
}

/// All sources files in Ansible's order (sources.list first), each with its lines and symlink target.
#[derive(Clone, Debug, Default)]
struct Sources {
    files: Vec<(String, Vec<Line>)>,
    links: BTreeMap<String, String>,
    states: BTreeMap<String, FileState>,
}

impl Sources {
    fn dump(&self) -> BTreeMap<String, String> {
        self.files.iter().filter(|(_, l)| !l.is_empty()).map(|(f, l)| (f.clone(), render(l))).collect()
    }

    fn file_mut(&mut self, name: &str) -> &mut Vec<Line> {
        if let Some(i) = self.files.iter().position(|(f, _)| f == name) {
            return &mut self.files[i].1;
        }
        self.files.push((name.to_string(), Vec::new()));
        &mut self.files.last_mut().expect("just pushed").1
    }

    fn add(&mut self, source: &str, file: &str) {
        let mut found = false;
        for (_, lines) in self.files.iter_mut() {
            for l in lines.iter_mut().filter(|l| l.valid && l.source == source) {
                l.enabled = true;
                found = true;
            }
        }
        if !found {
            self.file_mut(&expand_path(file)).push(Line { valid: true, enabled: true, source: source.to_string(), comment: String::new() });
        }
    }

    fn remove(&mut self, source: &str) {
        for (_, lines) in self.files.iter_mut() {
            lines.retain(|l| !(l.valid && l.enabled && l.source == source));
        }
    }
}

/// The probe: every sources file, its symlink target, and its state for the conditional write.
fn probe_script() -> String {
    format!(
        "for f in {DEFAULT_FILE} {SOURCES_DIR}/*.list; do [ -f \"$f\" ] || continue; \
         printf '%s\\t%s\\t%s\\t%s\\n' \"$f\" \"$(readlink -- \"$f\")\" \"$(sha256sum < \"$f\" | cut -c1-64)\" \"$(base64 -w0 < \"$f\")\"; done; true"
    )
}

fn parse_probe(text: &str) -> Result<Sources, ModuleError> {
    let mut s = Sources::default();
    for line in text.lines() {
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        if f.len() < 4 {
            continue;
        }
        let bytes =
            base64::engine::general_purpose::STANDARD.decode(f[3].trim()).map_err(|e| ModuleError::Internal(format!("reading {}: {e}", f[0])))?;
        let content = String::from_utf8_lossy(&bytes).into_owned();
        if !f[1].is_empty() {
            s.links.insert(f[0].to_string(), f[1].to_string());
        }
        s.states.insert(f[0].to_string(), FileState { exists: true, sha256: Some(f[2].to_string()), content: Some(bytes), ..Default::default() });
        s.files.push((f[0].to_string(), content.lines().map(parse_line).collect()));
    }
    Ok(s)
}

#[async_trait::async_trait]
impl Module for AptRepository {
    fn name(&self) -> &'static str {
        "apt_repository"
    }
    fn summary(&self) -> &'static str {
        "Add or remove a one-line APT source (sources.list.d/*.list) and update the package cache"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Needs no python3-apt. PPAs (ppa:…) are refused: use deb822_repository with signed_by. Only the files whose \
         content changes are rewritten (Ansible rewrites every sources file it read), and --diff shows every \
         changed file (Ansible shows only added or removed ones)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let repo = args.req("repo")?;
        let state = args.req("state")?;
        if repo.trim().is_empty() {
            return Err(ModuleError::Args("Please set argument 'repo' to a non-empty value".into()));
        }
        if repo.starts_with("ppa:") {
            return Err(ModuleError::Unsupported("PPAs are not supported by hlprov's apt_repository; use deb822_repository with signed_by".into()));
        }
        if repo.contains('\n') {
            return Err(ModuleError::Args("repo must be a single line".into()));
        }
        let parsed = parse_line(repo);
        if !parsed.valid || !parsed.enabled {
            return Err(ModuleError::Args(format!("Invalid repository string: {}", repo.trim())));
        }
        if let Some(f) = args.str("filename") {
            if f.is_empty() || f.contains('/') || f.starts_with('.') {
                return Err(ModuleError::Args(format!("filename must be a plain file name, not '{f}'")));
            }
        }
        let out = ctx.read_ok(&probe_script(), "reading the APT sources").await?;
        let mut sources = parse_probe(&out.stdout_text())?;
        let before = sources.dump();
        if state == "present" {
            let file = suggest_filename(&parsed.source, args.str("filename"));
            sources.add(&parsed.source, &file);
        } else {
            sources.remove(&parsed.source);
        }
        let after = sources.dump();
        let added: Vec<String> = after.keys().filter(|k| !before.contains_key(*k)).cloned().collect();
        let removed: Vec<String> = before.keys().filter(|k| !after.contains_key(*k)).cloned().collect();
        let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
        let mut plan = Plan::unchanged()
            .with("repo", repo)
            .with("sources_added", strings(&added))
            .with("sources_removed", strings(&removed))
            .with("state", state);
        let touched: Vec<String> = before
            .keys()
            .chain(after.keys())
            .filter(|k| before.get(*k) != after.get(*k))
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        for f in &touched {
            let d = super::Diff {
                before_header: if before.contains_key(f) { f.clone() } else { "/dev/null".into() },
                after_header: if after.contains_key(f) { f.clone() } else { "/dev/null".into() },
                before: before.get(f).cloned().unwrap_or_default(),
                after: after.get(f).cloned().unwrap_or_default(),
            };
            plan = plan.change(Change::new("sources", d, Step::Module));
        }
        if touched.is_empty() {
            return Ok(plan);
        }
        Ok(plan.keep(Edit { sources, touched, before, after }))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let Edit { sources, touched, before, after } =
            plan.take_found().ok_or_else(|| ModuleError::Internal("apt_repository: plan without its findings".into()))?;
        let mode = match args.str("mode") {
            Some(m) => match super::helpers::mode::parse(m).map_err(ModuleError::Args)? {
                super::helpers::mode::Mode::Octal(v) => v,
                other => other.apply(0o644, false),
            },
            None => 0o644,
        };
        self.write(ctx, &sources, &touched, &after, mode).await?;
        if args.bool("update_cache") {
            if let Err(e) = super::apt::update_cache(ctx, args).await {
                // Put the sources back as they were, as Ansible does.
                let mut old = Sources { files: Vec::new(), links: sources.links.clone(), states: Default::default() };
                for (f, text) in &before {
                    old.files.push((f.clone(), text.lines().map(parse_line).collect()));
                }
                let _ = self.write(ctx, &old, &touched, &before, mode).await;
                return Err(e);
            }
        }
        Ok(Outcome::from_plan(&plan))
    }
}

/// The sources as read and the files whose text changes, for apply.
struct Edit {
    sources: Sources,
    touched: Vec<String>,
    before: BTreeMap<String, String>,
    after: BTreeMap<String, String>,
}

impl AptRepository {
    /// Write (or delete) each touched file so it holds `wanted[file]`.
    async fn write(
        &self,
        ctx: &ApplyCtx<'_>,
        sources: &Sources,
        touched: &[String],
        wanted: &BTreeMap<String, String>,
        mode: u32,
    ) -> Result<(), ModuleError> {
        for f in touched {
            let real =
                sources.links.get(f).map(|t| if t.starts_with('/') { t.clone() } else { format!("{SOURCES_DIR}/{t}") }).unwrap_or_else(|| f.clone());
            match wanted.get(f) {
                Some(text) => {
                    let exists = sources.states.contains_key(f);
                    let attrs = if exists { Attrs::default() } else { Attrs { mode: Some(mode), ..Default::default() } };
                    if !exists {
                        ctx.write_ok(&format!("mkdir -p -- {}", quote(SOURCES_DIR)), None, "creating sources.list.d").await?;
                    }
                    remote_file::write_atomic(ctx, &WriteSpec { attrs, expect_sha256: None, ..WriteSpec::new(&real, text.as_bytes(), None) }).await?;
                }
                None => {
                    ctx.write_ok(&format!("rm -f -- {}", quote(f)), None, "removing an empty sources file").await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_like_sourceslist() {
        assert_eq!(
            parse_line("deb  [arch=amd64]  http://x/debian bookworm main # mine"),
            Line { valid: true, enabled: true, source: "deb [arch=amd64] http://x/debian bookworm main".into(), comment: "mine".into() }
        );
        let disabled = parse_line("#deb-src http://x/debian bookworm main");
        assert!(disabled.valid && !disabled.enabled);
        assert_eq!(render(&[disabled]), "# deb-src http://x/debian bookworm main\n");
        let comment = parse_line("# just words");
        assert!(!comment.valid);
        assert_eq!(render(&[comment, parse_line("")]), "# just words\n\n");
    }

    // Expected values below were produced by ansible-core 2.19's SourcesList._parse and _suggest_filename.
    #[test]
    fn file_names_follow_ansible() {
        assert_eq!(
            suggest_filename("deb [arch=amd64 signed-by=/k.gpg] https://download.docker.com/linux/debian bookworm stable", None),
            "download_docker_com_linux_debian.list"
        );
        assert_eq!(suggest_filename("deb http://user:pw@repo.example.org/apt stable main", None), "repo_example_org_apt.list");
        assert_eq!(suggest_filename("deb [trusted=yes] file:/srv/repo ./", None), "file_srv_repo.list");
        assert_eq!(suggest_filename("deb http://x/ y z", Some("mine")), "mine.list");
    }

    #[test]
    fn add_enables_an_existing_disabled_line_and_remove_drops_it() {
        let mut s = Sources::default();
        s.files.push((
            DEFAULT_FILE.into(),
            vec![parse_line("deb http://deb.debian.org/debian bookworm main"), parse_line("# deb http://x/debian bookworm main")],
        ));
        s.add("deb http://x/debian bookworm main", "x_debian.list");
        assert_eq!(s.dump()[DEFAULT_FILE], "deb http://deb.debian.org/debian bookworm main\ndeb http://x/debian bookworm main\n");
        assert_eq!(s.files.len(), 1, "no new file");
        s.remove("deb http://x/debian bookworm main");
        assert_eq!(s.dump()[DEFAULT_FILE], "deb http://deb.debian.org/debian bookworm main\n");
        s.add("deb http://y/ stable main", "y.list");
        assert_eq!(s.dump()["/etc/apt/sources.list.d/y.list"], "deb http://y/ stable main\n");
    }
}
