//! [`TemplateError`]: what went wrong while templating, where (the YAML span that held the template, the
//! template's own line) and which variable was undefined. Messages are redacted when the error is built and
//! never quote variable values, so a secret cannot leak through an error.

use std::fmt;

use crate::redact;
use crate::yaml::Span;

#[derive(Debug, Clone, PartialEq)]
pub enum TemplateErrorKind {
    /// A variable (or attribute) that does not exist was used.
    Undefined,
    /// A variable refers back to itself.
    Cycle,
    /// Jinja syntax error.
    Syntax,
    /// A filter, test or lookup failed, or the template used too much fuel/recursion.
    Runtime,
}

/// A templating failure.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    pub kind: TemplateErrorKind,
    /// Where the template came from (YAML value or template file).
    pub origin: Span,
    /// The line inside the template, for templates of more than one line.
    pub template_line: Option<u32>,
    /// The undefined variable (or `a.b` expression), for [`TemplateErrorKind::Undefined`].
    pub undefined: Option<String>,
    /// What went wrong, already redacted.
    pub message: String,
    /// Set for whole files (`render_text`): the line is then reported as `file:line`.
    pub is_file: bool,
}

impl TemplateError {
    pub(crate) fn new(kind: TemplateErrorKind, origin: &Span, message: impl AsRef<str>) -> TemplateError {
        TemplateError {
            kind,
            origin: origin.clone(),
            template_line: None,
            undefined: None,
            message: redact::redact(message.as_ref()).into_owned(),
            is_file: false,
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.template_line {
            Some(line) if self.is_file => {
                let abs = if self.origin.line > 0 { self.origin.line + line - 1 } else { line };
                write!(f, "{}:{}: {}", self.origin.file, abs, self.message)
            }
            Some(line) => write!(f, "{}: {} (line {} of the template)", self.origin, self.message, line),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for TemplateError {}
