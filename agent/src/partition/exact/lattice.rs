//! Down-sets of the graph as bit sets, and the lattice the chain search
//! walks: every down-set, the pairs `I ⊆ J` between them, and what crosses
//! each set's cut.

use std::collections::BTreeSet;

use sim::problem::ProblemModel;

pub(crate) fn has(set: &[u64], i: usize) -> bool {
    (set[i / 64] >> (i % 64)) & 1 == 1
}

pub(crate) fn insert(set: &mut [u64], i: usize) {
    set[i / 64] |= 1 << (i % 64);
}

pub(crate) fn subset(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x & !y == 0)
}

/// Members of `b ∖ a`, ascending.
pub(crate) fn difference(a: &[u64], b: &[u64], out: &mut Vec<usize>) {
    out.clear();
    for (w, (x, y)) in a.iter().zip(b).enumerate() {
        let mut bits = y & !x;
        while bits != 0 {
            out.push(w * 64 + bits.trailing_zeros() as usize);
            bits &= bits - 1;
        }
    }
}

/// Every down-set of the graph and the pairs `I ⊆ J` between them.
pub(crate) struct Lattice {
    /// Bit sets, ordered by size, then by their words; `sets[0]` is empty and
    /// the last is every op.
    pub(crate) sets: Vec<Vec<u64>>,
    /// Each set with its ops' consumers added.
    pub(crate) reach: Vec<Vec<u64>>,
    /// Ops of each set with a consumer outside it, largest output first
    /// (ties by op id).
    pub(crate) cut_ops: Vec<Vec<usize>>,
    /// Serialisation cycles of the cut ops' outputs, by set then bandwidth.
    pub(crate) cut_ser: Vec<Vec<u64>>,
    /// For each set `I`, every set `J ⊇ I` (itself included), ascending.
    pub(crate) supersets: Vec<Vec<u32>>,
    /// Pair `(I, supersets[I][t])` has id `pair_base[I] + t`.
    pub(crate) pair_base: Vec<usize>,
    pub(crate) n_pairs: usize,
    pub(crate) full: usize,
}

impl Lattice {
    /// Enumerates down-sets level by level (a set of size `s + 1` is one of
    /// size `s` plus an op whose producers it holds); `None` beyond `max`.
    pub(crate) fn new(m: &ProblemModel<'_>, max: usize) -> Option<Lattice> {
        let words = m.n_ops.div_ceil(64).max(1);
        let mut sets = vec![vec![0u64; words]];
        let mut level = BTreeSet::from([vec![0u64; words]]);
        for _ in 0..m.n_ops {
            let mut next = BTreeSet::new();
            for set in &level {
                for v in 0..m.n_ops {
                    if !has(set, v) && m.producers(v).iter().all(|&p| has(set, p)) {
                        let mut j = set.clone();
                        insert(&mut j, v);
                        next.insert(j);
                    }
                }
                if sets.len() + next.len() > max {
                    return None;
                }
            }
            sets.extend(next.iter().cloned());
            level = next;
        }
        let n = sets.len();
        let sizes: Vec<u32> = sets
            .iter()
            .map(|s| s.iter().map(|w| w.count_ones()).sum())
            .collect();
        let reach = sets
            .iter()
            .map(|s| {
                let mut r = s.clone();
                for v in 0..m.n_ops {
                    if has(s, v) {
                        for &q in m.consumers(v) {
                            insert(&mut r, q);
                        }
                    }
                }
                r
            })
            .collect();
        let cut_ops: Vec<Vec<usize>> = sets
            .iter()
            .map(|s| {
                let mut ops: Vec<usize> = (0..m.n_ops)
                    .filter(|&v| has(s, v) && m.consumers(v).iter().any(|&q| !has(s, q)))
                    .collect();
                ops.sort_by_key(|&v| (std::cmp::Reverse(m.output_bytes[v]), v));
                ops
            })
            .collect();
        let cut_ser = cut_ops
            .iter()
            .map(|ops| {
                (0..m.bandwidths.len())
                    .map(|b| {
                        ops.iter()
                            .map(|&u| m.output_serialisation_cycles[b][u])
                            .sum()
                    })
                    .collect()
            })
            .collect();
        let mut supersets = Vec::with_capacity(n);
        let mut pair_base = Vec::with_capacity(n);
        let mut n_pairs = 0;
        for i in 0..n {
            let sup: Vec<u32> = (i..n)
                .filter(|&j| sizes[j] >= sizes[i] && subset(&sets[i], &sets[j]))
                .map(|j| j as u32)
                .collect();
            pair_base.push(n_pairs);
            n_pairs += sup.len();
            supersets.push(sup);
        }
        Some(Lattice {
            sets,
            reach,
            cut_ops,
            cut_ser,
            supersets,
            pair_base,
            n_pairs,
            full: n - 1,
        })
    }
}
