//! replace: replace every match of a Python regular expression in a file (optionally only between `after`
//! and `before`), by Ansible's rules; the content is edited on the controller and written back atomically.

use super::pyre;
use super::text_edit::{self, COMMON_ARGS, with_attrs_msg};
use super::{ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome};

pub struct Replace;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("path", ArgKind::Path).required().aliases(&["dest", "destfile", "name"]).help("The file to edit; it must exist."),
    ArgSpec::new("regexp", ArgKind::Str).required().help("A Python regular expression, in MULTILINE mode (^ and $ match at every line)."),
    ArgSpec::new("replace", ArgKind::Str).default("").help("What each match becomes; may use \\1 or \\g<name> for groups. Empty removes the matches."),
    ArgSpec::new("after", ArgKind::Str).help("Only replace after the first match of this regular expression (DOTALL mode)."),
    ArgSpec::new("before", ArgKind::Str).help("Only replace before the last match of this regular expression (DOTALL mode)."),
    ArgSpec::new("encoding", ArgKind::Str).default("utf-8").choices(&["utf-8", "utf8"]).help("The file's encoding; hlprov supports UTF-8 only."),
    COMMON_ARGS[0],
    COMMON_ARGS[1],
    COMMON_ARGS[2],
    COMMON_ARGS[3],
    COMMON_ARGS[4],
]);

#[async_trait::async_trait]
impl Module for Replace {
    fn name(&self) -> &'static str {
        "replace"
    }
    fn summary(&self) -> &'static str {
        "Replace all matches of a regular expression in a file"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Regular expressions are Python's syntax, run by a compatible engine (see lineinfile). Only UTF-8 `encoding`; \
         bytes that are not UTF-8 are kept as they are. Files up to 16 MiB. SELinux arguments, `attributes` and \
         `unsafe_writes` are not supported."
    }
    async fn run(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Outcome, ModuleError> {
        let path = args.req("path");
        let re = pyre::compile("regexp", args.req("regexp"), true).map_err(ModuleError::Args)?;
        // Ansible builds one DOTALL pattern around the section: after(?P<subsection>.*?)before.
        let section = match (args.str("after").filter(|s| !s.is_empty()), args.str("before").filter(|s| !s.is_empty())) {
            (Some(a), Some(b)) => Some(format!("(?s){a}(?P<subsection>.*?){b}")),
            (Some(a), None) => Some(format!("(?s){a}(?P<subsection>.*)")),
            (None, Some(b)) => Some(format!("(?s)(?P<subsection>.*){b}")),
            (None, None) => None,
        };
        let section_re = section.as_deref().map(|p| pyre::compile("after/before", p, false)).transpose().map_err(ModuleError::Args)?;

        let t = text_edit::load(ctx, path).await?;
        if !t.st.exists {
            return Ok(Outcome::failed(format!("Path {path} does not exist !")).with("rc", 257));
        }
        let contents = t.content();
        let (start, end) = match &section_re {
            None => (0, contents.len()),
            Some(sre) => match sre.captures(contents).map_err(ModuleError::Failed)? {
                Some(caps) => {
                    let m = caps.name("subsection").expect("the pattern has this group");
                    (m.start(), m.end())
                }
                None => {
                    let msg = format!("Pattern for before/after params did not match the given file: {}", section.unwrap_or_default().trim_start_matches("(?s)"));
                    return Ok(Outcome::ok().msg(msg).with("rc", 0));
                }
            },
        };
        let (replaced, n) = re.subn(&contents[start..end], args.req("replace")).map_err(|e| ModuleError::Args(format!("Unable to process replace due to error: {e}")))?;
        let changed = n > 0 && replaced != contents[start..end];
        let new = changed.then(|| [&contents[..start], &replaced[..], &contents[end..]].concat());
        let applied = text_edit::apply(ctx, args, &t, new.as_deref(), path).await?;
        let msg = if changed { format!("{n} replacements made") } else { String::new() };
        let mut o = Outcome::changed(changed || applied.attrs_changed).msg(with_attrs_msg(&msg, applied.attrs_changed)).with("rc", 0);
        if let Some(b) = applied.backup_file {
            o = o.with("backup_file", b);
        }
        if ctx.diff {
            o.diffs = applied.diffs;
        }
        Ok(o)
    }
}
