//! The compute model: how many cycles one operation takes on one chiplet type,
//! and how many bytes it moves through SRAM.
//!
//! The model, stated once:
//! - A matmul or convolution runs on the chiplet's `R × C` systolic array with
//!   the output-stationary cycle count of SCALE-Sim's analytical model
//!   (Samajdar et al., "A Systematic Methodology for Characterizing Scalability
//!   of DNN Accelerators using SCALE-Sim", ISPASS 2020; the same expression is
//!   used by SCALE-Sim v3): for a GEMM with `Sr` output rows (pixels), `Sc`
//!   output columns (filters) and reduction length `T`, each of the
//!   `ceil(Sr/R) · ceil(Sc/C)` output tiles takes `R + C + T − 2` cycles
//!   (fill, `T` accumulation steps, drain). Grouped convolutions and batched
//!   matmuls repeat the GEMM per group / batch entry.
//! - Element-wise, normalisation, softmax and pooling ops run on the vector unit
//!   at `vector_elems_per_cycle` element operations per cycle; `vector_ops` of
//!   each op is fixed by the zoo's stated conventions (`graph/builder.rs`).
//! - Embedding lookups, slices and concatenations only move data.
//! - No op can beat its SRAM traffic: it reads its weights and inputs and
//!   writes its output through SRAM at `sram_bandwidth_bytes_per_cycle`.
//! - Every op pays the chiplet's fixed `op_overhead_cycles`, except a
//!   reshape, which is a view of its input and costs nothing.
//!
//! So `cycles = op_overhead + max(compute, ceil(sram_bytes / sram_bandwidth))`.
//!
//! Every quantity is computed with checked arithmetic ([`checked_op_cost`]).
//! [`bounded_op_cost`] refuses an op whose cycles on a chiplet type exceed
//! [`MAX_OP_CYCLES`] (or `u64`) with a [`CostError`] naming the op and the
//! type; the infallible forms ([`op_cost`], [`systolic_os_cycles`], ...)
//! saturate at `u64::MAX` instead of wrapping, and are exact whenever
//! [`bounded_op_cost`] accepts the op (`problem::check_cycle_bounds` checks
//! every op on every type).
//!
//! Which weights stay in SRAM and which stream from off-package memory, and
//! what streaming costs, is stated in `sim::problem` with the SRAM rule it
//! depends on.

use std::fmt;

use crate::graph::{Gemm, Graph, Op, OpId, OpKind};
use crate::problem::ProblemModel;
use crate::spec::{ChipletId, ChipletType, HwSpec, MAX_OP_CYCLES};

/// `ceil(a / b)` for positive `b`.
pub fn div_ceil(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// Output-stationary systolic-array cycles of one GEMM (all repeats) on an
/// `rows × cols` array: `repeats · ceil(Sr/R) · ceil(Sc/C) · (R + C + T − 2)`,
/// saturating at `u64::MAX`.
pub fn systolic_os_cycles(g: &Gemm, array_rows: u64, array_cols: u64) -> u64 {
    checked_systolic_os_cycles(g, array_rows, array_cols).unwrap_or(u64::MAX)
}

/// [`systolic_os_cycles`], or `None` when it does not fit in `u64`.
pub fn checked_systolic_os_cycles(g: &Gemm, array_rows: u64, array_cols: u64) -> Option<u64> {
    if g.macs() == 0 {
        return Some(0);
    }
    // Every factor is at least 1 here (no dimension is zero), so the fill
    // and drain term `R + C + T − 2` is at least 1.
    let per_tile = array_rows
        .checked_add(array_cols)?
        .checked_add(g.reduction)?
        - 2;
    g.repeats
        .checked_mul(div_ceil(g.rows, array_rows))?
        .checked_mul(div_ceil(g.cols, array_cols))?
        .checked_mul(per_tile)
}

/// Weight bytes an op reads per run: all of them, except for an embedding
/// lookup, which gathers only the rows it outputs.
pub fn weight_bytes_read(op: &Op) -> u64 {
    match op.kind {
        OpKind::Embedding { .. } => op.output_bytes.min(op.weight_bytes),
        _ => op.weight_bytes,
    }
}

/// Bytes of an op's inputs, saturating at `u64::MAX` (exact on a validated
/// graph, whose ops move at most `graph::MAX_GRAPH_BYTES`).
pub fn input_bytes(op: &Op) -> u64 {
    checked_input_bytes(op).unwrap_or(u64::MAX)
}

/// [`input_bytes`], or `None` when it does not fit in `u64`.
pub fn checked_input_bytes(op: &Op) -> Option<u64> {
    op.inputs.iter().try_fold(0u64, |sum, i| {
        crate::graph::checked_numel(&i.shape)?
            .checked_mul(op.dtype.bytes())?
            .checked_add(sum)
    })
}

/// Bytes an op moves through SRAM: weights and inputs read, output written
/// (saturating at `u64::MAX`, exact on a validated graph).
pub fn sram_bytes(op: &Op) -> u64 {
    checked_sram_bytes(op).unwrap_or(u64::MAX)
}

/// [`sram_bytes`], or `None` when it does not fit in `u64`.
pub fn checked_sram_bytes(op: &Op) -> Option<u64> {
    weight_bytes_read(op)
        .checked_add(checked_input_bytes(op)?)?
        .checked_add(op.output_bytes)
}

pub use crate::problem::Residency;

/// Weight residency of every chiplet for one placement, given each
/// chiplet's activation slot (`constraints::activation_peaks`). The rule is
/// stated in `sim::problem`, which computes it.
pub fn residency(
    spec: &HwSpec,
    graph: &Graph,
    chip_of: &[ChipletId],
    slot_bytes: &[u64],
) -> Residency {
    ProblemModel::for_sram(spec, graph).residency(chip_of, slot_bytes)
}

/// Cycles of the op's compute engine alone (array or vector unit),
/// saturating at `u64::MAX`.
pub fn engine_cycles(op: &Op, ty: &ChipletType) -> u64 {
    checked_engine_cycles(op, ty).unwrap_or(u64::MAX)
}

/// [`engine_cycles`], or `None` when it does not fit in `u64`.
pub fn checked_engine_cycles(op: &Op, ty: &ChipletType) -> Option<u64> {
    match op.kind.gemm() {
        // `gemm` saturates its dimensions; their product is exact when the
        // MACs are (a validated graph's are at most `MAX_OP_MACS`).
        Some(g) => {
            op.kind.checked_macs().ok()?;
            checked_systolic_os_cycles(&g, ty.array_rows, ty.array_cols)
        }
        None => Some(div_ceil(op.vector_ops, ty.vector_elems_per_cycle)),
    }
}

/// Breakdown of an op's duration on a chiplet type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpCost {
    pub engine_cycles: u64,
    pub sram_cycles: u64,
    pub overhead_cycles: u64,
    /// `overhead + max(engine, sram)`.
    pub cycles: u64,
    pub sram_bytes: u64,
}

/// The op's cycles and SRAM traffic on chiplet type `ty`. Each field
/// saturates at `u64::MAX` rather than wrap; all are exact when
/// [`bounded_op_cost`] accepts the op, as it does every op that
/// `problem::check_cycle_bounds` passed.
pub fn op_cost(op: &Op, ty: &ChipletType) -> OpCost {
    checked_op_cost(op, ty).unwrap_or_else(|| {
        let engine = engine_cycles(op, ty);
        let bytes = sram_bytes(op);
        let sram = div_ceil(bytes, ty.sram_bandwidth_bytes_per_cycle);
        OpCost {
            engine_cycles: engine,
            sram_cycles: sram,
            overhead_cycles: ty.op_overhead_cycles,
            cycles: ty.op_overhead_cycles.saturating_add(engine.max(sram)),
            sram_bytes: bytes,
        }
    })
}

/// [`op_cost`] with checked arithmetic: `None` when a quantity does not fit
/// in `u64`.
pub fn checked_op_cost(op: &Op, ty: &ChipletType) -> Option<OpCost> {
    if op.kind == OpKind::Reshape {
        // A view of its input: no data moves and nothing is issued.
        return Some(OpCost {
            engine_cycles: 0,
            sram_cycles: 0,
            overhead_cycles: 0,
            cycles: 0,
            sram_bytes: 0,
        });
    }
    let engine = checked_engine_cycles(op, ty)?;
    let bytes = checked_sram_bytes(op)?;
    let sram = div_ceil(bytes, ty.sram_bandwidth_bytes_per_cycle);
    Some(OpCost {
        engine_cycles: engine,
        sram_cycles: sram,
        overhead_cycles: ty.op_overhead_cycles,
        cycles: ty.op_overhead_cycles.checked_add(engine.max(sram))?,
        sram_bytes: bytes,
    })
}

/// The op's cost on chiplet type `ty` if its cycles are at most
/// [`MAX_OP_CYCLES`]; otherwise a [`CostError::OpCycles`] naming both.
pub fn bounded_op_cost(op: &Op, ty: &ChipletType) -> Result<OpCost, CostError> {
    match checked_op_cost(op, ty) {
        Some(cost) if cost.cycles <= MAX_OP_CYCLES => Ok(cost),
        cost => Err(CostError::OpCycles {
            op: op.id,
            op_name: op.name.clone(),
            chiplet_type: ty.name.clone(),
            engine_cycles: checked_engine_cycles(op, ty),
            sram_bytes: checked_sram_bytes(op),
            cycles: cost.map(|c| c.cycles),
        }),
    }
}

/// Why the cycles of a graph on a package cannot be represented safely.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CostError {
    /// One op's cycles on one chiplet type exceed [`MAX_OP_CYCLES`]
    /// (`cycles` is `None` when they do not even fit in `u64`).
    OpCycles {
        op: OpId,
        op_name: String,
        chiplet_type: String,
        engine_cycles: Option<u64>,
        sram_bytes: Option<u64>,
        cycles: Option<u64>,
    },
    /// The run could last past [`crate::spec::MAX_RUN_CYCLES`]: `bound` (saturating at
    /// `u128::MAX`) is the sum over `microbatches` of every op's worst cycles,
    /// its weight streaming and its output's transfers (cycles and bytes),
    /// which no event time of the run can exceed.
    RunCycles { microbatches: u32, bound: u128 },
}

fn show(x: Option<u64>) -> String {
    x.map_or("more than 2^64".to_string(), |x| x.to_string())
}

impl fmt::Display for CostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostError::OpCycles {
                op,
                op_name,
                chiplet_type,
                engine_cycles,
                sram_bytes,
                cycles,
            } => write!(
                f,
                "op {op_name:?} (ops[{op}]) on chiplet type {chiplet_type:?}: cycles = overhead + max(engine, sram) = {} \
                 (engine {}, SRAM traffic {} bytes), more than the limit of 2^40 (MAX_OP_CYCLES)",
                show(*cycles),
                show(*engine_cycles),
                show(*sram_bytes),
            ),
            CostError::RunCycles {
                microbatches,
                bound,
            } => write!(
                f,
                "{microbatches} micro-batches of this graph on this package could take up to {bound} \
                 cycles (ops, weight streaming and transfers summed), more than the limit of 2^62 \
                 (MAX_RUN_CYCLES); use fewer micro-batches, larger packets or a smaller graph"
            ),
        }
    }
}

impl std::error::Error for CostError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_formula_on_one_tile() {
        // A 32×32 array computing a 32×32 output with T = 64: one tile of
        // 32 + 32 + 64 − 2 = 126 cycles.
        let g = Gemm {
            repeats: 1,
            rows: 32,
            cols: 32,
            reduction: 64,
        };
        assert_eq!(systolic_os_cycles(&g, 32, 32), 126);
    }

    fn relu_with(vector_ops: u64) -> Op {
        Op {
            id: OpId(3),
            name: "fc1".to_string(),
            kind: OpKind::Elementwise {
                func: crate::graph::EltFunc::Relu,
            },
            inputs: vec![crate::graph::OpInput {
                source: crate::graph::Source::GraphInput("x".to_string()),
                shape: vec![64],
            }],
            output_shape: vec![64],
            dtype: crate::graph::DType::Int8,
            macs: 0,
            vector_ops,
            params: 0,
            weight_bytes: 0,
            output_bytes: 64,
        }
    }

    fn chiplet_type(side: u64, rate: u64, overhead: u64) -> ChipletType {
        ChipletType {
            name: "small".to_string(),
            macs_per_cycle: side * side,
            array_rows: side,
            array_cols: side,
            vector_elems_per_cycle: rate,
            sram_kib: 1,
            sram_bandwidth_bytes_per_cycle: rate,
            op_overhead_cycles: overhead,
            energy_per_mac_pj: 1.0,
            energy_per_sram_byte_pj: 1.0,
        }
    }

    #[test]
    fn os_formula_overflow_is_none_and_saturates() {
        let g = Gemm {
            repeats: 1 << 40,
            rows: 1,
            cols: 1,
            reduction: 1,
        };
        // 2^40 tiles of 2^17 − 1 cycles: 2^57 − 2^40 fits.
        assert_eq!(
            checked_systolic_os_cycles(&g, 1 << 16, 1 << 16),
            Some((1 << 40) * ((1 << 17) - 1))
        );
        let g = Gemm {
            reduction: u64::MAX - 10,
            ..g
        };
        assert_eq!(checked_systolic_os_cycles(&g, 1 << 16, 1 << 16), None);
        assert_eq!(systolic_os_cycles(&g, 1 << 16, 1 << 16), u64::MAX);
    }

    #[test]
    fn cycles_beyond_max_op_cycles_are_refused_naming_op_and_type() {
        let ty = chiplet_type(4, 1, 256);
        // 2^64 − 1 vector operations at one per cycle: the cycles overflow.
        let e = bounded_op_cost(&relu_with(u64::MAX), &ty).unwrap_err();
        assert_eq!(
            e.to_string(),
            "op \"fc1\" (ops[3]) on chiplet type \"small\": cycles = overhead + max(engine, sram) = \
             more than 2^64 (engine 18446744073709551615, SRAM traffic 128 bytes), more than the \
             limit of 2^40 (MAX_OP_CYCLES)"
        );
        assert_eq!(op_cost(&relu_with(u64::MAX), &ty).cycles, u64::MAX);
        // Exactly at the limit is fine; one more cycle is not.
        let at = relu_with(MAX_OP_CYCLES - 256);
        assert_eq!(bounded_op_cost(&at, &ty).unwrap().cycles, MAX_OP_CYCLES);
        let over = relu_with(MAX_OP_CYCLES - 255);
        assert!(matches!(
            bounded_op_cost(&over, &ty),
            Err(CostError::OpCycles {
                cycles: Some(c),
                ..
            }) if c == MAX_OP_CYCLES + 1
        ));
    }

    #[test]
    fn os_formula_counts_partial_tiles_and_repeats() {
        let g = Gemm {
            repeats: 3,
            rows: 33,
            cols: 10,
            reduction: 5,
        };
        // ceil(33/16) = 3 row tiles, ceil(10/8) = 2 column tiles, 16 + 8 + 5 − 2 = 27.
        assert_eq!(systolic_os_cycles(&g, 16, 8), 3 * 3 * 2 * 27);
    }
}
