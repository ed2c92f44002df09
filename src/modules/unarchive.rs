//! unarchive: unpack a tar archive (plain, gzip, bzip2, xz, zstd) into a folder on the host with GNU tar. The
//! archive comes from the controller (streamed on stdin, never left on the host), from the host (remote_src),
//! or from a URL fetched on the host. One probe lists the archive and runs `tar --diff` against dest; as in
//! Ansible, only differences in content, size, mtime, links and (when not forced) owner/mode count.

use serde_json::Value;

use super::helpers::host::Probe;
use super::helpers::http::{self, BodyTo, Request};
use super::helpers::remote_file::stat_line_attrs_differ;
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Diff, FileKind, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::{join, quote};

pub struct Unarchive;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("src", ArgKind::Path)
        .required()
        .help("The archive: a controller file (searched like copy's src), or with remote_src a path or URL on the host."),
    ArgSpec::new("dest", ArgKind::Path).required().help("An existing folder to unpack into."),
    ArgSpec::new("remote_src", ArgKind::Bool).default("no").help("src is already on the host (or is a URL the host downloads)."),
    ArgSpec::new("copy", ArgKind::Bool).help("Old inverse of remote_src (copy: no = remote_src: yes)."),
    ArgSpec::new("creates", ArgKind::Path).help("Skip when this path exists on the host."),
    ArgSpec::new("list_files", ArgKind::Bool).default("no").help("Register the archive's file list as `files`."),
    ArgSpec::new("exclude", ArgKind::List).help("Paths or patterns in the archive not to unpack."),
    ArgSpec::new("include", ArgKind::List).help("Only these paths of the archive."),
    ArgSpec::new("extra_opts", ArgKind::List).help("More GNU tar options, e.g. ['--strip-components=1']."),
    ArgSpec::new("keep_newer", ArgKind::Bool).default("no").help("Do not replace files that are newer than the archive's."),
    ArgSpec::new("owner", ArgKind::Str).help("Owner for everything unpacked."),
    ArgSpec::new("group", ArgKind::Str).help("Group for everything unpacked."),
    ArgSpec::new("mode", ArgKind::Mode).help("Mode for everything unpacked."),
    ArgSpec::new("validate_certs", ArgKind::Bool).default("yes").help("Check TLS certificates when src is an https URL."),
    ArgSpec::new("decrypt", ArgKind::Bool).default("yes").help("Accepted for compatibility (vault-encrypted archives are not supported)."),
])
.mutually_exclusive(&[&["include", "exclude"], &["copy", "remote_src"]])
.changes(&["unpack", "attributes"])
.critical();

/// Lines of `tar --diff` that mean "not unpacked yet" (Ansible's regexes).
fn differs(line: &str, root: bool, owner_given: bool, group_given: bool, mode_given: bool) -> bool {
    if line.ends_with(": : Warning: Cannot stat: No such file or directory") {
        return false;
    }
    (root && !owner_given && line.ends_with(": Uid differs"))
        || (root && !group_given && line.ends_with(": Gid differs"))
        || (!mode_given && line.ends_with(": Mode differs"))
        || [": Mod time differs", ": Warning: Cannot stat: No such file or directory", ": Symlink differs", ": Contents differ", ": Size differs"]
            .iter()
            .any(|e| line.ends_with(e))
        || line.contains(": Invalid owner")
        || line.contains(": Invalid group")
}

/// Ansible's handler class for a format.
fn handler(kind: &str) -> &'static str {
    match kind {
        "gz" => "TgzArchive",
        "bz2" => "TarBzipArchive",
        "xz" => "TarXzArchive",
        "zst" => "TarZstdArchive",
        _ => "TarArchive",
    }
}

/// Shell lines that set $s (the archive) and $z (tar's decompression flag) and $k (the format).
fn prelude(src_expr: &str, stdin_src: bool, cleanup: Option<&str>) -> String {
    let extra = cleanup.map(|c| format!(" {}", quote(c))).unwrap_or_default();
    let mut p = format!("export LANG=C LC_ALL=C; t=$(mktemp -d) || exit 1; trap 'rm -rf \"$t\"{extra}' EXIT; ");
    if stdin_src {
        p.push_str("cat > \"$t/src\"; s=\"$t/src\"; ");
    } else {
        p.push_str(&format!("s={src_expr}; "));
    }
    p.push_str(
        "k=missing; z=; if [ -f \"$s\" ]; then m=$(head -c 6 \"$s\" | od -An -tx1 | tr -d ' \\n'); case $m in \
         1f8b*) k=gz; z=-z;; 425a68*) k=bz2; z=-j;; fd377a585a00) k=xz; z=-J;; 28b52ffd*) k=zst; z=--zstd;; 504b0304*) k=zip;; \
         *) if [ \"$(dd if=\"$s\" bs=1 skip=257 count=5 2>/dev/null)\" = ustar ]; then k=tar; else k=unknown; fi;; esac; fi",
    );
    p
}

/// tar's options shared by listing, comparing and extracting.
fn tar_opts(args: &Args, extract_or_diff: bool) -> String {
    let mut o: Vec<String> = Vec::new();
    if extract_or_diff {
        if let Some(owner) = args.str("owner") {
            o.push(format!("--owner={owner}"));
        }
        if let Some(group) = args.str("group") {
            o.push(format!("--group={group}"));
        }
        if args.bool("keep_newer") {
            o.push("--keep-newer-files".into());
        }
    }
    if args.has("extra_opts") {
        o.push("--show-transformed-names".into());
        o.extend(args.list("extra_opts"));
    }
    for e in args.list("exclude") {
        o.push(format!("--exclude={}", e.trim_end_matches('/')));
    }
    join(&o)
}

fn includes(args: &Args) -> String {
    join(&args.list("include"))
}

#[async_trait::async_trait]
impl Module for Unarchive {
    fn name(&self) -> &'static str {
        "unarchive"
    }
    fn summary(&self) -> &'static str {
        "Unpack a tar archive (from the controller, the host, or a URL) into a folder on the host"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Tar archives only (plain, .gz, .bz2, .xz, .zst, with the host's GNU tar and decompressor); zip archives are \
         refused with a message. A controller archive is streamed to tar on stdin (twice when it must be unpacked: \
         once to compare, once to extract) instead of being copied to a temp file, and is read into memory. \
         Check mode reports whether tar --diff sees differences (Ansible skips check mode for tar archives)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let src = args.req("src")?.to_string();
        let dest = args.req("dest")?.to_string();
        let (remote, local) = source(ctx, args, &src)?;

        // creates: skip before anything else (Ansible checks it before transferring).
        if let Some(c) = args.str("creates") {
            if ctx.read(&format!("[ -e {} ]", quote(c))).await?.success() {
                return Ok(Plan::skipped(format!("skipped, since {c} exists")));
            }
        }

        // A URL is fetched on the host into a temp file, removed when the probe ends (the real run fetches it
        // again: a plan leaves nothing behind).
        let mut download: Option<String> = None;
        let src_expr = if remote && src.contains("://") {
            let tmp = tmp_name();
            let resp = http::request_read(ctx, &url_request(args, &src), BodyTo::File(&tmp)).await?;
            download = Some(tmp.clone());
            if resp.error.is_some() || resp.status != 200 {
                let _ = ctx.read(&format!("rm -f -- {}", quote(&tmp))).await;
                let why = resp.error.unwrap_or_else(|| format!("HTTP Error {}: {}", resp.status, resp.reason));
                return Err(ModuleError::failed(format!("Failure downloading {src}, {why}")));
            }
            quote(&tmp)
        } else {
            quote(&src)
        };

        let d = quote(&dest);
        let opts = tar_opts(args, true);
        let list_opts = tar_opts(args, false);
        let inc = includes(args);
        let attrs_given = args.has("owner") || args.has("group") || args.has("mode");
        let mut p = Probe::new();
        p.add(format!("[ -d {d} ]"));
        p.add("[ -f \"$s\" ] && [ -r \"$s\" ] && echo \"$k $(stat -c %s \"$s\")\"");
        p.add(format!("[ -f \"$s\" ] || exit 0; cd {d} 2>/dev/null || exit 0; tar --list $z {list_opts} -f \"$s\" {inc}"));
        p.add(format!("[ -f \"$s\" ] || exit 0; cd {d} 2>/dev/null || exit 0; tar --diff -C {d} $z {opts} -f \"$s\" {inc} 2>&1"));
        p.add("id -u");
        if attrs_given {
            p.add(format!(
                "[ -f \"$s\" ] || exit 0; cd {d} 2>/dev/null || exit 0; tar --list $z {list_opts} -f \"$s\" {inc} | while IFS= read -r f; do \
                 stat -c '%u %g %U %G %a' -- \"$f\" 2>/dev/null || echo missing; done"
            ));
        }
        let s = p.run_input(ctx, &prelude(&src_expr, local.is_some(), download.as_deref()), local.as_deref()).await?;
        let shown_src = src.clone();
        if !s[0].ok() {
            return Err(ModuleError::failed(format!("dest '{dest}' must be an existing dir")));
        }
        let info = s[1].trimmed().to_string();
        let Some((kind, size)) = info.split_once(' ') else {
            return Err(ModuleError::failed(format!("Source '{shown_src}' does not exist")));
        };
        if size == "0" {
            return Err(ModuleError::failed(format!("Invalid archive '{shown_src}', the file is 0 bytes")));
        }
        if kind == "zip" {
            return Err(ModuleError::Unsupported(format!(
                "{shown_src} is a zip archive; hlprov's unarchive unpacks tar archives only (.tar, .tar.gz, .tar.bz2, .tar.xz, .tar.zst)"
            )));
        }
        if kind == "unknown" || !s[2].ok() {
            return Err(ModuleError::failed(format!(
                "Failed to find handler for \"{shown_src}\". Make sure the required command to extract the file is installed. \
                 Command \"tar\" could not handle archive: {}",
                s[3].trimmed().lines().chain(s[2].trimmed().lines()).next().unwrap_or("not a tar archive")
            )));
        }
        let files: Vec<String> = s[2].out.lines().map(|l| l.trim_start_matches('/').to_string()).filter(|l| !l.is_empty()).collect();
        if files.is_empty() {
            return Err(ModuleError::failed("Command \"tar\" found no files in archive. Empty archive files are not supported."));
        }
        let root = s[4].trimmed() == "0";
        let diff_lines: Vec<&str> = s[3].out.lines().filter(|l| differs(l, root, args.has("owner"), args.has("group"), args.has("mode"))).collect();
        let unarchived = diff_lines.is_empty();
        let attrs_differ = attrs_given && s.get(5).is_some_and(|sec| sec.out.lines().any(|l| stat_line_attrs_differ(l, 5, args)));

        let mut plan = Plan::unchanged().with("handler", handler(kind)).with("dest", dest.clone()).with("src", shown_src.clone());
        if args.bool("list_files") {
            plan = plan.with("files", Value::Array(files.iter().cloned().map(Value::String).collect()));
        }
        if !unarchived {
            let d = Diff { before_header: dest.clone(), after_header: dest.clone(), before: String::new(), after: diff_lines.join("\n") + "\n" };
            plan = plan.change(Change::new("unpack", d, Step::Module));
        }
        if attrs_differ {
            let want = ["owner", "group", "mode"].iter().filter_map(|k| args.str(k).map(|v| format!("{k}={v}"))).collect::<Vec<_>>().join(" ");
            let d =
                super::helpers::remote_file::property_diff(&dest, &[("unpacked files", "(attributes differ)".into())], &[("unpacked files", want)]);
            plan = plan.change(Change::new("attributes", d, Step::Module));
        }
        Ok(plan.keep(Planned { kind: kind.to_string(), files, unarchived }))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let Planned { kind, files, unarchived } =
            plan.take_found().ok_or_else(|| ModuleError::Internal("unarchive: plan without its findings".into()))?;
        let src = args.req("src")?.to_string();
        let dest = args.req("dest")?.to_string();
        let (remote, local) = source(ctx, args, &src)?;
        let mut download: Option<String> = None;
        let src_expr = if remote && src.contains("://") {
            let tmp = tmp_name();
            let resp = http::request(ctx, &url_request(args, &src), BodyTo::File(&tmp)).await?;
            download = Some(tmp.clone());
            if resp.error.is_some() || resp.status != 200 {
                let _ = ctx.write(&format!("rm -f -- {}", quote(&tmp)), None).await;
                let why = resp.error.unwrap_or_else(|| format!("HTTP Error {}: {}", resp.status, resp.reason));
                return Err(ModuleError::failed(format!("Failure downloading {src}, {why}")));
            }
            quote(&tmp)
        } else {
            quote(&src)
        };
        let d = quote(&dest);
        let opts = tar_opts(args, true);
        let inc = includes(args);
        let attrs_given = args.has("owner") || args.has("group") || args.has("mode");
        let shown_src = src.clone();
        let mut o = Outcome::from_plan(&plan);

        let mut script = String::new();
        let extract_cmd = format!("tar --extract -C {d} $z {opts} -f \"$s\" {inc}");
        if !unarchived {
            script.push_str(&format!(
                "cd {d} && {extract_cmd} > \"$t/out\" 2> \"$t/err\"; echo \"rc $?\"; {}; cat \"$t/out\"; {}; cat \"$t/err\"; {}; ",
                super::helpers::host::end_section(),
                super::helpers::host::end_section(),
                super::helpers::host::end_section()
            ));
        } else {
            script.push_str(&format!("echo 'rc 0'; {e}; {e}; {e}; ", e = super::helpers::host::end_section()));
        }
        if attrs_given {
            // Everything in the archive plus its top folders, as Ansible does.
            let mut paths: Vec<String> = files.clone();
            for f in &files {
                if let Some((top, _)) = f.split_once('/') {
                    if !paths.iter().any(|p| p == top) {
                        paths.push(top.to_string());
                    }
                }
            }
            let mut attr = String::new();
            match (args.str("owner"), args.str("group")) {
                (Some(ow), Some(g)) => attr.push_str(&format!("chown -h -c {} -- \"$f\"; ", quote(&format!("{ow}:{g}")))),
                (Some(ow), None) => attr.push_str(&format!("chown -h -c {} -- \"$f\"; ", quote(ow))),
                (None, Some(g)) => attr.push_str(&format!("chgrp -h -c {} -- \"$f\"; ", quote(g))),
                _ => {}
            }
            if let Some(m) = args.str("mode") {
                attr.push_str(&format!("[ -L \"$f\" ] || chmod -c {} -- \"$f\"; ", quote(m)));
            }
            script.push_str(&format!("cd {d} && for f in {}; do {attr}done; ", join(&paths)));
        }
        script.push_str(&super::helpers::host::end_section());
        let full = format!("{}\n{script}", prelude(&src_expr, local.is_some(), download.as_deref()));
        let out = ctx.write(&full, local.as_deref()).await?;
        let sec = super::helpers::host::split(&out.stdout_text());
        if sec.len() < 4 {
            return Err(ModuleError::failed(format!("failed to unpack {shown_src} to {dest}: {}", out.stderr_text().trim())));
        }
        let rc: i64 = sec[0].trimmed().strip_prefix("rc ").and_then(|r| r.parse().ok()).unwrap_or(-1);
        if !unarchived {
            let cmd = format!(
                "tar --extract -C {d} {}{opts} -f {shown_src} {inc}",
                match kind.as_str() {
                    "gz" => "-z ",
                    "bz2" => "-j ",
                    "xz" => "-J ",
                    "zst" => "--zstd ",
                    _ => "",
                }
            );
            let mut results = serde_json::Map::new();
            results.insert("cmd".into(), Value::String(cmd.split_whitespace().collect::<Vec<_>>().join(" ")));
            results.insert("rc".into(), Value::from(rc));
            results.insert("out".into(), Value::String(sec[1].out.clone()));
            results.insert("err".into(), Value::String(sec[2].out.clone()));
            o = o.with("extract_results", Value::Object(results));
            if rc != 0 {
                let mut e = ModuleError::failed(format!("failed to unpack {shown_src} to {dest}")).after_change();
                if let ModuleError::Failed(f) = &mut e {
                    f.data = o.data;
                }
                return Err(e);
            }
        }
        if !sec[3].ok() {
            return Err(
                ModuleError::failed(format!("setting owner/group/mode on the unpacked files failed: {}", out.stderr_text().trim())).after_change()
            );
        }
        Ok(o)
    }
}

/// What the plan found, for apply.
struct Planned {
    kind: String,
    files: Vec<String>,
    /// Nothing to unpack: only the attributes change.
    unarchived: bool,
}

/// Whether src is on the host (remote_src, or copy: no), and otherwise the controller archive's bytes.
fn source(ctx: &ModuleCtx<'_>, args: &Args, src: &str) -> Result<(bool, Option<Vec<u8>>), ModuleError> {
    let remote = args.bool("remote_src") || args.get("copy").and_then(super::args::to_bool) == Some(false);
    if !remote && src.contains("://") {
        return Err(ModuleError::Args(format!("Unsupported option, an URI src ({src}) is only supported when remote_src is True")));
    }
    if let Some(m) = args.str("mode") {
        super::helpers::mode::parse(m).map_err(ModuleError::Args)?;
    }
    if remote {
        return Ok((true, None));
    }
    let path = ctx.task.find_file(FileKind::Files, src).map_err(ModuleError::Args)?;
    Ok((false, Some(std::fs::read(&path).map_err(|e| ModuleError::Args(format!("cannot read {}: {e}", path.display())))?)))
}

fn tmp_name() -> String {
    format!("/tmp/.hlprov-unarchive.{:016x}", rand::random::<u64>())
}

fn url_request<'a>(args: &Args, url: &'a str) -> Request<'a> {
    let mut req = Request::get(url);
    req.validate_certs = args.bool("validate_certs");
    req.timeout = 300;
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_count_like_ansible() {
        assert!(differs("etc/app.conf: Contents differ", true, false, false, false));
        assert!(differs("bin/tool: Warning: Cannot stat: No such file or directory", true, false, false, false));
        assert!(!differs("bin/tool: : Warning: Cannot stat: No such file or directory", true, false, false, false));
        assert!(differs("bin/tool: Mode differs", true, false, false, false));
        assert!(!differs("bin/tool: Mode differs", true, false, false, true), "a forced mode is set afterwards instead");
        assert!(!differs("bin/tool: Uid differs", false, false, false, false), "only root can give files away");
        assert!(!differs("some other line", true, false, false, false));
    }

    #[test]
    fn the_format_is_recognised_by_its_magic() {
        let dir = tempfile::tempdir().unwrap();
        let tar_path = dir.path().join("a.tar");
        let mut b = tar::Builder::new(std::fs::File::create(&tar_path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "x.txt", &b"hi"[..]).unwrap();
        b.finish().unwrap();
        drop(b);
        std::process::Command::new("gzip").arg("-k").arg(&tar_path).status().unwrap();
        for (file, want) in [("a.tar", "tar"), ("a.tar.gz", "gz")] {
            let script = format!("{}; echo $k", prelude(&quote(dir.path().join(file).to_str().unwrap()), false, None));
            let out = std::process::Command::new("/bin/sh").arg("-c").arg(&script).output().unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want, "{file}");
        }
    }
}
