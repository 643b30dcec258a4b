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
}
