//! [`Decision`]: the user's answer for a call that waits for confirmation.

/// The user's answer for a call that requires confirmation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run the call.
    Approve,
    /// Do not run it; the model is told, with the optional note.
    Reject(Option<String>),
}
