//! What a template file may ask beyond whitespace options: other delimiters (the template module's
//! `variable_start_string` and the like) and the folders `{% include %}`, `{% import %}` and `{% extends %}`
//! look in (the template's own folder, then the role's templates/, as Ansible's template module searches).
//! A file that asks for neither is rendered by the shared environments; one that does gets its own copy.

use std::path::PathBuf;

use minijinja::{Environment, Error, ErrorKind};

use super::engine::TextOptions;

/// Delimiters and include folders for one template file. The default changes nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileSyntax {
    /// `{{` and `}}` unless set.
    pub variable: Option<(String, String)>,
    /// `{%` and `%}` unless set.
    pub block: Option<(String, String)>,
    /// `{#` and `#}` unless set.
    pub comment: Option<(String, String)>,
    /// Folders searched, in order, for a template another one includes or imports.
    pub search: Vec<PathBuf>,
}

impl FileSyntax {
    /// Whether the shared environments do (Jinja's delimiters, nothing to include from).
    pub fn is_default(&self) -> bool {
        self == &FileSyntax::default()
    }

    /// A copy of `base` with these delimiters and a loader over the search folders.
    pub(super) fn environment(&self, base: &Environment<'static>, opts: TextOptions) -> Result<Environment<'static>, Error> {
        let mut env = base.clone();
        let pair = |p: &Option<(String, String)>, a: &'static str, b: &'static str| p.clone().unwrap_or((a.into(), b.into()));
        let (vs, ve) = pair(&self.variable, "{{", "}}");
        let (bs, be) = pair(&self.block, "{%", "%}");
        let (cs, ce) = pair(&self.comment, "{#", "#}");
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .variable_delimiters(vs, ve)
            .block_delimiters(bs, be)
            .comment_delimiters(cs, ce)
            .trim_blocks(opts.trim_blocks)
            .lstrip_blocks(opts.lstrip_blocks)
            .build()
            .map_err(|e| Error::new(ErrorKind::SyntaxError, format!("bad template delimiters: {e}")))?;
        env.set_syntax(syntax);
        let search = self.search.clone();
        env.set_loader(move |name| {
            // Ansible looks the name up in each search folder; a name is a path below one of them.
            for dir in &search {
                let path = dir.join(name);
                if path.is_file() {
                    return std::fs::read_to_string(&path)
                        .map(Some)
                        .map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("cannot read template {}: {e}", path.display())));
                }
            }
            let searched: Vec<String> = search.iter().map(|d| d.display().to_string()).collect();
            Err(Error::new(ErrorKind::TemplateNotFound, format!("template '{name}' not found (searched: {})", searched.join(", "))))
        });
        Ok(env)
    }
}
