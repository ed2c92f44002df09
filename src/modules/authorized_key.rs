//! authorized_key: SSH public keys in a user's authorized_keys. The file is read in the same round trip as the
//! user's passwd entry, the new content is computed here exactly as Ansible's module computes it (same line
//! order, same normalisation, same `changed`), and written atomically with the user as owner and mode 0600.

use super::helpers::host::Probe;
use super::helpers::remote_file::{self, Attrs, Want, WriteSpec};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Change, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan, Step};
use crate::transport::quote::quote;

pub struct AuthorizedKey;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("user", ArgKind::Str).required().help("Whose authorized_keys to manage."),
    ArgSpec::new("key", ArgKind::Str)
        .required()
        .help("One or more public keys (one per line), a URL (https://github.com/NAME.keys), or file:///path on the host."),
    ArgSpec::new("path", ArgKind::Path).help("Another file than ~user/.ssh/authorized_keys."),
    ArgSpec::new("manage_dir", ArgKind::Bool).default("yes").help("Create the key file's folder (0700, owned by the user) when writing."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Whether the keys should be in the file."),
    ArgSpec::new("key_options", ArgKind::Str).help("Options to put before the key, e.g. `no-port-forwarding,from=\"10.0.0.0/8\"`."),
    ArgSpec::new("exclusive", ArgKind::Bool).default("no").help("Remove every other key (and line) from the file."),
    ArgSpec::new("comment", ArgKind::Str).help("Replace the key's comment."),
    ArgSpec::new("follow", ArgKind::Bool).default("no").help("If the key file is a symlink, write to its target."),
    ArgSpec::new("validate_certs", ArgKind::Bool).default("yes").help("Check TLS certificates when key is an https URL."),
])
.changes(&["keys"]);

/// Key types Ansible recognises.
const KEY_TYPES: &[&str] = &[
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "webauthn-sk-ecdsa-sha2-nistp256@openssh.com",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "ssh-ed25519",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-dss",
    "ssh-rsa",
    "ssh-xmss@openssh.com",
    "ssh-xmss-cert-v01@openssh.com",
    "rsa-sha2-256",
    "rsa-sha2-512",
    "ssh-rsa-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
];

/// Key options in order; a name may repeat (`permitopen` twice).
type Options = Vec<(String, Option<String>)>;

/// One entry of the file: a key, or a line kept as it is (comments, blanks, anything unparsable).
#[derive(Clone, Debug, PartialEq)]
enum Entry {
    Key { key: String, ktype: String, options: Options, comment: String },
    Kept(String),
}

impl Entry {
    /// The map key Ansible files entries under: the key material, or the whole line.
    fn id(&self) -> &str {
        match self {
            Entry::Key { key, .. } => key,
            Entry::Kept(line) => line,
        }
    }
}

/// Options compare as Ansible's keydict does: as a map of name → values (order of names does not matter).
fn same_options(a: &Options, b: &Options) -> bool {
    fn group(o: &Options) -> std::collections::BTreeMap<&str, Vec<&Option<String>>> {
        let mut m: std::collections::BTreeMap<&str, Vec<&Option<String>>> = Default::default();
        for (k, v) in o {
            m.entry(k.as_str()).or_default().push(v);
        }
        m
    }
    group(a) == group(b)
}

/// Split `a,b="x,y",c` on commas outside quotes.
fn parse_options(s: &str) -> Options {
    let mut out = Vec::new();
    let (mut cur, mut quote_ch) = (String::new(), None);
    let mut push = |cur: &mut String| {
        if !cur.is_empty() {
            let part = std::mem::take(cur);
            match part.split_once('=') {
                Some((k, v)) => out.push((k.to_string(), Some(v.to_string()))),
                None => out.push((part, None)),
            }
        }
    };
    for c in s.chars() {
        match (c, quote_ch) {
            ('"' | '\'', None) => {
                quote_ch = Some(c);
                cur.push(c);
            }
            (c2, Some(q)) if c2 == q => {
                quote_ch = None;
                cur.push(c);
            }
            (',', None) => push(&mut cur),
            _ => cur.push(c),
        }
    }
    push(&mut cur);
    out
}

/// Ansible's parsekey: None for a line that holds no recognisable key.
fn parse_key(raw: &str) -> Option<Entry> {
    let raw = raw.replace("\\#", "#");
    let parts: Vec<&str> = raw.split_whitespace().collect();
    if parts.first() == Some(&"#") {
        return Some(Entry::Kept(raw));
    }
    let t = parts.iter().position(|p| KEY_TYPES.contains(p))?;
    let key = parts.get(t + 1)?;
    let options = if t > 0 { parse_options(&parts[..t].join(" ")) } else { Vec::new() };
    Some(Entry::Key { key: key.to_string(), ktype: parts[t].to_string(), options, comment: parts[t + 2..].join(" ") })
}

/// The file's entries with their rank (line number), one per id; a later duplicate replaces an earlier one.
fn parse_file(content: &str) -> Vec<(Entry, usize)> {
    let mut out: Vec<(Entry, usize)> = Vec::new();
    for (rank, line) in content.split_inclusive('\n').enumerate() {
        let entry = parse_key(line).unwrap_or_else(|| Entry::Kept(line.to_string()));
        match out.iter_mut().find(|(e, _)| e.id() == entry.id()) {
            Some(slot) => *slot = (entry, rank),
            None => out.push((entry, rank)),
        }
    }
    out
}

fn serialize(entries: &[(Entry, usize)]) -> String {
    let mut sorted: Vec<&(Entry, usize)> = entries.iter().collect();
    sorted.sort_by_key(|(_, rank)| *rank);
    let mut s = String::new();
    for (e, _) in sorted {
        match e {
            Entry::Kept(line) => {
                s.push_str(line);
                if !line.ends_with('\n') {
                    s.push('\n');
                }
            }
            Entry::Key { key, ktype, options, comment } => {
                if !options.is_empty() {
                    let opts: Vec<String> =
                        options.iter().map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")).unwrap_or_else(|| k.clone())).collect();
                    s.push_str(&opts.join(","));
                    s.push(' ');
                }
                // Ansible writes the space before an empty comment too.
                s.push_str(&format!("{ktype} {key} {comment}\n"));
            }
        }
    }
    s
}

/// Ansible's enforce_state: the new file content, or None when nothing changes. Errors name an invalid key.
fn enforce(
    existing: &str,
    key: &str,
    state: &str,
    key_options: Option<&str>,
    comment: Option<&str>,
    exclusive: bool,
) -> Result<Option<String>, String> {
    let mut entries = parse_file(existing);
    let max_rank = entries.len();
    let mut keep_ids: Vec<String> = Vec::new();
    let mut write = false;
    let new_keys: Vec<&str> = key.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    for (i, raw) in new_keys.iter().enumerate() {
        let Some(Entry::Key { key, ktype, mut options, comment: own_comment }) = parse_key(raw) else {
            return Err(format!("invalid key specified: {raw}"));
        };
        if let Some(o) = key_options {
            options = parse_options(o);
        }
        let comment = comment.map(str::to_string).unwrap_or(own_comment);
        let pos = entries.iter().position(|(e, _)| e.id() == key);
        let matched = match pos.map(|p| &entries[p].0) {
            Some(Entry::Key { ktype: t, options: o, comment: c, .. }) if state == "present" => {
                *t == ktype && same_options(o, &options) && *c == comment
            }
            Some(_) => true,
            None => false,
        };
        if state == "present" {
            keep_ids.push(key.clone());
            if let (Some(p), false) = (pos, matched) {
                entries.remove(p);
            }
            if !matched {
                entries.push((Entry::Key { key, ktype, options, comment }, max_rank + i));
                write = true;
            }
        } else if matched {
            entries.retain(|(e, _)| e.id() != key);
            write = true;
        }
    }
    if state == "present" && exclusive {
        let before = entries.len();
        entries.retain(|(e, _)| keep_ids.iter().any(|k| k == e.id()));
        write |= entries.len() != before;
    }
    Ok(write.then(|| serialize(&entries)))
}

/// The shared file probe for a path the shell computes (`expr` is a shell word, e.g. "$(…)/.ssh/authorized_keys").
fn probe_at(expr: &str, want: Want) -> Result<String, ModuleError> {
    const PLACEHOLDER: &str = "/hlprov-path-placeholder";
    let script = remote_file::probe_script(PLACEHOLDER, want);
    let head = format!("p={PLACEHOLDER};");
    match script.strip_prefix(&head) {
        Some(rest) => Ok(format!("p={expr};{rest}")),
        None => Err(ModuleError::Internal("the file probe changed shape; authorized_key cannot reuse it".into())),
    }
}

#[async_trait::async_trait]
impl Module for AuthorizedKey {
    fn name(&self) -> &'static str {
        "authorized_key"
    }
    fn summary(&self) -> &'static str {
        "Add or remove SSH public keys in a user's authorized_keys"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "A key given as an http(s) URL is fetched on the host (with curl or wget, as Ansible fetches it there). \
         A last line without a newline gets one when the file is rewritten."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let user = args.req("user")?;
        let state = args.req("state")?;
        let mut key = args.req("key")?.to_string();
        if key.starts_with("http") {
            let url = key.clone();
            key = super::helpers::http::fetch_text(ctx, &url, args.bool("validate_certs"))
                .await
                .map_err(|e| ModuleError::failed(format!("Error getting key from: {url}: {e}")))?;
        } else if let Some(path) = key.strip_prefix("file://") {
            let out = ctx.read(&format!("p={}; [ -e \"$p\" ] || exit 3; [ -f \"$p\" ] || exit 4; cat -- \"$p\"", quote(path))).await?;
            match out.rc() {
                0 => key = out.stdout_text(),
                3 => return Err(ModuleError::failed(format!("Path to a key file not found: {path}"))),
                4 => return Err(ModuleError::failed(format!("Path to a key is a directory and must be a file: {path}"))),
                rc => return Err(ModuleError::failed(format!("Failed to read key file {path} (rc={rc}): {}", out.stderr_text().trim()))),
            }
        }
        // The user and the key file in one round trip (the default path depends on the user's home).
        let want = Want { content_up_to: 16 * 1024 * 1024, ..Default::default() };
        let u = quote(user);
        let mut p = Probe::new();
        p.add(format!("getent passwd {u}"));
        let file_probe = match args.str("path") {
            Some(path) if !args.bool("follow") => remote_file::probe_script(path, want),
            Some(path) => probe_at(&format!("\"$(readlink -m -- {})\"", quote(path)), want)?,
            None if args.bool("follow") => {
                probe_at(&format!("\"$(readlink -m -- \"$(getent passwd {u} | cut -d: -f6)/.ssh/authorized_keys\")\""), want)?
            }
            None => probe_at(&format!("\"$(getent passwd {u} | cut -d: -f6)/.ssh/authorized_keys\""), want)?,
        };
        p.add(file_probe);
        p.add(match args.str("path") {
            Some(path) => format!("readlink -m -- {}", quote(path)),
            None => format!("readlink -m -- \"$(getent passwd {u} | cut -d: -f6)/.ssh/authorized_keys\""),
        });
        let sections = p.run(ctx).await?;
        let entry: Vec<String> = sections[0].out.trim_end().split(':').map(str::to_string).collect();
        let found = sections[0].ok() && entry.len() >= 7;
        // Without the user, only a key file given by path can be planned (the write then needs the user).
        if !found && !args.has("path") {
            return Err(no_user(user));
        }
        let keyfile = match args.str("path") {
            Some(p) => p.to_string(),
            None => format!("{}/.ssh/authorized_keys", entry[5].trim_end_matches('/')),
        };
        let target = if args.bool("follow") { sections[2].trimmed().to_string() } else { keyfile.clone() };
        let st = remote_file::parse_probe(&sections[1].out).map_err(|e| ModuleError::Internal(format!("inspecting {target}: {e}")))?;
        if st.exists && !st.is_file() {
            return Err(ModuleError::failed(format!("{target} is not a regular file")));
        }
        let existing = st.text();
        let new =
            enforce(&existing, &key, state, args.str("key_options"), args.str("comment"), args.bool("exclusive")).map_err(ModuleError::failed)?;

        let mut plan = Plan::unchanged();
        for k in ["user", "key", "path", "manage_dir", "state", "key_options", "exclusive", "comment", "validate_certs", "follow"] {
            plan = plan.with(k, args.get(k).cloned().unwrap_or(serde_json::Value::Null));
        }
        plan = plan.with("keyfile", keyfile.clone());
        let Some(content) = new else { return Ok(plan) };
        let d = super::Diff { before_header: keyfile.clone(), after_header: target.clone(), before: existing.clone(), after: content.clone() };
        let owner = found.then(|| (entry[2].clone(), entry[3].clone()));
        Ok(plan.change(Change::new("keys", d, Step::Module)).keep(KeyWrite { target, content, owner, sha256: st.sha256.clone() }))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, args: &Args, mut plan: Plan) -> Result<Outcome, ModuleError> {
        let w: KeyWrite = plan.take_found().ok_or_else(|| ModuleError::Internal("authorized_key: plan without its findings".into()))?;
        let Some((uid, gid)) = w.owner else {
            return Err(no_user(args.req("user")?));
        };
        let dir = w.target.rsplit_once('/').map(|(d, _)| if d.is_empty() { "/" } else { d }).unwrap_or(".").to_string();
        let d = quote(&dir);
        let mkdir = if args.bool("manage_dir") {
            format!("[ -d {d} ] || mkdir -m 0700 -p -- {d}; chown {uid}:{gid} -- {d}; chmod 0700 -- {d}")
        } else {
            format!("[ -d {d} ] || mkdir -p -- {d}")
        };
        ctx.write_ok(&mkdir, None, "preparing the key folder").await?;
        let write = WriteSpec {
            attrs: Attrs { owner: Some(uid), group: Some(gid), mode: Some(0o600) },
            ..WriteSpec::new(&w.target, w.content, w.sha256.as_deref())
        };
        remote_file::write_atomic(ctx, &write).await?;
        Ok(Outcome::from_plan(&plan))
    }
}

/// The key file to write, as planned.
struct KeyWrite {
    target: String,
    content: String,
    /// The user's uid and gid (None: the user does not exist).
    owner: Option<(String, String)>,
    sha256: Option<String>,
}

fn no_user(user: &str) -> ModuleError {
    ModuleError::failed(format!("Failed to lookup user {user}: 'getpwnam(): name not found: {user}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@laptop";
    const B: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ bob";

    #[test]
    fn keys_are_added_at_the_end_and_kept_once() {
        let out = enforce("", A, "present", None, None, false).unwrap().unwrap();
        assert_eq!(out, format!("{A}\n"));
        assert_eq!(enforce(&out, A, "present", None, None, false).unwrap(), None, "already there");
        let two = enforce(&out, B, "present", None, None, false).unwrap().unwrap();
        assert_eq!(two, format!("{A}\n{B}\n"));
    }

    #[test]
    fn a_key_without_comment_is_written_like_ansible_does() {
        let out = enforce("", "ssh-ed25519 AAAAKEY", "present", None, None, false).unwrap().unwrap();
        assert_eq!(out, "ssh-ed25519 AAAAKEY \n");
        assert_eq!(enforce(&out, "ssh-ed25519 AAAAKEY", "present", None, None, false).unwrap(), None);
    }

    #[test]
    fn changed_options_or_comment_move_the_key_to_the_end() {
        let file = format!("{A}\n# note\n{B}\n");
        let out = enforce(&file, A, "present", Some("no-pty,from=\"10.0.0.1,10.0.0.2\""), None, false).unwrap().unwrap();
        assert_eq!(out, format!("# note\n{B}\nno-pty,from=\"10.0.0.1,10.0.0.2\" {A}\n"));
        // Same options in another order: no change.
        assert_eq!(enforce(&out, A, "present", Some("from=\"10.0.0.1,10.0.0.2\",no-pty"), None, false).unwrap(), None);
        let renamed = enforce(&format!("{A}\n"), A, "present", None, Some("new name"), false).unwrap().unwrap();
        assert_eq!(renamed, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA new name\n");
    }

    #[test]
    fn absent_and_exclusive() {
        let file = format!("# keep me?\n{A}\n{B}\n");
        assert_eq!(enforce(&file, A, "absent", None, None, false).unwrap().unwrap(), format!("# keep me?\n{B}\n"));
        assert_eq!(enforce(&file, "ssh-ed25519 OTHER", "absent", None, None, false).unwrap(), None);
        // exclusive drops everything else, comments included, as Ansible does.
        assert_eq!(enforce(&file, B, "present", None, None, true).unwrap().unwrap(), format!("{B}\n"));
    }

    #[test]
    fn the_file_probe_works_for_a_computed_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keys"), "k\n").unwrap();
        let script = probe_at(&format!("\"$(echo {})/keys\"", dir.path().display()), Want { content_up_to: 100, ..Default::default() }).unwrap();
        let out = std::process::Command::new("/bin/sh").arg("-c").arg(&script).output().unwrap();
        let st = remote_file::parse_probe(&String::from_utf8_lossy(&out.stdout)).unwrap();
        assert!(st.is_file());
        assert_eq!(st.content.as_deref(), Some(&b"k\n"[..]));
    }

    #[test]
    fn invalid_keys_are_named() {
        assert_eq!(enforce("", "not a key", "present", None, None, false).unwrap_err(), "invalid key specified: not a key");
    }
}
