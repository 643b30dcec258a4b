//! The exact solver of repair's relaxation: per-op costs over pipeline
//! positions plus the two pairwise constraints that are convex in the
//! positions (acyclic dataflow, `p(v) − p(u) ≥ 0`, and no skipping in `edge`
//! mode, `p(v) − p(u) ≤ 1`), by Ishikawa's construction: the minimum cut of a
//! network with one chain of nodes per op.
//!
//! H. Ishikawa, "Exact optimization for Markov random fields with convex
//! priors", IEEE TPAMI 25(10), 2003. Node `(v, i)` on the source side means
//! `p(v) ≥ i`. The chain arc `(v, i) → (v, i+1)` carries the cost of position
//! `i` (cut exactly when `p(v) = i`); an infinite reverse arc
//! `(v, i+1) → (v, i)` makes every finite cut read as one position per op; an
//! infinite arc `(u, i) → (v, i + d)` forbids `p(u) ≥ i ∧ p(v) < i + d`, so
//! every finite cut satisfies `p(v) ≥ p(u) + d`. Finite cuts and admissible
//! labellings therefore correspond one to one, with equal cost, and the
//! minimum cut is an optimal labelling.
//!
//! The same arc expresses any implication `p(a) ≥ i ⇒ p(b) ≥ j` between
//! two ops' thresholds ([`Implication`]); repair adds those the SRAM rule
//! implies (`sram::SramModel::implications`).
//!
//! Before the network is built, interval bounds are propagated through the
//! pairwise constraints and the implications. At the fixpoint, setting every
//! op to its lowest position satisfies every one of them (each lower bound is
//! at least what its constraints demand of it), so the relaxation is feasible
//! exactly when no interval empties; and positions outside an op's interval are
//! contracted into the source or the sink, which keeps the network small once
//! branching has fixed ops.

use super::domains::Domains;
use super::maxflow::Network;

/// The pairwise part of the relaxation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pairwise<'a> {
    /// Distinct `(from, to)` op pairs joined by at least one tensor.
    pub pairs: &'a [(u32, u32)],
    /// `p(to) ≥ p(from)` for every pair.
    pub acyclic: bool,
    /// `p(to) ≤ p(from) + 1` for every pair.
    pub edge: bool,
    /// Further constraints of the same convex kind, implied by other rules.
    pub implications: &'a [Implication],
}

/// The constraint `p(a) ≥ from ⇒ p(b) ≥ to`: one infinite arc of the
/// network. Repair derives these from the SRAM rule (see `sram`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Implication {
    pub a: u32,
    pub from: u16,
    pub b: u32,
    pub to: u16,
}

/// Why the relaxation has no solution: op `op`'s interval emptied while
/// propagating `constraint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Conflict {
    pub op: usize,
    pub constraint: &'static str,
}

/// An optimal labelling of the relaxation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Labelling {
    pub positions: Vec<u16>,
    /// The cost of `positions`.
    pub cost: f64,
    /// How far above the true minimum `cost` may be because residual
    /// capacities below the flow's tolerance count as saturated: the cut read
    /// exceeds the flow by at most the tolerance per arc (zero when integral).
    pub slack: f64,
}

/// Minimises Σ_v `unary[v·k + p(v)]` over `p(v) ∈ domains(v)` subject to
/// `pairwise`. `unary` must be finite on every allowed position. `integral`
/// says that every cost is an integer (then the flow is computed exactly).
pub(crate) fn solve(
    unary: &[f64],
    domains: &Domains,
    pairwise: Pairwise<'_>,
    integral: bool,
) -> Result<Labelling, Conflict> {
    let k = domains.n_positions();
    let n = unary.len() / k;
    let (lo, hi) = propagate_bounds(domains, n, pairwise)?;

    // Node ids: interior positions lo < i ≤ hi of each op, then S and T.
    let mut base = vec![0usize; n + 1];
    for v in 0..n {
        base[v + 1] = base[v] + (hi[v] - lo[v]);
    }
    let s = base[n];
    let t = s + 1;
    let node = |v: usize, i: usize| -> usize {
        if i <= lo[v] {
            s
        } else if i > hi[v] {
            t
        } else {
            base[v] + i - lo[v] - 1
        }
    };

    let mut net = Network::new(t + 1);
    let mut constant = 0.0;
    let mut max_cap: f64 = 1.0;
    for v in 0..n {
        let row = &unary[v * k..(v + 1) * k];
        let min = (lo[v]..=hi[v])
            .filter(|&i| domains.allows(v, i))
            .map(|i| row[i])
            .fold(f64::INFINITY, f64::min);
        constant += min;
        if lo[v] == hi[v] {
            continue;
        }
        for (i, &c) in row.iter().enumerate().take(hi[v] + 1).skip(lo[v]) {
            let cap = if domains.allows(v, i) {
                c - min
            } else {
                f64::INFINITY
            };
            if cap.is_finite() {
                max_cap = max_cap.max(cap);
            }
            net.add(node(v, i), node(v, i + 1), cap);
        }
        for i in lo[v] + 1..hi[v] {
            net.add(node(v, i + 1), node(v, i), f64::INFINITY);
        }
    }
    let mut add_hard = |from: usize, to: usize| {
        // Arcs out of T or into S are never cut; S → T cannot occur because
        // the bounds were propagated through the same constraint.
        if from != t && to != s {
            debug_assert!(!(from == s && to == t), "propagation missed a bound");
            net.add(from, to, f64::INFINITY);
        }
    };
    for &(u, v) in pairwise.pairs {
        let (u, v) = (u as usize, v as usize);
        if pairwise.acyclic {
            // p(u) ≥ i ⇒ p(v) ≥ i.
            for i in lo[u] + 1..=hi[u] {
                add_hard(node(u, i), node(v, i));
            }
        }
        if pairwise.edge {
            // p(v) ≥ i ⇒ p(u) ≥ i − 1.
            for i in lo[v] + 1..=hi[v] {
                add_hard(node(v, i), node(u, i - 1));
            }
        }
    }
    for imp in pairwise.implications {
        let (a, b) = (imp.a as usize, imp.b as usize);
        let (from, to) = (imp.from as usize, imp.to as usize);
        // Below `lo[a]` the premise always holds (node S); above `hi[a]`
        // never (T); likewise the conclusion.
        if from > hi[a] || to <= lo[b] {
            continue;
        }
        add_hard(node(a, from.max(lo[a])), node(b, to));
    }

    let eps = if integral { 0.0 } else { 1e-11 * max_cap };
    let slack = eps * net.n_arcs() as f64;
    let eps = if integral { 0.5 } else { eps };
    let (flow, side) = net.min_cut(s, t, eps);
    debug_assert!(flow.is_finite(), "bounded relaxation has a finite cut");
    let positions: Vec<u16> = (0..n)
        .map(|v| {
            let above = (lo[v] + 1..=hi[v]).filter(|&i| side[node(v, i)]).count();
            (lo[v] + above) as u16
        })
        .collect();
    let cost: f64 = positions
        .iter()
        .enumerate()
        .map(|(v, &p)| unary[v * k + p as usize])
        .sum();
    debug_assert!(
        integral || (cost - (constant + flow)).abs() <= 1e-6 * (1.0 + cost.abs()),
        "cut value {} disagrees with labelling cost {cost}",
        constant + flow
    );
    Ok(Labelling {
        positions,
        cost,
        slack,
    })
}

/// Tightens each op's interval `[lo, hi]` of allowed positions until every
/// pairwise constraint and implication is bounds consistent, snapping bounds to allowed
/// positions. Forward-flowing bounds (acyclic lower, edge upper) are pushed in
/// a forward sweep over the pairs, the others in a backward sweep, until
/// nothing changes.
pub(crate) fn propagate_bounds(
    domains: &Domains,
    n: usize,
    pairwise: Pairwise<'_>,
) -> Result<(Vec<usize>, Vec<usize>), Conflict> {
    let k = domains.n_positions();
    let mut lo = vec![0usize; n];
    let mut hi = vec![0usize; n];
    for v in 0..n {
        match (domains.next_allowed(v, 0), domains.prev_allowed(v, k - 1)) {
            (Some(a), Some(b)) => (lo[v], hi[v]) = (a, b),
            _ => {
                return Err(Conflict {
                    op: v,
                    constraint: "domain",
                });
            }
        }
    }
    if !pairwise.acyclic && !pairwise.edge && pairwise.implications.is_empty() {
        return Ok((lo, hi));
    }
    let empty = |op: usize, constraint: &'static str| Conflict { op, constraint };
    loop {
        let mut changed = false;
        for &(u, v) in pairwise.pairs {
            let (u, v) = (u as usize, v as usize);
            if pairwise.acyclic && lo[v] < lo[u] {
                lo[v] = domains
                    .next_allowed(v, lo[u])
                    .filter(|&x| x <= hi[v])
                    .ok_or(empty(v, "acyclic_dataflow"))?;
                changed = true;
            }
            if pairwise.edge && hi[v] > hi[u] + 1 {
                hi[v] = domains
                    .prev_allowed(v, hi[u] + 1)
                    .filter(|&x| x >= lo[v])
                    .ok_or(empty(v, "no_skipping"))?;
                changed = true;
            }
        }
        for &(u, v) in pairwise.pairs.iter().rev() {
            let (u, v) = (u as usize, v as usize);
            if pairwise.acyclic && hi[u] > hi[v] {
                hi[u] = domains
                    .prev_allowed(u, hi[v])
                    .filter(|&x| x >= lo[u])
                    .ok_or(empty(u, "acyclic_dataflow"))?;
                changed = true;
            }
            if pairwise.edge && lo[u] + 1 < lo[v] {
                lo[u] = domains
                    .next_allowed(u, lo[v] - 1)
                    .filter(|&x| x <= hi[u])
                    .ok_or(empty(u, "no_skipping"))?;
                changed = true;
            }
        }
        for imp in pairwise.implications {
            let (a, b) = (imp.a as usize, imp.b as usize);
            let (from, to) = (imp.from as usize, imp.to as usize);
            if lo[a] >= from && lo[b] < to {
                lo[b] = domains
                    .next_allowed(b, to)
                    .filter(|&x| x <= hi[b])
                    .ok_or(empty(b, "sram_capacity"))?;
                changed = true;
            }
            if hi[b] < to && hi[a] >= from {
                hi[a] = from
                    .checked_sub(1)
                    .and_then(|x| domains.prev_allowed(a, x))
                    .filter(|&x| x >= lo[a])
                    .ok_or(empty(a, "sram_capacity"))?;
                changed = true;
            }
        }
        if !changed {
            return Ok((lo, hi));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force over every labelling.
    fn brute(unary: &[f64], k: usize, pw: Pairwise<'_>) -> Option<f64> {
        let n = unary.len() / k;
        let mut best: Option<f64> = None;
        let mut x = vec![0usize; n];
        loop {
            let ok = pw.pairs.iter().all(|&(u, v)| {
                let (a, b) = (x[u as usize], x[v as usize]);
                (!pw.acyclic || a <= b) && (!pw.edge || b <= a + 1)
            });
            let c: f64 = (0..n).map(|v| unary[v * k + x[v]]).sum();
            if ok && c.is_finite() && best.is_none_or(|b| c < b) {
                best = Some(c);
            }
            let mut i = 0;
            loop {
                if i == n {
                    return best;
                }
                x[i] += 1;
                if x[i] < k {
                    break;
                }
                x[i] = 0;
                i += 1;
            }
        }
    }

    #[test]
    fn min_cut_matches_brute_force_on_small_chains_and_diamonds() {
        let shapes: [&[(u32, u32)]; 3] = [
            &[(0, 1), (1, 2), (2, 3)],
            &[(0, 1), (0, 2), (1, 3), (2, 3)],
            &[(0, 3), (1, 3), (2, 3), (0, 1)],
        ];
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for pairs in shapes {
            for flags in 0..4 {
                for trial in 0..20 {
                    let k = 3 + trial % 2;
                    let mut unary: Vec<f64> = (0..4 * k).map(|_| (rnd() % 7) as f64).collect();
                    if trial % 3 == 0 {
                        unary[rnd() as usize % (4 * k)] = f64::INFINITY;
                    }
                    let pw = Pairwise {
                        pairs,
                        acyclic: flags & 1 == 1,
                        edge: flags & 2 == 2,
                        implications: &[],
                    };
                    let mut d = Domains::full(4, k);
                    for v in 0..4 {
                        for i in 0..k {
                            if !unary[v * k + i].is_finite() {
                                d.remove(v, i);
                            }
                        }
                    }
                    let got = solve(&unary, &d, pw, true).ok();
                    let want = brute(&unary, k, pw);
                    assert_eq!(
                        got.as_ref().map(|l| l.cost),
                        want,
                        "{pairs:?} {flags} {unary:?}"
                    );
                    if let Some(l) = got {
                        for &(u, v) in pairs {
                            let (a, b) = (l.positions[u as usize], l.positions[v as usize]);
                            assert!(!pw.acyclic || a <= b);
                            assert!(!pw.edge || b <= a + 1);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn propagation_reports_the_op_whose_interval_empties() {
        // 0 → 1 with edge mode; op 0 must sit at 0 and op 1 at 2 or 3.
        let mut d = Domains::full(2, 4);
        d.fix(0, 0);
        d.remove(1, 0);
        d.remove(1, 1);
        let pw = Pairwise {
            pairs: &[(0, 1)],
            acyclic: true,
            edge: true,
            implications: &[],
        };
        let err = propagate_bounds(&d, 2, pw).unwrap_err();
        assert_eq!(
            err,
            Conflict {
                op: 1,
                constraint: "no_skipping"
            }
        );
    }
}
