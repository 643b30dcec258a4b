//! Targets: how far a fragment's properties are from what a replacement must
//! satisfy ([`distance`], [`satisfies`]) and how a target is drawn near a
//! fragment's properties ([`mutate_target`]).

use rand::Rng;

use crate::ir::Shape;

use super::{Mix, MixMatrix, Props, Target};

/// What one output of the wrong shape costs: more than any depth or mixing
/// shortfall a small fragment can have, so a search fixes the interface
/// first.
pub const SHAPE_MISMATCH: f64 = 100.0;

/// How far shape `have` is from `want` beyond the fixed [`SHAPE_MISMATCH`]:
/// the rank difference, plus per aligned axis that differs 1 and a fraction
/// for how far apart the sizes are (in octaves, capped), so that a sequence
/// of shapes growing toward the target sees the distance fall.
fn shape_gap(have: &[u64], want: &[u64]) -> f64 {
    let rank = have.len().abs_diff(want.len()) as f64;
    let axes: f64 = have
        .iter()
        .zip(want)
        .filter(|(h, w)| h != w)
        .map(|(&h, &w)| {
            1.0 + ((h.max(1) as f64) / (w.max(1) as f64))
                .log2()
                .abs()
                .min(8.0)
                / 8.0
        })
        .sum();
    rank + axes
}

/// Lattice levels `want` asks for that `have` lacks.
fn mixing_gap(have: &MixMatrix, want: &MixMatrix) -> f64 {
    have.iter()
        .zip(want)
        .flat_map(|(h, w)| h.iter().zip(w))
        .map(|(h, w)| w.level().saturating_sub(h.level()) as f64)
        .sum()
}

fn same_dims(a: &MixMatrix, b: &MixMatrix) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.len() == y.len())
}

fn levels(m: &MixMatrix) -> f64 {
    m.iter().flatten().map(|x| x.level() as f64).sum()
}

/// See [`crate::props::distance`].
pub fn distance(have: &Props, want: &Target) -> f64 {
    let mut d = 0.0;
    let n_out = have.shapes.len().max(want.shapes.len());
    let empty: Shape = Vec::new();
    let shape_ok: Vec<bool> = (0..want.shapes.len())
        .map(|o| have.shapes.get(o) == Some(&want.shapes[o]))
        .collect();
    for o in 0..n_out {
        let h = have.shapes.get(o);
        let w = want.shapes.get(o);
        if h != w {
            d += SHAPE_MISMATCH + shape_gap(h.unwrap_or(&empty), w.unwrap_or(&empty));
        }
    }
    for (i, row) in want.depth.iter().enumerate() {
        for (o, wanted) in row.iter().enumerate() {
            let Some((want_d, tol)) = *wanted else {
                continue;
            };
            let got = have.depth.get(i).and_then(|r| r.get(o)).copied().flatten();
            d += match got {
                Some(g) => g.abs_diff(want_d).saturating_sub(tol) as f64,
                // No path where one is wanted: as far as building the whole
                // wanted depth (at least one unit, so depth 0 counts too).
                None => want_d.max(1) as f64,
            };
        }
    }
    for (i, row) in want.mixing.iter().enumerate() {
        for (o, w) in row.iter().enumerate() {
            match have.mixing.get(i).and_then(|r| r.get(o)) {
                Some(h) if same_dims(h, w) => d += mixing_gap(h, w),
                // Not comparable. When the output's shape is wrong the shape
                // term already dominates; otherwise (an input of another
                // rank, a missing input) everything wanted is missing.
                _ => {
                    if shape_ok.get(o).copied().unwrap_or(false) {
                        d += 1.0 + levels(w);
                    }
                }
            }
        }
    }
    d
}

/// Whether `have` satisfies `want`: same output shapes, every wanted depth
/// within its tolerance (and a path where one is wanted), every mixing entry
/// at least the wanted level. [`crate::props::distance`] is 0 exactly when
/// this holds.
pub fn satisfies(have: &Props, want: &Target) -> bool {
    if have.shapes != want.shapes {
        return false;
    }
    let depth_ok = want.depth.iter().enumerate().all(|(i, row)| {
        row.iter().enumerate().all(|(o, wanted)| match *wanted {
            None => true,
            Some((want_d, tol)) => have
                .depth
                .get(i)
                .and_then(|r| r.get(o))
                .copied()
                .flatten()
                .is_some_and(|g| g.abs_diff(want_d) <= tol),
        })
    });
    let mixing_ok = want.mixing.iter().enumerate().all(|(i, row)| {
        row.iter().enumerate().all(|(o, w)| {
            have.mixing.get(i).and_then(|r| r.get(o)).is_some_and(|h| {
                same_dims(h, w)
                    && h.iter()
                        .flatten()
                        .zip(w.iter().flatten())
                        .all(|(x, y)| x >= y)
            })
        })
    });
    depth_ok && mixing_ok
}

/// One level lower in the lattice (NONE stays NONE).
fn relax(m: Mix) -> Mix {
    match m {
        Mix::None | Mix::OneToOne => Mix::None,
        Mix::ManyToOne => Mix::OneToOne,
        Mix::AllToOne => Mix::ManyToOne,
    }
}

/// See [`crate::props::mutate_target`]. Draws, in order: per depth pair
/// with a path, the shift in −2..=2; then per mixing entry, whether to
/// relax it.
pub fn mutate_target(p: &Props, rng: &mut impl Rng) -> Target {
    let depth = p
        .depth
        .iter()
        .map(|row| {
            row.iter()
                .map(|d| {
                    d.map(|d| {
                        let shift: i64 = rng.gen_range(-2..=2);
                        ((d as i64 + shift).max(1) as u32, 0)
                    })
                })
                .collect()
        })
        .collect();
    let mixing = p
        .mixing
        .iter()
        .map(|row| {
            row.iter()
                .map(|m| {
                    m.iter()
                        .map(|r| {
                            r.iter()
                                .map(|&x| if rng.gen_bool(0.5) { relax(x) } else { x })
                                .collect()
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Target {
        shapes: p.shapes.clone(),
        depth,
        mixing,
    }
}
