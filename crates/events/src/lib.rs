//! Topics and webhooks: the pure core of Baton's publish/subscribe.
//!
//! Everything here is a function of its arguments: no I/O, no clock reads, and randomness is
//! passed in (a draw in `[0, 1)` for retry jitter), except [`Secret::generate`] and
//! [`MessageId::generate`], which draw from the operating system's generator. The delivery
//! worker and the topics API build on these modules:
//!
//! - [`filter`]: SNS subscription filter policies, on message attributes or on the body.
//! - [`attributes`]: SNS message attributes (`String`, `Number`, `String.Array`, `Binary`).
//! - [`webhook`]: Standard Webhooks secrets, ids, signatures and their verification.
//! - [`retry`]: the retry schedule, `Retry-After`, and what a response means for delivery.
//! - [`netguard`]: which target addresses a webhook may be sent to.
//! - [`envelope`]: the SNS-shaped notification body, and the raw body.

pub mod attributes;
pub mod envelope;
mod error;
pub mod filter;
pub mod netguard;
pub mod retry;
pub mod webhook;

pub use attributes::{AttributeKind, AttributeValue, MessageAttribute, MessageAttributes};
pub use envelope::Notification;
pub use error::{Error, Result};
pub use filter::{FilterPolicy, FilterPolicyScope};
pub use netguard::{Cidr, NetGuard, Verdict as NetVerdict};
pub use retry::{Decision, Outcome, RetryPolicy, Schedule, Verdict};
pub use webhook::{MessageId, Secret};
