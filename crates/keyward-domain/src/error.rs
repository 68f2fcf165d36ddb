//! The one error type of the domain: a field that is well-formed but invalid.
//!
//! Every message is written for the person who sent the request: it names the field and says
//! what would be accepted instead.

/// A rejected input: maps to `422 validation_failed` at the HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field (JSON path-ish, e.g. `grants[1].permission`) that was rejected.
    pub field: String,
    /// What is wrong with it, in words.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error, reported under a parent field (`grants[2]` + `targets` → `grants[2].targets`).
    pub fn within(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() { parent.to_owned() } else { format!("{parent}.{}", self.field) };
        self
    }
}
