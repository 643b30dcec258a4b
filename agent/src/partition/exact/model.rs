//! The exact method's view of the problem: `sim::problem`'s model (costs,
//! the SRAM rule, residency, link serialisation) under the constraint set the
//! search enforces, with the objective and the SRAM check of complete
//! assignments and the explanation of infeasibility.

use std::ops::Deref;

use sim::SimOptions;
use sim::constraints::Constraints;
use sim::graph::Graph;
use sim::problem::ProblemModel;
use sim::spec::{ChipletId, HwSpec, NoSkipping};

use super::{Formulation, Objective};

/// The problem model and the constraints. It dereferences to the
/// [`ProblemModel`], whose quantities the searches read directly.
pub(crate) struct Model<'a> {
    problem: ProblemModel<'a>,
    pub set: Constraints,
    pub objective: Objective,
}

impl<'a> Deref for Model<'a> {
    type Target = ProblemModel<'a>;

    fn deref(&self) -> &ProblemModel<'a> {
        &self.problem
    }
}

/// Chiplet ids of an assignment given as chiplet indices.
pub(crate) fn chiplet_ids(chip_of: &[usize]) -> Vec<ChipletId> {
    chip_of.iter().map(|&c| ChipletId(c as u32)).collect()
}

impl<'a> Model<'a> {
    pub(crate) fn new(
        spec: &'a HwSpec,
        graph: &'a Graph,
        set: &Constraints,
        options: &SimOptions,
        objective: Objective,
    ) -> Model<'a> {
        Model {
            problem: ProblemModel::new(spec, graph, options),
            set: *set,
            objective,
        }
    }

    pub(crate) fn slot_aware(&self) -> bool {
        self.objective == Objective::SlotAware
    }

    pub(crate) fn edge_mode(&self) -> bool {
        self.set.no_skipping == NoSkipping::Edge
    }

    /// The objective of a complete assignment: `analyse(..).bottleneck_cycles`,
    /// or with each stage replaced by its slot-aware period
    /// (`ProblemModel::slot_aware_bottleneck_cycles`).
    pub(crate) fn objective(&self, chip_of: &[usize]) -> u64 {
        let ids = chiplet_ids(chip_of);
        match self.objective {
            Objective::Bottleneck => self.bottleneck_cycles(&ids),
            Objective::SlotAware => self.slot_aware_bottleneck_cycles(&ids),
        }
    }

    /// Whether every chiplet's SRAM need fits (when the constraint is on).
    pub(crate) fn sram_fits(&self, chip_of: &[ChipletId]) -> bool {
        !self.set.sram_capacity
            || self
                .sram_need_bytes(chip_of)
                .iter()
                .enumerate()
                .all(|(c, &need)| need <= self.class_of_chiplet(c).sram_bytes)
    }

    /// Members of each chiplet under a complete assignment (for the tests).
    #[cfg(test)]
    pub(crate) fn members(&self, chip_of: &[usize]) -> Vec<Vec<usize>> {
        let mut members = vec![Vec::new(); self.n_chiplets];
        for (v, &c) in chip_of.iter().enumerate() {
            members[c].push(v);
        }
        members
    }

    /// The SRAM need of `ops` on a chiplet of class `class` (for the tests;
    /// `ProblemModel::sram_need_bytes_of`).
    #[cfg(test)]
    pub(crate) fn sram_need(
        &self,
        ops: &[usize],
        here: impl Fn(usize) -> bool,
        class: usize,
        scratch: &mut sim::problem::PeakScratch,
    ) -> u64 {
        self.sram_need_bytes_of(class, ops, here, scratch)
    }

    /// Why no valid placement exists (once a finished search has shown it),
    /// as specifically as can be said cheaply.
    pub(crate) fn infeasible_reason(&self, formulation: Formulation) -> String {
        let exhaustive = match formulation {
            Formulation::DownSetChain { down_sets } => {
                format!("no chain of the {down_sets} down-sets satisfies them")
            }
            Formulation::OpByOp => "the search ruled out every placement".to_string(),
        };
        if !self.set.sram_capacity {
            return format!("no placement satisfies the constraints ({exhaustive})");
        }
        let largest = self.classes.iter().map(|k| k.sram_bytes).max().unwrap_or(0);
        for v in 0..self.n_ops {
            // Alone on a chiplet of the class that suits it best; no company
            // lowers that (its activations while it runs are live anyway).
            let need = (0..self.classes.len())
                .map(|k| self.own_sram_need_bytes(v, k))
                .min()
                .unwrap_or(0);
            if need > largest {
                return format!(
                    "SRAM capacity: op {v} ({}) needs at least {need} bytes of SRAM wherever \
                     it runs (its resident weights unless streamed, plus its output, inputs \
                     and graph inputs while it runs), more than the largest chiplet SRAM, \
                     {largest} bytes",
                    self.graph.ops()[v].name
                );
            }
        }
        let fixed: u64 = if self.classes.iter().all(|k| !k.can_stream) {
            self.weight_bytes.iter().sum()
        } else {
            0
        };
        let total: u64 = (0..self.n_chiplets)
            .map(|c| self.class_of_chiplet(c).sram_bytes)
            .sum();
        if fixed > total {
            return format!(
                "SRAM capacity: the weights ({fixed} bytes) exceed the package's SRAM \
                 ({total} bytes) and no chiplet may stream them"
            );
        }
        format!("no placement satisfies the constraints ({exhaustive})")
    }
}
