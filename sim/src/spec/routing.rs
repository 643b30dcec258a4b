//! Routes: the path of every ordered chiplet pair, computed once when a spec
//! is read and kept in a [`RouteTable`]. Shortest path (fewest hops, ties to
//! the lexicographically smallest chip sequence), dimension-ordered XY over
//! grid positions, and explicit tables with an optional shortest-path
//! fallback. The functions here compute; `read.rs` turns their failures into
//! diagnostics at the `[routing]` table.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

use super::{Chiplet, ChipletId, Link, LinkId, Routing};

/// All-pairs routes as link sequences.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteTable {
    n_chiplets: usize,
    paths: Vec<Vec<LinkId>>,
}

impl RouteTable {
    /// Links from `src` to `dst` in order (empty when `src == dst`).
    pub fn path(&self, src: ChipletId, dst: ChipletId) -> &[LinkId] {
        &self.paths[src.idx() * self.n_chiplets + dst.idx()]
    }

    /// The most links on any route.
    pub fn n_chiplets(&self) -> usize {
        self.n_chiplets
    }

    pub fn max_hops(&self) -> usize {
        self.paths.iter().map(Vec::len).max().unwrap_or(0)
    }

    /// A table from `paths`, indexed `src * n_chiplets + dst`.
    pub(super) fn new(n_chiplets: usize, paths: Vec<Vec<LinkId>>) -> RouteTable {
        debug_assert_eq!(paths.len(), n_chiplets * n_chiplets);
        RouteTable { n_chiplets, paths }
    }
}

/// The validated chiplets and links that routes are computed over.
#[derive(Clone, Copy)]
pub(super) struct Net<'a> {
    pub chiplets: &'a [Chiplet],
    pub links: &'a [Link],
}

/// Adjacency: for each chip, (neighbour, link) sorted by neighbour id.
fn adjacency(links: &[Link], n: usize) -> Vec<Vec<(usize, LinkId)>> {
    let mut adj = vec![Vec::new(); n];
    for l in links {
        adj[l.from.idx()].push((l.to.idx(), l.id));
    }
    // `links` is sorted by (from, to), so each list is already sorted.
    adj
}

/// Hop distances to `dst` from every chip (reverse BFS); `usize::MAX` if unreachable.
fn distances_to(dst: usize, links: &[Link], n: usize) -> Vec<usize> {
    let mut rev = vec![Vec::new(); n];
    for l in links {
        rev[l.to.idx()].push(l.from.idx());
    }
    let mut dist = vec![usize::MAX; n];
    dist[dst] = 0;
    let mut queue = VecDeque::from([dst]);
    while let Some(v) = queue.pop_front() {
        for &u in &rev[v] {
            if dist[u] == usize::MAX {
                dist[u] = dist[v] + 1;
                queue.push_back(u);
            }
        }
    }
    dist
}

/// Shortest-hop routes for every pair, ties broken toward the lexicographically
/// smallest chip sequence: walking greedily to the smallest-id neighbour that is
/// one hop closer gives exactly that sequence. `None` for unreachable pairs.
pub(super) fn shortest_paths(links: &[Link], n: usize) -> Vec<Option<Vec<LinkId>>> {
    let adj = adjacency(links, n);
    let mut out = vec![None; n * n];
    for dst in 0..n {
        let dist = distances_to(dst, links, n);
        for src in 0..n {
            if dist[src] == usize::MAX {
                continue;
            }
            let mut path = Vec::with_capacity(dist[src]);
            let mut v = src;
            while v != dst {
                let &(next, link) = adj[v]
                    .iter()
                    .find(|(u, _)| dist[*u] == dist[v] - 1)
                    .expect("a closer neighbour exists on a shortest path");
                path.push(link);
                v = next;
            }
            out[src * n + dst] = Some(path);
        }
    }
    out
}

/// For each destination that some chiplet cannot reach, the destination and
/// the chiplets it cannot be reached from (ascending).
pub(super) fn unreachable(paths: &[Option<Vec<LinkId>>], n: usize) -> Vec<(usize, Vec<usize>)> {
    (0..n)
        .filter_map(|dst| {
            let from: Vec<usize> = (0..n)
                .filter(|&src| paths[src * n + dst].is_none())
                .collect();
            (!from.is_empty()).then_some((dst, from))
        })
        .collect()
}

/// Why XY routing cannot route a package.
pub(super) enum XyFailure {
    /// These chiplets have no grid position.
    Unplaced(Vec<ChipletId>),
    /// One message per chiplet pair that no chain of links joins along a dimension.
    Unroutable(Vec<String>),
}

/// Dimension-ordered routes over chiplet positions `[row, col]`: first in x
/// (the column index changes: the route moves within its row), then in y (the
/// row index changes: the route moves within the destination's column). On a
/// torus each dimension takes its shorter direction (ties: increasing).
pub(super) fn xy_routes(net: Net<'_>) -> Result<Vec<Vec<LinkId>>, XyFailure> {
    let Net { chiplets, links } = net;
    let n = chiplets.len();
    let missing: Vec<ChipletId> = chiplets
        .iter()
        .filter(|c| c.position.is_none())
        .map(|c| c.id)
        .collect();
    if !missing.is_empty() {
        return Err(XyFailure::Unplaced(missing));
    }
    let at: BTreeMap<[u32; 2], usize> = chiplets
        .iter()
        .map(|c| (c.position.expect("checked above"), c.id.idx()))
        .collect();
    let rows = at.keys().map(|p| p[0]).max().unwrap_or(0) as i64 + 1;
    let cols = at.keys().map(|p| p[1]).max().unwrap_or(0) as i64 + 1;
    let link_between: BTreeMap<(usize, usize), LinkId> = links
        .iter()
        .map(|l| ((l.from.idx(), l.to.idx()), l.id))
        .collect();
    // Walk one dimension from `pos` toward `target` in direction `dir`, wrapping
    // at the grid edge; `None` if a needed chip or link is missing.
    let walk =
        |pos: [u32; 2], target: u32, dim: usize, dir: i64| -> Option<(Vec<LinkId>, [u32; 2])> {
            let size = if dim == 0 { rows } else { cols };
            let mut here = pos;
            let mut path = Vec::new();
            while here[dim] != target {
                let mut next = here;
                next[dim] = (here[dim] as i64 + dir).rem_euclid(size) as u32;
                let a = *at.get(&here)?;
                let b = *at.get(&next)?;
                path.push(*link_between.get(&(a, b))?);
                here = next;
                if path.len() as i64 > size {
                    return None;
                }
            }
            Some((path, here))
        };
    let mut paths = vec![Vec::new(); n * n];
    let mut problems = Vec::new();
    for src in chiplets {
        for dst in chiplets {
            if src.id == dst.id {
                continue;
            }
            let mut here = src.position.expect("checked");
            let goal = dst.position.expect("checked");
            let mut path = Vec::new();
            // x (dimension 1, the column index) first, then y (dimension 0, the row index).
            for dim in [1, 0] {
                let plus = walk(here, goal[dim], dim, 1);
                let minus = walk(here, goal[dim], dim, -1);
                let best = match (plus, minus) {
                    (Some(p), Some(m)) => Some(if m.0.len() < p.0.len() { m } else { p }),
                    (p, m) => p.or(m),
                };
                match best {
                    Some((segment, end)) => {
                        path.extend(segment);
                        here = end;
                    }
                    None => {
                        let along = if dim == 1 {
                            format!("in x (within row {}, changing the column)", here[0])
                        } else {
                            format!("in y (within column {}, changing the row)", here[1])
                        };
                        problems.push(format!(
                            "xy routing from chiplet {} at {:?} to chiplet {} at {goal:?}: no chain of links {along} from {here:?}",
                            src.id,
                            src.position.expect("checked"),
                            dst.id,
                        ));
                        break;
                    }
                }
            }
            paths[src.id.idx() * n + dst.id.idx()] = path;
        }
    }
    if problems.is_empty() {
        Ok(paths)
    } else {
        Err(XyFailure::Unroutable(problems))
    }
}

/// Explicit routes of `kind = "table"`, keyed by (first, last) chiplet.
pub(super) type ExplicitRoutes = BTreeMap<(u64, u64), (Vec<LinkId>, Vec<ChipletId>)>;

/// Routes for every pair under `kind = "table"`: the listed route, else (with
/// the fallback) the shortest path. `Err` lists the pairs left without a
/// route, as `"src→dst"`.
pub(super) fn table_paths(
    net: Net<'_>,
    fallback: bool,
    explicit: ExplicitRoutes,
) -> Result<(Routing, Vec<Vec<LinkId>>), Vec<String>> {
    let n = net.chiplets.len();
    let shortest = shortest_paths(net.links, n);
    let mut paths = vec![Vec::new(); n * n];
    let mut unrouted = Vec::new();
    for src in 0..n {
        for dst in 0..n {
            if src == dst {
                continue;
            }
            let i = src * n + dst;
            match explicit.get(&(src as u64, dst as u64)) {
                Some((p, _)) => paths[i] = p.clone(),
                None if fallback => match &shortest[i] {
                    Some(p) => paths[i] = p.clone(),
                    None => unrouted.push(format!("{src}→{dst}")),
                },
                None => unrouted.push(format!("{src}→{dst}")),
            }
        }
    }
    if !unrouted.is_empty() {
        return Err(unrouted);
    }
    let routes = explicit.into_values().map(|(_, chips)| chips).collect();
    Ok((
        Routing::Table {
            routes,
            fallback_shortest_path: fallback,
        },
        paths,
    ))
}
