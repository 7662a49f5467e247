//! Drawing a [`Layout`] as a self-contained SVG document.
//!
//! The document carries its own stylesheet and names only generic font families, so it
//! renders the same in a browser, an `<img>` or a converter. Each state is a
//! `<g class="state TYPE" data-state="NAME">` group (a Parallel's or Map's nested states
//! inside its group), each edge a `<g class="edge KIND" data-from="NAME" data-to="NAME">`, so
//! a page can restyle them; a [`Highlight`] adds `succeeded`, `failed`, `caught`, `running`
//! or `aborted` to the states an execution visited. All text is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::layout::{self, Cluster, Edge, EdgeKind, Layout, Node, NodeKind, Point};
use crate::text::{escape, width};

/// The status of a state in an execution, for [`Highlight`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Succeeded,
    Failed,
    /// Failed, and a `Catch` took the execution on to its handler.
    Caught,
    Running,
    /// Still running when the execution was stopped or timed out.
    Aborted,
}

impl Status {
    /// The class the state's group gets.
    pub fn class(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Caught => "caught",
            Status::Running => "running",
            Status::Aborted => "aborted",
        }
    }
}

/// The states to highlight, by name; the default highlights nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Highlight {
    states: BTreeMap<String, Status>,
}

impl Highlight {
    /// No highlight.
    pub fn none() -> Self {
        Self::default()
    }

    /// Marks the state `name` with `status` (replacing an earlier status).
    pub fn set(&mut self, name: impl Into<String>, status: Status) -> &mut Self {
        self.states.insert(name.into(), status);
        self
    }

    /// The status of the state `name`, if it has one.
    pub fn get(&self, name: &str) -> Option<Status> {
        self.states.get(name).copied()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

impl<S: Into<String>> FromIterator<(S, Status)> for Highlight {
    fn from_iter<I: IntoIterator<Item = (S, Status)>>(iter: I) -> Self {
        Highlight { states: iter.into_iter().map(|(s, st)| (s.into(), st)).collect() }
    }
}

const STYLE: &str = r#"
.baton-graph text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.baton-graph .shape { stroke-width: 1.5; }
.baton-graph .name { font-size: 13px; font-weight: 600; fill: #1f2933; }
.baton-graph .type { font-size: 11px; fill: #5c6977; }
.baton-graph .terminal .shape { fill: #34414f; stroke: #34414f; }
.baton-graph .terminal text { font-size: 12px; font-weight: 600; fill: #ffffff; }
.baton-graph .state > .shape { fill: #f4f5f7; stroke: #8a96a3; }
.baton-graph .task > .shape { fill: #e9f0fd; stroke: #3d6fd9; }
.baton-graph .choice > .shape { fill: #fff5db; stroke: #c98c00; }
.baton-graph .wait > .shape { fill: #f0ebfb; stroke: #7b5cc4; }
.baton-graph .succeed > .shape { fill: #e3f5e8; stroke: #2e9950; }
.baton-graph .fail > .shape { fill: #fde8e7; stroke: #cf3a33; }
.baton-graph .parallel > .shape { fill: #f7f9fb; stroke: #5d6d7e; }
.baton-graph .map > .shape, .baton-graph .map > .stack { fill: #eef8f7; stroke: #23877f; }
.baton-graph .missing > .shape { fill: #ffffff; stroke: #cf3a33; stroke-dasharray: 4 3; }
.baton-graph .missing .type { fill: #cf3a33; }
.baton-graph .cluster > rect { fill: #ffffff; stroke: #b8c2cc; stroke-dasharray: 4 3; }
.baton-graph .cluster > text { font-size: 11px; fill: #6b7885; }
.baton-graph .badge rect { fill: #fff3cd; stroke: #c98c00; }
.baton-graph .badge text { font-size: 11px; font-weight: 600; fill: #7a5600; }
.baton-graph .edge path { fill: none; stroke: #6f7c89; stroke-width: 1.4; }
.baton-graph .edge.catch path { stroke: #cf3a33; stroke-dasharray: 5 4; }
.baton-graph .edge .label rect { fill: #ffffff; stroke: #d3d9df; }
.baton-graph .edge .label text { font-size: 11px; fill: #3b4754; }
.baton-graph .edge.catch .label text { fill: #b3261e; }
.baton-graph .edge.catch .label rect { stroke: #f0b8b4; }
.baton-graph .state.succeeded > .shape { fill: #d9f2e0; stroke: #1e8e3e; stroke-width: 3; }
.baton-graph .state.failed > .shape { fill: #fcdcd9; stroke: #d93025; stroke-width: 3; }
.baton-graph .state.caught > .shape { fill: #feefd9; stroke: #e37400; stroke-width: 3; }
.baton-graph .state.running > .shape { fill: #dde9fc; stroke: #1a73e8; stroke-width: 3; }
.baton-graph .state.aborted > .shape { fill: #e8eaed; stroke: #5f6368; stroke-width: 3; stroke-dasharray: 6 3; }
.baton-graph.highlighted .state:not(.succeeded):not(.failed):not(.caught):not(.running):not(.aborted) > .shape { opacity: 0.5; }
"#;

/// Draws `layout` as an SVG document, with the states `highlight` names marked.
pub fn render_svg(layout: &Layout, highlight: &Highlight) -> String {
    let names: BTreeMap<&str, &Node> =
        layout.all_nodes().into_iter().map(|n| (n.id.as_str(), n)).collect();
    let mut out = String::new();
    let class = if highlight.is_empty() { "baton-graph" } else { "baton-graph highlighted" };
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"{class}\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\">",
        w = layout.width,
        h = layout.height,
    );
    out.push_str("<style>");
    out.push_str(STYLE);
    out.push_str("</style>\n<defs>\n");
    for (id, colour) in [("baton-arrow", "#6f7c89"), ("baton-arrow-catch", "#cf3a33")] {
        let _ = writeln!(
            out,
            "<marker id=\"{id}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" \
             markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0.5 L10,5 L0,9.5 z\" fill=\"{colour}\"/></marker>"
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(
        out,
        "<rect class=\"background\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
        layout.width, layout.height
    );
    let mut drawing = Drawing { out, names, highlight };
    drawing.graph(&layout.nodes, &layout.edges);
    let mut out = drawing.out;
    out.push_str("</svg>\n");
    out
}

struct Drawing<'a> {
    out: String,
    names: BTreeMap<&'a str, &'a Node>,
    highlight: &'a Highlight,
}

impl Drawing<'_> {
    fn graph(&mut self, nodes: &[Node], edges: &[Edge]) {
        for edge in edges {
            self.edge(edge);
        }
        for node in nodes {
            self.node(node);
        }
    }

    fn edge(&mut self, edge: &Edge) {
        if edge.points.len() < 2 {
            return;
        }
        let name = |id: &str| self.names.get(id).map_or(String::new(), |n| escape(&n.name));
        let kind = match edge.kind {
            EdgeKind::Start => "start",
            EdgeKind::Next => "next",
            EdgeKind::Choice => "choice",
            EdgeKind::Default => "default",
            EdgeKind::Catch => "catch",
            EdgeKind::End => "end",
        };
        let back = if edge.back { " back" } else { "" };
        let (from, to) = (name(&edge.from), name(&edge.to));
        let marker = if edge.kind == EdgeKind::Catch { "baton-arrow-catch" } else { "baton-arrow" };
        let _ = write!(
            self.out,
            "<g class=\"edge {kind}{back}\" data-from=\"{from}\" data-to=\"{to}\">\
             <path d=\"{}\" marker-end=\"url(#{marker})\"/>",
            path(&edge.points)
        );
        if let (Some(label), Some(at)) = (&edge.label, edge.label_at) {
            let w = layout::label_width(label);
            let h = layout::LABEL_HEIGHT;
            let _ = write!(
                self.out,
                "<g class=\"label\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{h}\" rx=\"4\"/>\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
                num(at.x - w / 2.0),
                num(at.y - h / 2.0),
                num(w),
                num(at.x),
                num(at.y + 4.0),
                escape(label)
            );
        }
        self.out.push_str("</g>\n");
    }

    fn node(&mut self, node: &Node) {
        let (x, y, w, h) = (node.x, node.y, node.width, node.height);
        if matches!(node.kind, NodeKind::Start | NodeKind::End) {
            let kind = if node.kind == NodeKind::Start { "start" } else { "end" };
            let _ = writeln!(
                self.out,
                "<g class=\"terminal {kind}\"><rect class=\"shape\" x=\"{x}\" y=\"{y}\" \
                 width=\"{w}\" height=\"{h}\" rx=\"{}\"/><text x=\"{}\" y=\"{}\" \
                 text-anchor=\"middle\">{}</text></g>",
                num(h / 2.0),
                num(x + w / 2.0),
                num(y + h / 2.0 + 4.0),
                escape(&node.name)
            );
            return;
        }
        let state_type = node.state_type.as_deref().unwrap_or("");
        let type_class = match (node.kind, state_type) {
            (NodeKind::Missing, _) => "missing",
            (_, "Task") => "task",
            (_, "Choice") => "choice",
            (_, "Pass") => "pass",
            (_, "Wait") => "wait",
            (_, "Succeed") => "succeed",
            (_, "Fail") => "fail",
            (_, "Parallel") => "parallel",
            (_, "Map") => "map",
            _ => "unknown",
        };
        let status = match node.kind {
            NodeKind::State => self.highlight.get(&node.name).map(Status::class),
            _ => None,
        };
        let status = status.map(|s| format!(" {s}")).unwrap_or_default();
        let _ = write!(
            self.out,
            "<g class=\"state {type_class}{status}\" data-state=\"{}\" data-type=\"{}\">",
            escape(&node.name),
            escape(state_type)
        );
        let _ = write!(self.out, "<title>{}</title>", escape(&tooltip(node)));

        // The box. A Map's main card sits below and left of the two cards stacked behind it.
        let stacked = type_class == "map";
        let (bx, by, bw, bh) = if stacked {
            let s = layout::STACK;
            for k in [2.0, 1.0] {
                let _ = write!(
                    self.out,
                    "<rect class=\"stack\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"8\"/>",
                    num(x + k * s / 2.0),
                    num(y + (2.0 - k) * s / 2.0),
                    num(w - s),
                    num(h - s)
                );
            }
            (x, y + s, w - s, h - s)
        } else {
            (x, y, w, h)
        };
        if type_class == "choice" {
            let p = layout::CHOICE_POINT;
            let _ = write!(
                self.out,
                "<path class=\"shape\" d=\"M{},{} L{},{} L{},{} L{},{} L{},{} L{},{} Z\"/>",
                num(bx + p),
                num(by),
                num(bx + bw - p),
                num(by),
                num(bx + bw),
                num(by + bh / 2.0),
                num(bx + bw - p),
                num(by + bh),
                num(bx + p),
                num(by + bh),
                num(bx),
                num(by + bh / 2.0)
            );
        } else {
            let rx: f64 = if type_class == "succeed" || type_class == "fail" { 18.0 } else { 8.0 };
            let rx = rx.min(bh / 2.0);
            let _ = write!(
                self.out,
                "<rect class=\"shape\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{rx}\"/>",
                num(bx),
                num(by),
                num(bw),
                num(bh)
            );
        }

        // The title: the name, then the type and detail. A box with branches has it on top.
        let cx = bx + bw / 2.0;
        let name_y = if node.clusters.is_empty() { by + bh / 2.0 - 2.0 } else { by + 20.0 };
        let _ = write!(
            self.out,
            "<text class=\"name\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\
             <text class=\"type\" x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            num(cx),
            num(name_y),
            escape(&layout::shown_name(node)),
            num(cx),
            num(name_y + 15.0),
            escape(&layout::type_line(node))
        );
        if let Some(badge) = layout::retry_badge(&node.retry) {
            let bw2 = width(&badge, layout::LABEL_SIZE, true) + 10.0;
            let (rx, ry) = (bx + bw - bw2 + 6.0, by - 8.0);
            let _ = write!(
                self.out,
                "<g class=\"badge\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"16\" rx=\"8\"/>\
                 <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
                num(rx),
                num(ry),
                num(bw2),
                num(rx + bw2 / 2.0),
                num(ry + 12.0),
                escape(&badge)
            );
        }
        self.out.push('\n');
        for (i, cluster) in node.clusters.iter().enumerate() {
            self.cluster(cluster, i);
        }
        self.out.push_str("</g>\n");
    }

    fn cluster(&mut self, cluster: &Cluster, index: usize) {
        let _ = writeln!(
            self.out,
            "<g class=\"cluster\" data-branch=\"{index}\"><rect x=\"{}\" y=\"{}\" width=\"{}\" \
             height=\"{}\" rx=\"6\"/><text x=\"{}\" y=\"{}\">{}</text>",
            cluster.x,
            cluster.y,
            cluster.width,
            cluster.height,
            num(cluster.x + 8.0),
            num(cluster.y + 14.0),
            escape(&cluster.label)
        );
        self.graph(&cluster.nodes, &cluster.edges);
        self.out.push_str("</g>\n");
    }
}

/// A state's tooltip: its name and type, its resource, its retriers and its comment.
fn tooltip(node: &Node) -> String {
    let mut lines = vec![format!("{} ({})", node.name, layout::type_line(node))];
    if let Some(resource) = &node.resource {
        lines.push(resource.clone());
    }
    for r in &node.retry {
        let attempts = r.max_attempts.map_or_else(|| "?".to_owned(), |n| n.to_string());
        lines.push(format!("Retry {}: up to {attempts} attempts", r.errors.join(", ")));
    }
    if let Some(comment) = &node.comment {
        lines.push(comment.clone());
    }
    lines.join("\n")
}

/// A number for SVG, to a tenth, without a negative zero.
fn num(v: f64) -> f64 {
    (v * 10.0).round() / 10.0 + 0.0
}

/// The `d` of an edge's path: straight runs, vertical bends as S-curves, and rounded
/// corners where a horizontal run meets a vertical one.
fn path(points: &[Point]) -> String {
    const RADIUS: f64 = 10.0;
    let horizontal = |a: Point, b: Point| (a.y - b.y).abs() < 0.5;
    let mut d = format!("M{},{}", num(points[0].x), num(points[0].y));
    let mut at = points[0];
    for i in 0..points.len() - 1 {
        let (a, b) = (points[i], points[i + 1]);
        let next = points.get(i + 2).copied();
        if horizontal(a, b) {
            let turn = next.filter(|&c| !horizontal(b, c));
            match turn {
                Some(c) => {
                    let r = RADIUS.min((b.x - at.x).abs() / 2.0).min((c.y - b.y).abs() / 2.0);
                    let sx = (b.x - at.x).signum();
                    let sy = (c.y - b.y).signum();
                    let _ = write!(
                        d,
                        " L{},{} Q{},{} {},{}",
                        num(b.x - sx * r),
                        num(b.y),
                        num(b.x),
                        num(b.y),
                        num(b.x),
                        num(b.y + sy * r)
                    );
                    at = Point { x: b.x, y: b.y + sy * r };
                }
                None => {
                    let _ = write!(d, " L{},{}", num(b.x), num(b.y));
                    at = b;
                }
            }
            continue;
        }
        // A vertical or slanted run, which ends in a corner if a horizontal one follows.
        let turn = next.filter(|&c| horizontal(b, c));
        let end = match turn {
            Some(c) => {
                let r = RADIUS.min((b.y - at.y).abs() / 2.0).min((c.x - b.x).abs() / 2.0);
                Point { x: b.x, y: b.y - (b.y - at.y).signum() * r }
            }
            None => b,
        };
        if (end.x - at.x).abs() < 0.5 {
            let _ = write!(d, " L{},{}", num(end.x), num(end.y));
        } else {
            let my = (at.y + end.y) / 2.0;
            let _ = write!(
                d,
                " C{},{} {},{} {},{}",
                num(at.x),
                num(my),
                num(end.x),
                num(my),
                num(end.x),
                num(end.y)
            );
        }
        at = end;
        if let Some(c) = turn {
            let r = (b.y - end.y).abs();
            let sx = (c.x - b.x).signum();
            let _ = write!(d, " Q{},{} {},{}", num(b.x), num(b.y), num(b.x + sx * r), num(b.y));
            at = Point { x: b.x + sx * r, y: b.y };
        }
    }
    d
}
