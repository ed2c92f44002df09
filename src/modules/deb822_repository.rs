//! deb822_repository: an APT source in deb822 form (/etc/apt/sources.list.d/NAME.sources) with its signing key:
//! a keyring path on the host, a key downloaded (on the host) into /etc/apt/keyrings, or an armored key inline.
//! The file's text is built exactly as Ansible's module builds it, so files it wrote compare equal.

use super::helpers::host::Probe;
use super::helpers::remote_file::{self, Attrs, Want, WriteSpec};
use super::{ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::transport::quote::quote;

pub struct Deb822Repository;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().help("The repository's name; it also names the files (`my repo` → my-repo.sources)."),
    ArgSpec::new("types", ArgKind::List).default("deb").help("deb and/or deb-src."),
    ArgSpec::new("uris", ArgKind::List).help("Archive URIs."),
    ArgSpec::new("suites", ArgKind::List).help("Suites (e.g. bookworm), or a path for flat repositories."),
    ArgSpec::new("components", ArgKind::List).help("Components (e.g. main contrib)."),
    ArgSpec::new("signed_by", ArgKind::Str).help("A keyring file on the host, a URL to download the key from, or the armored key itself."),
    ArgSpec::new("architectures", ArgKind::List).help("Architectures to fetch (e.g. amd64)."),
    ArgSpec::new("languages", ArgKind::List).help("Languages of translations to fetch."),
    ArgSpec::new("targets", ArgKind::List).help("Download targets."),
    ArgSpec::new("enabled", ArgKind::Bool).help("Whether apt uses the source."),
    ArgSpec::new("trusted", ArgKind::Bool).help("Trust the source without signatures (dangerous)."),
    ArgSpec::new("allow_insecure", ArgKind::Bool).help("Allow-Insecure."),
    ArgSpec::new("allow_weak", ArgKind::Bool).help("Allow-Weak."),
    ArgSpec::new("allow_downgrade_to_insecure", ArgKind::Bool).help("Allow-Downgrade-To-Insecure."),
    ArgSpec::new("by_hash", ArgKind::Bool).help("By-Hash."),
    ArgSpec::new("check_date", ArgKind::Bool).help("Check-Date."),
    ArgSpec::new("check_valid_until", ArgKind::Bool).help("Check-Valid-Until."),
    ArgSpec::new("date_max_future", ArgKind::Int).help("Date-Max-Future, in seconds."),
    ArgSpec::new("inrelease_path", ArgKind::Str).help("InRelease-Path."),
    ArgSpec::new("pdiffs", ArgKind::Bool).help("PDiffs."),
    ArgSpec::new("mode", ArgKind::Mode).default("0644").help("Mode of the .sources file."),
    ArgSpec::new("state", ArgKind::Str)
        .choices(&["present", "absent"])
        .default("present")
        .help("absent removes the .sources file and its downloaded key."),
])
.changes(&["remove", "key", "sources"])
.critical();

const KEYRINGS_DIR: &str = "/etc/apt/keyrings";

/// The slug Ansible derives from the name.
fn slug(name: &str) -> String {
    let dashed = regex::Regex::new(r"[_\s]+").expect("static regex").replace_all(&name.to_lowercase(), "-").into_owned();
    dashed.chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-').collect()
}

/// `signed_by` → `Signed-By`, `name` → `X-Repolib-Name`, `uris` → `URIs`.
fn field_name(arg: &str) -> String {
    match arg {
        "name" => "X-Repolib-Name".into(),
        "uris" => "URIs".into(),
        _ => arg
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

/// A multi-line value as deb822 continuation lines (empty lines become ".").
fn multiline(v: &str) -> String {
    let lines: Vec<String> = v.trim().lines().map(|l| format!("    {}", if l.trim().is_empty() { "." } else { l.trim() })).collect();
    format!("\n{}", lines.join("\n"))
}

/// The .sources text: fields in the order of the argument names, as Ansible writes them.
fn render(args: &Args, signed_by: Option<&str>) -> String {
    let mut keys: Vec<&String> = args.0.keys().filter(|k| !matches!(k.as_str(), "mode" | "state")).collect();
    keys.sort();
    let mut out = String::new();
    for k in keys {
        let v = &args.0[k.as_str()];
        let text = match v {
            serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
            serde_json::Value::Array(a) => {
                a.iter().map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string())).collect::<Vec<_>>().join(" ")
            }
            serde_json::Value::String(s) if k == "signed_by" => signed_by.unwrap_or(s).to_string(),
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let text = if text.contains('\n') { multiline(&text) } else { text };
        if text.starts_with('\n') || text.is_empty() {
            out.push_str(&format!("{}:{text}\n", field_name(k)));
        } else {
            out.push_str(&format!("{}: {text}\n", field_name(k)));
        }
    }
    out
}

fn mode_of(args: &Args) -> Result<u32, ModuleError> {
    match super::helpers::mode::parse(args.req("mode")?).map_err(ModuleError::Args)? {
        super::helpers::mode::Mode::Octal(v) => Ok(v),
        other => Ok(other.apply(0o644, false)),
    }
}

#[async_trait::async_trait]
impl Module for Deb822Repository {
    fn name(&self) -> &'static str {
        "deb822_repository"
    }
    fn summary(&self) -> &'static str {
        "Add or remove an APT source in deb822 form (.sources) with its signing key"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Needs no python3-debian. A signed_by URL is downloaded on the host (curl or wget). A signed_by that \
         starts with / but is not a file on the host is an error (Ansible would embed the path as key text). \
         Like Ansible, it does not run apt-get update; follow it with apt update_cache."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?;
        let slug = slug(name);
        if slug.is_empty() {
            return Err(ModuleError::Args(format!("name '{name}' gives an empty file name")));
        }
        let dest = format!("/etc/apt/sources.list.d/{slug}.sources");
        let mode = mode_of(args)?;
        for t in args.list("types") {
            if t != "deb" && t != "deb-src" {
                return Err(ModuleError::Args(format!("argument 'types' must contain only deb, deb-src, not '{t}'")));
            }
        }
        let (asc, gpg) = (format!("{KEYRINGS_DIR}/{slug}.asc"), format!("{KEYRINGS_DIR}/{slug}.gpg"));
        let want = Want { content_up_to: 1024 * 1024, ..Default::default() };
        let signed_by = args.str("signed_by");
        let is_url =
            signed_by.is_some_and(|s| !s.contains('\n') && regex::Regex::new(r"^[A-Za-z][A-Za-z0-9+.-]*://").expect("static regex").is_match(s));
        let mut p = Probe::new();
        p.add(remote_file::probe_script(&dest, want));
        p.add(remote_file::probe_script(&asc, Want::default()));
        p.add(remote_file::probe_script(&gpg, Want::default()));
        p.add(match signed_by {
            Some(s) if !s.contains('\n') && !is_url => format!("[ -f {} ]", quote(s)),
            _ => "false".to_string(),
        });
        let s = p.run(ctx).await?;
        let parse = |i: usize| remote_file::parse_probe(&s[i].out).map_err(|e| ModuleError::Internal(format!("inspecting APT files: {e}")));
        let (st, asc_st, gpg_st) = (parse(0)?, parse(1)?, parse(2)?);
        let signed_by_is_file = s[3].ok();

        if args.req("state")? == "absent" {
            let gone: Vec<&str> = [(&st, dest.as_str()), (&asc_st, asc.as_str()), (&gpg_st, gpg.as_str())]
                .into_iter()
                .filter(|(f, _)| f.exists)
                .map(|(_, p)| p)
                .collect();
            let plan = Plan::unchanged().with("repo", serde_json::Value::Null).with("dest", dest.clone()).with("key_filename", gpg.clone());
            if gone.is_empty() {
                return Ok(plan);
            }
            let rm: Vec<String> = gone.iter().map(|p| quote(p)).collect();
            let step = Step::run(format!("rm -f -- {}", rm.join(" ")), "removing the repository files");
            let mut d = remote_file::content_diff(&dest, &st, b"");
            d.after_header = "/dev/null".into();
            return Ok(plan.change(Change::new("remove", d, step)));
        }
        for required in ["uris", "suites"] {
            if !args.has(required) {
                return Err(ModuleError::Args(format!("state is present but all of the following are missing: {required}")));
            }
        }

        let mut key_filename: Option<String> = None;
        let mut key_write: Option<(String, Vec<u8>, bool, remote_file::FileState)> = None;
        match signed_by {
            Some(s) if signed_by_is_file => key_filename = Some(s.to_string()),
            Some(s) if is_url => {
                let mut req = super::helpers::http::Request::get(s);
                req.timeout = 60;
                let resp = super::helpers::http::request_read(ctx, &req, super::helpers::http::BodyTo::Return).await?;
                if let Some(e) = resp.error {
                    return Err(ModuleError::failed(format!("Could not fetch signed_by key: {e}")));
                }
                if resp.status != 200 {
                    return Err(ModuleError::failed(format!("Could not fetch signed_by key: HTTP Error {}: {}", resp.status, resp.reason)));
                }
                let data = resp.body.unwrap_or_default();
                if data.is_empty() {
                    key_filename = Some(s.to_string());
                } else {
                    let armored = String::from_utf8_lossy(&data).contains("-----BEGIN PGP PUBLIC KEY BLOCK-----");
                    let (file, existing) = if armored { (asc.clone(), &asc_st) } else { (gpg.clone(), &gpg_st) };
                    let same = existing.sha256.as_deref() == Some(remote_file::sha256_hex(&data).as_str());
                    if !same || existing.mode != 0o644 {
                        key_write = Some((file.clone(), data, same, existing.clone()));
                    }
                    key_filename = Some(file);
                }
            }
            Some(s) if s.starts_with('/') && !s.contains('\n') => {
                return Err(ModuleError::failed(format!("signed_by: {s} is not a file on the host")));
            }
            _ => {}
        }
        let text = render(args, key_filename.as_deref());
        let content_changed = st.sha256.as_deref() != Some(remote_file::sha256_hex(text.as_bytes()).as_str());
        let mode_changed = st.exists && st.mode != mode;
        let mut plan = Plan::unchanged()
            .with("repo", text.clone())
            .with("dest", dest.clone())
            .with("key_filename", key_filename.clone().map(serde_json::Value::String).unwrap_or(serde_json::Value::Null));
        if let Some((file, data, same, existing)) = key_write {
            let mkdir = format!("[ -d {d} ] || mkdir -m 0755 -p -- {d}; ", d = KEYRINGS_DIR);
            if same {
                let d = remote_file::attrs_diff(&file, &existing, &Attrs { mode: Some(0o644), ..Default::default() }, &["mode"]);
                plan = plan.change(Change::new("key", d, Step::run(format!("{mkdir}chmod 0644 -- {}", quote(&file)), "setting the key's mode")));
            } else {
                let d = remote_file::content_diff(&file, &existing, &data);
                let write = WriteSpec {
                    attrs: Attrs { mode: Some(0o644), ..Default::default() },
                    expect_sha256: None,
                    create_parents: Some(Attrs { mode: Some(0o755), ..Default::default() }),
                    ..WriteSpec::new(&file, data, None)
                };
                plan = plan.change(Change::new("key", d, Step::Write(write)));
            }
        }
        if content_changed || mode_changed {
            let d = if content_changed {
                remote_file::content_diff(&dest, &st, text.as_bytes())
            } else {
                remote_file::attrs_diff(&dest, &st, &Attrs { mode: Some(mode), ..Default::default() }, &["mode"])
            };
            let write =
                WriteSpec { attrs: Attrs { mode: Some(mode), ..Default::default() }, ..WriteSpec::new(&dest, text.as_bytes(), st.sha256.as_deref()) };
            plan = plan.change(Change::new("sources", d, Step::Write(write)));
        }
        Ok(plan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_become_slugs_and_fields_like_ansible() {
        assert_eq!(slug("Docker CE_stable"), "docker-ce-stable");
        assert_eq!(slug("K8s (v1.31)"), "k8s-v131");
        assert_eq!(field_name("signed_by"), "Signed-By");
        assert_eq!(field_name("allow_downgrade_to_insecure"), "Allow-Downgrade-To-Insecure");
        assert_eq!(field_name("uris"), "URIs");
    }

    #[test]
    fn the_sources_file_matches_ansibles_text() {
        let a = SPEC
            .check(
                json!({"name": "docker", "uris": "https://download.docker.com/linux/debian", "suites": "bookworm", "components": ["stable"], "signed_by": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQINBF\n-----END PGP PUBLIC KEY BLOCK-----\n", "enabled": true}).as_object().unwrap(),
                false,
            )
            .unwrap();
        // Expected text from ansible-core 2.19's deb822_repository with python-debian's Deb822.dump().
        assert_eq!(
            render(&a, None),
            "Components: stable\nEnabled: yes\nX-Repolib-Name: docker\nSigned-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n    mQINBF\n    -----END PGP PUBLIC KEY BLOCK-----\nSuites: bookworm\nTypes: deb\nURIs: https://download.docker.com/linux/debian\n"
        );
    }
}
