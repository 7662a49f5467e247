//! The crate's one error type.

/// Everything that can go wrong in this crate: invalid user input, never a bug.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A filter policy SNS would refuse. The message is SNS's `InvalidParameter` text, so
    /// the API can return it as is (`Invalid parameter: FilterPolicy: ...`).
    #[error("Invalid parameter: {0}")]
    FilterPolicy(String),
    /// A message attribute SNS would refuse at publish time.
    #[error("Invalid parameter: MessageAttributes: {0}")]
    Attribute(String),
    /// A webhook secret that is not `whsec_` and base64 of 24 to 64 bytes.
    #[error("invalid webhook secret: {0}")]
    Secret(String),
    /// A webhook id that is not `msg_` and a suffix without `.` or spaces.
    #[error("invalid webhook id: {0}")]
    MessageId(String),
    /// A webhook whose signature or timestamp does not verify.
    #[error("webhook verification failed: {0}")]
    Verification(&'static str),
    /// A retry schedule entry or a duration that does not parse.
    #[error("invalid retry schedule: {0}")]
    Schedule(String),
    /// A CIDR network that does not parse.
    #[error("invalid CIDR {input:?}: {reason}")]
    Cidr {
        /// What was given.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A time outside what an envelope's ISO-8601 timestamp can show.
    #[error("timestamp out of range: {0} ms")]
    Timestamp(i64),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
