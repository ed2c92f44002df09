//! replace: replace every match of a Python regular expression in a file (optionally only between `after`
//! and `before`), by Ansible's rules; the content is edited on the controller and written back atomically.

use super::helpers::pyre;
use super::helpers::text_edit::{self, CHANGES, COMMON_ARGS, with_attrs_msg};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan};

pub struct Replace;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("path", ArgKind::Path).required().aliases(&["dest", "destfile", "name"]).help("The file to edit; it must exist."),
    ArgSpec::new("regexp", ArgKind::Str).required().help("A Python regular expression, in MULTILINE mode (^ and $ match at every line)."),
    ArgSpec::new("replace", ArgKind::Str)
        .default("")
        .help("What each match becomes; may use \\1 or \\g<name> for groups. Empty removes the matches."),
    ArgSpec::new("after", ArgKind::Str).help("Only replace after the first match of this regular expression (DOTALL mode)."),
    ArgSpec::new("before", ArgKind::Str).help("Only replace before the last match of this regular expression (DOTALL mode)."),
    ArgSpec::new("encoding", ArgKind::Str).default("utf-8").choices(&["utf-8", "utf8"]).help("The file's encoding; hlprov supports UTF-8 only."),
    COMMON_ARGS[0],
    COMMON_ARGS[1],
    COMMON_ARGS[2],
    COMMON_ARGS[3],
    COMMON_ARGS[4],
])
.changes(CHANGES)
.critical();

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
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let path = args.req("path")?;
        // Compile before touching the host, so a bad pattern is an argument error.
        let compiled = Patterns::compile(args.req("regexp")?, args.str("after"), args.str("before"))?;
        let t = text_edit::load(ctx, path).await?;
        if !t.st.exists {
            return Err(ModuleError::failed(format!("Path {path} does not exist !")).with("rc", 257));
        }
        let (new, msg) = match compiled.apply(t.content(), args.req("replace")?)? {
            Edit::SectionNotFound(msg) => return Ok(Plan::unchanged().msg(msg).with("rc", 0)),
            Edit::Done(new, n) => {
                let msg = if new.is_some() { format!("{n} replacements made") } else { String::new() };
                (new, msg)
            }
        };
        let (changes, attrs_changed) = text_edit::changes(ctx, args, &t, new.as_deref(), path)?;
        Ok(Plan::of(changes).msg(with_attrs_msg(&msg, attrs_changed)).with("rc", 0))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, _args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        text_edit::apply(ctx, plan, "backup_file").await
    }
}

/// The compiled `regexp` and the section pattern Ansible builds from `after`/`before`.
struct Patterns {
    re: pyre::PyRegex,
    section: Option<(String, pyre::PyRegex)>,
}

/// What [`Patterns::apply`] found.
enum Edit {
    /// `after`/`before` matched nothing (Ansible's message; not a failure).
    SectionNotFound(String),
    /// The new content if it changed, and the number of replacements.
    Done(Option<Vec<u8>>, usize),
}

impl Patterns {
    fn compile(regexp: &str, after: Option<&str>, before: Option<&str>) -> Result<Patterns, ModuleError> {
        let re = pyre::compile("regexp", regexp, true).map_err(ModuleError::Args)?;
        // Ansible: after(?P<subsection>.*?)before, in DOTALL mode.
        let section = match (after.filter(|s| !s.is_empty()), before.filter(|s| !s.is_empty())) {
            (Some(a), Some(b)) => Some(format!("{a}(?P<subsection>.*?){b}")),
            (Some(a), None) => Some(format!("{a}(?P<subsection>.*)")),
            (None, Some(b)) => Some(format!("(?P<subsection>.*){b}")),
            (None, None) => None,
        };
        let section = match section {
            Some(p) => Some((p.clone(), pyre::compile("after/before", &format!("(?s){p}"), false).map_err(ModuleError::Args)?)),
            None => None,
        };
        Ok(Patterns { re, section })
    }

    fn apply(&self, contents: &[u8], replace: &str) -> Result<Edit, ModuleError> {
        let (start, end) = match &self.section {
            None => (0, contents.len()),
            Some((pattern, sre)) => match sre.captures(contents).map_err(ModuleError::failed)? {
                Some(caps) => {
                    let m = caps.name("subsection").expect("the pattern has this group");
                    (m.start(), m.end())
                }
                None => return Ok(Edit::SectionNotFound(format!("Pattern for before/after params did not match the given file: {pattern}"))),
            },
        };
        let (replaced, n) =
            self.re.subn(&contents[start..end], replace).map_err(|e| ModuleError::Args(format!("Unable to process replace due to error: {e}")))?;
        if n == 0 || replaced == contents[start..end] {
            return Ok(Edit::Done(None, n));
        }
        Ok(Edit::Done(Some([&contents[..start], &replaced[..], &contents[end..]].concat()), n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Cases recorded with ansible-core 2.19 (`ansible localhost -m replace`): input, arguments, the file
    /// afterwards, msg.
    #[test]
    fn matches_ansible_on_recorded_cases() {
        let cases: Vec<(&str, Value, &str, &str)> = vec![
            ("a=1\nb=2\na=3\n", json!({"regexp": "^a=(\\d)$", "replace": "a=\\1\\1"}), "a=11\nb=2\na=33\n", "2 replacements made"),
            ("x y x\n", json!({"regexp": "x", "replace": "z"}), "z y z\n", "2 replacements made"),
            ("[s]\nk=1\n[t]\nk=1\n", json!({"regexp": "k=1", "replace": "k=2", "after": "\\[t\\]"}), "[s]\nk=1\n[t]\nk=2\n", "1 replacements made"),
            ("[s]\nk=1\n[t]\nk=1\n", json!({"regexp": "k=1", "replace": "k=2", "before": "\\[t\\]"}), "[s]\nk=2\n[t]\nk=1\n", "1 replacements made"),
            (
                "<a>k</a><b>k</b>\n",
                json!({"regexp": "k", "replace": "v", "after": "<a>", "before": "</a>"}),
                "<a>v</a><b>k</b>\n",
                "1 replacements made",
            ),
            ("abc\n", json!({"regexp": "zzz", "replace": "y"}), "abc\n", ""),
            ("abc\n", json!({"regexp": "b", "replace": "b"}), "abc\n", ""),
            (
                "abc\n",
                json!({"regexp": "b", "replace": "x", "after": "nomatch"}),
                "abc\n",
                "Pattern for before/after params did not match the given file: nomatch(?P<subsection>.*)",
            ),
            ("line1\n\nline3\n", json!({"regexp": "^$\\n", "replace": ""}), "line1\nline3\n", "1 replacements made"),
            ("a.b\n", json!({"regexp": "(?P<x>a)\\.(b)", "replace": "\\g<x>-\\2\\n"}), "a-b\n\n", "1 replacements made"),
        ];
        for (text, args, want, want_msg) in cases {
            let s = |k: &str| args.get(k).and_then(Value::as_str);
            let p = Patterns::compile(s("regexp").unwrap(), s("after"), s("before")).unwrap();
            let (got, msg) = match p.apply(text.as_bytes(), s("replace").unwrap_or("")).unwrap() {
                Edit::SectionNotFound(m) => (text.to_string(), m),
                Edit::Done(Some(new), n) => (String::from_utf8(new).unwrap(), format!("{n} replacements made")),
                Edit::Done(None, _) => (text.to_string(), String::new()),
            };
            assert_eq!((got.as_str(), msg.as_str()), (want, want_msg), "{text:?} {args}");
        }
    }
}
