//! The errors inventory loading and host selection report. Each names where the problem is (file:line:col, or
//! just the file or pattern when there is no finer place) and what was expected.
//!
//! This file must not decide when something is an error; it only carries the message.

use crate::yaml::{Span, YamlError};

/// A problem in an inventory source or a group_vars/host_vars file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{span}: {msg}")]
pub struct InventoryError {
    pub span: Span,
    pub msg: String,
}

impl InventoryError {
    pub fn new(span: Span, msg: impl Into<String>) -> InventoryError {
        InventoryError { span, msg: msg.into() }
    }
    /// An error about a whole file or directory (no line).
    pub fn in_file(path: &str, msg: impl Into<String>) -> InventoryError {
        InventoryError { span: Span::new(path, 0, 0), msg: msg.into() }
    }
}

impl From<YamlError> for InventoryError {
    fn from(e: YamlError) -> Self {
        InventoryError { span: e.span, msg: e.msg }
    }
}

/// A host pattern that cannot be evaluated (a bad regex, an index past the end of a group).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("host pattern '{pattern}': {msg}")]
pub struct PatternError {
    pub pattern: String,
    pub msg: String,
}
