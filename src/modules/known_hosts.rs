//! known_hosts: a host's key in a known_hosts file on the host (for git over ssh, rsync, backups), added,
//! replaced or removed as Ansible's known_hosts module does. Lines are matched in hlprov, hashed names
//! included (no ssh-keygen needed on the host); the file is read once and written atomically.

use super::helpers::remote_file::{self, Attrs, WriteSpec};
use super::{ArgKind, ArgSpec, Args, Change, Diff, Module, ModuleCtx, ModuleError, ModuleSpec, Plan, Step};
use crate::transport::known_hosts::{hash_name, host_matches};

pub struct KnownHosts;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("name", ArgKind::Str).required().aliases(&["host"]).help("The host, as ssh names it (`[host]:port` for another port)."),
    ArgSpec::new("key", ArgKind::Str).help("The known_hosts line (`host type base64`), e.g. from `ssh-keyscan`; needed to add."),
    ArgSpec::new("path", ArgKind::Str).default("~/.ssh/known_hosts").help("The file (`~` is the home of the user the task runs as)."),
    ArgSpec::new("hash_host", ArgKind::Bool).default("no").help("Write the host name hashed, as `ssh-keygen -H` does."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Whether the key should be there."),
])
.changes(&["add", "remove"])
.critical();

/// A known_hosts line, split as Ansible's normalize_known_hosts_key splits it (the comment dropped).
#[derive(Clone, Debug, PartialEq)]
struct KeyLine {
    marker: Option<String>,
    host: String,
    kind: String,
    key: String,
}

fn split(line: &str) -> Option<KeyLine> {
    let mut w = line.split_whitespace();
    let first = w.next()?;
    let (marker, host) = if first.starts_with('@') { (Some(first.to_string()), w.next()?) } else { (None, first) };
    Some(KeyLine { marker, host: host.to_string(), kind: w.next()?.to_string(), key: w.next()?.to_string() })
}

/// What the file holds for `name` (Ansible's search_for_host_key): whether the host is there, whether the key
/// must be replaced or added, and the line (1-based) of the same key, or of another key of the same type.
fn search(lines: &[&str], name: &str, wanted: Option<&KeyLine>) -> (bool, bool, Option<usize>) {
    let mut found = false;
    for (i, line) in lines.iter().enumerate() {
        let Some(k) = split(line).filter(|_| !line.trim_start().starts_with('#')) else { continue };
        if !host_matches(&k.host, name) {
            continue;
        }
        found = true;
        let Some(w) = wanted else { return (true, false, None) };
        let mut w = w.clone();
        if k.marker.is_some() {
            // @cert-authority and @revoked lines only ever match exactly.
            if w == k {
                return (true, false, Some(i + 1));
            }
            continue;
        }
        // A hashed name is not hashed again with another salt.
        if w.host.starts_with("|1|") && k.host.starts_with("|1|") {
            w.host = k.host.clone();
        }
        if w == k {
            return (true, false, Some(i + 1));
        }
        if w.kind == k.kind {
            return (true, true, Some(i + 1));
        }
    }
    (found, found, None)
}

/// Every line but the plain key lines naming `name`, as `ssh-keygen -R` removes them (comments, other hosts,
/// and @cert-authority / @revoked lines kept: removing a revocation would trust a revoked key again).
fn without_host(lines: &[&str], name: &str) -> Vec<String> {
    let names_it = |l: &str| !l.trim_start().starts_with('#') && split(l).is_some_and(|k| k.marker.is_none() && host_matches(&k.host, name));
    lines.iter().filter(|l| !names_it(l)).map(|l| l.to_string()).collect()
}

#[async_trait::async_trait]
impl Module for KnownHosts {
    fn name(&self) -> &'static str {
        "known_hosts"
    }
    fn summary(&self) -> &'static str {
        "Add, replace or remove a host's key in a known_hosts file"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Lines are matched by hlprov (patterns and hashed names), so the host needs no ssh-keygen. A missing \
         ~/.ssh folder is created (0700); Ansible fails there."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let name = args.req("name")?.to_lowercase();
        let state = args.req("state")?;
        let mut key = args.str("key").map(|k| k.trim().to_string()).filter(|k| !k.is_empty());
        if key.is_none() && state != "absent" {
            return Err(ModuleError::Args("No key specified when adding a host".into()));
        }
        if key.is_some() && name.contains(',') {
            return Err(ModuleError::Args(
                "Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file.".into(),
            ));
        }
        let wanted = match &key {
            Some(k) => {
                let mut line = split(k).ok_or_else(|| ModuleError::Args(format!("'{k}' is not a known_hosts line (host, type and key)")))?;
                if args.bool("hash_host") {
                    // The host field hashed, the rest (marker, type, key, comment) as given.
                    line.host = hash_name(&name);
                    let mut words: Vec<&str> = k.split_whitespace().collect();
                    words[usize::from(line.marker.is_some())] = &line.host;
                    key = Some(words.join(" "));
                }
                if !host_matches(&line.host, &name) {
                    return Err(ModuleError::Args("Host parameter does not match hashed host field in supplied key".into()));
                }
                Some(line)
            }
            None => None,
        };
        let path = args.req("path")?;
        let path = match path.strip_prefix("~/") {
            Some(rest) => format!("{}/{rest}", ctx.read_ok("printf '%s' \"$HOME\"", "reading $HOME").await?.stdout_text()),
            None => path.to_string(),
        };
        let want = remote_file::Want { content_up_to: 4 << 20, ..Default::default() };
        let st = remote_file::probe(ctx, &path, want).await?;
        let before = match (&st.content, st.exists) {
            (Some(c), _) => String::from_utf8_lossy(c).into_owned(),
            (None, false) => String::new(),
            (None, true) => return Err(ModuleError::failed(format!("{path} is not a readable file (or is larger than 4 MiB)"))),
        };
        let lines: Vec<&str> = before.split_inclusive('\n').collect();
        let bare: Vec<&str> = lines.iter().map(|l| l.trim_end_matches(['\n', '\r'])).collect();
        let (found, replace_or_add, found_line) = search(&bare, &name, wanted.as_ref());
        let plan =
            Plan::unchanged().with("name", name.as_str()).with("path", path.as_str()).with("state", state).with("hash_host", args.bool("hash_host"));
        let plan = match &key {
            Some(k) => plan.with("key", k.as_str()),
            None => plan,
        };
        let mut after: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        let kind = match (state, &key) {
            ("present", Some(k)) if replace_or_add || !found => {
                if let Some(n) = found_line.filter(|_| replace_or_add) {
                    after.remove(n - 1);
                }
                if let Some(last) = after.last_mut().filter(|l| !l.ends_with('\n')) {
                    last.push('\n');
                }
                after.push(format!("{k}\n"));
                "add"
            }
            ("absent", Some(_)) if found_line.is_some() => {
                after.remove(found_line.unwrap_or(1) - 1);
                "remove"
            }
            ("absent", None) if found => {
                after = without_host(&lines, &name);
                "remove"
            }
            _ => return Ok(plan),
        };
        let after = after.concat();
        let d = Diff {
            before_header: if st.exists { path.clone() } else { "/dev/null".into() },
            after_header: path.clone(),
            before,
            after: after.clone(),
        };
        let mut w = WriteSpec::new(&path, after.into_bytes(), st.sha256.as_deref());
        w.create_parents = Some(Attrs { mode: Some(0o700), ..Default::default() });
        Ok(plan.change(Change::new(kind, d, Step::Write(w))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GH: &str = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    #[test]
    fn removing_a_host_keeps_revocations_and_certificate_authorities() {
        let lines = ["@revoked github.com ssh-rsa AAAAbad", "@cert-authority *.com ssh-ed25519 AAAAca", GH, "other ssh-rsa AAAA"];
        assert_eq!(
            without_host(&lines, "github.com"),
            ["@revoked github.com ssh-rsa AAAAbad", "@cert-authority *.com ssh-ed25519 AAAAca", "other ssh-rsa AAAA"]
        );
    }

    #[test]
    fn the_same_key_is_found_another_of_its_type_replaced_and_a_new_type_added() {
        let w = split(GH).unwrap();
        let lines = ["# comment", "gitlab.com ssh-rsa AAAA", GH];
        assert_eq!(search(&lines, "github.com", Some(&w)), (true, false, Some(3)));
        let old = ["github.com ssh-ed25519 AAAAold"];
        assert_eq!(search(&old, "github.com", Some(&w)), (true, true, Some(1)));
        let rsa_only = ["github.com ssh-rsa AAAArsa"];
        assert_eq!(search(&rsa_only, "github.com", Some(&w)), (true, true, None));
        assert_eq!(search(&lines, "example.org", Some(&w)), (false, false, None));
        // A hashed line for the host, with the same key: found, whatever the salt.
        let hashed = format!("{} ssh-ed25519 {}", hash_name("github.com"), w.key);
        let mut hw = w.clone();
        hw.host = hash_name("github.com");
        assert_eq!(search(&[hashed.as_str()], "github.com", Some(&hw)), (true, false, Some(1)));
        assert_eq!(search(&[hashed.as_str()], "github.com", None), (true, false, None));
    }
}
