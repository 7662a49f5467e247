//! The diagram's geometry: the public [`Layout`] and how it is assembled, scope by scope.
//!
//! A scope is laid out on its own ([`crate::layered`]); a Parallel or Map state is a box
//! whose size comes from its branches' (or item processor's) layouts, placed side by side
//! inside it, so nesting is handled by recursion from the inside out. Coordinates are then
//! made absolute, in pixels from the top left of the drawing, rounded to a tenth.

use serde::Serialize;

use crate::layered::{self, Block, Link};
use crate::model::{Item, Scope};
use crate::text;

/// The margin around the whole drawing.
const MARGIN: f64 = 20.0;
/// The height of a state's box.
const STATE_HEIGHT: f64 = 46.0;
/// The horizontal padding inside a state's box.
const STATE_PAD: f64 = 14.0;
/// The narrowest state box.
const STATE_MIN_WIDTH: f64 = 110.0;
/// How far a Choice's pointed ends reach beyond its text.
pub(crate) const CHOICE_POINT: f64 = 14.0;
/// The height of the Start and End markers.
const MARKER_HEIGHT: f64 = 28.0;
/// The height of a Parallel or Map box's title.
pub(crate) const HEADER: f64 = 46.0;
/// The padding around the branches inside a Parallel or Map box.
const BOX_PAD: f64 = 12.0;
/// The gap between two branches.
const BRANCH_GAP: f64 = 14.0;
/// The height of a branch's caption.
pub(crate) const CAPTION: f64 = 20.0;
/// The padding inside a branch's frame.
const BRANCH_PAD: f64 = 12.0;
/// How far the cards behind a Map box peek out.
pub(crate) const STACK: f64 = 8.0;
/// The height of an edge label.
pub(crate) const LABEL_HEIGHT: f64 = 18.0;
/// Font sizes: a state's name, its type line, an edge label or caption, a marker.
pub(crate) const NAME_SIZE: f64 = 13.0;
pub(crate) const TYPE_SIZE: f64 = 11.0;
pub(crate) const LABEL_SIZE: f64 = 11.0;
pub(crate) const MARKER_SIZE: f64 = 12.0;
/// The longest state name a box shows in full, in characters.
const NAME_CHARS: usize = 40;

/// A laid-out diagram: every node and edge with absolute coordinates (pixels from the top
/// left; `y` grows downwards), ready to draw with [`crate::render_svg`] or to serialise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    /// The machine's top-level nodes: the Start and End markers and the states.
    pub nodes: Vec<Node>,
    /// The machine's top-level edges.
    pub edges: Vec<Edge>,
    /// What could not be drawn as written (a transition to a missing state, an unknown
    /// `Type`), in the order found; empty for a valid definition.
    pub warnings: Vec<String>,
}

/// A state, a marker or a placeholder.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Unique in the layout (`n0`, `n1`, ...); edges refer to nodes by it.
    pub id: String,
    pub kind: NodeKind,
    /// The state's name (for markers, `Start` or `End`).
    pub name: String,
    /// The state's `Type` as written (`?` when it has none).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub state_type: Option<String>,
    /// The short second line: a Task's resource, a Wait's time, a Fail's error, a Map's items.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A Task's whole `Resource`, for its tooltip.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The state's retriers, drawn as a badge.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub retry: Vec<Retry>,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// A Parallel's branches or a Map's item processor, inside this node's box.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<Cluster>,
}

/// What a node stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Start,
    End,
    State,
    /// A state that a transition names but the definition lacks.
    Missing,
}

/// One retrier of a state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retry {
    pub errors: Vec<String>,
    /// `MaxAttempts` (3 when absent); `None` when it is not a plain number.
    pub max_attempts: Option<u64>,
}

/// A nested graph: one branch of a Parallel, or a Map's item processor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// `Branch 1`, `Branch 2`, ..., `Item processor` or `Iterator`.
    pub label: String,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// A transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    /// The source node's id.
    pub from: String,
    /// The target node's id.
    pub to: String,
    pub kind: EdgeKind,
    /// A Choice rule's condition, `Default`, or a catcher's error names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The polyline from the source's border to the target's; the renderer rounds its bends.
    pub points: Vec<Point>,
    /// The centre of the label, on the polyline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label_at: Option<Point>,
    /// Whether the edge closes a cycle and so runs back up, beside the states.
    pub back: bool,
}

/// Why an edge is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EdgeKind {
    /// From the Start marker to `StartAt`.
    Start,
    Next,
    /// A Choice rule's `Next`.
    Choice,
    /// A Choice's `Default`.
    Default,
    /// A catcher's `Next`.
    Catch,
    /// From a state that ends the machine (`End`, Succeed, Fail) to the End marker.
    End,
}

/// A point of the drawing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Layout {
    /// Every node, nested ones included, parents before their children.
    pub fn all_nodes(&self) -> Vec<&Node> {
        fn walk<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
            for node in nodes {
                out.push(node);
                for cluster in &node.clusters {
                    walk(&cluster.nodes, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }

    /// Every edge, nested ones included.
    pub fn all_edges(&self) -> Vec<&Edge> {
        let mut out: Vec<&Edge> = self.edges.iter().collect();
        for node in self.all_nodes() {
            for cluster in &node.clusters {
                out.extend(&cluster.edges);
            }
        }
        out
    }

    /// The node of the state named `name`, at any depth.
    pub fn state(&self, name: &str) -> Option<&Node> {
        self.all_nodes().into_iter().find(|n| n.kind == NodeKind::State && n.name == name)
    }
}

/// Lays out the machine's scope.
pub(crate) fn assemble(scope: &Scope, warnings: Vec<String>) -> Layout {
    let mut ids = 0;
    let mut laid = lay(scope, &mut ids);
    for node in &mut laid.nodes {
        shift_node(node, MARGIN, MARGIN);
    }
    for edge in &mut laid.edges {
        shift_edge(edge, MARGIN, MARGIN);
    }
    Layout {
        width: round(laid.width + 2.0 * MARGIN),
        height: round(laid.height + 2.0 * MARGIN),
        nodes: laid.nodes,
        edges: laid.edges,
        warnings,
    }
}

/// A scope laid out with its origin at its top left.
struct Laid {
    width: f64,
    height: f64,
    nodes: Vec<Node>,
    edges: Vec<Edge>,
}

fn lay(scope: &Scope, ids: &mut usize) -> Laid {
    let node_ids: Vec<String> = scope
        .nodes
        .iter()
        .map(|_| {
            *ids += 1;
            format!("n{}", *ids - 1)
        })
        .collect();
    let mut nodes: Vec<Node> = scope
        .nodes
        .iter()
        .zip(&node_ids)
        .map(|(item, id)| sized_node(item, id.clone(), ids))
        .collect();
    let blocks: Vec<Block> = nodes
        .iter()
        .map(|n| {
            let spread = match (n.kind, n.state_type.as_deref()) {
                (NodeKind::Start | NodeKind::End, _) => 0.0,
                (_, Some("Choice")) => n.width / 2.0 - CHOICE_POINT - 8.0,
                (_, Some("Map")) => (n.width - STACK) / 2.0 - 12.0,
                _ => n.width / 2.0 - 12.0,
            };
            Block { width: n.width, height: n.height, spread: spread.max(0.0) }
        })
        .collect();
    let labels: Vec<Option<String>> = scope.edges.iter().map(|e| e.label.clone()).collect();
    let links: Vec<Link> = scope
        .edges
        .iter()
        .zip(&labels)
        .map(|(e, label)| Link {
            from: e.from,
            to: e.to,
            label: label.as_ref().map(|l| (label_width(l), LABEL_HEIGHT)),
        })
        .collect();
    let placement = layered::place(&blocks, &links, scope.start, scope.end);
    for (node, &(x, y)) in nodes.iter_mut().zip(&placement.blocks) {
        shift_node(node, x, y);
    }
    let edges = scope
        .edges
        .iter()
        .zip(labels)
        .zip(placement.routes)
        .map(|((e, label), route)| Edge {
            from: node_ids[e.from].clone(),
            to: node_ids[e.to].clone(),
            kind: e.kind,
            label,
            points: route.points.iter().map(|&(x, y)| point(x, y)).collect(),
            label_at: route.label.map(|(x, y)| point(x, y)),
            back: route.back,
        })
        .collect();
    Laid { width: placement.width, height: placement.height, nodes, edges }
}

/// The width of an edge label's box.
pub(crate) fn label_width(label: &str) -> f64 {
    text::width(label, LABEL_SIZE, false) + 12.0
}

/// The text of a state's second line: its type, and its detail if it has one.
pub(crate) fn type_line(node: &Node) -> String {
    let kind = match node.kind {
        NodeKind::Missing => "missing state",
        _ => node.state_type.as_deref().unwrap_or(""),
    };
    match &node.detail {
        Some(detail) => format!("{kind} · {detail}"),
        None => kind.to_owned(),
    }
}

/// The name a state's box shows.
pub(crate) fn shown_name(node: &Node) -> String {
    text::truncate(&text::one_line(&node.name), NAME_CHARS)
}

/// The text of a retry badge: `↻ 3`, or `↻ 3/2` for two retriers.
pub(crate) fn retry_badge(retry: &[Retry]) -> Option<String> {
    if retry.is_empty() {
        return None;
    }
    let attempts: Vec<String> = retry
        .iter()
        .map(|r| r.max_attempts.map_or_else(|| "?".to_owned(), |n| n.to_string()))
        .collect();
    Some(text::truncate(&format!("↻ {}", attempts.join("/")), 16))
}

/// A node with its size (and its clusters laid out inside it), at the origin.
fn sized_node(item: &Item, id: String, ids: &mut usize) -> Node {
    let mut node = Node {
        id,
        kind: item.kind,
        name: item.name.clone(),
        state_type: item.state_type.clone(),
        detail: item.detail.clone(),
        resource: item.resource.clone(),
        comment: item.comment.clone(),
        retry: item.retry.clone(),
        x: 0.0,
        y: 0.0,
        width: 0.0,
        height: 0.0,
        clusters: Vec::new(),
    };
    if matches!(item.kind, NodeKind::Start | NodeKind::End) {
        node.width = text::width(&item.name, MARKER_SIZE, true) + 30.0;
        node.height = MARKER_HEIGHT;
        return node;
    }
    let mut text_width = text::width(&shown_name(&node), NAME_SIZE, true).max(text::width(
        &type_line(&node),
        TYPE_SIZE,
        false,
    ));
    if let Some(badge) = retry_badge(&node.retry) {
        // Leave the badge room in the top right corner.
        text_width += 2.0 * (text::width(&badge, LABEL_SIZE, false) / 2.0).min(24.0);
    }
    let mut width = (text_width + 2.0 * STATE_PAD).max(STATE_MIN_WIDTH);
    if node.state_type.as_deref() == Some("Choice") {
        width += 2.0 * CHOICE_POINT;
    }
    let stacked = node.state_type.as_deref() == Some("Map");
    if item.children.is_empty() {
        node.width = width + if stacked { STACK } else { 0.0 };
        node.height = STATE_HEIGHT + if stacked { STACK } else { 0.0 };
        return node;
    }

    // Lay out each branch, frame it, and set the frames side by side under the title.
    let mut clusters: Vec<(Cluster, f64)> = item
        .children
        .iter()
        .map(|(label, scope)| {
            let laid = lay(scope, ids);
            let caption = text::width(label, LABEL_SIZE, false) + 2.0 * BRANCH_PAD;
            let w = (laid.width + 2.0 * BRANCH_PAD).max(caption).max(80.0);
            let h = CAPTION + laid.height.max(20.0) + BRANCH_PAD;
            let cluster = Cluster {
                label: label.clone(),
                x: 0.0,
                y: 0.0,
                width: w,
                height: h,
                nodes: laid.nodes,
                edges: laid.edges,
            };
            (cluster, laid.width)
        })
        .collect();
    let tallest = clusters.iter().map(|c| c.0.height).fold(0.0, f64::max);
    let row: f64 =
        clusters.iter().map(|c| c.0.width).sum::<f64>() + BRANCH_GAP * (clusters.len() - 1) as f64;
    let inner = (row + 2.0 * BOX_PAD).max(width);
    let mut at = (inner - row) / 2.0;
    // The main card of a Map sits below the cards stacked behind it.
    let top = if stacked { STACK } else { 0.0 };
    for (cluster, content_w) in &mut clusters {
        cluster.height = tallest;
        cluster.x = at;
        cluster.y = top + HEADER;
        let dx = at + (cluster.width - *content_w) / 2.0;
        let dy = cluster.y + CAPTION;
        for n in &mut cluster.nodes {
            shift_node(n, dx, dy);
        }
        for e in &mut cluster.edges {
            shift_edge(e, dx, dy);
        }
        at += cluster.width + BRANCH_GAP;
    }
    node.clusters = clusters.into_iter().map(|c| c.0).collect();
    node.width = inner + if stacked { STACK } else { 0.0 };
    node.height = top + HEADER + tallest + BOX_PAD;
    node
}

fn shift_node(node: &mut Node, dx: f64, dy: f64) {
    node.x = round(node.x + dx);
    node.y = round(node.y + dy);
    node.width = round(node.width);
    node.height = round(node.height);
    for cluster in &mut node.clusters {
        cluster.x = round(cluster.x + dx);
        cluster.y = round(cluster.y + dy);
        cluster.width = round(cluster.width);
        cluster.height = round(cluster.height);
        for n in &mut cluster.nodes {
            shift_node(n, dx, dy);
        }
        for e in &mut cluster.edges {
            shift_edge(e, dx, dy);
        }
    }
}

fn shift_edge(edge: &mut Edge, dx: f64, dy: f64) {
    for p in edge.points.iter_mut().chain(edge.label_at.as_mut()) {
        *p = point(p.x + dx, p.y + dy);
    }
}

fn point(x: f64, y: f64) -> Point {
    Point { x: round(x), y: round(y) }
}

/// `v` to a tenth, without a negative zero.
fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0 + 0.0
}
