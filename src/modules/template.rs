//! template: render a Jinja2 template from the controller (the role's templates/) with the task's variables
//! and put the result on the host exactly as copy would (same checks, atomic write, owner/group/mode).

use super::copy::{DEST_ARGS, Source, put_file, render_put};
use super::{ArgKind, ArgSpec, Args, FileKind, Module, ModuleCtx, ModuleError, ModuleSpec, Plan};
use crate::template::FileSyntax;

pub struct Template;

static SPEC: ModuleSpec = ModuleSpec::new(&[
    ArgSpec::new("src", ArgKind::Path).required().help("The template on the controller (searched in the role's templates/, then the playbook's)."),
    DEST_ARGS[0],
    DEST_ARGS[1],
    DEST_ARGS[2],
    DEST_ARGS[3],
    DEST_ARGS[4],
    DEST_ARGS[5],
    DEST_ARGS[6],
    DEST_ARGS[7],
    ArgSpec::new("trim_blocks", ArgKind::Bool).default("yes").help("Remove the first newline after a block tag ({% ... %})."),
    ArgSpec::new("lstrip_blocks", ArgKind::Bool).default("no").help("Strip spaces and tabs from the start of a line up to a block tag."),
    ArgSpec::new("newline_sequence", ArgKind::Str)
        .default("\n")
        .choices(&["\n", "\r", "\r\n", "\\n", "\\r", "\\r\\n"])
        .help("Line ending of the result."),
    ArgSpec::new("variable_start_string", ArgKind::Str).default("{{").help("Marks the start of a print statement."),
    ArgSpec::new("variable_end_string", ArgKind::Str).default("}}").help("Marks the end of a print statement."),
    ArgSpec::new("block_start_string", ArgKind::Str).default("{%").help("Marks the start of a block."),
    ArgSpec::new("block_end_string", ArgKind::Str).default("%}").help("Marks the end of a block."),
    ArgSpec::new("comment_start_string", ArgKind::Str).default("{#").help("Marks the start of a comment."),
    ArgSpec::new("comment_end_string", ArgKind::Str).default("#}").help("Marks the end of a comment."),
    ArgSpec::new("output_encoding", ArgKind::Str)
        .default("utf-8")
        .choices(&["utf-8", "utf8"])
        .help("Encoding of the result; hlprov writes UTF-8 only."),
])
.changes(&["content", "attributes"])
.critical();

#[async_trait::async_trait]
impl Module for Template {
    fn name(&self) -> &'static str {
        "template"
    }
    fn summary(&self) -> &'static str {
        "Render a Jinja2 template on the controller and put the result on the host"
    }
    fn spec(&self) -> &'static ModuleSpec {
        &SPEC
    }
    fn notes(&self) -> &'static str {
        "Output encodings other than UTF-8 are not supported. `{% include %}`, `{% import %}` and `{% extends %}` \
         look in Ansible's search path (the role's templates/ and folder, the playbook's templates/ and folder, \
         then the template's own folder). A `#jinja2:` first line may set trim_blocks, lstrip_blocks and the \
         delimiters. newline_sequence converts every line end of the result, including those that come from variables \
         (Jinja converts only the template's own). Results are those of copy (no `md5sum`)."
    }
    async fn plan(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Result<Plan, ModuleError> {
        put_file(ctx, args, &rendered(ctx, args)?, args.req("dest")?).await
    }
    fn render(&self, ctx: &ModuleCtx<'_>, args: &Args) -> Option<Result<Plan, ModuleError>> {
        Some(rendered(ctx, args).and_then(|source| Ok(render_put(args, &source, args.req("dest")?))))
    }
}

/// The template rendered with the task's variables, as the content to put on the host.
fn rendered(ctx: &ModuleCtx<'_>, args: &Args) -> Result<Source, ModuleError> {
    let src = args.req("src")?;
    let path = ctx.task.find_file(FileKind::Templates, src).map_err(|e| ModuleError::Args(format!("could not find template src={src}: {e}")))?;
    let text = std::fs::read_to_string(&path).map_err(|e| ModuleError::Args(format!("cannot read template {}: {e}", path.display())))?;
    // Non-default whitespace options travel as the `#jinja2:` header line the renderer understands; a
    // header already in the file wins, as in Ansible.
    let (trim, lstrip) = (args.bool("trim_blocks"), args.bool("lstrip_blocks"));
    let text = if (trim, lstrip) != (true, false) && !text.starts_with("#jinja2:") {
        format!("#jinja2: trim_blocks: {}, lstrip_blocks: {}\n{text}", py_bool(trim), py_bool(lstrip))
    } else {
        text
    };
    let mut syntax = syntax(args)?;
    let text = header_delimiters(text, &mut syntax);
    let rendered = ctx.task.render_file(&text, &path, syntax, src, args.req("dest")?).map_err(ModuleError::Template)?;
    let newline = match args.req("newline_sequence")? {
        "\\n" => "\n",
        "\\r" => "\r",
        "\\r\\n" => "\r\n",
        other => other,
    };
    let rendered = if newline == "\n" { rendered } else { rendered.replace('\n', newline) };
    let mut source = Source::from_file(&path)?;
    source.bytes = rendered.into_bytes();
    Ok(source)
}

/// The delimiters the arguments ask for (None where they are Jinja's own).
fn syntax(args: &Args) -> Result<FileSyntax, ModuleError> {
    let pair = |start: &str, end: &str, default: (&str, &str)| -> Result<Option<(String, String)>, ModuleError> {
        let (s, e) = (args.req(start)?, args.req(end)?);
        if s.is_empty() || e.is_empty() {
            return Err(ModuleError::Args(format!("{start} and {end} must not be empty")));
        }
        Ok(((s, e) != default).then(|| (s.to_string(), e.to_string())))
    };
    Ok(FileSyntax {
        variable: pair("variable_start_string", "variable_end_string", ("{{", "}}"))?,
        block: pair("block_start_string", "block_end_string", ("{%", "%}"))?,
        comment: pair("comment_start_string", "comment_end_string", ("{#", "#}"))?,
        search: Vec::new(),
    })
}

/// A `#jinja2:` first line may set the delimiters too (`#jinja2: variable_start_string: '[%', …`), winning over
/// the arguments as in Ansible: they are taken out of the line here; the whitespace options stay in it for the
/// renderer (which still removes the line, so error line numbers keep matching the file).
fn header_delimiters(text: String, syntax: &mut FileSyntax) -> String {
    let Some(rest) = text.strip_prefix("#jinja2:") else { return text };
    let (header, body) = rest.split_once('\n').unwrap_or((rest, ""));
    let mut kept = Vec::new();
    let mut found: Vec<(&str, String)> = Vec::new();
    for part in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once(':') {
            Some((k, v)) if k.trim().ends_with("_string") => {
                found.push((k.trim(), v.trim().trim_matches(|c| c == '"' || c == '\'').to_string()));
            }
            _ => kept.push(part),
        }
    }
    let set = |field: &mut Option<(String, String)>, name: &str, default: (&str, &str)| {
        let get = |key: String| found.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
        let (start, end) = (get(format!("{name}_start_string")), get(format!("{name}_end_string")));
        if start.is_some() || end.is_some() {
            let (s0, e0) = field.clone().unwrap_or((default.0.to_string(), default.1.to_string()));
            *field = Some((start.unwrap_or(s0), end.unwrap_or(e0)));
        }
    };
    set(&mut syntax.variable, "variable", ("{{", "}}"));
    set(&mut syntax.block, "block", ("{%", "%}"));
    set(&mut syntax.comment, "comment", ("{#", "#}"));
    format!("#jinja2: {}\n{body}", kept.join(", "))
}

fn py_bool(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}
