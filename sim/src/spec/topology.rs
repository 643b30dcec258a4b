//! The `[[topology]]` generators: a ring, chain, mesh, torus or all-to-all
//! over some or all chiplets, read from their table, checked (enough
//! chiplets, `rows × cols` equal to the chiplet count, a torus at least 3 × 3)
//! and expanded into explicit directed links and, for grids, chiplet
//! positions. A spec keeps only the expansion; its `topology` string keeps
//! each generator's description.

use std::collections::BTreeSet;

use crate::config::{TableReader, ValueReader};

use super::MAX_CHIPLETS;
use super::read::{Ids, LinkDraft, Placed};

/// A checked generator: its shape over `chips` (each listed once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `chips[i] → chips[i + 1]`, and back when bidirectional; a ring also
    /// joins the last to the first.
    Line { ring: bool, bidirectional: bool },
    /// `chips` row-major on a `rows × cols` grid, neighbours joined both ways;
    /// a torus also joins each row's and column's ends.
    Grid {
        rows: usize,
        cols: usize,
        torus: bool,
    },
    /// Every ordered pair.
    AllToAll,
}

impl Shape {
    /// The generator's `kind` as written in a spec.
    pub fn kind(&self) -> &'static str {
        match self {
            Shape::Line { ring: true, .. } => "ring",
            Shape::Line { ring: false, .. } => "chain",
            Shape::Grid { torus: false, .. } => "mesh",
            Shape::Grid { torus: true, .. } => "torus",
            Shape::AllToAll => "all_to_all",
        }
    }

    /// The description kept in [`super::HwSpec::topology`], e.g.
    /// "bidirectional ring of 4", "mesh 6x6", "all-to-all of 3".
    pub fn describe(&self, k: usize) -> String {
        match *self {
            Shape::Line { bidirectional, .. } => format!(
                "{} {} of {k}",
                if bidirectional {
                    "bidirectional"
                } else {
                    "unidirectional"
                },
                self.kind()
            ),
            Shape::Grid { rows, cols, .. } => format!("{} {rows}x{cols}", self.kind()),
            Shape::AllToAll => format!("all-to-all of {k}"),
        }
    }

    /// Grid position `[row, col]` of each of `chips`, in row-major order;
    /// empty for shapes without a grid.
    pub fn positions(&self, chips: &[u64]) -> Vec<(u64, [u32; 2])> {
        match *self {
            Shape::Grid { cols, .. } => chips
                .iter()
                .enumerate()
                .map(|(i, &c)| (c, [(i / cols) as u32, (i % cols) as u32]))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The directed `(from, to)` chip pairs this shape links, in generation
    /// order.
    pub fn pairs(&self, chips: &[u64]) -> Vec<(u64, u64)> {
        let k = chips.len();
        let mut pairs = Vec::new();
        match *self {
            Shape::Line {
                ring,
                bidirectional,
            } => {
                let m = if ring { k } else { k - 1 };
                for i in 0..m {
                    let (a, b) = (chips[i], chips[(i + 1) % k]);
                    pairs.push((a, b));
                    if bidirectional {
                        pairs.push((b, a));
                    }
                }
            }
            Shape::Grid { rows, cols, torus } => {
                let at = |r: usize, c: usize| chips[r * cols + c];
                for r in 0..rows {
                    for c in 0..cols {
                        let here = at(r, c);
                        let mut neighbours = Vec::new();
                        if c + 1 < cols {
                            neighbours.push(at(r, c + 1));
                        } else if torus {
                            neighbours.push(at(r, 0));
                        }
                        if r + 1 < rows {
                            neighbours.push(at(r + 1, c));
                        } else if torus {
                            neighbours.push(at(0, c));
                        }
                        for nb in neighbours {
                            pairs.push((here, nb));
                            pairs.push((nb, here));
                        }
                    }
                }
            }
            Shape::AllToAll => {
                for &a in chips {
                    for &b in chips {
                        if a != b {
                            pairs.push((a, b));
                        }
                    }
                }
            }
        }
        pairs
    }
}

/// A generator's `chips` list, each id known and listed once; `None` when
/// reported as wrong.
fn read_generator_chips(r: &ValueReader<'_>, ids: Ids) -> Option<Vec<u64>> {
    let list = r.int_array(0, u64::MAX)?;
    let mut seen = BTreeSet::new();
    for &c in &list {
        if let Some(why) = ids.unknown(c) {
            r.error(why);
            return None;
        }
        if !seen.insert(c) {
            r.error(format!("chiplet {c} is listed twice"));
            return None;
        }
    }
    Some(list)
}

/// Reads a `[[topology]]` generator and expands it into link drafts (and grid
/// positions for meshes and tori). Size errors name the key that states the
/// size: `chips` when given, else `kind` (the generator then spans every
/// chiplet); `rows` or `cols` for grids.
pub(super) fn read_generator(
    t: &TableReader<'_>,
    ids: Ids,
    drafts: &mut Vec<LinkDraft>,
    positions: &mut [Option<Placed>],
    desc: &mut Vec<String>,
) {
    const KINDS: &[&str] = &["ring", "chain", "mesh", "torus", "all_to_all"];
    let kind = t.req_word("kind", KINDS);
    let chips_reader = t.opt("chips");
    let (bw, lat, energy) = super::read::read_link_props(t);
    let Some(kind) = kind else {
        // Which other keys belong depends on the kind: accept them all rather
        // than call each one unknown.
        for key in ["bidirectional", "rows", "cols"] {
            t.has(key);
        }
        return;
    };
    let (bidirectional, dims) = match kind.as_str() {
        "ring" | "chain" => (t.req_bool("bidirectional"), None),
        "mesh" | "torus" => (
            Some(true),
            Some((
                t.req_positive_int("rows", MAX_CHIPLETS as u64),
                t.req_positive_int("cols", MAX_CHIPLETS as u64),
            )),
        ),
        _ => (Some(true), None),
    };
    let chips: Vec<u64> = match &chips_reader {
        Some(r) => match read_generator_chips(r, ids) {
            Some(list) => list,
            None => return,
        },
        None => match ids.n {
            Some(n) => (0..n as u64).collect(),
            None => return,
        },
    };
    let k = chips.len();
    let min = if kind == "ring" { 3 } else { 2 };
    if k < min {
        match chips_reader {
            Some(_) => t.error_at(
                "chips",
                format!("a {kind} needs at least {min} chiplets, found {k}"),
            ),
            None => t.error_at(
                "kind",
                format!(
                    "a {kind} needs at least {min} chiplets, found {k} (without `chips` it spans all the package's chiplets)"
                ),
            ),
        }
        return;
    }
    let grid = match dims {
        None => None,
        Some((Some(rows), Some(cols))) => {
            if rows.checked_mul(cols) != Some(k as u64) {
                let product = rows
                    .checked_mul(cols)
                    .map_or("more than 2^64".to_string(), |p| p.to_string());
                let has = if chips_reader.is_some() {
                    format!("`chips` lists {k}")
                } else {
                    format!("the package has {k} chiplets")
                };
                t.error_at(
                    "rows",
                    format!("rows × cols = {rows} × {cols} = {product} but {has}"),
                );
                return;
            }
            if kind == "torus" && (rows < 3 || cols < 3) {
                t.error_at(
                    if rows < 3 { "rows" } else { "cols" },
                    "a torus needs at least 3 rows and 3 columns (smaller wraps duplicate mesh links)",
                );
                return;
            }
            Some((rows as usize, cols as usize))
        }
        Some(_) => return,
    };
    let (Some(bw), Some(lat), Some(energy), Some(bidirectional)) = (bw, lat, energy, bidirectional)
    else {
        return;
    };
    if ids.bound.is_none() {
        // Without every chiplet id, links and positions cannot be placed.
        return;
    }
    let shape = match (kind.as_str(), grid) {
        ("ring" | "chain", _) => Shape::Line {
            ring: kind == "ring",
            bidirectional,
        },
        (_, Some((rows, cols))) => Shape::Grid {
            rows,
            cols,
            torus: kind == "torus",
        },
        _ => Shape::AllToAll,
    };
    for (here, xy) in shape.positions(&chips) {
        let slot = &mut positions[here as usize];
        match slot {
            Some(old) if old.xy == xy => {}
            Some(old) if !old.by_generator => t.sink().error(
                old.pos,
                &old.field,
                format!(
                    "chiplet {here} is at {:?} but the {kind} generator places it at {xy:?}",
                    old.xy
                ),
            ),
            Some(old) => t.sink().error(
                t.pos(),
                t.path(),
                format!(
                    "chiplet {here} is placed at {:?} by {} but this {kind} generator places it at {xy:?}",
                    old.xy, old.field
                ),
            ),
            None => {}
        }
        // After a conflict (reported above) the generator's place wins, so
        // that the same mistake is not also reported as two chiplets sharing
        // a position.
        if slot.as_ref().is_none_or(|old| old.xy != xy) {
            *slot = Some(Placed {
                xy,
                pos: t.pos(),
                field: t.path().to_string(),
                by_generator: true,
            });
        }
    }
    desc.push(shape.describe(k));
    for (from, to) in shape.pairs(&chips) {
        drafts.push(LinkDraft {
            from,
            to,
            bandwidth_bytes_per_cycle: bw,
            latency_cycles: lat,
            energy_per_bit_pj: energy,
            pos: t.pos(),
            field: t.path().to_string(),
        });
    }
}
