//! When no valid placement exists: the smallest SRAM per chiplet that admits
//! one, found by bisection over repair's feasibility check.
//!
//! # Why SRAM is the axis
//!
//! Of the constraints in `sim::constraints`, only SRAM capacity can make a
//! problem infeasible on its own: every op on the first chiplet of the
//! pipeline order meets acyclic dataflow, no skipping (both modes) and no
//! triangle, since only one position is in use. So with enough SRAM every
//! problem has a valid placement, and SRAM per chiplet is always an axis
//! along which the user can reach one; it is also the one a designer most
//! often varies. (The number of chiplets is not always such an axis: with
//! one op that overflows every chiplet, no count of them helps.)
//!
//! # Algorithm
//!
//! The same number of KiB, `added`, is added to every chiplet type's
//! `sram_kib` (for a package of one type, simply its SRAM). Feasibility is
//! monotone in `added`: every chiplet only gains SRAM, the need of a set of
//! ops does not depend on the capacity (`sim::problem`), and a chiplet that
//! streams weights keeps at least as many resident. The upper end is the
//! need of all ops on the first chiplet, which admits a placement by the
//! argument above; the lower end, 0, admits none. Bisection over whole KiB
//! then takes about log2(upper end) feasibility checks (14 for ResNet-50
//! on Simba). Each check is [`repair_with`] at zero cost: the search for any
//! valid placement, exact within its node limit (module `repair`), and
//! usually settled by its pruning or its min-cut relaxation.
//!
//! # Limits
//!
//! A check that reaches the node limit decides nothing; bisection then
//! treats that size as not admitting a placement, so the answer still
//! admits one (a valid placement was found there) but may not be the
//! smallest: [`SramFit::proven_smallest`] says whether `added − 1` was
//! proven to admit none. Deterministic: node limits, never the clock.

use sim::Placement;
use sim::constraints::{Constraints, sram_need};
use sim::graph::Graph;
use sim::spec::{HwSpec, MAX_SRAM_KIB};

use super::repair::{Objective, RepairOptions, repair_with};

/// Branch-and-bound nodes per feasibility check: repair's default limit.
pub const FIT_REPAIR_NODES: u64 = 2_000;

/// Whether a problem has a valid placement.
#[derive(Clone, Debug, PartialEq)]
pub enum Feasibility {
    /// One valid placement (the witness).
    Feasible(Placement),
    /// Proven: no valid placement exists; why.
    Infeasible(String),
    /// The node limit stopped the search before it decided.
    Undecided,
}

/// Whether a valid placement of `graph` on `spec` under `constraints`
/// exists: repair of any placement at zero cost, with `max_nodes`
/// branch-and-bound nodes.
pub fn feasibility(
    spec: &HwSpec,
    graph: &Graph,
    constraints: &Constraints,
    max_nodes: u64,
) -> Feasibility {
    let zero = vec![vec![0.0; spec.n_chiplets()]; graph.ops().len()];
    match repair_with(
        spec,
        graph,
        constraints,
        Objective::Cost(&zero),
        &RepairOptions { max_nodes },
    ) {
        Ok(r) => Feasibility::Feasible(r.placement),
        Err(e) if e.proven => Feasibility::Infeasible(e.reason),
        Err(_) => Feasibility::Undecided,
    }
}

/// The smallest SRAM increase that admits a valid placement.
#[derive(Clone, Debug, PartialEq)]
pub struct SramFit {
    /// KiB added to every chiplet type's `sram_kib` (at least 1).
    pub added_kib: u64,
    /// Each chiplet type in use (spec order): its name, its `sram_kib`
    /// now, and the `sram_kib` that admits a placement.
    pub types: Vec<(String, u64, u64)>,
    /// Whether `added_kib − 1` KiB was proven to admit no valid placement
    /// (false when a check at some size was undecided).
    pub proven_smallest: bool,
    /// A valid placement with `added_kib` more SRAM.
    pub placement: Placement,
}

/// `spec` with `added_kib` more SRAM on every chiplet type, or `None` past
/// the spec limit [`MAX_SRAM_KIB`].
pub fn with_added_sram(spec: &HwSpec, added_kib: u64) -> Option<HwSpec> {
    let mut out = spec.clone();
    for t in &mut out.chiplet_types {
        t.sram_kib = t
            .sram_kib
            .checked_add(added_kib)
            .filter(|&k| k <= MAX_SRAM_KIB)?;
    }
    Some(out)
}

/// The smallest number of KiB which, added to every chiplet type's SRAM,
/// admits a valid placement (see the module comment), or `None` when the
/// spec as it is admits one or was not decided, when SRAM capacity is not a
/// constraint, or when the size needed passes the spec limit.
pub fn smallest_sram(
    spec: &HwSpec,
    graph: &Graph,
    constraints: &Constraints,
    max_nodes: u64,
) -> Option<SramFit> {
    if !constraints.sram_capacity || graph.ops().is_empty() {
        return None;
    }
    let check = |added: u64| match with_added_sram(spec, added) {
        Some(s) => feasibility(&s, graph, constraints, max_nodes),
        None => Feasibility::Undecided,
    };
    let mut lo_proven = match check(0) {
        Feasibility::Infeasible(_) => true,
        Feasibility::Feasible(_) | Feasibility::Undecided => return None,
    };
    // Every op on the first chiplet of the pipeline order: its need, less
    // what that chiplet has, is enough.
    let first = spec.pipeline_order[0];
    let all_first = vec![first; graph.ops().len()];
    let need_bytes = sram_need(spec, graph, &all_first)[first.idx()];
    let have_kib = spec.chiplet_type(first).sram_kib;
    let mut hi = need_bytes.div_ceil(1024).saturating_sub(have_kib).max(1);
    let mut witness = match check(hi) {
        Feasibility::Feasible(p) => p,
        // Not expected (see the module comment); nothing to suggest.
        _ => return None,
    };
    let mut lo = 0;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match check(mid) {
            Feasibility::Feasible(p) => {
                hi = mid;
                witness = p;
            }
            Feasibility::Infeasible(_) => {
                lo = mid;
                lo_proven = true;
            }
            Feasibility::Undecided => {
                lo = mid;
                lo_proven = false;
            }
        }
    }
    let in_use = |i: usize| spec.chiplets.iter().any(|c| c.type_idx == i);
    let types = spec
        .chiplet_types
        .iter()
        .enumerate()
        .filter(|&(i, _)| in_use(i))
        .map(|(_, t)| (t.name.clone(), t.sram_kib, t.sram_kib + hi))
        .collect();
    Some(SramFit {
        added_kib: hi,
        types,
        proven_smallest: lo_proven,
        placement: witness,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim::constraints::is_valid;

    fn simba() -> HwSpec {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../hw_specs/simba_6x6.toml");
        let text = std::fs::read_to_string(path).unwrap();
        HwSpec::from_toml_str(&text, path).unwrap()
    }

    fn resnet50() -> Graph {
        sim::zoo::build("resnet50", &Default::default()).unwrap()
    }

    /// The answer admits a placement (its witness is valid on the grown
    /// spec) and one KiB less is proven to admit none.
    #[test]
    fn resnet50_on_simba_gets_the_smallest_sram_that_admits_a_placement() {
        let (spec, graph) = (simba(), resnet50());
        let c = spec.constraints;
        assert!(matches!(
            feasibility(&spec, &graph, &c, FIT_REPAIR_NODES),
            Feasibility::Infeasible(_)
        ));
        let fit = smallest_sram(&spec, &graph, &c, FIT_REPAIR_NODES).expect("a size fits");
        assert!(fit.proven_smallest);
        assert_eq!(fit.types.len(), 1);
        let (name, now, needed) = &fit.types[0];
        assert_eq!((name.as_str(), *now), ("simba", 752));
        assert_eq!(*needed, 752 + fit.added_kib);
        let grown = with_added_sram(&spec, fit.added_kib).unwrap();
        assert!(is_valid(&grown, &graph, &fit.placement, &c));
        let less = with_added_sram(&spec, fit.added_kib - 1).unwrap();
        assert!(matches!(
            feasibility(&less, &graph, &c, FIT_REPAIR_NODES),
            Feasibility::Infeasible(_)
        ));
        // conv1 alone needs 940.2 KiB, so the answer is at least that.
        assert!(*needed >= 941, "{needed}");
    }

    #[test]
    fn a_feasible_problem_or_one_without_the_sram_rule_gets_no_suggestion() {
        let (spec, graph) = (simba(), resnet50());
        let off = Constraints {
            sram_capacity: false,
            ..spec.constraints
        };
        assert_eq!(smallest_sram(&spec, &graph, &off, FIT_REPAIR_NODES), None);
        let roomy = with_added_sram(&spec, 1 << 20).unwrap();
        let c = roomy.constraints;
        assert_eq!(smallest_sram(&roomy, &graph, &c, FIT_REPAIR_NODES), None);
    }

    /// The upper end of the bisection, every op on the first chiplet, is a
    /// valid placement once that chiplet holds all their need.
    #[test]
    fn all_ops_on_the_first_chiplet_is_valid_with_their_whole_need() {
        let (spec, graph) = (simba(), resnet50());
        let first = spec.pipeline_order[0];
        let p = Placement {
            chiplet_of_op: vec![first; graph.ops().len()],
        };
        let need = sram_need(&spec, &graph, &p.chiplet_of_op)[first.idx()];
        let added = need.div_ceil(1024) - spec.chiplet_type(first).sram_kib;
        let grown = with_added_sram(&spec, added).unwrap();
        assert!(is_valid(&grown, &graph, &p, &spec.constraints));
    }
}
