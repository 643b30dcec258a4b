//! `dp`: the optimal contiguous segmentation of the op order under the
//! analytic bottleneck, by dynamic programming; repaired if it still breaks a
//! constraint, then evaluated once.
//!
//! **What is solved exactly.** Cut ops `0 .. n` (op-id order, a topological
//! order) into `m ≤ K` non-empty contiguous segments, segment `s` on the
//! chiplet at pipeline position `s`, minimising
//!
//! `J = max(max_s stage_s, max_s link_s, Σ_s memory_s)`
//!
//! - `stage_s`: the segment's cycles on its chiplet as `sim::problem`
//!   states them (and `sim::oracle::analyse` adds them up): `op_cost` of each
//!   op and, where the chiplet streams weights (they do not fit and it may
//!   stream), the wait for the streamed weights under the greedy residency;
//! - `memory_s`: serialisation cycles of the weights the segment streams on
//!   the shared off-package memory (their sum is the oracle's
//!   `memory_cycles`);
//! - `link_s` (when `transfers` is on): serialisation cycles, on each link of
//!   the route from position `s` to `s + 1`, of the tensors produced in the
//!   segment and read after it, each counted once (the busiest link of the
//!   route);
//!
//! subject to, when the problem's constraints ask for them: SRAM capacity of
//! every segment (`sim::problem`'s SRAM rule, which leaves streamed weights
//! out) and `no_skipping = edge` (no tensor crosses two cuts). Acyclic dataflow
//! and `no_skipping = prefix` hold by construction; under `edge`, `no_triangle`
//! holds too (a triangle needs a tensor that skips a position).
//!
//! **When `J` is the oracle's bottleneck.** `J` equals
//! `analyse(..).bottleneck_cycles` of the segmentation's placement when every
//! tensor that crosses a cut is read only in the next segment (always under
//! `edge`, and on chains) and the routes between consecutive pipeline
//! chiplets are single links no other pair uses (rings and chains in
//! ascending order, the snake order of a mesh). Otherwise `link_s`
//! undercounts — a tensor read two segments later loads links further on, and
//! links shared by several routes add up — and `J` is a lower bound on the
//! oracle's bottleneck; without `transfers` it ignores links altogether.
//!
//! **What is not optimal.** Other topological orders; non-contiguous
//! placements (which can do better, e.g. parallel branches side by side);
//! `no_triangle` when `no_skipping` is not `edge` (repair fixes a violating
//! segmentation afterwards and may move ops); and anything the analytic model
//! leaves out — contention for links and memory in time, pipeline fill,
//! latency — so the *simulated* throughput of the result is not guaranteed to
//! be the best among contiguous segmentations.
//!
//! **Algorithm.** With `c(s, i, j)` the larger of `stage` and `link` of
//! segment `[i, j)` at position `s`, `f(s, j) = min_i max(f(s − 1, i),
//! c(s, i, j))` over feasible `i`: `O(K·N²)`. The memory term is a sum, not a
//! maximum, so it is handled parametrically: with `P*` the optimum of that
//! recurrence and `g(B)` the least total memory over segmentations whose every
//! `c ≤ B` (a min-sum recurrence, also `O(K·N²)`), the optimum of `J` is the
//! least integer `B ≥ P*` with `g(B) ≤ B`, found by bisection since `g` never
//! increases; this only runs when some chiplet may stream. A segment's SRAM
//! need never falls when it grows (every tensor stays live at least as long),
//! so the least feasible start of each segment end is found with two pointers,
//! `O(N)` SRAM needs per chip class. The streamed stage costs are tabulated
//! for every segment of a class that may stream, `O(N²)` segments of `O(N)`
//! work each.
//!
//! When no segmentation meets the constraints, the `edge` requirement and
//! then the capacity are dropped, and repair decides.

use sim::SimOptions;
use sim::constraints::Constraints;
use sim::graph::Graph;
use sim::problem::{PeakScratch, ProblemModel};
use sim::spec::{HwSpec, LinkId, NoSkipping};

use super::{make_valid_start, segmentation_placement};
use crate::error::SearchError;
use crate::partition::search::{Evaluator, Search, SearchProblem};

/// The dynamic-programming segmentation.
#[derive(Clone, Debug)]
pub struct Dp {
    /// Count the serialisation of tensors crossing each cut in a stage's cost.
    pub transfers: bool,
    notes: Vec<(String, String)>,
}

impl Dp {
    /// The segmentation, counting cut transfers in a stage's cost or not.
    pub fn new(transfers: bool) -> Self {
        Dp {
            transfers,
            notes: Vec::new(),
        }
    }
}

impl Default for Dp {
    fn default() -> Self {
        Dp::new(true)
    }
}

impl Search for Dp {
    fn name(&self) -> &'static str {
        "dp"
    }

    fn run(
        &mut self,
        problem: &SearchProblem<'_>,
        eval: &mut Evaluator,
    ) -> Result<(), SearchError> {
        self.notes.clear();
        if problem.graph.ops().is_empty() {
            return Ok(());
        }
        let mut constraints = problem.constraints;
        let mut relaxed = Vec::new();
        let (bounds, objective) = loop {
            let model = SegmentModel::new(
                problem.spec,
                problem.graph,
                &constraints,
                &problem.options,
                self.transfers,
            );
            if let Some(found) = model.optimal() {
                break found;
            }
            // The recurrence gives up early when an interrupt is requested.
            if eval.interrupted() {
                return Ok(());
            }
            if constraints.no_skipping == NoSkipping::Edge {
                constraints.no_skipping = NoSkipping::Off;
                relaxed.push("no_skipping");
            } else if constraints.sram_capacity {
                constraints.sram_capacity = false;
                relaxed.push("sram_capacity");
            } else {
                unreachable!("one segment per chiplet without constraints is always feasible");
            }
        };
        let proposal = segmentation_placement(problem.spec, &bounds);
        let placement = make_valid_start(problem, eval, "optimal segmentation", proposal.clone())?;
        let changed = proposal
            .iter()
            .zip(&placement.chiplet_of_op)
            .filter(|(a, b)| a != b)
            .count();
        self.notes = vec![
            ("bottleneck_cycles".to_string(), objective.to_string()),
            ("segments".to_string(), (bounds.len() - 1).to_string()),
            ("repaired_ops".to_string(), changed.to_string()),
        ];
        if !relaxed.is_empty() {
            self.notes.push(("relaxed".to_string(), relaxed.join("+")));
        }
        eval.evaluate(&placement);
        Ok(())
    }

    fn notes(&self) -> Vec<(String, String)> {
        self.notes.clone()
    }
}

/// The cost terms of one segment `[i, j)` at one pipeline position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentCost {
    pub stage_cycles: u64,
    pub link_cycles: u64,
    pub memory_cycles: u64,
}

/// What a segment costs on the chiplets of one `sim::problem` chip class.
struct ClassTables {
    /// `prefix[i]`: op cycles of ops `0 .. i` on this type.
    prefix: Vec<u64>,
    /// `(stage, memory)` cycles of `[i, j)` at `streamed[i][j − i − 1]`, when
    /// the class may stream weights.
    streamed: Option<Vec<Vec<(u64, u64)>>>,
    /// `min_start[j]`: the least `i` such that `[i, j)` fits the SRAM (`j`
    /// when none does).
    min_start: Vec<usize>,
}

/// The per-segment costs and feasibility of one problem, and the dynamic
/// program over them.
pub struct SegmentModel<'a> {
    model: ProblemModel<'a>,
    transfers: bool,
    edge: bool,
    /// By class of `model.classes`.
    tables: Vec<ClassTables>,
    class_of_position: Vec<usize>,
    /// Route from each pipeline position to the next (empty for the last).
    routes: Vec<&'a [LinkId]>,
    /// Highest consumer of each op.
    last_consumer: Vec<Option<usize>>,
    /// `min_end[i]`: under `edge`, a segment starting at `i` must end at or
    /// after it (it must hold every consumer of the ops before `i`).
    min_end: Vec<usize>,
    /// Whether any chiplet may stream weights (the memory term can be > 0).
    any_streaming: bool,
}

/// What the recurrence minimises.
#[derive(Clone, Copy)]
enum Goal {
    /// The largest per-segment `max(stage, link)`.
    MinMax,
    /// Total memory cycles, with every segment's `max(stage, link) ≤ limit`.
    MinMemory { limit: u64 },
}

const NONE: u64 = u64::MAX;

impl<'a> SegmentModel<'a> {
    /// Prepares costs and feasibility for `constraints` (only `sram_capacity`
    /// and `no_skipping = edge` restrict segments; the rest hold by
    /// construction or are left to repair).
    pub fn new(
        spec: &'a HwSpec,
        graph: &'a Graph,
        constraints: &Constraints,
        options: &SimOptions,
        transfers: bool,
    ) -> SegmentModel<'a> {
        let model = ProblemModel::new(spec, graph, options);
        let n_ops = model.n_ops;
        let order = &model.pipeline_order;
        let tables = (0..model.classes.len())
            .map(|class| ClassTables::new(&model, class, constraints))
            .collect();
        let class_of_position = order.iter().map(|&c| model.class_of[c]).collect();
        let routes = (0..order.len())
            .map(|s| match order.get(s + 1) {
                Some(&next) => model.route(order[s], next),
                None => &[][..],
            })
            .collect();
        let last_consumer: Vec<Option<usize>> = (0..n_ops)
            .map(|v| model.consumers(v).last().copied())
            .collect();
        let mut min_end = vec![0; n_ops + 1];
        for i in 1..=n_ops {
            min_end[i] = min_end[i - 1].max(last_consumer[i - 1].map_or(0, |c| c + 1));
        }
        SegmentModel {
            transfers,
            edge: constraints.no_skipping == NoSkipping::Edge,
            any_streaming: model.classes.iter().any(|k| k.can_stream),
            tables,
            class_of_position,
            routes,
            last_consumer,
            min_end,
            model,
        }
    }

    /// Whether segment `[i, j)` may sit at pipeline position `s`.
    pub fn feasible(&self, s: usize, i: usize, j: usize) -> bool {
        i < j
            && j <= self.model.n_ops
            && s < self.class_of_position.len()
            && i >= self.tables[self.class_of_position[s]].min_start[j]
            && (!self.edge || j >= self.min_end[i])
    }

    /// The cost terms of segment `[i, j)` at position `s`, computed directly.
    pub fn segment_cost(&self, s: usize, i: usize, j: usize) -> SegmentCost {
        let (stage_cycles, memory_cycles) = self.stage(s, i, j);
        let mut link_cycles = 0;
        if self.transfers {
            for &l in self.routes[s] {
                let load: u64 = (i..j)
                    .filter(|&u| self.last_consumer[u].is_some_and(|c| c >= j))
                    .map(|u| self.model.link_serialisation_cycles(u, l))
                    .sum();
                link_cycles = link_cycles.max(load);
            }
        }
        SegmentCost {
            stage_cycles,
            link_cycles,
            memory_cycles,
        }
    }

    /// `J` of the segmentation with `bounds = [0, b1, …, n_ops]`, or `None` when
    /// it is not one the model allows.
    pub fn objective(&self, bounds: &[usize]) -> Option<u64> {
        let segments = bounds.len().checked_sub(1)?;
        if segments == 0
            || segments > self.class_of_position.len()
            || bounds[0] != 0
            || bounds[segments] != self.model.n_ops
        {
            return None;
        }
        let mut worst = 0;
        let mut memory = 0;
        for s in 0..segments {
            let (i, j) = (bounds[s], bounds[s + 1]);
            if !self.feasible(s, i, j) {
                return None;
            }
            let c = self.segment_cost(s, i, j);
            worst = worst.max(c.stage_cycles).max(c.link_cycles);
            memory += c.memory_cycles;
        }
        Some(worst.max(memory))
    }

    /// The segmentation minimising `J` and its value, or `None` when no
    /// segmentation is feasible.
    pub fn optimal(&self) -> Option<(Vec<usize>, u64)> {
        let (bounds, p_star) = self.solve(Goal::MinMax)?;
        let found = if !self.any_streaming {
            (bounds, p_star)
        } else {
            let (at_p, g) = self.solve(Goal::MinMemory { limit: p_star })?;
            if g <= p_star {
                (at_p, p_star)
            } else {
                // g(lo) > lo and g(hi) ≤ hi throughout.
                let (mut lo, mut hi, mut best) = (p_star, g, at_p);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    match self.solve(Goal::MinMemory { limit: mid }) {
                        Some((b, m)) if m <= mid => (hi, best) = (mid, b),
                        _ => lo = mid,
                    }
                }
                (best, hi)
            }
        };
        debug_assert_eq!(self.objective(&found.0), Some(found.1));
        Some(found)
    }

    /// `(stage, memory)` cycles of `[i, j)` at position `s`.
    fn stage(&self, s: usize, i: usize, j: usize) -> (u64, u64) {
        let class = &self.tables[self.class_of_position[s]];
        match &class.streamed {
            Some(table) => table[i][j - i - 1],
            None => (class.prefix[j] - class.prefix[i], 0),
        }
    }

    /// The recurrence for `goal`: bounds of the best segmentation and its
    /// value (fewest segments on a tie, then the latest cuts).
    fn solve(&self, goal: Goal) -> Option<(Vec<usize>, u64)> {
        let n = self.model.n_ops;
        let k = self.class_of_position.len().min(n);
        // best[s][j]: value of ops 0..j in segments 0..=s; from[s][j]: start of
        // segment s in that optimum.
        let mut best = vec![vec![NONE; n + 1]; k];
        let mut from = vec![vec![0usize; n + 1]; k];
        let mut load = Vec::new();
        for s in 0..k {
            let class = &self.tables[self.class_of_position[s]];
            let monotone = class.streamed.is_none();
            for j in s + 1..=n {
                if j % 64 == 0 && crate::partition::interrupt::requested() {
                    return None;
                }
                let min_start = class.min_start[j];
                let route = self.routes[s];
                load.clear();
                load.resize(route.len(), 0u64);
                // Segments before s need an op each, so segment s starts at s
                // or later.
                let mut i = j;
                while i > s {
                    i -= 1;
                    if self.transfers && self.last_consumer[i].is_some_and(|c| c >= j) {
                        for (acc, &l) in load.iter_mut().zip(route) {
                            *acc += self.model.link_serialisation_cycles(i, l);
                        }
                    }
                    // Earlier starts only grow the segment: past the SRAM's
                    // limit none fits, and where the stage time grows with
                    // the segment (no weight streaming: a prefix sum) and so
                    // does the link load, none can beat (or, for the memory
                    // goal, meet) what is known. Exact, ties included: the
                    // latest start found first keeps a tie.
                    if i < min_start {
                        break;
                    }
                    let (stage, memory) = self.stage(s, i, j);
                    let cost = stage.max(load.iter().copied().max().unwrap_or(0));
                    if monotone {
                        let hopeless = match goal {
                            Goal::MinMax => cost >= best[s][j],
                            Goal::MinMemory { limit } => cost > limit,
                        };
                        if hopeless {
                            break;
                        }
                    }
                    if s == 0 && i != 0 {
                        continue;
                    }
                    let prev = if s == 0 { 0 } else { best[s - 1][i] };
                    if prev == NONE || !self.feasible(s, i, j) {
                        continue;
                    }
                    let value = match goal {
                        Goal::MinMax => prev.max(cost),
                        Goal::MinMemory { limit } if cost <= limit => prev + memory,
                        Goal::MinMemory { .. } => continue,
                    };
                    if value < best[s][j] {
                        best[s][j] = value;
                        from[s][j] = i;
                    }
                }
            }
        }
        let mut last = None;
        for s in 0..k {
            if best[s][n] != NONE && last.is_none_or(|l: usize| best[s][n] < best[l][n]) {
                last = Some(s);
            }
        }
        let last = last?;
        let value = best[last][n];
        let mut bounds = vec![n];
        let mut j = n;
        for s in (0..=last).rev() {
            j = from[s][j];
            bounds.push(j);
        }
        bounds.reverse();
        Some((bounds, value))
    }
}

impl ClassTables {
    fn new(m: &ProblemModel<'_>, class: usize, constraints: &Constraints) -> ClassTables {
        let n = m.n_ops;
        let cycles = &m.op_cycles[m.classes[class].type_idx];
        let mut prefix = vec![0u64; n + 1];
        for i in 0..n {
            prefix[i + 1] = prefix[i] + cycles[i];
        }
        // `ops[i..j]` is segment `[i, j)`.
        let ops: Vec<usize> = (0..n).collect();
        let mut scratch = PeakScratch::default();
        let streamed = m.classes[class].can_stream.then(|| {
            (0..n)
                .map(|i| {
                    (i + 1..=n)
                        .map(|j| {
                            let here = |v: usize| (i..j).contains(&v);
                            let c = m.stage_cost_of(class, &ops[i..j], here, &mut scratch);
                            (c.cycles, c.memory_cycles)
                        })
                        .collect()
                })
                .collect()
        });
        let min_start = if constraints.sram_capacity {
            least_fitting_starts(m, class)
        } else {
            vec![0; n + 1]
        };
        ClassTables {
            prefix,
            streamed,
            min_start,
        }
    }
}

/// For each end `j`, the least start `i` such that ops `[i, j)` alone on a
/// chiplet of class `class` fit its SRAM (`j` when none does), by two
/// pointers: a segment's need never falls when it grows (`sim::problem`).
fn least_fitting_starts(m: &ProblemModel<'_>, class: usize) -> Vec<usize> {
    let n = m.n_ops;
    let capacity = m.classes[class].sram_bytes;
    let ops: Vec<usize> = (0..n).collect();
    let mut scratch = PeakScratch::default();
    let mut need = |i: usize, j: usize| {
        m.sram_need_bytes_of(class, &ops[i..j], |v| (i..j).contains(&v), &mut scratch)
    };
    let mut min_start = vec![0; n + 1];
    let mut i = 0;
    for (j, start) in min_start.iter_mut().enumerate().skip(1) {
        while i < j && need(i, j) > capacity {
            i += 1;
        }
        *start = i;
    }
    min_start
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sim::Placement;
    use sim::constraints::{check, sram_need};
    use sim::oracle::analyse;
    use sim::spec::ChipletId;
    use sim::{SimOptions, zoo};

    use super::*;

    fn shipped(name: &str) -> HwSpec {
        let text = match name {
            "edgetpu_ring4" => include_str!("../../../../hw_specs/edgetpu_ring4.toml"),
            "dram_weight_streaming" => {
                include_str!("../../../../hw_specs/dram_weight_streaming.toml")
            }
            "hetero_2type" => include_str!("../../../../hw_specs/hetero_2type.toml"),
            _ => panic!("no spec {name}"),
        };
        HwSpec::from_toml_str(text, name).unwrap()
    }

    fn model(name: &str, params: &[(&str, &str)]) -> Graph {
        let p: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        zoo::build(name, &p).unwrap()
    }

    /// Every bounds list `[0, …, n]` of 1 to `k` non-empty segments.
    fn segmentations(n: usize, k: usize) -> Vec<Vec<usize>> {
        fn extend(b: &mut Vec<usize>, n: usize, k: usize, out: &mut Vec<Vec<usize>>) {
            let last = *b.last().unwrap();
            if b.len() <= k {
                b.push(n);
                out.push(b.clone());
                b.pop();
            }
            if b.len() < k {
                for cut in last + 1..n {
                    b.push(cut);
                    extend(b, n, k, out);
                    b.pop();
                }
            }
        }
        let mut out = Vec::new();
        extend(&mut vec![0], n, k, &mut out);
        out
    }

    /// The cases: chains (every crossing tensor is read by the next segment)
    /// and a one-layer BERT under the ring's `edge` mode, on packages whose
    /// consecutive pipeline chiplets are joined by one link each; one of them
    /// streams weights on two chiplets and makes SRAM bind.
    fn cases() -> Vec<(HwSpec, Graph)> {
        vec![
            (
                shipped("edgetpu_ring4"),
                model("mlp", &[("sizes", "256,512,512,256,128,64,10")]),
            ),
            (
                shipped("edgetpu_ring4"),
                model("bert-base", &[("layers", "1"), ("seq", "16")]),
            ),
            (
                shipped("dram_weight_streaming"),
                model("mlp", &[("sizes", "1024,1024,512,512,1024,256")]),
            ),
            (
                shipped("hetero_2type"),
                model("mlp", &[("sizes", "512,2048,512,2048,512"), ("batch", "8")]),
            ),
        ]
    }

    /// Where a streamed segment's activation peak exceeds its largest op's
    /// inputs and output (ViT-B/16 on the 4-chip ring), the model reserves
    /// the peak as `cost::residency` does, so it still equals the oracle.
    #[test]
    fn streamed_segments_reserve_their_activation_peak() {
        let spec = shipped("edgetpu_ring4");
        let graph = model("vit-b16", &[]);
        let options = SimOptions::default();
        let constraints = spec.constraints;
        let model = SegmentModel::new(&spec, &graph, &constraints, &options, true);
        let (n, k) = (graph.ops().len(), spec.n_chiplets());
        let mut checked = 0;
        for shift in 0..40usize {
            let mut bounds: Vec<usize> = (0..=k).map(|s| s * n / k).collect();
            for (s, b) in bounds.iter_mut().enumerate().take(k).skip(1) {
                *b += (shift * 7 + s * 13) % 9;
            }
            let Some(objective) = model.objective(&bounds) else {
                continue;
            };
            let placement = Placement {
                chiplet_of_op: segmentation_placement(&spec, &bounds),
            };
            let oracle = analyse(&spec, &graph, &placement, &options);
            assert!(oracle.memory_cycles > 0, "{bounds:?} streams nothing");
            assert_eq!(objective, oracle.bottleneck_cycles, "{bounds:?}");
            checked += 1;
        }
        assert!(checked > 0);
    }

    /// On a chiplet that may stream, weights that fit alone but not beside a
    /// micro-batch's activations are streamed, as the SRAM constraint
    /// assumes: the optimum for BERT-base on the 4-chip ring, valid under the
    /// constraints, is valid in the simulator too.
    #[test]
    fn the_optimum_passes_the_simulators_sram_check() {
        let spec = shipped("edgetpu_ring4");
        let graph = model("bert-base", &[]);
        let options = SimOptions::default();
        let constraints = spec.constraints;
        let model = SegmentModel::new(&spec, &graph, &constraints, &options, true);
        let (bounds, _) = model.optimal().expect("a valid segmentation");
        let placement = Placement {
            chiplet_of_op: segmentation_placement(&spec, &bounds),
        };
        assert!(check(&spec, &graph, &placement, &constraints).is_empty());
        let report = sim::simulate(&spec, &graph, &placement, &options)
            .unwrap()
            .report;
        assert!(report.valid, "{:?}", report.violations);
    }

    #[test]
    fn objective_is_the_oracle_bottleneck_and_feasibility_is_validity() {
        let options = SimOptions::default();
        for (spec, graph) in cases() {
            let constraints = spec.constraints;
            let model = SegmentModel::new(&spec, &graph, &constraints, &options, true);
            let (mut feasible, mut streaming) = (0, 0);
            let mut least_oracle = u64::MAX;
            for bounds in segmentations(graph.ops().len(), spec.n_chiplets()) {
                let placement = Placement {
                    chiplet_of_op: segmentation_placement(&spec, &bounds),
                };
                let valid = check(&spec, &graph, &placement, &constraints).is_empty();
                let objective = model.objective(&bounds);
                assert_eq!(objective.is_some(), valid, "{} {bounds:?}", spec.name);
                if let Some(j) = objective {
                    let oracle = analyse(&spec, &graph, &placement, &options);
                    assert_eq!(j, oracle.bottleneck_cycles, "{} {bounds:?}", spec.name);
                    feasible += 1;
                    streaming += usize::from(oracle.memory_cycles > 0);
                    least_oracle = least_oracle.min(oracle.bottleneck_cycles);
                }
            }
            // The optimum both ways: the oracle's least bottleneck over every
            // valid segmentation is the dynamic program's value.
            assert_eq!(
                model.optimal().map(|o| o.1),
                Some(least_oracle),
                "{}",
                spec.name
            );
            assert!(feasible > 0, "{}", spec.name);
            if spec.name == "dram_weight_streaming" {
                assert!(streaming > 0, "no segmentation streams weights");
            }
        }
    }

    #[test]
    fn dp_finds_the_least_bottleneck_of_all_contiguous_segmentations() {
        let options = SimOptions::default();
        for (spec, graph) in cases() {
            for constraints in [spec.constraints, Constraints::none()] {
                for transfers in [true, false] {
                    let model = SegmentModel::new(&spec, &graph, &constraints, &options, transfers);
                    let brute = segmentations(graph.ops().len(), spec.n_chiplets())
                        .iter()
                        .filter_map(|b| model.objective(b))
                        .min();
                    let (bounds, value) = model.optimal().expect("a feasible segmentation");
                    assert_eq!(Some(value), brute, "{} {constraints:?}", spec.name);
                    assert_eq!(model.objective(&bounds), Some(value));
                }
            }
        }
    }

    #[test]
    fn least_fitting_starts_match_a_scan_and_need_grows_with_the_segment() {
        let spec = shipped("dram_weight_streaming");
        let graph = model("mlp", &[("sizes", "1024,1024,512,512,1024,256")]);
        let n = graph.ops().len();
        for chip in [ChipletId(0), ChipletId(1)] {
            let other = ChipletId(if chip.0 == 0 { 1 } else { 0 });
            let need = |i: usize, j: usize| {
                let mut chip_of = vec![other; n];
                chip_of[i..j].fill(chip);
                sram_need(&spec, &graph, &chip_of)[chip.idx()]
            };
            for i in 0..n {
                for j in i + 1..=n {
                    if j < n {
                        assert!(need(i, j) <= need(i, j + 1), "[{i}, {j}) on {chip}");
                    }
                    if i > 0 {
                        assert!(need(i, j) <= need(i - 1, j), "[{i}, {j}) on {chip}");
                    }
                }
            }
            let capacity = spec.chiplet_type(chip).sram_bytes();
            let problem = ProblemModel::new(&spec, &graph, &SimOptions::default());
            let starts = least_fitting_starts(&problem, problem.class_of[chip.idx()]);
            for (j, &start) in starts.iter().enumerate().skip(1) {
                let scan = (0..j).find(|&i| need(i, j) <= capacity).unwrap_or(j);
                assert_eq!(start, scan, "end {j} on {chip}");
            }
        }
    }
}
