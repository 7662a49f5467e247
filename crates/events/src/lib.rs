//! Topics and webhooks: the pure core of Baton's publish/subscribe, and the service that
//! applies it.
//!
//! Everything here but [`topics`] is a function of its arguments: no I/O, no clock reads,
//! and randomness is passed in (a draw in `[0, 1)` for retry jitter), except
//! [`Secret::generate`] and [`MessageId::generate`], which draw from the operating system's
//! generator. The delivery worker and the topics API build on these modules:
//!
//! - [`filter`]: SNS subscription filter policies, on message attributes or on the body.
//! - [`attributes`]: SNS message attributes (`String`, `Number`, `String.Array`, `Binary`).
//! - [`webhook`]: Standard Webhooks secrets, ids, signatures and their verification.
//! - [`retry`]: the retry schedule, `Retry-After`, and what a response means for delivery.
//! - [`netguard`]: which target addresses a webhook may be sent to.
//! - [`envelope`]: the SNS-shaped notification body, and the raw body.
//!
//! [`topics`] is the one module that does I/O: the topics service over the store (topics,
//! subscriptions, publishing, attempts, dead letters) and its fan-out and delivery workers,
//! which apply the pure modules above.
//!
//! ```
//! use events::{FilterPolicy, FilterPolicyScope, MessageAttribute, MessageAttributes};
//! use events::{Outcome, RetryPolicy, Decision, Secret};
//!
//! let policy = FilterPolicy::parse(
//!     r#"{"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]}"#,
//!     FilterPolicyScope::MessageAttributes,
//! )?;
//! let mut attributes = MessageAttributes::new();
//! attributes.insert("store".into(), MessageAttribute::string("example_corp"));
//! attributes.insert("price_usd".into(), MessageAttribute::number("210.75")?);
//! assert!(policy.matches_attributes(&attributes));
//!
//! let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?;
//! let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
//! assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
//!
//! let throttled = Outcome::Response { status: 429, retry_after: Some("60") };
//! let now_ms = 1_700_000_000_000;
//! let decision = RetryPolicy::default().decide(1, &throttled, now_ms, 0.5);
//! assert_eq!(decision, Decision::RetryAt(now_ms + 60_000));
//! # Ok::<(), events::Error>(())
//! ```

pub mod attributes;
pub mod envelope;
mod error;
pub mod filter;
pub mod netguard;
pub mod retry;
pub mod topics;
pub mod webhook;

pub use attributes::{AttributeKind, AttributeValue, MessageAttribute, MessageAttributes};
pub use envelope::Notification;
pub use error::{Error, Result};
pub use filter::{FilterPolicy, FilterPolicyScope};
pub use netguard::{Cidr, NetGuard, Verdict as NetVerdict};
pub use retry::{Decision, Outcome, RetryPolicy, Schedule, Verdict};
pub use webhook::{MessageId, Secret};
