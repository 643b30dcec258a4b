//! Placements: which chiplet runs each operation, as plain data, with a JSON
//! form and the contiguous balanced placement used as a default.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cost::op_cost;
use crate::graph::Graph;
use crate::spec::{ChipletId, HwSpec};

/// One chiplet per op, indexed by op id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Placement {
    pub chiplet_of_op: Vec<ChipletId>,
}

/// The JSON form of a placement file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementFile {
    pub format_version: u32,
    /// Name of the graph this placement is for (checked on load).
    pub graph: String,
    /// Chiplet id of each op, in op-id order.
    pub chiplet_of_op: Vec<u32>,
}

/// The placement JSON format version this build reads and writes.
pub const PLACEMENT_FORMAT_VERSION: u32 = 1;

/// Why a placement does not fit a graph and spec, or a placement file could
/// not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlacementError {
    /// The placement has `entries` chiplets but graph `graph` has `ops` ops.
    WrongLength {
        entries: usize,
        graph: String,
        ops: usize,
    },
    /// Op `index` (named `op`) is placed on `chiplet`, which spec `spec` (of
    /// `n_chiplets` chiplets) does not have.
    UnknownChiplet {
        index: usize,
        op: String,
        chiplet: ChipletId,
        spec: String,
        n_chiplets: usize,
    },
    /// The file is not placement JSON; the parser's message.
    Json { message: String },
    /// The file's `format_version` is not [`PLACEMENT_FORMAT_VERSION`].
    Version { found: u32 },
    /// The file is for graph `found`, not `expected`.
    WrongGraph { found: String, expected: String },
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementError::WrongLength {
                entries,
                graph,
                ops,
            } => write!(
                f,
                "placement has {entries} entries but graph {graph:?} has {ops} ops"
            ),
            PlacementError::UnknownChiplet {
                index,
                op,
                chiplet,
                spec,
                n_chiplets,
            } => write!(
                f,
                "chiplet_of_op[{index}] (op {op:?}) is chiplet {chiplet}, but {spec} has chiplets 0..{}",
                n_chiplets - 1
            ),
            PlacementError::Json { message } => f.write_str(message),
            PlacementError::Version { found } => write!(
                f,
                "format_version: this build reads version {PLACEMENT_FORMAT_VERSION}, found {found}"
            ),
            PlacementError::WrongGraph { found, expected } => write!(
                f,
                "graph: placement is for graph {found:?}, not {expected:?}"
            ),
        }
    }
}

impl std::error::Error for PlacementError {}

impl Placement {
    /// Each op's chiplet id as a plain number, in op order (the form
    /// placement files and the learned partitioner's actions use).
    pub fn chip_ids(&self) -> Vec<u32> {
        self.chiplet_of_op.iter().map(|c| c.0).collect()
    }

    /// Checks that the placement fits the graph and the spec.
    pub fn validate(&self, spec: &HwSpec, graph: &Graph) -> Result<(), PlacementError> {
        if self.chiplet_of_op.len() != graph.ops().len() {
            return Err(PlacementError::WrongLength {
                entries: self.chiplet_of_op.len(),
                graph: graph.name().to_string(),
                ops: graph.ops().len(),
            });
        }
        for (i, &c) in self.chiplet_of_op.iter().enumerate() {
            if c.idx() >= spec.n_chiplets() {
                return Err(PlacementError::UnknownChiplet {
                    index: i,
                    op: graph.ops()[i].name.clone(),
                    chiplet: c,
                    spec: spec.name.clone(),
                    n_chiplets: spec.n_chiplets(),
                });
            }
        }
        Ok(())
    }

    /// Parses a placement file and checks it against the graph and spec.
    pub fn from_json(
        text: &str,
        spec: &HwSpec,
        graph: &Graph,
    ) -> Result<Placement, PlacementError> {
        let f: PlacementFile = serde_json::from_str(text).map_err(|e| PlacementError::Json {
            message: e.to_string(),
        })?;
        if f.format_version != PLACEMENT_FORMAT_VERSION {
            return Err(PlacementError::Version {
                found: f.format_version,
            });
        }
        if f.graph != graph.name() {
            return Err(PlacementError::WrongGraph {
                found: f.graph,
                expected: graph.name().to_string(),
            });
        }
        let p = Placement {
            chiplet_of_op: f.chiplet_of_op.into_iter().map(ChipletId).collect(),
        };
        p.validate(spec, graph)?;
        Ok(p)
    }

    /// The JSON form (stable field order).
    pub fn to_json(&self, graph: &Graph) -> String {
        let f = PlacementFile {
            format_version: PLACEMENT_FORMAT_VERSION,
            graph: graph.name().to_string(),
            chiplet_of_op: self.chip_ids(),
        };
        let mut s = serde_json::to_string_pretty(&f).expect("placement serialises");
        s.push('\n');
        s
    }

    /// Every op on one chiplet.
    pub fn single(graph: &Graph, chiplet: ChipletId) -> Placement {
        Placement {
            chiplet_of_op: vec![chiplet; graph.ops().len()],
        }
    }

    /// Contiguous segments of the topological order, one per chiplet in
    /// pipeline order, cut so that each segment's compute time (on its own
    /// chiplet's type) is as close as a single greedy pass gets to an equal
    /// share: a segment closes once adding the next op would take it further
    /// above the remaining average than stopping leaves it below.
    pub fn contiguous_balanced(spec: &HwSpec, graph: &Graph) -> Placement {
        let order = &spec.pipeline_order;
        let n_ops = graph.ops().len();
        // Balance on the first pipeline chiplet's type; heterogeneous packages
        // differ per segment, which the greedy pass accounts for below.
        let cost =
            |op: usize, chip: ChipletId| op_cost(&graph.ops()[op], spec.chiplet_type(chip)).cycles;
        let mut out = Vec::with_capacity(n_ops);
        let mut op = 0;
        for (seg, &chip) in order.iter().enumerate() {
            let segs_left = (order.len() - seg) as u64;
            let ops_left = n_ops - op;
            if ops_left == 0 {
                break;
            }
            let remaining: u64 = (op..n_ops).map(|i| cost(i, chip)).sum();
            let target = remaining.div_ceil(segs_left);
            // Leave at least one op for each later segment when possible.
            let max_take = ops_left.saturating_sub(segs_left as usize - 1).max(1);
            let mut acc = 0;
            let mut taken = 0;
            while taken < max_take {
                let c = cost(op + taken, chip);
                if taken > 0 && acc + c > target && (acc + c - target) > (target - acc.min(target))
                {
                    break;
                }
                acc += c;
                taken += 1;
            }
            if seg + 1 == order.len() {
                taken = ops_left;
            }
            out.extend(std::iter::repeat_n(chip, taken));
            op += taken;
        }
        Placement { chiplet_of_op: out }
    }
}
