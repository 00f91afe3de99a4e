//! The engine's one error type: what can go wrong outside a step.

/// What can go wrong outside a step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("saga instance not found")]
    NotFound,
    #[error("{0}")]
    Refused(String),
    #[error("no saga is defined with the name {0:?}")]
    UnknownSaga(String),
    #[error("the instance's record is damaged: {0}")]
    Corrupt(String),
    #[error("step queue: {0}")]
    Queue(String),
    /// The process is stopping and dropped the task that was committing a new instance:
    /// whether it committed is unknown (the same request again, under its idempotency key,
    /// finds out).
    #[error("the process is stopping; whether the instance was started is unknown")]
    Stopping,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<saga_core::Refused> for Error {
    /// The machine or the engine's own rules refuse what was asked.
    fn from(refused: saga_core::Refused) -> Self {
        Self::Refused(refused.0)
    }
}
