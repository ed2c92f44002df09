//! get_url: download a file on the host (with its curl or wget) to a path, verified against a checksum when one
//! is given. A matching checksum makes a no-op one probe; otherwise the file is downloaded to a temp file next
//! to dest (If-Modified-Since when dest exists) and only replaces dest when its content differs. Results and
//! `changed` follow Ansible's get_url.

use serde_json::Value;

use super::helpers::host::Probe;
use super::helpers::http::{self, BodyTo, Request};
use super::helpers::remote_file::stat_line_attrs_differ;
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct GetUrl;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("url", ArgKind::Str).required().help("http, https (or ftp, if the host's curl speaks it) URL to download."),
    ArgSpec::new("dest", ArgKind::Path)
        .required()
        .help("Where to put it: a file path, or an existing folder (the name then comes from the server or the URL)."),
    ArgSpec::new("checksum", ArgKind::Str)
        .default("")
        .help("`ALGORITHM:HEX` (sha256:…, sha512:, sha1:, md5:) or `ALGORITHM:URL` of a checksums file; a matching dest is not downloaded again."),
    ArgSpec::new("force", ArgKind::Bool).default("no").help("Always download, and replace dest when the content differs (no If-Modified-Since)."),
    ArgSpec::new("mode", ArgKind::Mode).help("Mode of dest."),
    ArgSpec::new("owner", ArgKind::Str).help("Owner of dest."),
    ArgSpec::new("group", ArgKind::Str).help("Group of dest."),
    ArgSpec::new("backup", ArgKind::Bool).default("no").help("Keep a timestamped copy of a dest that gets replaced."),
    ArgSpec::new("timeout", ArgKind::Int).default("10").help("Seconds for the request."),
    ArgSpec::new("headers", ArgKind::Dict).help("Extra request headers."),
    ArgSpec::new("validate_certs", ArgKind::Bool).default("yes").help("Check the server's TLS certificate."),
    ArgSpec::new("url_username", ArgKind::Str).aliases(&["username"]).help("User for HTTP basic authentication."),
    ArgSpec::new("url_password", ArgKind::Str).aliases(&["password"]).help("Password for HTTP basic authentication (kept out of output)."),
    ArgSpec::new("force_basic_auth", ArgKind::Bool)
        .default("no")
        .help("Accepted for compatibility: hlprov always sends basic auth up front when a user is given."),
    ArgSpec::new("tmp_dest", ArgKind::Path).help("Folder for the temporary download (default: dest's folder)."),
])
.changes(&["download", "attributes"]);

/// Checksum algorithms and the host tool that computes each.
fn sum_tool(algo: &str) -> Option<&'static str> {
    Some(match algo {
        "md5" => "md5sum",
        "sha1" => "sha1sum",
        "sha224" => "sha224sum",
        "sha256" => "sha256sum",
        "sha384" => "sha384sum",
        "sha512" => "sha512sum",
        _ => return None,
    })
}

/// The file name in a URL's path (`index.html` for none).
pub(crate) fn url_filename(url: &str) -> String {
    let path = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once('/').map(|(_, p)| p).unwrap_or("");
    match path.rsplit('/').next() {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => "index.html".into(),
    }
}

/// Ansible's parse_digest_lines: (digest, file name) pairs from a checksums file (GNU or BSD format).
fn parse_digest_lines(filename: &str, text: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() == 1 && lines[0].split_whitespace().count() == 1 {
        return vec![(lines[0].to_string(), filename.to_string())];
    }
    let bsd = regex::Regex::new(r"^(\w+) ?\((?P<path>.+)\) ?= (?P<digest>[\w.]+)$").expect("static regex");
    let gnu = regex::Regex::new(r"^(?P<digest>[\w.]+)\s+(\*|\./|\.)?(?P<path>.+)$").expect("static regex");
    let mut out = Vec::new();
    for l in lines {
        if let Some(c) = bsd.captures(l) {
            out.push((c["digest"].to_string(), c["path"].to_string()));
        } else if let Some(c) = gnu.captures(l) {
            out.push((c["digest"].to_string(), c["path"].trim_start_matches(['.', '/']).to_string()));
        }
    }
    out
}

/// The file name a Content-Disposition header gives, without any folder part.
fn disposition_filename(header: &str) -> Option<String> {
    let re = regex::Regex::new(r#"filename\s*=\s*(?:"([^"]*)"|([^;\s]+))"#).expect("static regex");
    let c = re.captures(header)?;
    let name = c.get(1).or(c.get(2))?.as_str();
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    (!base.is_empty() && base != "." && base != "..").then(|| base.to_string())
}

/// The dest (or its folder) as the probe reports it.
#[derive(Debug, Default)]
struct Dest {
    is_dir: bool,
    exists: bool,
    /// The requested checksum algorithm's digest of dest, when asked for.
    digest: Option<String>,
}

fn request<'a>(args: &'a Args, url: &'a str) -> Request<'a> {
    let mut req = Request::get(url);
    req.timeout = args.int("timeout").unwrap_or(10).max(1) as u64;
    req.validate_certs = args.bool("validate_certs");
    if let Some(Value::Object(h)) = args.get("headers") {
        req.headers = h.iter().map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))).collect();
    }
    if let Some(user) = args.str("url_username") {
        req.basic_auth = Some((user.to_string(), args.str("url_password").unwrap_or("").to_string()));
    }
    req
}

/// Owner, group and mode wanted, as chown/chmod arguments.
fn attr_script(target: &str, args: &Args) -> String {
    let mut s = String::new();
    match (args.str("owner"), args.str("group")) {
        (Some(o), Some(g)) => s.push_str(&format!("chown -c {} {target}; ", quote(&format!("{o}:{g}")))),
        (Some(o), None) => s.push_str(&format!("chown -c {} {target}; ", quote(o))),
        (None, Some(g)) => s.push_str(&format!("chgrp -c {} {target}; ", quote(g))),
        _ => {}
    }
    if let Some(m) = args.str("mode") {
        s.push_str(&format!("chmod -c {} {target}; ", quote(m)));
    }
    s
}

/// stat as Ansible's add_path_info reports a file.
const STAT_FORMAT: &str = "%u %g %U %G %a %s";

fn add_path_info(mut o: Plan, stat_line: &str) -> Plan {
    let f: Vec<&str> = stat_line.split_whitespace().collect();
    if f.len() == 6 {
        o = o
            .with("uid", f[0].parse::<i64>().unwrap_or(-1))
            .with("gid", f[1].parse::<i64>().unwrap_or(-1))
            .with("owner", f[2])
            .with("group", f[3])
            .with("mode", format!("{:0>4}", f[4]))
            .with("size", f[5].parse::<i64>().unwrap_or(0))
            .with("state", "file");
    }
    o
}

#[async_trait::async_trait]
impl Module for GetUrl {
    fn name(&self) -> &'static str {
        "get_url"
    }
    fn summary(&self) -> &'static str {
        "Download a file on the host over HTTP(S), checked against a checksum"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "The download runs on the host with curl, or GNU wget when curl is missing; a host with neither fails with \
         a message naming what to install. Not supported: use_proxy/http_agent/client certificates/ciphers/ \
         unredirected_headers/decompress (curl's defaults apply). In check mode a HEAD request stands in for the \
         download, as in Ansible."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let url = args.req("url")?;
        let dest_arg = args.req("dest")?.to_string();
        if let Some(p) = args.str("url_password") {
            crate::redact::register(p);
        }
        let o = Plan::unchanged()
            .with("dest", dest_arg.clone())
            .with("url", url)
            .with("elapsed", 0)
            .with("checksum_dest", Value::Null)
            .with("checksum_src", Value::Null);
        // checksum: "algo:hex" or "algo:url".
        let mut expected: Option<(String, String)> = None;
        let checksum = args.req("checksum")?;
        if !checksum.is_empty() {
            let Some((algo, value)) = checksum.split_once(':') else {
                return Err(ModuleError::Args("The checksum parameter has to be in format <algorithm>:<checksum>".into()));
            };
            let algo = algo.to_lowercase();
            if sum_tool(&algo).is_none() {
                return Err(ModuleError::Args(format!("unsupported hash algorithm '{algo}' (use md5, sha1, sha224, sha256, sha384 or sha512)")));
            }
            let mut value = value.to_string();
            if ["http://", "https://", "ftp://", "file://"].iter().any(|s| value.starts_with(s)) {
                let text = http::fetch_text(ctx, &value, args.bool("validate_certs")).await?;
                let filename = url_filename(url);
                value = parse_digest_lines(&filename, &text).into_iter().find(|(_, f)| *f == filename).map(|(d, _)| d).ok_or_else(|| {
                    ModuleError::failed(format!("Unable to find a checksum for file '{filename}' in '{}'", &checksum[algo.len() + 1..]))
                })?;
            }
            let value: String = value.chars().filter(|c| c.is_alphanumeric() || *c == '_').collect::<String>().to_lowercase();
            if value.is_empty() || !value.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(ModuleError::failed("The checksum format is invalid"));
            }
            expected = Some((algo, value));
        }

        // Probe dest: folder or file, and its digest for the checksum's algorithm.
        let d = quote(&dest_arg);
        let mut p = Probe::new();
        p.add(format!("if [ -d {d} ]; then echo dir; elif [ -e {d} ]; then echo file; else echo missing; fi"));
        if let Some((algo, _)) = &expected {
            p.add(format!("[ -f {d} ] && {} < {d} | cut -d' ' -f1", sum_tool(algo).unwrap_or("sha256sum")));
        }
        p.add(format!("[ -f {d} ] && stat -c '{STAT_FORMAT}' -- {d}"));
        let s = p.run(ctx).await?;
        let kind = s[0].trimmed().to_string();
        let dest = Dest {
            is_dir: kind == "dir",
            exists: kind == "file",
            digest: expected.as_ref().and_then(|_| s[1].ok().then(|| s[1].trimmed().to_string())),
        };
        let stat_line = s.last().map(|x| x.trimmed().to_string()).unwrap_or_default();

        // A dest with the right checksum is not downloaded again; only its attributes may change.
        if dest.exists && !args.bool("force") {
            if let (Some((_, want)), Some(have)) = (&expected, &dest.digest) {
                if want == have {
                    let attrs = attr_script(&d, args);
                    let changed = !attrs.is_empty() && stat_line_attrs_differ(&stat_line, 6, args);
                    let msg = if changed { "file already exists but file attributes changed" } else { "file already exists" };
                    let plan = add_path_info(o.msg(msg), &stat_line);
                    if !changed {
                        return Ok(plan);
                    }
                    let d = super::helpers::remote_file::property_diff(
                        &dest_arg,
                        &[("attributes", stat_line.clone())],
                        &[("attributes", attrs_wanted(args))],
                    );
                    return Ok(plan.change(Change::new("attributes", d, Step::run(attrs, "setting file attributes"))));
                }
            }
        }

        // A dest that exists is fetched again only if the server has something newer: a HEAD request with
        // If-Modified-Since decides while planning (304: nothing to do). Any other answer leaves it to the download.
        let newer_than = dest.exists && !args.bool("force") && expected.as_ref().is_none_or(|(_, w)| dest.digest.as_deref() == Some(w.as_str()));
        let mut o = o;
        if newer_than {
            let started = std::time::Instant::now();
            let mut req = request(args, url);
            req.newer_than = Some(dest_arg.as_str());
            req.method = "HEAD";
            let resp = http::request_read(ctx, &req, BodyTo::Nowhere).await?;
            o = o.with("elapsed", started.elapsed().as_secs());
            if resp.error.is_none() && resp.status == 304 {
                return Ok(o.with("status_code", 304).msg("Not Modified"));
            }
        }
        let before = if dest.exists { stat_line.clone() } else { "absent".to_string() };
        let d = super::helpers::remote_file::property_diff(&dest_arg, &[("file", before)], &[("file", format!("downloaded from {url}"))]);
        Ok(o.change(Change::new("download", d, Step::Module)).keep(Download { is_dir: dest.is_dir, newer_than, expected }))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let Download { is_dir, newer_than, expected } =
            plan.take_found().ok_or_else(|| ModuleError::Internal("get_url: plan without its findings".into()))?;
        let url = args.req("url")?;
        let dest_arg = args.req("dest")?.to_string();
        let dest = Dest { is_dir, exists: false, digest: None };
        let started = std::time::Instant::now();
        let mut req = request(args, url);
        req.newer_than = newer_than.then_some(dest_arg.as_str());
        let mut o = Outcome::from_plan(&plan);
        o.changed = false;
        o.msg = None;

        // Download to a temp file next to dest (same file system, so the final rename is atomic).
        let dir = if dest.is_dir {
            dest_arg.clone()
        } else {
            dest_arg.rsplit_once('/').map(|(d, _)| if d.is_empty() { "/".to_string() } else { d.to_string() }).unwrap_or_else(|| ".".into())
        };
        let tmp_dir = args.str("tmp_dest").map(str::to_string).unwrap_or(dir.clone());
        let tmp = format!("{}/.hlprov-get_url.{:016x}", tmp_dir.trim_end_matches('/'), rand::random::<u64>());
        let resp = http::request(ctx, &req, BodyTo::File(&tmp)).await?;
        o = o.with("elapsed", started.elapsed().as_secs()).with("src", tmp.clone());
        let cleanup = format!("rm -f -- {}", quote(&tmp));
        if let Some(e) = resp.error {
            let _ = ctx.write(&cleanup, None).await;
            return Err(ModuleError::failed(e).with("status_code", -1));
        }
        if resp.status == 304 {
            let _ = ctx.write(&cleanup, None).await;
            return Ok(o.with("status_code", 304).msg("Not Modified"));
        }
        if resp.status != 200 {
            let _ = ctx.write(&cleanup, None).await;
            return Err(ModuleError::failed("Request failed")
                .with("status_code", resp.status)
                .with("response", format!("HTTP Error {}: {}", resp.status, resp.reason)));
        }
        let final_dest = if dest.is_dir {
            let name = resp.header("content-disposition").and_then(disposition_filename).unwrap_or_else(|| url_filename(&resp.url));
            format!("{}/{name}", dest_arg.trim_end_matches('/'))
        } else {
            dest_arg.clone()
        };
        o = o.with("dest", final_dest.clone());

        // Verify, compare and (when different) replace, then attributes; all on the host in one go.
        let (t, f) = (quote(&tmp), quote(&final_dest));
        let mut s = format!("t={t}; f={f}; trap 'rm -f -- \"$t\"' EXIT; ");
        if let Some((algo, want)) = &expected {
            s.push_str(&format!(
                "have=$({} < \"$t\" | cut -d' ' -f1); [ \"$have\" = {} ] || {{ echo \"mismatch $have\"; exit 5; }}; ",
                sum_tool(algo).unwrap_or("sha256sum"),
                quote(want)
            ));
        }
        s.push_str("src=$(sha1sum < \"$t\" | cut -c1-40); dst=; [ -f \"$f\" ] && dst=$(sha1sum < \"$f\" | cut -c1-40); echo \"sums $src $dst\"; ");
        s.push_str("if [ \"$src\" != \"$dst\" ]; then ");
        if args.bool("backup") {
            s.push_str("if [ -f \"$f\" ]; then b=\"$f.$(date +%Y-%m-%d@%H:%M:%S~)\"; cp -p -- \"$f\" \"$b\" && echo \"backup $b\"; fi; ");
        }
        s.push_str("if [ -e \"$f\" ]; then chmod --reference=\"$f\" \"$t\"; chown --reference=\"$f\" \"$t\" 2>/dev/null; else chmod 0644 \"$t\"; fi; mv -f -- \"$t\" \"$f\" && echo moved; fi; ");
        s.push_str(&format!("{{ :; {} }} | sed 's/^/attr /'; ", attr_script("\"$f\"", args)));
        s.push_str(&format!("echo \"stat $(stat -c '{STAT_FORMAT}' -- \"$f\")\"; echo \"md5 $(md5sum < \"$f\" | cut -c1-32)\""));
        let out = ctx.write(&s, None).await?;
        let text = out.stdout_text();
        if out.rc() == 5 {
            let have = text.trim().strip_prefix("mismatch ").unwrap_or("");
            let want = expected.map(|(_, w)| w).unwrap_or_default();
            return Err(ModuleError::failed(format!("The checksum for {tmp} did not match {want}; it was {have}.")));
        }
        if !out.success() {
            return Err(ModuleError::failed(format!("failed to copy {tmp} to {final_dest}: {}", out.stderr_text().trim())));
        }
        let line = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} ")).map(str::to_string));
        let sums: Vec<String> = line("sums").unwrap_or_default().split_whitespace().map(str::to_string).collect();
        o = o.with("checksum_src", sums.first().cloned().map(Value::String).unwrap_or(Value::Null));
        o = o.with("checksum_dest", sums.get(1).cloned().map(Value::String).unwrap_or(Value::Null));
        o.changed = text.lines().any(|l| l == "moved" || l.starts_with("attr "));
        if let Some(b) = line("backup") {
            o = o.with("backup_file", b);
        }
        o = o
            .with("md5sum", line("md5").unwrap_or_default())
            .with("status_code", resp.status)
            .msg(format!("OK ({} bytes)", resp.header("content-length").unwrap_or("unknown")));
        o.data.extend(add_path_info(Plan::unchanged(), &line("stat").unwrap_or_default()).result);
        Ok(o)
    }
}

/// What a planned download needs to know.
struct Download {
    is_dir: bool,
    /// dest exists: ask the server for something newer only.
    newer_than: bool,
    expected: Option<(String, String)>,
}

/// The owner, group and mode asked for, for a diff.
fn attrs_wanted(args: &Args) -> String {
    ["owner", "group", "mode"].iter().filter_map(|k| args.str(k).map(|v| format!("{k}={v}"))).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_from_urls_and_headers() {
        assert_eq!(url_filename("https://github.com/x/y/releases/download/v1/tool.tar.gz?raw=1"), "tool.tar.gz");
        assert_eq!(url_filename("http://example.org/"), "index.html");
        assert_eq!(url_filename("http://example.org"), "index.html");
        assert_eq!(disposition_filename("attachment; filename=\"../../etc/passwd\""), Some("passwd".into()));
        assert_eq!(disposition_filename("attachment; filename=tool.zip"), Some("tool.zip".into()));
        assert_eq!(disposition_filename("inline"), None);
    }

    #[test]
    fn checksum_files_parse_like_ansible() {
        let gnu = "abc123  tool.tar.gz\ndef456 *other.bin\n";
        assert_eq!(parse_digest_lines("tool.tar.gz", gnu)[0], ("abc123".to_string(), "tool.tar.gz".to_string()));
        assert_eq!(parse_digest_lines("x", gnu)[1].1, "other.bin");
        let bsd = "SHA256 (tool.tar.gz) = abc123\n";
        assert_eq!(parse_digest_lines("tool.tar.gz", bsd)[0], ("abc123".to_string(), "tool.tar.gz".to_string()));
        assert_eq!(parse_digest_lines("tool.tar.gz", "abc123\n"), vec![("abc123".to_string(), "tool.tar.gz".to_string())]);
    }
}
