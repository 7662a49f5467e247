//! A layered (Sugiyama-style) layout of one graph of boxes, top to bottom.
//!
//! 1. **Cycles.** A depth-first search from the first node (then from every node not yet
//!    seen, in order) finds the back edges; they are reversed for ranking and drawn on the
//!    side. Self loops are set aside and drawn as small loops on a node's right.
//! 2. **Ranks.** The longest path from the sources, doubled: nodes sit on even ranks and the
//!    odd ranks between them hold the edges' bends and labels (as dagre does), so two
//!    edges between the same nodes, or an edge and its way back, get separate routes.
//! 3. **Dummies.** An edge becomes a chain of dummy items, one per rank it crosses. A back
//!    edge also gets a dummy beside each end, kept right of its node with no other node in
//!    between, so it leaves the source by its right side, runs up a column and enters the
//!    target by its right side. (Past a budget of dummies, the longest edges are drawn
//!    directly instead, so huge machines stay cheap.)
//! 4. **Order.** Barycenter sweeps down and up the layers; the order with the fewest
//!    crossings wins.
//! 5. **Coordinates.** Sweeps that pull each item towards the weighted mean of its
//!    neighbours (long edges pull hardest, so they run straight), each layer solved exactly
//!    under its separation constraints as an isotonic regression (pool adjacent violators);
//!    then each edge's dummies are lined up in one column where there is room. Ranks are
//!    as tall as their tallest item, and nodes hang from their rank's top; the gap between
//!    two ranks grows with the horizontal distance its edges cover, so steep fans stay
//!    legible.
//!
//! Everything is deterministic: ties keep the earlier order, and no hash map is iterated.

use std::collections::VecDeque;

/// The horizontal gap between two nodes of a layer.
const NODE_GAP: f64 = 28.0;
/// The horizontal gap next to an edge's dummy.
const DUMMY_GAP: f64 = 14.0;
/// The least vertical gap between two ranks.
const RANK_GAP: f64 = 14.0;
/// The most vertical gap between two ranks.
const MAX_RANK_GAP: f64 = 56.0;
/// The least height of an odd rank, the one edges cross between two ranks of nodes.
const EDGE_RANK: f64 = 16.0;
/// The distance between the ports of edges that share a side of a node.
const PORT_STEP: f64 = 14.0;
/// How far a self loop reaches out of its node.
const LOOP_REACH: f64 = 20.0;
/// Sweeps of crossing reduction, each one down and one up.
const ORDER_ROUNDS: usize = 6;
/// Sweeps of coordinate assignment.
const PLACE_ROUNDS: usize = 16;
/// The most dummies a graph gets. Beyond it (thousands of states with long edges, such as
/// every state catching into one handler) the longest edges are drawn directly, so time
/// and memory stay bounded.
const MAX_DUMMIES: usize = 200_000;

/// A box to place.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Block {
    pub(crate) width: f64,
    pub(crate) height: f64,
    /// How far from its centre along the top and bottom edges may start or end (shapes
    /// with slanted sides have less room).
    pub(crate) spread: f64,
}

/// An edge between two blocks, with the size of its label, if it has one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) label: Option<(f64, f64)>,
}

/// Where everything went, with the origin at the top left of the graph's bounding box.
#[derive(Debug, Clone)]
pub(crate) struct Placement {
    /// The top left corner of each block.
    pub(crate) blocks: Vec<(f64, f64)>,
    /// One route per link, in the links' order.
    pub(crate) routes: Vec<Route>,
    pub(crate) width: f64,
    pub(crate) height: f64,
}

/// The polyline an edge follows, from its source to its target.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) points: Vec<(f64, f64)>,
    /// The centre of the label, on the route.
    pub(crate) label: Option<(f64, f64)>,
    /// Whether the edge goes back up (a cycle), drawn on the side.
    pub(crate) back: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Node(usize),
    Dummy,
    /// A back edge's dummy beside its `owner`; `span` orders several beside one node (the
    /// shorter nearer).
    Side {
        owner: usize,
        span: usize,
    },
}

#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    rank: usize,
    /// The width the item takes in its layer.
    width: f64,
    height: f64,
}

/// Places `blocks` and routes `links`. `first` is drawn alone on top (the Start marker),
/// `last` alone at the bottom (the End marker).
pub(crate) fn place(
    blocks: &[Block],
    links: &[Link],
    first: Option<usize>,
    last: Option<usize>,
) -> Placement {
    let n = blocks.len();
    if n == 0 {
        return Placement { blocks: Vec::new(), routes: Vec::new(), width: 0.0, height: 0.0 };
    }

    // Self loops widen their node on both sides, so its centre stays where edges expect it.
    let mut loops: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (l, link) in links.iter().enumerate() {
        if link.from == link.to && link.from < n {
            loops[link.from].push(l);
        }
    }
    let reach = |k: usize| LOOP_REACH + 10.0 * k as f64;
    let ext: Vec<f64> = loops
        .iter()
        .map(|ls| {
            ls.iter()
                .enumerate()
                .map(|(k, &l)| reach(k) + links[l].label.map_or(0.0, |(w, _)| w + 6.0) + 6.0)
                .fold(0.0, f64::max)
        })
        .collect();

    let (back, discovery) = back_edges(n, links, first);
    let rank = ranks(n, links, &back, first, last);

    // Items: the blocks, then each link's dummies.
    let mut items: Vec<Item> = (0..n)
        .map(|i| Item {
            kind: Kind::Node(i),
            rank: rank[i],
            width: blocks[i].width + 2.0 * ext[i],
            height: blocks[i].height,
        })
        .collect();
    let direct = over_budget(links, &rank, &back, n);
    let mut chains: Vec<Vec<usize>> = vec![Vec::new(); links.len()];
    let mut label_item: Vec<Option<usize>> = vec![None; links.len()];
    let mut up: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    let mut down: Vec<Vec<(usize, f64)>> = vec![Vec::new(); n];
    for (l, link) in links.iter().enumerate() {
        if link.from == link.to || link.from >= n || link.to >= n || direct[l] {
            continue;
        }
        let (top, bottom) = if back[l] { (link.to, link.from) } else { (link.from, link.to) };
        let (rt, rb) = (rank[top], rank[bottom]);
        let span = rb - rt;
        let mut push = |kind, rank, width, height| {
            items.push(Item { kind, rank, width, height });
            up.push(Vec::new());
            down.push(Vec::new());
            items.len() - 1
        };
        let mut chain = vec![top];
        if back[l] {
            chain.push(push(Kind::Side { owner: top, span }, rt, 0.0, 0.0));
        }
        for r in rt + 1..rb {
            let labelled = if back[l] { r == rb - 1 } else { r == rt + 1 };
            let (w, h) = if labelled { link.label.unwrap_or((0.0, 0.0)) } else { (0.0, 0.0) };
            let d = push(Kind::Dummy, r, w, h);
            if labelled && link.label.is_some() {
                label_item[l] = Some(d);
            }
            chain.push(d);
        }
        if back[l] {
            chain.push(push(Kind::Side { owner: bottom, span }, rb, 0.0, 0.0));
        }
        chain.push(bottom);
        for pair in chain.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if items[a].rank + 1 != items[b].rank {
                continue; // A side dummy and its owner share a rank.
            }
            let dummies =
                [a, b].into_iter().filter(|&i| !matches!(items[i].kind, Kind::Node(_))).count();
            let weight = [1.0, 2.0, 8.0][dummies];
            down[a].push((b, weight));
            up[b].push((a, weight));
        }
        chains[l] = chain;
    }

    let layers = order(&items, &up, &down, &discovery, first);
    let mut x = coordinates(&items, &layers, &up, &down);
    straighten(&items, &layers, &chains, &back, &mut x);
    let (top, height) = rank_heights(&items, &layers, &x, &down);
    // Nodes hang from the top of their rank (beside a tall Parallel, a state lines up with
    // its title); dummies sit in the middle.
    let center = |i: usize| match items[i].kind {
        Kind::Node(_) => top[items[i].rank] + items[i].height / 2.0,
        _ => top[items[i].rank] + height[items[i].rank] / 2.0,
    };

    // Normalise so the leftmost item starts at 0.
    let left = (0..items.len()).map(|i| x[i] - items[i].width / 2.0).fold(f64::INFINITY, f64::min);
    let x: Vec<f64> = x.iter().map(|v| v - left).collect();
    let width = (0..items.len()).map(|i| x[i] + items[i].width / 2.0).fold(0.0, f64::max);
    let total_height = top.last().copied().unwrap_or(0.0) + height.last().copied().unwrap_or(0.0);

    let block_top = |b: usize| center(b) - blocks[b].height / 2.0;
    let block_bottom = |b: usize| center(b) + blocks[b].height / 2.0;
    let block_right = |b: usize| x[b] + blocks[b].width / 2.0;

    // Ports. Edges leaving a block's bottom (or entering its top) are spread along it in the
    // order of where they go (come from); back edges spread along its right side.
    let mut out_port = vec![0.0; links.len()];
    let mut in_port = vec![0.0; links.len()];
    let mut side_port_out = vec![0.0; links.len()];
    let mut side_port_in = vec![0.0; links.len()];
    let mut outs: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
    let mut ins: Vec<Vec<(f64, usize)>> = vec![Vec::new(); n];
    let mut sides: Vec<Vec<(usize, bool)>> = vec![Vec::new(); n];
    for (l, chain) in chains.iter().enumerate() {
        if chain.is_empty() {
            continue;
        }
        if back[l] {
            sides[links[l].from].push((l, true));
            sides[links[l].to].push((l, false));
        } else {
            outs[chain[0]].push((x[chain[1]], l));
            ins[chain[chain.len() - 1]].push((x[chain[chain.len() - 2]], l));
        }
    }
    for b in 0..n {
        let spread = |list: &mut Vec<(f64, usize)>, port: &mut Vec<f64>| {
            list.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let k = list.len();
            let step =
                if k > 1 { PORT_STEP.min(2.0 * blocks[b].spread / (k - 1) as f64) } else { 0.0 };
            for (i, &(_, l)) in list.iter().enumerate() {
                port[l] = x[b] + (i as f64 - (k as f64 - 1.0) / 2.0) * step;
            }
        };
        spread(&mut outs[b], &mut out_port);
        spread(&mut ins[b], &mut in_port);
        let k = sides[b].len();
        let room = (blocks[b].height / 2.0 - 4.0).max(0.0);
        let step = if k > 1 { 8.0f64.min(2.0 * room / (k - 1) as f64) } else { 0.0 };
        for (i, &(l, is_out)) in sides[b].iter().enumerate() {
            let y = center(b) + (i as f64 - (k as f64 - 1.0) / 2.0) * step;
            if is_out {
                side_port_out[l] = y;
            } else {
                side_port_in[l] = y;
            }
        }
    }

    let through = |d: usize, upward: bool, points: &mut Vec<(f64, f64)>| {
        let r = items[d].rank;
        if r % 2 == 1 {
            points.push((x[d], center(d)));
        } else {
            let (a, b) = (top[r], top[r] + height[r]);
            let (a, b) = if upward { (b, a) } else { (a, b) };
            points.push((x[d], a));
            points.push((x[d], b));
        }
    };

    let mut loop_count = vec![0usize; n];
    let routes: Vec<Route> = links
        .iter()
        .enumerate()
        .map(|(l, link)| {
            let label_at = label_item[l].map(|d| (x[d], center(d)));
            let chain = &chains[l];
            if link.from == link.to && link.from < n {
                let b = link.from;
                let k = loop_count[b];
                loop_count[b] += 1;
                let (right, cy) = (block_right(b), center(b));
                let (dx, dy) = (reach(k), 9.0 + 3.0 * k as f64);
                let points = vec![
                    (right, cy - dy),
                    (right + dx, cy - dy),
                    (right + dx, cy + dy),
                    (right, cy + dy),
                ];
                let label = link.label.map(|(w, _)| (right + dx + 4.0 + w / 2.0, cy));
                return Route { points, label, back: false };
            }
            if chain.is_empty() {
                // Over the budget of dummies: straight down, or back up along the far right.
                let (u, v) = (link.from, link.to);
                let points = if back[l] {
                    let (right, aside) = (block_right(u), width + LOOP_REACH);
                    vec![
                        (right, center(u)),
                        (aside, center(u)),
                        (aside, center(v)),
                        (block_right(v), center(v)),
                    ]
                } else {
                    vec![(x[u], block_bottom(u)), (x[v], block_top(v))]
                };
                return Route { points, label: None, back: back[l] };
            }
            let mut points = Vec::new();
            if back[l] {
                let (u, v) = (link.from, link.to);
                let (su, sv) = (chain[chain.len() - 2], chain[1]);
                points.push((block_right(u), side_port_out[l]));
                points.push((x[su], side_port_out[l]));
                for &d in chain[2..chain.len() - 2].iter().rev() {
                    through(d, true, &mut points);
                }
                points.push((x[sv], side_port_in[l]));
                points.push((block_right(v), side_port_in[l]));
            } else {
                points.push((out_port[l], block_bottom(link.from)));
                // Beside a taller node, drop straight to the bottom of the rank first.
                let r = rank[link.from];
                if top[r] + height[r] > block_bottom(link.from) + 0.5 {
                    points.push((out_port[l], top[r] + height[r]));
                }
                for &d in &chain[1..chain.len() - 1] {
                    through(d, false, &mut points);
                }
                points.push((in_port[l], block_top(link.to)));
            }
            Route { points, label: label_at, back: back[l] }
        })
        .collect();

    // Routes drawn directly run outside the items.
    let width = routes.iter().flat_map(|r: &Route| &r.points).map(|p| p.0).fold(width, f64::max);
    Placement {
        blocks: (0..n).map(|b| (x[b] - blocks[b].width / 2.0, block_top(b))).collect(),
        routes,
        width,
        height: total_height,
    }
}

/// Which links to draw without dummies: none, unless their dummies would exceed
/// [`MAX_DUMMIES`]; then the longest, until the rest fit.
fn over_budget(links: &[Link], rank: &[usize], back: &[bool], n: usize) -> Vec<bool> {
    let dummies = |l: usize| {
        let link = links[l];
        if link.from == link.to || link.from >= n || link.to >= n {
            return 0;
        }
        rank[link.from].abs_diff(rank[link.to]) - 1 + if back[l] { 2 } else { 0 }
    };
    let mut total: usize = (0..links.len()).map(dummies).sum();
    let mut direct = vec![false; links.len()];
    let mut longest: Vec<usize> = (0..links.len()).collect();
    longest.sort_by_key(|&l| (std::cmp::Reverse(dummies(l)), l));
    for l in longest {
        if total <= MAX_DUMMIES {
            break;
        }
        total -= dummies(l);
        direct[l] = true;
    }
    direct
}

/// The links that close cycles, found by a depth-first search from `first` and then from
/// every node not yet seen, and the order in which the search discovered the nodes.
fn back_edges(n: usize, links: &[Link], first: Option<usize>) -> (Vec<bool>, Vec<usize>) {
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (l, link) in links.iter().enumerate() {
        if link.from != link.to && link.from < n && link.to < n {
            out[link.from].push((l, link.to));
        }
    }
    #[derive(Clone, Copy, PartialEq)]
    enum Seen {
        No,
        OnStack,
        Done,
    }
    let mut seen = vec![Seen::No; n];
    let mut back = vec![false; links.len()];
    let mut discovery = vec![0; n];
    let mut count = 0;
    for root in first.into_iter().chain(0..n) {
        if seen[root] != Seen::No {
            continue;
        }
        seen[root] = Seen::OnStack;
        discovery[root] = count;
        count += 1;
        let mut stack = vec![(root, 0usize)];
        while let Some(top) = stack.last_mut() {
            let (v, i) = *top;
            if let Some(&(l, w)) = out[v].get(i) {
                top.1 += 1;
                match seen[w] {
                    Seen::No => {
                        seen[w] = Seen::OnStack;
                        discovery[w] = count;
                        count += 1;
                        stack.push((w, 0));
                    }
                    Seen::OnStack => back[l] = true,
                    Seen::Done => {}
                }
            } else {
                seen[v] = Seen::Done;
                stack.pop();
            }
        }
    }
    (back, discovery)
}

/// Each node's rank: twice its longest path from a source, with `first` alone on rank 0
/// and `last` alone at the bottom.
fn ranks(
    n: usize,
    links: &[Link],
    back: &[bool],
    first: Option<usize>,
    last: Option<usize>,
) -> Vec<usize> {
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut indegree = vec![0usize; n];
    for (l, link) in links.iter().enumerate() {
        if link.from == link.to || link.from >= n || link.to >= n {
            continue;
        }
        let (a, b) = if back[l] { (link.to, link.from) } else { (link.from, link.to) };
        succ[a].push(b);
        indegree[b] += 1;
    }
    let mut rank = vec![0usize; n];
    let mut queue: VecDeque<usize> = (0..n).filter(|&v| indegree[v] == 0).collect();
    for &v in &queue {
        if first.is_some() && first != Some(v) {
            rank[v] = 1;
        }
    }
    while let Some(v) = queue.pop_front() {
        for &w in &succ[v] {
            rank[w] = rank[w].max(rank[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                queue.push_back(w);
            }
        }
    }
    if let Some(last) = last {
        let deepest = (0..n).filter(|&v| v != last).map(|v| rank[v]).max();
        if let Some(deepest) = deepest {
            rank[last] = rank[last].max(deepest + 1);
        }
    }
    rank.iter().map(|r| 2 * r).collect()
}

/// The layers, each in the order that crosses the fewest edges the sweeps found.
fn order(
    items: &[Item],
    up: &[Vec<(usize, f64)>],
    down: &[Vec<(usize, f64)>],
    discovery: &[usize],
    first: Option<usize>,
) -> Vec<Vec<usize>> {
    let ranks = items.iter().map(|i| i.rank).max().map_or(0, |r| r + 1);
    // The dummies beside each node, nearest first.
    let mut sides: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
    for (i, item) in items.iter().enumerate() {
        if let Kind::Side { owner, .. } = item.kind {
            sides[owner].push(i);
        }
    }
    for list in &mut sides {
        list.sort_by_key(|&i| match items[i].kind {
            Kind::Side { span, .. } => (span, i),
            _ => (0, i),
        });
    }
    // A back edge's side dummy stays right of its node with no other node in between (its
    // horizontal run may cross edges, never boxes); one out of place moves next to its node.
    let keep_sides = |layer: &mut Vec<usize>| {
        let mut fixed: Vec<usize> = Vec::with_capacity(layer.len());
        let mut misplaced: Vec<usize> = Vec::new();
        let mut last_node = None;
        for &i in layer.iter() {
            match items[i].kind {
                Kind::Side { owner, .. } if last_node == Some(owner) => fixed.push(i),
                Kind::Side { .. } => misplaced.push(i),
                Kind::Node(_) => {
                    last_node = Some(i);
                    fixed.push(i);
                }
                Kind::Dummy => fixed.push(i),
            }
        }
        for &i in layer.iter() {
            let Kind::Node(_) = items[i].kind else { continue };
            let at = fixed.iter().position(|&j| j == i).map_or(fixed.len(), |p| p + 1);
            let moved: Vec<usize> =
                sides[i].iter().copied().filter(|s| misplaced.contains(s)).collect();
            fixed.splice(at..at, moved);
        }
        *layer = fixed;
    };

    // First order: a depth-first walk down the chains from the first node, so that a node's
    // successors start out left to right in the order the definition lists them.
    let mut visit = vec![usize::MAX; items.len()];
    let mut count = 0;
    let mut roots: Vec<usize> = (0..items.len()).collect();
    roots.sort_by_key(|&i| match items[i].kind {
        Kind::Node(b) if Some(b) == first => (0, 0, i),
        Kind::Node(b) => (1, discovery[b], i),
        _ => (2, 0, i),
    });
    for root in roots {
        if visit[root] != usize::MAX {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        visit[root] = count;
        count += 1;
        while let Some(top) = stack.last_mut() {
            let (v, i) = *top;
            if let Some(&(w, _)) = down[v].get(i) {
                top.1 += 1;
                if visit[w] == usize::MAX {
                    visit[w] = count;
                    count += 1;
                    stack.push((w, 0));
                }
            } else {
                stack.pop();
            }
        }
    }
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); ranks];
    let mut by_visit: Vec<usize> = (0..items.len()).collect();
    by_visit.sort_by_key(|&i| visit[i]);
    for i in by_visit {
        layers[items[i].rank].push(i);
    }
    for layer in &mut layers {
        keep_sides(layer);
    }

    let mut best = layers.clone();
    let mut best_crossings = crossings(&layers, down, items.len());
    let mut position = vec![0usize; items.len()];
    for _ in 0..ORDER_ROUNDS {
        for downward in [true, false] {
            let sequence: Vec<usize> = if downward {
                (1..ranks).collect()
            } else {
                (0..ranks.saturating_sub(1)).rev().collect()
            };
            for r in sequence {
                let reference = if downward { r - 1 } else { r + 1 };
                for (p, &i) in layers[reference].iter().enumerate() {
                    position[i] = p;
                }
                let neighbours = if downward { up } else { down };
                let mut keyed: Vec<(f64, usize)> = layers[r]
                    .iter()
                    .enumerate()
                    .map(|(p, &i)| {
                        let ns = &neighbours[i];
                        let key = if ns.is_empty() {
                            p as f64
                        } else {
                            ns.iter().map(|&(j, _)| position[j] as f64).sum::<f64>()
                                / ns.len() as f64
                        };
                        (key, i)
                    })
                    .collect();
                keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
                layers[r] = keyed.into_iter().map(|(_, i)| i).collect();
                keep_sides(&mut layers[r]);
            }
            let c = crossings(&layers, down, items.len());
            if c < best_crossings {
                best_crossings = c;
                best = layers.clone();
            }
        }
    }
    best
}

/// How many pairs of edges cross between consecutive layers: for each pair of layers, the
/// inversions among the lower ends of the edges sorted by their upper ends, counted with a
/// Fenwick tree.
fn crossings(layers: &[Vec<usize>], down: &[Vec<(usize, f64)>], count: usize) -> usize {
    let mut position = vec![0usize; count];
    for layer in layers {
        for (p, &i) in layer.iter().enumerate() {
            position[i] = p;
        }
    }
    let mut total = 0;
    for (r, layer) in layers.iter().enumerate() {
        let below = layers.get(r + 1).map_or(0, Vec::len);
        let mut pairs: Vec<(usize, usize)> = layer
            .iter()
            .flat_map(|&i| down[i].iter().map(move |&(j, _)| (i, j)))
            .map(|(i, j)| (position[i], position[j]))
            .collect();
        pairs.sort_unstable();
        // tree[k] counts the lower ends seen so far, by position.
        let mut tree = vec![0usize; below + 1];
        for (seen, &(_, lower)) in pairs.iter().enumerate() {
            // Edges seen so far whose lower end is at or left of this one do not cross it.
            let mut k = lower + 1;
            let mut not_crossing = 0;
            while k > 0 {
                not_crossing += tree[k];
                k &= k - 1;
            }
            total += seen - not_crossing;
            let mut k = lower + 1;
            while k <= below {
                tree[k] += 1;
                k += k & k.wrapping_neg();
            }
        }
    }
    total
}

/// The horizontal centre of every item.
fn coordinates(
    items: &[Item],
    layers: &[Vec<usize>],
    up: &[Vec<(usize, f64)>],
    down: &[Vec<(usize, f64)>],
) -> Vec<f64> {
    let separation = |a: usize, b: usize| separation(items, a, b);
    let mut x = vec![0.0; items.len()];
    for layer in layers.iter() {
        let mut at = 0.0;
        for (p, &i) in layer.iter().enumerate() {
            if p > 0 {
                at += separation(layer[p - 1], i);
            }
            x[i] = at;
        }
    }
    let ranks = layers.len();
    for round in 0..PLACE_ROUNDS {
        // Down, up, ..., and both ways in the last rounds to balance the two.
        let both = round >= PLACE_ROUNDS - 4;
        let downward = round % 2 == 0;
        let sequence: Vec<usize> =
            if downward { (0..ranks).collect() } else { (0..ranks).rev().collect() };
        for r in sequence {
            let layer = &layers[r];
            if layer.is_empty() {
                continue;
            }
            let mut desired = Vec::with_capacity(layer.len());
            let mut weight = Vec::with_capacity(layer.len());
            for &i in layer {
                let mut sum = 0.0;
                let mut total = 0.0;
                let mut pull = |list: &[(usize, f64)]| {
                    for &(j, w) in list {
                        sum += w * x[j];
                        total += w;
                    }
                };
                if both || downward {
                    pull(&up[i]);
                }
                if both || !downward {
                    pull(&down[i]);
                }
                if let Kind::Side { owner, .. } = items[i].kind {
                    // Hug the node it stands beside.
                    sum += 2.0 * (x[owner] + separation(owner, i));
                    total += 2.0;
                }
                if total > 0.0 {
                    desired.push(sum / total);
                    weight.push(total);
                } else {
                    desired.push(x[i]);
                    weight.push(0.05);
                }
            }
            let mut offsets = Vec::with_capacity(layer.len());
            let mut at = 0.0;
            for (p, &i) in layer.iter().enumerate() {
                if p > 0 {
                    at += separation(layer[p - 1], i);
                }
                offsets.push(at);
            }
            let targets: Vec<f64> = desired.iter().zip(&offsets).map(|(d, o)| d - o).collect();
            let fitted = isotonic(&targets, &weight);
            for (p, &i) in layer.iter().enumerate() {
                x[i] = fitted[p] + offsets[p];
            }
        }
    }
    x
}

/// Lines each edge's dummies up in one column where the neighbours leave room. A forward
/// edge prefers the column of its source, when that has no other edge leaving it, or of
/// its target, when that has no other edge entering it (so the edge drops straight and
/// bends once); then its dummies' median, outermost and innermost positions. A back edge
/// prefers its outermost position, beside its nodes.
fn straighten(
    items: &[Item],
    layers: &[Vec<usize>],
    chains: &[Vec<usize>],
    back: &[bool],
    x: &mut [f64],
) {
    let mut slot = vec![(0usize, 0usize); items.len()];
    for (r, layer) in layers.iter().enumerate() {
        for (p, &i) in layer.iter().enumerate() {
            slot[i] = (r, p);
        }
    }
    let mut outs = vec![0usize; items.len()];
    let mut ins = vec![0usize; items.len()];
    for (l, chain) in chains.iter().enumerate() {
        if let (false, Some(&first), Some(&last)) = (back[l], chain.first(), chain.last()) {
            outs[first] += 1;
            ins[last] += 1;
        }
    }
    for (l, chain) in chains.iter().enumerate() {
        if chain.len() < 3 {
            continue;
        }
        let inner = &chain[1..chain.len() - 1];
        let mut xs: Vec<f64> = inner.iter().map(|&i| x[i]).collect();
        xs.sort_by(f64::total_cmp);
        let (low, middle, high) = (xs[0], xs[xs.len() / 2], xs[xs.len() - 1]);
        let (first, last) = (chain[0], chain[chain.len() - 1]);
        let candidates: Vec<f64> = if back[l] {
            vec![high, middle, low]
        } else {
            let source = (outs[first] == 1).then_some(x[first]);
            let target = (ins[last] == 1).then_some(x[last]);
            source.into_iter().chain(target).chain([middle, high, low]).collect()
        };
        let fits = |c: f64| {
            inner.iter().all(|&i| {
                let (r, p) = slot[i];
                let layer = &layers[r];
                let left = p.checked_sub(1).map(|q| layer[q]);
                let right = layer.get(p + 1).copied();
                left.is_none_or(|j| x[j] + separation(items, j, i) <= c + 0.01)
                    && right.is_none_or(|j| c + separation(items, i, j) <= x[j] + 0.01)
            })
        };
        if let Some(c) = candidates.into_iter().find(|&c| fits(c)) {
            for &i in inner {
                x[i] = c;
            }
        }
    }
}

/// The least distance between the centres of two neighbours in a layer.
fn separation(items: &[Item], a: usize, b: usize) -> f64 {
    let gap = match (items[a].kind, items[b].kind) {
        (Kind::Node(_), Kind::Node(_)) => NODE_GAP,
        _ => DUMMY_GAP,
    };
    (items[a].width + items[b].width) / 2.0 + gap
}

/// The non-decreasing sequence closest to `targets` in weighted least squares (the pool
/// adjacent violators algorithm).
fn isotonic(targets: &[f64], weights: &[f64]) -> Vec<f64> {
    // Blocks of pooled values: (weighted sum, total weight, count).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(targets.len());
    for (&t, &w) in targets.iter().zip(weights) {
        blocks.push((t * w, w, 1));
        while blocks.len() > 1 {
            let (s2, w2, c2) = blocks[blocks.len() - 1];
            let (s1, w1, c1) = blocks[blocks.len() - 2];
            if s1 / w1 <= s2 / w2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (s1 + s2, w1 + w2, c1 + c2);
        }
    }
    blocks.iter().flat_map(|&(s, w, c)| std::iter::repeat_n(s / w, c)).collect()
}

/// The top of every rank and its height.
fn rank_heights(
    items: &[Item],
    layers: &[Vec<usize>],
    x: &[f64],
    down: &[Vec<(usize, f64)>],
) -> (Vec<f64>, Vec<f64>) {
    let height: Vec<f64> = layers
        .iter()
        .enumerate()
        .map(|(r, layer)| {
            let tallest = layer.iter().map(|&i| items[i].height).fold(0.0, f64::max);
            if r % 2 == 1 {
                tallest.max(EDGE_RANK)
            } else {
                tallest
            }
        })
        .collect();
    let mut top = Vec::with_capacity(layers.len());
    let mut at = 0.0;
    for (r, layer) in layers.iter().enumerate() {
        top.push(at);
        let widest = layer
            .iter()
            .flat_map(|&i| down[i].iter().map(move |&(j, _)| (x[i] - x[j]).abs()))
            .fold(0.0, f64::max);
        at += height[r] + (widest * 0.25).clamp(RANK_GAP, MAX_RANK_GAP);
    }
    (top, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> Block {
        Block { width: 100.0, height: 40.0, spread: 30.0 }
    }

    fn link(from: usize, to: usize) -> Link {
        Link { from, to, label: None }
    }

    #[test]
    fn crossings_are_counted() {
        // Layer 0: a, b; layer 1: c, d. a-d and b-c cross; a-c and b-c share an end.
        let layers = vec![vec![0, 1], vec![2, 3]];
        let mut down = vec![Vec::new(); 4];
        down[0] = vec![(3, 1.0)];
        down[1] = vec![(2, 1.0)];
        assert_eq!(crossings(&layers, &down, 4), 1);
        down[0] = vec![(2, 1.0), (3, 1.0)];
        assert_eq!(crossings(&layers, &down, 4), 1);
        down[1] = vec![(3, 1.0)];
        assert_eq!(crossings(&layers, &down, 4), 0);
    }

    #[test]
    fn pooling_keeps_order_and_fits_exactly() {
        assert_eq!(isotonic(&[1.0, 2.0, 3.0], &[1.0; 3]), vec![1.0, 2.0, 3.0]);
        assert_eq!(isotonic(&[3.0, 1.0], &[1.0, 1.0]), vec![2.0, 2.0]);
        assert_eq!(isotonic(&[3.0, 1.0], &[3.0, 1.0]), vec![2.5, 2.5]);
    }

    #[test]
    fn a_chain_takes_one_rank_each_and_stays_straight() {
        let blocks = vec![block(); 4];
        let links = [link(0, 1), link(1, 2), link(2, 3)];
        let p = place(&blocks, &links, Some(0), None);
        let ys: Vec<f64> = p.blocks.iter().map(|b| b.1).collect();
        assert!(ys.windows(2).all(|w| w[0] < w[1]), "{ys:?}");
        let xs: Vec<f64> = p.blocks.iter().map(|b| b.0).collect();
        assert!(xs.iter().all(|&x| (x - xs[0]).abs() < 0.01), "{xs:?}");
    }

    #[test]
    fn a_cycle_is_ranked_and_its_back_edge_goes_up_on_the_side() {
        let blocks = vec![block(); 3];
        let links = [link(0, 1), link(1, 2), link(2, 1)];
        let p = place(&blocks, &links, Some(0), None);
        assert!(p.blocks[1].1 < p.blocks[2].1);
        let back = &p.routes[2];
        assert!(back.back);
        let start = back.points[0];
        let end = back.points[back.points.len() - 1];
        assert!(start.1 > end.1, "goes up: {:?}", back.points);
        assert_eq!(start.0, p.blocks[2].0 + 100.0, "leaves by the right side");
    }

    #[test]
    fn sinks_other_than_the_end_do_not_share_its_rank() {
        let blocks = vec![block(); 4];
        let links = [link(0, 1), link(1, 3), link(0, 2)];
        let p = place(&blocks, &links, Some(0), Some(3));
        assert!(p.blocks[3].1 > p.blocks[2].1);
    }
}
