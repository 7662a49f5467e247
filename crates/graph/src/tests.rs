//! Tests of the whole pipeline through the public API: definition in, layout and SVG out.

use serde_json::{json, Value};

use crate::*;

/// The geometric promises every layout keeps, checked scope by scope: nodes of a scope do
/// not overlap, labels do not cover nodes, clusters hold their nodes and sit inside their
/// state's box, and everything is inside the drawing.
pub(crate) fn check_geometry(layout: &Layout) {
    fn inside(inner: (f64, f64, f64, f64), outer: (f64, f64, f64, f64)) -> bool {
        inner.0 >= outer.0 - 0.05
            && inner.1 >= outer.1 - 0.05
            && inner.0 + inner.2 <= outer.0 + outer.2 + 0.05
            && inner.1 + inner.3 <= outer.1 + outer.3 + 0.05
    }
    fn overlap(a: (f64, f64, f64, f64), b: (f64, f64, f64, f64)) -> bool {
        a.0 < b.0 + b.2 - 0.05
            && b.0 < a.0 + a.2 - 0.05
            && a.1 < b.1 + b.3 - 0.05
            && b.1 < a.1 + a.3 - 0.05
    }
    fn rect(n: &Node) -> (f64, f64, f64, f64) {
        (n.x, n.y, n.width, n.height)
    }
    fn scope(nodes: &[Node], edges: &[Edge], frame: (f64, f64, f64, f64)) {
        for (i, a) in nodes.iter().enumerate() {
            assert!(inside(rect(a), frame), "{} is outside its frame {frame:?}", a.name);
            for b in &nodes[i + 1..] {
                assert!(!overlap(rect(a), rect(b)), "{} overlaps {}", a.name, b.name);
            }
            for c in &a.clusters {
                let r = (c.x, c.y, c.width, c.height);
                assert!(inside(r, rect(a)), "a cluster of {} sticks out", a.name);
                scope(&c.nodes, &c.edges, r);
            }
        }
        for e in edges {
            assert!(e.points.len() >= 2, "edge {} -> {} has no route", e.from, e.to);
            for p in &e.points {
                assert!(p.x.is_finite() && p.y.is_finite());
            }
            if let (Some(label), Some(at)) = (&e.label, e.label_at) {
                let w = layout::label_width(label);
                let r =
                    (at.x - w / 2.0, at.y - layout::LABEL_HEIGHT / 2.0, w, layout::LABEL_HEIGHT);
                for n in nodes {
                    assert!(!overlap(r, rect(n)), "label {label:?} covers {}", n.name);
                }
            }
        }
    }
    scope(&layout.nodes, &layout.edges, (0.0, 0.0, layout.width, layout.height));
}

fn node<'a>(layout: &'a Layout, name: &str) -> &'a Node {
    layout.state(name).unwrap_or_else(|| panic!("no state {name}"))
}

fn centre_y(n: &Node) -> f64 {
    n.y + n.height / 2.0
}

fn chain(n: usize) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let state = if i + 1 < n {
            json!({"Type": "Pass", "Next": format!("S{}", i + 1)})
        } else {
            json!({"Type": "Pass", "End": true})
        };
        states.insert(format!("S{i}"), state);
    }
    json!({"StartAt": "S0", "States": states})
}

#[test]
fn a_chain_is_one_state_per_rank_in_order_under_start_and_over_end() {
    let layout = layout(&chain(5)).unwrap();
    check_geometry(&layout);
    let start = &layout.nodes[0];
    assert_eq!(start.kind, NodeKind::Start);
    let end = layout.nodes.iter().find(|n| n.kind == NodeKind::End).unwrap();
    let ys: Vec<f64> = (0..5).map(|i| centre_y(node(&layout, &format!("S{i}")))).collect();
    assert!(centre_y(start) < ys[0] && ys[4] < centre_y(end));
    assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
    // Evenly spaced and in one column.
    let steps: Vec<f64> = ys.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().all(|s| (s - steps[0]).abs() < 0.2), "{steps:?}");
    let xs: Vec<f64> = (0..5).map(|i| node(&layout, &format!("S{i}")).x).collect();
    assert!(xs.iter().all(|x| (x - xs[0]).abs() < 0.2), "{xs:?}");
    let kinds: Vec<EdgeKind> = layout.edges.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.iter().filter(|k| **k == EdgeKind::Next).count(), 4);
    assert_eq!(kinds.iter().filter(|k| **k == EdgeKind::End).count(), 1);
    assert!(layout.warnings.is_empty());
}

#[test]
fn a_choice_loop_places_every_state_and_draws_its_way_back_on_the_side() {
    let definition = json!({
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Next": "Check"},
            "Check": {"Type": "Choice", "Choices": [
                {"Variable": "$.done", "BooleanEquals": true, "Next": "Finish"}
            ], "Default": "Work"},
            "Work": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:work",
                     "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Work"}],
                     "Next": "Check"},
            "Finish": {"Type": "Succeed"}
        }
    });
    let layout = layout(&definition).unwrap();
    check_geometry(&layout);
    for name in ["Init", "Check", "Work", "Finish"] {
        node(&layout, name);
    }
    assert!(centre_y(node(&layout, "Check")) < centre_y(node(&layout, "Work")));
    let back: Vec<&Edge> = layout.edges.iter().filter(|e| e.back).collect();
    assert_eq!(back.len(), 1, "Work -> Check closes the loop");
    let work = node(&layout, "Work");
    let (first, last) = (back[0].points[0], *back[0].points.last().unwrap());
    assert_eq!(first.x, work.x + work.width, "leaves Work by its right side");
    assert!(last.y < first.y, "goes up");
    // The catcher back into the state itself is a small loop on its right.
    let own = layout.edges.iter().find(|e| e.kind == EdgeKind::Catch).unwrap();
    assert_eq!(own.from, own.to);
    assert!(own.points.iter().all(|p| p.x >= work.x + work.width - 0.05));
    let labels: Vec<&str> = layout.edges.iter().filter_map(|e| e.label.as_deref()).collect();
    assert!(labels.contains(&"$.done == true") && labels.contains(&"Default"), "{labels:?}");
}

#[test]
fn cycles_without_a_way_out_terminate_too() {
    let definition = json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "B"},
            "B": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Pass", "Next": "A"},
            "Orphan": {"Type": "Pass", "Next": "Orphan"}
        }
    });
    let layout = layout(&definition).unwrap();
    check_geometry(&layout);
    assert_eq!(layout.all_nodes().len(), 6);
}

#[test]
fn parallel_and_map_boxes_hold_their_branches_side_by_side() {
    let branch =
        |name: &str| json!({"StartAt": name, "States": {name: {"Type": "Pass", "End": true}}});
    let definition = json!({
        "StartAt": "Fan out",
        "States": {
            "Fan out": {"Type": "Parallel", "Branches": [branch("Left"), branch("Middle"), branch("Right")],
                        "Next": "Each"},
            "Each": {"Type": "Map", "ItemsPath": "$.items",
                     "ItemProcessor": {"StartAt": "One", "States": {
                         "One": {"Type": "Pass", "Next": "Inner"},
                         "Inner": {"Type": "Parallel", "Branches": [branch("Deep")], "End": true}}},
                     "End": true}
        }
    });
    let layout = layout(&definition).unwrap();
    check_geometry(&layout);
    let fan = node(&layout, "Fan out");
    assert_eq!(fan.clusters.len(), 3);
    let lefts: Vec<f64> = fan.clusters.iter().map(|c| c.x).collect();
    assert!(lefts.windows(2).all(|w| w[0] < w[1]), "side by side: {lefts:?}");
    assert!(fan.clusters.iter().all(|c| c.y == fan.clusters[0].y));
    let each = node(&layout, "Each");
    assert_eq!(each.clusters.len(), 1);
    assert_eq!(each.clusters[0].label, "Item processor");
    assert_eq!(each.detail.as_deref(), Some("$.items"));
    let inner = node(&layout, "Inner");
    let deep = node(&layout, "Deep");
    assert!(deep.x >= inner.x && deep.x + deep.width <= inner.x + inner.width);
    assert!(deep.y >= inner.y && deep.y + deep.height <= inner.y + inner.height);
    assert!(inner.x >= each.x && inner.y + inner.height <= each.y + each.height);
    // Nested scopes have no markers and no End edges.
    assert_eq!(layout.all_nodes().iter().filter(|n| n.kind == NodeKind::End).count(), 1);
}

#[test]
fn retries_and_catchers_are_shown() {
    let definition = json!({
        "StartAt": "Call",
        "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                     "Retry": [{"ErrorEquals": ["A"], "MaxAttempts": 5}, {"ErrorEquals": ["B"]}],
                     "Catch": [{"ErrorEquals": ["A", "B"], "Next": "Handle"}],
                     "End": true},
            "Handle": {"Type": "Fail", "Error": "Oops"}
        }
    });
    let layout = layout(&definition).unwrap();
    let call = node(&layout, "Call");
    assert_eq!(call.detail.as_deref(), Some("lambda:invoke"));
    let attempts: Vec<Option<u64>> = call.retry.iter().map(|r| r.max_attempts).collect();
    assert_eq!(attempts, [Some(5), Some(3)]);
    let catch = layout.edges.iter().find(|e| e.kind == EdgeKind::Catch).unwrap();
    assert_eq!(catch.label.as_deref(), Some("A, B"));
    let svg = render_svg(&layout, &Highlight::none());
    assert!(svg.contains("↻ 5/3"));
    assert!(svg.contains("class=\"edge catch\""));
}

#[test]
fn the_same_definition_gives_the_same_bytes() {
    let definition = json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Choice", "Choices": [
                {"Variable": "$.x", "NumericEquals": 1, "Next": "B"},
                {"Variable": "$.x", "NumericEquals": 2, "Next": "C"},
                {"Variable": "$.x", "NumericEquals": 3, "Next": "D"}], "Default": "E"},
            "B": {"Type": "Pass", "Next": "E"},
            "C": {"Type": "Pass", "Next": "A"},
            "D": {"Type": "Parallel", "Branches": [
                {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}], "Next": "E"},
            "E": {"Type": "Succeed"}
        }
    });
    let first = svg(&definition).unwrap();
    for _ in 0..5 {
        // A fresh parse, so nothing is shared with the first run.
        let again: Value = serde_json::from_str(&definition.to_string()).unwrap();
        assert_eq!(svg(&again).unwrap(), first);
    }
}

#[test]
fn names_and_labels_are_escaped() {
    let name = "<script>alert('x')</script> & \"friends\"\u{1}";
    let definition = json!({
        "StartAt": name,
        "States": {
            name: {"Type": "Choice", "Choices": [
                {"Variable": "$.a", "StringEquals": "<&>", "Next": "b&b"}], "Default": "b&b"},
            "b&b": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f<g>", "End": true,
                    "Comment": "a > b"}
        }
    });
    let svg = svg(&definition).unwrap();
    assert!(!svg.contains("<script>"));
    assert!(!svg.contains('\u{1}'));
    assert!(svg.contains("data-state=\"&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;friends&quot;\u{fffd}\""));
    assert!(svg.contains("data-state=\"b&amp;b\""));
    assert!(svg.contains("$.a == &quot;&lt;&amp;&gt;&quot;"));
    assert!(svg.contains("f&lt;g&gt;"));
    // Every `&` starts an entity, and no `<` opens anything but our own elements.
    for (i, _) in svg.match_indices('&') {
        let rest = &svg[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"].iter().any(|e| rest.starts_with(e)),
            "bare & at {}",
            &svg[i..(i + 10).min(svg.len())]
        );
    }
    let tags: std::collections::BTreeSet<&str> = svg
        .split('<')
        .skip(1)
        .map(|t| t.split([' ', '>', '/']).find(|s| !s.is_empty()).unwrap_or(""))
        .collect();
    let ours = ["defs", "g", "marker", "path", "rect", "style", "svg", "text", "title"];
    assert!(tags.iter().all(|t| ours.contains(t)), "{tags:?}");
}

#[test]
fn a_missing_target_is_drawn_as_a_placeholder_with_a_warning() {
    let definition = json!({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Next": "Nowhere"},
            "B": {"Type": "Task", "Resource": "x", "Catch": [{"ErrorEquals": ["E"], "Next": "Nowhere"}], "End": true},
            "C": {"Type": "Teleport", "End": true}
        }
    });
    let layout = layout(&definition).unwrap();
    check_geometry(&layout);
    let missing: Vec<&Node> = layout.nodes.iter().filter(|n| n.kind == NodeKind::Missing).collect();
    assert_eq!(missing.len(), 1, "one placeholder per missing name");
    assert_eq!(missing[0].name, "Nowhere");
    assert_eq!(
        layout.warnings,
        [
            "state \"C\" has an unknown Type \"Teleport\"",
            "A.Next names a state that does not exist: \"Nowhere\"",
            "B.Catch names a state that does not exist: \"Nowhere\"",
        ]
    );
    let svg = render_svg(&layout, &Highlight::none());
    assert!(svg.contains("class=\"state missing\" data-state=\"Nowhere\""));
}

#[test]
fn only_documents_that_are_not_state_machines_are_errors() {
    assert_eq!(layout(&json!([1])), Err(Error::NotAnObject));
    assert_eq!(layout(&json!({"StartAt": "A"})), Err(Error::NoStates));
    assert_eq!(layout(&json!({"States": []})), Err(Error::NoStates));
    // Odd but drawable.
    let odd = [
        json!({"States": {}}),
        json!({"StartAt": 7, "States": {"A": 1, "B": {"Type": 2, "Next": ["x"]}}}),
        json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "Branches": [1, {}, {"States": 3}], "End": true}}}),
        json!({"StartAt": "M", "States": {"M": {"Type": "Map", "End": true}}}),
        json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Next": "C"}, 3], "Default": "C"}}}),
    ];
    for definition in odd {
        let layout = layout(&definition).unwrap();
        check_geometry(&layout);
        render_svg(&layout, &Highlight::none());
    }
}

#[test]
fn highlight_marks_states_and_dims_the_rest() {
    let definition = chain(3);
    let layout = layout(&definition).unwrap();
    let plain = render_svg(&layout, &Highlight::default());
    assert!(plain.contains("class=\"baton-graph\""));
    let mut highlight = Highlight::none();
    highlight.set("S0", Status::Succeeded).set("S1", Status::Failed);
    let marked = render_svg(&layout, &highlight);
    assert!(marked.contains("class=\"baton-graph highlighted\""));
    assert!(marked.contains("class=\"state pass succeeded\" data-state=\"S0\""));
    assert!(marked.contains("class=\"state pass failed\" data-state=\"S1\""));
    assert!(marked.contains("class=\"state pass\" data-state=\"S2\""));
    let running: Highlight = [("S2", Status::Running)].into_iter().collect();
    assert!(render_svg(&layout, &running).contains("class=\"state pass running\""));
    let ends: Highlight = [("S0", Status::Caught), ("S1", Status::Aborted)].into_iter().collect();
    let ends = render_svg(&layout, &ends);
    assert!(ends.contains("class=\"state pass caught\" data-state=\"S0\""));
    assert!(ends.contains("class=\"state pass aborted\" data-state=\"S1\""));
}

#[test]
fn the_layout_serialises_for_the_web_console() {
    let layout = layout(&chain(2)).unwrap();
    let value = serde_json::to_value(&layout).unwrap();
    assert_eq!(value["nodes"][0]["kind"], "start");
    assert_eq!(value["nodes"][1]["type"], "Pass");
    assert_eq!(value["edges"][0]["kind"], "start");
    assert!(value["edges"][0]["points"][0]["x"].is_number());
}

/// A chain of `n` Tasks, each catching into one handler after the last.
fn catching_chain(n: usize) -> Value {
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let next = if i + 1 < n { json!(format!("S{}", i + 1)) } else { json!("Handler") };
        states.insert(
            format!("S{i}"),
            json!({"Type": "Task", "Resource": "r", "Next": next,
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handler"}]}),
        );
    }
    states.insert("Handler".into(), json!({"Type": "Fail"}));
    json!({"StartAt": "S0", "States": states})
}

#[test]
fn a_machine_too_big_for_dummies_still_lays_out_with_every_edge() {
    // Some 640 000 dummies: the longest catch edges are drawn directly.
    let definition = catching_chain(800);
    let started = std::time::Instant::now();
    let layout = layout(&definition).unwrap();
    assert!(started.elapsed().as_secs() < 30, "took {:?}", started.elapsed());
    check_geometry(&layout);
    assert_eq!(layout.edges.len(), 1 + 800 + 800 + 1);
}

#[test]
fn wide_and_big_machines_lay_out_quickly() {
    // A Choice with many rules, a long chain whose every state can fail to one handler.
    let mut states = serde_json::Map::new();
    let rules: Vec<Value> = (0..60)
        .map(|i| json!({"Variable": "$.n", "NumericEquals": i, "Next": format!("S{}", i * 5)}))
        .collect();
    states
        .insert("Route".into(), json!({"Type": "Choice", "Choices": rules, "Default": "Handler"}));
    for i in 0..300 {
        let next = if i + 1 < 300 { json!(format!("S{}", i + 1)) } else { json!("Handler") };
        states.insert(
            format!("S{i}"),
            json!({"Type": "Task", "Resource": "r", "Next": next,
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handler"}]}),
        );
    }
    states.insert("Handler".into(), json!({"Type": "Fail"}));
    let definition = json!({"StartAt": "Route", "States": states});
    let started = std::time::Instant::now();
    let layout = layout(&definition).unwrap();
    check_geometry(&layout);
    assert!(started.elapsed().as_secs() < 20, "took {:?}", started.elapsed());
}

/// The ASL conformance corpus (`../shared/conformance/asl/cases`, or `ASL_CORPUS_DIR`).
fn corpus_dir() -> std::path::PathBuf {
    std::env::var_os("ASL_CORPUS_DIR").map(Into::into).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/conformance/asl/cases").into()
    })
}

#[test]
fn every_corpus_definition_is_drawn_with_all_its_states() {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("note: no ASL corpus at {}; skipping", dir.display());
        return;
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut drawn = 0;
    for file in &files {
        let case: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let definition = match &case["definition"] {
            // A few cases hold the definition as text, valid JSON or not.
            Value::String(text) => match serde_json::from_str(text) {
                Ok(v) => v,
                Err(_) => continue,
            },
            other => other.clone(),
        };
        let states = definition.get("States").and_then(Value::as_object);
        let layout = match (layout(&definition), states) {
            (Ok(layout), Some(_)) => layout,
            (Err(_), None) => continue,
            (result, _) => panic!("{}: {result:?}", file.display()),
        };
        check_geometry(&layout);
        let svg = render_svg(&layout, &Highlight::none());
        for name in states.into_iter().flat_map(|s| s.keys()) {
            let attribute = format!("data-state=\"{}\"", crate::text::escape(name));
            assert!(svg.contains(&attribute), "{}: state {name:?} is not drawn", file.display());
        }
        drawn += 1;
    }
    assert!(drawn > 800, "only {drawn} of {} definitions drawn", files.len());
}
