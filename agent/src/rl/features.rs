//! What a policy sees of a problem: plain arrays of numbers built once from
//! the [`ProblemModel`], independent of any placement.
//!
//! Every feature is a number of order one, so one policy reads graphs and
//! packages of any size: quantities that span orders of magnitude (MACs,
//! bytes, cycles, bandwidths) enter as `log2(1 + x) / 32`, positions as a
//! fraction of the graph or pipeline, kinds one-hot; one exception,
//! `position_gap`, counts pipeline positions. The names of the columns
//! are [`NODE_FEATURES`], [`EDGE_FEATURES`], [`CHIP_FEATURES`] and
//! [`OP_CHIP_FEATURES`], in order; a new feature is added at the end of its
//! list (and a checkpoint records the lists it was trained on).

use serde::Serialize;
use sim::graph::OpKind;
use sim::problem::ProblemModel;

/// How many of [`NODE_FEATURES`]' first columns are the op-kind one-hot,
/// `kind_<OpKind::name>`.
const N_KINDS: usize = 16;

/// Every column of [`Observation::node_features`]: the op kind, one-hot
/// (`kind_` and `OpKind::name`), then the op's own numbers.
pub const NODE_FEATURES: [&str; N_KINDS + 14] = [
    "kind_matmul",
    "kind_conv2d",
    "kind_embedding",
    "kind_elementwise",
    "kind_layer_norm",
    "kind_batch_norm",
    "kind_softmax",
    "kind_pool",
    "kind_global_avg_pool",
    "kind_concat",
    "kind_slice",
    "kind_reshape",
    "kind_transpose",
    "kind_reduce",
    "kind_broadcast",
    "kind_gather",
    // log2(1 + x) / 32 of the op's own quantities.
    "log_macs",
    "log_vector_ops",
    "log_weight_bytes",
    "log_output_bytes",
    "log_graph_input_bytes",
    // The fewest cycles the op takes on any chiplet type of the package.
    "log_min_cycles",
    // Position in the graph: index in topological order, longest path from
    // a source and to a sink, each as a fraction of its largest value.
    "topo_position",
    "depth",
    "height",
    "log_in_degree",
    "log_out_degree",
    "is_source",
    "is_sink",
    "has_weights",
];

/// Columns of [`Observation::edge_features`].
pub const EDGE_FEATURES: [&str; 1] = ["log_bytes"];

/// Columns of [`Observation::chip_features`].
pub const CHIP_FEATURES: [&str; 12] = [
    // Position in the spec's pipeline order, as a fraction of the last.
    "pipeline_position",
    "log_sram_bytes",
    "log_macs_per_cycle",
    "log_vector_elems_per_cycle",
    "log_sram_bandwidth",
    // Sums over the chiplet's outgoing and incoming links.
    "log_out_bandwidth",
    "log_in_bandwidth",
    "log_out_links",
    "log_in_links",
    // Bandwidth of the slowest link on the route to the next and from the
    // previous pipeline position (0 at the ends).
    "log_bandwidth_to_next",
    "log_bandwidth_from_previous",
    // 1 when weights that do not fit may stream from off-package memory.
    "can_stream",
];

/// Columns of [`Observation::op_chip_features`].
pub const OP_CHIP_FEATURES: [&str; 5] = [
    // The op's cycles on that chiplet's type.
    "log_cycles",
    // 1 when the op alone (its weights and live tensors) fits that
    // chiplet's SRAM.
    "fits_alone",
    // How many pipeline positions the chip is from where an even split of
    // the op order would put the op: |op index / (n_ops − 1) × (n_chips −
    // 1) − chip's position|. In positions, not a fraction, so one weight
    // means the same on any package (the policy starts with −1 on it).
    "position_gap",
    // 1 on the chip a reference placement (the best found so far, or a
    // baseline's) gives the op; 0 everywhere without a reference.
    "is_reference",
    // How many pipeline positions the chip is from the op's reference chip
    // (0 everywhere without a reference). With `is_reference`, the policy
    // proposes edits of a known placement rather than placements from
    // nothing (see `Observation::with_reference`).
    "reference_gap",
];

/// Where [`OP_CHIP_FEATURES`]' reference columns are.
const IS_REFERENCE: usize = 3;
const REFERENCE_GAP: usize = 4;

/// A problem as numbers. Matrices are row-major `Vec<f32>`s: node features
/// `n_ops × NODE_FEATURES.len()`, edge features `edges.len() ×
/// EDGE_FEATURES.len()`, chip features `n_chips × CHIP_FEATURES.len()`,
/// op-chip features `n_ops × n_chips × OP_CHIP_FEATURES.len()`. Ops are in
/// topological order (op `i` is the graph's op `i`), chips by id.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observation {
    pub n_ops: usize,
    pub n_chips: usize,
    pub node_features: Vec<f32>,
    /// Tensors between ops, `[producer, consumer]`, sorted.
    pub edges: Vec<[u32; 2]>,
    pub edge_features: Vec<f32>,
    pub chip_features: Vec<f32>,
    pub op_chip_features: Vec<f32>,
    /// Each chip's pipeline position.
    pub chip_positions: Vec<u32>,
}

impl Observation {
    /// Row `op` of the node features.
    pub fn node(&self, op: usize) -> &[f32] {
        let w = NODE_FEATURES.len();
        &self.node_features[op * w..(op + 1) * w]
    }

    /// Row `chip` of the chip features.
    pub fn chip(&self, chip: usize) -> &[f32] {
        let w = CHIP_FEATURES.len();
        &self.chip_features[chip * w..(chip + 1) * w]
    }

    /// The op-chip features with the reference columns describing
    /// `reference` (a chip per op), or cleared for `None`.
    pub fn with_reference(&self, reference: Option<&[u32]>) -> Vec<f32> {
        let w = OP_CHIP_FEATURES.len();
        let mut out = self.op_chip_features.clone();
        for v in 0..self.n_ops {
            for c in 0..self.n_chips {
                let at = (v * self.n_chips + c) * w;
                let (is_ref, gap) = match reference.and_then(|r| r.get(v)) {
                    Some(&r) if (r as usize) < self.n_chips => (
                        f32::from(u8::from(r as usize == c)),
                        self.chip_positions[c].abs_diff(self.chip_positions[r as usize]) as f32,
                    ),
                    _ => (0.0, 0.0),
                };
                out[at + IS_REFERENCE] = is_ref;
                out[at + REFERENCE_GAP] = gap;
            }
        }
        out
    }

    /// The features of op `op` on chip `chip`.
    pub fn op_chip(&self, op: usize, chip: usize) -> &[f32] {
        let w = OP_CHIP_FEATURES.len();
        let at = (op * self.n_chips + chip) * w;
        &self.op_chip_features[at..at + w]
    }
}

/// `log2(1 + x) / 32`: 0 for 0, 1 for 2^32 − 1, about 2 at the largest u64.
pub fn log_scale(x: u64) -> f32 {
    ((x as f64 + 1.0).log2() / 32.0) as f32
}

fn kind_index(kind: &OpKind) -> usize {
    let name = kind.name();
    NODE_FEATURES[..N_KINDS]
        .iter()
        .position(|k| k.strip_prefix("kind_") == Some(name))
        .expect("NODE_FEATURES has a kind column for every OpKind::name")
}

/// Builds the observation of `model`'s problem.
pub fn observe(model: &ProblemModel<'_>) -> Observation {
    let graph = model.graph;
    let spec = model.spec;
    let n = model.n_ops;
    let n_chips = model.n_chiplets;

    // Longest paths from a source and to a sink, in edges.
    let mut depth = vec![0u32; n];
    for v in 0..n {
        depth[v] = model
            .producers(v)
            .iter()
            .map(|&p| depth[p] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut height = vec![0u32; n];
    for v in (0..n).rev() {
        height[v] = model
            .consumers(v)
            .iter()
            .map(|&c| height[c] + 1)
            .max()
            .unwrap_or(0);
    }
    let fraction = |x: u32, max: u32| if max == 0 { 0.0 } else { x as f32 / max as f32 };
    let max_depth = depth.iter().copied().max().unwrap_or(0);
    let max_height = height.iter().copied().max().unwrap_or(0);

    let mut node_features = Vec::with_capacity(n * NODE_FEATURES.len());
    for (v, op) in graph.ops().iter().enumerate() {
        let mut kind = [0.0f32; N_KINDS];
        kind[kind_index(&op.kind)] = 1.0;
        node_features.extend_from_slice(&kind);
        let min_cycles = model.op_cycles.iter().map(|t| t[v]).min().unwrap_or(0);
        let (ins, outs) = (model.producers(v).len(), model.consumers(v).len());
        node_features.extend_from_slice(&[
            log_scale(op.macs),
            log_scale(op.vector_ops),
            log_scale(op.weight_bytes),
            log_scale(op.output_bytes),
            log_scale(model.graph_input_bytes[v]),
            log_scale(min_cycles),
            fraction(v as u32, n.saturating_sub(1) as u32),
            fraction(depth[v], max_depth),
            fraction(height[v], max_height),
            log_scale(ins as u64),
            log_scale(outs as u64),
            f32::from(u8::from(ins == 0)),
            f32::from(u8::from(outs == 0)),
            f32::from(u8::from(op.weight_bytes > 0)),
        ]);
    }

    let edges: Vec<[u32; 2]> = graph.edges().iter().map(|e| [e.from.0, e.to.0]).collect();
    let edge_features = graph.edges().iter().map(|e| log_scale(e.bytes)).collect();

    // The slowest link on the route from chip `a` to chip `b`.
    let route_bandwidth = |a: usize, b: usize| {
        model
            .route(a, b)
            .iter()
            .map(|l| spec.links[l.idx()].bandwidth_bytes_per_cycle)
            .min()
            .unwrap_or(0)
    };
    let mut chip_features = Vec::with_capacity(n_chips * CHIP_FEATURES.len());
    for c in 0..n_chips {
        let t = &spec.chiplet_types[spec.chiplets[c].type_idx];
        let out_links = spec.links.iter().filter(|l| l.from.idx() == c);
        let in_links = spec.links.iter().filter(|l| l.to.idx() == c);
        let pos = model.position_of[c];
        let next = (pos + 1 < n_chips).then(|| model.pipeline_order[pos + 1]);
        let prev = pos.checked_sub(1).map(|p| model.pipeline_order[p]);
        chip_features.extend_from_slice(&[
            fraction(pos as u32, n_chips.saturating_sub(1) as u32),
            log_scale(t.sram_bytes()),
            log_scale(t.macs_per_cycle),
            log_scale(t.vector_elems_per_cycle),
            log_scale(t.sram_bandwidth_bytes_per_cycle),
            log_scale(
                out_links
                    .clone()
                    .map(|l| l.bandwidth_bytes_per_cycle)
                    .fold(0u64, u64::saturating_add),
            ),
            log_scale(
                in_links
                    .clone()
                    .map(|l| l.bandwidth_bytes_per_cycle)
                    .fold(0u64, u64::saturating_add),
            ),
            log_scale(out_links.count() as u64),
            log_scale(in_links.count() as u64),
            log_scale(next.map_or(0, |d| route_bandwidth(c, d))),
            log_scale(prev.map_or(0, |s| route_bandwidth(s, c))),
            f32::from(u8::from(model.classes[model.class_of[c]].can_stream)),
        ]);
    }

    let mut op_chip_features = Vec::with_capacity(n * n_chips * OP_CHIP_FEATURES.len());
    for v in 0..n {
        let op_at = fraction(v as u32, n.saturating_sub(1) as u32);
        for c in 0..n_chips {
            let class = model.class_of[c];
            let k = &model.classes[class];
            let fits = model.own_sram_need_bytes(v, class) <= k.sram_bytes;
            let even = op_at * n_chips.saturating_sub(1) as f32;
            op_chip_features.extend_from_slice(&[
                log_scale(model.op_cycles[k.type_idx][v]),
                f32::from(u8::from(fits)),
                (even - model.position_of[c] as f32).abs(),
                0.0,
                0.0,
            ]);
        }
    }

    Observation {
        n_ops: n,
        n_chips,
        node_features,
        edges,
        edge_features,
        chip_features,
        op_chip_features,
        chip_positions: (0..n_chips).map(|c| model.position_of[c] as u32).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_column_lists_agree() {
        for (i, c) in NODE_FEATURES.iter().enumerate() {
            assert_eq!(c.starts_with("kind_"), i < N_KINDS, "{c} at {i}");
        }
        let mut names: Vec<&str> = NODE_FEATURES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NODE_FEATURES.len(), "column names are unique");
    }

    #[test]
    fn the_reference_columns_mark_the_reference_chip_and_count_positions() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hw_specs/edgetpu_ring4.toml");
        let spec = crate::load::load_spec(&path).expect("a shipped spec");
        let graph = sim::testkit::chain(6, &[1, 64]).expect("a chain");
        let obs = observe(&ProblemModel::new(
            &spec,
            &graph,
            &sim::SimOptions::default(),
        ));
        assert!(
            obs.op_chip_features
                .chunks(5)
                .all(|f| f[3] == 0.0 && f[4] == 0.0)
        );
        let reference = [0, 0, 1, 2, 3, 3];
        let with = obs.with_reference(Some(&reference));
        let w = OP_CHIP_FEATURES.len();
        for (v, &r) in reference.iter().enumerate() {
            for c in 0..obs.n_chips {
                let f = &with[(v * obs.n_chips + c) * w..][..w];
                assert_eq!(f[..3], *obs.op_chip(v, c).get(..3).unwrap());
                assert_eq!(f[IS_REFERENCE], f32::from(u8::from(c == r as usize)));
                let gap = obs.chip_positions[c].abs_diff(obs.chip_positions[r as usize]);
                assert_eq!(f[REFERENCE_GAP], gap as f32);
            }
        }
        assert_eq!(obs.with_reference(None), obs.op_chip_features);
    }

    #[test]
    fn log_scale_is_of_order_one() {
        assert_eq!(log_scale(0), 0.0);
        assert!((log_scale(u32::MAX as u64) - 1.0).abs() < 1e-6);
        assert!(log_scale(u64::MAX) <= 2.0);
    }
}
