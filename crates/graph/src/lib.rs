//! State machine diagrams: an Amazon States Language definition laid out as a layered graph
//! and drawn as SVG.
//!
//! ```
//! let definition = serde_json::json!({
//!     "StartAt": "Hello",
//!     "States": {"Hello": {"Type": "Pass", "End": true}}
//! });
//! let layout = graph::layout(&definition).unwrap();
//! let svg = graph::render_svg(&layout, &graph::Highlight::none());
//! assert!(svg.contains(r#"data-state="Hello""#));
//! ```
//!
//! [`layout`] reads the definition's JSON (leniently: see below) and places a Start marker,
//! every state, an End marker and the transitions between them, top to bottom, with our own
//! layered layout ([`layered`](crate::layered): ranks by longest path, cycles reversed and
//! drawn on the side, barycenter ordering, straightened coordinates). A Parallel's branches
//! and a Map's item processor are laid out the same way, recursively, inside their state's
//! box. [`render_svg`] draws a [`Layout`] as a self-contained SVG document, with the states
//! of a [`Highlight`] marked.
//!
//! **Invalid definitions.** The diagram is for looking at a definition, valid or not:
//! a transition to a state that does not exist goes to a dashed placeholder named after it,
//! a state with an unknown `Type` is a plain box, and each of these adds a line to
//! [`Layout::warnings`]. Only a document that is not a state machine at all (not an object,
//! or no `States` object) is an [`Error`].
//!
//! **Invariant:** pure and deterministic: no I/O, no clock, no randomness and no hash-map
//! iteration, so the same definition always gives a byte-identical SVG. Nothing panics on
//! any JSON value.

mod layered;
mod layout;
mod model;
mod svg;
#[cfg(test)]
mod tests;
mod text;

pub use layout::{Cluster, Edge, EdgeKind, Layout, Node, NodeKind, Point, Retry};
pub use svg::{render_svg, Highlight, Status};

use serde_json::Value;

/// Why a document cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the definition is not a JSON object")]
    NotAnObject,
    #[error("the definition has no \"States\" object")]
    NoStates,
}

/// Lays out the state machine `definition` (its JSON).
pub fn layout(definition: &Value) -> Result<Layout, Error> {
    let mut warnings = Vec::new();
    let scope = model::read(definition, &mut warnings)?;
    Ok(layout::assemble(&scope, warnings))
}

/// Lays out `definition` and draws it without highlights.
pub fn svg(definition: &Value) -> Result<String, Error> {
    Ok(render_svg(&layout(definition)?, &Highlight::none()))
}
