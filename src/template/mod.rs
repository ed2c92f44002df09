//! Templating with Ansible's Jinja2 semantics on minijinja: [`Templar`] renders task data, template files and
//! conditions in a [`VarScope`](crate::vars::VarScope), reading variables lazily. Filters, tests and lookups
//! each have their own file; see docs/variables.md for what is supported and how it differs from Ansible.
//! This module does not decide variable precedence (that is `crate::vars`).

mod context;
mod convert;
mod engine;
mod error;
mod filters;

/// Python's `json.dumps(v)` (the `to_json` filter's output): what Ansible writes for a mapping or list.
pub fn python_json(v: &crate::yaml::Value) -> String {
    filters::serialize::dumps(v, &filters::serialize::JsonStyle { indent: None, sort_keys: false, ensure_ascii: true })
}
mod jinja_tests;
mod lookups;
mod templar;

#[cfg(test)]
mod tests;

pub use engine::TextOptions;
pub use error::{TemplateError, TemplateErrorKind};
pub use templar::Templar;
