//! What one run of one check says: pass or fail, a short message, and
//! for a tracked file the number it holds. Every kind of probe (built-in,
//! script, plugin) ends in one.

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub message: String,
    /// A tracked file's number.
    pub value: Option<i64>,
}

impl Outcome {
    pub fn pass(message: impl Into<String>) -> Self {
        Self {
            ok: true,
            message: message.into(),
            value: None,
        }
    }

    pub fn fail(message: impl Into<String>) -> Self {
        Self {
            ok: false,
            message: message.into(),
            value: None,
        }
    }
}
