//! assemble: a file made of the fragments in a folder on the host (config.d style), in name order, joined as
//! Ansible's assemble joins them (a newline after a fragment that lacks one, an optional delimiter between
//! fragments); written, validated and backed up through copy's path.

use super::copy::{Source, put_file};
use super::helpers::pyre;
use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};
use crate::transport::quote::quote;

pub struct Assemble;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("src", ArgKind::Path).required().help("The folder of fragments, on the host."),
    ArgSpec::new("dest", ArgKind::Path).required().help("The file to write."),
    ArgSpec::new("delimiter", ArgKind::Str).help("Put between fragments (Python escapes such as \\n are decoded)."),
    ArgSpec::new("regexp", ArgKind::Str).help("Only fragments whose name matches (Python regex, searched)."),
    ArgSpec::new("ignore_hidden", ArgKind::Bool).default("no").help("Leave out fragments whose name starts with '.'."),
    ArgSpec::new("remote_src", ArgKind::Bool).default("yes").help("The fragments are on the host (only `yes` is supported)."),
    ArgSpec::new("backup", ArgKind::Bool).default("no").help("Keep a copy of the old file when it changes."),
    ArgSpec::new("validate", ArgKind::Str).help("A command that must accept the new file first; %s is the new file."),
    ArgSpec::new("decrypt", ArgKind::Bool).default("yes").help("Accepted for Ansible compatibility (no vault here)."),
    ArgSpec::new("mode", ArgKind::Mode).help("Permissions of the file."),
    ArgSpec::new("owner", ArgKind::Str).help("User that should own the file."),
    ArgSpec::new("group", ArgKind::Str).help("Group that should own the file."),
])
.changes(&["content", "attributes"])
.critical();

/// Python's `codecs.escape_decode` for the escapes a delimiter uses.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('\'') => out.push('\''),
            Some('"') => out.push('"'),
            Some('0') => out.push('\0'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The fragments (name, content), sorted by name as Python sorts `os.listdir`, joined as Ansible joins them.
fn join(mut fragments: Vec<(Vec<u8>, Vec<u8>)>, delimiter: Option<&str>) -> Vec<u8> {
    fragments.sort_by(|a, b| a.0.cmp(&b.0));
    let delimiter = delimiter.map(unescape);
    let mut out = Vec::new();
    let (mut first, mut add_newline) = (true, false);
    for (_, content) in fragments {
        if add_newline {
            out.push(b'\n');
        }
        if let (false, Some(d)) = (first, &delimiter) {
            out.extend_from_slice(d.as_bytes());
            if !d.ends_with('\n') {
                out.push(b'\n');
            }
        }
        add_newline = !content.ends_with(b"\n");
        out.extend_from_slice(&content);
        first = false;
    }
    out
}

#[async_trait::async_trait]
impl Module for Assemble {
    fn name(&self) -> &'static str {
        "assemble"
    }
    fn summary(&self) -> &'static str {
        "Make a file from the fragments in a folder on the host"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Fragments on the host only (`remote_src: no`, fragments on the controller, is refused)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let src = args.req("src")?;
        let dest = args.req("dest")?;
        if !args.bool("remote_src") {
            return Err(ModuleError::Unsupported(
                "assemble: remote_src: no (fragments on the controller) is not supported; copy the fragments to the host first".into(),
            ));
        }
        let regexp = match args.str("regexp") {
            Some(r) => Some(pyre::compile("regexp", r, false).map_err(|e| ModuleError::Args(format!("Invalid Regexp ({e}) in \"{r}\"")))?),
            None => None,
        };
        if args.str("validate").is_some_and(|v| !v.contains("%s")) {
            return Err(ModuleError::Args(format!("validate must contain %s: {}", args.str("validate").unwrap_or_default())));
        }
        let script = format!(
            "s={q}; if [ ! -e \"$s\" ]; then echo missing; exit 0; fi; if [ ! -d \"$s\" ]; then echo notdir; exit 0; fi; echo ok; \
             for f in \"$s\"/* \"$s\"/.[!.]* \"$s\"/..?*; do [ -f \"$f\" ] || continue; \
             printf '%s %s\\n' \"$(printf %s \"${{f##*/}}\" | base64 -w0)\" \"$(base64 -w0 < \"$f\")\"; done",
            q = quote(src)
        );
        let out = ctx.read_ok(&script, "reading the fragments").await?;
        let text = out.stdout_text();
        let mut lines = text.lines();
        match lines.next().unwrap_or_default() {
            "missing" => return Err(ModuleError::failed(format!("Source ({src}) does not exist"))),
            "notdir" => return Err(ModuleError::failed(format!("Source ({src}) is not a directory"))),
            _ => {}
        }
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut fragments = Vec::new();
        for line in lines {
            let (name, content) = line.split_once(' ').unwrap_or((line, ""));
            let (Ok(name), Ok(content)) = (b64.decode(name), b64.decode(content.trim())) else {
                return Err(ModuleError::Internal(format!("assemble: unreadable listing line '{line}'")));
            };
            let text_name = String::from_utf8_lossy(&name).into_owned();
            if args.bool("ignore_hidden") && text_name.starts_with('.') {
                continue;
            }
            if let Some(re) = &regexp {
                if !re.is_match(&name).map_err(ModuleError::Args)? {
                    continue;
                }
            }
            fragments.push((name, content));
        }
        let bytes = join(fragments, args.str("delimiter"));
        // Always written when it differs (copy's `force`), never through a link (copy's `follow: no`).
        let mut copy_args = args.clone();
        copy_args.0.insert("force".into(), true.into());
        let source = Source { bytes, name: None, local_mode: None, display: None };
        let plan = put_file(ctx, &copy_args, &source, dest).await?;
        Ok(plan.with("src", src).msg("OK"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(name: &str, content: &str) -> (Vec<u8>, Vec<u8>) {
        (name.as_bytes().to_vec(), content.as_bytes().to_vec())
    }

    #[test]
    fn fragments_are_joined_in_name_order_as_ansible_joins_them() {
        let f = vec![frag("20-b", "b"), frag("10-a", "a\n"), frag(".h", "h\n")];
        assert_eq!(join(f.clone(), None), b"h\na\nb");
        assert_eq!(join(f, Some("### sep")), b"h\n### sep\na\n### sep\nb");
        assert_eq!(join(vec![frag("a", "x"), frag("b", "y")], Some("--\\n")), b"x\n--\ny");
        assert_eq!(unescape("a\\tb\\n"), "a\tb\n");
    }
}
