//! Repair's view of `sim::problem`'s SRAM rule, by pipeline position and for
//! partial placements: ops not yet placed are on no chiplet, so the need of
//! the ops placed so far is exact for a full placement and, the rule being
//! monotone in the set of ops (see `sim::problem`), a lower bound for every
//! completion of a partial one. That bound is what branch and bound prunes
//! with.

use sim::SimOptions;
use sim::graph::Graph;
use sim::problem::{OpGroups, PeakScratch, ProblemModel};
use sim::spec::HwSpec;

use super::ishikawa::Implication;

/// Marks an op with no position yet.
pub(crate) const UNPLACED: u16 = u16::MAX;

/// The SRAM rule indexed by op and by pipeline position.
#[derive(Clone, Debug)]
pub(crate) struct SramModel<'a> {
    pub problem: ProblemModel<'a>,
    /// Class (in `problem.classes`) of the chiplet at each position.
    class_at: Vec<usize>,
    /// Whether the chiplet at each position keeps its weights in SRAM (it
    /// cannot stream them from off-package memory).
    pub resident: Vec<bool>,
    /// SRAM bytes of the chiplet at each position.
    pub capacity: Vec<u64>,
}

impl<'a> SramModel<'a> {
    pub(crate) fn new(spec: &'a HwSpec, graph: &'a Graph) -> SramModel<'a> {
        // SRAM quantities do not depend on the simulator's options.
        let problem = ProblemModel::new(spec, graph, &SimOptions::default());
        let class_at: Vec<usize> = problem
            .pipeline_order
            .iter()
            .map(|&c| problem.class_of[c])
            .collect();
        SramModel {
            resident: class_at
                .iter()
                .map(|&k| !problem.classes[k].can_stream)
                .collect(),
            capacity: class_at
                .iter()
                .map(|&k| problem.classes[k].sram_bytes)
                .collect(),
            class_at,
            problem,
        }
    }

    /// The least SRAM op `v` needs at position `i` whatever else runs there.
    pub(crate) fn own_need(&self, v: usize, i: usize) -> u64 {
        self.problem.own_sram_need_bytes(v, self.class_at[i])
    }

    /// The need at each position of the ops placed so far (`UNPLACED` ops
    /// ignored).
    pub(crate) fn needs(&self, positions: &[u16]) -> Vec<u64> {
        let k = self.class_at.len();
        let on = OpGroups::new(positions.len(), k, |v| {
            (positions[v] != UNPLACED).then_some(positions[v] as usize)
        });
        let mut scratch = PeakScratch::default();
        (0..k)
            .map(|i| {
                let here = |v: usize| positions[v] as usize == i;
                self.problem
                    .sram_need_bytes_of(self.class_at[i], on.ops(i), here, &mut scratch)
            })
            .collect()
    }

    /// The need at position `c` alone of the ops placed so far, `on_c` being
    /// the ops at `c` in any order (as [`SramModel::needs`], touching only
    /// those ops and their neighbours).
    pub(crate) fn need_at(&self, positions: &[u16], on_c: &[u32], c: u16) -> u64 {
        let mut ops: Vec<usize> = on_c.iter().map(|&v| v as usize).collect();
        ops.sort_unstable();
        let here = |v: usize| positions[v] == c;
        self.problem.sram_need_bytes_of(
            self.class_at[c as usize],
            &ops,
            here,
            &mut PeakScratch::default(),
        )
    }

    /// SRAM conflicts between pairs of ops, as implications the relaxation
    /// carries (`ishikawa::Implication`). Under acyclic dataflow, when a path
    /// leads from op `a` to op `b`, placing both at position `i` places every
    /// op on a path between them at `i` too; if that set alone overflows
    /// `i`'s SRAM (its need only grows with more ops), no valid placement has
    /// `p(a) ≥ i ∧ p(b) ≤ i` (with `p(a) ≤ p(b)` this is `p(a) = p(b) = i`),
    /// which is the implication `p(a) ≥ i ⇒ p(b) ≥ i + 1`. Valid placements
    /// all meet it, so adding it to the relaxation keeps the relaxation a
    /// lower bound, and raises it where the proposal keeps two ops far apart
    /// on one chiplet.
    ///
    /// Per class of chiplet and per `a` in topological order, the partners
    /// `b` are scanned in topological order; a `b` that follows a partner
    /// already found is skipped (its implication follows from that one's by
    /// acyclic dataflow), and so is a `b` whose set is known to fit from one
    /// of `a`'s producers (whose set towards `b` contains `a`'s). The need is
    /// computed exactly only when cheap bounds (weights plus the largest
    /// activation floor; weights plus every byte the ops read or write)
    /// cannot decide; a class that holds all the ops at once has none.
    /// Graphs of more than [`MAX_IMPLICATION_OPS`] ops get none (the
    /// relaxation is then only weaker, not wrong). `succs[v]`: `v`'s
    /// distinct consumers (ops are in topological order).
    pub(crate) fn implications(&self, succs: &[Vec<u32>]) -> Vec<Implication> {
        let n = succs.len();
        if n > MAX_IMPLICATION_OPS {
            return Vec::new();
        }
        let k = self.class_at.len();
        let mut scratch = PeakScratch::default();
        // Classes that cannot hold every op at once; in the others no set of
        // ops overflows (the need is monotone).
        let all: Vec<usize> = (0..n).collect();
        let mut classes: Vec<usize> = self.class_at.clone();
        classes.sort_unstable();
        classes.dedup();
        classes.retain(|&class| {
            let i = self
                .class_at
                .iter()
                .position(|&c| c == class)
                .expect("a class has a position");
            self.overflows(class, self.capacity[i], &all, &mut scratch)
        });
        if classes.is_empty() {
            return Vec::new();
        }
        let words = n.div_ceil(64);
        let has = |set: &[u64], v: usize| set[v / 64] >> (v % 64) & 1 == 1;
        // desc[a]: a and every op reachable from it; anc[b] likewise back.
        let mut desc = vec![0u64; n * words];
        for a in (0..n).rev() {
            desc[a * words + a / 64] |= 1 << (a % 64);
            for &w in &succs[a] {
                for x in 0..words {
                    desc[a * words + x] |= desc[w as usize * words + x];
                }
            }
        }
        let mut anc = vec![0u64; n * words];
        let mut preds: Vec<Vec<u32>> = vec![Vec::new(); n];
        for b in 0..n {
            anc[b * words + b / 64] |= 1 << (b % 64);
            for &u in &preds[b] {
                for x in 0..words {
                    anc[b * words + x] |= anc[u as usize * words + x];
                }
            }
            for &w in &succs[b] {
                preds[w as usize].push(b as u32);
            }
        }
        let mut out = Vec::new();
        let mut between: Vec<usize> = Vec::new();
        let mut found: Vec<usize> = Vec::new();
        // ok[a]: partners whose set between a and them is known to fit.
        let mut ok = vec![0u64; n * words];
        // Partners following a found one.
        let mut after_found = vec![0u64; words];
        for &class in &classes {
            let positions: Vec<usize> = (0..k).filter(|&i| self.class_at[i] == class).collect();
            let capacity = self.capacity[positions[0]];
            ok.fill(0);
            for a in 0..n {
                for &u in &preds[a] {
                    for x in 0..words {
                        ok[a * words + x] |= ok[u as usize * words + x] & desc[a * words + x];
                    }
                }
                found.clear();
                after_found.fill(0);
                for x in a / 64..words {
                    let mut word = desc[a * words + x] & !ok[a * words + x];
                    if x == a / 64 {
                        // Partners come after a.
                        word &= !(u64::MAX >> (63 - a % 64));
                    }
                    while word != 0 {
                        let b = x * 64 + word.trailing_zeros() as usize;
                        word &= word - 1;
                        if has(&after_found, b) {
                            continue;
                        }
                        let da = &desc[a * words..(a + 1) * words];
                        let ab = &anc[b * words..(b + 1) * words];
                        between.clear();
                        for y in a / 64..=b / 64 {
                            let mut bits = da[y] & ab[y];
                            while bits != 0 {
                                between.push(y * 64 + bits.trailing_zeros() as usize);
                                bits &= bits - 1;
                            }
                        }
                        if self.overflows(class, capacity, &between, &mut scratch) {
                            found.push(b);
                            for y in 0..words {
                                after_found[y] |= desc[b * words + y];
                            }
                        } else {
                            ok[a * words + b / 64] |= 1 << (b % 64);
                        }
                    }
                }
                for &b in &found {
                    out.extend(positions.iter().map(|&i| Implication {
                        a: a as u32,
                        from: i as u16,
                        b: b as u32,
                        to: i as u16 + 1,
                    }));
                }
            }
        }
        out
    }

    /// Whether the ops `set` (ascending) alone overflow a chiplet of class
    /// `class` holding `capacity` bytes; the exact need only when the
    /// bounds of [`SramModel::implications`] leave it open.
    fn overflows(
        &self,
        class: usize,
        capacity: u64,
        set: &[usize],
        scratch: &mut PeakScratch,
    ) -> bool {
        let p = &self.problem;
        let weights = p.sram_weight_bytes_of(class, set);
        let floor = set
            .iter()
            .map(|&v| p.activation_floor_bytes[v])
            .max()
            .unwrap_or(0);
        if weights + floor > capacity {
            return true;
        }
        let touched: u64 = set
            .iter()
            .map(|&v| p.io_bytes[v] + p.graph_input_bytes[v])
            .sum();
        if weights + touched <= capacity {
            return false;
        }
        let need = p.sram_need_bytes_of(class, set, |v| set.binary_search(&v).is_ok(), scratch);
        need > capacity
    }
}

/// Beyond this many ops repair derives no SRAM implications: their tables
/// take `3·n²/8` bytes (6 MiB at 4,096 ops) and their scan time grows with
/// `n²`.
pub(crate) const MAX_IMPLICATION_OPS: usize = 4096;
