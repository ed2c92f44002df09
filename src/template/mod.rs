//! Templating with Ansible's Jinja2 semantics on minijinja: [`Templar`] renders task data, template files and
//! conditions in a [`VarScope`](crate::vars::VarScope), reading variables lazily. Filters, tests and lookups
//! each have their own file; see docs/variables.md for what is supported and how it differs from Ansible.
//! This module does not decide variable precedence (that is `crate::vars`).

mod context;
mod convert;
mod engine;
mod error;
mod file_syntax;
mod file_vars;
mod filters;
pub mod ini_file;

/// Python's `json.dumps(v)` (the `to_json` filter's output): what Ansible writes for a mapping or list.
pub fn python_json(v: &crate::yaml::Value) -> String {
    filters::serialize::dumps(v, &filters::serialize::JsonStyle { indent: None, sort_keys: false, ensure_ascii: true })
}
/// YAML as `to_nice_yaml(indent=2)` writes it (block style, sorted keys, PyYAML's quoting): for showing
/// structured data to people (the k8s module's diffs).
pub fn nice_yaml(v: &crate::yaml::Value) -> String {
    filters::pyyaml::dump(v, &filters::pyyaml::Style { indent: 2, default_flow_style: Some(false), sort_keys: true })
}
mod jinja_tests;
pub mod list_lookups;
mod literal;
mod lookups;
mod pyformat;
mod pymethods;
mod table_lookups;
mod templar;

#[cfg(test)]
mod tests;

pub use engine::TextOptions;
pub use error::{TemplateError, TemplateErrorKind};
pub use file_syntax::FileSyntax;
pub use file_vars::template_file_vars;
pub use templar::Templar;
