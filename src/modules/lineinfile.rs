//! lineinfile: make sure one line is in a file (or is not), found by regular expression, plain substring or
//! the line itself; inserted after/before a matching line, at the start or the end. The file's content is
//! edited on the controller by Ansible's exact rules and written back atomically.

use super::helpers::pyre::{self, PyRegex};
use super::helpers::text_edit::{self, CHANGES, COMMON_ARGS, split_lines, with_attrs_msg};
use super::{ApplyCtx, ArgKind, ArgSpec, Args, Module, ModuleCtx, ModuleError, ModuleSpec, Outcome, Plan};

pub struct LineInFile;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("path", ArgKind::Path).required().aliases(&["dest", "destfile", "name"]).help("The file to edit."),
    ArgSpec::new("state", ArgKind::Str).choices(&["present", "absent"]).default("present").help("Whether the line should be there."),
    ArgSpec::new("regexp", ArgKind::Str).aliases(&["regex"]).help(
        "A Python regular expression looked for in every line. With state=present the last matching line is replaced (the first with firstmatch); with state=absent every matching line is removed.",
    ),
    ArgSpec::new("search_string", ArgKind::Str).help("Like regexp, but a literal substring."),
    ArgSpec::new("line", ArgKind::Str).aliases(&["value"]).help("The line to put in the file (required with state=present); with backrefs it may use \\1 or \\g<name>."),
    ArgSpec::new("insertafter", ArgKind::Str).help(
        "Where to insert the line if regexp/search_string match nothing: after the last line matching this regular expression, or 'EOF' (the default) or 'BOF'.",
    ),
    ArgSpec::new("insertbefore", ArgKind::Str).help("Insert before the last line matching this regular expression, or 'BOF'."),
    ArgSpec::new("backrefs", ArgKind::Bool).default("no").help("Expand \\1-style references to regexp's groups in line; if regexp matches nothing the file is left alone."),
    ArgSpec::new("create", ArgKind::Bool).default("no").help("Create the file (and its folders) if it does not exist; otherwise a missing file is an error."),
    ArgSpec::new("firstmatch", ArgKind::Bool).default("no").help("Use the first matching line for regexp/insertafter/insertbefore instead of the last."),
    COMMON_ARGS[0],
    COMMON_ARGS[1],
    COMMON_ARGS[2],
    COMMON_ARGS[3],
    COMMON_ARGS[4],
])
.mutually_exclusive(&[&["insertbefore", "insertafter"], &["regexp", "search_string"], &["backrefs", "search_string"]])
.changes(CHANGES)
.critical();

#[async_trait::async_trait]
impl Module for LineInFile {
    fn name(&self) -> &'static str {
        "lineinfile"
    }
    fn summary(&self) -> &'static str {
        "Ensure a particular line is in a file, or replace an existing line found by a regular expression"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Regular expressions are Python's syntax, run by a compatible engine (lookaround and backreferences work; \
         possessive quantifiers and atomic groups of Python 3.11 do not). Files up to 16 MiB. Empty `regexp` or \
         `search_string` are accepted without Ansible's warning. SELinux arguments, `attributes` and `unsafe_writes` \
         are not supported. The attribute diff is shown only when owner, group or mode change."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        let path = args.req("path")?;
        let present = args.str("state") == Some("present");
        let regexp = args.str("regexp").map(|r| pyre::compile("regexp", r, false)).transpose().map_err(ModuleError::Args)?;
        let search = args.str("search_string");
        if present {
            if args.bool("backrefs") && regexp.is_none() {
                return Err(ModuleError::Args("regexp is required with backrefs=true".into()));
            }
            if !args.has("line") {
                return Err(ModuleError::Args("line is required with state=present".into()));
            }
        } else if regexp.is_none() && search.is_none() && !args.has("line") {
            return Err(ModuleError::Args("one of line, search_string, or regexp is required with state=absent".into()));
        }
        let ins_re = |arg: &str, skip: &[&str]| -> Result<Option<PyRegex>, ModuleError> {
            match args.str(arg) {
                Some(v) if !skip.contains(&v) => pyre::compile(arg, v, false).map(Some).map_err(ModuleError::Args),
                _ => Ok(None),
            }
        };
        // Compile everything before touching the host, so a bad pattern is an argument error.
        let after_re = ins_re("insertafter", &["BOF", "EOF"])?;
        let before_re = ins_re("insertbefore", &["BOF"])?;

        let t = text_edit::load(ctx, path).await?;
        let line = args.str("line").unwrap_or_default().as_bytes();
        let header = format!("{path} (content)");
        if !present {
            if !t.st.exists {
                return Ok(Plan::unchanged().msg("file not present"));
            }
            let lines = split_lines(t.content());
            let mut found = 0;
            let mut kept = Vec::with_capacity(lines.len());
            for l in lines {
                let hit = match (&regexp, search) {
                    (Some(re), _) => re.is_match(&l).map_err(ModuleError::failed)?,
                    (None, Some(s)) => contains(&l, s.as_bytes()),
                    (None, None) => trim_eol(&l) == line,
                };
                if hit {
                    found += 1;
                } else {
                    kept.push(l);
                }
            }
            let new = (found > 0).then(|| kept.concat());
            let (changes, attrs_changed) = text_edit::changes(ctx, args, &t, new.as_deref(), &header)?;
            let msg = if found > 0 { format!("{found} line(s) removed") } else { String::new() };
            let mut plan = Plan::of(changes).with("found", found).with("backup", "");
            if !plan.is_empty() {
                plan = plan.msg(with_attrs_msg(&msg, attrs_changed));
            }
            return Ok(plan);
        }

        if !t.st.exists && !args.bool("create") {
            return Err(ModuleError::failed(format!("Destination {path} does not exist !")).with("rc", 257));
        }
        let ins = Insert {
            after: args.str("insertafter").or(if args.has("insertbefore") { None } else { Some("EOF") }),
            before: args.str("insertbefore"),
            re: after_re.as_ref().or(before_re.as_ref()),
        };
        let mut lines = split_lines(t.content());
        let (msg, changed) = present_edit(&mut lines, regexp.as_ref(), search, line, &ins, args.bool("backrefs"), args.bool("firstmatch"))?;
        let new = lines.concat();
        let new = changed.then_some(new);
        let (changes, attrs_changed) = text_edit::changes(ctx, args, &t, new.as_deref(), &header)?;
        Ok(Plan::of(changes).msg(with_attrs_msg(msg, attrs_changed && t.st.exists)).with("backup", ""))
    }
    async fn apply(&self, ctx: &ApplyCtx<'_>, _args: &Args, plan: Plan) -> Result<Outcome, ModuleError> {
        text_edit::apply(ctx, plan, "backup").await
    }
}

/// Where to insert: the `insertafter`/`insertbefore` values and the compiled pattern of the one that is a regex.
struct Insert<'a> {
    after: Option<&'a str>,
    before: Option<&'a str>,
    re: Option<&'a PyRegex>,
}

/// Ansible's `present()`, on lines that keep their `\n`. Returns the message and whether anything changed.
fn present_edit(
    lines: &mut Vec<Vec<u8>>,
    regexp: Option<&PyRegex>,
    search: Option<&str>,
    line: &[u8],
    ins: &Insert<'_>,
    backrefs: bool,
    firstmatch: bool,
) -> Result<(&'static str, bool), ModuleError> {
    let fail = ModuleError::failed;
    // index0: the line regexp/search_string (or the exact line) matched; index1: where to insert.
    let (mut index0, mut index1): (isize, isize) = (-1, -1);
    let mut expanded: Option<Vec<u8>> = None;
    let mut matched = false;
    if let Some(re) = regexp {
        for (i, l) in lines.iter().enumerate() {
            if let Some(caps) = re.captures(l).map_err(fail)? {
                index0 = i as isize;
                matched = true;
                expanded = if backrefs { Some(re.expand(&caps, &String::from_utf8_lossy(line)).map_err(ModuleError::Args)?) } else { None };
                if firstmatch {
                    break;
                }
            }
        }
    }
    if let Some(s) = search {
        for (i, l) in lines.iter().enumerate() {
            if contains(l, s.as_bytes()) {
                index0 = i as isize;
                matched = true;
                if firstmatch {
                    break;
                }
            }
        }
    }
    if !matched {
        for (i, l) in lines.iter().enumerate() {
            if trim_eol(l) == line {
                index0 = i as isize;
            } else if let Some(re) = ins.re {
                if re.is_match(l).map_err(fail)? {
                    index1 = if ins.after.is_some() { i as isize + 1 } else { i as isize };
                    if firstmatch {
                        break;
                    }
                }
            }
        }
    }
    let with_nl = |l: &[u8]| {
        let mut v = l.to_vec();
        v.push(b'\n');
        v
    };
    if index0 != -1 {
        let mut new_line = if backrefs && matched { expanded.unwrap_or_else(|| line.to_vec()) } else { line.to_vec() };
        if !new_line.ends_with(b"\n") {
            new_line.push(b'\n');
        }
        let i = index0 as usize;
        if lines[i] != new_line {
            lines[i] = new_line;
            return Ok(("line replaced", true));
        }
        return Ok(("", false));
    }
    if backrefs {
        // Not safe to build the line without the groups a match would have given.
        return Ok(("", false));
    }
    if ins.before == Some("BOF") || ins.after == Some("BOF") {
        lines.insert(0, with_nl(line));
        return Ok(("line added", true));
    }
    if ins.after == Some("EOF") || index1 == -1 {
        if let Some(last) = lines.last_mut() {
            if !matches!(last.last(), Some(b'\n' | b'\r')) {
                last.push(b'\n');
            }
        }
        lines.push(with_nl(line));
        return Ok(("line added", true));
    }
    let i = index1 as usize;
    if ins.after.is_some() {
        // Do not insert the line if it is already right there.
        if lines.len() == i {
            if trim_eol(&lines[i - 1]) != line {
                lines.push(with_nl(line));
                return Ok(("line added", true));
            }
        } else if trim_eol(&lines[i]) != line {
            lines.insert(i, with_nl(line));
            return Ok(("line added", true));
        }
        return Ok(("", false));
    }
    lines.insert(i, with_nl(line));
    Ok(("line added", true))
}

fn trim_eol(l: &[u8]) -> &[u8] {
    let end = l.iter().rposition(|b| *b != b'\n' && *b != b'\r').map_or(0, |p| p + 1);
    &l[..end]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run the edit on `text` the way the module does and return the new text and message.
    fn edit(
        text: &str,
        regexp: Option<&str>,
        line: &str,
        after: Option<&str>,
        before: Option<&str>,
        backrefs: bool,
        firstmatch: bool,
    ) -> (String, &'static str) {
        let re = regexp.map(|r| pyre::compile("regexp", r, false).unwrap());
        let ins_re = match (after, before) {
            (Some(a), _) if a != "BOF" && a != "EOF" => Some(pyre::compile("insertafter", a, false).unwrap()),
            (_, Some(b)) if b != "BOF" => Some(pyre::compile("insertbefore", b, false).unwrap()),
            _ => None,
        };
        let ins = Insert { after: after.or(if before.is_some() { None } else { Some("EOF") }), before, re: ins_re.as_ref() };
        let mut lines = split_lines(text.as_bytes());
        let (msg, _) = present_edit(&mut lines, re.as_ref(), None, line.as_bytes(), &ins, backrefs, firstmatch).unwrap();
        (String::from_utf8(lines.concat()).unwrap(), msg)
    }

    // Expected results below were recorded with ansible-core 2.19 (ansible localhost -m lineinfile).
    #[test]
    fn matches_ansible_on_recorded_cases() {
        assert_eq!(edit("a\nb\n", None, "c", None, None, false, false), ("a\nb\nc\n".into(), "line added"));
        assert_eq!(edit("a\nb", None, "c", None, None, false, false), ("a\nb\nc\n".into(), "line added"));
        assert_eq!(edit("a\nb\n", None, "b", None, None, false, false), ("a\nb\n".into(), ""));
        assert_eq!(edit("a\nb", None, "b", None, None, false, false), ("a\nb\n".into(), "line replaced"));
        assert_eq!(edit("x=1\ny=2\nx=3\n", Some("^x="), "x=9", None, None, false, false), ("x=1\ny=2\nx=9\n".into(), "line replaced"));
        assert_eq!(edit("x=1\ny=2\nx=3\n", Some("^x="), "x=9", None, None, false, true), ("x=9\ny=2\nx=3\n".into(), "line replaced"));
        assert_eq!(edit("a\nb\n", None, "c", Some("BOF"), None, false, false), ("c\na\nb\n".into(), "line added"));
        assert_eq!(edit("a\nb\n", None, "c", None, Some("BOF"), false, false), ("c\na\nb\n".into(), "line added"));
        assert_eq!(edit("[s]\nk=v\n[t]\n", None, "new", Some(r"^\[s\]"), None, false, false), ("[s]\nnew\nk=v\n[t]\n".into(), "line added"));
        assert_eq!(edit("[s]\nnew\nk=v\n", None, "new", Some(r"^\[s\]"), None, false, false), ("[s]\nnew\nk=v\n".into(), ""));
        assert_eq!(edit("a\n#x\nb\n#x\n", None, "c", None, Some("^#x"), false, false), ("a\n#x\nb\nc\n#x\n".into(), "line added"));
        assert_eq!(edit("a\n#x\nb\n#x\n", None, "c", None, Some("^#x"), false, true), ("a\nc\n#x\nb\n#x\n".into(), "line added"));
        assert_eq!(edit("a\n", None, "c", Some("nomatch"), None, false, false), ("a\nc\n".into(), "line added"));
        assert_eq!(edit("port=1\n", Some(r"^port=(\d+)$"), r"port=\g<1>0", None, None, true, false), ("port=10\n".into(), "line replaced"));
        assert_eq!(edit("a\n", Some("^zz(.*)"), r"\1", None, None, true, false), ("a\n".into(), ""));
        assert_eq!(edit("", None, "only", None, None, false, false), ("only\n".into(), "line added"));
    }
}
