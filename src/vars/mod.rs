//! Variables: the precedence layers a task sees ([`VarScope`]), the lazy `hostvars` hook, Ansible's magic
//! variables and the `!unsafe` convention. Precedence is decided here and nowhere else; see docs/variables.md.
//!
//! This module stores raw (untemplated) values only: rendering them is `crate::template`'s job, and reading
//! files is `crate::vars_file`'s.

mod facts;
pub mod host_only;
mod hostvars;
mod layer;
mod magic;
mod scope;
pub mod unsafe_text;

pub use facts::facts_layer;
pub use hostvars::HostVarsSource;
pub use layer::{Layer, LayerKind};
pub use magic::Magic;
pub use scope::VarScope;

/// The variables of one layer.
pub type Vars = serde_json::Map<String, crate::yaml::Value>;
