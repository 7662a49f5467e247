//! Resources: REST collections of JSON documents with the semantics clients know from HTTP
//! and DynamoDB.
//!
//! This crate is the pure core of the resources building block. It holds no server and no
//! store; the HTTP layer calls it to
//!
//! - compute strong entity tags and parse `If-Match` / `If-None-Match` ([`etag`]),
//! - evaluate conditional requests in RFC 9110's order and decide 428 ([`precondition`]),
//! - apply JSON Merge Patch and JSON Patch documents atomically ([`patch`], [`pointer`](mod@pointer)),
//! - parse and evaluate DynamoDB condition expressions over a document ([`condition`]),
//! - encode and check stateless, authenticated pagination cursors ([`cursor`]),
//! - build the `Link: <...>; rel="next"` header of a page ([`link`]),
//! - validate documents against a collection's JSON Schema ([`schema`]).
//!
//! **Invariant:** nothing here does I/O or reads a clock; times are arguments. Every
//! function is deterministic and answers every input with a value or an error, never a panic.
//! Documents are `serde_json::Value`s as serde_json parses them (nested at most 128 deep),
//! which bounds the recursion of merge patches and comparisons; condition expressions bound
//! their own nesting.

pub mod condition;
pub mod cursor;
pub mod etag;
mod json;
pub mod link;
pub mod patch;
pub mod pointer;
pub mod precondition;
pub mod schema;

pub use condition::Condition;
pub use cursor::{Cursor, CursorKey, Fingerprint, Order};
pub use etag::{EntityTag, TagList};
pub use patch::{apply_json_patch, apply_merge_patch, parse_json_patch_text, Operation};
pub use pointer::Pointer;
pub use precondition::{Conditions, Current, Method, Outcome};
